"""The account's audit trail and session logging (infra/components/audit.py, issue 17 items 6-8).

Specified here, per committed stack (staging owns the non-production account's audit, which dev
shares; prod owns its own):
- who builds it: staging and prod, one `platform:audit:Audit` each, with their exports; dev
  none, and no trail, bucket, session log group or preferences document of its own;
- the trail's exact inputs (every region, global events, validation, the stack's key,
  management events read and write) and that it waits for the bucket policy;
- the bucket: its name, Object Lock where `audit.object_lock_days > 0`, protection as the stack's,
  delete-before-replace; its ownership, public access block, versioning, SSE-KMS, lifecycle,
  object lock configuration and policy statements, exactly;
- session logging: the log group, and the `SSM-SessionManagerRunShell` document's content;
- every stack's node role may write the account's session log group and decrypt with the
  owner's key (dev: by the owner's alias), and the KMS key policy lets CloudTrail use the
  owner's key for its trail only;
- the pure names the program derives before anything exists (trail ARN, bucket, log group).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra.components import audit
from infra.components.cluster import session_logs_policy
from infra.components.keys import cloudtrail_statements
from tests.conftest import STACKS, plan

AUDIT = "platform:audit:Audit"
TRAIL = "aws:cloudtrail/trail:Trail"
BUCKET = "aws:s3/bucket:Bucket"
OWNERSHIP = "aws:s3/bucketOwnershipControls:BucketOwnershipControls"
PUBLIC_ACCESS = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
VERSIONING = "aws:s3/bucketVersioning:BucketVersioning"
ENCRYPTION = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
LIFECYCLE = "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"
OBJECT_LOCK = "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration"
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
DOCUMENT = "aws:ssm/document:Document"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
KEY = "aws:kms/key:Key"
AUDIT_TYPES = (TRAIL, BUCKET, OWNERSHIP, PUBLIC_ACCESS, VERSIONING, ENCRYPTION, LIFECYCLE, OBJECT_LOCK, BUCKET_POLICY, DOCUMENT)
# The observability components' buckets (infra/components/_shared.py private_bucket) are of the
# same S3 types, each its own component's child: Logs, Monitoring (Thanos), Traces.
TELEMETRY_COMPONENTS = ("platform:logs:Logs", "platform:monitoring:Monitoring", "platform:traces:Traces")
# ...and so is the data copy's dump bucket (infra/components/data_copy.py), DataCopySource's child.
OTHER_BUCKET_COMPONENTS = (*TELEMETRY_COMPONENTS, "platform:data_copy:DataCopySource")

OWNERS = ("staging", "prod")
ACCOUNT = {"dev": "210987654321", "staging": "210987654321", "prod": "123456789012"}
# The stack that builds each stack's account audit (platform:account.audit_owner).
OWNER_OF = {"dev": "staging", "staging": "staging", "prod": "prod"}
# (trail_retention_days, object_lock_days, session_log_retention_days), from the stack files.
AUDIT_CONFIG = {"staging": (365, 0, 90), "prod": (2557, 365, 365)}
# Pulumi protect / retainOnDelete of the bucket, the trail and the session log group.
PROTECTED = {"staging": (False, False), "prod": (True, True)}


def _bucket_name(stack: str) -> str:
    return f"platform-{stack}-cloudtrail-{ACCOUNT[stack]}-us-east-1"


def _trail_arn(stack: str) -> str:
    return f"arn:aws:cloudtrail:us-east-1:{ACCOUNT[stack]}:trail/platform-{stack}-trail"


def _key_arn(stack: str) -> str:
    return plan(stack).named(KEY, f"::platform-{stack}-key")["outputs"]["arn"]


def _audit_types(stack: str, token: str) -> list[dict[str, Any]]:
    """The plan's resources of an audit type, the observability components' and the data copy's buckets left out."""
    return [s for s in plan(stack).of_type(token) if not set(s["urn"].split("::")[2].split("$")[:-1]) & set(OTHER_BUCKET_COMPONENTS)]


def _named(stack: str, token: str, suffix: str) -> dict[str, Any]:
    return plan(stack).named(token, f"::platform-{stack}-{suffix}")


def _statements(policy: str) -> dict[str, dict[str, Any]]:
    return {s["Sid"]: s for s in json.loads(policy)["Statement"]}


# ---------------------------------------------------------------------- who builds it


