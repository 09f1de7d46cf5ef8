"""The one mocks harness: a fake engine for running the real program with no cloud.

Shared by the offline plan and the tests. It provides:
- `PlatformMocks`: realistic, deterministic ids, ARNs and endpoints per resource family
  (the same logical name always gets the same id, so plans diff cleanly), and answers to
  the provider functions the program calls (AZs, caller identity, IAM policy documents,
  secret versions, the EKS kubeconfig method);
- `RecordingMonitor`: a `MockMonitor` that keeps the whole registration request of every
  resource (parent, dependencies, provider, protect, retainOnDelete, ignoreChanges, ...),
  which `Mocks.new_resource` never sees, and works around the `pulumi_eks` remote-component
  pitfalls (resource references disabled, `Call` forwarded to `Mocks.call`).

Nothing here is imported by a component: the program does not know it runs under mocks.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

import pulumi
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc
from pulumi.runtime.proto import provider_pb2, resource_pb2
from pulumi.runtime.sync_await import _ensure_event_loop, _sync_await

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


@dataclass
class PlatformMocks(pulumi.runtime.Mocks):
    region: str = "us-east-1"
    account_id: str = ACCOUNT_ID
    # The Cloudflare zones the API token can read: zone id -> zone name. The harness fills it
    # from the stack file (the zone a user configured exists and is the domain's).
    cloudflare_zones: dict[str, str] = field(default_factory=dict)

    # ------------------------------------------------------------------ resources

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        inputs = dict(args.inputs)
        name = args.name
        typ = args.typ
        physical = _physical_name(typ, name, inputs)
        family = _FAMILIES.get(typ)
        if family is None:
            rid = f"{name}-{_hex(typ + name, 8)}" if args.custom else ""
            return rid, inputs
        rid, extra = family(self, name, physical, inputs)
        return rid, {**inputs, **extra}

    def arn(self, service: str, resource: str, *, region: bool = True, account: bool = True) -> str:
        return f"arn:aws:{service}:{self.region if region else ''}:{self.account_id if account else ''}:{resource}"

    # ------------------------------------------------------------------ functions

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        handler = _CALLS.get(args.token)
        if handler is None:
            return {}, []
        return handler(self, dict(args.args)), []


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


def _cloudflare_zones(m: PlatformMocks, args: dict[str, Any]) -> dict[str, Any]:
    """GET /zones?name=: the account's zones of that name (none is an empty list, not an error)."""
    name = args.get("name")
    results = [{"id": zid, "name": zname, "status": "active"} for zid, zname in sorted(m.cloudflare_zones.items()) if name in (None, zname)]
    return {"id": _hex(str(name), 10), "name": name, "results": results}


_CALLS = {
    "cloudflare:index/getZones:getZones": _cloudflare_zones,
    "aws:index/getAvailabilityZones:getAvailabilityZones": _azs,
    "aws:index/getCallerIdentity:getCallerIdentity": _caller_identity,
    "aws:index/getPartition:getPartition": _partition,
    "aws:index/getRegion:getRegion": _region,
    "aws:iam/getPolicyDocument:getPolicyDocument": _policy_document,
    "eks:index:Cluster/getKubeconfig": _kubeconfig,
}


# ---------------------------------------------------------------------- monitor


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """A MockMonitor that records each resource's full registration, options included."""

    def __init__(self, mocks: PlatformMocks):
        super().__init__(mocks)
        self.registrations: list[Registration] = []

    def RegisterResource(self, request):  # noqa: N802 (gRPC method name)
        response = super().RegisterResource(request)
        if request.type == "pulumi:pulumi:Stack":
            self.stack_urn = response.urn
            return response
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
                aliases=[a.urn or a.spec.name for a in request.aliases],
            )
        )
        return response

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
