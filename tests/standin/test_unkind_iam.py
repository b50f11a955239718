"""``testkit.unkind_iam.UnkindIam`` makes moto_server's IAM at least as unkind as the real one.

Every test drives boto3 through the proxy and, where moto alone behaves
otherwise, shows that too with a client of moto itself: a behaviour the stand-in
adds must be visible as a difference, or the test could not fail. Roles get
fresh names, so tests share one moto_server without emptying it (emptying
reloads the AWS managed policies, about a second each time).
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from testkit import ACCOUNT
from testkit.local_aws import MotoServer
from testkit.unkind_iam import CONFLICT_CODES, UnkindIam, UnkindSettings
from testkit.unkind_iam_query import fix_role_arn_paths
from tests.standin import probe

TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "dms.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
)
VPC_POLICY = "arn:aws:iam::aws:policy/service-role/AmazonDMSVPCManagementRole"
LOGS_POLICY = "arn:aws:iam::aws:policy/service-role/AmazonDMSCloudWatchLogsRole"
REDSHIFT_POLICY = "arn:aws:iam::aws:policy/service-role/AmazonDMSRedshiftS3Role"
#: Every test starts from this: faithful rules on, nothing slow or random.
CALM = UnkindSettings(max_lag=0.0, arn_lag=0.0, write_latency=0.0, conflict_rate=0.0)
LAG = 0.4  # long enough to read inside, short enough to wait out


def client(url: str, attempts: int = 1) -> Any:
    """An IAM client; one attempt by default, so what the endpoint answers is what we see."""
    return probe.client("iam", url, retries={"mode": "standard", "max_attempts": attempts})


def tags_of(iam: Any, role: str) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in iam.list_role_tags(RoleName=role)["Tags"]}


@pytest.fixture(scope="module")
def standin(moto_server: MotoServer) -> Iterator[UnkindIam]:
    with UnkindIam(moto_server) as proxy:
        # The first IAM call loads moto's managed policies (about a second): pay it once.
        client(proxy.url).get_policy(PolicyArn=VPC_POLICY)
        yield proxy


@pytest.fixture
def proxy(standin: UnkindIam) -> UnkindIam:
    standin.reset(moto=False)
    standin.configure(CALM)
    return standin


@pytest.fixture
def iam(proxy: UnkindIam) -> Any:
    """boto3 through the stand-in."""
    return client(proxy.url)


@pytest.fixture
def moto(moto_server: MotoServer) -> Any:
    """boto3 straight to moto: what is committed, and what moto alone would do."""
    return client(moto_server.url)


# -- 1. every call reaches moto, one at a time ------------------------------------------------


def test_calls_pass_through_and_are_counted(proxy: UnkindIam, iam: Any, moto: Any) -> None:
    role = probe.fresh("plain")
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=TRUST)
    iam.attach_role_policy(RoleName=role, PolicyArn=VPC_POLICY)
    # Calls that concern no role pass through as well.
    assert iam.get_policy(PolicyArn=VPC_POLICY)["Policy"]["Arn"] == VPC_POLICY

    assert moto.get_role(RoleName=role)["Role"]["RoleName"] == role
    attached = moto.list_attached_role_policies(RoleName=role)["AttachedPolicies"]
    assert [p["PolicyArn"] for p in attached] == [VPC_POLICY]
    stats = proxy.stats()
    assert stats["calls"] == {"CreateRole": 1, "AttachRolePolicy": 1, "GetPolicy": 1}
    assert (stats["writes"], stats["writes_committed"], stats["reads"]) == (2, 2, 1)
    assert proxy.forwarded == stats["requests"] == 3


def test_concurrent_writes_to_one_role_are_never_lost(proxy: UnkindIam, moto: Any) -> None:
    """moto_server alone can lose one of two TagRole calls at once; through the proxy each
    write either commits whole or is refused with a 409 that the writer retries."""
    role = probe.fresh("crowd")
    moto.create_role(RoleName=role, AssumeRolePolicyDocument=TRUST)
    keys = [f"writer-{n}" for n in range(12)]
    errors: list[BaseException] = []
    start = threading.Barrier(len(keys))

    def write(key: str) -> None:
        iam = client(proxy.url)
        start.wait()
        for _ in range(200):
            try:
                iam.tag_role(RoleName=role, Tags=[{"Key": key, "Value": "v"}])
                return
            except ClientError as error:
                if error.response["Error"]["Code"] != "ConcurrentModification":
                    errors.append(error)
                    return
                time.sleep(0.005)
        errors.append(AssertionError(f"{key} never got through"))

    threads = [threading.Thread(target=write, args=(key,)) for key in keys]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert sorted(tags_of(moto, role)) == sorted(keys)


def test_no_read_sees_a_write_half_done(proxy: UnkindIam, moto: Any) -> None:
    """A TagRole that respells a key is two moto calls (tag, then untag the old spelling);
    under the proxy's lock no read can fall between them, as no IAM read sees half a call."""
    role = probe.fresh("halfway")
    moto.create_role(RoleName=role, AssumeRolePolicyDocument=TRUST)
    moto.tag_role(RoleName=role, Tags=[{"Key": "Owner", "Value": "v"}])
    done = threading.Event()
    seen: list[dict[str, str]] = []

    def respell() -> None:
        iam = client(proxy.url)
        for n in range(40):
            iam.tag_role(RoleName=role, Tags=[{"Key": "owner" if n % 2 else "OWNER", "Value": "v"}])
        done.set()

    def read() -> None:
        iam = client(proxy.url)
        while not done.is_set():
            seen.append(tags_of(iam, role))

    threads = [threading.Thread(target=respell), *(threading.Thread(target=read) for _ in range(3))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(seen) > 20
    assert [tags for tags in seen if len(tags) != 1] == []
    assert proxy.stats()["tag_case_merges"] == 40


# -- 2. lagging reads --------------------------------------------------------------------------


def test_a_read_right_after_tag_role_misses_the_tag_until_the_lag_passes(
    proxy: UnkindIam, iam: Any, moto: Any
) -> None:
    role = probe.fresh("lagged")
    moto.create_role(RoleName=role, AssumeRolePolicyDocument=TRUST)
    proxy.configure(max_lag=LAG, min_lag=LAG)

    iam.tag_role(RoleName=role, Tags=[{"Key": "Claim", "Value": "stack-1"}])
    written = time.monotonic()
    seen_by_get = {t["Key"] for t in iam.get_role(RoleName=role)["Role"].get("Tags", [])}
    seen_by_list = tags_of(iam, role)
    assert time.monotonic() - written < LAG, "the reads above came too late to prove anything"
    assert "Claim" not in seen_by_get
    assert "Claim" not in seen_by_list
    assert tags_of(moto, role) == {"Claim": "stack-1"}, "the write itself was committed at once"

    time.sleep(LAG + 0.05)
    assert {t["Key"] for t in iam.get_role(RoleName=role)["Role"]["Tags"]} == {"Claim"}
    assert tags_of(iam, role) == {"Claim": "stack-1"}
    stats = proxy.stats()
    assert stats["stale_reads"] == 2
    assert stats["stale_reads_by_action"] == {"GetRole": 1, "ListRoleTags": 1}
    assert stats["max_lag_drawn_seconds"] == pytest.approx(LAG)


def test_a_role_created_a_moment_ago_is_not_found_by_a_lagged_read(
    proxy: UnkindIam, iam: Any, moto: Any
) -> None:
    role = probe.fresh("newborn")
    proxy.configure(max_lag=LAG, min_lag=LAG)

    iam.create_role(RoleName=role, AssumeRolePolicyDocument=TRUST)
    code, status, _ = probe.refusal(lambda: iam.get_role(RoleName=role))
    assert (code, status) == ("NoSuchEntity", 404)
    assert moto.get_role(RoleName=role)["Role"]["RoleName"] == role

    time.sleep(LAG + 0.05)
    assert iam.get_role(RoleName=role)["Role"]["RoleName"] == role
    assert proxy.stats()["reads_missing_existing_role"] == 1


def test_attachments_and_deletion_lag_but_delete_conflict_sees_committed_writes(
    proxy: UnkindIam, iam: Any, moto: Any
) -> None:
    role = probe.fresh("attach")
    moto.create_role(RoleName=role, AssumeRolePolicyDocument=TRUST)
    proxy.configure(max_lag=LAG, min_lag=LAG)

    iam.attach_role_policy(RoleName=role, PolicyArn=VPC_POLICY)
    assert iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"] == []
    # DeleteRole is decided on what is committed, not on what a read shows.
    code, status, _ = probe.refusal(lambda: iam.delete_role(RoleName=role))
    assert (code, status) == ("DeleteConflict", 409)

    iam.detach_role_policy(RoleName=role, PolicyArn=VPC_POLICY)
    iam.delete_role(RoleName=role)
    assert iam.get_role(RoleName=role)["Role"]["RoleName"] == role, "deleted, but read lags"
    assert probe.refusal(lambda: moto.get_role(RoleName=role))[0] == "NoSuchEntity"

    time.sleep(LAG + 0.05)
    assert probe.refusal(lambda: iam.get_role(RoleName=role))[0] == "NoSuchEntity"


def test_lags_are_drawn_per_call_and_never_exceed_max_lag(
    proxy: UnkindIam, iam: Any, moto: Any
) -> None:
    role = probe.fresh("drawn")
    moto.create_role(RoleName=role, AssumeRolePolicyDocument=TRUST)
    proxy.configure(max_lag=LAG, min_lag=0.0, seed=3)

    iam.tag_role(RoleName=role, Tags=[{"Key": "Claim", "Value": "x"}])
    written = time.monotonic()
    outcomes = []
    while time.monotonic() - written < LAG - 0.05:
        outcomes.append("Claim" in tags_of(iam, role))
    assert False in outcomes and True in outcomes, "a lag drawn per call: some miss, some see"

    time.sleep(max(0.0, written + LAG + 0.02 - time.monotonic()))
    assert all("Claim" in tags_of(iam, role) for _ in range(10)), "nothing older than max_lag"


def test_roles_without_recent_writes_through_the_proxy_are_read_live(
    proxy: UnkindIam, iam: Any, moto: Any
) -> None:
    role = probe.fresh("console")
    proxy.configure(max_lag=3.0, min_lag=3.0)
    moto.create_role(RoleName=role, AssumeRolePolicyDocument=TRUST)
    moto.tag_role(RoleName=role, Tags=[{"Key": "Made", "Value": "by-hand"}])

    assert tags_of(iam, role) == {"Made": "by-hand"}
    assert proxy.stats()["lagged_reads"] == 0


def test_max_lag_zero_reads_every_write_at_once(proxy: UnkindIam, iam: Any) -> None:
    role = probe.fresh("nolag")
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=TRUST)
    iam.tag_role(RoleName=role, Tags=[{"Key": "Claim", "Value": "x"}])
    assert tags_of(iam, role) == {"Claim": "x"}