def test_the_owners_build_one_audit_each_and_dev_none():
    assert {stack: len(plan(stack).of_type(AUDIT)) for stack in STACKS} == {"dev": 0, "staging": 1, "prod": 1}
    for token in AUDIT_TYPES:
        assert _audit_types("dev", token) == [], token
    assert [s for s in plan("dev").of_type(LOG_GROUP) if "session" in s["urn"]] == []


@pytest.mark.parametrize("stack", STACKS)
def test_exports_only_where_built(stack):
    outputs = plan(stack).outputs
    if stack in OWNERS:
        assert outputs["audit_trail_arn"] == _named(stack, TRAIL, "trail")["outputs"]["arn"]
        assert outputs["audit_bucket"] == _bucket_name(stack)
    else:
        assert "audit_trail_arn" not in outputs and "audit_bucket" not in outputs


@pytest.mark.parametrize("stack", OWNERS)
def test_every_audit_resource_is_a_child_of_the_component(stack):
    component = plan(stack).named(AUDIT, f"::platform-{stack}")["urn"]
    children = [s for token in AUDIT_TYPES for s in _audit_types(stack, token)]
    assert children and all(s["parent"] == component for s in children)
    # ...and none of the observability buckets' resources is.
    others = [s for token in AUDIT_TYPES for s in plan(stack).of_type(token) if s not in children]
    assert others and all(s["parent"] != component for s in others)
    assert _named(stack, LOG_GROUP, "session-logs")["parent"] == component


# ---------------------------------------------------------------------- the trail


@pytest.mark.parametrize("stack", OWNERS)
def test_trail_settings(stack):
    trail = _named(stack, TRAIL, "trail")
    assert trail["inputs"] == {
        "name": f"platform-{stack}-trail",
        "s3BucketName": _bucket_name(stack),
        "isMultiRegionTrail": True,
        "includeGlobalServiceEvents": True,
        "enableLogFileValidation": True,
        "enableLogging": True,
        "kmsKeyId": _key_arn(stack),
        "eventSelectors": [{"readWriteType": "All", "includeManagementEvents": True}],
    }
    assert (trail["protect"], trail["retainOnDelete"]) == PROTECTED[stack]


@pytest.mark.parametrize("stack", OWNERS)
def test_the_trail_waits_for_the_bucket_policy(stack):
    # CreateTrail checks the bucket policy: InsufficientS3BucketPolicyException without it.
    assert _named(stack, BUCKET_POLICY, "trail-bucket-policy")["urn"] in _named(stack, TRAIL, "trail")["dependencies"]


# ---------------------------------------------------------------------- the bucket


@pytest.mark.parametrize("stack", OWNERS)
def test_bucket_name_lock_and_protection(stack):
    bucket = _named(stack, BUCKET, "trail-bucket")
    locked = AUDIT_CONFIG[stack][1] > 0
    assert bucket["inputs"] == {"bucket": _bucket_name(stack), **({"objectLockEnabled": True} if locked else {})}
    assert (bucket["protect"], bucket["retainOnDelete"]) == PROTECTED[stack]
    assert bucket["deleteBeforeReplace"] is True


