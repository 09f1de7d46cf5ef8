"""Cloud constraints (policy/constraints.py): the API rules AWS enforces only at deploy time.

- every constraint is sourced (an https URL), has a unique id, is mandatory in every tier and
  is registered in the one rule table (`rules.RULES`), so `infra check` and the pack run it;
- every constraint passes on the program's own plans of dev, staging and prod (a known failure
  is marked `xfail(strict=True)` with the fix that removes it, so the mark flips when it lands)
  and fails, with exactly the expected line, on a doctored copy of a plan or on hand-made records;
- `python -m infra check --plan FILE` exits 1 on a doctored plan;
- the CrossGuard pack registers each constraint and reports it through the analyzer;
- docs/constraints.md lists every constraint with its source.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pulumi.runtime
import pytest
from google.protobuf import struct_pb2
from pulumi.runtime import proto
from pulumi_policy import EnforcementLevel, ResourceValidationPolicy, StackValidationPolicy
from pulumi_policy.policy import _PolicyAnalyzerServicer

import policy.__main__ as pack
from infra import cli
from infra.review import check
from policy import constraints, rules
from policy.constraints import CONSTRAINTS
from policy.rules import Resource
from tests.conftest import STACKS
from tests.conftest import plan as plan_of

ROOT = Path(__file__).resolve().parents[1]
IDS = [c.id for c in CONSTRAINTS]

RDS = "urn:pulumi:prod::platform::platform:database:Database$aws:rds/instance:Instance::"
KEY = "urn:pulumi:prod::platform::platform:keys:Keys$aws:kms/key:Key::platform-prod-key"
LT = "urn:pulumi:prod::platform::platform:cluster:Cluster$aws:ec2/launchTemplate:LaunchTemplate::platform-prod-general-lt"
LB_SERVICE = "urn:pulumi:prod::platform::platform:edge:Edge$kubernetes:core/v1:Service::platform-prod-traefik-lb"
LOG_GROUP = "urn:pulumi:prod::platform::platform:cluster:Cluster$aws:cloudwatch/logGroup:LogGroup::platform-prod-control-plane-logs"
SLR_ARN = "arn:aws:iam::123456789012:role/aws-service-role/{service}/{role}"
BASE_TAGS = {"Project": "platform", "Environment": "prod", "ManagedBy": "pulumi", "Tier": "production"}


# ---------------------------------------------------------------------------- helpers


def lines(resources: list[Resource], tier: str = "production") -> list[str]:
    """What `infra check` prints for these records under the constraints, summary line left out."""
    report = check.Report(tier, "test", len(resources), rules.evaluate(resources, tier, CONSTRAINTS))
    return check.format_report(report)[:-1]


def plan_lines(plan: dict[str, Any], rule_id: str) -> list[str]:
    """The lines `infra check` prints for one rule over a plan."""
    return [line for line in check.format_report(check.check_plan(plan))[:-1] if line.split()[1] == rule_id]


def state(plan: dict[str, Any], urn: str) -> dict[str, Any]:
    (found,) = [s["newState"] for s in plan["steps"] if s["newState"]["urn"] == urn]
    return found


def res(type_: str, logical: str, /, *, dbr: bool | None = False, provider: dict | None = None, deps: tuple[str, ...] = (), **inputs: Any) -> Resource:
    return Resource(
        type=type_, urn=f"urn:pulumi:t::platform::{type_}::{logical}", inputs=inputs,
        delete_before_replace=dbr, provider_inputs=provider, dependencies=deps,
    )


@pytest.fixture
def prod_plan() -> dict[str, Any]:
    """A private copy of the program's prod plan (the cached one stays untouched)."""
    return copy.deepcopy(plan_of("prod").data)


# ---------------------------------------------------------------------------- the table


def test_every_constraint_is_sourced_unique_and_mandatory_everywhere():
    assert len(set(IDS)) == len(IDS)
    for constraint in CONSTRAINTS:
        url = urlparse(constraint.source)
        assert url.scheme == "https" and url.netloc, constraint.id
        # Named for who refuses: AWS, a chart or its software (helm-), the Kubernetes provider (k8s-).
        assert constraint.id.startswith(("aws-", "helm-", "k8s-")) and constraint.description and constraint.incident
        assert constraint.levels == (rules.MANDATORY,) * 3


