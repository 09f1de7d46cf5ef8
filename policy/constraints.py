"""Cloud constraints: the API rules AWS (and the providers in front of it) enforce only at deploy time.

The mocks accept anything, so a green plan proves nothing about these: each one is a request
that `pulumi up` sends and AWS refuses, half-way through a deployment. Each constraint here is
one row of `CONSTRAINTS`: an id, what AWS refuses, the documentation that says so
(`source`), where it bit us (`incident`) and its check, a pure function over the same
`rules.Resource` records every other rule reads.

`policy/rules.py` appends `CONSTRAINTS` to `rules.RULES`, so `python -m infra check` and the
CrossGuard pack run them like any other rule; docs/constraints.md is the table in prose.
They are mandatory in every tier: a refused API call fails development like production.

What each front end can see (and so what runs where):
- `delete_before_replace` (the fixed-name rule) is in the offline plan (`newState`) and in
  CrossGuard's resource options; a saved `pulumi preview --json` does not record it, so on
  such a plan `infra check` skips that one rule and the pack still runs it;
- the whole-stack constraints (replica and source, key and service-linked role) run in
  CrossGuard as stack policies, which see every resource with its dependencies.

`force_new.json` (next to this file; policy/FORCE_NEW.md when present says how it is kept)
lists, per resource type, the inputs a change of which replaces the resource: the provider's
ForceNew schema, vendored, and the entries this repository added (the pulumi_eks components).

Standard library only: the CrossGuard pack imports this module in its own virtualenv.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# `rules` is always loaded first: the `policy` package imports it, and the pack (this folder
# run as a script) starts from it. It imports this module at its end, once everything this
# module uses from it (Rule, Resource, the helpers) is defined.
if __package__:
    from . import rules
else:  # imported by `rules` when the pack runs this directory as a script
    import rules  # type: ignore[no-redef]

M = rules.MANDATORY
EVERY_TIER = (M, M, M)

RDS_INSTANCE = rules.RDS_INSTANCE
KMS_KEY = rules.KMS_KEY
LAUNCH_TEMPLATE = rules.LAUNCH_TEMPLATE
SERVICE_LINKED_ROLE = "aws:iam/serviceLinkedRole:ServiceLinkedRole"
LOAD_BALANCER = "aws:lb/loadBalancer:LoadBalancer"
TARGET_GROUP = "aws:lb/targetGroup:TargetGroup"
K8S_SERVICE = "kubernetes:core/v1:Service"
LB_NAME_ANNOTATION = "service.beta.kubernetes.io/aws-load-balancer-name"

with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "force_new.json"), encoding="utf-8") as _handle:
    _FORCE_NEW_FILE = json.load(_handle)
# The vendored provider table, then the entries this repository added (the pulumi_eks
# components among them, under their own input names, with `via`: which child an input reaches).
FORCE_NEW: Mapping[str, Mapping[str, Any]] = {
    **_FORCE_NEW_FILE["resources"],
    **(_FORCE_NEW_FILE.get("resources_added_by_platform") or {}).get("resources", {}),
}


@dataclass(frozen=True)
class Constraint(rules.Rule):
    """A rule AWS enforces at deploy time: a `rules.Rule` with the page that says so."""

    source: str = ""
    # What went wrong the first time (the commit or the file that met it).
    incident: str = ""


# ---------------------------------------------------------------------------- RDS read replicas


def _replicas(resources: Sequence[rules.Resource]) -> list[rules.Resource]:
    return [r for r in resources if r.type == RDS_INSTANCE and rules.is_set(r.get("replicateSourceDb"))]


def _source_of(replica: rules.Resource, resources: Sequence[rules.Resource]) -> rules.Resource | None:
    """The stack's RDS instance `replicateSourceDb` names, if the stack holds it."""
    wanted = replica.get("replicateSourceDb")
    for r in resources:
        if r.type != RDS_INSTANCE or r.urn == replica.urn or rules.is_set(r.get("replicateSourceDb")):
            continue
        # Outputs (a stack policy's view) carry arn and identifier; a plan has property dependencies.
        known = {v for v in (r.get("arn"), r.get("identifier"), r.id) if isinstance(v, str) and not rules.is_unknown(v)}
        if (isinstance(wanted, str) and wanted in known) or replica.refers_to("replicateSourceDb", r):
            return r
    return None


