"""The EKS cluster and its node groups: exact inputs per stack, and the controls they satisfy."""

import shutil

import pytest

from infra.components.cluster import ami_type
from infra.config import ConfigError
from infra.offline.harness import ROOT, run_program
from tests.conftest import STACKS, account, plan, stack_config

CLUSTER = "eks:index:Cluster"
NODE_GROUP = "eks:index:ManagedNodeGroup"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"

GROUPS = {
    "dev": {"general": ("SPOT", ["t3.medium"], {"minSize": 1, "desiredSize": 2, "maxSize": 3})},
    "staging": {"general": ("ON_DEMAND", ["m5.large"], {"minSize": 2, "desiredSize": 2, "maxSize": 5})},
    "prod": {
        "general": ("ON_DEMAND", ["m5.large"], {"minSize": 3, "desiredSize": 3, "maxSize": 10}),
        "spot": ("SPOT", ["m5.large"], {"minSize": 0, "desiredSize": 0, "maxSize": 5}),
    },
}
LOG_TYPES = {
    "dev": ["api", "audit", "authenticator"],
    "staging": ["api", "audit", "authenticator"],
    "prod": ["api", "audit", "authenticator", "controllerManager", "scheduler"],
}


def test_one_kubernetes_version_everywhere():
    versions = {plan(s).named(CLUSTER, f"platform-{s}-eks")["inputs"]["version"] for s in STACKS}
    assert versions == {"1.35"}


def test_control_plane(stack):
    p = plan(stack)
    inputs = p.named(CLUSTER, f"platform-{stack}-eks")["inputs"]
    key = p.named("aws:kms/key:Key", f"platform-{stack}-key")
    assert inputs["name"] == f"platform-{stack}"
    assert inputs["endpointPrivateAccess"] is True and inputs["endpointPublicAccess"] is False
    assert "publicAccessCidrs" not in inputs
    assert inputs["authenticationMode"] == "API"
    assert inputs["skipDefaultNodeGroup"] is True and inputs["nodeAssociatePublicIpAddress"] is False
    assert inputs["encryptionConfigKeyArn"] == key["outputs"]["arn"]
    assert inputs["enabledClusterLogTypes"] == LOG_TYPES[stack]
    assert inputs["createOidcProvider"] is True
    assert inputs["subnetIds"] == p.outputs["private_subnet_ids"]


def test_control_plane_logs_are_kept_and_encrypted_before_the_cluster_exists(stack):
    p = plan(stack)
    logs = p.named("aws:cloudwatch/logGroup:LogGroup", f"platform-{stack}-control-plane-logs")
    assert logs["inputs"]["name"] == f"/aws/eks/platform-{stack}/cluster"
    assert logs["inputs"]["retentionInDays"] == stack_config(stack)["platform:cluster"]["log_retention_days"]
    assert logs["inputs"]["kmsKeyId"].startswith("arn:aws:kms:")
    assert logs["urn"] in p.named(CLUSTER, f"platform-{stack}-eks")["dependencies"]


def test_public_endpoint_only_for_the_allowlist():
    cluster_cfg = {**stack_config("staging")["platform:cluster"], "public_access_cidrs": ["203.0.113.0/24"]}
    inputs = plan("staging", **{"platform:cluster": cluster_cfg}).named(CLUSTER, "-eks")["inputs"]
    assert inputs["endpointPublicAccess"] is True and inputs["publicAccessCidrs"] == ["203.0.113.0/24"]
    # People come in through their teams' access entries (tests/test_access.py), none through pulumi_eks.
    assert "accessEntries" not in inputs


def test_node_groups(stack):
    p = plan(stack)
    groups = p.of_type(NODE_GROUP)
    # A prefix, never a fixed name: EKS makes each (re)creation's name unique.
    assert sorted(g["inputs"]["nodeGroupNamePrefix"] for g in groups) == sorted(f"platform-{stack}-{n}-" for n in GROUPS[stack])
    assert not [g for g in groups if "nodeGroupName" in g["inputs"]]
    for name, (capacity, types, scaling) in GROUPS[stack].items():
        inputs = p.named(NODE_GROUP, f"platform-{stack}-{name}")["inputs"]
        assert inputs["capacityType"] == capacity and inputs["instanceTypes"] == types
        assert inputs["scalingConfig"] == scaling
        # the autoscaler owns the desired size after creation
        assert inputs["ignoreScalingChanges"] is True
        assert inputs["subnetIds"] == p.outputs["private_subnet_ids"]
        assert inputs["amiType"] == "AL2023_x86_64_STANDARD"
        lt = p.named(LAUNCH_TEMPLATE, f"platform-{stack}-{name}-lt")
        assert inputs["launchTemplate"] == {"id": lt["id"], "version": "1"}


def test_prod_spot_pool_is_for_non_critical_work_only():
    inputs = plan("prod").named(NODE_GROUP, "platform-prod-spot")["inputs"]
    assert inputs["taints"] == [{"key": "workload", "value": "non-critical", "effect": "NO_SCHEDULE"}]
    assert inputs["labels"] == {"workload": "non-critical"}


