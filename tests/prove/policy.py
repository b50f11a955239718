"""The function's IAM policy as template.yaml grants it, evaluated like IAM would.

moto's own permission checks are partial (toolchain.md), so this module reads
the ``FunctionRole`` of template.yaml, resolves the pseudo parameters and the
``!Sub`` strings for one partition and account, and decides each recorded call
with IAM's rules: an explicit Deny wins, else any matching Allow; Action and
Resource patterns with ``*``/``?``; Condition operators ArnEquals/ArnLike/
StringEquals/StringLike (``IfExists`` too). Anything it cannot evaluate
faithfully (NotAction, another operator, an unknown condition key, a managed
policy on the role, permissions granted elsewhere) is an error, not a pass.

Each recorded call is authorised as IAM authorises it (Service Authorization
Reference): an IAM call on the role it names (``role/<name>``); a CloudFormation
call on the stack it names (the function passes stack ARNs); the DMS Describe
actions and ``ec2:DescribeRegions``, which support no resource-level permissions,
on ``*``.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from testkit import ACCOUNT
from testkit.calls import IamCall

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"
ROLE_RESOURCE = "FunctionRole"
FUNCTION_RESOURCE = "Function"
REGION = "us-east-1"
#: Used by the Lambda service itself to ship the function's logs, never by its code:
#: checked to be limited to the function's own log group instead of "called".
RUNTIME_ACTIONS = frozenset({"logs:createlogstream", "logs:putlogevents"})
#: Condition keys the evaluator can supply for the calls it sees.
KNOWN_KEYS = frozenset({"iam:policyarn", "iam:permissionsboundary", "aws:tagkeys"})
_OPERATORS = ("ArnEquals", "ArnLike", "StringEquals", "StringLike")


class UnsupportedPolicy(Exception):
    """The template says something this evaluator would get wrong."""


class _CfnLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short intrinsic functions (!Sub, !Ref, !GetAtt ...)."""


def _intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


_CfnLoader.add_multi_constructor("!", _intrinsic)


@dataclass(frozen=True)
class Request:
    """One authorisation IAM makes: action, resource ARN, condition context."""

    action: str
    resource: str
    context: tuple[tuple[str, str], ...] = ()

    @property
    def context_dict(self) -> dict[str, str]:
        return dict(self.context)


def role_arn(call: IamCall, partition: str = "aws", account: str = ACCOUNT) -> str:
    """The role the call acts on, in the stack's partition and account (the evidence's)."""
    return f"arn:{partition}:iam::{account}:role/{call.role or '*'}"


def stack_arn(call: IamCall, partition: str = "aws", account: str = ACCOUNT) -> str:
    """The stack a CloudFormation call acts on: the ARN it names, else its name's ARN."""
    named = call.stack or "*"
    if named.startswith("arn:"):
        return named
    return f"arn:{partition}:cloudformation:{call.region or REGION}:{account}:stack/{named}/*"


def requests_of(call: IamCall, partition: str = "aws", account: str = ACCOUNT) -> list[Request]:
    """What IAM authorises for one call, implicit permissions included."""
    if call.service == "cloudformation":
        return [Request(call.permission, stack_arn(call, partition, account))]
    if call.service != "iam":
        return [Request(call.permission, "*")]
    context: dict[str, str] = {}
    if call.policy_arn:
        context["iam:PolicyARN"] = call.policy_arn
    arn = role_arn(call, partition, account)
    found = [Request(f"iam:{call.action}", arn, tuple(context.items()))]
    if call.with_tags:
        # CreateRole with Tags is also authorised as iam:TagRole (toolchain.md).
        found.append(Request("iam:TagRole", arn))
    return found


def matches(pattern: str, value: str, *, case: bool) -> bool:
    if case:
        return fnmatch.fnmatchcase(value, pattern)
    return fnmatch.fnmatchcase(value.lower(), pattern.lower())


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


