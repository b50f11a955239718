"""The sample requests of events/*.json, as properties for testkit.stack.SimulatedStack."""

from __future__ import annotations

from typing import Any

from testkit.stack import load_event


def sample_properties(name: str, **overrides: str) -> dict[str, Any]:
    """ResourceProperties of events/<name>.json, less the ServiceToken, with overrides."""
    properties = dict(load_event(name)["ResourceProperties"])
    properties.pop("ServiceToken", None)
    return {**properties, **overrides}
