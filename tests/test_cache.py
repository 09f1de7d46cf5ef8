"""The cache component's exact inputs and options, per committed stack (FSBP ElastiCache controls)."""

import re

from tests.conftest import account, plan

GROUP = "aws:elasticache/replicationGroup:ReplicationGroup"
SECRET = "aws:secretsmanager/secret:Secret"

EXPECTED = {
    "dev": {"node_type": "cache.t3.micro", "nodes": 1, "failover": False, "multi_az": False, "snapshots": 1, "final_snapshot": False, "protect": False, "apply_immediately": True},
    "staging": {"node_type": "cache.t3.small", "nodes": 2, "failover": True, "multi_az": False, "snapshots": 1, "final_snapshot": True, "protect": False, "apply_immediately": True},
    "prod": {"node_type": "cache.m5.large", "nodes": 2, "failover": True, "multi_az": True, "snapshots": 7, "final_snapshot": True, "protect": True, "apply_immediately": False},
}


def _group(stack: str) -> dict:
    return plan(stack).named(GROUP, f"::platform-{stack}-redis")


def _key_arn(stack: str) -> str:
    return plan(stack).named("aws:kms/key:Key", f"::platform-{stack}-key")["outputs"]["arn"]


def test_sizing_and_availability_per_stack(stack):
    want, inputs = EXPECTED[stack], _group(stack)["inputs"]
    assert (inputs["engine"], inputs["engineVersion"], inputs["parameterGroupName"]) == ("redis", "7.1", "default.redis7")
    assert inputs["nodeType"] == want["node_type"]
    assert inputs["numCacheClusters"] == want["nodes"]
    assert inputs["automaticFailoverEnabled"] is want["failover"]  # ElastiCache.3
    assert inputs["multiAzEnabled"] is want["multi_az"]
    assert inputs["snapshotRetentionLimit"] == want["snapshots"] >= 1  # ElastiCache.1
    assert inputs["snapshotWindow"] == "05:00-06:00" and inputs["maintenanceWindow"] == "sun:06:30-sun:07:30"
    assert inputs["autoMinorVersionUpgrade"] is True  # ElastiCache.2
    assert inputs["applyImmediately"] is want["apply_immediately"]
    assert inputs["port"] == 6379


def test_encrypted_at_rest_and_in_transit(stack):
    inputs = _group(stack)["inputs"]
    assert inputs["atRestEncryptionEnabled"] is True and inputs["kmsKeyId"] == _key_arn(stack)  # ElastiCache.4
    assert inputs["transitEncryptionEnabled"] is True and inputs["transitEncryptionMode"] == "required"  # ElastiCache.5


def test_auth_token_is_a_secret(stack):
    p = plan(stack)
    inputs = _group(stack)["inputs"]
    assert inputs["authToken"] == "[secret]"  # ElastiCache.6
    assert inputs["authTokenUpdateStrategy"] == "ROTATE"
    token = p.named("random:index/randomPassword:RandomPassword", f"::platform-{stack}-redis-auth-token")
    assert token["inputs"] == {"length": 64, "special": False}
    # The generated value never shows in the plan, whatever field it travels in.
    assert token["outputs"]["result"] == "[secret]"
    # The mocks' token is "mock" + hex: it must appear nowhere (secret string, URL, outputs).
    assert not re.search(r"mock[0-9a-f]{20}", p.text())


def test_auth_secret_holds_the_connection_and_is_protected(stack):
    p = plan(stack)
    secret = p.named(SECRET, f"::platform-{stack}-redis-auth")
    assert secret["inputs"]["kmsKeyId"] == _key_arn(stack)
    assert secret["inputs"]["recoveryWindowInDays"] == (30 if EXPECTED[stack]["protect"] else 7)
    assert secret["protect"] is EXPECTED[stack]["protect"] and secret["retainOnDelete"] is EXPECTED[stack]["protect"]
    version = p.named("aws:secretsmanager/secretVersion:SecretVersion", f"::platform-{stack}-redis-auth-value")
    assert version["inputs"]["secretId"] == secret["id"]
    assert version["inputs"]["secretString"] == "[secret]"
    assert _group(stack)["urn"] in version["dependencies"]