@dataclass(frozen=True)
class FunctionPolicy:
    """The resolved statements of the function's role, for one partition and account."""

    statements: tuple[dict[str, Any], ...]
    log_group_arn: str

    @classmethod
    def load(
        cls, partition: str = "aws", account: str = ACCOUNT, path: Path = TEMPLATE
    ) -> FunctionPolicy:
        template = yaml.load(path.read_text(), Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass
        resources = template["Resources"]
        _only_this_role_grants(resources)
        role = resources[ROLE_RESOURCE]["Properties"]
        if role.get("ManagedPolicyArns") or role.get("PermissionsBoundary"):
            raise UnsupportedPolicy("FunctionRole has managed policies or a boundary")
        log_group = f"arn:{partition}:logs:{REGION}:{account}:log-group:dms-prereq-logs"
        names = {
            "AWS::Partition": partition,
            "AWS::AccountId": account,
            "AWS::Region": REGION,
            "AWS::StackName": "dms-prerequisite-roles",
            "AWS::URLSuffix": "amazonaws.com",
            "FunctionLogGroup.Arn": log_group,
        }
        statements: list[dict[str, Any]] = []
        for policy in role.get("Policies", []):
            document = _resolve(policy["PolicyDocument"], names)
            statements.extend(_as_list(document["Statement"]))
        for statement in statements:
            unsupported = {"NotAction", "NotResource", "NotPrincipal"} & set(statement)
            if unsupported:
                raise UnsupportedPolicy(f"{sorted(unsupported)} in {statement}")
        return cls(tuple(statements), log_group)

    def allows(self, request: Request) -> bool:
        allowed = False
        for statement in self.statements:
            if not self._applies(statement, request):
                continue
            if statement["Effect"] == "Deny":
                return False
            allowed = True
        return allowed

    def _applies(self, statement: dict[str, Any], request: Request) -> bool:
        actions = _as_list(statement["Action"])
        if not any(matches(a, request.action, case=False) for a in actions):
            return False
        resources = _as_list(statement.get("Resource", []))
        if not any(matches(r, request.resource, case=True) for r in resources):
            return False
        return _conditions_hold(statement.get("Condition", {}), request.context_dict)

    def grants(self) -> list[tuple[str, str]]:
        """Every (action, resource) an Allow names."""
        return [
            (str(action), str(resource))
            for statement in self.statements
            if statement["Effect"] == "Allow"
            for action in _as_list(statement["Action"])
            for resource in _as_list(statement.get("Resource", []))
        ]

    def condition_values(self) -> list[str]:
        """Every value an Allow's condition accepts (e.g. each iam:PolicyARN)."""
        return [
            str(value)
            for statement in self.statements
            if statement["Effect"] == "Allow"
            for block in statement.get("Condition", {}).values()
            for values in block.values()
            for value in _as_list(values)
        ]


def _conditions_hold(conditions: dict[str, Any], context: dict[str, str]) -> bool:
    for operator, block in conditions.items():
        base = operator.removesuffix("IfExists")
        if base not in _OPERATORS or ":" in operator:
            raise UnsupportedPolicy(f"condition operator {operator}")
        for key, expected in block.items():
            if key.lower() not in KNOWN_KEYS:
                raise UnsupportedPolicy(f"condition key {key}")
            actual = next((v for k, v in context.items() if k.lower() == key.lower()), None)
            if actual is None:
                if operator.endswith("IfExists"):
                    continue
                return False
            if base in ("ArnEquals", "ArnLike", "StringLike"):
                # ARN operators match each component with wildcards, case-sensitively.
                ok = any(matches(str(e), actual, case=True) for e in _as_list(expected))
            else:
                ok = actual in [str(e) for e in _as_list(expected)]
            if not ok:
                return False
    return True


def _resolve(node: Any, names: dict[str, str]) -> Any:
    if isinstance(node, list):
        return [_resolve(item, names) for item in node]
    if not isinstance(node, dict):
        return node
    if set(node) == {"Fn::Sub"}:
        text, extra = (node["Fn::Sub"], {}) if isinstance(node["Fn::Sub"], str) else node["Fn::Sub"]
        known = {**names, **{k: _resolve(v, names) for k, v in extra.items()}}

        def substitute(match: re.Match[str]) -> str:
            if match.group(1) not in known:
                raise UnsupportedPolicy(f"cannot resolve ${{{match.group(1)}}}")
            return str(known[match.group(1)])

        return re.sub(r"\$\{([^}!]+)\}", substitute, text)
    if set(node) == {"Ref"}:
        if node["Ref"] in names:
            return names[node["Ref"]]
        raise UnsupportedPolicy(f"cannot resolve Ref {node['Ref']}")
    if any(key.startswith("Fn::") for key in node):
        raise UnsupportedPolicy(f"cannot resolve {sorted(node)}")
    return {key: _resolve(value, names) for key, value in node.items()}


def _only_this_role_grants(resources: dict[str, Any]) -> None:
    """Fail when permissions could reach the function from anywhere but FunctionRole."""
    for name, resource in resources.items():
        kind = resource.get("Type", "")
        if kind in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::IAM::RolePolicy"):
            raise UnsupportedPolicy(f"{name} ({kind}) may grant the function more")
    function = resources[FUNCTION_RESOURCE]["Properties"]
    if function.get("Policies") or function.get("Role") != {"Fn::GetAtt": [ROLE_RESOURCE, "Arn"]}:
        raise UnsupportedPolicy("the function must use FunctionRole and no SAM policies")