def _replica_of_managed_password(resources: Sequence[rules.Resource], tier: str) -> Iterator[tuple[str, str]]:
    for replica in _replicas(resources):
        source = _source_of(replica, resources)
        if source is not None and rules.flag(source.get("manageMasterUserPassword")):
            yield replica.urn, (
                f"its source {source.name} has manageMasterUserPassword: true, and RDS refuses to create a read replica of a "
                "source whose master password Secrets Manager manages: give the source a generated password of its own "
                "(random.RandomPassword, kept in a secretsmanager.Secret) instead"
            )


def _replica_source_backups(resources: Sequence[rules.Resource], tier: str) -> Iterator[tuple[str, str]]:
    for replica in _replicas(resources):
        source = _source_of(replica, resources)
        days = rules.number(source.get("backupRetentionPeriod")) if source is not None else None
        if source is not None and days is not None and days < 1:
            yield replica.urn, (
                f"its source {source.name} keeps no automated backups (backupRetentionPeriod 0), and RDS creates read replicas "
                "only of a source with backup retention enabled: set the source's backupRetentionPeriod to 1 or more"
            )


def _replica_source_by_arn(r: rules.Resource, tier: str) -> Iterator[str]:
    source, subnet_group = r.get("replicateSourceDb"), r.get("dbSubnetGroupName")
    if not rules.is_set(subnet_group) or not isinstance(source, str) or rules.is_unknown(source) or source == rules.SECRET:
        return
    if not source.startswith("arn:"):
        yield (
            f"replicateSourceDb is {source!r}, an identifier, while dbSubnetGroupName is set: a replica with its own subnet "
            "group must name its source by ARN (replicate_source_db=source.arn)"
        )


# ---------------------------------------------------------------------------- fixed names and replacement

# Inputs that are a resource's physical name; "<field>Prefix" and auto-names are unique per creation.
NAME_FIELDS = ("name", "identifier", "nodeGroupName", "replicationGroupId", "bucket")
# pulumi_eks components, recorded in an offline plan in place of the aws:eks resource that
# carries their name; their ForceNew entry says (`via`) which child each input reaches.
COMPONENT_CHILD = {rules.EKS_CLUSTER_COMPONENT: rules.EKS_CLUSTER, rules.EKS_NODE_GROUP_COMPONENT: rules.EKS_NODE_GROUP}
# Types whose `name` AWS does not keep unique. A KMS grant's name only makes a retry with
# identical parameters idempotent; a replacement (other parameters) is a new grant
# (https://docs.aws.amazon.com/sdk-for-kotlin/api/latest/kms/aws.sdk.kotlin.services.kms.model/-create-grant-request/name.html).
NAMES_NOT_UNIQUE = frozenset({"aws:kms/grant:Grant"})
# Inputs whose change moves the name into another namespace, where it cannot collide: a region,
# a node group's cluster, a security group's VPC.
NAMESPACES = {
    rules.EKS_NODE_GROUP: ("clusterName",),
    rules.EKS_NODE_GROUP_COMPONENT: ("clusterName", "cluster"),
    rules.SECURITY_GROUP: ("vpcId",),
}


def _path_set(inputs: Mapping[str, Any], path: str) -> bool:
    value: Any = inputs
    for part in path.split("."):
        value = rules.one(value) if isinstance(value, (list, tuple, str)) else value
        if not isinstance(value, Mapping):
            return False
        value = value.get(part)
    return rules.is_set(value)