def test_constraints_are_in_the_one_rule_table():
    assert rules.RULES[-len(CONSTRAINTS):] == CONSTRAINTS
    assert all(rules.RULES_BY_ID[c.id] is c for c in CONSTRAINTS)
    assert len(rules.RULES_BY_ID) == len(rules.RULES)


def test_force_new_is_the_vendored_table():
    vendored = json.loads((ROOT / "policy" / "force_new.json").read_text())
    assert set(vendored["resources"]) <= set(constraints.FORCE_NEW)
    assert constraints.FORCE_NEW["aws:eks/nodeGroup:NodeGroup"]["force_new"]
    fixed_name = rules.RULES_BY_ID["aws-fixed-name-create-before-delete"]
    assert all(fixed_name.applies_to(t) for t in vendored["resources"] if t.startswith("aws:"))
    assert fixed_name.applies_to(rules.EKS_NODE_GROUP_COMPONENT) and not fixed_name.applies_to("kubernetes:helm.sh/v3:Release")


def test_docs_list_every_constraint_with_its_source():
    text = (ROOT / "docs" / "constraints.md").read_text()
    for constraint in CONSTRAINTS:
        row = next((line for line in text.splitlines() if line.startswith(f"| `{constraint.id}` |")), None)
        assert row is not None, f"docs/constraints.md has no row for {constraint.id}"
        assert constraint.source in row


# ---------------------------------------------------------------------------- the program's own plans pass

# rule id -> why today's program fails it and which fix flips it: marked xfail(strict=True), so
# the mark must go when the fix lands. (Both first failures are fixed: the key policy no longer
# names AWSServiceRoleForAutoScaling (infra/components/keys.py), and the node groups take a name
# prefix instead of a fixed name (infra/components/cluster.py).)
KNOWN_FAILURES: dict[str, str] = {}


def _own_plan_params():
    for rule_id in IDS:
        for stack in STACKS:
            marks = [pytest.mark.xfail(strict=True, reason=KNOWN_FAILURES[rule_id])] if rule_id in KNOWN_FAILURES else []
            yield pytest.param(rule_id, stack, marks=marks, id=f"{rule_id}-{stack}")


@pytest.mark.parametrize(("rule_id", "stack"), list(_own_plan_params()))
def test_the_programs_plans_pass(rule_id, stack):
    assert plan_lines(plan_of(stack).data, rule_id) == []


def test_the_plans_exercise_the_constraints():
    """A fair passing case: prod holds a replica with its source, a key policy, launch templates, the NLB Service."""
    present = {s["newState"]["type"] for s in plan_of("prod").data["steps"]}
    assert [c.id for c in CONSTRAINTS if not any(c.applies_to(t) for t in present)] == []
    replica = state(plan_of("prod").data, RDS + "platform-prod-db-replica-1")
    assert replica["inputs"]["replicateSourceDb"].startswith("arn:") and replica["inputs"]["dbSubnetGroupName"]


# ---------------------------------------------------------------------------- each constraint fails: RDS replicas


def test_replica_of_a_source_with_a_managed_password(prod_plan):
    source = state(prod_plan, RDS + "platform-prod-db")["inputs"]
    source.pop("password")
    source["manageMasterUserPassword"] = True
    assert plan_lines(prod_plan, "aws-rds-replica-managed-password") == [
        f"MANDATORY aws-rds-replica-managed-password {RDS}platform-prod-db-replica-1: its source platform-prod-db has "
        "manageMasterUserPassword: true, and RDS refuses to create a read replica of a source whose master password "
        "Secrets Manager manages: give the source a generated password of its own (random.RandomPassword, kept in a "
        "secretsmanager.Secret) instead"
    ]


def test_replica_source_found_by_arn_in_a_stack_policy_view():
    """CrossGuard's stack policies see outputs: the source is matched by its ARN, without property dependencies."""
    arn = "arn:aws:rds:us-east-1:123456789012:db:db-1"
    source = res(rules.RDS_INSTANCE, "db", manageMasterUserPassword=True, arn=arn, identifier="db-1")
    replica = res(rules.RDS_INSTANCE, "replica", replicateSourceDb=arn)
    other = res(rules.RDS_INSTANCE, "other", replicateSourceDb="arn:aws:rds:us-west-2:123456789012:db:elsewhere")
    assert [line.split(": ")[0] for line in lines([source, replica, other])] == [
        f"MANDATORY aws-rds-replica-managed-password {replica.urn}"
    ]
    assert lines([res(rules.RDS_INSTANCE, "db", arn=arn), replica]) == []


