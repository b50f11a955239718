"""Lambda entry point for Custom::DmsPrerequisiteRoles: wiring only.

Logger, metrics, the clients and crhelper are set up once per cold start. A
CloudFormation request goes to crhelper's three handlers, which check it
(:mod:`dms_prereq.cfn`, :mod:`dms_prereq.stacks`) and hand it to
:mod:`dms_prereq.resource`; the scheduled event goes to :mod:`dms_prereq.sweep`.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from dms_prereq import resource, telemetry
from dms_prereq.cfn import CustomResource, account_problem, function_identity, parse_delete
from dms_prereq.clients import Clients
from dms_prereq.dms_usage import DmsSurvey, regions_to_ask
from dms_prereq.errors import InvalidRequest, InvalidSetting, ProvisioningError
from dms_prereq.request import Request, physical_id_for
from dms_prereq.settings import VERIFY_REQUESTS, AccountSettings
from dms_prereq.stacks import StackLookup, verify_request
from dms_prereq.sweep import Sweeper

logger = Logger(service="dms-prerequisite-roles")
metrics = Metrics(namespace=telemetry.NAMESPACE, service="dms-prerequisite-roles")
copy_config_to_registered_loggers(source_logger=logger, include={"dms_prereq", "crhelper"})
# crhelper logs the whole event, pre-signed ResponseURL included, at DEBUG: never go below INFO.
logging.getLogger("crhelper").setLevel(max(logging.INFO, logger.log_level))
helper = CustomResource()
sleep = time.sleep
CLIENTS = Clients()

try:
    # IAM is global; the region (from the Lambda environment) picks the partition's endpoint.
    # AWS_ENDPOINT_URL_IAM, when set, points it elsewhere (moto in tests) with no code change.
    IAM = CLIENTS.for_region("iam")
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
        settings = AccountSettings.from_environment()
        if not problem and settings.verify_requests:
            problem = verify_request(CLIENTS.cloudformation(request.resource.stack.region), request)
        if problem:
            raise InvalidRequest(problem)
        answer = resource.provision(
            IAM, request, settings, remaining_seconds=helper.remaining_seconds, sleep=sleep
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


def _verify_deletes() -> bool:
    """VerifyRequests for a Delete, which must answer SUCCESS even if the setting is bad."""
    try:
        return VERIFY_REQUESTS.read(os.environ)
    except InvalidSetting:
        return True


@helper.delete
def delete(event: dict[str, Any], context: Any) -> str:
    """A Delete always answers SUCCESS; what it does not release, the sweep releases."""
    request = parse_delete(event)
    if request is None:
        return physical_id_for(event)
    answer_id = request.physical_id or request.resource.physical_id
    problem = account_problem(request, context)
    if not problem and _verify_deletes():
        problem = verify_request(CLIENTS.cloudformation(request.resource.stack.region), request)
    if problem:
        logger.warning("nothing released", extra={"reason": problem})
        return answer_id
    with _reasons(event):
        return resource.delete(IAM, request)


def _sweep(context: Any) -> dict[str, object]:
    identity = function_identity(context)
    if identity is None:
        raise InvalidSetting("The sweep cannot tell its own account (no invoked function ARN).")
    settings = AccountSettings.from_environment()
    regions, problem = regions_to_ask(CLIENTS.ec2(), settings.dms_regions, identity.partition)
    report = Sweeper(
        IAM,
        StackLookup(CLIENTS.cloudformation, identity.account),
        DmsSurvey(CLIENTS.dms, regions, problem),
        settings,
        identity.partition,
        sleep=sleep,
    ).run()
    telemetry.publish(report, metrics)
    return report.summary()


#: Keys appended for one request; removed at each invocation, so that they never follow
#: it into the next one of a warm environment (a sweep, say). Not clear_state=True: that
#: would also drop the logger-name key copy_config_to_registered_loggers appended.
REQUEST_KEYS = ("request_type", "stack_id", "logical_resource_id")


@logger.inject_lambda_context(log_event=False)
def lambda_handler(event: Any, context: Any) -> Any:
    logger.remove_keys(list(REQUEST_KEYS))
    if telemetry.is_scheduled(event):
        return _sweep(context)
    if isinstance(event, dict):
        logger.append_keys(
            request_type=event.get("RequestType"),
            stack_id=event.get("StackId"),
            logical_resource_id=event.get("LogicalResourceId"),
        )
    helper(event, context)
    return None