def test_final_snapshot(stack):
    inputs = _group(stack)["inputs"]
    if EXPECTED[stack]["final_snapshot"]:
        # A name per deletion: the prefix and a digest of the group's replacing inputs.
        assert re.fullmatch(rf"platform-{stack}-redis-final-[0-9a-f]{{8}}", inputs["finalSnapshotIdentifier"])
    else:
        assert "finalSnapshotIdentifier" not in inputs


def test_pulumi_protection(stack):
    group = _group(stack)
    assert group["protect"] is EXPECTED[stack]["protect"] and group["retainOnDelete"] is EXPECTED[stack]["protect"]


def test_in_its_own_subnet_group_over_the_isolated_subnets(stack):
    p = plan(stack)
    subnets = p.named("aws:elasticache/subnetGroup:SubnetGroup", f"::platform-{stack}-redis-subnets")
    isolated = {s["id"] for s in p.of_type("aws:ec2/subnet:Subnet") if s["inputs"]["tags"]["Tier"] == "isolated"}
    assert set(subnets["inputs"]["subnetIds"]) == isolated
    name = _group(stack)["inputs"]["subnetGroupName"]
    assert name == subnets["outputs"]["name"] and name != "default"  # ElastiCache.7


def test_reachable_only_from_the_nodes_on_6379(stack):
    p = plan(stack)
    sg = p.named("aws:ec2/securityGroup:SecurityGroup", f"::platform-{stack}-redis-sg")
    nodes_sg = p.named("aws:ec2/securityGroup:SecurityGroup", f"::platform-{stack}-nodes-sg")
    assert sg["inputs"]["egress"] == [] and "ingress" not in sg["inputs"]
    rules = [r["inputs"] for r in p.of_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule") if r["inputs"]["securityGroupId"] == sg["id"]]
    assert rules == [
        {
            "securityGroupId": sg["id"],
            "ipProtocol": "tcp",
            "fromPort": 6379,
            "toPort": 6379,
            "referencedSecurityGroupId": nodes_sg["id"],
            "description": "Redis from the Kubernetes nodes",
        }
    ]
    assert _group(stack)["inputs"]["securityGroupIds"] == [sg["id"]]


def test_slow_log_delivered_to_an_encrypted_log_group(stack):
    p = plan(stack)
    log_group = p.named("aws:cloudwatch/logGroup:LogGroup", f"::platform-{stack}-redis-slow-log")
    assert log_group["inputs"]["kmsKeyId"] == _key_arn(stack)
    assert log_group["inputs"]["retentionInDays"] == {"dev": 30, "staging": 30, "prod": 365}[stack]
    assert _group(stack)["inputs"]["logDeliveryConfigurations"] == [
        {"destination": log_group["outputs"]["name"], "destinationType": "cloudwatch-logs", "logFormat": "json", "logType": "slow-log"}
    ]


def test_exports_are_realistic(stack):
    outputs = plan(stack).outputs
    group_id = _group(stack)["outputs"]["replicationGroupId"]
    assert re.fullmatch(rf"master\.{group_id}\.[0-9a-f]{{6}}\.ng\.0001\.use1\.cache\.amazonaws\.com", outputs["redis_endpoint"])
    assert outputs["redis_secret_arn"] == plan(stack).named(SECRET, f"::platform-{stack}-redis-auth")["outputs"]["arn"]
    assert outputs["redis_secret_arn"].startswith(f"arn:aws:secretsmanager:us-east-1:{account(stack)}:secret:platform-{stack}-redis-auth-")


def test_does_not_wait_for_the_cluster(stack):
    p = plan(stack)
    component = p.named("platform:cache:Cache", f"::platform-{stack}")
    for state in p.states:
        if state["parent"] == component["urn"]:
            assert not [d for d in state["dependencies"] if "eks:" in d], state["urn"]