def test_same_region_replica_with_a_subnet_group_names_its_source_by_arn(prod_plan):
    state(prod_plan, RDS + "platform-prod-db-replica-1")["inputs"]["replicateSourceDb"] = "platform-prod-db-a4ba1c7"
    assert plan_lines(prod_plan, "aws-rds-replica-source-arn") == [
        f"MANDATORY aws-rds-replica-source-arn {RDS}platform-prod-db-replica-1: replicateSourceDb is 'platform-prod-db-a4ba1c7', "
        "an identifier, while dbSubnetGroupName is set: a replica with its own subnet group must name its source by ARN "
        "(replicate_source_db=source.arn)"
    ]
    # Without its own subnet group, a same-region replica may name its source by identifier.
    del state(prod_plan, RDS + "platform-prod-db-replica-1")["inputs"]["dbSubnetGroupName"]
    assert plan_lines(prod_plan, "aws-rds-replica-source-arn") == []


def test_replica_of_a_source_without_backups(prod_plan):
    state(prod_plan, RDS + "platform-prod-db")["inputs"]["backupRetentionPeriod"] = 0
    assert plan_lines(prod_plan, "aws-rds-replica-source-backups") == [
        f"MANDATORY aws-rds-replica-source-backups {RDS}platform-prod-db-replica-1: its source platform-prod-db keeps no "
        "automated backups (backupRetentionPeriod 0), and RDS creates read replicas only of a source with backup retention "
        "enabled: set the source's backupRetentionPeriod to 1 or more"
    ]


# ---------------------------------------------------------------------------- fixed names and create-before-delete


def test_fixed_name_replaced_create_before_delete(prod_plan):
    logs = state(prod_plan, LOG_GROUP)
    # The fixed log group name alone is fine: only a rename (a new name) replaces it.
    assert plan_lines(prod_plan, "aws-fixed-name-create-before-delete") == []
    logs["inputs"]["logGroupClass"] = "INFREQUENT_ACCESS"
    expected = (
        f"MANDATORY aws-fixed-name-create-before-delete {LOG_GROUP}: name is fixed ('/aws/eks/platform-prod/cluster') and "
        "a change to logGroupClass replaces it: Pulumi creates the replacement before deleting the original, and AWS "
        "refuses a second one of the same name: set delete_before_replace=True in its resource options, or drop name "
        "(namePrefix gives each replacement a new name)"
    )
    assert plan_lines(prod_plan, "aws-fixed-name-create-before-delete") == [expected]
    logs["deleteBeforeReplace"] = True
    assert plan_lines(prod_plan, "aws-fixed-name-create-before-delete") == []


def test_fixed_name_on_a_component_asks_for_a_prefix():
    group = res(rules.EKS_NODE_GROUP_COMPONENT, "general", dbr=True, nodeGroupName="platform-dev-general", instanceTypes=["t3.medium"])
    assert lines([group]) == [
        f"MANDATORY aws-fixed-name-create-before-delete {group.urn}: nodeGroupName is fixed ('platform-dev-general') and a "
        "change to instanceTypes replaces it: Pulumi creates the replacement before deleting the original, and AWS refuses "
        "a second one of the same name; deleteBeforeReplace on the eks:index:ManagedNodeGroup component does not reach its "
        "aws:eks/nodeGroup:NodeGroup: drop nodeGroupName (nodeGroupNamePrefix gives each replacement a new name)"
    ]
    assert lines([res(rules.EKS_NODE_GROUP_COMPONENT, "general", nodeGroupNamePrefix="platform-dev-general-", instanceTypes=["t3.medium"])]) == []


