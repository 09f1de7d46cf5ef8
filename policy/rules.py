"""The platform's policy rules: the one copy that `python -m infra check` and the CrossGuard pack run.

What is here:
- `Resource`, the normalized record every rule reads (type, urn, inputs, protect,
  retainOnDelete, dependencies, the inputs of its provider);
- one check function per rule: pure, returning what to change (an empty result passes);
- `RULES`, the table at the bottom: rule id, enforcement per tier, the resource types it
  applies to, what it asks for and its check;
- `evaluate()` (every rule over a list of records) and `stack_tier()` (which tier a stack is).

Two front ends build the records: `infra/review/check.py` from a plan (`python -m infra plan --json`
or a real `pulumi preview --json`), `policy/__main__.py` from CrossGuard's arguments.

Inputs are camelCase, as the program set them. What the checks tolerate, and why:
- absent inputs: a real preview omits what the program left unset, so absent means the
  provider/AWS default, and each check knows which defaults are unsafe;
- unknown values (the preview sentinels, e.g. "04da6b54-...") are outputs of resources not
  created yet, such as a KMS key ARN: they count as set, and a check that needs the value
  itself passes rather than guessing;
- "[secret]" counts as set; numbers may be floats (2.0); some booleans are strings ("true")
  where the provider schema says string (launch template EBS `encrypted`);
- provider inputs may be JSON-encoded strings (`defaultTags` under a real preview).

Tiers are "development" | "staging" | "production". A rule is mandatory where the security baseline (README,
"Security baseline") or the environment matrix requires it, advisory where the matrix lets a
tier have less (shown, never blocking), and off where the matrix chooses the opposite
(development's stateful resources "may be destroyed"). Controls the matrix does not name but
Security Hub FSBP does (IAM database auth, log exports, key rotation, Multi-AZ...) are
mandatory in production and advisory below it.

Standard library only: the CrossGuard pack imports this module in its own virtualenv.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

DEVELOPMENT, STAGING, PRODUCTION = "development", "staging", "production"
TIERS = (DEVELOPMENT, STAGING, PRODUCTION)
# A stack whose tier cannot be found gets the strictest baseline, never the laxest.
DEFAULT_TIER = PRODUCTION

MANDATORY, ADVISORY, OFF = "mandatory", "advisory", "off"
M, A, X = MANDATORY, ADVISORY, OFF  # column shorthands for the table

SECRET = "[secret]"
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
# Every sentinel the engine uses for "not known until the update runs" (pulumi_policy.proxy).
_UNKNOWNS = frozenset(
    {
        UNKNOWN,
        "1c4a061d-8072-4f0a-a4cb-0ff528b18fe7",  # boolean
        "3eeb2bf0-c639-47a8-9e75-3b44932eb421",  # number
        "6a19a0b0-7e62-4c92-b797-7f8e31da9cc2",  # array
        "030794c1-ac77-496b-92df-f27374a8bd58",  # asset
        "e48ece36-62e2-4504-bad9-02848725956a",  # archive
        "dd056dcd-154b-4c76-9bd3-c8f88648b5ff",  # object
    }
)

REQUIRED_TAGS = ("Project", "Environment", "ManagedBy")
# platform:cluster.public_access_cidrs refuses anything wider than /8 for the same reason.
WIDEST_PUBLIC_PREFIX = 8
WEB_PORTS = frozenset({80, 443})
EKS_REQUIRED_LOG_TYPES = ("api", "audit", "authenticator")
RDS_POSTGRES_LOG_EXPORTS = ("postgresql", "upgrade")
# backupRetentionPeriod floor per tier (environment matrix; 7 is FSBP RDS.11's floor,
# 30 the production point-in-time recovery window).
RDS_BACKUP_DAYS = {DEVELOPMENT: 1, STAGING: 7, PRODUCTION: 30}

AWS_PROVIDER = "pulumi:providers:aws"
VPC = "aws:ec2/vpc:Vpc"
SUBNET = "aws:ec2/subnet:Subnet"
FLOW_LOG = "aws:ec2/flowLog:FlowLog"
DEFAULT_SG = "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup"
SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
SG_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
SG_INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
KMS_KEY = "aws:kms/key:Key"
SM_SECRET = "aws:secretsmanager/secret:Secret"
SNS_TOPIC = "aws:sns/topic:Topic"
# The AWS-managed SNS key: its policy cannot let CloudWatch alarms publish (re:Post knowledge
# center, "cloudwatch-configure-alarm-sns").
SNS_AWS_MANAGED_KEY = "alias/aws/sns"
RDS_INSTANCE = "aws:rds/instance:Instance"
RDS_PARAMETER_GROUP = "aws:rds/parameterGroup:ParameterGroup"
CACHE_GROUP = "aws:elasticache/replicationGroup:ReplicationGroup"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
EKS_CLUSTER_COMPONENT = "eks:index:Cluster"
EKS_ACCESS_ENTRY = "aws:eks/accessEntry:AccessEntry"
EKS_ACCESS_POLICY = "aws:eks/accessPolicyAssociation:AccessPolicyAssociation"
# Who may hold cluster-wide admin in production: the access entries of the teams' roles carry
# the tag ACCESS_TAG (infra/components/access.py), and only these teams (and CI's deploy role) may.
ACCESS_TAG = "platform/access"
CLUSTER_ADMIN_ACCESS = ("devops", "break_glass", "ci-deploy")
EKS_CLUSTER = "aws:eks/cluster:Cluster"
EKS_NODE_GROUP_COMPONENT = "eks:index:ManagedNodeGroup"
EKS_NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
_COMPONENTS = frozenset({EKS_CLUSTER_COMPONENT, EKS_NODE_GROUP_COMPONENT})
# S3: the bucket and the resources that configure it (pulumi_aws 7: aws.s3.Bucket; the
# deprecated *V2 names are the same resources under their old tokens).
S3_BUCKETS = ("aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2")
S3_ENCRYPTION = ("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
                 "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2")
S3_PUBLIC_ACCESS_BLOCK = ("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",)
S3_POLICY = ("aws:s3/bucketPolicy:BucketPolicy",)
S3_VERSIONING = ("aws:s3/bucketVersioning:BucketVersioning", "aws:s3/bucketVersioningV2:BucketVersioningV2")
S3_PUBLIC_ACCESS_SETTINGS = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
SSH_PORT = 22


# ---------------------------------------------------------------------------- records and values


def is_unknown(value: Any) -> bool:
    return isinstance(value, str) and value in _UNKNOWNS


def is_set(value: Any) -> bool:
    """Whether the program gave a value; unknowns and "[secret]" count (they exist, unseen)."""
    if value is None:
        return False
    return not (isinstance(value, (str, list, tuple, Mapping)) and len(value) == 0)


def flag(value: Any, default: bool = False) -> bool | None:
    """A boolean input: `default` when absent, None when unknown; "true"/"false" strings accepted."""
    if value is None:
        return default
    if is_unknown(value):
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return value.strip().lower() == "true"
    if isinstance(value, (int, float)):
        return value == 1
    return default


def number(value: Any) -> float | None:
    """A numeric input (2, 2.0 or "2") as a float; None when absent, unknown or not a number."""
    if isinstance(value, bool) or value is None or is_unknown(value):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def decoded(value: Any) -> Any:
    """Provider inputs arrive JSON-encoded under a real preview (`defaultTags` as a string)."""
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def one(value: Any) -> Any:
    """A nested object that some provider versions give as a one-item list (vpcConfig, ebs...)."""
    value = decoded(value)
    if isinstance(value, (list, tuple)):
        return value[0] if value else {}
    return value if isinstance(value, Mapping) or is_unknown(value) else {}


@dataclass(frozen=True)
class Resource:
    """One resource as every rule sees it, whatever the plan or engine shape it came from."""

    type: str
    urn: str
    inputs: Mapping[str, Any] = field(default_factory=dict)
    protect: bool = False
    # None: the source cannot see it (CrossGuard has no retainOnDelete in its resource options).
    retain_on_delete: bool | None = False
    id: str | None = None
    dependencies: tuple[str, ...] = ()
    property_dependencies: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # Inputs of the provider resource this one goes through (default tags live there).
    provider_inputs: Mapping[str, Any] | None = None
    # The deleteBeforeReplace option; None: the source cannot see it (a saved `pulumi preview --json`).
    delete_before_replace: bool | None = None

    @property
    def name(self) -> str:
        return self.urn.rsplit("::", 1)[-1]

    def get(self, key: str) -> Any:
        return self.inputs.get(key)

    def refers_to(self, key: str, target: Resource) -> bool:
        """Whether input `key` (e.g. a flow log's vpcId) points at `target`.

        Property dependencies say it exactly; a known id is the next best; plain
        dependencies are the fallback for sources that record nothing finer.
        """
        if key in self.property_dependencies:
            return target.urn in self.property_dependencies[key]
        if target.id and not is_unknown(target.id) and self.inputs.get(key) == target.id:
            return True
        return not self.property_dependencies and target.urn in self.dependencies


def normalize_tier(value: Any) -> str | None:
    if isinstance(value, str) and value.strip().lower() in TIERS:
        return value.strip().lower()
    return None


def provider_default_tags(provider_inputs: Mapping[str, Any] | None) -> dict[str, Any]:
    """`defaultTags.tags` of an aws provider's inputs, decoded whichever shape it came in."""
    if not provider_inputs:
        return {}
    default_tags = one(provider_inputs.get("defaultTags"))
    if not isinstance(default_tags, Mapping):
        return {}
    tags = decoded(default_tags.get("tags"))
    return dict(tags) if isinstance(tags, Mapping) else {}


def tier_from_provider(provider_inputs: Mapping[str, Any] | None) -> str | None:
    return normalize_tier(provider_default_tags(provider_inputs).get("Tier"))


def stack_tier(resources: Sequence[Resource], config: Mapping[str, Any] | None = None) -> tuple[str, str]:
    """The stack's tier and where it came from: config `platform:tier`, else the aws provider's Tier tag."""
    configured = normalize_tier((config or {}).get("platform:tier"))
    if configured:
        return configured, "config platform:tier"
    found = {tier_from_provider(r.inputs) for r in resources if r.type == AWS_PROVIDER}
    found |= {tier_from_provider(r.provider_inputs) for r in resources if r.provider_inputs}
    found.discard(None)
    if len(found) == 1:
        return found.pop(), "the aws provider's Tier default tag"
    if found:
        strictest = max(found, key=TIERS.index)
        return strictest, f"aws providers disagree on Tier ({', '.join(sorted(found))}); using the strictest"
    return DEFAULT_TIER, "no platform:tier config and no Tier default tag on an aws provider; checking as production"


def _is_replica(r: Resource) -> bool:
    return is_set(r.get("replicateSourceDb"))


def _component_unrecorded(r: Resource) -> bool:
    # A real preview may record a remote component (pulumi_eks) without its inputs; its
    # aws:eks/* children carry the same settings and are checked instead.
    return r.type in _COMPONENTS and not r.inputs


def _networks(values: Iterable[Any]) -> Iterator[tuple[str, Any]]:
    """(as written, the network) for each value that is a known, valid CIDR."""
    for value in values:
        if not isinstance(value, str) or is_unknown(value):
            continue
        try:
            yield value, ipaddress.ip_network(value.strip(), strict=False)
        except ValueError:
            continue


def _wide_cidrs(values: Iterable[Any], widest_prefix: int) -> list[str]:
    out = []
    for value, net in _networks(values):
        if net.prefixlen < widest_prefix:
            out.append(value)
    return out


def _fmt(value: Any) -> str:
    n = number(value)
    return str(int(n)) if n is not None and n.is_integer() else str(value)


# ---------------------------------------------------------------------------- RDS


def _rds_storage_encrypted(r: Resource, tier: str) -> Iterator[str]:
    encrypted = flag(r.get("storageEncrypted"))
    if _is_replica(r):
        # A same-region replica inherits its source's encryption; only an explicit false is wrong.
        if r.get("storageEncrypted") is not None and encrypted is False:
            yield "remove storageEncrypted: false (the replica must be encrypted like its source)"
        return
    if encrypted is False:
        yield "set storageEncrypted: true (this replaces the instance: migrate through an encrypted snapshot)"
    if not is_set(r.get("kmsKeyId")):
        yield "set kmsKeyId to the platform's customer-managed KMS key"


def _rds_not_public(r: Resource, tier: str) -> Iterator[str]:
    if flag(r.get("publiclyAccessible")):
        yield "set publiclyAccessible: false (the database is reached from the cluster's nodes, inside the VPC)"


def _rds_multi_az(r: Resource, tier: str) -> Iterator[str]:
    if not _is_replica(r) and flag(r.get("multiAz")) is False:
        yield "set multiAz: true (a synchronous standby in a second AZ)"


def _rds_deletion_protection(r: Resource, tier: str) -> Iterator[str]:
    if not _is_replica(r) and flag(r.get("deletionProtection")) is False:
        yield "set deletionProtection: true"


def _rds_backup_retention(r: Resource, tier: str) -> Iterator[str]:
    value = r.get("backupRetentionPeriod")
    if _is_replica(r) or is_unknown(value):
        return
    days, need = number(value) or 0, RDS_BACKUP_DAYS[tier]
    if days < need:
        now = f"now {_fmt(value)}" if value is not None else "unset"
        yield f"set backupRetentionPeriod to at least {need} days for a {tier} stack ({now})"


def _rds_final_snapshot(r: Resource, tier: str) -> Iterator[str]:
    if _is_replica(r):
        return  # RDS takes no final snapshot of a read replica
    if flag(r.get("skipFinalSnapshot")):
        yield "set skipFinalSnapshot: false"
    if not is_set(r.get("finalSnapshotIdentifier")):
        yield "set finalSnapshotIdentifier (without it a delete fails, or skips the snapshot)"


def _rds_iam_auth(r: Resource, tier: str) -> Iterator[str]:
    if not _is_replica(r) and flag(r.get("iamDatabaseAuthenticationEnabled")) is False:
        yield "set iamDatabaseAuthenticationEnabled: true"


def _rds_log_exports(r: Resource, tier: str) -> Iterator[str]:
    exports = r.get("enabledCloudwatchLogsExports")
    if is_unknown(exports):
        return
    missing = [t for t in RDS_POSTGRES_LOG_EXPORTS if t not in (exports or [])]
    if missing:
        yield f"add {', '.join(missing)} to enabledCloudwatchLogsExports"


def _rds_force_ssl(r: Resource, tier: str) -> Iterator[str]:
    if r.type == RDS_INSTANCE:
        if not is_set(r.get("parameterGroupName")):
            yield "set parameterGroupName to the platform parameter group (rds.force_ssl = 1); a default group cannot be changed"
        return
    family = r.get("family")
    if not isinstance(family, str) or not family.startswith("postgres"):
        return
    params = [p for p in (r.get("parameters") or []) if isinstance(p, Mapping) and p.get("name") == "rds.force_ssl"]
    values = [p.get("value") for p in params]
    if any(is_unknown(v) for v in values):
        return
    if not any(number(v) == 1 or str(v).lower() == "true" for v in values):
        yield "add the parameter rds.force_ssl = 1 (clients must use TLS)"


# ---------------------------------------------------------------------------- ElastiCache


def _cache_nodes(r: Resource) -> int | None:
    """Nodes per shard (primary + replicas), None when unknown."""
    clusters, replicas = r.get("numCacheClusters"), r.get("replicasPerNodeGroup")
    if is_unknown(clusters) or is_unknown(replicas):
        return None
    if number(clusters) is not None:
        return int(number(clusters) or 0)
    if number(replicas) is not None:
        return int(number(replicas) or 0) + 1
    return 1


def _cache_at_rest(r: Resource, tier: str) -> Iterator[str]:
    if flag(r.get("atRestEncryptionEnabled")) is False:
        yield "set atRestEncryptionEnabled: true (this replaces the replication group)"
    if not is_set(r.get("kmsKeyId")):
        yield "set kmsKeyId to the platform's customer-managed KMS key"


def _cache_in_transit(r: Resource, tier: str) -> Iterator[str]:
    if flag(r.get("transitEncryptionEnabled")) is False:
        yield "set transitEncryptionEnabled: true (Redis TLS)"
    mode = r.get("transitEncryptionMode")
    if is_set(mode) and not is_unknown(mode) and mode != "required":
        yield f"set transitEncryptionMode: required (now {mode!r}, which still accepts plain-text clients)"


def _cache_auth(r: Resource, tier: str) -> Iterator[str]:
    if not is_set(r.get("authToken")) and not is_set(r.get("userGroupIds")):
        yield "set authToken (a secret) or userGroupIds so clients must authenticate (Redis AUTH)"


def _cache_failover(r: Resource, tier: str) -> Iterator[str]:
    nodes = _cache_nodes(r)
    if nodes is None:
        return
    if nodes >= 2 and flag(r.get("automaticFailoverEnabled")) is False:
        yield f"set automaticFailoverEnabled: true ({nodes} nodes, but a replica never takes over without it)"
    if nodes < 2 and tier == PRODUCTION:
        yield "run at least 2 nodes (numCacheClusters >= 2) with automaticFailoverEnabled: true"


def _cache_multi_az(r: Resource, tier: str) -> Iterator[str]:
    nodes = _cache_nodes(r)
    # A single node cannot span AZs; elasticache-failover asks production for the second node.
    if nodes is not None and nodes >= 2 and flag(r.get("multiAzEnabled")) is False:
        yield "set multiAzEnabled: true so the replica runs in another AZ"


def _cache_snapshots(r: Resource, tier: str) -> Iterator[str]:
    value = r.get("snapshotRetentionLimit")
    if not is_unknown(value) and (number(value) or 0) < 1:
        yield "set snapshotRetentionLimit to at least 1 (daily automatic snapshots)"


def _cache_final_snapshot(r: Resource, tier: str) -> Iterator[str]:
    if not is_set(r.get("finalSnapshotIdentifier")):
        yield "set finalSnapshotIdentifier so deleting the group keeps a snapshot"


def _cache_subnet_group(r: Resource, tier: str) -> Iterator[str]:
    name = r.get("subnetGroupName")
    if not is_set(name) or name == "default":
        yield "set subnetGroupName to the platform's subnet group over the isolated subnets (not the default group)"


# ---------------------------------------------------------------------------- EKS and nodes


def _eks_endpoint_settings(r: Resource) -> Mapping[str, Any] | None:
    """The endpoint inputs of either cluster shape; None when they cannot be seen."""
    if _component_unrecorded(r):
        return None
    settings = r.inputs if r.type == EKS_CLUSTER_COMPONENT else one(r.get("vpcConfig"))
    return None if is_unknown(settings) else settings


def _eks_endpoint_not_open(r: Resource, tier: str) -> Iterator[str]:
    settings = _eks_endpoint_settings(r)
    if settings is None:
        return
    # EKS defaults: public endpoint on, private endpoint off, public CIDRs 0.0.0.0/0.
    if flag(settings.get("endpointPrivateAccess"), default=False) is False:
        yield "set endpointPrivateAccess: true so nodes and operators reach the API inside the VPC"
    if not flag(settings.get("endpointPublicAccess"), default=True):
        return
    cidrs = settings.get("publicAccessCidrs")
    if is_unknown(cidrs):
        return
    if not cidrs:
        yield "the public endpoint is open to 0.0.0.0/0 (publicAccessCidrs unset): set endpointPublicAccess: false, or list office/VPN ranges in publicAccessCidrs"
        return
    wide = _wide_cidrs(cidrs, WIDEST_PUBLIC_PREFIX)
    if wide:
        yield f"publicAccessCidrs includes {', '.join(wide)}: set endpointPublicAccess: false, or list only office/VPN ranges (/{WIDEST_PUBLIC_PREFIX} or narrower)"


def _eks_secrets_encryption(r: Resource, tier: str) -> Iterator[str]:
    if _component_unrecorded(r):
        return
    if r.type == EKS_CLUSTER_COMPONENT:
        if not is_set(r.get("encryptionConfigKeyArn")):
            yield "set encryptionConfigKeyArn to the platform's KMS key (envelope encryption of Kubernetes secrets)"
        return
    config = one(r.get("encryptionConfig"))
    if is_unknown(config):
        return
    resources = config.get("resources")
    if not is_unknown(resources) and "secrets" not in (resources or []):
        yield 'set encryptionConfig.resources: ["secrets"]'
    provider = one(config.get("provider"))
    if not is_unknown(provider) and not is_set(provider.get("keyArn")):
        yield "set encryptionConfig.provider.keyArn to the platform's KMS key"


def _cluster_scope_admin(policy_arn: Any, scope: Any) -> bool:
    """AmazonEKSClusterAdminPolicy anywhere, or AmazonEKSAdminPolicy over the whole cluster."""
    name = str(policy_arn).rsplit("/", 1)[-1]
    scope_type = (one(scope) or {}).get("type") if isinstance(one(scope), Mapping) else None
    return name == "AmazonEKSClusterAdminPolicy" or (name == "AmazonEKSAdminPolicy" and scope_type == "cluster")


def _eks_cluster_admin_teams(resources: Sequence[Resource], tier: str) -> Iterator[tuple[str, str]]:
    """Cluster-scope admin only for entries tagged as devops, break_glass or CI's deploy role."""
    access = {}
    for r in resources:
        if r.type != EKS_ACCESS_ENTRY:
            continue
        if "system:masters" in (r.get("kubernetesGroups") or []):
            yield r.urn, "remove system:masters from kubernetesGroups: it is cluster-admin outside every access policy"
        tags = decoded(r.get("tags"))
        principal = r.get("principalArn")
        if isinstance(principal, str) and not is_unknown(principal):
            access[principal] = tags.get(ACCESS_TAG) if isinstance(tags, Mapping) else None
    allowed = ", ".join(CLUSTER_ADMIN_ACCESS)
    for r in resources:
        grants: list[tuple[str, Any, Any, Any]] = []
        if r.type == EKS_ACCESS_POLICY:
            grants = [("", r.get("principalArn"), r.get("policyArn"), r.get("accessScope"))]
        elif r.type == EKS_CLUSTER_COMPONENT:
            entries = r.get("accessEntries") or {}
            for key, entry in (entries.items() if isinstance(entries, Mapping) else ()):
                for policy in ((entry or {}).get("accessPolicies") or {}).values():
                    grants.append((f"accessEntries.{key}: ", entry.get("principalArn"), policy.get("policyArn"), policy.get("accessScope")))
        for where, principal, policy_arn, scope in grants:
            if not _cluster_scope_admin(policy_arn, scope):
                continue
            team = access.get(principal) if isinstance(principal, str) else None
            if team not in CLUSTER_ADMIN_ACCESS:
                yield r.urn, (
                    f"{where}{principal if isinstance(principal, str) and not is_unknown(principal) else 'an unknown principal'} holds cluster-scope admin without an access entry "
                    f"tagged {ACCESS_TAG} = {allowed} ({team or 'untagged'}); give it view, edit or admin on namespaces"
                )


def _eks_audit_logs(r: Resource, tier: str) -> Iterator[str]:
    types = r.get("enabledClusterLogTypes")
    if _component_unrecorded(r) or is_unknown(types):
        return
    missing = [t for t in EKS_REQUIRED_LOG_TYPES if t not in (types or [])]
    if missing:
        yield f"add {', '.join(missing)} to enabledClusterLogTypes (the control-plane audit trail)"


def _eks_nodes_launch_template(r: Resource, tier: str) -> Iterator[str]:
    if _component_unrecorded(r):
        return
    template = one(r.get("launchTemplate"))
    if not is_unknown(template) and not (is_set(template.get("id")) or is_set(template.get("name"))):
        yield "set launchTemplate to the platform's node launch template (IMDSv2, encrypted volumes); without it nodes get EKS defaults"


def _launch_template_imdsv2(r: Resource, tier: str) -> Iterator[str]:
    options = one(r.get("metadataOptions"))
    if is_unknown(options) or options.get("httpEndpoint") == "disabled":
        return  # unknown, or no metadata service at all: nothing to steal credentials from
    tokens = options.get("httpTokens")
    if not is_unknown(tokens) and tokens != "required":
        yield "set metadataOptions.httpTokens: required (IMDSv2 only)"
    hops = number(options.get("httpPutResponseHopLimit"))
    if hops is not None and hops > 2:
        yield f"set metadataOptions.httpPutResponseHopLimit to 1 (2 only if pods must reach IMDS; now {_fmt(hops)})"


def _launch_template_ebs_encrypted(r: Resource, tier: str) -> Iterator[str]:
    mappings = r.get("blockDeviceMappings")
    if is_unknown(mappings):
        return
    volumes = [m for m in (mappings or []) if isinstance(m, Mapping) and m.get("ebs")]
    if not volumes:
        yield "declare the root volume in blockDeviceMappings with ebs.encrypted: true and ebs.kmsKeyId (the AMI's default volume is not)"
    for mapping in volumes:
        ebs, device = one(mapping["ebs"]), mapping.get("deviceName") or "volume"
        if is_unknown(ebs):
            continue
        if flag(ebs.get("encrypted")) is False:
            yield f"set blockDeviceMappings[{device}].ebs.encrypted: true"
        if not is_set(ebs.get("kmsKeyId")):
            yield f"set blockDeviceMappings[{device}].ebs.kmsKeyId to the platform's KMS key"


def _launch_template_no_public_ip(r: Resource, tier: str) -> Iterator[str]:
    interfaces = r.get("networkInterfaces")
    if is_unknown(interfaces):
        return
    for i, interface in enumerate(interfaces or []):
        if isinstance(interface, Mapping) and flag(interface.get("associatePublicIpAddress")):
            yield f"set networkInterfaces[{i}].associatePublicIpAddress: false (nodes live in private subnets)"


# ---------------------------------------------------------------------------- network


def _subnet_no_public_ip(r: Resource, tier: str) -> Iterator[str]:
    if flag(r.get("mapPublicIpOnLaunch")):
        yield "set mapPublicIpOnLaunch: false (load balancers and NAT gateways get their public addresses explicitly)"


def _world_ingress(where: str, sources: Iterable[Any], protocol: Any, from_port: Any, to_port: Any) -> Iterator[str]:
    world = _wide_cidrs(sources, 1)  # prefix length 0: 0.0.0.0/0 or ::/0
    if not world or any(is_unknown(v) for v in (protocol, from_port, to_port)):
        return
    proto = str(protocol).lower() if protocol is not None else ""
    low, high = number(from_port), number(to_port)
    if proto in ("tcp", "6") and low is not None and low == high and int(low) in WEB_PORTS:
        return
    ports = "all traffic" if proto in ("-1", "all", "") else f"{proto} {_fmt(low)}" + ("" if low == high else f"-{_fmt(high)}")
    yield (
        f"{where} from {', '.join(world)} allows {ports}: open the world only to tcp 80/443 (the load balancer); "
        "use a security group or a known CIDR as the source"
    )


def _sg_no_world_ingress(r: Resource, tier: str) -> Iterator[str]:
    if r.type == SECURITY_GROUP:
        rules = r.get("ingress")
        for i, rule in enumerate([] if is_unknown(rules) else rules or []):
            if isinstance(rule, Mapping):
                sources = [*(rule.get("cidrBlocks") or []), *(rule.get("ipv6CidrBlocks") or [])]
                yield from _world_ingress(f"ingress[{i}]", sources, rule.get("protocol"), rule.get("fromPort"), rule.get("toPort"))
    elif r.type == SG_INGRESS_RULE:
        sources = [r.get("cidrIpv4"), r.get("cidrIpv6")]
        yield from _world_ingress("ingress", sources, r.get("ipProtocol"), r.get("fromPort"), r.get("toPort"))
    elif r.type == SG_RULE and r.get("type") == "ingress":
        sources = [*(r.get("cidrBlocks") or []), *(r.get("ipv6CidrBlocks") or [])]
        yield from _world_ingress("ingress", sources, r.get("protocol"), r.get("fromPort"), r.get("toPort"))


def _vpc_cidrs(resources: Sequence[Resource]) -> list[Any]:
    """The known CIDR blocks of the stack's VPCs (an unknown one is left out)."""
    return [net for vpc in resources if vpc.type == VPC for _, net in _networks((vpc.get("cidrBlock"), vpc.get("ipv6CidrBlock")))]


def _outside(sources: Iterable[Any], vpcs: Sequence[Any]) -> list[str]:
    """The CIDR sources not inside one of `vpcs` (wider than the VPC counts as outside)."""
    return [value for value, net in _networks(sources) if not any(net.version == vpc.version and net.subnet_of(vpc) for vpc in vpcs)]


def _opens_ssh(protocol: Any, from_port: Any, to_port: Any) -> bool | None:
    """Whether a rule admits tcp 22: all protocols, or tcp with 22 in its range; None when unknown."""
    if any(is_unknown(v) for v in (protocol, from_port, to_port)):
        return None
    proto = str(protocol).lower() if protocol is not None else ""
    if proto in ("-1", "all"):
        return True
    if proto not in ("tcp", "6"):
        return False
    low, high = number(from_port), number(to_port)
    return low is not None and high is not None and low <= SSH_PORT <= high


def _ingress_sources(r: Resource) -> Iterator[tuple[str, list[Any], Any, Any, Any]]:
    """(where, CIDR sources, protocol, from, to) of every ingress rule a resource carries."""
    if r.type == SECURITY_GROUP:
        rules = r.get("ingress")
        for i, rule in enumerate([] if is_unknown(rules) else rules or []):
            if isinstance(rule, Mapping):
                yield f"ingress[{i}]", [*(rule.get("cidrBlocks") or []), *(rule.get("ipv6CidrBlocks") or [])], rule.get("protocol"), rule.get("fromPort"), rule.get("toPort")
    elif r.type == SG_INGRESS_RULE:
        yield "ingress", [r.get("cidrIpv4"), r.get("cidrIpv6")], r.get("ipProtocol"), r.get("fromPort"), r.get("toPort")
    elif r.type == SG_RULE and r.get("type") == "ingress":
        yield "ingress", [*(r.get("cidrBlocks") or []), *(r.get("ipv6CidrBlocks") or [])], r.get("protocol"), r.get("fromPort"), r.get("toPort")


def _no_ssh(resources: Sequence[Resource], tier: str) -> Iterator[tuple[str, str]]:
    """Nodes are reached through SSM Session Manager only: no SSH key, no way in on port 22.

    A rule from a security group (not a CIDR) is a source inside the platform; a CIDR counts
    as outside unless it lies within one of the stack's VPCs (with no VPC known, every CIDR
    is outside)."""
    vpcs = _vpc_cidrs(resources)
    for r in resources:
        if r.type in (EKS_NODE_GROUP_COMPONENT, EKS_NODE_GROUP) and is_set(r.get("remoteAccess")):
            yield r.urn, "remove remoteAccess: SSH into nodes bypasses the cluster's access control and its audit (use SSM Session Manager)"
        elif r.type == LAUNCH_TEMPLATE and is_set(r.get("keyName")):
            yield r.urn, "remove keyName: nodes carry no EC2 key pair (break-glass access is SSM Session Manager, logged)"
        for where, sources, protocol, from_port, to_port in _ingress_sources(r):
            outside = _outside(sources, vpcs)
            if outside and _opens_ssh(protocol, from_port, to_port):
                ports = "all traffic" if str(protocol).lower() in ("-1", "all") else f"tcp {_fmt(from_port)}-{_fmt(to_port)}"
                yield r.urn, f"{where} admits {ports} (SSH) from {', '.join(outside)}, outside the VPC: remove it (nodes are reached through SSM Session Manager)"


def _configures(resources: Sequence[Resource], types: Sequence[str], bucket: Resource) -> list[Resource]:
    return [r for r in resources if r.type in types and r.refers_to("bucket", bucket)]


def _s3_encrypted(resources: Sequence[Resource], tier: str) -> Iterator[tuple[str, str]]:
    for bucket in (r for r in resources if r.type in S3_BUCKETS):
        configs = _configures(resources, S3_ENCRYPTION, bucket)
        if not configs:
            yield bucket.urn, "add an aws.s3.BucketServerSideEncryptionConfiguration for this bucket: sseAlgorithm aws:kms with kmsMasterKeyId the platform's KMS key"
        for config in configs:
            rules = config.get("rules")
            if is_unknown(rules):
                continue
            defaults = [one(rule.get("applyServerSideEncryptionByDefault")) for rule in rules or [] if isinstance(rule, Mapping)]
            if not any(is_unknown(d) or (str(d.get("sseAlgorithm", "")).startswith("aws:kms") and is_set(d.get("kmsMasterKeyId"))) for d in defaults):
                yield config.urn, "set rules[0].applyServerSideEncryptionByDefault to sseAlgorithm aws:kms with kmsMasterKeyId the platform's KMS key (SSE-KMS)"


def _s3_public_access_block(resources: Sequence[Resource], tier: str) -> Iterator[tuple[str, str]]:
    for bucket in (r for r in resources if r.type in S3_BUCKETS):
        blocks = _configures(resources, S3_PUBLIC_ACCESS_BLOCK, bucket)
        if not blocks:
            yield bucket.urn, f"add an aws.s3.BucketPublicAccessBlock for this bucket with {', '.join(S3_PUBLIC_ACCESS_SETTINGS)} all true"
        for block in blocks:
            off = [key for key in S3_PUBLIC_ACCESS_SETTINGS if flag(block.get(key)) is False]
            if off:
                yield block.urn, f"set {', '.join(off)}: true (absent means false)"


def _denies_plain_http(policy: Any) -> bool | None:
    """Whether a bucket policy denies requests without TLS (aws:SecureTransport false); None when unknown."""
    document = decoded(policy)
    if is_unknown(policy) or policy == SECRET:
        return None
    if not isinstance(document, Mapping):
        return False
    statements = document.get("Statement")
    statements = [statements] if isinstance(statements, Mapping) else statements or []
    for statement in statements:
        if not isinstance(statement, Mapping) or statement.get("Effect") != "Deny":
            continue
        condition = (statement.get("Condition") or {}).get("Bool") or {}
        if str(condition.get("aws:SecureTransport", "")).lower() == "false":
            return True
    return False


def _s3_tls_only(resources: Sequence[Resource], tier: str) -> Iterator[tuple[str, str]]:
    for bucket in (r for r in resources if r.type in S3_BUCKETS):
        policies = _configures(resources, S3_POLICY, bucket)
        if not any(_denies_plain_http(p.get("policy")) is not False for p in policies):
            yield bucket.urn, 'add to its aws.s3.BucketPolicy a statement that denies "s3:*" to "*" when aws:SecureTransport is "false"'


def _s3_versioning(resources: Sequence[Resource], tier: str) -> Iterator[tuple[str, str]]:
    for bucket in (r for r in resources if r.type in S3_BUCKETS):
        statuses = [one(v.get("versioningConfiguration")) for v in _configures(resources, S3_VERSIONING, bucket)]
        if not any(is_unknown(s) or s.get("status") == "Enabled" or is_unknown(s.get("status")) for s in statuses):
            yield bucket.urn, "add an aws.s3.BucketVersioning for this bucket with versioningConfiguration.status Enabled"


def _vpc_flow_logs(resources: Sequence[Resource], tier: str) -> Iterator[tuple[str, str]]:
    logs = [r for r in resources if r.type == FLOW_LOG and (is_unknown(r.get("trafficType")) or r.get("trafficType") in ("ALL", "REJECT"))]
    for vpc in (r for r in resources if r.type == VPC):
        if not any(log.refers_to("vpcId", vpc) for log in logs):
            yield vpc.urn, "add an aws.ec2.FlowLog with vpcId set to this VPC and trafficType ALL (or REJECT)"


def _default_sg_closed(resources: Sequence[Resource], tier: str) -> Iterator[tuple[str, str]]:
    adopted = [r for r in resources if r.type == DEFAULT_SG]
    for sg in adopted:
        open_rules = [key for key in ("ingress", "egress") if is_set(sg.get(key)) and not is_unknown(sg.get(key))]
        if open_rules:
            yield sg.urn, f"remove every {' and '.join(open_rules)} rule: the default security group must allow nothing"
    for vpc in (r for r in resources if r.type == VPC):
        if not any(sg.refers_to("vpcId", vpc) for sg in adopted):
            yield vpc.urn, "adopt this VPC's default security group with aws.ec2.DefaultSecurityGroup(vpc_id=..., no ingress, no egress)"


# ---------------------------------------------------------------------------- keys, secrets, logs, tags, options


def _kms_rotation(r: Resource, tier: str) -> Iterator[str]:
    spec = r.get("customerMasterKeySpec") or r.get("keySpec")
    if is_set(spec) and spec != "SYMMETRIC_DEFAULT":
        return  # only symmetric keys can rotate automatically
    if flag(r.get("enableKeyRotation")) is False:
        yield "set enableKeyRotation: true"


def _secret_cmk(r: Resource, tier: str) -> Iterator[str]:
    if not is_set(r.get("kmsKeyId")):
        yield "set kmsKeyId to the platform's KMS key (the AWS-managed aws/secretsmanager key cannot be scoped per environment)"


def _sns_topic_cmk(r: Resource, tier: str) -> Iterator[str]:
    key = r.get("kmsMasterKeyId")
    if not is_set(key):
        yield "set kmsMasterKeyId to the platform's KMS key (alerts and their contents are encrypted at rest)"
    elif key == SNS_AWS_MANAGED_KEY:
        yield f"set kmsMasterKeyId to the platform's KMS key, not {SNS_AWS_MANAGED_KEY}: CloudWatch alarms cannot publish to a topic encrypted with it"


def _log_retention(r: Resource, tier: str) -> Iterator[str]:
    value = r.get("retentionInDays")
    if not is_unknown(value) and not number(value):
        yield "set retentionInDays (without it the logs, and their cost, are kept forever)"


def _required_tags(r: Resource, tier: str) -> Iterator[str]:
    if r.type == AWS_PROVIDER:
        tags = provider_default_tags(r.inputs)
        missing = [k for k in REQUIRED_TAGS if not is_set(tags.get(k))]
        if missing:
            yield f"add {', '.join(missing)} to defaultTags.tags so every AWS resource carries them"
        managed_by = tags.get("ManagedBy")
        if is_set(managed_by) and not is_unknown(managed_by) and managed_by != "pulumi":
            yield f'set defaultTags.tags.ManagedBy to "pulumi" (now {managed_by!r})'
        return
    # The provider's default tags put the required tags on every resource (default providers
    # are disabled); a resource may only break that by overriding one with another value.
    defaults = provider_default_tags(r.provider_inputs)
    own = decoded(r.get("tags"))
    if not isinstance(own, Mapping):
        return
    for key in REQUIRED_TAGS:
        mine, default = own.get(key), defaults.get(key)
        if is_set(mine) and is_set(default) and not is_unknown(mine) and not is_unknown(default) and mine != default:
            yield f"remove tags.{key} = {mine!r}: it overrides the provider's default tag {default!r}"


def _stateful_protected(r: Resource, tier: str) -> Iterator[str]:
    if r.type == RDS_INSTANCE and _is_replica(r):
        return  # a replica holds no data its primary lacks
    # retain_on_delete None: the source cannot see it (CrossGuard), so only protect is judged.
    missing = [option for option, ok in (("protect=True", r.protect), ("retain_on_delete=True", r.retain_on_delete is not False)) if not ok]
    if missing:
        yield (
            f"set {' and '.join(missing)} in its resource options "
            "(protected: no `pulumi up` or `destroy` may delete or replace it; retained: if it leaves the program, it stays in AWS)"
        )


# ---------------------------------------------------------------------------- the table


Check = Callable[[Resource, str], Iterable[str]]
StackCheck = Callable[[Sequence[Resource], str], Iterable[tuple[str, str]]]


@dataclass(frozen=True)
class Rule:
    """A rule: enforcement per tier (development, staging, production) and one check.

    A check looks at one resource of `types` and says what to change; a `whole_stack` check
    looks at every resource and names the one it blames: (urn, what to change). `types`
    entries ending in "*" are prefixes.
    """

    id: str
    levels: tuple[str, str, str]
    types: tuple[str, ...]
    check: Check | StackCheck
    description: str
    whole_stack: bool = False

    def level(self, tier: str) -> str:
        return self.levels[TIERS.index(tier)]

    def applies_to(self, resource_type: str) -> bool:
        return any(resource_type == t or (t.endswith("*") and resource_type.startswith(t[:-1])) for t in self.types)

    def findings(self, resources: Sequence[Resource], tier: str) -> list[tuple[str, str]]:
        """(urn, what to change) for every violation, whatever the tier's enforcement."""
        if self.whole_stack:
            return list(self.check(resources, tier))  # type: ignore[arg-type]
        return [(r.urn, message) for r in resources if self.applies_to(r.type) for message in self.check(r, tier)]  # type: ignore[arg-type]


# M: mandatory (blocks), A: advisory (shown), X: off, per tier; why each level is what it is
# is in the module docstring. The FSBP / CIS / Checkov ids are in reference/security-controls.md.
RULES: tuple[Rule, ...] = (
    # id                                   dev stg prod applies to                                       check
    #     what it asks for
    Rule("rds-storage-encrypted",         (M, M, M), (RDS_INSTANCE,),                                 _rds_storage_encrypted,
         "RDS storage is encrypted with the platform's KMS key (FSBP RDS.3)"),
    Rule("rds-not-public",                (M, M, M), (RDS_INSTANCE,),                                 _rds_not_public,
         "RDS instances are not publicly accessible (FSBP RDS.2)"),
    Rule("rds-force-ssl",                 (M, M, M), (RDS_INSTANCE, RDS_PARAMETER_GROUP),             _rds_force_ssl,
         "PostgreSQL requires TLS: rds.force_ssl = 1 in the instance's parameter group (CKV2_AWS_69)"),
    Rule("rds-backup-retention",          (M, M, M), (RDS_INSTANCE,),                                 _rds_backup_retention,
         "Automated backups kept 1 / 7 / 30 days in development / staging / production (FSBP RDS.11)"),
    Rule("rds-multi-az",                  (A, A, M), (RDS_INSTANCE,),                                 _rds_multi_az,
         "The primary database is Multi-AZ (FSBP RDS.5)"),
    Rule("rds-deletion-protection",       (X, A, M), (RDS_INSTANCE,),                                 _rds_deletion_protection,
         "The primary database has deletion protection (FSBP RDS.8)"),
    Rule("rds-final-snapshot",            (X, M, M), (RDS_INSTANCE,),                                 _rds_final_snapshot,
         "Deleting the primary database takes a final snapshot"),
    Rule("rds-iam-auth",                  (A, A, M), (RDS_INSTANCE,),                                 _rds_iam_auth,
         "IAM database authentication is enabled (FSBP RDS.10)"),
    Rule("rds-log-exports",               (A, A, M), (RDS_INSTANCE,),                                 _rds_log_exports,
         "PostgreSQL logs are exported to CloudWatch Logs (FSBP RDS.9 / RDS.36)"),
    Rule("elasticache-at-rest",           (M, M, M), (CACHE_GROUP,),                                  _cache_at_rest,
         "Redis is encrypted at rest with the platform's KMS key (FSBP ElastiCache.4)"),
    Rule("elasticache-in-transit",        (M, M, M), (CACHE_GROUP,),                                  _cache_in_transit,
         "Redis requires TLS (FSBP ElastiCache.5)"),
    Rule("elasticache-auth",              (M, M, M), (CACHE_GROUP,),                                  _cache_auth,
         "Redis requires AUTH or RBAC users (FSBP ElastiCache.6)"),
    Rule("elasticache-subnet-group",      (M, M, M), (CACHE_GROUP,),                                  _cache_subnet_group,
         "Redis runs in the platform's isolated subnet group, not the default (FSBP ElastiCache.7)"),
    Rule("elasticache-failover",          (M, M, M), (CACHE_GROUP,),                                  _cache_failover,
         "Redis with replicas fails over automatically; production runs at least 2 nodes (FSBP ElastiCache.3)"),
    Rule("elasticache-multi-az",          (A, A, M), (CACHE_GROUP,),                                  _cache_multi_az,
         "Redis replicas run in another AZ"),
    Rule("elasticache-snapshots",         (A, A, M), (CACHE_GROUP,),                                  _cache_snapshots,
         "Redis takes daily automatic snapshots (FSBP ElastiCache.1)"),
    Rule("elasticache-final-snapshot",    (X, M, M), (CACHE_GROUP,),                                  _cache_final_snapshot,
         "Deleting the Redis group takes a final snapshot"),
    Rule("eks-endpoint-not-open",         (M, M, M), (EKS_CLUSTER_COMPONENT, EKS_CLUSTER),            _eks_endpoint_not_open,
         "The EKS API endpoint is private, public only for an allowlist (never 0.0.0.0/0) (CIS EKS 5.4.1)"),
    Rule("eks-secrets-encryption",        (M, M, M), (EKS_CLUSTER_COMPONENT, EKS_CLUSTER),            _eks_secrets_encryption,
         "Kubernetes secrets are envelope-encrypted with the platform's KMS key (FSBP EKS.3)"),
    Rule("eks-audit-logs",                (M, M, M), (EKS_CLUSTER_COMPONENT, EKS_CLUSTER),            _eks_audit_logs,
         "The control plane logs api, audit and authenticator (FSBP EKS.8, CIS EKS 2.1.1)"),
    Rule("eks-cluster-admin-teams",       (A, A, M), (EKS_ACCESS_POLICY, EKS_ACCESS_ENTRY, EKS_CLUSTER_COMPONENT), _eks_cluster_admin_teams,
         "Only the devops and break-glass teams (and CI's deploy role) hold cluster-scope admin; no system:masters (the seed's Access Control)",
         whole_stack=True),
    Rule("eks-nodes-launch-template",     (M, M, M), (EKS_NODE_GROUP_COMPONENT, EKS_NODE_GROUP),      _eks_nodes_launch_template,
         "Managed node groups use the platform launch template"),
    Rule("no-ssh",                        (M, M, M), (EKS_NODE_GROUP_COMPONENT, EKS_NODE_GROUP, LAUNCH_TEMPLATE, VPC,
                                                      SECURITY_GROUP, SG_INGRESS_RULE, SG_RULE),                _no_ssh,
         "No SSH onto nodes: no node group remoteAccess, no launch template keyName, no ingress to tcp 22 (or all ports) "
         "from outside the VPC (CKV_AWS_100, EC2.13)", whole_stack=True),
    Rule("launch-template-imdsv2",        (M, M, M), (LAUNCH_TEMPLATE,),                              _launch_template_imdsv2,
         "Nodes require IMDSv2 (FSBP EC2.170, EC2.8)"),
    Rule("launch-template-ebs-encrypted", (M, M, M), (LAUNCH_TEMPLATE,),                              _launch_template_ebs_encrypted,
         "Node volumes are encrypted with the platform's KMS key (FSBP EC2.181)"),
    Rule("launch-template-no-public-ip",  (M, M, M), (LAUNCH_TEMPLATE,),                              _launch_template_no_public_ip,
         "Nodes get no public IP (FSBP EC2.25)"),
    Rule("vpc-flow-logs",                 (M, M, M), (VPC, FLOW_LOG),                                 _vpc_flow_logs,
         "Every VPC has flow logs (FSBP EC2.6)", whole_stack=True),
    Rule("default-sg-closed",             (M, M, M), (VPC, DEFAULT_SG),                               _default_sg_closed,
         "Every VPC's default security group allows nothing (FSBP EC2.2)", whole_stack=True),
    Rule("subnet-no-public-ip",           (M, M, M), (SUBNET,),                                       _subnet_no_public_ip,
         "No subnet assigns public IPs on launch (FSBP EC2.15)"),
    Rule("sg-no-world-ingress",           (M, M, M), (SECURITY_GROUP, SG_INGRESS_RULE, SG_RULE),      _sg_no_world_ingress,
         "No ingress from 0.0.0.0/0 or ::/0 except tcp 80/443 (FSBP EC2.18, EC2.19)"),
    Rule("s3-encrypted",                  (M, M, M), (*S3_BUCKETS, *S3_ENCRYPTION),                  _s3_encrypted,
         "S3 buckets are encrypted with the platform's KMS key by default (SSE-KMS) (CKV_AWS_145)", whole_stack=True),
    Rule("s3-public-access-block",        (M, M, M), (*S3_BUCKETS, *S3_PUBLIC_ACCESS_BLOCK),         _s3_public_access_block,
         "S3 buckets block public access, all four settings (FSBP S3.8)", whole_stack=True),
    Rule("s3-tls-only",                   (M, M, M), (*S3_BUCKETS, *S3_POLICY),                      _s3_tls_only,
         "S3 bucket policies deny requests without TLS (FSBP S3.5)", whole_stack=True),
    Rule("s3-versioning",                 (M, M, M), (*S3_BUCKETS, *S3_VERSIONING),                  _s3_versioning,
         "S3 buckets keep object versions (CKV_AWS_21)", whole_stack=True),
    Rule("kms-rotation",                  (A, A, M), (KMS_KEY,),                                      _kms_rotation,
         "Customer-managed KMS keys rotate yearly (KMS.4, CKV_AWS_7)"),
    Rule("secret-cmk",                    (M, M, M), (SM_SECRET,),                                    _secret_cmk,
         "Secrets Manager secrets are encrypted with the platform's KMS key (CKV_AWS_149)"),
    Rule("sns-topic-cmk",                 (M, M, M), (SNS_TOPIC,),                                    _sns_topic_cmk,
         "SNS topics are encrypted with a customer-managed KMS key (the AWS-managed aws/sns key cannot let CloudWatch alarms publish)"),
    Rule("log-retention",                 (M, M, M), (LOG_GROUP,),                                    _log_retention,
         "Log groups have a retention period (CKV_AWS_66)"),
    Rule("required-tags",                 (M, M, M), (AWS_PROVIDER, "aws:*"),                         _required_tags,
         "Every AWS resource carries Project, Environment and ManagedBy=pulumi via the provider's default tags"),
    Rule("stateful-protected",            (X, A, M), (RDS_INSTANCE, CACHE_GROUP, KMS_KEY, SM_SECRET), _stateful_protected,
         "Databases, caches, keys and secrets are Pulumi-protected and retained on delete"),
)
# The cloud constraints (policy/constraints.py): API rules AWS enforces only at deploy time,
# each with its source; mandatory in every tier. Imported here so that every front end runs them.
if __package__:
    from .constraints import CONSTRAINTS
else:  # the pack runs this directory as a script
    from constraints import CONSTRAINTS  # type: ignore[no-redef]
RULES += CONSTRAINTS
RULES_BY_ID = {rule.id: rule for rule in RULES}
assert len(RULES_BY_ID) == len(RULES), "rule ids must be unique"


@dataclass(frozen=True)
class Violation:
    level: str
    rule: str
    urn: str
    message: str


def evaluate(resources: Sequence[Resource], tier: str, rules: Sequence[Rule] = RULES) -> list[Violation]:
    """Every violation of every rule that is not off in `tier`: mandatory first, then by rule and URN."""
    out = [
        Violation(rule.level(tier), rule.id, urn, message)
        for rule in rules
        if rule.level(tier) != OFF
        for urn, message in rule.findings(resources, tier)
    ]
    return sorted(out, key=lambda v: (v.level != MANDATORY, v.rule, v.urn))
