"""`python -m infra parity BASE OTHER`: what differs between two stacks beyond sizing.

The seeds ask that staging be production's twin, only smaller. This compares two offline
plans (stack names, or saved plan JSON files) and reports:
- version drift: Kubernetes, engine and chart versions (fails);
- component drift: a component, or a kind of resource within one, that exists in only one
  of the two (fails), except the kinds a tier's config adds on purpose (BY_CONFIG: S3 Object
  Lock on the audit bucket, production's; BY_COMPONENT_CONFIG: Thanos, and the data copy's
  source and target sides), shown with the security settings;
- security settings that differ (informational: the matrix lets staging keep fewer
  backups or run single-AZ, and the policy check decides what is allowed per tier).
Sizing (classes, counts, storage, CIDRs, names) is never compared.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# (resource type, input path) pairs whose values are versions.
VERSIONS: dict[str, tuple[str, ...]] = {
    "eks:index:Cluster": ("version",),
    "aws:rds/instance:Instance": ("engine", "engineVersion"),
    "aws:rds/parameterGroup:ParameterGroup": ("family",),
    "aws:elasticache/replicationGroup:ReplicationGroup": ("engine", "engineVersion"),
    "kubernetes:helm.sh/v3:Release": ("chart", "version"),
}

# Security-relevant inputs, reported when they differ.
SECURITY: dict[str, tuple[str, ...]] = {
    "eks:index:Cluster": ("endpointPublicAccess", "endpointPrivateAccess", "authenticationMode", "enabledClusterLogTypes", "encryptionConfigKeyArn"),
    "aws:ec2/launchTemplate:LaunchTemplate": ("metadataOptions",),
    "aws:rds/instance:Instance": ("storageEncrypted", "publiclyAccessible", "multiAz", "deletionProtection", "backupRetentionPeriod", "iamDatabaseAuthenticationEnabled", "enabledCloudwatchLogsExports", "skipFinalSnapshot"),
    "aws:elasticache/replicationGroup:ReplicationGroup": ("atRestEncryptionEnabled", "transitEncryptionEnabled", "automaticFailoverEnabled", "multiAzEnabled", "snapshotRetentionLimit"),
    "aws:ec2/flowLog:FlowLog": ("trafficType",),
    "aws:s3/bucket:Bucket": ("objectLockEnabled",),
    "aws:cloudtrail/trail:Trail": ("isMultiRegionTrail", "includeGlobalServiceEvents", "enableLogFileValidation", "kmsKeyId"),
}

# Kinds of resource a stack has or lacks by its config, not by drift: reported as security
# settings that differ (the environment matrix: "CloudTrail (object lock)" in prod only).
BY_CONFIG: dict[str, str] = {
    "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration": "audit.object_lock_days",
}
# The same for kinds one component has or lacks by its config, where the kind itself (a role,
# a bucket) is drift anywhere else: Thanos (its bucket, IRSA role, StatefulSets, Deployment and
# Services) exists only with observability.metrics.long_term_days, which only a production tier
# must set (infra/config.py production floor).
THANOS_KINDS = (
    "aws:iam/role:Role",
    "aws:iam/rolePolicy:RolePolicy",
    "aws:s3/bucket:Bucket",
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
    "aws:s3/bucketPolicy:BucketPolicy",
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    "aws:s3/bucketVersioning:BucketVersioning",
    "kubernetes:apps/v1:Deployment",
    "kubernetes:apps/v1:StatefulSet",
    "kubernetes:core/v1:Service",
)
# The anonymized copy (infra/components/data_copy.py) is a side per stack, data_copy.role: the
# source (its key, bucket, image repository, identity, Secret and CronJob) in production, the
# target (its identity and CronJob) in staging. Each component, and every kind in it, exists on
# one side only, by that setting.
DATA_COPY_KINDS: dict[str, tuple[str, ...]] = {
    "platform:data_copy:DataCopySource": (
        "aws:ecr/lifecyclePolicy:LifecyclePolicy",
        "aws:ecr/repository:Repository",
        "aws:ecr/repositoryPolicy:RepositoryPolicy",
        "aws:iam/role:Role",
        "aws:iam/rolePolicy:RolePolicy",
        "aws:kms/alias:Alias",
        "aws:kms/key:Key",
        "aws:s3/bucket:Bucket",
        "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
        "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
        "aws:s3/bucketPolicy:BucketPolicy",
        "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        "aws:s3/bucketVersioning:BucketVersioning",
        "kubernetes:batch/v1:CronJob",
        "kubernetes:core/v1:Secret",
        "kubernetes:core/v1:ServiceAccount",
        "random:index/randomPassword:RandomPassword",
    ),
    "platform:data_copy:DataCopyTarget": (
        "aws:iam/role:Role",
        "aws:iam/rolePolicy:RolePolicy",
        "kubernetes:batch/v1:CronJob",
        "kubernetes:core/v1:ServiceAccount",
    ),
}
BY_COMPONENT_CONFIG: dict[tuple[str, str], str] = {
    **{("platform:monitoring:Monitoring", typ): "observability.metrics.long_term_days" for typ in THANOS_KINDS},
    **{("(stack)", component): "data_copy.role" for component in DATA_COPY_KINDS},
    **{(component, typ): "data_copy.role" for component, kinds in DATA_COPY_KINDS.items() for typ in kinds},
}


@dataclass
class Report:
    base: str
    other: str
    versions: list[str] = field(default_factory=list)
    components: list[str] = field(default_factory=list)
    security: list[str] = field(default_factory=list)

    @property
    def drifted(self) -> bool:
        return bool(self.versions or self.components)

    def render(self) -> str:
        lines = [f"Parity of {self.other} against {self.base} (sizing ignored)"]
        for title, items in (("Version drift", self.versions), ("Component drift", self.components), ("Security settings that differ (allowed by tier; see `infra check`)", self.security)):
            lines.append(f"{title}: {'none' if not items else len(items)}")
            lines += [f"  {item}" for item in items]
        lines.append("FAIL: versions or components differ" if self.drifted else "OK: same versions and components")
        return "\n".join(lines)


def _states(plan: dict[str, Any]) -> list[dict[str, Any]]:
    return [s["newState"] for s in plan["steps"]]


def _component_of(state: dict[str, Any], by_urn: dict[str, dict[str, Any]]) -> str:
    parent = by_urn.get(state.get("parent", ""))
    while parent is not None and not parent["type"].startswith("platform:"):
        parent = by_urn.get(parent.get("parent", ""))
    return parent["type"] if parent else "(stack)"


def _values(plan: dict[str, Any], table: dict[str, tuple[str, ...]]) -> dict[tuple[str, str], set[str]]:
    out: dict[tuple[str, str], set[str]] = {}
    for state in _states(plan):
        for key in table.get(state["type"], ()):
            if key in state["inputs"]:
                out.setdefault((state["type"], key), set()).add(json.dumps(state["inputs"][key], sort_keys=True))
    return out


def _kinds(plan: dict[str, Any]) -> set[tuple[str, str]]:
    states = _states(plan)
    by_urn = {s["urn"]: s for s in states}
    return {(_component_of(s, by_urn), s["type"]) for s in states if s["type"] != "pulumi:pulumi:Stack"}


def compare(base: dict[str, Any], other: dict[str, Any], base_name: str = "base", other_name: str = "other") -> Report:
    report = Report(base_name, other_name)
    base_versions, other_versions = _values(base, VERSIONS), _values(other, VERSIONS)
    for typ, key in sorted(base_versions.keys() | other_versions.keys()):
        a, b = base_versions.get((typ, key), set()), other_versions.get((typ, key), set())
        if a != b:
            report.versions.append(f"{typ} {key}: {base_name} {', '.join(sorted(a)) or '-'} / {other_name} {', '.join(sorted(b)) or '-'}")
    base_kinds, other_kinds = _kinds(base), _kinds(other)
    for component, typ in sorted(base_kinds ^ other_kinds):
        where = base_name if (component, typ) in base_kinds else other_name
        setting = BY_CONFIG.get(typ) or BY_COMPONENT_CONFIG.get((component, typ))
        if setting:
            report.security.append(f"{component} {typ}: only in {where} ({setting})")
        else:
            report.components.append(f"{component} {typ}: only in {where}")
    base_sec, other_sec = _values(base, SECURITY), _values(other, SECURITY)
    for typ, key in sorted(base_sec.keys() | other_sec.keys()):
        a, b = base_sec.get((typ, key), set()), other_sec.get((typ, key), set())
        # Values that embed ids (a key ARN) differ per stack by construction; compare presence only.
        if key.endswith("Arn"):
            a, b = ({"set"} if a else set()), ({"set"} if b else set())
        if a != b:
            report.security.append(f"{typ} {key}: {base_name} {', '.join(sorted(a)) or '-'} / {other_name} {', '.join(sorted(b)) or '-'}")
    return report


def _load(source: str) -> tuple[dict[str, Any], str]:
    if source.endswith(".json") and Path(source).exists():
        return json.loads(Path(source).read_text()), Path(source).stem
    from infra.offline.plan import build_plan

    return build_plan(source), source


def run(args: Any) -> int:
    from infra.offline.plan import PLAN_ERRORS

    try:
        base, base_name = _load(args.base)
        other, other_name = _load(args.other)
    except (FileNotFoundError, *PLAN_ERRORS) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    report = compare(base, other, base_name, other_name)
    print(report.render())
    return 1 if report.drifted else 0