@pytest.mark.parametrize(
    ("record", "flagged"),
    [
        (res(rules.RDS_INSTANCE, "db", identifier="app-db", kmsKeyId="k", storageEncrypted=True, parameterGroupName="pg"), True),
        (res(rules.RDS_INSTANCE, "db", dbr=True, identifier="app-db", kmsKeyId="k", storageEncrypted=True, parameterGroupName="pg"), False),
        # A saved `pulumi preview --json` does not record deleteBeforeReplace: not judged.
        (res(rules.RDS_INSTANCE, "db", dbr=None, identifier="app-db", kmsKeyId="k", storageEncrypted=True, parameterGroupName="pg"), False),
        (res(rules.RDS_INSTANCE, "db", kmsKeyId="k", storageEncrypted=True, parameterGroupName="pg"), False),  # auto-named
        (res("aws:kms/alias:Alias", "alias", name="alias/platform-dev", targetKeyId="k"), False),  # only a rename replaces it
        (res("aws:lb/listener:Listener", "listener", name="x", port=443), False),  # not in force_new.json
        # A change that moves the name into another namespace cannot collide.
        (res(rules.SECURITY_GROUP, "sg", name="db", vpcId="vpc-1"), False),
        (res(rules.SECURITY_GROUP, "sg", name="db", vpcId="vpc-1", description="the database"), True),
        (res(rules.EKS_NODE_GROUP_COMPONENT, "ng", nodeGroupName="general", cluster="urn:c"), False),
        # A component input counts only if it replaces the child that carries the name (force_new.json `via`).
        (res(rules.EKS_CLUSTER_COMPONENT, "eks", name="platform-dev", vpcId="vpc-1", version="1.35"), False),
        pytest.param(
            res(rules.EKS_CLUSTER_COMPONENT, "eks", name="platform-dev", serviceRole="urn:role"), True,
            marks=pytest.mark.skipif(rules.EKS_CLUSTER_COMPONENT not in constraints.FORCE_NEW, reason="force_new.json has no entry of its own for eks:index:Cluster"),
        ),
        # A KMS grant's name is an idempotency token, not a unique name.
        (res("aws:kms/grant:Grant", "grant", name="node-volumes", keyId="k", granteePrincipal="arn:aws:iam::1:role/r", operations=["Decrypt"]), False),
    ],
    ids=[
        "fixed-identifier", "delete-before-replace", "unseen-option", "auto-named", "name-is-the-only-force-new",
        "unlisted-type", "sg-other-vpc", "sg-new-description", "node-group-other-cluster", "cluster-vpc-reaches-its-sg",
        "cluster-service-role", "kms-grant-name-repeats",
    ],
)
def test_fixed_name_cases(record, flagged):
    found = rules.RULES_BY_ID["aws-fixed-name-create-before-delete"].findings([record], "development")
    assert bool(found) is flagged


def test_real_preview_without_the_option_is_not_judged(prod_plan):
    state(prod_plan, LOG_GROUP)["inputs"]["logGroupClass"] = "INFREQUENT_ACCESS"
    for step in prod_plan["steps"]:
        step["newState"].pop("deleteBeforeReplace", None)
    assert plan_lines(prod_plan, "aws-fixed-name-create-before-delete") == []


# ---------------------------------------------------------------------------- load balancer names


def test_nlb_name_annotation_over_32_characters(prod_plan):
    annotations = state(prod_plan, LB_SERVICE)["inputs"]["metadata"]["annotations"]
    annotations[constraints.LB_NAME_ANNOTATION] = "platform-production-eu-central-1"  # 32: fine
    assert plan_lines(prod_plan, "aws-lb-name") == []
    annotations[constraints.LB_NAME_ANNOTATION] = "platform-production-eu-central-1a"
    assert plan_lines(prod_plan, "aws-lb-name") == [
        f"MANDATORY aws-lb-name {LB_SERVICE}: the service.beta.kubernetes.io/aws-load-balancer-name annotation (the NLB the "
        "AWS Load Balancer Controller creates) 'platform-production-eu-central-1a' is 33 characters: Elastic Load Balancing "
        "allows at most 32: rename it (CreateLoadBalancer and CreateTargetGroup refuse it)"
    ]


