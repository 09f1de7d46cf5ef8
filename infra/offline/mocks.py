"""The one mocks harness: a fake engine for running the real program with no cloud.

Shared by the offline plan and the tests. It provides:
- `PlatformMocks`: realistic, deterministic ids, ARNs and endpoints per resource family
  (the same logical name always gets the same id, so plans diff cleanly), in the region of
  the provider a resource is made through (a stack's `aws-us-east-1` beside `aws`), and
  answers to the provider functions the program calls (AZs, caller identity, IAM policy
  documents, secret versions, the load balancer the controller made, the EKS kubeconfig
  method);
- `RecordingMonitor`: a `MockMonitor` that keeps the whole registration request of every
  resource (parent, dependencies, provider, protect, retainOnDelete, ignoreChanges, ...),
  which `Mocks.new_resource` never sees, and works around the `pulumi_eks` remote-component
  pitfalls (resource references disabled, `Call` forwarded to `Mocks.call`);
- `EngineRules`: what the Pulumi engine itself refuses at registration and the SDK's mocks
  let through (duplicate URNs, disabled default providers, unknown providers, malformed
  URNs, type tokens, timeouts, property paths), raised as `EngineError` with the engine's
  message (docs/offline-engine.md).

Nothing here is imported by a component: the program does not know it runs under mocks.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any

import pulumi
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc
from pulumi.runtime.proto import provider_pb2, resource_pb2
from pulumi.runtime.sync_await import _ensure_event_loop, _sync_await

from infra.offline.errors import EngineError

ACCOUNT_ID = "123456789012"


def _hex(seed: str, length: int) -> str:
    return hashlib.sha256(seed.encode()).hexdigest()[:length]


def _uuid(seed: str) -> str:
    return str(uuid.UUID(_hex(seed, 32)))


def _suffix(seed: str) -> str:
    """Pulumi's autoname suffix: 7 hex characters."""
    return _hex("auto" + seed, 7)


@dataclass
class Registration:
    """Everything the engine was told about one resource."""

    urn: str
    type: str
    name: str
    custom: bool
    parent: str
    provider: str
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    id: str
    dependencies: list[str]
    property_dependencies: dict[str, list[str]]
    protect: bool
    retain_on_delete: bool
    ignore_changes: list[str]
    delete_before_replace: bool
    additional_secret_outputs: list[str]
    aliases: list[str]
    # The replaceOnChanges option: input paths whose change replaces the resource.
    replace_on_changes: list[str] = field(default_factory=list)


@dataclass
class PlatformMocks(pulumi.runtime.Mocks):
    region: str = "us-east-1"
    account_id: str = ACCOUNT_ID
    # The Cloudflare zones the API token can read: zone id -> zone name. The harness fills it
    # from the stack file (the zone a user configured exists and is the domain's).
    cloudflare_zones: dict[str, str] = field(default_factory=dict)
    # Stacks a `pulumi.StackReference` may read: fully qualified name -> {"outputs": {name:
    # value}, "secret_names": [...]}, e.g. a dev plan's outputs for the review program.
    stack_references: dict[str, dict[str, Any]] = field(default_factory=dict)
    # What Secrets Manager holds: secret ARN -> SecretString (another run's SecretVersions).
    secret_values: dict[str, str] = field(default_factory=dict)
    # The region of each explicit aws provider, by its id (a stack's `aws-us-east-1` beside
    # `aws`), and the region of the resource or call being answered, per thread (the SDK
    # registers from a thread pool): ARNs name the region the resource is really in.
    provider_regions: dict[str, str] = field(default_factory=dict)
    _here: threading.local = field(default_factory=threading.local, repr=False, compare=False)

    # ------------------------------------------------------------------ resources

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        inputs = dict(args.inputs)
        name = args.name
        typ = args.typ
        physical = _physical_name(typ, name, inputs)
        if typ == "pulumi:providers:aws":
            allowed = _decoded_list(inputs.get("allowedAccountIds"))
            if allowed and self.account_id not in allowed:
                # terraform-provider-aws refuses at configure time, before any resource (its
                # config check of allowed_account_ids; "AWS account ID not allowed: <id>").
                raise Exception(f"AWS account ID not allowed: {self.account_id}")
            rid = f"{name}-{_hex(typ + name, 8)}"
            if inputs.get("region"):
                self.provider_regions[rid] = str(inputs["region"])
            return rid, inputs
        if typ == "pulumi:pulumi:StackReference":
            return self._stack_reference(str(inputs.get("name") or args.resource_id or name))
        family = _FAMILIES.get(typ)
        if family is None:
            rid = f"{name}-{_hex(typ + name, 8)}" if args.custom else ""
            return rid, inputs
        # pulumi_aws 7's per-resource `region` argument, else its provider's region.
        self._here.region = inputs.get("region") if isinstance(inputs.get("region"), str) else self._provider_region(args.provider)
        try:
            rid, extra = family(self, name, physical, inputs)
        finally:
            self._here.region = None
        return rid, {**inputs, **extra}

    def _provider_region(self, reference: str | None) -> str | None:
        """The region of the provider a reference (`<urn>::<id>`) names; None: the default."""
        return self.provider_regions.get((reference or "").rsplit("::", 1)[-1]) if reference else None

    @property
    def current_region(self) -> str:
        return getattr(self._here, "region", None) or self.region

    def _stack_reference(self, stack: str) -> tuple[str, dict[str, Any]]:
        """A StackReference is read, not created: its id is the stack's name, its state the
        stack's outputs and which of them are secret (sdk/python/lib/pulumi/stack_reference.py)."""
        ref = self.stack_references.get(stack)
        if ref is None:
            known = ", ".join(sorted(self.stack_references)) or "none"
            raise Exception(f"unknown stack {stack!r} (stack references the offline run was given: {known})")
        return stack, {"name": stack, "outputs": dict(ref.get("outputs") or {}), "secretOutputNames": list(ref.get("secret_names") or [])}

    def arn(self, service: str, resource: str, *, region: bool = True, account: bool = True) -> str:
        return f"arn:aws:{service}:{self.current_region if region else ''}:{self.account_id if account else ''}:{resource}"

    # ------------------------------------------------------------------ functions

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        handler = _CALLS.get(args.token)
        if handler is None:
            return {}, []
        self._here.region = self._provider_region(args.provider)
        try:
            return handler(self, dict(args.args)), []
        finally:
            self._here.region = None


def _physical_name(typ: str, name: str, inputs: dict[str, Any]) -> str:
    for key in ("name", "identifier", "replicationGroupId", "clusterName", "functionName", "bucket"):
        value = inputs.get(key)
        if isinstance(value, str) and value:
            return value
    prefix = inputs.get("namePrefix") or inputs.get("identifierPrefix")
    if isinstance(prefix, str):
        return f"{prefix}{_hex(name, 26)}"
    return f"{name}-{_suffix(typ + name)}"


# ---------------------------------------------------------------------- families
# Each returns (id, computed outputs). ids follow AWS's formats: vpc-<17 hex>, subnet-...


