"""What dms_prereq.cfn relies on inside crhelper, pinned so that an upgrade fails here, loudly.

:class:`dms_prereq.cfn.CustomResource` overrides two private methods of
crhelper's ``CfnResource`` (``_send`` and ``_timeout``), reads private state
(``_context``, ``_response_url``, ``_event``) and shows the constructor
``AWS_SAM_LOCAL`` so it builds no polling clients. None of that is crhelper's
public API. These tests state each assumption against the pinned crhelper
itself, so a new version that renames or reworks any of it is caught before
the function silently stops answering CloudFormation.
"""

from __future__ import annotations

import inspect
import os
import re
from pathlib import Path
from typing import Any

import crhelper
import pytest
from crhelper import CfnResource
from dms_prereq.cfn import CustomResource

PINNED = "2.0.12"


def _pinned_in_requirements() -> str:
    text = (Path(__file__).parents[2] / "handler" / "requirements.txt").read_text()
    match = re.search(r"^crhelper==(\S+)$", text, re.MULTILINE)
    assert match, "handler/requirements.txt must pin crhelper with =="
    return match.group(1)


def test_the_pinned_crhelper_is_the_one_these_assumptions_were_checked_against() -> None:
    from importlib.metadata import version

    assert _pinned_in_requirements() == PINNED
    assert version("crhelper") == PINNED


@pytest.mark.parametrize(
    "name", ["_send", "_timeout", "_wrap_function", "generate_physical_id", "init_failure"]
)
def test_every_method_the_subclass_overrides_or_calls_exists_in_crhelper(name: str) -> None:
    assert callable(getattr(CfnResource, name, None)), f"crhelper no longer has {name}"


def test_send_keeps_the_signature_crhelper_calls_it_with() -> None:
    # crhelper's own code calls self._send() and self._send(FAILED, reason).
    ours = list(inspect.signature(CustomResource._send).parameters)
    theirs = list(inspect.signature(CfnResource._send).parameters)
    assert theirs == ours == ["self", "status", "reason", "send_response"]
    source = inspect.getsource(CfnResource)
    assert "self._send()" in source
    assert "self._send(FAILED" in source


def test_the_timer_calls_timeout_half_a_second_before_the_deadline() -> None:
    source = inspect.getsource(CfnResource._set_timeout)
    assert "self._timeout" in source
    assert "- 0.5" in source


def test_the_constructor_builds_polling_clients_unless_aws_sam_local_is_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    built: list[str] = []

    def fake_client(service: str, **kwargs: Any) -> object:
        built.append(service)
        return object()

    monkeypatch.setattr(crhelper.resource_helper.boto3, "client", fake_client)
    monkeypatch.delenv("AWS_SAM_LOCAL", raising=False)
    CfnResource(sleep_on_delete=0)
    assert built == ["lambda", "events", "logs"]

    built.clear()
    CustomResource()
    assert built == [], "CustomResource must build no polling clients"
    assert "AWS_SAM_LOCAL" not in os.environ, "the constructor must restore AWS_SAM_LOCAL"


def test_the_private_state_the_subclass_reads_is_set_by_crhelper() -> None:
    helper = CustomResource()
    for name in ("_context", "_response_url", "_event", "_sleep_on_delete"):
        assert hasattr(helper, name), f"crhelper no longer sets {name}"
    assert helper._sleep_on_delete == 0
    init = inspect.getsource(CfnResource._crhelper_init)
    assert "self._response_url = event['ResponseURL']" in init
    assert "self._event = event" in init


def test_a_handler_that_returns_an_id_sets_the_physical_id_crhelper_answers_with() -> None:
    # _wrap_function stores the handler's return value as the physical id.
    source = inspect.getsource(CfnResource._wrap_function)
    assert "self.PhysicalResourceId = func(" in source


def test_crhelper_runs_each_handler_through_wrap_function_which_the_subclass_replaces() -> None:
    # CustomResource._wrap_function answers a ProvisioningError without crhelper's
    # ERROR traceback; that only works while crhelper calls it with the handler alone.
    assert "self._wrap_function(self._get_func())" in inspect.getsource(CfnResource._crhelper_init)
    assert list(inspect.signature(CfnResource._wrap_function).parameters) == ["self", "func"]
    assert list(inspect.signature(CustomResource._wrap_function).parameters) == ["self", "func"]
