"""A loopback proxy that makes each IAM call atomic, as real IAM is, in front of moto_server.

moto_server serves requests on threads and its IAM model is not thread-safe:
TagRole and UntagRole, for instance, each rebuild the role's tag list, so two
at once can lose one's change. Real IAM never loses a write that way; it only
lacks *conditional* writes across calls. The proxy forwards one request at a
time, so calls from many processes still interleave freely between calls (the
races the function must survive) but never inside one.
"""

from __future__ import annotations

import http.client
import http.server
import threading
import urllib.parse
from typing import Any

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length"}


class AtomicProxy:
    """Serialises requests to ``upstream`` (http://127.0.0.1:PORT); ``url`` is its own."""

    def __init__(self, upstream: str) -> None:
        parts = urllib.parse.urlsplit(upstream)
        self._upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self._lock = threading.Lock()
        self._connection: http.client.HTTPConnection | None = None
        self.forwarded = 0
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
                status, reply_headers, data = proxy._send(self.command, self.path, headers, body)
                self.send_response(status)
                for name, value in reply_headers:
                    if name.lower() not in _HOP_BY_HOP:
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = _forward

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def _send(
        self, method: str, path: str, headers: dict[str, str], body: bytes | None
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        with self._lock:
            self.forwarded += 1
            for attempt in (1, 2):
                if self._connection is None:
                    self._connection = http.client.HTTPConnection(*self._upstream, timeout=60)
                try:
                    self._connection.request(method, path, body=body, headers=headers)
                    reply = self._connection.getresponse()
                    return reply.status, reply.getheaders(), reply.read()
                except (http.client.HTTPException, OSError):
                    self._connection.close()
                    self._connection = None
                    if attempt == 2:
                        raise
            raise AssertionError("unreachable")

    def start(self) -> AtomicProxy:
        threading.Thread(target=self._server.serve_forever, name="atomic-iam", daemon=True).start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