def _fixed_name_replaced_first(r: rules.Resource, tier: str) -> Iterator[str]:
    child = COMPONENT_CHILD.get(r.type, r.type)
    # A component's own entry (its input names, `via`), else its child's (pulumi_eks passes a
    # node group's inputs through under the same names).
    spec = FORCE_NEW.get(r.type) or FORCE_NEW.get(child)
    if spec is None or r.type in NAMES_NOT_UNIQUE or (r.type == child and r.delete_before_replace is not False):
        return  # an unlisted type, a name AWS lets repeat, deleted first, or a source that cannot see the option
    names = [f for f in NAME_FIELDS if f in r.inputs and rules.is_set(r.get(f))]
    if not names:
        return
    via = spec.get("via") or {}
    replacing = [p for p in (*spec.get("force_new", ()), *(spec.get("conditional") or {})) if str(via.get(p, child)).startswith(child)]
    name_like = {*names, *(f"{f}Prefix" for f in NAME_FIELDS), "region", *NAMESPACES.get(r.type, ())}
    triggers = sorted({p for p in replacing if p not in name_like and _path_set(r.inputs, p)})
    if not triggers:
        return
    field = names[0]
    value = r.get(field)
    shown = f" ({value!r})" if isinstance(value, str) and not rules.is_unknown(value) else ""
    rename = f"{field}Prefix" if f"{field}Prefix" in spec.get("force_new", ()) else "the provider's auto-name"
    why = (
        f"{field} is fixed{shown} and a change to {', '.join(triggers)} replaces it: Pulumi creates the replacement "
        "before deleting the original, and AWS refuses a second one of the same name"
    )
    if r.type != child:
        yield f"{why}; deleteBeforeReplace on the {r.type} component does not reach its {child}: drop {field} ({rename} gives each replacement a new name)"
    else:
        yield f"{why}: set delete_before_replace=True in its resource options, or drop {field} ({rename} gives each replacement a new name)"


# ---------------------------------------------------------------------------- load balancer names

ELB_NAME_MAX = 32
_ELB_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?$")


def _elb_name_problems(name: str, what: str, load_balancer: bool) -> Iterator[str]:
    if len(name) > ELB_NAME_MAX:
        yield f"{what} {name!r} is {len(name)} characters: Elastic Load Balancing allows at most {ELB_NAME_MAX}"
    if not _ELB_NAME.match(name):
        yield f"{what} {name!r} may hold only letters, digits and hyphens, and may not begin or end with a hyphen"
    if load_balancer and name.startswith("internal-"):
        yield f"{what} {name!r} may not begin with 'internal-'"


def _lb_name(r: rules.Resource, tier: str) -> Iterator[str]:
    if r.type == K8S_SERVICE:
        metadata = rules.one(r.get("metadata"))
        annotations = rules.decoded(metadata.get("annotations")) if isinstance(metadata, Mapping) else None
        name = annotations.get(LB_NAME_ANNOTATION) if isinstance(annotations, Mapping) else None
        what, load_balancer = f"the {LB_NAME_ANNOTATION} annotation (the NLB the AWS Load Balancer Controller creates)", True
    else:
        name, load_balancer = r.get("name"), r.type == LOAD_BALANCER
        what = "name"
    if isinstance(name, str) and name and not rules.is_unknown(name):
        for problem in _elb_name_problems(name, what, load_balancer):
            yield f"{problem}: rename it (CreateLoadBalancer and CreateTargetGroup refuse it)"


# ---------------------------------------------------------------------------- KMS key policies

_SERVICE_LINKED_ROLE = re.compile(r"^arn:aws[a-z-]*:iam::[^:]*:role/aws-service-role/([^/]+)/([^/]+)$")


def _principals(statement: Mapping[str, Any]) -> Iterable[str]:
    principal = statement.get("Principal")
    if isinstance(principal, str):
        return [principal]
    if not isinstance(principal, Mapping):
        return []
    aws = principal.get("AWS")
    return [aws] if isinstance(aws, str) else [p for p in aws or [] if isinstance(p, str)]


def _service_linked_roles(policy: Any) -> dict[tuple[str, str], list[str]]:
    """(service, role name) -> the Sids of the statements naming that service-linked role."""
    document = rules.decoded(policy)
    if not isinstance(document, Mapping):
        return {}  # unknown, secret or not JSON: nothing to read
    statements = document.get("Statement")
    statements = [statements] if isinstance(statements, Mapping) else statements or []
    found: dict[tuple[str, str], list[str]] = {}
    for i, statement in enumerate(s for s in statements if isinstance(s, Mapping)):
        for principal in _principals(statement):
            match = _SERVICE_LINKED_ROLE.match(principal.strip())
            if match:
                found.setdefault((match.group(1), match.group(2)), []).append(str(statement.get("Sid") or f"Statement[{i}]"))
    return found


def _creates(slr: rules.Resource, service: str, role: str) -> bool:
    suffix = slr.get("customSuffix")
    if slr.get("awsServiceName") != service:
        return False
    if rules.is_set(suffix) and not rules.is_unknown(suffix):
        return role.endswith(f"_{suffix}")
    return "_" not in role


