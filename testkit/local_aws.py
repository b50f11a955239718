"""The embedded local AWS: IAM (a real moto_server) and CloudFormation's answer endpoint.

Used by the test suites, ``make demo``, ``make invoke`` and the benchmarks.
Everything binds to 127.0.0.1 and stops when its context ends.

* :class:`MotoServer` runs ``moto_server`` in a subprocess with the AWS managed
  policies loaded; point boto3 at it with ``AWS_ENDPOINT_URL_IAM``.
* :class:`CloudFormationStandIn` is an HTTPS server (certificates from
  ``trustme``) that records every answer PUT to a pre-signed-looking URL.
  crhelper and real CloudFormation both speak HTTPS only, so does this.
* :func:`local_aws` starts everything the function talks to, as a
  :class:`LocalAws`: the two above, CloudFormation's stack reads
  (:class:`testkit.cfn_api.CloudFormationApi`, which the request check and the
  sweep ask) and DMS (:class:`testkit.dms_api.DmsApi` in front of moto's), with
  EC2 (DescribeRegions) answered by moto too, so nothing real is ever reached.
"""

from __future__ import annotations

import http.server
import json
import os
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import boto3
import trustme

from testkit import REGION
from testkit.cfn_api import CloudFormationApi
from testkit.dms_api import DmsApi
from testkit.loopback import LoopbackServer

#: Looks like a pre-signed S3 URL: the log-cleanliness checks search for it.
SIGNATURE_MARK = "X-Amz-Signature=0f1e2d3c4b5a69788796a5b4c3d2e1f0"
#: moto takes any credentials; placeholders, so nothing real ever reaches it.
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class MotoServer:
    """``moto_server`` on loopback, with IAM's AWS managed policies loaded."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> MotoServer:
        env = {**os.environ, "MOTO_IAM_LOAD_MANAGED_POLICIES": "true"}
        server = Path(sys.executable).with_name("moto_server")
        self._process = subprocess.Popen(
            [str(server), "-H", "127.0.0.1", "-p", str(self.port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError("moto_server exited at start")
            try:
                urllib.request.urlopen(f"{self.url}/moto-api/", timeout=1).close()
                return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("moto_server did not start within 30 s")

    def reset(self) -> None:
        """Forget every role (managed policies come back on the next IAM call)."""
        request = urllib.request.Request(f"{self.url}/moto-api/reset", method="POST")
        urllib.request.urlopen(request, timeout=10).close()

    def stop(self) -> None:
        if self._process and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
        self._process = None

    def env(self) -> dict[str, str]:
        """Environment that points boto3 (and so the function) at this server."""
        return {
            "AWS_ENDPOINT_URL_IAM": self.url,
            **CREDENTIALS,
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
        }

    def client(self, service: Literal["iam", "cloudformation"] = "iam") -> Any:
        """A boto3 client of this server's ``service``, whatever the environment says."""
        return boto3.client(
            service,
            region_name=REGION,
            endpoint_url=self.url,
            aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        )


@dataclass
class _Script:
    """How the stand-in answers the next PUTs: status codes, or a delay first."""

    statuses: list[int] = field(default_factory=list)
    delay_seconds: float = 0.0