def _ec2(prefix: str, arn_kind: str | None = None, **fixed: Any):
    def family(m: PlatformMocks, name: str, physical: str, inputs: dict[str, Any]):
        rid = f"{prefix}-0{_hex(name + prefix, 16)}"
        extra: dict[str, Any] = {"id": rid, **fixed}
        if arn_kind:
            extra["arn"] = m.arn("ec2", f"{arn_kind}/{rid}")
        extra.setdefault("ownerId", m.account_id)
        return rid, extra

    return family


def _vpc(m: PlatformMocks, name: str, physical: str, inputs: dict[str, Any]):
    rid = f"vpc-0{_hex(name, 16)}"
    return rid, {
        "id": rid,
        "arn": m.arn("ec2", f"vpc/{rid}"),
        "defaultSecurityGroupId": f"sg-0{_hex(name + 'default-sg', 16)}",
        "defaultNetworkAclId": f"acl-0{_hex(name + 'acl', 16)}",
        "mainRouteTableId": f"rtb-0{_hex(name + 'main', 16)}",
        "ownerId": m.account_id,
    }


def _eip(m: PlatformMocks, name: str, physical: str, inputs: dict[str, Any]):
    rid = f"eipalloc-0{_hex(name, 16)}"
    # 203.0.113.0/24 is TEST-NET-3: documentation addresses, never routable.
    octet = int(_hex(name, 2), 16) % 254 + 1
    return rid, {"id": rid, "allocationId": rid, "publicIp": f"203.0.113.{octet}", "domain": inputs.get("domain", "vpc")}


def _nat(m: PlatformMocks, name: str, physical: str, inputs: dict[str, Any]):
    rid = f"nat-0{_hex(name, 16)}"
    octet = int(_hex(name + "priv", 2), 16) % 250 + 4
    return rid, {"id": rid, "privateIp": f"10.0.0.{octet}", "networkInterfaceId": f"eni-0{_hex(name, 16)}"}


def _log_group(m: PlatformMocks, name: str, physical: str, inputs: dict[str, Any]):
    return physical, {"name": physical, "arn": m.arn("logs", f"log-group:{physical}")}


def _iam_role(m: PlatformMocks, name: str, physical: str, inputs: dict[str, Any]):
    return physical, {"name": physical, "arn": m.arn("iam", f"role/{physical}", region=False), "uniqueId": "AROA" + _hex(name, 17).upper()}


def _iam_policy(m: PlatformMocks, name: str, physical: str, inputs: dict[str, Any]):
    return m.arn("iam", f"policy/{physical}", region=False), {"name": physical, "arn": m.arn("iam", f"policy/{physical}", region=False)}


def _kms_key(m: PlatformMocks, name: str, physical: str, inputs: dict[str, Any]):
    key_id = _uuid(name)
    return key_id, {"keyId": key_id, "arn": m.arn("kms", f"key/{key_id}")}


def _kms_alias(m: PlatformMocks, name: str, physical: str, inputs: dict[str, Any]):
    return physical, {"arn": m.arn("kms", physical), "targetKeyArn": m.arn("kms", f"key/{inputs.get('targetKeyId', '')}")}


def _rds_instance(m: PlatformMocks, name: str, physical: str, inputs: dict[str, Any]):
    port = int(inputs.get("port") or 5432)
    address = f"{physical}.c{_hex('cluster-id', 11)}.{m.region}.rds.amazonaws.com"
    extra: dict[str, Any] = {
        "identifier": physical,
        "address": address,
        "endpoint": f"{address}:{port}",
        "port": port,
        "arn": m.arn("rds", f"db:{physical}"),
        "resourceId": "db-" + _hex(name, 26).upper(),
        "hostedZoneId": "Z2R2ITUGPM61AM",
    }
    if inputs.get("manageMasterUserPassword"):
        extra["masterUserSecrets"] = [
            {
                "secretArn": m.arn("secretsmanager", f"secret:rds!db-{_uuid(name)}-{_hex(name, 6)}"),
                "kmsKeyId": inputs.get("masterUserSecretKmsKeyId", ""),
                "secretStatus": "active",
            }
        ]
    return physical, extra


def _named_arn(service: str, kind: str):
    def family(m: PlatformMocks, name: str, physical: str, inputs: dict[str, Any]):
        return physical, {"name": physical, "arn": m.arn(service, f"{kind}:{physical}")}

    return family


def _replication_group(m: PlatformMocks, name: str, physical: str, inputs: dict[str, Any]):
    rg = inputs.get("replicationGroupId") or physical
    host = f"{rg}.{_hex('cache', 6)}.ng.0001.use1.cache.amazonaws.com"
    return rg, {
        "replicationGroupId": rg,
        "arn": m.arn("elasticache", f"replicationgroup:{rg}"),
        "primaryEndpointAddress": f"master.{host}",
        "readerEndpointAddress": f"replica.{host}",
        "port": int(inputs.get("port") or 6379),
        "memberClusters": [f"{rg}-{i:03d}" for i in range(1, int(inputs.get("numCacheClusters") or 1) + 1)],
    }


def _secret(m: PlatformMocks, name: str, physical: str, inputs: dict[str, Any]):
    arn = m.arn("secretsmanager", f"secret:{physical}-{_hex(name, 6)}")
    return arn, {"arn": arn, "name": physical}


def _secret_version(m: PlatformMocks, name: str, physical: str, inputs: dict[str, Any]):
    version = _uuid(name + "version")
    return f"{inputs.get('secretId', '')}|{version}", {"versionId": version, "arn": inputs.get("secretId", "")}


def _launch_template(m: PlatformMocks, name: str, physical: str, inputs: dict[str, Any]):
    rid = f"lt-0{_hex(name, 16)}"
    return rid, {"id": rid, "arn": m.arn("ec2", f"launch-template/{rid}"), "latestVersion": 1, "defaultVersion": 1}


def _eks_cluster(m: PlatformMocks, name: str, physical: str, inputs: dict[str, Any]):
    """`eks:index:Cluster` is a remote component: return what the program reads from it."""
    cluster_name = inputs.get("name") or physical
    oidc_id = _hex(name + "oidc", 32).upper()
    endpoint = f"https://{_hex(name, 32).upper()}.gr7.{m.region}.eks.amazonaws.com"
    issuer = f"https://oidc.eks.{m.region}.amazonaws.com/id/{oidc_id}"
    kubeconfig = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": cluster_name, "cluster": {"server": endpoint, "certificate-authority-data": "TU9DSy1DQQ=="}}],
        "contexts": [{"name": cluster_name, "context": {"cluster": cluster_name, "user": cluster_name}}],
        "current-context": cluster_name,
        "users": [
            {
                "name": cluster_name,
                "user": {
                    "exec": {
                        "apiVersion": "client.authentication.k8s.io/v1beta1",
                        "command": "aws",
                        "args": ["eks", "get-token", "--cluster-name", cluster_name, "--output", "json"],
                    }
                },
            }
        ],
    }
    return "", {
        "clusterName": cluster_name,
        "kubeconfig": kubeconfig,
        "kubeconfigJson": json.dumps(kubeconfig),
        "oidcIssuer": issuer.removeprefix("https://"),
        "oidcProviderUrl": issuer,
        "oidcProviderArn": m.arn("iam", f"oidc-provider/oidc.eks.{m.region}.amazonaws.com/id/{oidc_id}", region=False),
        "clusterSecurityGroupId": f"sg-0{_hex(name + 'cluster-sg', 16)}",
        "nodeSecurityGroupId": f"sg-0{_hex(name + 'node-sg', 16)}",
    }


def _eks_node_group(m: PlatformMocks, name: str, physical: str, inputs: dict[str, Any]):
    """`eks:index:ManagedNodeGroup` (remote component): its `nodeGroup`, the aws.eks.NodeGroup it
    made, as the engine passes a resource without references: its id `<cluster>:<name>`. A
    prefixed name ends in the provider's 26-digit unique suffix (terraform's PrefixedUniqueId)."""
    prefix = inputs.get("nodeGroupNamePrefix")
    group = f"{prefix}{int(_hex(name, 20), 16) % 10**26:026d}" if isinstance(prefix, str) else inputs.get("nodeGroupName") or physical
    return "", {"nodeGroup": f"{m.region}-cluster:{group}"}


def _helm_release(m: PlatformMocks, name: str, physical: str, inputs: dict[str, Any]):
    release = inputs.get("name") or physical
    return f"{inputs.get('namespace', 'default')}/{release}", {"name": release, "status": {"status": "deployed", "name": release, "namespace": inputs.get("namespace", "default")}}


def _k8s_object(m: PlatformMocks, name: str, physical: str, inputs: dict[str, Any]):
    meta = inputs.get("metadata") or {}
    obj_name = meta.get("name") or physical
    namespace = meta.get("namespace")
    rid = f"{namespace}/{obj_name}" if namespace else obj_name
    return rid, {"metadata": {**meta, "name": obj_name, "uid": _uuid(name)}}


def _k8s_service(m: PlatformMocks, name: str, physical: str, inputs: dict[str, Any]):
    rid, extra = _k8s_object(m, name, physical, inputs)
    host = f"k8s-{_hex(name, 8)}-{_hex(name + 'lb', 10)}.elb.{m.region}.amazonaws.com"
    extra["status"] = {"loadBalancer": {"ingress": [{"hostname": host}]}}
    return rid, extra


def _cloudflare_record(m: PlatformMocks, name: str, physical: str, inputs: dict[str, Any]):
    rid = _hex(name + "record", 32)
    return rid, {"id": rid, "zoneId": inputs.get("zoneId"), "name": inputs.get("name")}


def _random_password(m: PlatformMocks, name: str, physical: str, inputs: dict[str, Any]):
    length = int(inputs.get("length") or 32)
    value = ("mock" + _hex(name, 64) * 4)[:length]
    return name, {"result": value, "bcryptHash": "$2a$10$" + _hex(name, 53)}