def test_launch_templates_require_imdsv2_and_encrypt_root_volumes(stack):
    p = plan(stack)
    key_arn = p.named("aws:kms/key:Key", f"platform-{stack}-key")["outputs"]["arn"]
    nodes_sg = p.named("aws:ec2/securityGroup:SecurityGroup", f"platform-{stack}-nodes-sg")["id"]
    for lt in p.of_type(LAUNCH_TEMPLATE):
        inputs = lt["inputs"]
        assert inputs["metadataOptions"] == {"httpEndpoint": "enabled", "httpTokens": "required", "httpPutResponseHopLimit": 1}
        (device,) = inputs["blockDeviceMappings"]
        assert device["ebs"] == {"volumeSize": 50, "volumeType": "gp3", "encrypted": "true", "kmsKeyId": key_arn, "deleteOnTermination": "true"}
        assert nodes_sg in inputs["vpcSecurityGroupIds"]
        assert "networkInterfaces" not in inputs  # no public IP can be requested here


def test_outputs_keep_the_kubeconfig_secret(stack):
    outputs = plan(stack).outputs
    assert outputs["kubeconfig"] == "[secret]"
    assert outputs["cluster_name"] == f"platform-{stack}"
    assert outputs["oidc_provider_arn"].startswith(f"arn:aws:iam::{account(stack)}:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/")


@pytest.mark.parametrize(
    ("instance_type", "expected"),
    [("m5.large", "AL2023_x86_64_STANDARD"), ("t3.medium", "AL2023_x86_64_STANDARD"), ("m7g.large", "AL2023_ARM_64_STANDARD"), ("t4g.medium", "AL2023_ARM_64_STANDARD"), ("m6i.large", "AL2023_x86_64_STANDARD")],
)
def test_ami_type_follows_the_architecture(instance_type, expected):
    assert ami_type(instance_type) == expected


def test_the_cluster_does_not_wait_on_the_data_stores(stack):
    p = plan(stack)
    data = {s["urn"] for s in p.states if s["type"].startswith(("aws:rds/", "aws:elasticache/"))}
    for state in p.of_type(CLUSTER) + p.of_type(NODE_GROUP):
        assert not data & set(state["dependencies"])



def _with_groups(stack: str, **instance_types: list[str]) -> dict:
    """The committed cluster config of `stack` with the named groups' instance types replaced."""
    cluster = stack_config(stack)["platform:cluster"]
    groups = [{**g, "instance_types": instance_types.get(g["name"], g["instance_types"])} for g in cluster["node_groups"]]
    return {"platform:cluster": {**cluster, "node_groups": groups}}


@pytest.mark.parametrize(
    ("stack", "instance_types", "message"),
    [
        ("staging", {"general": ["m5.large", "m6g.large"]}, "platform:cluster.node_groups[0].instance_types: mixes arm64 and x86_64 instance types (m5.large, m6g.large); a managed node group runs one AMI, so one architecture"),
        ("prod", {"spot": ["t4g.medium", "t3.medium"]}, "platform:cluster.node_groups[1].instance_types: mixes arm64 and x86_64 instance types (t4g.medium, t3.medium); a managed node group runs one AMI, so one architecture"),
    ],
)
def test_a_node_group_mixing_arm_and_x86_stops_the_program_before_any_resource(stack, instance_types, message):
    with pytest.raises(ConfigError) as err:
        run_program(stack, overrides=_with_groups(stack, **instance_types))
    assert str(err.value) == message
    assert err.value.registered == []


# The component alone, given a config that skipped validation (model_copy does not validate):
# its own check is the last line before EKS would refuse the node group.
PROGRAM = """
from infra import config
from infra.config import NodeGroupConfig
from infra.components.cluster import Cluster, ClusterArgs

cfg = config.load()
groups = [NodeGroupConfig(name=name, instance_types=["m5.large"], min_size=1, desired_size=1, max_size=2).model_copy(update={{"instance_types": types}}) for name, types in {groups}]
Cluster(
    cfg.name,
    ClusterArgs(
        config=cfg.cluster.model_copy(update={{"node_groups": groups}}),
        cluster_name=cfg.name,
        vpc_id="vpc-0123456789abcdef0",
        private_subnet_ids=["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"],
        node_security_group_id="sg-0123456789abcdef0",
        kms_key_arn="arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000",
    ),
)
"""


@pytest.mark.parametrize(
    ("groups", "message"),
    [
        ([("general", ["m5.large", "m6g.large"])], "node group(s) general mix ARM and x86 instance types; a managed node group has one AMI"),
        (
            [("general", ["m7g.large", "m7i.large"]), ("ok", ["m6g.large"]), ("spot", ["t3.medium", "t4g.medium"])],
            "node group(s) general, spot mix ARM and x86 instance types; a managed node group has one AMI",
        ),
    ],
)
def test_the_cluster_component_refuses_a_mixed_node_group_itself(tmp_path, groups, message):
    shutil.copy(ROOT / "Pulumi.staging.yaml", tmp_path / "Pulumi.staging.yaml")
    (tmp_path / "__main__.py").write_text(PROGRAM.format(groups=groups), encoding="utf-8")
    with pytest.raises(ValueError) as err:
        run_program("staging", root=tmp_path)
    assert str(err.value) == message


def test_a_node_group_of_several_arm_types_gets_the_arm_ami():
    p = plan("staging", **_with_groups("staging", general=["m6g.large", "m7g.large", "t4g.medium"]))
    inputs = p.named(NODE_GROUP, "platform-staging-general")["inputs"]
    assert (inputs["instanceTypes"], inputs["amiType"]) == (["m6g.large", "m7g.large", "t4g.medium"], "AL2023_ARM_64_STANDARD")