def _kms_service_linked_role(resources: Sequence[rules.Resource], tier: str) -> Iterator[tuple[str, str]]:
    created = [r for r in resources if r.type == SERVICE_LINKED_ROLE]
    for key in (r for r in resources if r.type == KMS_KEY):
        for (service, role), sids in sorted(_service_linked_roles(key.get("policy")).items()):
            mine = [slr for slr in created if _creates(slr, service, role)]
            statements = f"statements {', '.join(sids)} name" if len(sids) > 1 else f"statement {sids[0]} names"
            if any(slr.urn in key.dependencies for slr in mine):
                continue
            if mine:
                yield key.urn, (
                    f"policy {statements} the service-linked role {role}, which {mine[0].name} creates, but the key does "
                    f"not depend on it: add depends_on=[{mine[0].name}] so the role exists when CreateKey checks its principals"
                )
            else:
                yield key.urn, (
                    f"policy {statements} the service-linked role {role}, which a fresh account may not have yet, and "
                    "CreateKey refuses a policy with a principal that does not exist (MalformedPolicyDocumentException: invalid "
                    f"principals): create it in the program (aws.iam.ServiceLinkedRole, aws_service_name={service!r}) and make "
                    "the key depend on it, or leave the role out of the key policy"
                )


# ---------------------------------------------------------------------------- launch template tags

LAUNCHED_TAGGED = ("instance", "volume")


def _launch_template_base_tags(r: rules.Resource, tier: str) -> Iterator[str]:
    specs = rules.decoded(r.get("tagSpecifications"))
    if rules.is_unknown(specs):
        return
    defaults = rules.provider_default_tags(r.provider_inputs)
    by_type: dict[str, Mapping[str, Any]] = {}
    for spec in specs if isinstance(specs, (list, tuple)) else []:
        if isinstance(spec, Mapping) and isinstance(spec.get("resourceType"), str):
            tags = rules.decoded(spec.get("tags"))
            by_type[spec["resourceType"]] = tags if isinstance(tags, Mapping) else {}
    base = ", ".join(rules.REQUIRED_TAGS)
    for kind in LAUNCHED_TAGGED:
        if kind not in by_type:
            yield (
                f"add a tagSpecifications entry for resourceType {kind!r} with the base tags ({base}): the provider's default "
                f"tags tag the launch template itself, never the {kind}s it launches"
            )
            continue
        tags = by_type[kind]
        missing = [k for k in rules.REQUIRED_TAGS if not rules.is_set(tags.get(k))]
        if missing:
            yield f"tagSpecifications[{kind}] lacks {', '.join(missing)}: carry every base tag ({base}), as in the provider's defaultTags"
        for k in rules.REQUIRED_TAGS:
            mine, default = tags.get(k), defaults.get(k)
            if k not in missing and rules.is_set(default) and not any(rules.is_unknown(v) for v in (mine, default)) and mine != default:
                yield f"tagSpecifications[{kind}] has {k}={mine!r}, the provider's defaultTags say {default!r}: use the provider's value"


# ---------------------------------------------------------------------------- EKS add-ons before nodes

EKS_ADDON = "aws:eks/addon:Addon"
NODE_GROUPS = ("eks:index:ManagedNodeGroup", "aws:eks/nodeGroup:NodeGroup", "eks:index:NodeGroupV2", "eks:index:NodeGroup")
# The add-ons that run a Deployment (not a DaemonSet): with no node to schedule on, EKS keeps
# them DEGRADED and the provider's create waits out its 20-minute timeout.
DEPLOYMENT_ADDONS = frozenset({"coredns", "aws-ebs-csi-driver", "aws-efs-csi-driver", "metrics-server", "adot", "amazon-cloudwatch-observability"})


def _addon_before_nodes(resources: Sequence[rules.Resource], tier: str) -> Iterator[tuple[str, str]]:
    groups = [r for r in resources if r.type in NODE_GROUPS]
    if not groups:
        return  # Fargate or Auto Mode: nothing to wait for in this stack
    for addon in (r for r in resources if r.type == EKS_ADDON and r.get("addonName") in DEPLOYMENT_ADDONS):
        missing = [g.name for g in groups if g.urn not in addon.dependencies]
        if len(missing) == len(groups):
            yield addon.urn, (
                f"add-on {addon.get('addonName')} runs a Deployment and does not wait for any node group ({', '.join(missing)}): "
                "created with the control plane it stays DEGRADED until the 20-minute create timeout fails the update; "
                "add depends_on=[the node groups]"
            )


