"""Fixtures for the command-line tool: moto_server and the stand-ins, emptied per test."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from dms_prereq_cli.main import main

from testkit.cfn_api import CloudFormationApi
from testkit.dms_api import DmsApi
from testkit.local_aws import MotoServer
from tests.operate.scenario import Account


@pytest.fixture(scope="session")
def dms_api(moto_server: MotoServer) -> Iterator[DmsApi]:
    """DMS for the session: moto's, with the DescribeReplicationConfigs moto lacks."""
    with DmsApi(moto_server) as api:
        yield api


@pytest.fixture
def account(moto_server: MotoServer, cfn_api: CloudFormationApi, dms_api: DmsApi) -> Account:
    account = Account(moto_server, cfn_api, dms_api)
    account.clear()
    return account


@dataclass(frozen=True)
class Run:
    """What one run of dms-prereq-roles printed, and its exit status."""

    status: int
    out: str
    err: str


@pytest.fixture
def cli(account: Account, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Run]:
    """``cli("status", "--output", "json")``: the tool, in-process, aimed at the account."""
    for name, value in account.env().items():
        monkeypatch.setenv(name, value)

    def run(*args: str) -> Run:
        out, err = io.StringIO(), io.StringIO()
        status = main(list(args), out=out, err=err)
        return Run(status, out.getvalue(), err.getvalue())

    return run
