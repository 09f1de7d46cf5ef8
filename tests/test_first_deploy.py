"""What a first real `pulumi up` would refuse, read from the offline plan (issue: first deploy).

Each test names the AWS or provider rule it holds the plan to; the mocks accept anything,
so these are the checks that stand in for the real API.
"""

from __future__ import annotations

import pytest
import yaml

from infra import config
from infra.config import ConfigError
from tests.conftest import STACKS, plan

INSTANCE = "aws:rds/instance:Instance"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"


@pytest.mark.parametrize("stack", STACKS)
def test_no_replica_source_has_an_rds_managed_password(stack):
    """RDS: CreateDBInstanceReadReplica is not supported for a source with ManageMasterUserPassword."""
    p = plan(stack)
    by_arn = {s["outputs"]["arn"]: s for s in p.of_type(INSTANCE)}
    for replica in (s for s in p.of_type(INSTANCE) if s["inputs"].get("replicateSourceDb")):
        source = by_arn[replica["inputs"]["replicateSourceDb"]]
        assert not source["inputs"].get("manageMasterUserPassword")


@pytest.mark.parametrize("stack", STACKS)
def test_launch_templates_tag_instances_volumes_and_interfaces_with_the_base_tags(stack):
    base = {"Project": "platform", "Environment": stack, "ManagedBy": "pulumi"}
    for lt in plan(stack).of_type(LAUNCH_TEMPLATE):
        specs = {s["resourceType"]: s["tags"] for s in lt["inputs"]["tagSpecifications"]}
        assert set(specs) == {"instance", "volume", "network-interface"}
        for tags in specs.values():
            assert base.items() <= tags.items()


@pytest.mark.parametrize("stack", STACKS)
def test_nodes_follow_the_cluster_version(stack):
    p = plan(stack)
    groups = p.of_type("eks:index:ManagedNodeGroup")
    assert groups and {g["inputs"]["version"] for g in groups} == {"1.35"}
    assert p.named("eks:index:Cluster", f"::platform-{stack}-eks")["inputs"]["version"] == "1.35"


def test_every_production_log_group_is_kept_a_year():
    retention = {g["urn"].rsplit("::", 1)[-1]: g["inputs"]["retentionInDays"] for g in plan("prod").of_type(LOG_GROUP)}
    assert retention == {
        "platform-prod-flow-logs": 365, "platform-prod-control-plane-logs": 365, "platform-prod-redis-slow-log": 365, "platform-prod-runner-logs": 365,
        "platform-prod-session-logs": 365, "platform-prod-forwarder-logs": 365,
    }


# Every row of the production floor that the log-retention rule added, with its exact line.
@pytest.mark.parametrize(
    ("section", "field", "value", "message"),
    [
        ("network", "flow_logs_retention_days", 180, "platform:network.flow_logs_retention_days: must be at least 365 in a production tier (every log is kept a year)"),
        ("cluster", "log_retention_days", 90, "platform:cluster.log_retention_days: must be at least 365 in a production tier (every log is kept a year)"),
        ("cache", "slow_log_retention_days", 30, "platform:cache.slow_log_retention_days: must be at least 365 in a production tier (every log is kept a year)"),
        ("runner", "log_retention_days", 90, "platform:runner.log_retention_days: must be at least 365 in a production tier (every log is kept a year)"),
    ],
)
def test_production_refuses_a_log_kept_less_than_a_year(section, field, value, message):
    with pytest.raises(ConfigError) as err:
        parse_stack("prod", section, **{field: value})
    assert str(err.value) == message


@pytest.mark.parametrize(
    ("region", "message"),
    [
        ("us-gov-west-1", "aws:region: 'us-gov-west-1' is in the aws-us-gov partition; only regions of the commercial aws partition are supported"),
        ("cn-north-1", "aws:region: 'cn-north-1' is in the aws-cn partition; only regions of the commercial aws partition are supported"),
    ],
)
def test_regions_outside_the_commercial_partition_are_refused(region, message):
    with pytest.raises(ConfigError) as err:
        parse_stack("staging", region=region)
    assert str(err.value) == message


def parse_stack(stack: str, section: str | None = None, *, region: str = "us-east-1", **changes):
    with open(f"Pulumi.{stack}.yaml", encoding="utf-8") as fh:
        raw = {k.removeprefix("platform:"): v for k, v in yaml.safe_load(fh)["config"].items() if k.startswith("platform:")}
    if section:
        raw[section] = {**raw[section], **changes}
    return config.parse(raw, stack=stack, aws={"region": region})


