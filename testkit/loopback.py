"""A threaded HTTP server on loopback, under every stand-in of the test kit.

The CloudFormation and DMS stand-ins and the unkind IAM proxy each answer a request in
:meth:`LoopbackServer.handle`; this module holds what they share: the server, its
request handler (keep-alive, no Nagle stall) and its life cycle.
"""

from __future__ import annotations

import http.server
import threading
import urllib.parse
from dataclasses import replace
from types import TracebackType
from typing import Any, Self

from testkit.unkind_iam_query import QueryRequest, Reply


class Refusal(Exception):
    """An error a stand-in answers: HTTP status, the service's error code and message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    # The function asks up to 8 regions at once from several worker processes; the
    # default backlog of 5 would refuse some of their connections.
    request_queue_size = 128


class LoopbackServer:
    """A threaded HTTP server on 127.0.0.1; subclasses answer each request in :meth:`handle`.

    ``url`` is known as soon as the object exists (the port is bound then), so a test can
    hand it to a worker process before :meth:`start`.
    """

    thread_name = "loopback-server"

    def __init__(self, port: int = 0) -> None:
        self._server = _Server(("127.0.0.1", port), _handler_for(self))
        self._thread: threading.Thread | None = None
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def handle(self, request: QueryRequest) -> Reply:
        raise NotImplementedError

    def crashed(self, error: Exception) -> Reply:
        """The answer when :meth:`handle` raised: a 500 the test sees, rather than a hang."""
        return Reply(500, (("Content-Type", "text/plain"),), f"stand-in failed: {error!r}".encode())

    def start(self) -> Self:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._server.serve_forever, name=self.thread_name, daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=10)
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def _handler_for(server: LoopbackServer) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        # Keep-alive, as botocore's connection pool expects; every answer has a length.
        protocol_version = "HTTP/1.1"
        # Headers and body go out in two sends: without this, the client's delayed ACK
        # stalls every answer on a kept-alive connection by about 40 ms.
        disable_nagle_algorithm = True

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length) if length else b""
            request = QueryRequest.parse(self.command, self.path, self.headers.items(), body)
            query = urllib.parse.urlsplit(self.path).query
            if self.command == "GET" and query:
                # The Query protocol also allows GET with the parameters in the URL.
                params = urllib.parse.parse_qsl(query, keep_blank_values=True)
                request = replace(request, params=tuple(params))
            try:
                reply = server.handle(request)
            except Exception as error:  # a stand-in bug must reach the test, not hang it
                reply = server.crashed(error)
            self.send_response(reply.status)
            for name, value in reply.headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            self.wfile.write(reply.body)

        do_GET = do_POST = do_PUT = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler
