"""Policy as code: the rules (policy/rules.py), `python -m infra check` and the CrossGuard pack.

- a passing and a failing case for every rule, and the tier-dependent behaviour;
- the enforcement level of every rule in every tier;
- the program's own plans (`plan(stack).data`): prod passes every rule, dev and staging get
  exactly their advisories; doctored copies of the prod plan fail with exactly the expected
  rule ids;
- the shapes a real `pulumi preview --json` produces: absent options, unknown values,
  JSON-encoded provider inputs, `aws:eks/cluster:Cluster`;
- `infra.review.check.run` end to end;
- the pack: it is built without serving, and the analyzer CrossGuard would serve reports what
  the rules find, at the level the stack's tier gives them.
"""

from __future__ import annotations

import copy
import io
import json
import runpy
import sys
from argparse import Namespace
from pathlib import Path
from typing import Any

import pulumi.runtime
import pulumi_policy
import pytest
import yaml
from google.protobuf import struct_pb2
from pulumi.runtime import proto
from pulumi_policy import EnforcementLevel, ResourceValidationPolicy, StackValidationPolicy
from pulumi_policy.policy import _PolicyAnalyzerServicer

import policy.__main__ as pack
from infra.review import check
from policy import rules
from policy.rules import (
    AWS_PROVIDER,
    CACHE_GROUP,
    DEFAULT_SG,
    EKS_CLUSTER,
    EKS_CLUSTER_COMPONENT,
    EKS_NODE_GROUP_COMPONENT,
    FLOW_LOG,
    KMS_KEY,
    LAUNCH_TEMPLATE,
    LOG_GROUP,
    RDS_INSTANCE,
    RDS_PARAMETER_GROUP,
    SECURITY_GROUP,
    SG_INGRESS_RULE,
    S3_BUCKETS,
    SM_SECRET,
    SNS_TOPIC,
    SUBNET,
    UNKNOWN,
    VPC,
    Resource,
)
from tests.conftest import plan as plan_of

ROOT = Path(__file__).resolve().parents[1]
S3_BUCKET = S3_BUCKETS[0]
KEY_ARN = "arn:aws:kms:us-east-1:123456789012:key/0d1e2f3a"


def res(type_: str, name: str = "x", *, protect: bool = False, retain: bool | None = False, provider: dict | None = None, **inputs: Any) -> Resource:
    return Resource(type=type_, urn=f"urn:pulumi:t::platform::{type_}::{name}", inputs=inputs, protect=protect, retain_on_delete=retain, provider_inputs=provider)


def ids(violations: list[rules.Violation]) -> set[str]:
    return {v.rule for v in violations}


# ---------------------------------------------------------------------------- every rule: pass and fail

VPC_A = res(VPC, "vpc-a", cidrBlock="10.30.0.0/16")
ENDPOINT_OK = {"version": "1.33", "endpointPrivateAccess": True, "endpointPublicAccess": True, "publicAccessCidrs": ["203.0.113.0/24"]}
CACHE_OK = {"numCacheClusters": 2, "automaticFailoverEnabled": True, "multiAzEnabled": True}
TAGS = {"Project": "platform", "Environment": "prod", "ManagedBy": "pulumi", "Tier": "production"}

BUCKET_A = res(S3_BUCKET, "bucket-a", bucket="platform-prod-cloudtrail-123456789012-us-east-1")
S3_ENCRYPTION, S3_PUBLIC_ACCESS_BLOCK, S3_POLICY, S3_VERSIONING = (
    rules.S3_ENCRYPTION[0], rules.S3_PUBLIC_ACCESS_BLOCK[0], rules.S3_POLICY[0], rules.S3_VERSIONING[0],
)
TLS_ONLY = {"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": ["arn:aws:s3:::b", "arn:aws:s3:::b/*"], "Condition": {"Bool": {"aws:SecureTransport": "false"}}}


def ACCESS_GRANT(team: str) -> list[Resource]:  # noqa: N802 (a table constant that takes the team)
    """A team role's access entry (tagged with its team) and a cluster-scope admin policy on it."""
    role = "arn:aws:iam::123456789012:role/platform-prod-team"
    return [
        res(rules.EKS_ACCESS_ENTRY, "entry", principalArn=role, tags={rules.ACCESS_TAG: team}),
        res(rules.EKS_ACCESS_POLICY, "admin", principalArn=role, policyArn="arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy", accessScope={"type": "cluster"}),
    ]


def on_bucket(type_: str, bucket: Resource = BUCKET_A, **inputs: Any) -> Resource:
    """A resource that configures `bucket` (its `bucket` input is the bucket's, by property dependency)."""
    return Resource(type_, f"urn:pulumi:t::platform::{type_}::{bucket.name}-config", {"bucket": UNKNOWN, **inputs}, property_dependencies={"bucket": (bucket.urn,)})


def case(rule_id: str, good: list[Resource], bad: list[Resource], tier: str = "production"):
    return pytest.param(rule_id, tier, good, bad, id=rule_id)