@pytest.mark.parametrize("stack", STACKS)
def test_helm_releases_wait_for_every_node_group(stack):
    p = plan(stack)
    groups = {g["urn"] for g in p.of_type("eks:index:ManagedNodeGroup")}
    releases = p.of_type("kubernetes:helm.sh/v3:Release")
    assert groups and len(releases) == {"dev": 7, "staging": 9, "prod": 9}[stack]  # dev runs no Prometheus stack or Tempo
    for release in releases:
        assert groups <= set(release["dependencies"]), release["urn"]


# Checks a component or AWS makes, run first at config load with the same one-line error.
@pytest.mark.parametrize(
    ("stack", "changes", "region", "message"),
    [
        ("prod", {"network": {"az_count": 4}}, "eu-west-1", "platform:network.az_count: 4 AZs requested but eu-west-1 has 3"),
        ("staging", {"environment": "staging-for-the-payments-team"}, "us-east-1",
         "platform:environment: 'staging-for-the-payments-team' is too long: the load balancer is named platform-staging-for-the-payments-team (38 characters) and AWS allows 32"),
        ("staging", {"cluster": {"node_groups": [{"name": "general", "instance_types": ["m5.large", "m6g.large"], "min_size": 1, "desired_size": 1, "max_size": 2}]}}, "us-east-1",
         "platform:cluster.node_groups[0].instance_types: mixes arm64 and x86_64 instance types (m5.large, m6g.large); a managed node group runs one AMI, so one architecture"),
    ],
    ids=["az-count-of-the-region", "load-balancer-name-length", "mixed-architecture"],
)
def test_deploy_time_limits_are_checked_at_config_load(stack, changes, region, message):
    with open(f"Pulumi.{stack}.yaml", encoding="utf-8") as fh:
        raw = {k.removeprefix("platform:"): v for k, v in yaml.safe_load(fh)["config"].items() if k.startswith("platform:")}
    for key, value in changes.items():
        raw[key] = {**raw[key], **value} if isinstance(value, dict) else value
    with pytest.raises(ConfigError) as err:
        config.parse(raw, stack=stack, aws={"region": region})
    assert str(err.value) == message


@pytest.mark.parametrize(
    ("instance_type", "architecture"),
    [("m5.large", "x86_64"), ("m6i.large", "x86_64"), ("m5dn.large", "x86_64"), ("g5.xlarge", "x86_64"), ("m7i-flex.large", "x86_64"),
     ("m7g.large", "arm64"), ("t4g.medium", "arm64"), ("m6gd.large", "arm64"), ("c6gn.large", "arm64"), ("g5g.xlarge", "arm64"), ("a1.large", "arm64")],
)
def test_instance_architecture(instance_type, architecture):
    assert config.instance_architecture(instance_type) == architecture


DEPLOYER = "arn:aws:iam::210987654321:role/platform-deployer"


def test_the_kubernetes_provider_authenticates_as_the_deploy_role():
    p = plan("staging", **{"aws:assumeRoles": [{"roleArn": DEPLOYER, "sessionName": "pulumi"}]})
    eks_cluster = p.named("eks:index:Cluster", "::platform-staging-eks")
    assert eks_cluster["inputs"]["providerCredentialOpts"] == {"roleArn": DEPLOYER}


def test_without_a_deploy_role_the_ambient_credentials_are_the_deployer():
    assert "providerCredentialOpts" not in plan("staging").named("eks:index:Cluster", "::platform-staging-eks")["inputs"]


def test_the_old_admin_list_points_at_the_teams():
    # cluster.admin_role_arns gave cluster-admin to a list of roles; platform:access.teams replaced it.
    raw = changed_raw("staging", cluster={"admin_role_arns": ["arn:aws:iam::210987654321:role/ops"]})
    with pytest.raises(ConfigError) as err:
        config.parse(raw, stack="staging", aws={"region": "us-east-1"})
    assert str(err.value) == "platform:cluster.admin_role_arns: replaced by platform:access.teams (a team with cluster: cluster_admin); move the roles there"


def changed_raw(stack: str, **sections):
    with open(f"Pulumi.{stack}.yaml", encoding="utf-8") as fh:
        raw = {k.removeprefix("platform:"): v for k, v in yaml.safe_load(fh)["config"].items() if k.startswith("platform:")}
    for key, value in sections.items():
        raw[key] = {**raw[key], **value}
    return raw