def test_load_balancer_and_target_group_names():
    tg = res(constraints.TARGET_GROUP, "tg", name="platform-staging-traefik-websecure")
    lb = res(constraints.LOAD_BALANCER, "lb", name="internal-api-")
    assert lines([tg, lb]) == [
        f"MANDATORY aws-lb-name {lb.urn}: name 'internal-api-' may hold only letters, digits and hyphens, and may not begin "
        "or end with a hyphen: rename it (CreateLoadBalancer and CreateTargetGroup refuse it)",
        f"MANDATORY aws-lb-name {lb.urn}: name 'internal-api-' may not begin with 'internal-': rename it "
        "(CreateLoadBalancer and CreateTargetGroup refuse it)",
        f"MANDATORY aws-lb-name {tg.urn}: name 'platform-staging-traefik-websecure' is 34 characters: Elastic Load Balancing "
        "allows at most 32: rename it (CreateLoadBalancer and CreateTargetGroup refuse it)",
    ]
    assert lines([res(constraints.TARGET_GROUP, "tg", name="internal-ok"), res(constraints.LOAD_BALANCER, "lb", name=rules.UNKNOWN)]) == []


# ---------------------------------------------------------------------------- KMS key policies and service-linked roles


def _key_policy(*principals: str) -> str:
    statements = [{"Sid": f"S{i}", "Effect": "Allow", "Principal": {"AWS": p}, "Action": "kms:*", "Resource": "*"} for i, p in enumerate(principals)]
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


def test_key_policy_naming_a_service_linked_role_the_program_does_not_create(prod_plan):
    key = state(prod_plan, KEY)["inputs"]
    document = json.loads(key["policy"])
    role = SLR_ARN.format(service="elasticloadbalancing.amazonaws.com", role="AWSServiceRoleForElasticLoadBalancing")
    document["Statement"].append({"Sid": "LoadBalancers", "Effect": "Allow", "Principal": {"AWS": [role]}, "Action": "kms:Decrypt", "Resource": "*"})
    key["policy"] = json.dumps(document)
    assert [line for line in plan_lines(prod_plan, "aws-kms-policy-service-linked-role") if "ElasticLoadBalancing" in line] == [
        f"MANDATORY aws-kms-policy-service-linked-role {KEY}: policy statement LoadBalancers names the service-linked role "
        "AWSServiceRoleForElasticLoadBalancing, which a fresh account may not have yet, and CreateKey refuses a policy with "
        "a principal that does not exist (MalformedPolicyDocumentException: invalid principals): create it in the program "
        "(aws.iam.ServiceLinkedRole, aws_service_name='elasticloadbalancing.amazonaws.com') and make the key depend on it, "
        "or leave the role out of the key policy"
    ]


def test_key_policy_service_linked_role_created_and_depended_on():
    role = SLR_ARN.format(service="autoscaling.amazonaws.com", role="AWSServiceRoleForAutoScaling")
    slr = res(constraints.SERVICE_LINKED_ROLE, "asg-role", awsServiceName="autoscaling.amazonaws.com")
    key = res(rules.KMS_KEY, "key", enableKeyRotation=True, policy=_key_policy(role, "arn:aws:iam::123456789012:root"))
    assert lines([slr, key]) == [
        f"MANDATORY aws-kms-policy-service-linked-role {key.urn}: policy statement S0 names the service-linked role "
        "AWSServiceRoleForAutoScaling, which asg-role creates, but the key does not depend on it: add depends_on=[asg-role] "
        "so the role exists when CreateKey checks its principals"
    ]
    depends = res(rules.KMS_KEY, "key", enableKeyRotation=True, policy=key.get("policy"), deps=(slr.urn,))
    assert lines([slr, depends]) == []
    # A role with a custom suffix is another role.
    suffixed = res(constraints.SERVICE_LINKED_ROLE, "asg-role", awsServiceName="autoscaling.amazonaws.com", customSuffix="nodes")
    assert [line.split(": ")[0] for line in lines([suffixed, res(rules.KMS_KEY, "key", enableKeyRotation=True, policy=key.get("policy"), deps=(suffixed.urn,))])] == [
        f"MANDATORY aws-kms-policy-service-linked-role {key.urn}"
    ]


@pytest.mark.parametrize(
    "policy",
    [rules.UNKNOWN, rules.SECRET, "not json", _key_policy("arn:aws:iam::123456789012:role/platform-admin"), json.dumps({"Statement": {"Principal": "*"}})],
    ids=["unknown", "secret", "not-json", "ordinary-role", "wildcard"],
)
def test_key_policies_without_a_service_linked_role_pass(policy):
    assert lines([res(rules.KMS_KEY, "key", enableKeyRotation=True, policy=policy)]) == []