def test_list_roles_lags_too(proxy: UnkindIam, iam: Any) -> None:
    role = probe.fresh("listed")
    proxy.configure(max_lag=LAG, min_lag=LAG)

    iam.create_role(RoleName=role, AssumeRolePolicyDocument=TRUST)
    assert role not in [r["RoleName"] for r in iam.list_roles()["Roles"]]
    time.sleep(LAG + 0.05)
    assert role in [r["RoleName"] for r in iam.list_roles()["Roles"]]


# -- 3. 409s -----------------------------------------------------------------------------------


def test_overlapping_writes_to_one_role_get_concurrent_modification(
    proxy: UnkindIam, moto: Any
) -> None:
    role, other = probe.fresh("busy"), probe.fresh("idle")
    for name in (role, other):
        moto.create_role(RoleName=name, AssumeRolePolicyDocument=TRUST)
    proxy.configure(write_latency=0.3)
    outcomes: dict[str, str] = {}
    start = threading.Barrier(3)

    def tag(name: str, key: str) -> None:
        iam = client(proxy.url)
        start.wait()
        try:
            iam.tag_role(RoleName=name, Tags=[{"Key": key, "Value": "v"}])
            outcomes[key] = "ok"
        except ClientError as error:
            meta = error.response
            outcomes[key] = f"{meta['Error']['Code']} {meta['ResponseMetadata']['HTTPStatusCode']}"

    jobs = [(role, "first"), (role, "second"), (other, "elsewhere")]
    threads = [threading.Thread(target=tag, args=job) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted([outcomes["first"], outcomes["second"]]) == ["ConcurrentModification 409", "ok"]
    assert outcomes["elsewhere"] == "ok", "writes to different roles do not collide"
    winner = "first" if outcomes["first"] == "ok" else "second"
    assert set(tags_of(moto, role)) == {winner}, "the refused write committed nothing"
    assert proxy.stats()["conflicts"] == {"overlap": 1}


def test_conflict_rate_one_refuses_every_write_and_commits_nothing(
    proxy: UnkindIam, iam: Any, moto: Any
) -> None:
    created, tagged = probe.fresh("never"), probe.fresh("untouched")
    moto.create_role(RoleName=tagged, AssumeRolePolicyDocument=TRUST)
    proxy.configure(conflict_rate=1.0)

    code, status, _ = probe.refusal(
        lambda: iam.create_role(RoleName=created, AssumeRolePolicyDocument=TRUST)
    )
    assert code in CONFLICT_CODES and status == 409
    code, status, _ = probe.refusal(
        lambda: iam.tag_role(RoleName=tagged, Tags=[{"Key": "Claim", "Value": "x"}])
    )
    assert code in CONFLICT_CODES and status == 409

    assert probe.refusal(lambda: moto.get_role(RoleName=created))[0] == "NoSuchEntity"
    assert tags_of(moto, tagged) == {}
    assert proxy.stats()["conflicts"] == {"injected": 2}


def test_botocore_standard_retries_do_not_retry_conflicts(proxy: UnkindIam, moto: Any) -> None:
    role = probe.fresh("noretry")
    moto.create_role(RoleName=role, AssumeRolePolicyDocument=TRUST)
    proxy.configure(conflict_rate=1.0, conflict_codes=("EntityTemporarilyUnmodifiable",))
    patient = client(proxy.url, attempts=5)

    code, status, _ = probe.refusal(
        lambda: patient.tag_role(RoleName=role, Tags=[{"Key": "Claim", "Value": "x"}])
    )
    assert (code, status) == ("EntityTemporarilyUnmodifiable", 409)
    assert proxy.stats()["calls"] == {"TagRole": 1}, "the function under test must retry 409s"


def test_injected_conflicts_follow_the_seed(proxy: UnkindIam, moto: Any) -> None:
    role = probe.fresh("seeded")
    moto.create_role(RoleName=role, AssumeRolePolicyDocument=TRUST)
    iam = client(proxy.url)

    def run() -> list[str]:
        outcomes = []
        for n in range(16):
            try:
                iam.tag_role(RoleName=role, Tags=[{"Key": f"k{n}", "Value": "v"}])
                outcomes.append("ok")
            except ClientError as error:
                outcomes.append(error.response["Error"]["Code"])
        return outcomes

    proxy.configure(conflict_rate=0.5, seed=11)
    first = run()
    proxy.configure(seed=11)
    assert run() == first
    assert "ok" in first and set(first) - {"ok"} <= set(CONFLICT_CODES) and len(set(first)) > 1


# -- 4. tags as IAM treats them ---------------------------------------------------------------


def test_tag_keys_equal_ignoring_case_are_one_tag_with_the_newer_spelling(
    proxy: UnkindIam, iam: Any, moto: Any
) -> None:
    role, alone = probe.fresh("case"), probe.fresh("case-moto")
    iam.create_role(
        RoleName=role, AssumeRolePolicyDocument=TRUST, Tags=[{"Key": "Owner", "Value": "a"}]
    )
    iam.tag_role(RoleName=role, Tags=[{"Key": "owner", "Value": "b"}])
    assert tags_of(iam, role) == {"owner": "b"}
    assert tags_of(moto, role) == {"owner": "b"}

    # moto by itself keeps both spellings.
    moto.create_role(
        RoleName=alone, AssumeRolePolicyDocument=TRUST, Tags=[{"Key": "Owner", "Value": "a"}]
    )
    moto.tag_role(RoleName=alone, Tags=[{"Key": "owner", "Value": "b"}])
    assert tags_of(moto, alone) == {"Owner": "a", "owner": "b"}

    iam.untag_role(RoleName=role, TagKeys=["OWNER"])
    assert tags_of(moto, role) == {}
    stats = proxy.stats()
    assert (stats["tag_case_merges"], stats["untag_case_matches"]) == (1, 1)


def test_keys_equal_ignoring_case_in_one_request_are_refused(
    proxy: UnkindIam, iam: Any, moto: Any
) -> None:
    role = probe.fresh("twins")
    moto.create_role(RoleName=role, AssumeRolePolicyDocument=TRUST)
    code, status, message = probe.refusal(
        lambda: iam.tag_role(
            RoleName=role, Tags=[{"Key": "Team", "Value": "a"}, {"Key": "team", "Value": "b"}]
        )
    )
    assert (code, status) == ("InvalidInput", 400)
    assert "case insensitive" in message
    assert tags_of(moto, role) == {}


@pytest.mark.parametrize(
    ("key", "value"), [("aws:owner", "x"), ("AWS:Owner", "x"), ("Owner", "Aws:x")]
)
def test_the_aws_prefix_is_refused_in_keys_and_values(
    proxy: UnkindIam, iam: Any, moto: Any, key: str, value: str
) -> None:
    role, created = probe.fresh("reserved"), probe.fresh("reserved-new")
    moto.create_role(RoleName=role, AssumeRolePolicyDocument=TRUST)
    tag = [{"Key": key, "Value": value}]

    assert probe.refusal(lambda: iam.tag_role(RoleName=role, Tags=tag))[:2] == ("InvalidInput", 400)
    assert probe.refusal(
        lambda: iam.create_role(RoleName=created, AssumeRolePolicyDocument=TRUST, Tags=tag)
    )[:2] == ("InvalidInput", 400)
    assert tags_of(moto, role) == {}
    assert probe.refusal(lambda: moto.get_role(RoleName=created))[0] == "NoSuchEntity"

    moto.tag_role(RoleName=role, Tags=tag)  # moto alone takes it
    assert tags_of(moto, role) == {key: value}
    if key.lower().startswith("aws:"):  # and a reserved key, once there, cannot be removed
        assert probe.refusal(lambda: iam.untag_role(RoleName=role, TagKeys=[key]))[:2] == (
            "InvalidInput",
            400,
        )
        assert tags_of(moto, role) == {key: value}


def test_a_role_holds_fifty_tags_across_all_calls(proxy: UnkindIam, iam: Any, moto: Any) -> None:
    role, alone = probe.fresh("full"), probe.fresh("full-moto")
    first = [{"Key": f"k{n:02}", "Value": "v"} for n in range(30)]
    rest = [{"Key": f"k{n:02}", "Value": "v"} for n in range(30, 50)]
    extra = [{"Key": "one-more", "Value": "v"}]
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=TRUST, Tags=first)
    iam.tag_role(RoleName=role, Tags=rest)

    code, status, message = probe.refusal(lambda: iam.tag_role(RoleName=role, Tags=extra))
    assert (code, status) == ("LimitExceeded", 409)
    assert "Tags" in message
    assert len(tags_of(moto, role)) == 50
    # Replacing a tag (in another spelling) adds none, so a full role still takes it.
    iam.tag_role(RoleName=role, Tags=[{"Key": "K00", "Value": "new"}])
    assert len(tags_of(moto, role)) == 50 and tags_of(moto, role)["K00"] == "new"

    # moto alone counts only the tags of one request.
    moto.create_role(RoleName=alone, AssumeRolePolicyDocument=TRUST, Tags=first)
    moto.tag_role(RoleName=alone, Tags=rest)
    moto.tag_role(RoleName=alone, Tags=extra)
    assert len(tags_of(moto, alone)) == 51


