"""What the stand-in tests share: a client that shows each answer as the endpoint gave it,
fresh names, and the refusal a call met."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from testkit import REGION

#: One attempt per call, so that what the endpoint answers is what the test sees.
ONE_TRY = {"mode": "standard", "total_max_attempts": 1}


def client(service: str, url: str, region: str = REGION, retries: Any = None) -> Any:
    return boto3.client(
        service,
        region_name=region,
        endpoint_url=url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries=retries or ONE_TRY),
    )


def fresh(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def refusal(call: Callable[[], Any]) -> tuple[str, int, str]:
    """The (code, HTTP status, message) a call is refused with."""
    with pytest.raises(ClientError) as caught:
        call()
    error = caught.value.response
    return (
        error["Error"]["Code"],
        error["ResponseMetadata"]["HTTPStatusCode"],
        error["Error"]["Message"],
    )
