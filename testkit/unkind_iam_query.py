"""IAM's wire protocol for :mod:`testkit.unkind_iam`: Query requests in, XML replies out.

IAM speaks the AWS Query protocol (IAM API reference, "Making query requests"):
a form-encoded POST whose ``Action`` names the operation, lists flattened as
``Tags.member.N.Key`` / ``TagKeys.member.N``, and answers in XML. Errors are an
``<ErrorResponse>`` whose ``Code`` botocore turns into ``ClientError`` codes; the
HTTP status is the one the service model gives each error (409 for
``ConcurrentModification``, ``EntityTemporarilyUnmodifiable``, ``LimitExceeded``
and ``EntityAlreadyExists``, 404 for ``NoSuchEntity``, 400 for ``InvalidInput``).
"""

from __future__ import annotations

import base64
import binascii
import http.client
import re
import urllib.parse
import uuid
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, replace
from xml.sax.saxutils import escape, unescape

IAM_XMLNS = "https://iam.amazonaws.com/doc/2010-05-08/"
IAM_VERSION = "2010-05-08"
FORM = "application/x-www-form-urlencoded; charset=utf-8"

# Headers that describe one hop, not the message: never copied between connections.
HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "content-length", "server", "date"}
)
# moto_server picks the service from the SigV4 credential scope (".../iam/aws4_request")
# and the account from the access key, and never checks the signature: requests the
# stand-in makes on its own carry the caller's signing headers so moto treats them alike.
_SIGNING_HEADERS = ("authorization", "x-amz-date", "x-amz-security-token")

_REQUEST_ID = re.compile(rb"<RequestId>[^<]*</RequestId>")
_MEMBER_INDEX = re.compile(r"^(?P<list>[A-Za-z]+)\.member\.(?P<n>\d+)(?:\.(?P<field>\w+))?$")
_ROLE_ARN = re.compile(r"<Arn>(?P<prefix>arn:[^:<]*:iam::[^:<]*:role)(?P<tail>/[^<]*)</Arn>")
_PATH = re.compile(r"<Path>([^<]*)</Path>")
_ROLE_ID = re.compile(r"<RoleId>([^<]*)</RoleId>")


def new_request_id() -> str:
    return str(uuid.uuid4())


@dataclass(frozen=True)
class Reply:
    """One HTTP answer, kept as bytes so moto's answers can be replayed exactly."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def with_text(self, text: str) -> Reply:
        return replace(self, body=text.encode("utf-8"))

    def with_request_id(self, request_id: str) -> Reply:
        """A replayed answer gets a fresh id, as every real IAM answer has its own."""
        body = _REQUEST_ID.sub(f"<RequestId>{request_id}</RequestId>".encode(), self.body)
        headers = tuple(
            (name, request_id if name.lower() == "x-amzn-requestid" else value)
            for name, value in self.headers
        )
        return Reply(self.status, headers, body)

    def error_code(self) -> str | None:
        match = re.search(rb"<Code>([^<]*)</Code>", self.body)
        return match.group(1).decode() if match and not self.ok else None


def error_reply(status: int, code: str, message: str) -> Reply:
    """An IAM error document: ``Sender`` for the caller's faults (4xx), ``Receiver`` else."""
    request_id = new_request_id()
    fault = "Sender" if status < 500 else "Receiver"
    body = (
        f'<ErrorResponse xmlns="{IAM_XMLNS}"><Error><Type>{fault}</Type>'
        f"<Code>{escape(code)}</Code><Message>{escape(message)}</Message></Error>"
        f"<RequestId>{request_id}</RequestId></ErrorResponse>"
    )
    headers = (("Content-Type", "text/xml"), ("x-amzn-RequestId", request_id))
    return Reply(status, headers, body.encode("utf-8"))


@dataclass(frozen=True)
class QueryRequest:
    """An incoming HTTP request and, when it is a Query call, its form fields in order."""

    method: str
    path: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    params: tuple[tuple[str, str], ...]

    @classmethod
    def parse(
        cls, method: str, path: str, headers: list[tuple[str, str]], body: bytes
    ) -> QueryRequest:
        params: list[tuple[str, str]] = []
        content_type = next((v for k, v in headers if k.lower() == "content-type"), "")
        if method == "POST" and content_type.startswith("application/x-www-form-urlencoded"):
            params = urllib.parse.parse_qsl(body.decode("utf-8"), keep_blank_values=True)
        kept = tuple((k, v) for k, v in headers if k.lower() not in HOP_BY_HOP)
        return cls(method, path, kept, body, tuple(params))

    @classmethod
    def crafted(cls, like: QueryRequest, action: str, **fields: str) -> QueryRequest:
        """A call of the stand-in's own, signed (for moto's routing) like ``like``."""
        params = [("Action", action), ("Version", IAM_VERSION), *fields.items()]
        return like.with_params(params)

    def with_params(self, params: list[tuple[str, str]]) -> QueryRequest:
        signing = tuple((k, v) for k, v in self.headers if k.lower() in _SIGNING_HEADERS)
        body = urllib.parse.urlencode(params).encode("utf-8")
        return QueryRequest("POST", "/", (("Content-Type", FORM), *signing), body, tuple(params))

    @property
    def action(self) -> str | None:
        return self.get("Action")

    def get(self, name: str) -> str | None:
        return next((v for k, v in self.params if k == name), None)

    def has_any(self, names: frozenset[str]) -> bool:
        return any(k in names for k, _ in self.params)

    def members(self, name: str) -> list[str]:
        """``TagKeys.member.N`` values, in N order."""
        found: dict[int, str] = {}
        for key, value in self.params:
            match = _MEMBER_INDEX.match(key)
            if match and match["list"] == name and match["field"] is None:
                found[int(match["n"])] = value
        return [found[n] for n in sorted(found)]

    def tags(self) -> list[tuple[str, str]]:
        """``Tags.member.N.Key`` / ``.Value`` pairs, in N order (a missing value is "")."""
        keys: dict[int, str] = {}
        values: dict[int, str] = {}
        for key, value in self.params:
            match = _MEMBER_INDEX.match(key)
            if match and match["list"] == "Tags" and match["field"] == "Key":
                keys[int(match["n"])] = value
            elif match and match["list"] == "Tags" and match["field"] == "Value":
                values[int(match["n"])] = value
        return [(keys[n], values.get(n, "")) for n in sorted(keys)]

    def with_members(self, name: str, values: list[str]) -> QueryRequest:
        """The same call with the list ``name`` replaced by ``values``."""
        params = [
            (k, v)
            for k, v in self.params
            if not ((m := _MEMBER_INDEX.match(k)) and m["list"] == name and m["field"] is None)
        ]
        params += [(f"{name}.member.{n}", value) for n, value in enumerate(values, start=1)]
        return replace(self.with_params(params), headers=self.headers, path=self.path)