# -- 5.-7. ARNs, boundaries, paths, names, quotas ----------------------------------------------


def test_get_role_answers_the_unique_id_as_arn_right_after_create_role(
    proxy: UnkindIam, iam: Any
) -> None:
    role = probe.fresh("arnlag")
    proxy.configure(arn_lag=LAG)

    created = iam.create_role(RoleName=role, AssumeRolePolicyDocument=TRUST)["Role"]
    early = iam.get_role(RoleName=role)["Role"]
    assert early["Arn"] == created["RoleId"] and early["Arn"].startswith("AROA")

    time.sleep(LAG + 0.05)
    assert iam.get_role(RoleName=role)["Role"]["Arn"] == f"arn:aws:iam::{ACCOUNT}:role/{role}"
    assert proxy.stats()["arn_as_unique_id"] == 1


def test_a_boundary_naming_a_missing_policy_is_no_such_entity_about_the_policy(
    proxy: UnkindIam, iam: Any, moto: Any
) -> None:
    missing = f"arn:aws:iam::{ACCOUNT}:policy/{probe.fresh('no-such-boundary')}"
    role, existing, alone = (
        probe.fresh("bounded"),
        probe.fresh("rebounded"),
        probe.fresh("bounded-moto"),
    )

    code, status, message = probe.refusal(
        lambda: iam.create_role(
            RoleName=role, AssumeRolePolicyDocument=TRUST, PermissionsBoundary=missing
        )
    )
    assert (code, status) == ("NoSuchEntity", 404) and missing in message
    assert probe.refusal(lambda: moto.get_role(RoleName=role))[0] == "NoSuchEntity"

    iam.create_role(RoleName=existing, AssumeRolePolicyDocument=TRUST)
    code, status, message = probe.refusal(
        lambda: iam.put_role_permissions_boundary(RoleName=existing, PermissionsBoundary=missing)
    )
    assert (code, status) == ("NoSuchEntity", 404) and missing in message
    iam.put_role_permissions_boundary(RoleName=existing, PermissionsBoundary=VPC_POLICY)
    boundary = moto.get_role(RoleName=existing)["Role"]["PermissionsBoundary"]
    assert boundary["PermissionsBoundaryArn"] == VPC_POLICY

    # moto alone accepts the missing policy.
    moto.create_role(RoleName=alone, AssumeRolePolicyDocument=TRUST, PermissionsBoundary=missing)


