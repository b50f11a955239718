"""Fixtures of the proving suites, and the hooks that order and report them.

* ``unkind_moto`` / ``unkind_server`` / ``unkind``: one moto_server for the session
  with :class:`~testkit.unkind_iam.UnkindIam` in front, IAM as it really behaves
  (``unkind`` empties moto for a test; ``world`` only wipes the roles, which keeps
  moto's managed policies loaded).
* ``dms_api`` and ``function_clients``: DMS (and EC2's region list) for the sweep,
  and the function's CloudFormation, DMS and EC2 clients recorded in
  :data:`~testkit.evidence.EVIDENCE` beside its IAM calls.
* ``world``: a :class:`~tests.prove.world.World` on all of it, with the
  deployment's settings in the environment; its figures go to
  :data:`~tests.prove.world.FIGURES`.
* ``backoff``: botocore's retry back-off sleeps are recorded instead of slept,
  so thousands of retried calls take no wall time (botocore still computes and
  asks for every delay; nothing in the function is patched).
* Tests marked ``evidence_check`` (least privilege, clean logs) run after all
  others, so they see every call and log line of the session.
* At the end, every suite's figures (Δ used, 409s injected, steps or rounds,
  invariant checks, violations, ...) are printed: ``FIGURES.add(suite, name, n)``
  from any suite, or ``EVIDENCE.figures["<suite>: <name>"]``.
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
from testkit.cfn_api import CloudFormationApi
from testkit.console import wipe_roles
from testkit.dms_api import DmsApi
from testkit.evidence import EVIDENCE, RecordingClients
from testkit.invoke import load_app
from testkit.local_aws import CloudFormationStandIn, MotoServer
from testkit.unkind_iam import UnkindIam, UnkindSettings
from tests.prove.atomic import AtomicProxy
from tests.prove.faults import CallTap
from tests.prove.world import (
    DEPLOYMENT,
    FIGURES,
    Harness,
    SignedStandIn,
    World,
    make_boundaries,
    new_client,
    unkind_settings,
)

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


def _per_suite() -> dict[str, dict[str, object]]:
    """FIGURES, with figures reported as ``EVIDENCE.figures["<suite>: <name>"]`` merged in."""
    suites: dict[str, dict[str, object]] = {k: dict(v) for k, v in FIGURES.suites().items()}
    for key, value in EVIDENCE.figures.items():
        suite, sep, name = key.partition(": ")
        if sep:
            suites.setdefault(suite, {})[name] = value
    return suites


def pytest_terminal_summary(terminalreporter: Any) -> None:
    suites = _per_suite()
    if not EVIDENCE.invocations and not suites:
        return
    terminalreporter.write_sep("-", "prove: figures per suite")
    for suite, figures in suites.items():
        shown = ", ".join(f"{name} {value}" for name, value in figures.items())
        terminalreporter.write_line(f"{suite}: {shown}")
    figures = {k: v for k, v in sorted(EVIDENCE.figures.items()) if ": " not in k}
    calls = EVIDENCE.calls
    figures["invocations observed"] = len(EVIDENCE.invocations)
    for service in sorted({call.service for call in calls}):
        figures[f"{service} calls recorded"] = sum(1 for c in calls if c.service == service)
    figures["log lines captured"] = sum(len(i.lines) for i in EVIDENCE.invocations)
    terminalreporter.write_sep("-", "prove: figures of the session")
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
    """A real moto_server, behind a proxy that makes each call atomic as IAM's are
    (version 1's kinder IAM; the suites now use ``unkind_server``)."""
    server = MotoServer().start()
    proxy = AtomicProxy(server.url).start()
    try:
        yield proxy.url
    finally:
        proxy.stop()
        server.stop()


@pytest.fixture(scope="session")
def unkind_moto() -> Iterator[MotoServer]:
    """The moto_server behind ``unkind_server``: IAM as it really is (consistent reads),
    for set-up and invariant checks; DMS and EC2 for the sweep."""
    server = MotoServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def unkind_server(unkind_moto: MotoServer) -> Iterator[UnkindIam]:
    """IAM as it really behaves, for the session: moto_server behind :class:`UnkindIam`
    (lagging reads, 409s, IAM's tag rules, unique ids for new ARNs)."""
    proxy = UnkindIam(unkind_moto).start()
    try:
        yield proxy
    finally:
        proxy.stop()


@pytest.fixture
def unkind(unkind_server: UnkindIam) -> UnkindIam:
    """The unkind IAM emptied, with its realistic defaults (a test may ``configure`` it)."""
    unkind_server.reset()
    unkind_server.configure(UnkindSettings())
    return unkind_server


@pytest.fixture(scope="session")
def dms_api(unkind_moto: MotoServer) -> Iterator[DmsApi]:
    """DMS for the sweep: moto's, plus the replication configs moto lacks."""
    with DmsApi(unkind_moto) as api:
        yield api


@pytest.fixture(scope="session")
def _recording_clients() -> RecordingClients:
    return RecordingClients()


@pytest.fixture
def function_clients(
    dms_api: DmsApi,
    cfn_api: CloudFormationApi,
    unkind_moto: MotoServer,
    _recording_clients: RecordingClients,
    monkeypatch: pytest.MonkeyPatch,
) -> RecordingClients:
    """The in-process function's CloudFormation, DMS and EC2 clients, reaching the
    stand-ins and recorded in EVIDENCE (the least-privilege check), for one test.

    DMS is asked through ``dms_api``; EC2's region list comes from moto. The clients
    are kept for the session (made on first need), and put back after each test.
    """
    endpoints = {
        **dms_api.env(),
        # boto3 names the variable after the service id, "Database Migration Service"
        # (AWS SDKs and Tools reference guide, "Service-specific endpoints").
        "AWS_ENDPOINT_URL_DATABASE_MIGRATION_SERVICE": dms_api.url,
        "AWS_ENDPOINT_URL_EC2": unkind_moto.url,
    }
    for name, value in endpoints.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(load_app(), "CLIENTS", _recording_clients)
    return _recording_clients


@pytest.fixture
def world(
    unkind_server: UnkindIam,
    unkind_moto: MotoServer,
    signed_cfn: SignedStandIn,
    cfn_api: CloudFormationApi,
    function_clients: RecordingClients,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> Iterator[World]:
    """An account without roles behind the unkind IAM, the function deployed with
    :data:`~tests.prove.world.DEPLOYMENT`, CloudFormation knowing no stack."""
    for name, value in {**PROVE_CREDENTIALS, **DEPLOYMENT}.items():
        monkeypatch.setenv(name, value)
    unkind_server.configure(unkind_settings(seed=request.node.nodeid))
    unkind_server.reset(moto=False)
    cfn_api.reset()
    truth = unkind_moto.client("iam")
    make_boundaries(truth)
    wipe_roles(truth)
    suite = request.node.module.__name__.rsplit(".", 1)[-1].removeprefix("test_")
    client = new_client(unkind_server.url)
    start = World(
        truth,
        Harness(signed_cfn, client, request.node.nodeid, api=cfn_api),
        CallTap(client),
        unkind=unkind_server,
        cfn_api=cfn_api,
        suite=suite.replace("_", " "),
        monkeypatch=monkeypatch,
    )
    yield start
    start.absorb()


@pytest.fixture(scope="module")
def module_iam() -> Iterator[Any]:
    """An in-process moto IAM for the module (version 1's kind IAM; the suites now use
    ``world``); yields a client tests use to look at it."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in PROVE_CREDENTIALS.items():
            patch.setenv(name, value)
        with mock_aws(config={"iam": {"load_aws_managed_policies": True}}):
            observer = new_client()
            make_boundaries(observer)  # and moto loads the managed policies now
            yield observer
