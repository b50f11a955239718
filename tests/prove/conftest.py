"""Fixtures of the proving suites (issue 4), and the hooks that order and report them.

* ``module_iam``: one in-process moto IAM per test module, with AWS managed
  policies loaded once (the load costs seconds); ``world`` empties it before
  each test and hands out a :class:`~tests.prove.world.Harness`.
* ``backoff``: botocore's retry back-off sleeps are recorded instead of slept,
  so thousands of retried calls take no wall time (botocore still computes and
  asks for every delay; nothing in the function is patched).
* Tests marked ``evidence_check`` (least privilege, clean logs) run after all
  others, so they see every call and log line of the session.
"""

from __future__ import annotations

import os
import tempfile
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import botocore.endpoint
import pytest
from moto import mock_aws

from testkit import REGION
from testkit.evidence import EVIDENCE
from testkit.local_aws import CloudFormationStandIn, MotoServer
from tests.prove.atomic import AtomicProxy
from tests.prove.faults import CallTap
from tests.prove.world import Harness, SignedStandIn, World, make_boundaries, new_client

#: Credentials distinctive enough to search the logs for.
PROVE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "AKIAPROVEEXAMPLE7Q2Z",
    "AWS_SECRET_ACCESS_KEY": "prove+Secret/Key0wJalrXUtnFEMIK7MDENGbPxRfiCY",
    "AWS_SESSION_TOKEN": "FwoGZXIvYXdzEProveSessionToken0123456789abcdef",
}


def worker_environment(iam_url: str) -> dict[str, str]:
    """What a worker process running the function gets: IAM behind the proxy, the
    stand-in's CA, DEBUG logs (so the clean-log checks see the most), fake credentials."""
    return {
        "AWS_ENDPOINT_URL_IAM": iam_url,
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "SSL_CERT_FILE": os.environ["SSL_CERT_FILE"],
        "POWERTOOLS_LOG_LEVEL": "DEBUG",
        **PROVE_CREDENTIALS,
    }


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "evidence_check: checks the evidence of the whole session; runs last"
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: item.get_closest_marker("evidence_check") is not None)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if EVIDENCE.invocations:
        figures = dict(sorted(EVIDENCE.figures.items()))
        figures["invocations observed"] = len(EVIDENCE.invocations)
        figures["IAM calls recorded"] = len(EVIDENCE.calls)
        figures["log lines captured"] = sum(len(i.lines) for i in EVIDENCE.invocations)
        terminalreporter.write_sep("-", "prove: figures")
        for name, value in figures.items():
            terminalreporter.write_line(f"{name}: {value}")


@pytest.fixture(scope="session")
def signed_cfn(cfn: CloudFormationStandIn) -> Iterator[SignedStandIn]:
    """CloudFormation's answer endpoint with freshly signed URLs; trusted beside ``cfn``."""
    stand_in = SignedStandIn()
    stand_in.start()
    with tempfile.TemporaryDirectory(prefix="prove-ca-") as folder:
        bundle = Path(folder) / "bundle.pem"
        bundle.write_text(Path(cfn.ca_file).read_text() + Path(stand_in.ca_file).read_text())
        saved = os.environ.get("SSL_CERT_FILE")
        os.environ["SSL_CERT_FILE"] = str(bundle)
        try:
            yield stand_in
        finally:
            if saved is None:
                os.environ.pop("SSL_CERT_FILE", None)
            else:
                os.environ["SSL_CERT_FILE"] = saved
            stand_in.stop()


@pytest.fixture(autouse=True)
def backoff(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The back-off delays botocore asked for while retrying; nobody waits for them."""
    delays: list[float] = []
    fake_time = types.SimpleNamespace(sleep=delays.append)
    monkeypatch.setattr(botocore.endpoint, "time", fake_time)
    return delays


@pytest.fixture(scope="module")
def iam_url() -> Iterator[str]:
    """A real moto_server, behind a proxy that makes each call atomic as IAM's are."""
    server = MotoServer().start()
    proxy = AtomicProxy(server.url).start()
    try:
        yield proxy.url
    finally:
        proxy.stop()
        server.stop()


@pytest.fixture(scope="module")
def module_iam() -> Iterator[Any]:
    """A moto IAM for the module; yields a client tests use to look at it."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in PROVE_CREDENTIALS.items():
            patch.setenv(name, value)
        with mock_aws(config={"iam": {"load_aws_managed_policies": True}}):
            observer = new_client()
            make_boundaries(observer)  # and moto loads the managed policies now
            yield observer


@pytest.fixture
def world(module_iam: Any, signed_cfn: SignedStandIn, request: pytest.FixtureRequest) -> World:
    client = new_client()
    start = World(module_iam, Harness(signed_cfn, client, request.node.nodeid), CallTap(client))
    return start.fresh()