def test_role_arns_include_the_path(proxy: UnkindIam, iam: Any) -> None:
    role = probe.fresh("pathed")
    expected = f"arn:aws:iam::{ACCOUNT}:role/service-role/{role}"

    created = iam.create_role(RoleName=role, Path="/service-role/", AssumeRolePolicyDocument=TRUST)
    assert created["Role"]["Arn"] == expected
    assert iam.get_role(RoleName=role)["Role"]["Arn"] == expected
    listed = [r["Arn"] for r in iam.list_roles(PathPrefix="/service-role/")["Roles"]]
    assert expected in listed


def test_an_arn_without_its_path_is_rebuilt() -> None:
    """moto 5.2 already puts the path in role ARNs; the fix-up guards other versions."""
    broken = (
        "<Role><Path>/service-role/</Path><RoleName>r</RoleName><RoleId>AROAX</RoleId>"
        "<Arn>arn:aws:iam::123456789012:role/r</Arn></Role>"
        "<Role><Path>/</Path><RoleName>s</RoleName><Arn>arn:aws:iam::123456789012:role/s</Arn>"
    )
    text, fixed = fix_role_arn_paths(broken)
    assert fixed == 1
    assert "<Arn>arn:aws:iam::123456789012:role/service-role/r</Arn>" in text
    assert "<Arn>arn:aws:iam::123456789012:role/s</Arn>" in text