@pytest.mark.parametrize("stack", OWNERS)
def test_bucket_configuration(stack):
    bucket = _bucket_name(stack)
    assert _named(stack, OWNERSHIP, "trail-bucket-ownership")["inputs"] == {"bucket": bucket, "rule": {"objectOwnership": "BucketOwnerEnforced"}}
    assert _named(stack, PUBLIC_ACCESS, "trail-bucket-public-access")["inputs"] == {
        "bucket": bucket, "blockPublicAcls": True, "blockPublicPolicy": True, "ignorePublicAcls": True, "restrictPublicBuckets": True,
    }
    assert _named(stack, VERSIONING, "trail-bucket-versioning")["inputs"] == {"bucket": bucket, "versioningConfiguration": {"status": "Enabled"}}
    assert _named(stack, ENCRYPTION, "trail-bucket-encryption")["inputs"] == {
        "bucket": bucket,
        "rules": [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": _key_arn(stack)}, "bucketKeyEnabled": True}],
    }


@pytest.mark.parametrize("stack", OWNERS)
def test_lifecycle_expires_every_version_after_the_retention(stack):
    days = AUDIT_CONFIG[stack][0]
    lifecycle = _named(stack, LIFECYCLE, "trail-bucket-lifecycle")
    assert lifecycle["inputs"] == {
        "bucket": _bucket_name(stack),
        "rules": [
            {"id": "expire-log-files", "status": "Enabled", "filter": {}, "expiration": {"days": days}, "noncurrentVersionExpiration": {"noncurrentDays": days}},
            {"id": "remove-expired-delete-markers", "status": "Enabled", "filter": {}, "expiration": {"expiredObjectDeleteMarker": True}},
        ],
    }
    assert _named(stack, VERSIONING, "trail-bucket-versioning")["urn"] in lifecycle["dependencies"]


@pytest.mark.parametrize(("stack", "lock"), [("prod", {"defaultRetention": {"mode": "COMPLIANCE", "days": 365}}), ("staging", None)])
def test_object_lock_per_stack(stack, lock):
    found = plan(stack).of_type(OBJECT_LOCK)
    if lock is None:
        assert found == []
        return
    (config,) = found
    assert config["inputs"] == {"bucket": _bucket_name(stack), "rule": lock}
    assert _named(stack, VERSIONING, "trail-bucket-versioning")["urn"] in config["dependencies"]


@pytest.mark.parametrize("stack", OWNERS)
def test_bucket_policy_statements(stack):
    policy = _named(stack, BUCKET_POLICY, "trail-bucket-policy")
    arn = f"arn:aws:s3:::{_bucket_name(stack)}"
    from_this_trail = {"aws:SourceArn": _trail_arn(stack), "aws:SourceAccount": ACCOUNT[stack]}
    assert policy["inputs"]["bucket"] == _bucket_name(stack)
    assert json.loads(policy["inputs"]["policy"]) == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
                "Resource": [arn, f"{arn}/*"], "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            },
            {
                "Sid": "AWSCloudTrailAclCheck", "Effect": "Allow", "Principal": {"Service": "cloudtrail.amazonaws.com"},
                "Action": "s3:GetBucketAcl", "Resource": arn, "Condition": {"StringEquals": from_this_trail},
            },
            {
                "Sid": "AWSCloudTrailWrite", "Effect": "Allow", "Principal": {"Service": "cloudtrail.amazonaws.com"},
                "Action": "s3:PutObject", "Resource": f"{arn}/AWSLogs/{ACCOUNT[stack]}/*",
                "Condition": {"StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control", **from_this_trail}},
            },
        ],
    }
    # S3 refuses concurrent configuration of one bucket: the policy after ownership and the block.
    for suffix, token in (("trail-bucket-ownership", OWNERSHIP), ("trail-bucket-public-access", PUBLIC_ACCESS)):
        assert _named(stack, token, suffix)["urn"] in policy["dependencies"]


# ---------------------------------------------------------------------- session logging


@pytest.mark.parametrize("stack", OWNERS)
def test_session_log_group(stack):
    group = _named(stack, LOG_GROUP, "session-logs")
    assert group["inputs"] == {"name": f"/platform/{stack}/session-manager", "retentionInDays": AUDIT_CONFIG[stack][2], "kmsKeyId": _key_arn(stack)}
    assert (group["protect"], group["retainOnDelete"]) == PROTECTED[stack]


@pytest.mark.parametrize("stack", OWNERS)
def test_session_preferences_document(stack):
    document = _named(stack, DOCUMENT, "session-preferences")
    inputs = dict(document["inputs"])
    content = json.loads(inputs.pop("content"))
    assert inputs == {"name": "SSM-SessionManagerRunShell", "documentType": "Session", "documentFormat": "JSON"}
    assert content == {
        "schemaVersion": "1.0",
        "description": "Session Manager preferences of the account (platform, infra/components/audit.py)",
        "sessionType": "Standard_Stream",
        "inputs": {
            "s3BucketName": "",
            "s3KeyPrefix": "",
            "s3EncryptionEnabled": True,
            "cloudWatchLogGroupName": f"/platform/{stack}/session-manager",
            "cloudWatchEncryptionEnabled": True,
            "cloudWatchStreamingEnabled": True,
            "kmsKeyId": _key_arn(stack),
            "runAsEnabled": False,
            "runAsDefaultUser": "",
            "idleSessionTimeout": "20",
            "maxSessionDuration": "",
            "shellProfile": {"linux": "", "windows": ""},
        },
    }


def test_the_docstring_says_how_to_adopt_an_existing_preferences_document():
    assert "pulumi import aws:ssm/document:Document platform-<owner>-session-preferences SSM-SessionManagerRunShell" in audit.__doc__
    assert "DocumentAlreadyExists" in audit.__doc__