# ---------------------------------------------------------------------------- Helm: Loki monolithic

HELM_RELEASE = "kubernetes:helm.sh/v3:Release"


def _path(values: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(values, Mapping):
            return None
        values = values.get(key)
    return values


def _loki_monolithic(r: rules.Resource, tier: str) -> Iterator[str]:
    chart = r.get("chart")
    values = r.get("values")
    if not isinstance(chart, str) or chart.rsplit("/", 1)[-1] != "loki" or not isinstance(values, Mapping):
        return
    if rules.flag(_path(values, "loki", "compactor", "retention_enabled")) and not rules.is_set(_path(values, "loki", "compactor", "delete_request_store")):
        yield (
            "values.loki.compactor.retention_enabled without values.loki.compactor.delete_request_store: Loki exits at start "
            "(\"compactor.delete-request-store should be configured when retention is enabled\"); set it to the object store (s3)"
        )
    if _path(values, "deploymentMode") in ("Monolithic", "SingleBinary"):
        scaled = [t for t in ("backend", "read", "write") if rules.number(_path(values, t, "replicas")) != 0]
        if scaled:
            yield (
                f"deploymentMode {_path(values, 'deploymentMode')} with {', '.join(scaled)} replicas left at the chart's default (3): "
                "the chart refuses to render both modes at once; set values.<target>.replicas: 0 for " + ", ".join(scaled)
            )


# ---------------------------------------------------------------------------- custom resources and their CRDs

CRD = "kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition"
# Kubernetes' own API groups (and the provider's helm/yaml types): never a CRD's.
_BUILTIN_GROUPS = re.compile(r"^(core|apps|batch|policy|autoscaling|networking\.k8s\.io|rbac\.authorization\.k8s\.io|storage\.k8s\.io|scheduling\.k8s\.io|"
                             r"apiextensions\.k8s\.io|admissionregistration\.k8s\.io|coordination\.k8s\.io|discovery\.k8s\.io|node\.k8s\.io|"
                             r"certificates\.k8s\.io|events\.k8s\.io|flowcontrol\.apiserver\.k8s\.io|resource\.k8s\.io|helm\.sh|yaml|kustomize)$")


def _custom_resource_kind(token: str) -> tuple[str, str] | None:
    """(group, kind) of a `kubernetes:<group>/<version>:<Kind>` token outside the built-in groups."""
    match = re.fullmatch(r"kubernetes:([^/:]+)/[^:]+:(\w+)", token)
    if match is None or _BUILTIN_GROUPS.match(match.group(1)):
        return None
    return match.group(1), match.group(2)


def _custom_resource_without_crd(resources: Sequence[rules.Resource], tier: str) -> Iterator[tuple[str, str]]:
    defined = set()
    for r in resources:
        if r.type == CRD:
            spec = r.get("spec") or {}
            names = spec.get("names") or {} if isinstance(spec, Mapping) else {}
            if isinstance(spec, Mapping) and isinstance(names, Mapping):
                defined.add((spec.get("group"), names.get("kind")))
    for r in resources:
        kind = _custom_resource_kind(r.type)
        if kind is not None and kind not in defined:
            yield r.urn, (
                f"a {kind[1]} ({kind[0]}) whose CustomResourceDefinition is not a resource of this stack: on a new cluster the "
                "preview cannot find the kind (a CRD a Helm release installs exists only after the release); manage the CRD "
                "as a resource first, or let the release create the object from its values"
            )


# ---------------------------------------------------------------------------- the table

CONSTRAINTS: tuple[Constraint, ...] = (
    Constraint(
        id="aws-rds-replica-managed-password",
        levels=EVERY_TIER,
        types=(RDS_INSTANCE,),
        check=_replica_of_managed_password,
        whole_stack=True,
        description="RDS creates no read replica of a source whose master password Secrets Manager manages",
        source="https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/rds-secrets-manager.html#rds-secrets-manager-limitations",
        incident="prod's replica (61585ca: the source's master password is generated and kept in its own secret)",
    ),
    Constraint(
        id="aws-rds-replica-source-arn",
        levels=EVERY_TIER,
        types=(RDS_INSTANCE,),
        check=_replica_source_by_arn,
        description="A same-region replica that sets dbSubnetGroupName names its source by ARN, not identifier",
        source="https://github.com/hashicorp/terraform-provider-aws/blob/main/website/docs/r/db_instance.html.markdown",
        incident="prod's replica (61585ca: replicate_source_db=instance.arn)",
    ),
    Constraint(
        id="aws-rds-replica-source-backups",
        levels=EVERY_TIER,
        types=(RDS_INSTANCE,),
        check=_replica_source_backups,
        whole_stack=True,
        description="RDS creates read replicas only of a source with automated backups (retention 1 day or more)",
        source="https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_CreateDBInstanceReadReplica.html",
        incident="not yet: every stack with a replica keeps backups",
    ),
    Constraint(
        id="aws-fixed-name-create-before-delete",
        levels=EVERY_TIER,
        types=(*(t for t in FORCE_NEW if t.startswith("aws:")), *COMPONENT_CHILD),
        check=_fixed_name_replaced_first,
        description=(
            "A resource with a fixed physical name that a change can replace is deleted before it is replaced "
            "(Pulumi creates the replacement first, and AWS refuses a duplicate name)"
        ),
        source="https://www.pulumi.com/docs/iac/concepts/resources/options/deletebeforereplace/",
        incident="the managed node groups' fixed nodeGroupName (infra/components/cluster.py, now a name prefix)",
    ),
    Constraint(
        id="aws-lb-name",
        levels=EVERY_TIER,
        types=(LOAD_BALANCER, TARGET_GROUP, K8S_SERVICE),
        check=_lb_name,
        description="Load balancer and target group names: at most 32 letters, digits and hyphens, no leading or trailing hyphen",
        source="https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_CreateLoadBalancer.html",
        incident="the Traefik NLB, named by the aws-load-balancer-name annotation (infra/components/edge.py)",
    ),
    Constraint(
        id="aws-kms-policy-service-linked-role",
        levels=EVERY_TIER,
        types=(KMS_KEY, SERVICE_LINKED_ROLE),
        check=_kms_service_linked_role,
        whole_stack=True,
        description="A KMS key policy names a service-linked role only if the program creates that role first (CreateKey refuses unknown principals)",
        source="https://docs.aws.amazon.com/sdk-for-kotlin/api/latest/kms/aws.sdk.kotlin.services.kms.model/-create-key-request/policy.html",
        incident="the platform key's policy statements for AWSServiceRoleForAutoScaling (infra/components/keys.py, now a KMS grant)",
    ),
    Constraint(
        id="aws-launch-template-base-tags",
        levels=EVERY_TIER,
        types=(LAUNCH_TEMPLATE,),
        check=_launch_template_base_tags,
        description="Launch templates tag the instances and volumes they launch with the base tags (provider default tags do not reach them)",
        source="https://github.com/hashicorp/terraform-provider-aws/issues/19387",
        incident="node instances and volumes outside the tag-filtered budget (61585ca: tagSpecifications for instances, volumes, ENIs)",
    ),
    Constraint(
        id="aws-eks-addon-after-nodes",
        levels=EVERY_TIER,
        types=(EKS_ADDON, *NODE_GROUPS),
        check=_addon_before_nodes,
        whole_stack=True,
        description="An EKS add-on that runs a Deployment (CoreDNS, EBS CSI) is created after a node group (before one, it hangs DEGRADED)",
        source="https://github.com/pulumi/pulumi-eks/issues/1819",
        incident="pulumi_eks's CoreDNS add-on, created with the control plane (infra/components/addons.py now creates it after the node groups)",
    ),
    Constraint(
        id="helm-loki-monolithic",
        levels=EVERY_TIER,
        types=(HELM_RELEASE,),
        check=_loki_monolithic,
        description="A Loki release with retention names its delete-request store, and a monolithic one scales the simple-scalable targets to 0",
        source="https://github.com/grafana/loki/blob/main/pkg/compactor/config.go",
        incident="infra/components/logs.py (Loki 18.11.0: both found reading the chart and Loki before the first deploy)",
    ),
    Constraint(
        id="k8s-custom-resource-crd-in-stack",
        levels=EVERY_TIER,
        types=(CRD,),
        check=_custom_resource_without_crd,
        whole_stack=True,
        description="A custom resource the program creates has its CustomResourceDefinition among the stack's resources",
        source="https://github.com/pulumi/pulumi-kubernetes/issues/3247",
        incident="Traefik's PodMonitor (infra/components/monitoring.py, now the kube-prometheus-stack release's additionalPodMonitors)",
    ),
)
