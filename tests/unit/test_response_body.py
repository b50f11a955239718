"""response.encode: the answer's body always fits CloudFormation's 4096-byte limit.

Pure: a body in, the bytes that would be PUT out; nothing is sent.
"""

from __future__ import annotations

import json
from typing import Any

from dms_prereq.response import MAX_BODY_BYTES, encode


def body(
    status: str = "SUCCESS", data: dict[str, str] | None = None, reason: str = ""
) -> dict[str, Any]:
    return {
        "Status": status,
        "Reason": reason,
        "PhysicalResourceId": "DmsPrerequisiteRoles-0123456789abcdef0123",
        "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/s/1",
        "RequestId": "r",
        "LogicalResourceId": "DmsRoles",
        "NoEcho": False,
        "Data": {"VpcRoleArn": "arn:aws:iam::123456789012:role/dms-vpc-role"}
        if data is None
        else data,
    }


def test_a_body_that_fits_is_sent_as_it_is() -> None:
    answer = body()

    assert json.loads(encode(answer)) == answer


def test_attributes_too_large_turn_success_into_a_failure_that_says_why() -> None:
    answer = body(data={f"Attribute{i}": "x" * 100 for i in range(50)})

    sent = json.loads(encode(answer))

    assert len(encode(answer)) <= MAX_BODY_BYTES == 4096
    assert sent["Status"] == "FAILED"
    assert sent["Data"] == {}
    assert "4096" in sent["Reason"]
    assert sent["PhysicalResourceId"] == answer["PhysicalResourceId"]
    assert answer["Status"] == "SUCCESS" and len(answer["Data"]) == 50  # the caller's is untouched


def test_a_failure_too_large_keeps_its_status_and_the_start_of_its_reason() -> None:
    answer = body("FAILED", {f"A{i}": "x" * 100 for i in range(50)}, reason="Why: " + "y" * 500)

    sent = json.loads(encode(answer))

    assert len(encode(answer)) <= MAX_BODY_BYTES
    assert sent["Status"] == "FAILED"
    assert sent["Data"] == {}
    assert sent["Reason"].startswith("Why: ") and answer["Reason"].startswith(sent["Reason"])
