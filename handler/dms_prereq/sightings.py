"""What this process last saw of each role: there, or gone. A hint, never a fact.

A claim's first IAM call is a guess at whether the role exists: CreateRole
when it probably does not (2 calls to make it), GetRole when it probably does
(3 calls to join it, instead of 4 after a failed CreateRole). Without a hint
the guess is CreateRole, except on an Update of a role this resource claimed.
A warm Lambda container remembers here what its own calls found, so the next
stack that joins the roles skips the failed CreateRole.

A stale hint costs one call, never correctness: :func:`~dms_prereq.roles.claim_role`
handles both outcomes of either first call. Sightings are kept per IAM client, so
a new client (a new container, a test's fresh IAM) starts knowing nothing.
"""

from __future__ import annotations

import threading
import weakref
from contextlib import suppress

from .iam import IAMClient


class Sightings:
    """Thread-safe map of (IAM client, role name) to whether the role was last seen."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: weakref.WeakKeyDictionary[IAMClient, dict[str, bool]] = (
            weakref.WeakKeyDictionary()
        )

    def exists(self, client: IAMClient, role: str) -> bool:
        """Whether ``role`` was there when ``client`` last looked (False when unknown)."""
        # A client that cannot be weakly referenced (TypeError) gets no hints.
        with self._lock, suppress(TypeError):
            return self._seen.get(client, {}).get(role, False)
        return False

    def note(self, client: IAMClient, role: str, exists: bool) -> None:
        with self._lock, suppress(TypeError):
            self._seen.setdefault(client, {})[role] = exists


#: The hints of this process (one Lambda container).
SIGHTINGS = Sightings()
