"""Lifecycle: what a second deploy, a replacement, a destroy or an upgrade must survive.

Issues 13.1-13.6 and 12.6, each with the AWS refusal it prevents:
- node groups are replaced create-before-delete, so they carry a name prefix, never a fixed
  name (ResourceInUseException), and whatever addresses a group reads its name back;
- every deletion of a data store writes a final snapshot under a new name
  (DBSnapshotAlreadyExists / SnapshotAlreadyExistsFault);
- the KMS key outlives any stack that leaves snapshots or backups encrypted with it;
- the key policy names no service-linked role a fresh account may lack (CreateKey: invalid
  principals): Auto Scaling gets the key through a grant made after the role exists;
- a major PostgreSQL upgrade is allowed only by config, with a new parameter group;
- resizes apply at once or in the maintenance window as each stack says, and the plan says so.

The offline mocks model no `nodeGroup` output of pulumi_eks's ManagedNodeGroup; `reported_plan`
runs the program with one that reports it the way the engine does without resource
references (the aws.eks.NodeGroup's id, `<cluster>:<name>`).
"""

from __future__ import annotations

import json
import re
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra import config
from infra.components import cache as cache_component
from infra.components import cluster as cluster_component
from infra.components import database as database_component
from infra.config import ConfigError
from infra.offline import mocks
from infra.offline.harness import ROOT
from infra.offline.plan import build_plan, render
from tests.conftest import Plan, STACKS, account, plan, stack_config

# The provider's ForceNew inputs per type: the repository's vendored copy, else the reference.
_FORCE_NEW_FILES = (ROOT / "policy" / "force_new.json", Path("/work/shared/reference/force-new.json"))
FORCE_NEW = json.loads(next(p for p in _FORCE_NEW_FILES if p.exists()).read_text())["resources"]

NODE_GROUP = "eks:index:ManagedNodeGroup"
SCHEDULE = "aws:scheduler/schedule:Schedule"
INSTANCE = "aws:rds/instance:Instance"
GROUP = "aws:elasticache/replicationGroup:ReplicationGroup"
KEY = "aws:kms/key:Key"
ALIAS = "aws:kms/alias:Alias"
GRANT = "aws:kms/grant:Grant"
SLR = "aws:iam/serviceLinkedRole:ServiceLinkedRole"
PARAMS = "aws:rds/parameterGroup:ParameterGroup"
SLR_ARN = "arn:aws:iam::{account}:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"
# What terraform-provider-aws appends to a prefix (id.PrefixedUniqueId): 26 digits.
UNIQUE_SUFFIX = "20260101000000000000000001"


def section(stack: str, name: str, **changes: Any) -> dict[str, Any]:
    """`platform:<name>` of the committed stack file with fields changed."""
    return {f"platform:{name}": {**(stack_config(stack).get(f"platform:{name}") or {}), **changes}}


def parse(stack: str, **changes: dict[str, Any]) -> config.StackConfig:
    with open(ROOT / f"Pulumi.{stack}.yaml", encoding="utf-8") as fh:
        raw = {k.removeprefix("platform:"): v for k, v in yaml.safe_load(fh)["config"].items() if k.startswith("platform:")}
    for key, value in changes.items():
        raw[key] = {**raw.get(key, {}), **value} if isinstance(value, dict) else value
    return config.parse(raw, stack=stack, aws={"region": "us-east-1"})


# ---------------------------------------------------------------------- an engine that reports node groups


def _reporting_node_group(m, name: str, physical: str, inputs: dict[str, Any]):
    prefix = inputs["nodeGroupNamePrefix"]
    cluster_name = prefix.rsplit("-", 2)[0]
    return "", {"nodeGroup": f"{cluster_name}:{prefix}{UNIQUE_SUFFIX}"}


@contextmanager
def reporting_node_groups():
    saved = mocks._FAMILIES[NODE_GROUP]
    mocks._FAMILIES[NODE_GROUP] = _reporting_node_group
    try:
        yield
    finally:
        mocks._FAMILIES[NODE_GROUP] = saved


_REPORTED: dict[str, Plan] = {}


def reported_plan(stack: str, **overrides: Any) -> Plan:
    """The plan with ManagedNodeGroup reporting its aws.eks.NodeGroup (as its id, no references)."""
    key = json.dumps([stack, overrides], sort_keys=True)
    if key not in _REPORTED:
        with reporting_node_groups():
            _REPORTED[key] = Plan(build_plan(stack, overrides or None))
    return _REPORTED[key]


# ---------------------------------------------------------------------- 13.1 node groups