def _decoded_list(value: Any) -> list[str]:
    """A provider input list: providers receive their inputs JSON-encoded."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            return [value]
    return [str(v) for v in value or []]


def _alias_urn(alias: Any, resource_type: str) -> str:
    """The URN an alias names: as given, or a spec's name under its parent's type chain (the
    engine's alias resolution, pulumi/pulumi pkg/resource/deploy/source_eval.go); a spec
    with no parent URN is recorded by its name."""
    if alias.urn:
        return alias.urn
    spec = alias.spec
    parent = spec.parentUrn if spec.WhichOneof("parent") == "parentUrn" else ""
    if not parent:
        return spec.name
    prefix, project, chain, _ = parent.split("::", 3)
    return f"{prefix}::{project}::{chain}${spec.type or resource_type}::{spec.name}"


def _random_bytes(m: PlatformMocks, name: str, physical: str, inputs: dict[str, Any]):
    raw = bytes.fromhex((_hex(name, 64) * 4)[: 2 * int(inputs.get("length") or 16)])
    return name, {"base64": base64.b64encode(raw).decode(), "hex": raw.hex()}


def _budget(m: PlatformMocks, name: str, physical: str, inputs: dict[str, Any]):
    return f"{m.account_id}:{physical}", {"name": physical, "arn": m.arn("budgets", f"budget/{physical}", region=False)}


def _schedule(m: PlatformMocks, name: str, physical: str, inputs: dict[str, Any]):
    group = inputs.get("groupName", "default")
    return f"{group}/{physical}", {"name": physical, "arn": m.arn("scheduler", f"schedule/{group}/{physical}")}


def _acm_certificate(m: PlatformMocks, name: str, physical: str, inputs: dict[str, Any]):
    arn = m.arn("acm", f"certificate/{_uuid(name)}")
    names = [inputs.get("domainName"), *(inputs.get("subjectAlternativeNames") or [])]
    options = [
        {"domainName": d, "resourceRecordName": f"_{_hex(d, 32)}.{d}.", "resourceRecordType": "CNAME", "resourceRecordValue": f"_{_hex(d + 'v', 32)}.acm-validations.aws."}
        for d in dict.fromkeys(n for n in names if n)
    ]
    return arn, {"arn": arn, "domainValidationOptions": options, "status": "ISSUED"}


def _s3_bucket(m: PlatformMocks, name: str, physical: str, inputs: dict[str, Any]):
    # S3 ARNs carry neither region nor account; the id is the bucket's name.
    return physical, {
        "bucket": physical,
        "arn": m.arn("s3", physical, region=False, account=False),
        "bucketDomainName": f"{physical}.s3.amazonaws.com",
        "bucketRegionalDomainName": f"{physical}.s3.{m.region}.amazonaws.com",
        "hostedZoneId": "Z3AQBSTGFYJSTF",
        "region": m.region,
    }


def _s3_bucket_config(m: PlatformMocks, name: str, physical: str, inputs: dict[str, Any]):
    """A bucket's versioning, encryption, lifecycle, ... resource: the provider's id is the bucket's name."""
    return inputs.get("bucket") or physical, {}


def _cloudtrail(m: PlatformMocks, name: str, physical: str, inputs: dict[str, Any]):
    arn = m.arn("cloudtrail", f"trail/{physical}")
    return arn, {"arn": arn, "name": physical, "homeRegion": m.region}


def _ssm_document(m: PlatformMocks, name: str, physical: str, inputs: dict[str, Any]):
    return physical, {
        "name": physical,
        "arn": m.arn("ssm", f"document/{physical}"),
        "documentVersion": "1",
        "latestVersion": "1",
        "defaultVersion": "1",
        "owner": m.account_id,
        "status": "Active",
        "schemaVersion": "1.0",
    }


def _sns_topic(m: PlatformMocks, name: str, physical: str, inputs: dict[str, Any]):
    # A topic's id is its ARN.
    arn = m.arn("sns", physical)
    return arn, {"arn": arn, "name": physical, "owner": m.account_id}


def _sns_subscription(m: PlatformMocks, name: str, physical: str, inputs: dict[str, Any]):
    arn = f"{inputs.get('topic', m.arn('sns', 'topic'))}:{_uuid(name)}"
    return arn, {"arn": arn, "ownerId": m.account_id, "confirmationWasAuthenticated": True, "pendingConfirmation": False}


def _lambda_function(m: PlatformMocks, name: str, physical: str, inputs: dict[str, Any]):
    arn = m.arn("lambda", f"function:{physical}")
    region = m.current_region
    return physical, {
        "name": physical,
        "arn": arn,
        "qualifiedArn": f"{arn}:$LATEST",
        "invokeArn": f"arn:aws:apigateway:{region}:lambda:path/2015-03-31/functions/{arn}/invocations",
        "version": "$LATEST",
    }


def _health_check(m: PlatformMocks, name: str, physical: str, inputs: dict[str, Any]):
    # Route 53 is global: no region in the ARN; the id is a UUID.
    rid = _uuid(name + "health-check")
    return rid, {"arn": m.arn("route53", f"healthcheck/{rid}", region=False, account=False)}


def _metric_alarm(m: PlatformMocks, name: str, physical: str, inputs: dict[str, Any]):
    return physical, {"name": physical, "arn": m.arn("cloudwatch", f"alarm:{physical}")}


def _generic_arn(service: str, kind: str, sep: str = "/"):
    def family(m: PlatformMocks, name: str, physical: str, inputs: dict[str, Any]):
        return physical, {"arn": m.arn(service, f"{kind}{sep}{physical}")}

    return family


_FAMILIES = {
    "aws:ec2/vpc:Vpc": _vpc,
    "aws:ec2/subnet:Subnet": _ec2("subnet", "subnet"),
    "aws:ec2/internetGateway:InternetGateway": _ec2("igw", "internet-gateway"),
    "aws:ec2/eip:Eip": _eip,
    "aws:ec2/natGateway:NatGateway": _nat,
    "aws:ec2/routeTable:RouteTable": _ec2("rtb", "route-table"),
    "aws:ec2/route:Route": _ec2("r-rtb", None),
    "aws:ec2/routeTableAssociation:RouteTableAssociation": _ec2("rtbassoc", None),
    "aws:ec2/securityGroup:SecurityGroup": _ec2("sg", "security-group"),
    "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup": _ec2("sg", "security-group"),
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": _ec2("sgr", "security-group-rule"),
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": _ec2("sgr", "security-group-rule"),
    "aws:ec2/flowLog:FlowLog": _ec2("fl", "vpc-flow-log"),
    "aws:ec2/launchTemplate:LaunchTemplate": _launch_template,
    "aws:cloudwatch/logGroup:LogGroup": _log_group,
    "aws:iam/role:Role": _iam_role,
    "aws:iam/policy:Policy": _iam_policy,
    "aws:iam/rolePolicy:RolePolicy": _generic_arn("iam", "role-policy"),
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": _generic_arn("iam", "attachment"),
    "aws:kms/key:Key": _kms_key,
    "aws:kms/alias:Alias": _kms_alias,
    "aws:rds/instance:Instance": _rds_instance,
    "aws:rds/subnetGroup:SubnetGroup": _named_arn("rds", "subgrp"),
    "aws:rds/parameterGroup:ParameterGroup": _named_arn("rds", "pg"),
    "aws:elasticache/replicationGroup:ReplicationGroup": _replication_group,
    "aws:elasticache/subnetGroup:SubnetGroup": _named_arn("elasticache", "subnetgroup"),
    "aws:secretsmanager/secret:Secret": _secret,
    "aws:secretsmanager/secretVersion:SecretVersion": _secret_version,
    "aws:budgets/budget:Budget": _budget,
    "aws:scheduler/schedule:Schedule": _schedule,
    "aws:acm/certificate:Certificate": _acm_certificate,
    "aws:acm/certificateValidation:CertificateValidation": lambda m, n, p, i: (i.get("certificateArn", p), {}),
    "aws:eks/accessEntry:AccessEntry": _generic_arn("eks", "access-entry"),
    "aws:eks/accessPolicyAssociation:AccessPolicyAssociation": lambda m, n, p, i: (p, {}),
    "aws:eks/addon:Addon": lambda m, n, p, i: (f"{i.get('clusterName')}:{i.get('addonName')}", {"arn": m.arn("eks", f"addon/{i.get('clusterName')}/{i.get('addonName')}/{_uuid(n)}")}),
    "aws:eks/podIdentityAssociation:PodIdentityAssociation": lambda m, n, p, i: (
        f"a-{_hex(n, 17)}",
        {"associationId": f"a-{_hex(n, 17)}", "associationArn": m.arn("eks", f"podidentityassociation/{i.get('clusterName')}/a-{_hex(n, 17)}")},
    ),
    "aws:s3/bucket:Bucket": _s3_bucket,
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls": _s3_bucket_config,
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": _s3_bucket_config,
    "aws:s3/bucketVersioning:BucketVersioning": _s3_bucket_config,
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": _s3_bucket_config,
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": _s3_bucket_config,
    "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration": _s3_bucket_config,
    "aws:s3/bucketPolicy:BucketPolicy": _s3_bucket_config,
    "aws:cloudtrail/trail:Trail": _cloudtrail,
    "aws:ssm/document:Document": _ssm_document,
    "aws:sns/topic:Topic": _sns_topic,
    "aws:sns/topicPolicy:TopicPolicy": lambda m, n, p, i: (i.get("arn", p), {"owner": m.account_id}),
    "aws:sns/topicSubscription:TopicSubscription": _sns_subscription,
    "aws:lambda/function:Function": _lambda_function,
    "aws:lambda/permission:Permission": lambda m, n, p, i: (p, {"statementId": p}),
    "aws:route53/healthCheck:HealthCheck": _health_check,
    "aws:cloudwatch/metricAlarm:MetricAlarm": _metric_alarm,
    "eks:index:Cluster": _eks_cluster,
    "eks:index:ManagedNodeGroup": _eks_node_group,
    "kubernetes:helm.sh/v3:Release": _helm_release,
    "kubernetes:core/v1:Namespace": _k8s_object,
    "kubernetes:core/v1:Secret": _k8s_object,
    "kubernetes:core/v1:ConfigMap": _k8s_object,
    "kubernetes:core/v1:ServiceAccount": _k8s_object,
    "kubernetes:core/v1:Service": _k8s_service,
    "cloudflare:index/dnsRecord:DnsRecord": _cloudflare_record,
    "random:index/randomPassword:RandomPassword": _random_password,
    "random:index/randomBytes:RandomBytes": _random_bytes,
}


# ---------------------------------------------------------------------- functions


def _azs(m: PlatformMocks, args: dict[str, Any]) -> dict[str, Any]:
    letters = "abcdef"
    return {
        "names": [f"{m.region}{c}" for c in letters],
        "zoneIds": [f"use1-az{i}" for i in range(1, 7)],
        "id": m.region,
        "groupNames": [m.region],
    }


def _caller_identity(m: PlatformMocks, args: dict[str, Any]) -> dict[str, Any]:
    return {"accountId": m.account_id, "arn": m.arn("iam", "role/ci-preview", region=False), "userId": "AROAMOCKUSER", "id": m.account_id}


def _partition(m: PlatformMocks, args: dict[str, Any]) -> dict[str, Any]:
    return {"partition": "aws", "dnsSuffix": "amazonaws.com", "id": "aws"}


def _region(m: PlatformMocks, args: dict[str, Any]) -> dict[str, Any]:
    return {"name": m.region, "region": m.region, "id": m.region, "endpoint": f"ec2.{m.region}.amazonaws.com"}


def _policy_document(m: PlatformMocks, args: dict[str, Any]) -> dict[str, Any]:
    statements = []
    for st in args.get("statements") or []:
        out: dict[str, Any] = {"Effect": st.get("effect", "Allow")}
        if st.get("sid"):
            out["Sid"] = st["sid"]
        if st.get("actions"):
            out["Action"] = st["actions"]
        if st.get("resources"):
            out["Resource"] = st["resources"]
        for p in st.get("principals") or []:
            out.setdefault("Principal", {})[p["type"]] = p["identifiers"]
        for c in st.get("conditions") or []:
            out.setdefault("Condition", {}).setdefault(c["test"], {})[c["variable"]] = c["values"]
        statements.append(out)
    return {"json": json.dumps({"Version": "2012-10-17", "Statement": statements}), "id": _hex(json.dumps(statements, sort_keys=True), 10)}


def _kubeconfig(m: PlatformMocks, args: dict[str, Any]) -> dict[str, Any]:
    return {"result": json.dumps({"apiVersion": "v1", "kind": "Config", "clusters": [], "users": [], "contexts": []})}


def _node_group(m: PlatformMocks, args: dict[str, Any]) -> dict[str, Any]:
    """aws.eks.getNodeGroup: the group's Auto Scaling group, `eks-<group>-<uuid>` as EKS names it."""
    cluster, group = args.get("clusterName"), args.get("nodeGroupName")
    asg = f"eks-{group}-{_uuid(f'{cluster}/{group}')}"
    return {"clusterName": cluster, "nodeGroupName": group, "id": f"{cluster}:{group}", "resources": [{"autoscalingGroups": [{"name": asg}], "remoteAccessSecurityGroupId": ""}]}


def _cloudflare_zones(m: PlatformMocks, args: dict[str, Any]) -> dict[str, Any]:
    """GET /zones?name=: the account's zones of that name (none is an empty list, not an error)."""
    name = args.get("name")
    results = [{"id": zid, "name": zname, "status": "active"} for zid, zname in sorted(m.cloudflare_zones.items()) if name in (None, zname)]
    return {"id": _hex(str(name), 10), "name": name, "results": results}


def _get_secret_version(m: PlatformMocks, args: dict[str, Any]) -> dict[str, Any]:
    arn = str(args.get("secretId", ""))
    value = m.secret_values.get(arn)
    if value is None:
        value = json.dumps({"placeholder": f"offline value of {arn}"})
    return {"arn": arn, "id": f"{arn}|AWSCURRENT", "secretId": arn, "secretString": value, "versionId": _uuid(arn + "current"), "versionStages": ["AWSCURRENT"]}


def _load_balancer(m: PlatformMocks, args: dict[str, Any]) -> dict[str, Any]:
    """aws.lb.getLoadBalancer by name: the NLB the AWS Load Balancer Controller made."""
    name = str(args.get("name") or "lb")
    suffix = f"net/{name}/{_hex(name + 'lb', 16)}"
    arn = m.arn("elasticloadbalancing", f"loadbalancer/{suffix}")
    return {"arn": arn, "arnSuffix": suffix, "id": arn, "name": name, "loadBalancerType": "network", "internal": False, "dnsName": f"{name}-{_hex(name, 16)}.elb.{m.current_region}.amazonaws.com"}


_CALLS = {
    "aws:secretsmanager/getSecretVersion:getSecretVersion": _get_secret_version,
    "cloudflare:index/getZones:getZones": _cloudflare_zones,
    "aws:index/getAvailabilityZones:getAvailabilityZones": _azs,
    "aws:index/getCallerIdentity:getCallerIdentity": _caller_identity,
    "aws:index/getPartition:getPartition": _partition,
    "aws:index/getRegion:getRegion": _region,
    "aws:iam/getPolicyDocument:getPolicyDocument": _policy_document,
    "eks:index:Cluster/getKubeconfig": _kubeconfig,
    "aws:eks/getNodeGroup:getNodeGroup": _node_group,
    "aws:lb/getLoadBalancer:getLoadBalancer": _load_balancer,
}


# ---------------------------------------------------------------------- engine rules
# What the Pulumi engine refuses at registration that `MockMonitor` lets through. Each
# check quotes the engine source it mirrors, at pulumi/pulumi@1b5949891b (v3.259.0-14, the
# newest engine in the mirror; the pinned SDK is 3.272.0) — docs/offline-engine.md lists them.
# The checks are dictionary and string operations only: the suite plans each stack many times.

_ENGINE_REF = "pulumi/pulumi@1b5949891b"
_ROOT_STACK_TYPE = "pulumi:pulumi:Stack"
_UNKNOWN_ID = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"  # sdk/go/common/providers/reference.go:32
# Go's time.ParseDuration: "0", or one or more <decimal><unit> with an optional sign.
_GO_DURATION = re.compile(r"[-+]?(?:0|(?:(?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|\u00b5s|\u03bcs|ms|s|m|h))+)\Z")


def _go_quote(s: str) -> str:
    """Go's %q for the strings these messages quote (URNs, property paths)."""
    return json.dumps(s, ensure_ascii=False)


def _urn_error(s: str) -> str | None:
    """sdk/go/common/resource/urn/urn.go:59-69 Parse (IsValid at :106-114); None when valid."""
    if s == "":
        return "missing required URN"  # urn.go:61
    if not s.startswith("urn:pulumi:") or s.count("::") < 3:
        return f"invalid URN {_go_quote(s)}"  # urn.go:66
    return None


def _urn_type(urn: str) -> str:
    """urn.go:176-182 URN.Type: the last `$` element of the qualified type."""
    qualified = urn[len("urn:pulumi:"):].split("::", 3)[2]
    return qualified.rsplit("$", 1)[-1]


def _module_and_name(token: str) -> tuple[str, str]:
    """sdk/go/common/tokens/tokens.go Type.Module / Type.Name: split at the second ':'."""
    parts = token.split(":", 2)
    if len(parts) < 3:
        return "", ""
    return f"{parts[0]}:{parts[1]}", parts[2]


def _provider_ref_error(ref: str) -> str | None:
    """sdk/go/common/providers/reference.go:147-159 ParseReference (validateURN :64-76)."""
    sep = ref.rfind("::")
    if sep == -1:
        return f"expected '::' in provider reference '{ref}'"  # reference.go:152
    urn = ref[:sep]
    if _urn_error(urn) is not None:
        return f"{urn} is not a valid URN"  # reference.go:66
    module, name = _module_and_name(_urn_type(urn))
    if module != "pulumi:providers":
        return f"invalid module in type: expected 'pulumi:providers', got '{module}'"  # reference.go:70
    if name == "":
        return "provider URNs must specify a type name"  # reference.go:73
    return None


def _property_path_error(path: str) -> str | None:
    """sdk/go/common/resource/properties_path.go:68-150 parsePropertyPath (non-strict)."""
    if path.startswith("."):
        return "expected property path to start with a name or index"  # :76
    i, n = 0, len(path)
    while i < n:
        c = path[i]
        if c == ".":
            i += 1
            if i == n:
                return "expected property path to end with a name or index"  # :83
        elif c == "[":
            if i + 1 < n and path[i + 1] == '"':
                j = i + 2
                while True:
                    if j >= n:
                        return "missing closing quote in property name"  # :99
                    if path[j] == '"':
                        j += 1
                        break
                    j += 2 if path[j] == "\\" and j + 1 < n and path[j + 1] == '"' else 1
                if j >= n or path[j] != "]":
                    return "missing closing bracket in property access"  # :112
                i = j + 1
            else:
                close = path.find("]", i)
                if close == -1:
                    return "missing closing bracket in array index"  # :119
                segment = path[i + 1 : close]
                if segment != "*" and not re.fullmatch(r"[+-]?[0-9]+", segment):
                    # :128, wrapping strconv.ParseInt's *NumError
                    return f"invalid array index: strconv.ParseInt: parsing {_go_quote(segment)}: invalid syntax"
                if segment != "*" and not -(2**63) <= int(segment) < 2**63:
                    return f"invalid array index: strconv.ParseInt: parsing {_go_quote(segment)}: value out of range"
                i = close + 1
        else:
            while i < n and path[i] not in ".[":
                i += 1
    return None


def _denied_default_provider(denylist: Any, package: str) -> bool:
    """pkg/resource/deploy/default_providers.go:263-305 shouldDenyRequest over
    `pulumi:disable-default-providers` (project config, overridden by the stack's)."""
    if package == "pulumi" or not denylist:  # :266-268 "we always allow" the pulumi package
        return False
    for i, item in enumerate(denylist):
        if not isinstance(item, str):
            raise EngineError(
                f"pulumi:disable-default-providers[{i}] must be a string",  # :294
                rule="disable-default-providers-encoding",
                source="pkg/resource/deploy/default_providers.go:294",
            )
        if item.strip() in ("*", package):  # :296-297
            return True
    return False


class EngineRules:
    """The engine's bookkeeping of one deployment: which URNs, providers and component
    provider maps it has seen, and the checks that refuse a request the way it would."""

    def __init__(self, denied_default_providers: Any = ()):
        self.denylist = list(denied_default_providers or ())
        self.prefix = ""                                   # "urn:pulumi:<stack>::<project>::"
        self.qualified: dict[str, str] = {}                # SDK-visible URN -> the engine's qualified type
        self.engine_urns: dict[str, str] = {}              # SDK-visible URN -> the engine's URN
        self.seen: set[str] = set()                        # engine URNs registered (or read) so far
        self.providers: dict[str, str] = {}                # provider URN -> its id
        self.goal_providers: dict[str, str] = {}           # custom resource URN -> its provider reference
        self.component_providers: dict[str, dict[str, str]] = {}  # component URN -> package -> reference

    # The SDK sees the mock's URNs (MockMonitor.make_urn: the root Stack's type kept, only
    # the parent's own type); the engine's carry the parent's whole qualified type and no
    # Stack (pkg/resource/deploy/deployment.go:796-805). Messages quote the engine's.
    def qualified_type(self, parent: str, typ: str) -> str:
        parent_type = self.qualified.get(parent, "") if parent else ""
        return typ if parent_type in ("", _ROOT_STACK_TYPE) else f"{parent_type}${typ}"

    def engine_urn(self, parent: str, typ: str, name: str) -> str:
        return f"{self.prefix}{self.qualified_type(parent, typ)}::{name}"

    def _shown(self, urn: str) -> str:
        return self.engine_urns.get(urn, urn)

    def _shown_ref(self, ref: str) -> str:
        sep = ref.rfind("::")
        return f"{self._shown(ref[:sep])}::{ref[sep + 2:]}" if sep != -1 else ref

    @staticmethod
    def _fail(message: str, rule: str, source: str) -> None:
        raise EngineError(message, rule=rule, source=f"{_ENGINE_REF} {source}")

    def _known_provider(self, ref: str) -> bool:
        """The provider registry holds (URN, id); a preview's unknown id matches any."""
        sep = ref.rfind("::")
        urn, rid = ref[:sep], ref[sep + 2:]
        return urn in self.providers and rid in (self.providers[urn], _UNKNOWN_ID)

    def stack(self, urn: str) -> None:
        self.prefix = urn[: urn.index(_ROOT_STACK_TYPE)]
        self.qualified[urn] = _ROOT_STACK_TYPE
        self.engine_urns[urn] = urn
        self.seen.add(urn)

    # ------------------------------------------------------------ RegisterResource

    def register(self, request: Any) -> tuple[str, str, dict[str, str]]:
        """Refuse `request` as the engine would.

        Returns the engine's URN, the provider reference it resolved (custom resources) and
        the providers map it keeps for a component's children."""
        typ, name, parent = request.type, request.name, request.parent
        custom, remote = bool(request.custom), bool(request.remote)
        is_provider = typ.startswith("pulumi:providers:")
        src = "pkg/resource/deploy/source_eval.go"

        # source_eval.go:2292-2296 resource.ParseOptionalURN(req.GetParent())
        if parent and (err := _urn_error(parent)):
            self._fail(f"invalid parent URN: {err}", "parent-urn", f"{src}:2295")
        # source_eval.go:2311-2316 custom and remote resources need a three-part type token
        if (custom or remote) and typ.count(":") < 2:
            self._fail(f"Type '{typ}' is not a valid type token (must have format '*:*:*')", "type-token",
                       f"{src}:2313, sdk/go/common/tokens/tokens.go:223")
        # source_eval.go:2323-2328
        if request.envVarMappings and not is_provider:
            self._fail("envVarMappings can only be used with provider resources", "env-var-mappings", f"{src}:2326")
        # source_eval.go:2376-2382, 2393-2402 every dependency a well-formed URN
        for dep in request.dependencies:
            if err := _urn_error(dep):
                self._fail(f"invalid dependency URN: {err}", "dependency-urn", f"{src}:2380")
        for key, deps in request.propertyDependencies.items():
            for dep in deps.urns:
                if err := _urn_error(dep):
                    self._fail(f"invalid dependency on property {key} URN: {err}", "dependency-urn", f"{src}:2400")

        # source_eval.go:2298-2306 inheritFromParent (:2004-2022): a custom parent's provider
        # passes to a child of its package; then resolveProvider (:2226-2245).
        package = typ.split(":", 1)[0]
        provider = request.provider
        if not provider and parent in self.goal_providers and (
            (not remote and not custom) or _module_and_name(_urn_type(self.goal_providers[parent].rsplit("::", 1)[0]))[1] == package
        ):
            provider = self.goal_providers[parent]
        providers = dict(request.providers)
        if not custom:  # source_eval.go:2543-2557 a component child inherits its parent's map
            for key, value in self.component_providers.get(parent, {}).items():
                providers.setdefault(key, value)
        if (custom or remote) and not provider:
            provider = request.providers.get(package) or self.component_providers.get(parent, {}).get(package, "")

        if (custom and not is_provider) or remote:
            # source_eval.go:2581-2592 -> getProviderReference :718-721
            for ref in (provider, *request.providers.values()):
                if ref and (err := _provider_ref_error(ref)):
                    self._fail(f"could not parse provider reference: {err}", "provider-reference", f"{src}:720")

        # source_eval.go:2598-2626 aliases: a URN alias, or a spec's parent, must parse
        for alias in request.aliases:
            if alias.WhichOneof("alias") == "spec":
                spec_parent = alias.spec.parentUrn if alias.spec.WhichOneof("parent") == "parentUrn" else ""
                if spec_parent and (err := _urn_error(spec_parent)):
                    self._fail(f"invalid parent alias URN: {err}", "alias-urn", f"{src}:2615")
            elif err := _urn_error(alias.urn):
                self._fail(f"invalid alias URN: {err}", "alias-urn", f"{src}:2624")
        for alias_urn in request.aliasURNs:
            if err := _urn_error(alias_urn):
                self._fail(f"invalid alias URN: {err}", "alias-urn", f"{src}:2624")
        # source_eval.go:2720-2728 every hideDiffs entry a property path
        for i, path in enumerate(request.hideDiffs):
            if err := _property_path_error(path):
                self._fail(f"{i}: {err}", "hide-diffs-path", f"{src}:2726, sdk/go/common/resource/properties_path.go:68-150")
        # source_eval.go:2755-2759
        if request.deletedWith and (err := _urn_error(request.deletedWith)):
            self._fail(f"invalid DeletedWith URN: {err}", "deleted-with-urn", f"{src}:2758")

        if remote:
            # source_eval.go:2824-2834 a remote component's provider, before Construct
            if not provider and _denied_default_provider(self.denylist, package):
                self._fail(f"Default provider for '{package}' disabled. '{typ}' must use an explicit provider.",
                           "default-provider-denied", f"{src}:2829-2830, sdk/go/common/diag/errors.go:85")
            if provider and not self._known_provider(provider):
                self._fail(f"unknown provider '{self._shown_ref(provider)}'", "unknown-provider", f"{src}:2833")
        else:
            # source_eval.go:2947-2975 -> generateTimeoutInSeconds :3396-3401 (time.ParseDuration)
            if request.HasField("customTimeouts"):
                timeouts = request.customTimeouts
                for value in (timeouts.create, timeouts.delete, timeouts.update, timeouts.read):
                    if value and not _GO_DURATION.match(value):
                        self._fail(f"unable to parse customTimeout Value {value}", "custom-timeouts", f"{src}:3399")

        # pkg/resource/deploy/step_generator.go:241-246 checkParent
        if parent and parent not in self.qualified:
            self._fail(f"could not find parent resource {parent}", "unregistered-parent",
                       "pkg/resource/deploy/step_generator.go:245")
        # step_generator.go:279-286 generateURN (diag 2001, sdk/go/common/diag/errors.go:33)
        urn = self.engine_urn(parent, typ, name)
        if urn in self.seen:
            self._fail(f"Duplicate resource URN '{urn}'; try giving it a unique name", "duplicate-urn",
                       "pkg/resource/deploy/step_generator.go:284, sdk/go/common/diag/errors.go:33")

        if custom and not is_provider and not remote:
            # step_generator.go:3098-3131 loadResourceProvider
            if not provider and _denied_default_provider(self.denylist, package):
                self._fail(f"Default provider for '{package}' disabled. '{urn}' must use an explicit provider.",
                           "default-provider-denied",
                           "pkg/resource/deploy/step_generator.go:3119, sdk/go/common/diag/errors.go:85")
            if provider and not self._known_provider(provider):
                self._fail(f"unknown provider '{self._shown_ref(provider)}' for resource '{urn}'", "unknown-provider",
                           "pkg/resource/deploy/step_generator.go:3127, sdk/go/common/diag/errors.go:53")

        # The snapshot written after the step must hold every dependency before its dependent:
        # pkg/resource/deploy/snapshot.go:749-777 VerifyIntegrity, raised by the snapshot
        # manager (pkg/backend/snapshot.go:896) on the diy (S3, file) backends.
        for dep in request.dependencies:
            if dep not in self.qualified:
                self._fail(f"failed to verify snapshot: resource {urn}'s dependency {dep} refers to missing resource",
                           "missing-dependency", "pkg/resource/deploy/snapshot.go:756, pkg/backend/snapshot.go:896")
        for key, deps in request.propertyDependencies.items():
            for dep in deps.urns:
                if dep not in self.qualified:
                    self._fail(
                        f"failed to verify snapshot: resource {urn}'s property dependency {dep} (from property {key}) refers to missing resource",
                        "missing-dependency", "pkg/resource/deploy/snapshot.go:772, pkg/backend/snapshot.go:896",
                    )
        self.seen.add(urn)
        return urn, provider if (custom and not is_provider) else "", providers

    def registered(self, request: Any, sdk_urn: str, urn: str, provider: str, rid: str | None, providers: dict[str, str]) -> None:
        self.qualified[sdk_urn] = self.qualified_type(request.parent, request.type)
        self.engine_urns[sdk_urn] = urn
        if request.custom and request.type.startswith("pulumi:providers:"):
            self.providers[sdk_urn] = rid or _UNKNOWN_ID
        if provider:
            self.goal_providers[sdk_urn] = provider
        if not request.custom:  # source_eval.go:3068-3074
            self.component_providers[sdk_urn] = providers

    # ------------------------------------------------------------ ReadResource, Invoke

    def read(self, request: Any) -> str:
        """source_eval.go:1435-1486 ReadResource, then step_generator.go:292-305 GenerateReadSteps."""
        src = "pkg/resource/deploy/source_eval.go"
        typ, parent = request.type, request.parent
        if typ.count(":") < 2:
            self._fail(f"Type '{typ}' is not a valid type token (must have format '*:*:*')", "type-token",
                       f"{src}:1439, sdk/go/common/tokens/tokens.go:223")
        if parent and (err := _urn_error(parent)):
            self._fail(f"invalid parent URN: {err}", "parent-urn", f"{src}:1447")
        if not typ.startswith("pulumi:providers:") and not request.provider and _denied_default_provider(self.denylist, typ.split(":", 1)[0]):
            # source_eval.go:1473-1474 formats the type twice (its arguments are the type and the token)
            self._fail(f"Default provider for '{typ}' disabled. '{typ}' must use an explicit provider.",
                       "default-provider-denied", f"{src}:1473-1474, sdk/go/common/diag/errors.go:85")
        for dep in request.dependencies:
            if err := _urn_error(dep):
                self._fail(f"invalid dependency: {err}", "dependency-urn", f"{src}:1485")
        if parent and parent not in self.qualified:
            self._fail(f"could not find parent resource {parent}", "unregistered-parent",
                       "pkg/resource/deploy/step_generator.go:245")
        urn = self.engine_urn(parent, typ, request.name)
        if urn in self.seen:
            self._fail(f"Duplicate resource URN '{urn}'; try giving it a unique name", "duplicate-urn",
                       "pkg/resource/deploy/step_generator.go:284, sdk/go/common/diag/errors.go:33")
        self.seen.add(urn)
        return urn

    def was_read(self, request: Any, sdk_urn: str, urn: str) -> None:
        self.qualified[sdk_urn] = self.qualified_type(request.parent, request.type)
        self.engine_urns[sdk_urn] = urn

    def invoke(self, request: Any) -> None:
        """source_eval.go:1065-1138 Invoke -> getProviderFromSource :733-752, wrapped "Invoke: %w" (:1137)."""
        src = "pkg/resource/deploy/source_eval.go"
        tok = request.tok
        package = tok.split(":", 1)[0]
        parent = request.parent
        if parent and (err := _urn_error(parent)):
            self._fail(f"invalid parent URN: {err}", "parent-urn", f"{src}:1087")
        provider = request.provider or self.component_providers.get(parent, {}).get(package, "")  # :1090
        if provider:
            if err := _provider_ref_error(provider):
                self._fail(f"Invoke: getProviderFromSource: could not parse provider reference: {err}",
                           "provider-reference", f"{src}:720, :742, :1137")
            if not self._known_provider(provider):
                self._fail(f"Invoke: unknown provider '{self._shown_ref(provider)}' -> '{self._shown_ref(provider)}'",
                           "unknown-provider", f"{src}:750, :1137")
        elif _denied_default_provider(self.denylist, package):
            self._fail(f"Invoke: Default provider for '{package}' disabled. '{tok}' must use an explicit provider.",
                       "default-provider-denied", f"{src}:744-745, :1137, sdk/go/common/diag/errors.go:85")


# ---------------------------------------------------------------------- monitor


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """A MockMonitor that records each resource's full registration, options included, and
    refuses, with the engine's message, what the Pulumi engine refuses (`EngineRules`).

    `denied_default_providers` is `pulumi:disable-default-providers` as the program's project
    and stack configure it. The first refusal is kept in `engine_error`: the engine fails the
    deployment on it even if the program went on.
    """

    def __init__(self, mocks: PlatformMocks, *, denied_default_providers: Any = ()):
        super().__init__(mocks)
        self.registrations: list[Registration] = []
        self.engine = EngineRules(denied_default_providers)
        self.engine_error: EngineError | None = None
        self._engine_lock = threading.Lock()

    def make_urn(self, parent: str, type_: str, name: str) -> str:
        """The engine's URN, not the SDK mock's: the parent's whole type chain, and no
        `pulumi:pulumi:Stack$` for children of the stack (pkg/resource/deploy/deployment.go,
        `generateURN`: the root stack's type is left out). The SDK's `MockMonitor.make_urn`
        prefixes the stack's type and keeps only the parent's own type, so its URNs are not
        the ones `pulumi up` writes; the URN snapshots hold the engine's."""
        if parent:
            parent_type = parent.split("::")[2]
            if parent_type != _ROOT_STACK_TYPE:
                type_ = f"{parent_type}${type_}"
        return "urn:pulumi:" + "::".join([pulumi.get_stack(), pulumi.get_project(), type_, name])

    def _refuse(self, check, request):
        # The SDK registers from a thread pool: one check at a time, as the engine's step
        # generator takes one event at a time (a duplicate cannot slip between check and add).
        try:
            with self._engine_lock:
                return check(request)
        except EngineError as exc:
            if self.engine_error is None:
                self.engine_error = exc
            raise

    def RegisterResource(self, request):  # noqa: N802 (gRPC method name)
        if request.type == "pulumi:pulumi:Stack":
            response = super().RegisterResource(request)
            self.stack_urn = response.urn
            self.engine.stack(response.urn)
            return response
        urn, provider, providers = self._refuse(self.engine.register, request)
        response = super().RegisterResource(request)
        self.engine.registered(request, response.urn, urn, provider, response.id, providers)
        _ensure_event_loop()
        inputs = rpc.deserialize_properties(request.object, keep_unknowns=True)
        outputs = rpc.deserialize_properties(response.object, keep_unknowns=True) if response.object else {}
        self.registrations.append(
            Registration(
                urn=response.urn,
                type=request.type,
                name=request.name,
                custom=bool(request.custom),
                parent=request.parent,
                provider=request.provider,
                inputs=inputs,
                outputs=outputs,
                id=response.id,
                dependencies=list(request.dependencies),
                property_dependencies={k: list(v.urns) for k, v in request.propertyDependencies.items()},
                protect=bool(request.protect) if request.HasField("protect") else False,
                retain_on_delete=bool(request.retainOnDelete) if request.HasField("retainOnDelete") else False,
                ignore_changes=list(request.ignoreChanges),
                delete_before_replace=bool(request.deleteBeforeReplace),
                additional_secret_outputs=list(request.additionalSecretOutputs),
                aliases=[_alias_urn(a, request.type) for a in request.aliases],
                replace_on_changes=list(request.replaceOnChanges),
            )
        )
        return response

    def ReadResource(self, request):  # noqa: N802
        urn = self._refuse(self.engine.read, request)
        response = super().ReadResource(request)
        self.engine.was_read(request, response.urn, urn)
        return response

    def Invoke(self, request):  # noqa: N802
        self._refuse(self.engine.invoke, request)
        return super().Invoke(request)

    def Call(self, request):  # noqa: N802
        # Component methods (e.g. eks Cluster.get_kubeconfig) arrive here; MockMonitor has no Call.
        _ensure_event_loop()
        args = rpc.deserialize_properties(request.args)
        result, failures = self.mocks.call(pulumi.runtime.MockCallArgs(token=request.tok, args=args, provider=request.provider))
        ret = _sync_await(rpc.serialize_properties(result, {}))
        return resource_pb2.CallResponse(
            **{"return": ret, "failures": [provider_pb2.CheckFailure(property=p, reason=r) for p, r in (failures or [])]}
        )

    def GetDeploymentInfo(self, request):  # noqa: N802
        # Without resource references, resources passed as inputs to remote components
        # (ManagedNodeGroup(cluster=cluster)) travel as URNs; with them, the stock monitor
        # fails with "attached to a different loop" (pulumi/pulumi#6479).
        info = super().GetDeploymentInfo(request)
        features = [f for f in info.supportedFeatures if f != resource_pb2.RESOURCE_MONITOR_FEATURE_RESOURCE_REFERENCES]
        return resource_pb2.DeploymentInfo(supportedFeatures=features)

    def SupportsFeature(self, request):  # noqa: N802
        if request.id == "resourceReferences":
            return type("SupportsFeatureResponse", (object,), {"hasSupport": False})
        return super().SupportsFeature(request)