def test_role_names_differing_only_by_case_are_one_name(
    proxy: UnkindIam, iam: Any, moto: Any
) -> None:
    role = probe.fresh("Case-Role")
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=TRUST)
    code, status, _ = probe.refusal(
        lambda: iam.create_role(RoleName=role.lower(), AssumeRolePolicyDocument=TRUST)
    )
    assert (code, status) == ("EntityAlreadyExists", 409)
    moto.create_role(RoleName=role.upper(), AssumeRolePolicyDocument=TRUST)  # moto alone: fine


def test_managed_policies_per_role_are_capped(proxy: UnkindIam, iam: Any, moto: Any) -> None:
    role = probe.fresh("quota")
    moto.create_role(RoleName=role, AssumeRolePolicyDocument=TRUST)
    proxy.configure(policies_per_role=2)
    iam.attach_role_policy(RoleName=role, PolicyArn=VPC_POLICY)
    iam.attach_role_policy(RoleName=role, PolicyArn=LOGS_POLICY)

    code, status, message = probe.refusal(
        lambda: iam.attach_role_policy(RoleName=role, PolicyArn=REDSHIFT_POLICY)
    )
    assert (code, status) == ("LimitExceeded", 409) and "PoliciesPerRole" in message
    iam.attach_role_policy(RoleName=role, PolicyArn=VPC_POLICY)  # a repeat adds nothing
    attached = moto.list_attached_role_policies(RoleName=role)["AttachedPolicies"]
    assert sorted(p["PolicyArn"] for p in attached) == sorted([VPC_POLICY, LOGS_POLICY])


