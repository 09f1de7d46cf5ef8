"""The cost model prices what the program creates: its counts match the plan's resources.

The model is a pure function of config (so `pulumi stack output --json cost` and the
offline plan agree); these tests hold each count it derives to the resources the same
config registers, so a component that adds a secret, a record or a gateway cannot leave
the cost behind.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import STACKS, plan

HOURS = 730


def quantity(stack: str, resource: str, item_prefix: str) -> float:
    items = [i for i in plan(stack).outputs["cost"]["items"] if i["resource"] == resource and i["item"].startswith(item_prefix)]
    assert len(items) == 1, [i["item"] for i in plan(stack).outputs["cost"]["items"] if i["resource"] == resource]
    return items[0]["quantity"]


def count(stack: str, token: str, where: Any = None) -> int:
    return sum(1 for s in plan(stack).of_type(token) if where is None or where(s["inputs"]))


def managed_master_password(inputs: dict[str, Any]) -> bool:
    return bool(inputs.get("manageMasterUserPassword"))


# (resource, line prefix, the plan's count of what it prices, per month unit divisor)
INVENTORY = [
    ("key", "customer-managed KMS key", lambda s: count(s, "aws:kms/key:Key"), 1),
    ("nat-gateway", "NAT gateway hours", lambda s: count(s, "aws:ec2/natGateway:NatGateway"), HOURS),
    ("nat-eip", "public IPv4 hours", lambda s: count(s, "aws:ec2/eip:Eip"), HOURS),
    ("eks", "EKS control plane", lambda s: count(s, "eks:index:Cluster"), HOURS),
    ("redis", "cache.", lambda s: sum(int(g["inputs"]["numCacheClusters"]) for g in plan(s).of_type("aws:elasticache/replicationGroup:ReplicationGroup")), HOURS),
    ("nlb", "Network Load Balancer hours", lambda s: count(s, "kubernetes:core/v1:Service", lambda i: i["spec"]["type"] == "LoadBalancer"), HOURS),
    (
        "secrets", "Secrets Manager secrets",
        lambda s: count(s, "aws:secretsmanager/secret:Secret") + count(s, "aws:rds/instance:Instance", managed_master_password),
        1,
    ),
    ("dns", "Cloudflare DNS records", lambda s: count(s, "cloudflare:index/dnsRecord:DnsRecord"), 1),
    ("budget", "AWS Budgets", lambda s: count(s, "aws:budgets/budget:Budget"), 1),
]


@pytest.mark.parametrize("stack", STACKS)
@pytest.mark.parametrize(("resource", "prefix", "in_plan", "per"), INVENTORY, ids=[row[0] for row in INVENTORY])
def test_each_priced_count_is_what_the_plan_creates(stack, resource, prefix, in_plan, per):
    assert quantity(stack, resource, prefix) == in_plan(stack) * per


@pytest.mark.parametrize("stack", STACKS)
def test_every_node_group_is_priced_at_its_desired_size(stack):
    groups = {s["urn"].rsplit("::", 1)[-1]: s["inputs"] for s in plan(stack).of_type("eks:index:ManagedNodeGroup")}
    for name, inputs in groups.items():
        group = name.removeprefix(f"platform-{stack}-")
        hours = quantity(stack, f"node-group/{group}", inputs["instanceTypes"][0])
        assert hours == inputs["scalingConfig"]["desiredSize"] * HOURS


@pytest.mark.parametrize("stack", STACKS)
def test_every_read_replica_is_priced(stack):
    replicas = count(stack, "aws:rds/instance:Instance", lambda i: bool(i.get("replicateSourceDb")))
    priced = {i["resource"] for i in plan(stack).outputs["cost"]["items"] if i["resource"].startswith("postgres-replica-")}
    assert len(priced) == replicas


# Literal anchors, so a change in both the program and the model at once still shows here.
@pytest.mark.parametrize(("stack", "secrets", "records"), [("dev", 3, 5), ("staging", 3, 4), ("prod", 3, 6)])
def test_secret_and_record_counts(stack, secrets, records):
    assert quantity(stack, "secrets", "Secrets Manager") == secrets
    assert quantity(stack, "dns", "Cloudflare DNS records") == records


def _audit_items(stack: str) -> list[dict[str, Any]]:
    return [i for i in plan(stack).outputs["cost"]["items"] if i["component"] == "audit"]


@pytest.mark.parametrize("stack", STACKS)
def test_the_audit_is_priced_where_the_plan_builds_it(stack):
    """One trail, bucket and session log group per audit the plan builds (staging's covers dev's account)."""
    trails = count(stack, "aws:cloudtrail/trail:Trail")
    assert sum(1 for i in _audit_items(stack) if i["resource"] == "trail" and i["unit"] == "trail-month") == trails
    assert bool(_audit_items(stack)) is bool(trails) is bool(count(stack, "aws:s3/bucket:Bucket"))
    if not trails:
        return
    (lifecycle,) = plan(stack).of_type("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")
    days = lifecycle["inputs"]["rules"][0]["expiration"]["days"]
    assert lifecycle["inputs"]["rules"][0]["noncurrentVersionExpiration"]["noncurrentDays"] == days
    # A month's log files are kept `days` current and `days` noncurrent: 2 x days of 730/24-day months.
    assert quantity(stack, "trail-bucket", "S3 Standard storage") == round(2 * days * 24 / HOURS, 4)
    (group,) = [g for g in plan(stack).of_type("aws:cloudwatch/logGroup:LogGroup") if g["urn"].endswith("-session-logs")]
    retention = group["inputs"]["retentionInDays"]
    assert f"{retention}-day retention" in next(i["item"] for i in _audit_items(stack) if i["item"].startswith("session logs stored"))
    assert quantity(stack, "session-logs", "session logs stored") == round(0.1 * retention * 24 / HOURS, 4)
