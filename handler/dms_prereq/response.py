"""Delivering the answer to CloudFormation's pre-signed ResponseURL.

Replaces crhelper's sender, which retries forever, always speaks HTTPS and
logs the URL: this one PUTs once per try, retries 5xx and connection errors
only while the invocation has time left, and never logs the URL (it is a
credential for the stack's answer). Its TLS context is built once per process,
in the background as a request arrives (:func:`prepare`), not once per answer.
"""

from __future__ import annotations

import json
import logging
import os
import ssl
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from contextlib import suppress
from typing import Any

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 4096
#: Keep trying only while more than this many seconds are left.
SEND_MARGIN_SECONDS = 0.3
TRY_TIMEOUT_SECONDS = 5.0

_opener_lock = threading.Lock()
_openers: dict[tuple[str | None, str | None], urllib.request.OpenerDirector] = {}


def _trust_store() -> tuple[str | None, str | None]:
    return os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR")


def opener() -> urllib.request.OpenerDirector:
    """The URL opener answers go out with, built once per trust store.

    Its TLS context loads every CA certificate the runtime trusts, about 100 ms
    of CPU with OpenSSL 3.0, which urllib's default paid again for every answer.
    The trust store is whatever SSL_CERT_FILE and SSL_CERT_DIR name, hence the key.
    """
    key = _trust_store()
    with _opener_lock:
        built = _openers.get(key)
        if built is None:
            https = urllib.request.HTTPSHandler(context=ssl.create_default_context())
            built = _openers[key] = urllib.request.build_opener(https)
        return built


def _build_opener() -> None:
    with suppress(OSError, ValueError):  # the send builds it again and reports the problem
        opener()


def prepare() -> None:
    """Build the opener in the background, so that the answer need not wait for it."""
    if _trust_store() not in _openers:
        threading.Thread(target=_build_opener, name="answer-opener", daemon=True).start()


def encode(body: dict[str, Any]) -> bytes:
    """JSON of the body, shrunk to CloudFormation's 4096-byte limit if need be."""
    data = json.dumps(body).encode()
    if len(data) > MAX_BODY_BYTES and body.get("Data"):
        body = {**body, "Data": {}, "Reason": (body.get("Reason") or "")[:200]}
        if body["Status"] == "SUCCESS":
            body["Status"] = "FAILED"
            body["Reason"] = "The answer's attributes exceeded CloudFormation's 4096-byte limit."
        data = json.dumps(body).encode()
    return data


def send(
    url: str,
    body: dict[str, Any],
    *,
    remaining_seconds: Callable[[], float],
    local: bool = False,
) -> bool:
    """PUT the body to ``url``; True when CloudFormation took it.

    ``local`` (``sam local invoke``): print the body and make a single quick
    try, since the sample events carry a placeholder URL that never answers.
    """
    data = encode(body)
    if local:
        print(data.decode(), file=sys.stdout, flush=True)
    if urllib.parse.urlsplit(url).scheme not in ("https", "http"):
        log.error("the request has no usable ResponseURL; the answer cannot be delivered")
        return False
    attempt = 0
    while True:
        attempt += 1
        left = remaining_seconds() - SEND_MARGIN_SECONDS
        timeout = min(TRY_TIMEOUT_SECONDS, max(left, 0.1))
        try:
            request = urllib.request.Request(  # noqa: S310 - scheme checked above
                url, data=data, method="PUT", headers={"Content-Type": ""}
            )
            with opener().open(request, timeout=timeout) as reply:
                log.info("answer delivered", extra={"status": body["Status"], "http": reply.status})
                return True
        except urllib.error.HTTPError as error:
            retryable = error.code >= 500 or error.code == 429
            problem = f"HTTP {error.code}"
        except (urllib.error.URLError, OSError, ValueError) as error:
            retryable = not isinstance(error, ValueError)
            problem = type(error).__name__
        pause = min(0.25 * 2 ** (attempt - 1), 2.0)
        if local or not retryable or remaining_seconds() - pause < SEND_MARGIN_SECONDS + 0.2:
            log.error("answer not delivered", extra={"problem": problem, "attempts": attempt})
            return False
        log.warning("answer not delivered yet; retrying", extra={"problem": problem})
        time.sleep(pause)


def is_local() -> bool:
    return bool(os.environ.get("AWS_SAM_LOCAL"))
