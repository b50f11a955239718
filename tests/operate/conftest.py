"""Fixtures for the command-line tool: one moto_server for the session, emptied per test."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from dms_prereq_cli.main import main

from testkit.local_aws import MotoServer
from tests.operate.scenario import Account


@pytest.fixture
def account(moto_server: MotoServer) -> Account:
    account = Account(moto_server)
    account.clear()
    return account


@dataclass(frozen=True)
class Run:
    """What one run of dms-prereq-roles printed, and its exit status."""

    status: int
    out: str
    err: str


@pytest.fixture
def cli(account: Account) -> Callable[..., Run]:
    """``cli("status", "--output", "json")``: the tool, in-process, aimed at moto_server."""

    def run(*args: str) -> Run:
        out, err = io.StringIO(), io.StringIO()
        status = main(["--endpoint-url", account.server.url, *args], out=out, err=err)
        return Run(status, out.getvalue(), err.getvalue())

    return run