# -- reading moto's answers ------------------------------------------------------------


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _elements(reply: Reply, name: str) -> list[ElementTree.Element]:
    try:
        # Only moto_server's own answers are parsed here, never outside input.
        root = ElementTree.fromstring(reply.body)  # noqa: S314
    except ElementTree.ParseError:
        return []
    return [element for element in root.iter() if _local(element.tag) == name]


def parse_tags(reply: Reply) -> list[tuple[str, str]]:
    """The ``Key``/``Value`` members of a ListRoleTags answer."""
    pairs = []
    for tags in _elements(reply, "Tags"):
        for member in tags:
            fields = {_local(child.tag): child.text or "" for child in member}
            pairs.append((fields.get("Key", ""), fields.get("Value", "")))
    return pairs


def parse_texts(reply: Reply, name: str) -> list[str]:
    """The text of every element called ``name`` (e.g. ``PolicyArn``, ``RoleName``)."""
    return [element.text or "" for element in _elements(reply, name)]


def is_truncated(reply: Reply) -> str | None:
    """The ``Marker`` of a truncated List answer, else None."""
    truncated = parse_texts(reply, "IsTruncated")
    markers = parse_texts(reply, "Marker")
    return markers[0] if truncated and truncated[0] == "true" and markers else None


# -- rewriting role answers ------------------------------------------------------------


def fix_role_arn_paths(text: str) -> tuple[str, int]:
    """Make every role ``Arn`` carry its role's ``Path``; returns the text and the count fixed.

    IAM builds a role ARN as ``arn:<partition>:iam::<account>:role<path><name>`` (IAM
    user guide, "IAM identifiers", IAM ARNs). In every role record the ``Path`` element
    comes before the ``Arn`` (as in the API reference's ``Role`` shape), so the nearest
    ``<Path>`` before an ``<Arn>`` is its own role's.
    """
    fixed = 0

    def rebuild(match: re.Match[str]) -> str:
        nonlocal fixed
        paths = _PATH.findall(text, 0, match.start())
        if not paths:
            return match.group(0)
        path = unescape(paths[-1])
        name = unescape(match["tail"]).rsplit("/", 1)[-1]
        if unescape(match["tail"]) == f"{path}{name}":
            return match.group(0)
        fixed += 1
        return f"<Arn>{match['prefix']}{escape(path + name)}</Arn>"

    return _ROLE_ARN.sub(rebuild, text), fixed


def arn_as_unique_id(text: str) -> str:
    """A GetRole answer whose ``Arn`` holds the role's unique id (``AROA…``) instead.

    Right after CreateRole, IAM has been seen to answer the unique id in the ARN field
    (hashicorp/terraform-provider-aws issue #22018, "IAM Role ARN Returned as Unique ID").
    """
    role_id = _ROLE_ID.search(text)
    if role_id is None:
        return text
    return _ROLE_ARN.sub(lambda _m: f"<Arn>{role_id.group(1)}</Arn>", text, count=1)


def forward(upstream: tuple[str, int], request: QueryRequest) -> Reply:
    """The request as the upstream server (moto) answers it, byte for byte."""
    connection = http.client.HTTPConnection(*upstream, timeout=60)
    try:
        connection.request(
            request.method, request.path, body=request.body, headers=dict(request.headers)
        )
        answer = connection.getresponse()
        body = answer.read()
        headers = tuple((k, v) for k, v in answer.getheaders() if k.lower() not in HOP_BY_HOP)
        return Reply(answer.status, headers, body)
    finally:
        connection.close()


def page_token(key: str) -> str:
    """An opaque paging token (NextToken, Marker) for the page after ``key``."""
    return base64.urlsafe_b64encode(f"after:{key}".encode()).decode()


def key_after(token: str) -> str | None:
    """The key a :func:`page_token` names, or None when the token is not one of ours."""
    try:
        text = base64.urlsafe_b64decode(token.encode()).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    return text.removeprefix("after:") if text.startswith("after:") else None
