"""Fixtures for the documented commands: DMS for the tool to ask (moto's, with what it lacks)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from testkit.dms_api import DmsApi
from testkit.local_aws import MotoServer


@pytest.fixture(scope="session")
def dms_api(moto_server: MotoServer) -> Iterator[DmsApi]:
    with DmsApi(moto_server) as api:
        yield api