# ---------------------------------------------------------------------- the nodes' access


@pytest.mark.parametrize("stack", STACKS)
def test_every_stacks_nodes_may_write_the_accounts_session_logs(stack):
    owner, account = OWNER_OF[stack], ACCOUNT[stack]
    group = f"arn:aws:logs:us-east-1:{account}:log-group:/platform/{owner}/session-manager"
    policy = _named(stack, ROLE_POLICY, "node-session-logs")
    assert policy["inputs"]["role"] == _named(stack, "aws:iam/role:Role", "node-role")["outputs"]["name"]
    if owner == stack:
        decrypt = {"Sid": "DecryptSessionData", "Effect": "Allow", "Action": "kms:Decrypt", "Resource": _key_arn(stack)}
    else:  # the owner's key, which this stack cannot name: matched by its alias
        decrypt = {
            "Sid": "DecryptSessionData", "Effect": "Allow", "Action": "kms:Decrypt", "Resource": f"arn:aws:kms:us-east-1:{account}:key/*",
            "Condition": {"ForAnyValue:StringEquals": {"kms:ResourceAliases": f"alias/platform-{owner}"}},
        }
    assert json.loads(policy["inputs"]["policy"]) == {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "WriteSessionLogs", "Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"], "Resource": [group, f"{group}:*"]},
            {"Sid": "CheckSessionLogEncryption", "Effect": "Allow", "Action": "logs:DescribeLogGroups", "Resource": f"arn:aws:logs:us-east-1:{account}:log-group:*"},
            decrypt,
        ],
    }


def test_dev_names_the_log_group_and_key_alias_staging_creates():
    group = plan("staging").named(LOG_GROUP, "::platform-staging-session-logs")["inputs"]["name"]
    alias = plan("staging").named("aws:kms/alias:Alias", "::platform-staging-alias")["inputs"]["name"]
    statements = _statements(_named("dev", ROLE_POLICY, "node-session-logs")["inputs"]["policy"])
    assert statements["WriteSessionLogs"]["Resource"][0].endswith(f":log-group:{group}")
    assert statements["DecryptSessionData"]["Condition"]["ForAnyValue:StringEquals"]["kms:ResourceAliases"] == alias


# ---------------------------------------------------------------------- the key policy


@pytest.mark.parametrize("stack", STACKS)
def test_key_policy_lets_cloudtrail_use_the_owners_key_for_its_trail_only(stack):
    statements = _statements(_named(stack, KEY, "key")["inputs"]["policy"])
    account = ACCOUNT[stack]
    cloudtrail = {sid: s for sid, s in statements.items() if s.get("Principal") == {"Service": "cloudtrail.amazonaws.com"}}
    assert set(statements) - set(cloudtrail) == {"AccountIamPoliciesGovernTheKey", "CloudWatchLogsOfThisAccount", "CloudWatchAlarmsOfThisAccount"}
    if stack not in OWNERS:
        assert cloudtrail == {}
        return
    this_trail = {"StringEquals": {"aws:SourceArn": _trail_arn(stack)}}
    service = {"Service": "cloudtrail.amazonaws.com"}
    assert cloudtrail == {
        "CloudTrailEncryptsThisTrail": {
            "Sid": "CloudTrailEncryptsThisTrail", "Effect": "Allow", "Principal": service, "Action": "kms:GenerateDataKey*", "Resource": "*",
            "Condition": {**this_trail, "StringLike": {"kms:EncryptionContext:aws:cloudtrail:arn": f"arn:aws:cloudtrail:*:{account}:trail/*"}},
        },
        "CloudTrailDescribesTheKey": {"Sid": "CloudTrailDescribesTheKey", "Effect": "Allow", "Principal": service, "Action": "kms:DescribeKey", "Resource": "*", "Condition": this_trail},
        "CloudTrailDecryptsForTheBucketKey": {"Sid": "CloudTrailDecryptsForTheBucketKey", "Effect": "Allow", "Principal": service, "Action": "kms:Decrypt", "Resource": "*", "Condition": this_trail},
    }
    # The session log group is CloudWatch Logs', covered by the statement every key has.
    assert statements["CloudWatchLogsOfThisAccount"]["Condition"] == {"ArnLike": {"kms:EncryptionContext:aws:logs:arn": f"arn:aws:logs:us-east-1:{account}:*"}}