def test_node_groups_carry_a_prefix_never_a_fixed_name(stack):
    for group in plan(stack).of_type(NODE_GROUP):
        logical = group["urn"].rsplit("::", 1)[-1]
        assert "nodeGroupName" not in group["inputs"]
        assert group["inputs"]["nodeGroupNamePrefix"] == f"{logical}-"
        assert len(group["inputs"]["nodeGroupNamePrefix"]) + len(UNIQUE_SUFFIX) <= 63


def test_a_replacing_change_keeps_the_logical_name_and_asks_for_no_name():
    """instance_types is ForceNew: the group is replaced create-before-delete under the same URN."""
    cluster = stack_config("staging")["platform:cluster"]
    groups = [{**g, "instance_types": ["m6i.large"]} for g in cluster["node_groups"]]
    before = plan("staging").named(NODE_GROUP, "::platform-staging-general")
    after = plan("staging", **{"platform:cluster": {**cluster, "node_groups": groups}}).named(NODE_GROUP, "::platform-staging-general")
    assert before["urn"] == after["urn"] and after["inputs"]["instanceTypes"] == ["m6i.large"]
    assert before["inputs"]["nodeGroupNamePrefix"] == after["inputs"]["nodeGroupNamePrefix"] and "nodeGroupName" not in after["inputs"]


def test_off_hours_schedules_address_the_name_the_group_reports():
    p = reported_plan("dev")
    group = p.named(NODE_GROUP, "::platform-dev-general")
    name = f"platform-dev-general-{UNIQUE_SUFFIX}"
    for role in ("stop", "start"):
        schedule = p.named(SCHEDULE, f"::platform-dev-offhours-nodes-general-{role}")
        assert json.loads(schedule["inputs"]["target"]["input"])["NodegroupName"] == name
        # Read from the group: the schedule waits for it and follows its replacement.
        assert group["urn"] in schedule["dependencies"]
    policy = json.loads(p.named("aws:iam/rolePolicy:RolePolicy", "::platform-dev-offhours-policy")["inputs"]["policy"])
    scale = next(s for s in policy["Statement"] if s["Sid"] == "ScaleTheNodeGroups")
    assert scale["Resource"] == [f"arn:aws:eks:us-east-1:{account('dev')}:nodegroup/platform-dev/{name}/*"]


@pytest.mark.parametrize(
    ("reported", "name"),
    [("platform-dev:platform-dev-general-0001", "platform-dev-general-0001"), (None, "platform-dev-general-unreported")],
    ids=["id-without-resource-references", "not-reported"],
)
def test_the_physical_name_is_read_from_what_pulumi_eks_reports(reported, name):
    assert cluster_component.physical_name(reported, "platform-dev-general-") == name


def test_a_node_group_name_eks_would_refuse_is_refused_at_config_load():
    cluster = {**stack_config("staging")["platform:cluster"]}
    cluster["node_groups"] = [{**cluster["node_groups"][0], "name": "general-purpose-workers"}]
    with pytest.raises(ConfigError) as err:
        parse("staging", cluster=cluster)
    assert str(err.value) == (
        "platform:cluster.node_groups[0].name: 'general-purpose-workers' is too long: the node group is named "
        "platform-staging-general-purpose-workers- plus 26 characters (67) and EKS allows 63"
    )


# ---------------------------------------------------------------------- 13.2 final snapshots


def _snapshot(p: Plan, token: str, suffix: str) -> str | None:
    return p.named(token, suffix)["inputs"].get("finalSnapshotIdentifier")


@pytest.mark.parametrize(("token", "role"), [(INSTANCE, "db"), (GROUP, "redis")])
def test_every_deletion_writes_a_snapshot_of_its_own(token, role):
    names = {s: _snapshot(plan(s), token, f"::platform-{s}-{role}") for s in ("staging", "prod")}
    for stack, name in names.items():
        assert re.fullmatch(rf"platform-{stack}-{role}-final-[0-9a-f]{{8}}", name)
        assert config.SNAPSHOT_IDENTIFIER.match(name)
    # A change that does not replace the store keeps the name; one that replaces it (a
    # ForceNew input) gives the replacement a new one, so the old one's deletion never collides.
    resized = {INSTANCE: section("staging", "database", instance_class="db.t3.large"), GROUP: section("staging", "cache", node_type="cache.t3.medium")}[token]
    assert _snapshot(plan("staging", **resized), token, f"::platform-staging-{role}") == names["staging"]
    replaced = {INSTANCE: section("staging", "database", database_name="shop"), GROUP: None}[token]
    if replaced:
        assert _snapshot(plan("staging", **replaced), token, f"::platform-staging-{role}") != names["staging"]


