"""boto3 clients by service and region, made once per process and shared by threads.

IAM is global; CloudFormation must be asked in each stack's own region, and DMS
in every region the sweep covers. Endpoints come from boto3's own resolution,
so the standard ``AWS_ENDPOINT_URL_<SERVICE>`` variables point any of them at a
local stand-in with no code change.
"""

from __future__ import annotations

import threading
from typing import Any

import boto3
from botocore.config import Config


def client_config() -> Config:
    """Standard retry mode: backs off on Throttling, 5xx and connection errors."""
    return Config(
        retries={"mode": "standard", "max_attempts": 8},
        connect_timeout=5,
        read_timeout=20,
    )


class Clients:
    """A cache of boto3 clients; ``for_region("dms", "eu-west-1")``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._made: dict[tuple[str, str | None], Any] = {}

    def for_region(self, service: str, region: str | None = None) -> Any:
        key = (service, region)
        with self._lock:
            client = self._made.get(key)
            if client is None:
                # boto3.client is not thread-safe; the lock also covers its creation.
                make: Any = boto3.client  # typed per service literal; the service is a str here
                client = self._made[key] = make(service, region_name=region, config=client_config())
            return client

    def cloudformation(self, region: str) -> Any:
        return self.for_region("cloudformation", region)

    def dms(self, region: str) -> Any:
        return self.for_region("dms", region)

    def ec2(self) -> Any:
        return self.for_region("ec2")