# ---------------------------------------------------------------------------- launch template tags


def test_launch_template_without_volume_tags(prod_plan):
    specs = state(prod_plan, LT)["inputs"]["tagSpecifications"]
    specs[:] = [s for s in specs if s["resourceType"] != "volume"]
    instance = next(s for s in specs if s["resourceType"] == "instance")
    del instance["tags"]["ManagedBy"]
    instance["tags"]["Environment"] = "production"
    assert plan_lines(prod_plan, "aws-launch-template-base-tags") == [
        f"MANDATORY aws-launch-template-base-tags {LT}: tagSpecifications[instance] lacks ManagedBy: carry every base tag "
        "(Project, Environment, ManagedBy), as in the provider's defaultTags",
        f"MANDATORY aws-launch-template-base-tags {LT}: tagSpecifications[instance] has Environment='production', the "
        "provider's defaultTags say 'prod': use the provider's value",
        f"MANDATORY aws-launch-template-base-tags {LT}: add a tagSpecifications entry for resourceType 'volume' with the base "
        "tags (Project, Environment, ManagedBy): the provider's default tags tag the launch template itself, never the "
        "volumes it launches",
    ]


def test_launch_template_with_no_tag_specifications():
    provider = {"defaultTags": json.dumps({"tags": BASE_TAGS})}
    bare = res(rules.LAUNCH_TEMPLATE, "lt", provider=provider)
    assert [line.split(": ", 1)[1].split(":")[0] for line in lines([bare])] == [
        "add a tagSpecifications entry for resourceType 'instance' with the base tags (Project, Environment, ManagedBy)",
        "add a tagSpecifications entry for resourceType 'volume' with the base tags (Project, Environment, ManagedBy)",
    ]
    tagged = [{"resourceType": kind, "tags": dict(BASE_TAGS)} for kind in ("instance", "volume")]
    assert lines([res(rules.LAUNCH_TEMPLATE, "lt", provider=provider, tagSpecifications=tagged)]) == []


# ---------------------------------------------------------------------------- EKS add-ons after the nodes

COREDNS = "urn:pulumi:prod::platform::platform:addons:Addons$aws:eks/addon:Addon::platform-prod-addon-coredns"


def test_coredns_created_with_the_control_plane(prod_plan):
    coredns = state(prod_plan, COREDNS)
    coredns["dependencies"] = [d for d in coredns["dependencies"] if "ManagedNodeGroup" not in d]
    assert plan_lines(prod_plan, "aws-eks-addon-after-nodes") == [
        f"MANDATORY aws-eks-addon-after-nodes {COREDNS}: add-on coredns runs a Deployment and does not wait for any node "
        "group (platform-prod-general, platform-prod-spot): created with the control plane it stays DEGRADED until the "
        "20-minute create timeout fails the update; add depends_on=[the node groups]"
    ]


@pytest.mark.parametrize(
    ("addon", "deps", "groups", "flagged"),
    [
        ("coredns", (), 1, True),
        ("aws-ebs-csi-driver", (), 1, True),
        ("coredns", ("g0",), 2, False),  # one group is enough for its pods
        ("vpc-cni", (), 1, False),  # a DaemonSet: healthy with no node
        ("coredns", (), 0, False),  # no node group in the stack (Fargate, Auto Mode)
    ],
)
def test_addon_after_nodes_cases(addon, deps, groups, flagged):
    nodes = [res("eks:index:ManagedNodeGroup", f"g{i}") for i in range(groups)]
    record = res(constraints.EKS_ADDON, "addon", addonName=addon, deps=tuple(f"urn:pulumi:t::platform::eks:index:ManagedNodeGroup::{d}" for d in deps))
    assert bool(lines([*nodes, record])) is flagged


# ---------------------------------------------------------------------------- each constraint fails: Helm and custom resources

LOKI = "urn:pulumi:prod::platform::platform:logs:Logs$kubernetes:helm.sh/v3:Release::platform-prod-loki"