# -- 8. the harness around it -----------------------------------------------------------------


def test_a_worker_process_reaches_it_through_env(proxy: UnkindIam, moto: Any) -> None:
    role = probe.fresh("worker")
    proxy.configure(tag_rules=True)
    script = (
        "import boto3, sys; boto3.client('iam').create_role(RoleName=sys.argv[1], "
        "AssumeRolePolicyDocument='{}', Tags=[{'Key': 'aws:no', 'Value': 'x'}])"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, role],
        env={"PATH": "/usr/bin:/bin", **proxy.env()},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0 and "InvalidInput" in done.stderr, "its calls met the proxy"
    assert proxy.stats()["calls"] == {"CreateRole": 1}
    assert probe.refusal(lambda: moto.get_role(RoleName=role))[0] == "NoSuchEntity"


def test_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="min_lag"):
        UnkindSettings(max_lag=1.0, min_lag=2.0)
    with pytest.raises(ValueError, match="conflict_rate"):
        UnkindSettings(conflict_rate=1.5)
    with pytest.raises(ValueError, match="conflict_codes"):
        UnkindSettings(conflict_codes=("Throttling",))


def test_configure_rejects_unknown_settings(proxy: UnkindIam) -> None:
    with pytest.raises(TypeError):
        proxy.configure(lag=1.0)
    assert proxy.settings == CALM


def test_reset_empties_moto_and_the_counts(proxy: UnkindIam, iam: Any, moto: Any) -> None:
    role = probe.fresh("forgotten")
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=TRUST)
    assert proxy.stats()["calls"] == {"CreateRole": 1}

    proxy.reset()
    assert proxy.stats()["calls"] == {}
    assert probe.refusal(lambda: moto.get_role(RoleName=role))[0] == "NoSuchEntity"