@pytest.mark.parametrize(("component", "token"), [(database_component, INSTANCE), (cache_component, GROUP)], ids=["rds", "elasticache"])
def test_the_snapshot_name_follows_every_replacing_input(component, token):
    identity = {"kms_key_id": "arn:aws:kms:us-east-1:123456789012:key/one", "engine": "x"}
    first = component.final_snapshot_identifier("platform-staging-x-final", identity)
    assert first == component.final_snapshot_identifier("platform-staging-x-final", dict(identity))
    # A rebuilt stack has a new key: a new name even for otherwise equal inputs.
    assert first != component.final_snapshot_identifier("platform-staging-x-final", {**identity, "kms_key_id": "arn:aws:kms:us-east-1:123456789012:key/two"})
    with pytest.raises(ValueError):
        component.final_snapshot_identifier("platform-a--b-x-final", identity)
    spec = FORCE_NEW[token]
    listed = {_snake(p.split(".")[0]) for p in [*spec["force_new"], *spec.get("conditional", {})]}
    assert set(component.REPLACED_BY) == listed


def _snake(camel: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", camel).lower()


@pytest.mark.parametrize("stack", ["dev", "staging"])
def test_a_final_snapshot_name_rds_would_refuse_is_refused_at_config_load(stack):
    protection = {"protect": False, "retain_on_delete": False, "deletion_protection": False, "final_snapshots": True}
    with pytest.raises(ConfigError) as err:
        parse(stack, environment="qa--one", protection=protection)
    assert str(err.value) == (
        "platform:environment: 'qa--one' makes the database final snapshot name platform-qa--one-db-final-<8 hex>, "
        "which RDS refuses (letters, digits and single hyphens, first a letter)"
    )


# ---------------------------------------------------------------------- 13.3 the key outlives its backups


@pytest.mark.parametrize(
    ("stack", "protection"),
    [
        ("dev", None),
        ("staging", None),
        ("prod", None),
        ("dev", {"protect": False, "retain_on_delete": False, "deletion_protection": False, "final_snapshots": True}),
        ("staging", {"protect": False, "retain_on_delete": True, "deletion_protection": False, "final_snapshots": True}),
        ("staging", {"protect": True, "retain_on_delete": False, "deletion_protection": True, "final_snapshots": True}),
    ],
    ids=["dev", "staging", "prod", "dev-snapshots", "staging-retained", "staging-protected"],
)
def test_the_key_outlives_every_snapshot_and_backup_it_encrypts(stack, protection):
    p = plan(stack, **({"platform:protection": protection} if protection else {}))
    keeps_data = any(
        s["inputs"].get("finalSnapshotIdentifier") or s["inputs"].get("deleteAutomatedBackups") is False
        for s in p.of_type(INSTANCE) + p.of_type(GROUP)
    )
    key = p.named(KEY, f"::platform-{stack}-key")
    assert key["retainOnDelete"] is (keeps_data or p.named(INSTANCE, f"::platform-{stack}-db")["retainOnDelete"])
    if keeps_data:
        assert key["retainOnDelete"] is True
    # The alias goes with the stack, so a rebuilt stack can take `alias/<name>` again.
    assert p.named(ALIAS, f"::platform-{stack}-alias")["retainOnDelete"] is False


def test_retain_off_with_final_snapshots_still_retains_only_the_key():
    """staging: instances deleted (retain_on_delete false), snapshots kept, so the key stays."""
    p = plan("staging")
    assert p.named(KEY, "::platform-staging-key")["retainOnDelete"] is True
    assert p.named(INSTANCE, "::platform-staging-db")["retainOnDelete"] is False
    assert p.named(INSTANCE, "::platform-staging-db")["inputs"]["deleteAutomatedBackups"] is False
    dev = plan("dev")
    assert dev.named(KEY, "::platform-dev-key")["retainOnDelete"] is False
    assert dev.named(INSTANCE, "::platform-dev-db")["inputs"]["deleteAutomatedBackups"] is True


# ---------------------------------------------------------------------- 12.6 a fresh account


def test_the_key_policy_names_no_service_linked_role(stack):
    key = plan(stack).named(KEY, f"::platform-{stack}-key")
    assert "aws-service-role" not in key["inputs"]["policy"]


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_auto_scaling_gets_the_key_through_a_grant_made_after_its_role(stack):
    p = plan(stack)
    role = p.named(SLR, f"::platform-{stack}-autoscaling-role")
    assert role["inputs"]["awsServiceName"] == "autoscaling.amazonaws.com"
    # The account's role: destroying this stack leaves it for every other Auto Scaling group.
    assert role["retainOnDelete"] is True
    grant = p.named(GRANT, f"::platform-{stack}-autoscaling-grant")
    assert grant["inputs"]["granteePrincipal"] == SLR_ARN.format(account=account(stack))
    assert grant["inputs"]["keyId"] == p.named(KEY, f"::platform-{stack}-key")["outputs"]["keyId"]
    assert set(grant["inputs"]["operations"]) == {
        "Encrypt", "Decrypt", "ReEncryptFrom", "ReEncryptTo", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext", "DescribeKey", "CreateGrant",
    }
    assert role["urn"] in grant["dependencies"]
    # No node launches before its encrypted root volume can be created.
    for group in p.of_type(NODE_GROUP):
        assert grant["urn"] in group["dependencies"]


def test_an_account_that_has_the_role_creates_none():
    # dev shares staging's account, and staging creates the role.
    p = plan("dev")
    assert p.of_type(SLR) == []
    grant = p.named(GRANT, "::platform-dev-autoscaling-grant")
    assert grant["inputs"]["granteePrincipal"] == SLR_ARN.format(account=account("dev"))
    assert not [d for d in grant["dependencies"] if SLR in d]


# ---------------------------------------------------------------------- 13.5 major upgrades


@contextmanager
def postgres(version: str, family: str):
    saved = database_component.ENGINE_VERSION, database_component.PARAMETER_FAMILY
    database_component.ENGINE_VERSION, database_component.PARAMETER_FAMILY = version, family
    try:
        yield
    finally:
        database_component.ENGINE_VERSION, database_component.PARAMETER_FAMILY = saved


def test_a_major_upgrade_is_allowed_only_by_config_and_gets_a_new_parameter_group():
    with postgres("18", "postgres18"):
        refused = Plan(build_plan("prod"))
        upgraded = Plan(build_plan("prod", {**section("prod", "database", allow_major_version_upgrade=True, apply_immediately=True)}))
    primary = refused.named(INSTANCE, "::platform-prod-db")["inputs"]
    # Without the stack's say-so RDS refuses the new major version (the plan asks it not to allow one).
    assert (primary["engineVersion"], primary["allowMajorVersionUpgrade"]) == ("18", False)
    primary = upgraded.named(INSTANCE, "::platform-prod-db")["inputs"]
    assert (primary["engineVersion"], primary["allowMajorVersionUpgrade"], primary["applyImmediately"]) == ("18", True, True)
    params = upgraded.named(PARAMS, "::platform-prod-db-params")
    assert params["inputs"]["family"] == "postgres18"
    # Autonamed and replaced create-before-delete: the new group exists before the instances
    # switch, and the old one is deleted once none uses it.
    assert not {"name", "namePrefix"} & set(params["inputs"]) and params["deleteBeforeReplace"] is False
    assert params["urn"] == plan("prod").named(PARAMS, "::platform-prod-db-params")["urn"]
    for instance in upgraded.of_type(INSTANCE):
        assert instance["inputs"]["parameterGroupName"] == params["outputs"]["name"]
    # Replicas follow their source's version; only the primary names one.
    assert "allowMajorVersionUpgrade" not in upgraded.named(INSTANCE, "::platform-prod-db-replica-1")["inputs"]


def test_an_upgrade_deferred_to_the_window_is_refused_at_config_load():
    with pytest.raises(ConfigError) as err:
        parse("prod", database={"allow_major_version_upgrade": True})
    assert str(err.value) == (
        "platform:database: allow_major_version_upgrade needs apply_immediately: an upgrade deferred to the maintenance window "
        "keeps the old parameter group attached, and deleting it fails"
    )


def test_engine_version_and_parameter_family_move_together():
    with postgres("18", "postgres17"), pytest.raises(ValueError) as err:
        build_plan("dev")
    assert str(err.value) == "PARAMETER_FAMILY postgres17 does not match ENGINE_VERSION 18: a major upgrade changes both"


# ---------------------------------------------------------------------- 13.6 when changes apply


@pytest.mark.parametrize(("stack", "immediately"), [("dev", True), ("staging", True), ("prod", False)])
def test_changes_apply_as_each_stack_says(stack, immediately):
    p = plan(stack)
    for state in p.of_type(INSTANCE) + p.of_type(GROUP):
        assert state["inputs"]["applyImmediately"] is immediately


def test_the_plan_says_when_a_change_waits_for_the_window():
    sizing = lambda s: render(plan(s).data, s).split("Key sizing\n", 1)[1].split("\n\n", 1)[0]  # noqa: E731
    prod = sizing("prod")
    assert "  database  changes wait for the maintenance window sun:04:30-sun:05:30" in prod.splitlines()
    assert "  cache     changes wait for the maintenance window sun:06:30-sun:07:30" in prod.splitlines()
    assert "maintenance window" not in sizing("dev") and "maintenance window" not in sizing("staging")