@pytest.mark.parametrize(
    ("doctor", "message"),
    [
        (
            lambda v: v["loki"]["compactor"].pop("delete_request_store"),
            "values.loki.compactor.retention_enabled without values.loki.compactor.delete_request_store: Loki exits at start "
            '("compactor.delete-request-store should be configured when retention is enabled"); set it to the object store (s3)',
        ),
        (
            lambda v: (v.pop("read"), v.pop("write")),
            "deploymentMode Monolithic with read, write replicas left at the chart's default (3): the chart refuses to render both "
            "modes at once; set values.<target>.replicas: 0 for read, write",
        ),
    ],
    ids=["no-delete-request-store", "simple-scalable-targets-left-on"],
)
def test_a_loki_release_loki_or_its_chart_refuses(prod_plan, doctor, message):
    doctor(state(prod_plan, LOKI)["inputs"]["values"])
    assert plan_lines(prod_plan, "helm-loki-monolithic") == [f"MANDATORY helm-loki-monolithic {LOKI}: {message}"]


POD_MONITOR = "kubernetes:monitoring.coreos.com/v1:PodMonitor"


def test_a_custom_resource_needs_its_crd_in_the_stack():
    monitor = res(POD_MONITOR, "traefik")
    crd = res(constraints.CRD, "podmonitors", spec={"group": "monitoring.coreos.com", "names": {"kind": "PodMonitor", "plural": "podmonitors"}})
    assert lines([monitor]) == [
        f"MANDATORY k8s-custom-resource-crd-in-stack {monitor.urn}: a PodMonitor (monitoring.coreos.com) whose CustomResourceDefinition "
        "is not a resource of this stack: on a new cluster the preview cannot find the kind (a CRD a Helm release installs exists only "
        "after the release); manage the CRD as a resource first, or let the release create the object from its values"
    ]
    assert lines([monitor, crd]) == []
    # Kubernetes' own kinds and the provider's Helm types need no CRD.
    assert lines([res("kubernetes:apps/v1:StatefulSet", "s"), res("kubernetes:helm.sh/v3:Release", "r"), res("kubernetes:networking.k8s.io/v1:Ingress", "i")]) == []


# ---------------------------------------------------------------------------- every constraint has a failing case

FAILING_CASES = {
    "aws-rds-replica-managed-password": test_replica_of_a_source_with_a_managed_password,
    "aws-rds-replica-source-arn": test_same_region_replica_with_a_subnet_group_names_its_source_by_arn,
    "aws-rds-replica-source-backups": test_replica_of_a_source_without_backups,
    "aws-fixed-name-create-before-delete": test_fixed_name_replaced_create_before_delete,
    "aws-lb-name": test_nlb_name_annotation_over_32_characters,
    "aws-kms-policy-service-linked-role": test_key_policy_naming_a_service_linked_role_the_program_does_not_create,
    "aws-launch-template-base-tags": test_launch_template_without_volume_tags,
    "aws-eks-addon-after-nodes": test_coredns_created_with_the_control_plane,
    "helm-loki-monolithic": test_a_loki_release_loki_or_its_chart_refuses,
    "k8s-custom-resource-crd-in-stack": test_a_custom_resource_needs_its_crd_in_the_stack,
}


def test_every_constraint_has_a_failing_case():
    assert sorted(FAILING_CASES) == sorted(IDS)


# ---------------------------------------------------------------------------- python -m infra check --plan FILE