def test_no_statement_of_the_key_policy_opens_it_to_everyone():
    for stack in STACKS:
        for statement in _statements(_named(stack, KEY, "key")["inputs"]["policy"]).values():
            assert statement["Principal"] not in ("*", {"AWS": "*"})


# ---------------------------------------------------------------------- the derived names


@pytest.mark.parametrize(
    ("stack", "owner", "group", "alias"),
    [("dev", "platform-staging", "/platform/staging/session-manager", "alias/platform-staging"),
     ("staging", "platform-staging", "/platform/staging/session-manager", "alias/platform-staging"),
     ("prod", "platform-prod", "/platform/prod/session-manager", "alias/platform-prod")],
)
def test_names_derive_from_the_owner(stack, owner, group, alias):
    from infra.config import parse
    from tests.conftest import stack_config

    raw = {k.removeprefix("platform:"): v for k, v in stack_config(stack).items() if k.startswith("platform:")}
    cfg = parse(raw, stack=stack, aws={"region": "us-east-1"})
    assert (audit.owner_name(cfg), audit.session_log_group_name(cfg), audit.session_key_alias(cfg)) == (owner, group, alias)
    assert audit.session_log_group_arn(cfg) == f"arn:aws:logs:us-east-1:{ACCOUNT[stack]}:log-group:{group}"
    assert cfg.owns_audit is (stack in OWNERS)


def test_pure_helpers():
    assert audit.trail_arn("platform-prod", "us-east-1", "123456789012") == "arn:aws:cloudtrail:us-east-1:123456789012:trail/platform-prod-trail"
    assert audit.bucket_name("platform-prod", "us-east-1", "123456789012") == "platform-prod-cloudtrail-123456789012-us-east-1"
    assert len(audit.bucket_name("platform-staging", "ap-southeast-2", "123456789012")) <= 63  # S3's limit
    statements = cloudtrail_statements("arn:aws:cloudtrail:eu-west-1:111122223333:trail/t")
    assert statements[0]["Condition"]["StringLike"] == {"kms:EncryptionContext:aws:cloudtrail:arn": "arn:aws:cloudtrail:*:111122223333:trail/*"}
    policy = session_logs_policy("arn:aws:logs:eu-west-1:111122223333:log-group:/g", "arn:aws:kms:eu-west-1:111122223333:key/k", None)
    assert policy["Statement"][1]["Resource"] == "arn:aws:logs:eu-west-1:111122223333:log-group:*"
    assert policy["Statement"][2] == {"Sid": "DecryptSessionData", "Effect": "Allow", "Action": "kms:Decrypt", "Resource": "arn:aws:kms:eu-west-1:111122223333:key/k"}


# ---------------------------------------------------------------------- replacement


def test_turning_object_lock_on_later_is_in_place_and_off_replaces():
    """force_new.json (terraform-provider-aws v6.63.0): enabling Object Lock on the bucket is an
    update; only true -> false replaces it, and a protected bucket refuses that."""
    from policy.constraints import FORCE_NEW

    bucket = FORCE_NEW[BUCKET]
    assert "objectLockEnabled" not in bucket["force_new"]
    assert "true to false forces replacement" in bucket["conditional"]["objectLockEnabled"]
    assert FORCE_NEW[DOCUMENT]["force_new"] == ["name"]
    assert FORCE_NEW[TRAIL]["force_new"] == ["name"]


@pytest.mark.parametrize("stack", OWNERS)
def test_retention_changes_replace_nothing(stack):
    """A longer retention or a longer lock changes configuration resources in place: the bucket,
    the trail and the log group keep every ForceNew input."""
    trail_days, lock_days, session_days = AUDIT_CONFIG[stack]
    changed = plan(stack, **{"platform:audit": {"trail_retention_days": trail_days + 365, "object_lock_days": lock_days, "session_log_retention_days": 731}})
    for token, suffix, paths in ((BUCKET, "trail-bucket", ("bucket", "objectLockEnabled")), (TRAIL, "trail", ("name",)), (LOG_GROUP, "session-logs", ("name",))):
        before, after = _named(stack, token, suffix)["inputs"], changed.named(token, f"::platform-{stack}-{suffix}")["inputs"]
        assert {p: after.get(p) for p in paths} == {p: before.get(p) for p in paths}
    assert changed.named(LOG_GROUP, f"::platform-{stack}-session-logs")["inputs"]["retentionInDays"] == 731