# One row per rule: resources that pass, then resources that fail.
CASES = [
    case("rds-storage-encrypted",
         [res(RDS_INSTANCE, storageEncrypted=True, kmsKeyId=UNKNOWN)],
         [res(RDS_INSTANCE, storageEncrypted=False, kmsKeyId=KEY_ARN)]),
    case("rds-not-public",
         [res(RDS_INSTANCE, publiclyAccessible=False)],
         [res(RDS_INSTANCE, publiclyAccessible=True)]),
    case("rds-force-ssl",
         [res(RDS_PARAMETER_GROUP, family="postgres16", parameters=[{"name": "rds.force_ssl", "value": "1"}]), res(RDS_INSTANCE, parameterGroupName="pg")],
         [res(RDS_PARAMETER_GROUP, family="postgres16", parameters=[{"name": "rds.force_ssl", "value": "0"}])]),
    case("rds-backup-retention",
         [res(RDS_INSTANCE, backupRetentionPeriod=30.0)],
         [res(RDS_INSTANCE, backupRetentionPeriod=7)]),
    case("rds-multi-az",
         [res(RDS_INSTANCE, multiAz=True)],
         [res(RDS_INSTANCE)]),
    case("rds-deletion-protection",
         [res(RDS_INSTANCE, deletionProtection=True)],
         [res(RDS_INSTANCE, deletionProtection=False)]),
    case("rds-final-snapshot",
         [res(RDS_INSTANCE, finalSnapshotIdentifier="final")],
         [res(RDS_INSTANCE, skipFinalSnapshot=True)]),
    case("rds-iam-auth",
         [res(RDS_INSTANCE, iamDatabaseAuthenticationEnabled=True)],
         [res(RDS_INSTANCE)]),
    case("rds-log-exports",
         [res(RDS_INSTANCE, enabledCloudwatchLogsExports=["postgresql", "upgrade"])],
         [res(RDS_INSTANCE, enabledCloudwatchLogsExports=["postgresql"])]),
    case("elasticache-at-rest",
         [res(CACHE_GROUP, atRestEncryptionEnabled=True, kmsKeyId=KEY_ARN)],
         [res(CACHE_GROUP, atRestEncryptionEnabled=False, kmsKeyId=KEY_ARN)]),
    case("elasticache-in-transit",
         [res(CACHE_GROUP, transitEncryptionEnabled=True, transitEncryptionMode="required")],
         [res(CACHE_GROUP, transitEncryptionEnabled=True, transitEncryptionMode="preferred")]),
    case("elasticache-auth",
         [res(CACHE_GROUP, authToken="[secret]")],
         [res(CACHE_GROUP, authToken="")]),
    case("elasticache-subnet-group",
         [res(CACHE_GROUP, subnetGroupName="platform-prod-cache")],
         [res(CACHE_GROUP, subnetGroupName="default")]),
    case("elasticache-failover",
         [res(CACHE_GROUP, numCacheClusters=2, automaticFailoverEnabled=True)],
         [res(CACHE_GROUP, numCacheClusters=2.0)]),
    case("elasticache-multi-az",
         [res(CACHE_GROUP, **CACHE_OK)],
         [res(CACHE_GROUP, **{**CACHE_OK, "multiAzEnabled": False})]),
    case("elasticache-snapshots",
         [res(CACHE_GROUP, snapshotRetentionLimit=7)],
         [res(CACHE_GROUP, snapshotRetentionLimit=0)]),
    case("elasticache-final-snapshot",
         [res(CACHE_GROUP, finalSnapshotIdentifier="final")],
         [res(CACHE_GROUP)]),
    case("eks-endpoint-not-open",
         [res(EKS_CLUSTER_COMPONENT, **ENDPOINT_OK)],
         [res(EKS_CLUSTER_COMPONENT, **{**ENDPOINT_OK, "publicAccessCidrs": ["0.0.0.0/0"]})]),
    case("eks-secrets-encryption",
         [res(EKS_CLUSTER_COMPONENT, version="1.33", encryptionConfigKeyArn=KEY_ARN)],
         [res(EKS_CLUSTER_COMPONENT, version="1.33")]),
    case("eks-audit-logs",
         [res(EKS_CLUSTER_COMPONENT, enabledClusterLogTypes=["api", "audit", "authenticator"])],
         [res(EKS_CLUSTER_COMPONENT, enabledClusterLogTypes=["api"])]),
    case("eks-cluster-admin-teams",
         [*ACCESS_GRANT("devops")],
         [*ACCESS_GRANT("developers")]),
    case("eks-nodes-launch-template",
         [res(EKS_NODE_GROUP_COMPONENT, launchTemplate={"id": "lt-1", "version": "1"})],
         [res(EKS_NODE_GROUP_COMPONENT, capacityType="SPOT")]),
    case("launch-template-imdsv2",
         [res(LAUNCH_TEMPLATE, metadataOptions={"httpTokens": "required", "httpPutResponseHopLimit": 2})],
         [res(LAUNCH_TEMPLATE, metadataOptions={"httpTokens": "optional"})]),
    case("launch-template-ebs-encrypted",
         [res(LAUNCH_TEMPLATE, blockDeviceMappings=[{"deviceName": "/dev/xvda", "ebs": {"encrypted": "true", "kmsKeyId": KEY_ARN}}])],
         [res(LAUNCH_TEMPLATE, blockDeviceMappings=[{"deviceName": "/dev/xvda", "ebs": {"encrypted": "false", "kmsKeyId": KEY_ARN}}])]),
    case("launch-template-no-public-ip",
         [res(LAUNCH_TEMPLATE, networkInterfaces=[{"associatePublicIpAddress": "false"}])],
         [res(LAUNCH_TEMPLATE, networkInterfaces=[{"associatePublicIpAddress": "true"}])]),
    case("vpc-flow-logs",
         [VPC_A, Resource(FLOW_LOG, "urn:fl", {"trafficType": "ALL"}, property_dependencies={"vpcId": (VPC_A.urn,)})],
         [VPC_A, Resource(FLOW_LOG, "urn:fl", {"trafficType": "ACCEPT"}, property_dependencies={"vpcId": (VPC_A.urn,)})]),
    case("default-sg-closed",
         [VPC_A, Resource(DEFAULT_SG, "urn:dsg", {}, dependencies=(VPC_A.urn,))],
         [VPC_A, Resource(DEFAULT_SG, "urn:dsg", {"egress": [{"protocol": "-1", "cidrBlocks": ["0.0.0.0/0"]}]}, dependencies=(VPC_A.urn,))]),
    case("subnet-no-public-ip",
         [res(SUBNET, mapPublicIpOnLaunch=False)],
         [res(SUBNET, mapPublicIpOnLaunch=True)]),
    case("no-ssh",
         [VPC_A, res(LAUNCH_TEMPLATE, metadataOptions={"httpTokens": "required"}), res(SG_INGRESS_RULE, cidrIpv4="10.30.4.0/24", ipProtocol="tcp", fromPort=22, toPort=22)],
         [VPC_A, res(SG_INGRESS_RULE, cidrIpv4="198.51.100.0/24", ipProtocol="tcp", fromPort=22, toPort=22)]),
    case("s3-encrypted",
         [BUCKET_A, on_bucket(S3_ENCRYPTION, rules=[{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": KEY_ARN}, "bucketKeyEnabled": True}])],
         [BUCKET_A, on_bucket(S3_ENCRYPTION, rules=[{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}])]),
    case("s3-public-access-block",
         [BUCKET_A, on_bucket(S3_PUBLIC_ACCESS_BLOCK, blockPublicAcls=True, blockPublicPolicy=True, ignorePublicAcls=True, restrictPublicBuckets=True)],
         [BUCKET_A, on_bucket(S3_PUBLIC_ACCESS_BLOCK, blockPublicAcls=True, blockPublicPolicy=True, ignorePublicAcls=True)]),
    case("s3-tls-only",
         [BUCKET_A, on_bucket(S3_POLICY, policy=json.dumps({"Statement": [TLS_ONLY]}))],
         [BUCKET_A, on_bucket(S3_POLICY, policy=json.dumps({"Statement": [{**TLS_ONLY, "Effect": "Allow"}]}))]),
    case("s3-versioning",
         [BUCKET_A, on_bucket(S3_VERSIONING, versioningConfiguration={"status": "Enabled"})],
         [BUCKET_A, on_bucket(S3_VERSIONING, versioningConfiguration={"status": "Suspended"})]),
    case("sg-no-world-ingress",
         [res(SECURITY_GROUP, ingress=[{"protocol": "tcp", "fromPort": 443, "toPort": 443, "cidrBlocks": ["0.0.0.0/0"], "ipv6CidrBlocks": ["::/0"]}])],
         [res(SG_INGRESS_RULE, cidrIpv4="0.0.0.0/0", ipProtocol="tcp", fromPort=22, toPort=22)]),
    case("kms-rotation",
         [res(KMS_KEY, enableKeyRotation=True)],
         [res(KMS_KEY, enableKeyRotation=False)]),
    case("secret-cmk",
         [res(SM_SECRET, kmsKeyId=KEY_ARN)],
         [res(SM_SECRET, name="platform/prod/app")]),
    case("sns-topic-cmk",
         [res(SNS_TOPIC, kmsMasterKeyId=KEY_ARN)],
         [res(SNS_TOPIC, name="platform-prod-alerts"), res(SNS_TOPIC, name="platform-prod-uptime-topic", kmsMasterKeyId="alias/aws/sns")]),
    case("log-retention",
         [res(LOG_GROUP, retentionInDays=365)],
         [res(LOG_GROUP, name="/platform/prod/x")]),
    case("required-tags",
         [res(AWS_PROVIDER, defaultTags=json.dumps({"tags": TAGS}))],
         [res(AWS_PROVIDER, defaultTags={"tags": {k: v for k, v in TAGS.items() if k != "ManagedBy"}})]),
    case("stateful-protected",
         [res(CACHE_GROUP, protect=True, retain=True)],
         [res(CACHE_GROUP, protect=True, retain=False)]),
]


# rule id -> enforcement in (development, staging, production): what the environment matrix
# and the security baseline ask for, written out so that a changed level is a failing test.
M, A, X = "mandatory", "advisory", "off"
LEVELS = {
    "rds-storage-encrypted": (M, M, M),
    "rds-not-public": (M, M, M),
    "rds-force-ssl": (M, M, M),
    "rds-backup-retention": (M, M, M),
    "rds-multi-az": (A, A, M),
    "rds-deletion-protection": (X, A, M),
    "rds-final-snapshot": (X, M, M),
    "rds-iam-auth": (A, A, M),
    "rds-log-exports": (A, A, M),
    "elasticache-at-rest": (M, M, M),
    "elasticache-in-transit": (M, M, M),
    "elasticache-auth": (M, M, M),
    "elasticache-subnet-group": (M, M, M),
    "elasticache-failover": (M, M, M),
    "elasticache-multi-az": (A, A, M),
    "elasticache-snapshots": (A, A, M),
    "elasticache-final-snapshot": (X, M, M),
    "eks-endpoint-not-open": (M, M, M),
    "eks-secrets-encryption": (M, M, M),
    "eks-audit-logs": (M, M, M),
    "eks-cluster-admin-teams": (A, A, M),
    "eks-nodes-launch-template": (M, M, M),
    "launch-template-imdsv2": (M, M, M),
    "launch-template-ebs-encrypted": (M, M, M),
    "launch-template-no-public-ip": (M, M, M),
    "vpc-flow-logs": (M, M, M),
    "default-sg-closed": (M, M, M),
    "subnet-no-public-ip": (M, M, M),
    "sg-no-world-ingress": (M, M, M),
    "no-ssh": (M, M, M),
    "s3-encrypted": (M, M, M),
    "s3-public-access-block": (M, M, M),
    "s3-tls-only": (M, M, M),
    "s3-versioning": (M, M, M),
    "kms-rotation": (A, A, M),
    "secret-cmk": (M, M, M),
    "sns-topic-cmk": (M, M, M),
    "log-retention": (M, M, M),
    "required-tags": (M, M, M),
    "stateful-protected": (X, A, M),
    # The cloud constraints (policy/constraints.py, cases in tests/test_constraints.py): AWS
    # refuses them in every tier.
    "aws-rds-replica-managed-password": (M, M, M),
    "aws-rds-replica-source-arn": (M, M, M),
    "aws-rds-replica-source-backups": (M, M, M),
    "aws-fixed-name-create-before-delete": (M, M, M),
    "aws-lb-name": (M, M, M),
    "aws-kms-policy-service-linked-role": (M, M, M),
    "aws-launch-template-base-tags": (M, M, M),
    "aws-eks-addon-after-nodes": (M, M, M),
    "helm-loki-monolithic": (M, M, M),
    "k8s-custom-resource-crd-in-stack": (M, M, M),
}


def test_every_rule_has_its_levels():
    assert {rule.id: rule.levels for rule in rules.RULES} == LEVELS


@pytest.mark.parametrize(("tier", "column"), [("development", 0), ("staging", 1), ("production", 2)])
@pytest.mark.parametrize("rule_id", [r for r in LEVELS if not r.startswith(("aws-", "helm-", "k8s-"))])  # constraints: tests/test_constraints.py
def test_rule_level_per_tier(rule_id, tier, column):
    """The level a violation is reported at, per tier (off: not reported at all)."""
    expected = LEVELS[rule_id][column]
    assert rules.RULES_BY_ID[rule_id].level(tier) == expected
    (bad,) = [c.values[3] for c in CASES if c.values[0] == rule_id]
    reported = {v.level for v in rules.evaluate(bad, tier) if v.rule == rule_id}
    if expected == X:
        assert reported == set()
    elif rule_id == "rds-backup-retention" and tier != "production":
        assert reported == set()  # its failing case (7 days) is enough below production
    else:
        assert reported == {expected}


def test_every_rule_has_a_case():
    """The baseline rules here; each cloud constraint has its cases in tests/test_constraints.py."""
    from policy.constraints import CONSTRAINTS

    assert sorted(c.values[0] for c in CASES) == sorted(set(rules.RULES_BY_ID) - {c.id for c in CONSTRAINTS})


@pytest.mark.parametrize(("rule_id", "tier", "good", "bad"), CASES)
def test_rule_passes_and_fails(rule_id, tier, good, bad):
    rule = rules.RULES_BY_ID[rule_id]
    assert rule.findings(good, tier) == []
    found = rule.findings(bad, tier)
    assert found, f"{rule_id} missed its failing case"
    assert {urn for urn, _ in found} <= {r.urn for r in bad}
    assert rule_id in ids(rules.evaluate(bad, tier))


# ---------------------------------------------------------------------------- tiers and edge cases


@pytest.mark.parametrize(
    ("tier", "expected"),
    [("development", rules.ADVISORY), ("staging", rules.ADVISORY), ("production", rules.MANDATORY)],
)
def test_single_az_database_is_advisory_below_production(tier, expected):
    (violation,) = [v for v in rules.evaluate([res(RDS_INSTANCE, multiAz=False)], tier) if v.rule == "rds-multi-az"]
    assert violation.level == expected


def test_development_may_destroy_its_data_stores():
    unprotected = [res(RDS_INSTANCE, skipFinalSnapshot=True), res(CACHE_GROUP)]
    found = ids(rules.evaluate(unprotected, "development"))
    assert not found & {"stateful-protected", "rds-deletion-protection", "rds-final-snapshot", "elasticache-final-snapshot"}
    assert {"stateful-protected", "rds-final-snapshot", "elasticache-final-snapshot"} <= ids(rules.evaluate(unprotected, "staging"))


@pytest.mark.parametrize(("tier", "days", "passes"), [("development", 1, True), ("staging", 7, True), ("staging", 3, False), ("production", 7, False), ("production", 30, True)])
def test_backup_retention_floor_follows_the_tier(tier, days, passes):
    found = rules.RULES_BY_ID["rds-backup-retention"].findings([res(RDS_INSTANCE, backupRetentionPeriod=days)], tier)
    assert (found == []) is passes


def test_single_node_cache_needs_a_replica_only_in_production():
    single = [res(CACHE_GROUP, numCacheClusters=1)]
    failover = rules.RULES_BY_ID["elasticache-failover"]
    assert failover.findings(single, "staging") == []
    assert failover.findings(single, "production")
    assert rules.RULES_BY_ID["elasticache-multi-az"].findings(single, "production") == []


def test_read_replica_is_not_asked_for_primary_only_settings():
    replica = res(RDS_INSTANCE, replicateSourceDb="arn:aws:rds:us-east-1:1:db:p", skipFinalSnapshot=True, backupRetentionPeriod=0)
    found = ids(rules.evaluate([replica], "production"))
    assert not found & {"rds-multi-az", "rds-final-snapshot", "rds-backup-retention", "rds-deletion-protection", "stateful-protected", "rds-storage-encrypted"}
    assert "rds-not-public" in ids(rules.evaluate([res(RDS_INSTANCE, replicateSourceDb="p", publiclyAccessible=True)], "production"))


@pytest.mark.parametrize(
    ("cidrs", "messages"),
    [
        (["203.0.113.0/24", "198.0.0.0/8"], []),
        (["10.0.0.0/8"], []),
        (
            ["203.0.113.0/24", "198.0.0.0/7"],
            ["publicAccessCidrs includes 198.0.0.0/7: set endpointPublicAccess: false, or list only office/VPN ranges (/8 or narrower)"],
        ),
        (
            ["128.0.0.0/1"],
            ["publicAccessCidrs includes 128.0.0.0/1: set endpointPublicAccess: false, or list only office/VPN ranges (/8 or narrower)"],
        ),
    ],
    ids=["slash-8", "private-slash-8", "slash-7", "slash-1"],
)
def test_public_endpoint_allowlist_is_slash_8_or_narrower(cidrs, messages):
    cluster = res(EKS_CLUSTER_COMPONENT, **{**ENDPOINT_OK, "publicAccessCidrs": cidrs})
    assert [m for _, m in rules.RULES_BY_ID["eks-endpoint-not-open"].findings([cluster], "production")] == messages


def test_aws_eks_cluster_shape_defaults_to_an_open_endpoint():
    rule = rules.RULES_BY_ID["eks-endpoint-not-open"]
    # Absent vpcConfig settings mean EKS's defaults: public to 0.0.0.0/0, no private endpoint.
    assert len(rule.findings([res(EKS_CLUSTER, vpcConfig={"subnetIds": ["s"]})], "production")) == 2
    private_only = res(EKS_CLUSTER, vpcConfig={"endpointPublicAccess": False, "endpointPrivateAccess": True})
    assert rule.findings([private_only], "production") == []
    encrypted = res(EKS_CLUSTER, encryptionConfig=[{"resources": ["secrets"], "provider": {"keyArn": UNKNOWN}}], enabledClusterLogTypes=["api", "audit", "authenticator"])
    assert ids(rules.evaluate([encrypted], "production")) == {"eks-endpoint-not-open"}


def test_unrecorded_component_is_left_to_its_aws_children():
    # A real preview may show the pulumi_eks component without inputs.
    assert rules.evaluate([res(EKS_CLUSTER_COMPONENT), res(EKS_NODE_GROUP_COMPONENT)], "production") == []


def test_unknown_values_count_as_set_and_never_flag():
    unknown_bool = "1c4a061d-8072-4f0a-a4cb-0ff528b18fe7"
    db = res(RDS_INSTANCE, storageEncrypted=unknown_bool, kmsKeyId=UNKNOWN, publiclyAccessible=unknown_bool, multiAz=unknown_bool,
             backupRetentionPeriod="3eeb2bf0-c639-47a8-9e75-3b44932eb421", deletionProtection=True, finalSnapshotIdentifier=UNKNOWN,
             iamDatabaseAuthenticationEnabled=True, enabledCloudwatchLogsExports=UNKNOWN, parameterGroupName=UNKNOWN)
    # Only the resource options (not inputs) are left to fail.
    assert ids(rules.evaluate([db], "production")) == {"stateful-protected"}


def test_resource_may_not_override_the_required_tags():
    provider = {"defaultTags": json.dumps({"tags": TAGS})}
    tagged = res("aws:ec2/subnet:Subnet", provider=provider, tags={"Name": "a", "Environment": "staging"})
    (violation,) = rules.evaluate([tagged], "production")
    assert (violation.rule, violation.level) == ("required-tags", rules.MANDATORY)
    assert "Environment" in violation.message
    assert rules.evaluate([res("aws:ec2/subnet:Subnet", provider=provider, tags={"Name": "a", "Environment": "prod"})], "production") == []


def test_world_ingress_on_all_ports_is_reported_with_its_source():
    sg = res(SECURITY_GROUP, ingress=[{"protocol": "-1", "fromPort": 0, "toPort": 0, "ipv6CidrBlocks": ["::/0"]}])
    ((_, message),) = rules.RULES_BY_ID["sg-no-world-ingress"].findings([sg], "production")
    assert "::/0" in message and "all traffic" in message


# (rule resource, found): what no-ssh asks of ingress, with VPC_A (10.30.0.0/16) in the stack.
SSH_INGRESS = [
    (res(SG_INGRESS_RULE, cidrIpv4="10.30.4.0/24", ipProtocol="tcp", fromPort=22, toPort=22), False),
    (res(SG_INGRESS_RULE, referencedSecurityGroupId="sg-1", ipProtocol="tcp", fromPort=22, toPort=22), False),
    (res(SG_INGRESS_RULE, cidrIpv4="203.0.113.0/24", ipProtocol="udp", fromPort=22, toPort=22), False),
    (res(SG_INGRESS_RULE, cidrIpv4="203.0.113.0/24", ipProtocol="tcp", fromPort=443, toPort=443), False),
    (res(SG_INGRESS_RULE, cidrIpv4="10.0.0.0/8", ipProtocol="tcp", fromPort=22, toPort=22), True),
    (res(SG_INGRESS_RULE, cidrIpv4="198.51.100.7/32", ipProtocol="tcp", fromPort=0, toPort=65535), True),
    (res(SG_INGRESS_RULE, cidrIpv6="::/0", ipProtocol="-1"), True),
    (res(rules.SG_RULE, type="ingress", cidrBlocks=["198.51.100.0/24"], protocol="6", fromPort=22, toPort=22), True),
    (res(rules.SG_RULE, type="egress", cidrBlocks=["0.0.0.0/0"], protocol="-1", fromPort=0, toPort=0), False),
    (res(SECURITY_GROUP, ingress=[{"protocol": "tcp", "fromPort": 20, "toPort": 25, "cidrBlocks": ["192.0.2.0/24"]}]), True),
    (res(SG_INGRESS_RULE, cidrIpv4=UNKNOWN, ipProtocol="tcp", fromPort=22, toPort=22), False),
]


@pytest.mark.parametrize(("rule", "found"), SSH_INGRESS, ids=[f"{r.type.rsplit(':', 1)[-1]}-{i}" for i, (r, _) in enumerate(SSH_INGRESS)])
def test_no_ssh_from_outside_the_vpc(rule, found):
    assert bool(rules.RULES_BY_ID["no-ssh"].findings([VPC_A, rule], "production")) is found


def test_no_ssh_without_a_known_vpc_counts_every_cidr_as_outside():
    private = res(SG_INGRESS_RULE, cidrIpv4="10.30.4.0/24", ipProtocol="tcp", fromPort=22, toPort=22)
    assert rules.RULES_BY_ID["no-ssh"].findings([private], "production")
    assert rules.RULES_BY_ID["no-ssh"].findings([res(VPC, "v", cidrBlock=UNKNOWN), private], "production")


@pytest.mark.parametrize(
    ("resource", "message"),
    [
        (res(EKS_NODE_GROUP_COMPONENT, remoteAccess={"ec2SshKey": "ops"}), "remove remoteAccess"),
        (res(rules.EKS_NODE_GROUP, remoteAccess=[{"ec2SshKey": "ops", "sourceSecurityGroupIds": ["sg-1"]}]), "remove remoteAccess"),
        (res(LAUNCH_TEMPLATE, keyName="ops"), "remove keyName"),
    ],
    ids=["managed-node-group", "aws-node-group", "launch-template"],
)
def test_no_ssh_key_reaches_a_node(resource, message):
    ((urn, found),) = rules.RULES_BY_ID["no-ssh"].findings([resource], "production")
    assert urn == resource.urn and found.startswith(message)
    # The launch-template rule no longer looks at SSH: one rule, one finding.
    assert "eks-nodes-launch-template" not in {v.rule for v in rules.evaluate([resource], "production") if "SSH" in v.message}


@pytest.mark.parametrize(
    ("config", "providers", "expected"),
    [
        ({"platform:tier": "staging"}, [{"defaultTags": {"tags": {"Tier": "production"}}}], "staging"),
        ({}, [{"defaultTags": json.dumps({"tags": {"Tier": "development"}})}], "development"),
        ({}, [{"defaultTags": {"tags": {"Tier": "development"}}}, {"defaultTags": {"tags": {"Tier": "staging"}}}], "staging"),
        ({}, [{"region": "us-east-1"}], "production"),
    ],
    ids=["config-wins", "provider-json-string", "disagreement-takes-strictest", "unknown-is-production"],
)
def test_stack_tier(config, providers, expected):
    resources = [res(AWS_PROVIDER, f"aws{i}", **p) for i, p in enumerate(providers)]
    assert rules.stack_tier(resources, config)[0] == expected


# ---------------------------------------------------------------------------- plans
# The passing cases are the program's own plans; a failing case is a doctored copy of one.


@pytest.fixture
def prod_plan() -> dict[str, Any]:
    """A private copy of the program's prod plan (the cached one stays untouched)."""
    return copy.deepcopy(plan_of("prod").data)


def state(plan: dict[str, Any], type_: str, name: str) -> dict[str, Any]:
    (found,) = [s["newState"] for s in plan["steps"] if s["newState"]["type"] == type_ and s["urn"].endswith(f"::{name}")]
    return found


def test_production_plan_passes_every_rule(prod_plan):
    report = check.check_plan(prod_plan)
    assert report.violations == []
    assert (report.tier, report.tier_source) == ("production", "config platform:tier")
    # A fair test: the plan holds every resource type a rule looks at.
    present = {s["newState"]["type"] for s in prod_plan["steps"]}
    assert [rule.id for rule in rules.RULES if not any(rule.applies_to(t) for t in present)] == []


# What each committed stack is told: (level, rule, resource), exactly.
COMMITTED = {
    "dev": [("advisory", "rds-multi-az", "platform-dev-db")],
    "staging": [
        ("advisory", "elasticache-multi-az", "platform-staging-redis"),
        ("advisory", "rds-deletion-protection", "platform-staging-db"),
        ("advisory", "rds-multi-az", "platform-staging-db"),
        ("advisory", "stateful-protected", "platform-staging-alert-destinations"),
        ("advisory", "stateful-protected", "platform-staging-app"),
        ("advisory", "stateful-protected", "platform-staging-db"),
        ("advisory", "stateful-protected", "platform-staging-db-master"),
        ("advisory", "stateful-protected", "platform-staging-key"),
        ("advisory", "stateful-protected", "platform-staging-redis"),
        ("advisory", "stateful-protected", "platform-staging-redis-auth"),
    ],
    "prod": [],
}


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_every_committed_stack_passes_the_mandatory_rules(stack):
    report = check.check_plan(plan_of(stack).data)
    assert report.mandatory == []
    assert sorted((v.level, v.rule, v.urn.rsplit("::", 1)[-1]) for v in report.violations) == COMMITTED[stack]
    assert (report.tier, report.tier_source) == ({"dev": "development", "staging": "staging", "prod": "production"}[stack], "config platform:tier")


def _unencrypted_db(p):
    state(p, RDS_INSTANCE, "platform-prod-db")["inputs"]["storageEncrypted"] = False


def _public_db(p):
    state(p, RDS_INSTANCE, "platform-prod-db")["inputs"]["publiclyAccessible"] = True


def _cache_without_tls(p):
    inputs = state(p, CACHE_GROUP, "platform-prod-redis")["inputs"]
    inputs["transitEncryptionEnabled"] = False
    del inputs["transitEncryptionMode"]


def _open_eks_endpoint(p):
    inputs = state(p, EKS_CLUSTER_COMPONENT, "platform-prod-eks")["inputs"]
    inputs.update(endpointPublicAccess=True, publicAccessCidrs=["0.0.0.0/0"])


def _unprotected_db(p):
    state(p, RDS_INSTANCE, "platform-prod-db")["protect"] = False


def _key_pair_on_nodes(p):
    state(p, LAUNCH_TEMPLATE, "platform-prod-general-lt")["inputs"]["keyName"] = "ops"


def _remote_access_on_nodes(p):
    state(p, EKS_NODE_GROUP_COMPONENT, "platform-prod-general")["inputs"]["remoteAccess"] = {"ec2SshKey": "ops"}


def _ssh_from_an_office(p):
    # An extra rule on the nodes' group: tcp 22 from an office range outside the VPC.
    rule = copy.deepcopy(state(p, SG_INGRESS_RULE, "platform-prod-redis-ingress"))
    rule["urn"] = rule["urn"].replace("platform-prod-redis-ingress", "platform-prod-office-ssh")
    rule["inputs"] = {"securityGroupId": UNKNOWN, "ipProtocol": "tcp", "fromPort": 22, "toPort": 22, "cidrIpv4": "198.51.100.0/24"}
    rule.pop("propertyDependencies", None)
    p["steps"].append({"op": "create", "urn": rule["urn"], "newState": rule})


def _bucket_sse_s3(p):
    rules_ = state(p, S3_ENCRYPTION, "platform-prod-trail-bucket-encryption")["inputs"]["rules"]
    rules_[0]["applyServerSideEncryptionByDefault"] = {"sseAlgorithm": "AES256"}


def _bucket_without_public_access_block(p):
    # The trail bucket's only: the observability buckets have their own blocks.
    p["steps"] = [s for s in p["steps"] if not (s["newState"]["type"] == S3_PUBLIC_ACCESS_BLOCK and s["newState"]["urn"].endswith("::platform-prod-trail-bucket-public-access"))]


def _bucket_policy_allows_plain_http(p):
    inputs = state(p, S3_POLICY, "platform-prod-trail-bucket-policy")["inputs"]
    document = json.loads(inputs["policy"])
    document["Statement"] = [st for st in document["Statement"] if st["Effect"] != "Deny"]
    inputs["policy"] = json.dumps(document)


def _bucket_versioning_suspended(p):
    state(p, S3_VERSIONING, "platform-prod-trail-bucket-versioning")["inputs"]["versioningConfiguration"] = {"status": "Suspended"}


DOCTORED = [
    ("launch-template-key-pair", _key_pair_on_nodes, "no-ssh", "platform-prod-general-lt"),
    ("node-group-remote-access", _remote_access_on_nodes, "no-ssh", "platform-prod-general"),
    ("ssh-from-outside-the-vpc", _ssh_from_an_office, "no-ssh", "platform-prod-office-ssh"),
    ("trail-bucket-sse-s3", _bucket_sse_s3, "s3-encrypted", "platform-prod-trail-bucket-encryption"),
    ("trail-bucket-without-public-access-block", _bucket_without_public_access_block, "s3-public-access-block", "platform-prod-trail-bucket"),
    ("trail-bucket-plain-http", _bucket_policy_allows_plain_http, "s3-tls-only", "platform-prod-trail-bucket"),
    ("trail-bucket-versioning-suspended", _bucket_versioning_suspended, "s3-versioning", "platform-prod-trail-bucket"),
    ("unencrypted-database", _unencrypted_db, "rds-storage-encrypted", "platform-prod-db"),
    ("public-database", _public_db, "rds-not-public", "platform-prod-db"),
    ("cache-without-tls", _cache_without_tls, "elasticache-in-transit", "platform-prod-redis"),
    ("eks-endpoint-open", _open_eks_endpoint, "eks-endpoint-not-open", "platform-prod-eks"),
    ("unprotected-prod-database", _unprotected_db, "stateful-protected", "platform-prod-db"),
]


@pytest.mark.parametrize(("mutate", "rule_id", "name"), [d[1:] for d in DOCTORED], ids=[d[0] for d in DOCTORED])
def test_doctored_plan_fails_with_the_expected_rule(prod_plan, mutate, rule_id, name):
    mutate(prod_plan)
    report = check.check_plan(prod_plan)
    assert [(v.rule, v.level, v.urn.rsplit("::", 1)[-1]) for v in report.violations] == [(rule_id, rules.MANDATORY, name)]


def test_unprotected_database_is_asked_for_exactly_what_it_lacks(prod_plan):
    _unprotected_db(prod_plan)
    (violation,) = check.check_plan(prod_plan).violations
    assert violation.message.startswith("set protect=True in its resource options")
    state(prod_plan, RDS_INSTANCE, "platform-prod-db").update(protect=True, retainOnDelete=False)
    (violation,) = check.check_plan(prod_plan).violations
    assert violation.message.startswith("set retain_on_delete=True in its resource options")


def test_real_preview_shapes(prod_plan):
    """Options absent when false, tier only on the provider as a JSON string, unknown ARNs."""
    del prod_plan["config"]["platform:tier"]
    (provider,) = [s["newState"] for s in prod_plan["steps"] if s["newState"]["type"] == AWS_PROVIDER]
    # The program's plan already carries the provider's default tags JSON-encoded, as a real preview does.
    assert json.loads(provider["inputs"]["defaultTags"]) == {"tags": TAGS}
    for step in prod_plan["steps"]:
        new = step["newState"]
        for key in ("kmsKeyId", "encryptionConfigKeyArn"):
            if key in new["inputs"]:
                new["inputs"][key] = UNKNOWN
        for key in ("protect", "retainOnDelete", "propertyDependencies"):
            new.pop(key, None)
    report = check.check_plan(prod_plan)
    assert (report.tier, report.tier_source) == ("production", "the aws provider's Tier default tag")
    # Nothing is protected any more: exactly the eight stateful resources fail (the data copy's
    # key among them), nothing else.
    assert sorted((v.rule, v.urn.rsplit("::", 1)[-1]) for v in report.violations) == [
        ("stateful-protected", n)
        for n in (
            "platform-prod-alert-destinations", "platform-prod-app", "platform-prod-data-copy-key", "platform-prod-db", "platform-prod-db-master",
            "platform-prod-key", "platform-prod-redis", "platform-prod-redis-auth",
        )
    ]


def test_staging_tier_only_advises_on_what_staging_may_skip(prod_plan):
    prod_plan["config"]["platform:tier"] = "staging"
    db = state(prod_plan, RDS_INSTANCE, "platform-prod-db")
    db["inputs"].update(multiAz=False, deletionProtection=False, backupRetentionPeriod=7)
    db["protect"] = db["retainOnDelete"] = False
    report = check.check_plan(prod_plan)
    assert report.mandatory == []
    assert sorted((v.rule, v.urn.rsplit("::", 1)[-1]) for v in report.advisory) == [
        ("rds-deletion-protection", "platform-prod-db"),
        ("rds-multi-az", "platform-prod-db"),
        ("stateful-protected", "platform-prod-db"),
    ]


def test_resources_being_deleted_are_not_checked(prod_plan):
    old_db = copy.deepcopy(state(prod_plan, RDS_INSTANCE, "platform-prod-db"))
    old_db["urn"] = old_db["urn"].replace("platform-prod-db", "legacy-db")
    old_db["inputs"]["publiclyAccessible"] = True
    prod_plan["steps"].append({"op": "delete", "urn": old_db["urn"], "newState": old_db})
    assert check.check_plan(prod_plan).violations == []


# ---------------------------------------------------------------------------- the CLI


def test_cli_fails_a_doctored_plan_and_names_the_rules(prod_plan, tmp_path):
    _public_db(prod_plan)
    _open_eks_endpoint(prod_plan)
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(prod_plan))
    out = io.StringIO()
    assert check.run(Namespace(plan=str(path), stack=None), out=out) == 1
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("MANDATORY eks-endpoint-not-open urn:pulumi:prod::platform::platform:cluster:Cluster$eks:index:Cluster::platform-prod-eks: ")
    assert lines[1].startswith("MANDATORY rds-not-public urn:pulumi:prod::platform::platform:database:Database$aws:rds/instance:Instance::platform-prod-db: set publiclyAccessible: false")
    assert lines[2].startswith("policy check FAILED: 2 mandatory, 0 advisory")


def test_cli_passes_the_prod_plan(prod_plan, tmp_path):
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(prod_plan))
    out = io.StringIO()
    assert check.run(Namespace(plan=str(path), stack=None), out=out) == 0
    assert out.getvalue().startswith("policy check passed: 0 mandatory, 0 advisory")


@pytest.mark.parametrize("content", [None, "{not json", '{"resources": []}'], ids=["missing", "bad-json", "not-a-plan"])
def test_cli_rejects_what_is_not_a_plan(tmp_path, capsys, content):
    path = tmp_path / "plan.json"
    if content is not None:
        path.write_text(content)
    assert check.run(Namespace(plan=str(path), stack=None)) == 2
    assert capsys.readouterr().err.startswith("error: ")


def test_cli_checks_a_stack_through_the_offline_plan(prod_plan, monkeypatch, capsys):
    from infra.config import ConfigError

    requested = []

    def build_plan(stack):
        requested.append(stack)
        if stack == "broken":
            raise ConfigError("platform:tier", "got 'prd'")
        plan = copy.deepcopy(prod_plan)
        _cache_without_tls(plan)
        return plan

    import infra.offline.plan as offline_plan

    monkeypatch.setattr(offline_plan, "build_plan", build_plan)
    assert check.run(Namespace(plan=None, stack="prod")) == 1
    assert "MANDATORY elasticache-in-transit " in capsys.readouterr().out
    assert check.run(Namespace(plan=None, stack="broken")) == 2
    assert "platform:tier: got 'prd'" in capsys.readouterr().err
    assert requested == ["prod", "broken"]


# ---------------------------------------------------------------------------- the CrossGuard pack


@pytest.fixture
def no_stack_config(monkeypatch):
    """The pack reads `platform:tier` from stack config first; these tests give the tier through the provider."""
    monkeypatch.setattr(pulumi.runtime, "get_config", lambda key: None)


def test_pack_files_are_what_the_cli_needs():
    project = yaml.safe_load((ROOT / "policy" / "PulumiPolicy.yaml").read_text())
    assert project["runtime"]["name"] == "python" and project["runtime"]["options"]["virtualenv"]
    pins = lambda path: {line.split("==")[0]: line for line in path.read_text().splitlines() if "==" in line and not line.startswith("#")}  # noqa: E731
    pack_pins, root_pins = pins(ROOT / "policy" / "requirements.txt"), pins(ROOT / "requirements.txt")
    assert set(pack_pins) == {"pulumi", "pulumi-policy"}
    assert all(root_pins[name] == line for name, line in pack_pins.items())


def test_pack_policies_are_the_rules():
    policies = pack.build_policies()
    by_name = {p.name: p for p in policies}
    assert list(by_name) == [*rules.RULES_BY_ID, pack.ADVISORIES, pack.STACK_ADVISORIES]
    for rule in rules.RULES:
        policy = by_name[rule.id]
        assert policy.enforcement_level == EnforcementLevel.MANDATORY
        assert isinstance(policy, StackValidationPolicy if rule.whole_stack else ResourceValidationPolicy)
    assert by_name[pack.ADVISORIES].enforcement_level == by_name[pack.STACK_ADVISORIES].enforcement_level == EnforcementLevel.ADVISORY


def test_pack_runs_as_a_script(monkeypatch):
    """What `python -m pulumi.policy <engine> policy` does, with the serving constructor replaced."""
    constructed = []
    monkeypatch.setattr(pulumi_policy, "PolicyPack", lambda **kwargs: constructed.append(kwargs))
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.delitem(sys.modules, "rules", raising=False)
    runpy.run_path(str(ROOT / "policy"), run_name="__main__")
    monkeypatch.delitem(sys.modules, "rules", raising=False)
    (kwargs,) = constructed
    assert kwargs["name"] == "platform-baseline"
    assert kwargs["enforcement_level"] == EnforcementLevel.MANDATORY
    assert [p.name for p in kwargs["policies"]] == [p.name for p in pack.build_policies()]


def _servicer() -> _PolicyAnalyzerServicer:
    # What PolicyPack hands to its gRPC server: the engine talks to exactly this object.
    return _PolicyAnalyzerServicer(pack.PACK_NAME, "0.1.0", pack.build_policies(), EnforcementLevel.MANDATORY)


def _struct(value: dict[str, Any]) -> struct_pb2.Struct:
    out = struct_pb2.Struct()
    out.update(value)
    return out


def _aws_provider(tier: str) -> proto.AnalyzerProviderResource:
    # Under a real preview the provider's object inputs arrive JSON-encoded.
    tags = json.dumps({"tags": {**TAGS, "Tier": tier}})
    return proto.AnalyzerProviderResource(type=AWS_PROVIDER, urn="urn:pulumi:s::platform::pulumi:providers:aws::aws", name="aws", properties=_struct({"defaultTags": tags}))


def _analyze(type_: str, props: dict[str, Any], tier: str, protect: bool = False) -> list[tuple[str, int, str]]:
    request = proto.AnalyzeRequest(
        type=type_, urn=f"urn:pulumi:s::platform::{type_}::db", name="db", properties=_struct(props),
        options=proto.AnalyzerResourceOptions(protect=protect), provider=_aws_provider(tier),
    )
    response = _servicer().Analyze(request, None)
    return [(d.policyName, d.enforcementLevel, d.message) for d in response.diagnostics]


def test_pack_loads_as_a_crossguard_analyzer():
    info = _servicer().GetAnalyzerInfo(None, None)
    assert info.name == "platform-baseline"
    levels = {p.name: p.enforcementLevel for p in info.policies}
    assert levels["rds-storage-encrypted"] == proto.MANDATORY and levels[pack.ADVISORIES] == proto.ADVISORY
    assert {p.name for p in info.policies if p.policy_type == proto.PolicyType.POLICY_TYPE_STACK} == {
        "vpc-flow-logs", "default-sg-closed", "eks-cluster-admin-teams", "no-ssh", "s3-encrypted", "s3-public-access-block", "s3-tls-only", "s3-versioning",
        "aws-rds-replica-managed-password", "aws-rds-replica-source-backups",
        "aws-kms-policy-service-linked-role", "aws-eks-addon-after-nodes", "k8s-custom-resource-crd-in-stack", pack.STACK_ADVISORIES,
    }


SINGLE_AZ_DB = {
    "storageEncrypted": True, "kmsKeyId": UNKNOWN, "publiclyAccessible": False, "multiAz": False, "backupRetentionPeriod": 7,
    "deletionProtection": True, "finalSnapshotIdentifier": "final", "iamDatabaseAuthenticationEnabled": True,
    "enabledCloudwatchLogsExports": ["postgresql", "upgrade"], "parameterGroupName": "pg",
}


def test_pack_reports_at_the_level_of_the_providers_tier(no_stack_config):
    staging = _analyze(RDS_INSTANCE, SINGLE_AZ_DB, "staging", protect=True)
    assert [(name, level) for name, level, _ in staging] == [(pack.ADVISORIES, proto.ADVISORY)]
    assert "rds-multi-az: set multiAz: true" in staging[0][2]

    production = _analyze(RDS_INSTANCE, SINGLE_AZ_DB, "production", protect=False)
    assert sorted((name, level) for name, level, _ in production) == [
        ("rds-backup-retention", proto.MANDATORY), ("rds-multi-az", proto.MANDATORY), ("stateful-protected", proto.MANDATORY)
    ]
    # CrossGuard cannot see retainOnDelete: only protect is asked for.
    (protect_message,) = [m for name, _, m in production if name == "stateful-protected"]
    assert "protect=True" in protect_message and "retain_on_delete" not in protect_message.split("(")[0]


def test_pack_prefers_the_stack_config_tier(monkeypatch):
    monkeypatch.setattr(pulumi.runtime, "get_config", lambda key: {"platform:tier": "production"}.get(key))
    assert ("rds-multi-az", proto.MANDATORY) in [(n, lvl) for n, lvl, _ in _analyze(RDS_INSTANCE, SINGLE_AZ_DB, "development", protect=True)]


def test_pack_stack_policy_finds_a_vpc_without_flow_logs(no_stack_config):
    provider = _aws_provider("production")
    vpc_urn, other_urn = "urn:pulumi:s::platform::aws:ec2/vpc:Vpc::a", "urn:pulumi:s::platform::aws:ec2/vpc:Vpc::b"

    def resource(type_, urn, props, **kw):
        return proto.AnalyzerResource(type=type_, urn=urn, name=urn.rsplit("::", 1)[-1], properties=_struct(props), provider=provider, **kw)

    request = proto.AnalyzeStackRequest(resources=[
        resource(VPC, vpc_urn, {"cidrBlock": "10.0.0.0/16"}),
        resource(VPC, other_urn, {"cidrBlock": "10.1.0.0/16"}),
        resource(FLOW_LOG, "urn:pulumi:s::platform::aws:ec2/flowLog:FlowLog::a", {"trafficType": "ALL", "vpcId": UNKNOWN},
                 dependencies=[vpc_urn], propertyDependencies={"vpcId": proto.AnalyzerPropertyDependencies(urns=[vpc_urn])}),
        resource(DEFAULT_SG, "urn:pulumi:s::platform::aws:ec2/defaultSecurityGroup:DefaultSecurityGroup::a", {"vpcId": UNKNOWN, "ingress": []}, dependencies=[vpc_urn]),
        resource(DEFAULT_SG, "urn:pulumi:s::platform::aws:ec2/defaultSecurityGroup:DefaultSecurityGroup::b", {"vpcId": UNKNOWN}, dependencies=[other_urn]),
    ])
    response = _servicer().AnalyzeStack(request, None)
    assert [(d.policyName, d.enforcementLevel, d.urn) for d in response.diagnostics] == [("vpc-flow-logs", proto.MANDATORY, other_urn)]