def test_cli_fails_a_plan_that_breaks_a_constraint(tmp_path, capsys):
    target_group = {
        "urn": "urn:pulumi:dev::platform::aws:lb/targetGroup:TargetGroup::tg",
        "type": constraints.TARGET_GROUP,
        "inputs": {"name": "platform-development-traefik-web-tg", "port": 80, "protocol": "TCP"},
    }
    plan = {"config": {"platform:tier": "development"}, "steps": [{"op": "create", "urn": target_group["urn"], "newState": target_group}]}
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(plan))
    assert cli.main(["check", "--plan", str(path)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0] == (
        f"MANDATORY aws-lb-name {target_group['urn']}: name 'platform-development-traefik-web-tg' is 35 characters: Elastic "
        "Load Balancing allows at most 32: rename it (CreateLoadBalancer and CreateTargetGroup refuse it)"
    )
    assert out[1].startswith("policy check FAILED: 1 mandatory, 0 advisory violation(s) in 1 resources")


def test_cli_fails_a_doctored_program_plan(prod_plan, tmp_path, capsys):
    state(prod_plan, RDS + "platform-prod-db-replica-1")["inputs"]["replicateSourceDb"] = "platform-prod-db-a4ba1c7"
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(prod_plan))
    assert cli.main(["check", "--plan", str(path)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert f"MANDATORY aws-rds-replica-source-arn {RDS}platform-prod-db-replica-1: replicateSourceDb is 'platform-prod-db-a4ba1c7', an identifier, while dbSubnetGroupName is set: a replica with its own subnet group must name its source by ARN (replicate_source_db=source.arn)" in out
    assert out[-1].startswith("policy check FAILED: ")


# ---------------------------------------------------------------------------- the CrossGuard pack


def test_pack_registers_every_constraint():
    by_name = {p.name: p for p in pack.build_policies()}
    for constraint in CONSTRAINTS:
        policy = by_name[constraint.id]
        assert policy.enforcement_level == EnforcementLevel.MANDATORY
        assert isinstance(policy, StackValidationPolicy if constraint.whole_stack else ResourceValidationPolicy)
        assert policy.description == constraint.description


@pytest.fixture
def servicer(monkeypatch) -> _PolicyAnalyzerServicer:
    """What PolicyPack serves to the engine; the tier comes from the aws provider's Tier tag here."""
    monkeypatch.setattr(pulumi.runtime, "get_config", lambda key: None)
    return _PolicyAnalyzerServicer(pack.PACK_NAME, "0.1.0", pack.build_policies(), EnforcementLevel.MANDATORY)


def _struct(value: dict[str, Any]) -> struct_pb2.Struct:
    out = struct_pb2.Struct()
    out.update(value)
    return out


def _provider(tier: str = "development") -> proto.AnalyzerProviderResource:
    tags = json.dumps({"tags": {**BASE_TAGS, "Tier": tier}})
    return proto.AnalyzerProviderResource(type=rules.AWS_PROVIDER, urn="urn:pulumi:s::platform::pulumi:providers:aws::aws", name="aws", properties=_struct({"defaultTags": tags}))


def _analyze(servicer, type_: str, props: dict[str, Any], **options: Any) -> list[tuple[str, int, str]]:
    request = proto.AnalyzeRequest(
        type=type_, urn=f"urn:pulumi:s::platform::{type_}::r", name="r", properties=_struct(props),
        options=proto.AnalyzerResourceOptions(**options), provider=_provider(),
    )
    return [(d.policyName, d.enforcementLevel, d.message) for d in servicer.Analyze(request, None).diagnostics]


def test_pack_reports_a_resource_constraint(servicer):
    found = _analyze(servicer, constraints.TARGET_GROUP, {"name": "platform-development-traefik-web-tg"})
    # CrossGuard puts the policy's description above the violation.
    assert found == [(
        "aws-lb-name", proto.MANDATORY,
        f"{rules.RULES_BY_ID['aws-lb-name'].description}\nname 'platform-development-traefik-web-tg' is 35 characters: Elastic Load Balancing allows at most 32: rename it "
        "(CreateLoadBalancer and CreateTargetGroup refuse it)",
    )]


def test_pack_sees_delete_before_replace(servicer):
    props = {"name": "/aws/eks/platform-dev/cluster", "logGroupClass": "STANDARD", "retentionInDays": 30, "kmsKeyId": "k"}
    assert [name for name, _, _ in _analyze(servicer, rules.LOG_GROUP, props)] == ["aws-fixed-name-create-before-delete"]
    assert _analyze(servicer, rules.LOG_GROUP, props, deleteBeforeReplace=True, deleteBeforeReplaceDefined=True) == []


def test_pack_stack_policy_finds_a_key_naming_a_missing_service_linked_role(servicer):
    role = SLR_ARN.format(service="autoscaling.amazonaws.com", role="AWSServiceRoleForAutoScaling")
    key_urn = "urn:pulumi:s::platform::aws:kms/key:Key::key"
    request = proto.AnalyzeStackRequest(resources=[
        proto.AnalyzerResource(type=rules.KMS_KEY, urn=key_urn, name="key", provider=_provider(),
                               properties=_struct({"enableKeyRotation": True, "policy": _key_policy(role)})),
    ])
    diagnostics = servicer.AnalyzeStack(request, None).diagnostics
    assert [(d.policyName, d.enforcementLevel, d.urn) for d in diagnostics] == [("aws-kms-policy-service-linked-role", proto.MANDATORY, key_urn)]

