"""Lambda entry point for Custom::DmsPrerequisiteRoles: wiring only.

Logger, the IAM client and crhelper are set up once per cold start; the three
handlers parse the request and hand it to :mod:`dms_prereq.resource`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from dms_prereq import iam, resource
from dms_prereq.cfn import CustomResource, account_problem, parse_delete
from dms_prereq.errors import InvalidRequest, ProvisioningError
from dms_prereq.request import Request, physical_id_for
from dms_prereq.settings import AccountSettings

logger = Logger(service="dms-prerequisite-roles")
copy_config_to_registered_loggers(source_logger=logger, include={"dms_prereq", "crhelper"})
# crhelper logs the whole event, pre-signed ResponseURL included, at DEBUG: never go below INFO.
logging.getLogger("crhelper").setLevel(max(logging.INFO, logger.log_level))
helper = CustomResource()
sleep = time.sleep

try:
    # IAM is global; the region (from the Lambda environment) picks the partition's endpoint.
    # AWS_ENDPOINT_URL_IAM, when set, points it elsewhere (moto in tests) with no code change.
    IAM = boto3.client("iam", config=iam.client_config())
except Exception as error:  # noqa: BLE001 - any set-up failure must still answer FAILED
    helper.init_failure(error)


@contextmanager
def _reasons(event: dict[str, Any]) -> Iterator[None]:
    """Let ProvisioningError through as the FAILED reason; turn a bug into a clean one."""
    try:
        yield
    except ProvisioningError as failure:
        # What the stack author must fix, not a fault of the function: one line, no traceback.
        logger.warning("answering FAILED", extra={"reason": str(failure)})
        raise
    except Exception as error:
        logger.exception("unexpected error")
        raise ProvisioningError(
            f"Internal error ({type(error).__name__}); see the function's log for "
            f"request {event.get('RequestId')}."
        ) from error


def _provision(event: dict[str, Any], context: Any) -> str:
    with _reasons(event):
        request = Request.parse(event)
        problem = account_problem(request, context)
        if problem:
            raise InvalidRequest(problem)
        answer = resource.provision(
            IAM,
            request,
            AccountSettings.from_environment(),
            remaining_seconds=helper.remaining_seconds,
            sleep=sleep,
        )
    helper.Data.update(answer.attributes)
    logger.info("answered", extra={"attributes": answer.attributes})
    return answer.physical_id


@helper.create
def create(event: dict[str, Any], context: Any) -> str:
    return _provision(event, context)


@helper.update
def update(event: dict[str, Any], context: Any) -> str:
    return _provision(event, context)


@helper.delete
def delete(event: dict[str, Any], context: Any) -> str:
    request = parse_delete(event)
    if request is None:
        return physical_id_for(event)
    problem = account_problem(request, context)
    if problem:
        logger.warning("nothing released", extra={"reason": problem})
        return request.physical_id or request.resource.physical_id
    with _reasons(event):
        return resource.delete(IAM, request)


@logger.inject_lambda_context(log_event=False)
def lambda_handler(event: Any, context: Any) -> None:
    if isinstance(event, dict):
        logger.append_keys(
            request_type=event.get("RequestType"),
            stack_id=event.get("StackId"),
            logical_resource_id=event.get("LogicalResourceId"),
        )
    helper(event, context)