class CloudFormationStandIn:
    """Records the answers PUT to its URLs, over HTTPS with a throw-away CA."""

    def __init__(self) -> None:
        self._ca = trustme.CA()
        self._dir = tempfile.TemporaryDirectory(prefix="cfn-standin-")
        self.ca_file = str(Path(self._dir.name) / "ca.pem")
        self._ca.cert_pem.write_to_path(self.ca_file)
        self._lock = threading.Lock()
        self._bodies: dict[str, list[dict[str, Any]]] = {}
        self._arrivals: dict[str, list[float]] = {}
        self._script = _Script()
        self._server: http.server.ThreadingHTTPServer | None = None
        self.port = 0

    # -- scripting misbehaviour -------------------------------------------------
    def answer_with(self, *statuses: int) -> None:
        """The next PUTs get these HTTP statuses (then 200 again)."""
        with self._lock:
            self._script.statuses = list(statuses)

    def delay_answers(self, seconds: float) -> None:
        with self._lock:
            self._script.delay_seconds = seconds

    # -- what the function sees ---------------------------------------------------
    def response_url(self, key: str | None = None) -> str:
        key = key or uuid.uuid4().hex
        return (
            f"https://127.0.0.1:{self.port}/cloudformation-responses/{key}"
            f"?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires=7200&{SIGNATURE_MARK}"
        )

    @staticmethod
    def key_of(url: str) -> str:
        return url.split("/cloudformation-responses/")[1].split("?")[0]

    def bodies(self, key: str) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._bodies.get(key, []))

    def arrivals(self, key: str) -> list[float]:
        """time.monotonic() of each accepted answer."""
        with self._lock:
            return list(self._arrivals.get(key, []))

    def wait_for(self, key: str, timeout: float = 10.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.bodies(key)
            if found:
                return found[0]
            time.sleep(0.01)
        raise TimeoutError(f"no answer arrived for {key} within {timeout} s")

    # -- server ---------------------------------------------------------------------
    def _handler(self) -> type[http.server.BaseHTTPRequestHandler]:
        stand_in = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_PUT(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(length)
                with stand_in._lock:
                    script = stand_in._script
                    status = script.statuses.pop(0) if script.statuses else 200
                    delay = script.delay_seconds
                if delay:
                    time.sleep(delay)
                if status == 200:
                    key = self.path.split("/cloudformation-responses/")[-1].split("?")[0]
                    with stand_in._lock:
                        stand_in._bodies.setdefault(key, []).append(json.loads(raw))
                        stand_in._arrivals.setdefault(key, []).append(time.monotonic())
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        return Handler

    def start(self) -> CloudFormationStandIn:
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        server.daemon_threads = True
        self._server = server
        self.port = int(server.server_address[1])
        threading.Thread(target=server.serve_forever, name="cfn-standin", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        self._dir.cleanup()

    def env(self) -> dict[str, str]:
        """Environment that makes the function trust this stand-in's certificate."""
        return {"SSL_CERT_FILE": self.ca_file}


@dataclass(frozen=True)
class LocalAws:
    """Every stand-in the function reaches, started: see :func:`local_aws`."""

    #: IAM, and EC2 and DMS behind ``dms_api``.
    moto: MotoServer
    #: Where the function PUTs its answers (HTTPS).
    cfn: CloudFormationStandIn
    #: CloudFormation's stack reads: the request check and the sweep ask it.
    cfn_api: CloudFormationApi
    #: DMS: moto's, plus the DescribeReplicationConfigs moto lacks.
    dms_api: DmsApi

    def env(self) -> dict[str, str]:
        """The environment that points the function, in any process, at all of them."""
        return {
            **self.moto.env(),
            # The sweep lists the account's regions (ec2:DescribeRegions) when DMS_REGIONS
            # is empty: moto answers that too, rather than the real EC2.
            "AWS_ENDPOINT_URL_EC2": self.moto.url,
            **self.cfn.env(),
            **self.cfn_api.env(),
            **self.dms_api.env(),
            # boto3 names the variable after the service id, "Database Migration Service"
            # (AWS SDKs and Tools reference guide, "Service-specific endpoints"), so
            # AWS_ENDPOINT_URL_DMS alone leaves DMS clients on the real endpoint.
            "AWS_ENDPOINT_URL_DATABASE_MIGRATION_SERVICE": self.dms_api.url,
        }


def answer_at_once(stand_in: LoopbackServer) -> LoopbackServer:
    """TCP_NODELAY on a loopback stand-in's connections, which it does not set itself.

    Its handler writes the status line and headers, then the body, in two sends. On
    a kept-alive connection (boto3 keeps them) the body then waits for the client's
    delayed ACK of the first send: 40 ms on Linux, on every request after the first
    (measured: 44 ms per DescribeStackResource, 2 ms with TCP_NODELAY). AWS has no such
    stall, and the bench times these calls. ``disable_nagle_algorithm`` is
    socketserver's own switch (StreamRequestHandler).
    """
    handler = getattr(stand_in, "_server").RequestHandlerClass  # noqa: B009 - no public hook
    handler.disable_nagle_algorithm = True
    return stand_in


@contextmanager
def local_aws() -> Iterator[LocalAws]:
    """All the stand-ins, started, and stopped on exit."""
    moto = MotoServer().start()
    cfn = CloudFormationStandIn().start()
    try:
        with CloudFormationApi() as cfn_api, DmsApi(moto) as dms_api:
            answer_at_once(cfn_api)
            answer_at_once(dms_api)
            yield LocalAws(moto, cfn, cfn_api, dms_api)
    finally:
        cfn.stop()
        moto.stop()
