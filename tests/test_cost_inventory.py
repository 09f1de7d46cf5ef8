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


def _alert_destinations(stack: str) -> list[dict[str, Any]]:
    # The alert destinations' secret is observability's (its own "alerting" line), not the app's "secrets" line.
    return [s for s in plan(stack).of_type("aws:secretsmanager/secret:Secret") if s["urn"].endswith("-alert-destinations")]


def _data_copy_keys(stack: str) -> list[dict]:
    return [k for k in plan(stack).of_type("aws:kms/key:Key") if "platform:data_copy:" in k["urn"]]


# (resource, line prefix, the plan's count of what it prices, per month unit divisor)
INVENTORY = [
    # The environment's key; the dumps' own key (prod's data copy) has its line under `data`.
    ("key", "customer-managed KMS key", lambda s: count(s, "aws:kms/key:Key") - len(_data_copy_keys(s)), 1),
    ("nat-gateway", "NAT gateway hours", lambda s: count(s, "aws:ec2/natGateway:NatGateway"), HOURS),
    ("nat-eip", "public IPv4 hours", lambda s: count(s, "aws:ec2/eip:Eip"), HOURS),
    ("eks", "EKS control plane", lambda s: count(s, "eks:index:Cluster"), HOURS),
    ("redis", "cache.", lambda s: sum(int(g["inputs"]["numCacheClusters"]) for g in plan(s).of_type("aws:elasticache/replicationGroup:ReplicationGroup")), HOURS),
    # A Service without `type` is a ClusterIP (Thanos's in-cluster Services set none).
    ("nlb", "Network Load Balancer hours", lambda s: count(s, "kubernetes:core/v1:Service", lambda i: i["spec"].get("type") == "LoadBalancer"), HOURS),
    (
        "secrets", "Secrets Manager secrets",
        lambda s: count(s, "aws:secretsmanager/secret:Secret") - len(_alert_destinations(s)) + count(s, "aws:rds/instance:Instance", managed_master_password),
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
def test_the_dumps_key_is_priced_where_the_plan_creates_it(stack):
    priced = [i["quantity"] for i in plan(stack).outputs["cost"]["items"] if i["resource"] == "data-copy-key"]
    assert priced == ([1] if _data_copy_keys(stack) else [])
    assert bool(priced) == (stack == "prod")  # the copy's source; staging only restores


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


def _trail_buckets(stack: str) -> list[dict[str, Any]]:
    # The audit's bucket; the telemetry buckets (observability) are held below.
    return [b for b in plan(stack).of_type("aws:s3/bucket:Bucket") if b["urn"].endswith("-trail-bucket")]


@pytest.mark.parametrize("stack", STACKS)
def test_the_audit_is_priced_where_the_plan_builds_it(stack):
    """One trail, bucket and session log group per audit the plan builds (staging's covers dev's account)."""
    trails = count(stack, "aws:cloudtrail/trail:Trail")
    assert sum(1 for i in _audit_items(stack) if i["resource"] == "trail" and i["unit"] == "trail-month") == trails
    assert bool(_audit_items(stack)) is bool(trails) is bool(_trail_buckets(stack))
    if not trails:
        return
    (lifecycle,) = [c for c in plan(stack).of_type("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration") if c["urn"].endswith("-trail-bucket-lifecycle")]
    days = lifecycle["inputs"]["rules"][0]["expiration"]["days"]
    assert lifecycle["inputs"]["rules"][0]["noncurrentVersionExpiration"]["noncurrentDays"] == days
    # A month's log files are kept `days` current and `days` noncurrent: 2 x days of 730/24-day months.
    assert quantity(stack, "trail-bucket", "S3 Standard storage") == round(2 * days * 24 / HOURS, 4)
    (group,) = [g for g in plan(stack).of_type("aws:cloudwatch/logGroup:LogGroup") if g["urn"].endswith("-session-logs")]
    retention = group["inputs"]["retentionInDays"]
    assert f"{retention}-day retention" in next(i["item"] for i in _audit_items(stack) if i["item"].startswith("session logs stored"))
    assert quantity(stack, "session-logs", "session logs stored") == round(0.1 * retention * 24 / HOURS, 4)


# ---------------------------------------------------------------------------- observability


def _observability_items(stack: str) -> list[dict[str, Any]]:
    return [i for i in plan(stack).outputs["cost"]["items"] if i["component"] == "observability"]


def _release_values(stack: str, release: str) -> dict[str, Any] | None:
    found = [r["inputs"]["values"] for r in plan(stack).of_type("kubernetes:helm.sh/v3:Release") if r["urn"].endswith(f"-{release}")]
    return found[0] if found else None


def _gi(size: str) -> int:
    assert size.endswith("Gi"), size
    return int(size.removesuffix("Gi"))


def _planned_volumes(stack: str) -> dict[str, int]:
    """GB of every persistent volume the plan's observability asks for, by the cost line's resource."""
    out: dict[str, int] = {}
    kps = _release_values(stack, "kube-prometheus-stack")
    if kps is not None:
        out["prometheus"] = _gi(kps["prometheus"]["prometheusSpec"]["storageSpec"]["volumeClaimTemplate"]["spec"]["resources"]["requests"]["storage"])
    for sts in plan(stack).of_type("kubernetes:apps/v1:StatefulSet"):
        for claim in sts["inputs"]["spec"].get("volumeClaimTemplates") or []:
            assert sts["urn"].endswith("-thanos-compact"), sts["urn"]  # the only StatefulSet with a claim
            out["thanos"] = _gi(claim["spec"]["resources"]["requests"]["storage"])
    loki = _release_values(stack, "loki")
    if loki is not None and loki["singleBinary"]["persistence"]["enabled"]:
        out["loki"] = _gi(loki["singleBinary"]["persistence"]["size"])
    tempo = _release_values(stack, "tempo")
    if tempo is not None and tempo["persistence"]["enabled"]:
        out["tempo"] = _gi(tempo["persistence"]["size"])
    grafana = _release_values(stack, "grafana")
    assert grafana is None or not grafana["persistence"]["enabled"]  # Grafana keeps no volume (nothing priced)
    return out


@pytest.mark.parametrize("stack", STACKS)
def test_every_observability_volume_is_priced_at_its_size(stack):
    priced = {i["resource"]: i["quantity"] for i in _observability_items(stack) if i["unit"] == "GB-month" and "gp3" in i["item"]}
    assert priced == _planned_volumes(stack)


# Literal anchors: dev logs only; staging Prometheus (30 d x 5,000/s -> 33 GB), Loki, Tempo; prod also Thanos.
@pytest.mark.parametrize(
    ("stack", "volumes"),
    [("dev", {"loki": 5}), ("staging", {"prometheus": 33, "loki": 10, "tempo": 10}), ("prod", {"prometheus": 156, "thanos": 20, "loki": 10, "tempo": 10})],
)
def test_observability_volume_sizes(stack, volumes):
    assert _planned_volumes(stack) == volumes


def _telemetry_buckets(stack: str) -> list[str]:
    return sorted(b["urn"].rsplit("::", 1)[-1].removeprefix(f"platform-{stack}-").removesuffix("-bucket") for b in plan(stack).of_type("aws:s3/bucket:Bucket") if not b["urn"].endswith(("-trail-bucket", "-data-copy-bucket")))


@pytest.mark.parametrize(("stack", "buckets"), [("dev", ["logs"]), ("staging", ["logs", "traces"]), ("prod", ["logs", "metrics", "traces"])])
def test_every_telemetry_bucket_is_priced(stack, buckets):
    assert _telemetry_buckets(stack) == buckets
    stored = sorted(i["resource"].removesuffix("-bucket") for i in _observability_items(stack) if i["resource"].endswith("-bucket") and i["unit"] == "GB-month")
    assert stored == buckets
    # Each bucket takes platform:cost.telemetry_put_requests_per_month PUTs (300k; dev's file says 50k).
    per_bucket = {"dev": 50}.get(stack, 300)
    assert quantity(stack, "buckets", "S3 PUT requests into the telemetry buckets") == len(buckets) * per_bucket


@pytest.mark.parametrize("stack", STACKS)
def test_the_alarms_priced_are_the_alarms_the_plan_creates(stack):
    alarms = count(stack, "aws:cloudwatch/metricAlarm:MetricAlarm")
    priced = [i["quantity"] for i in _observability_items(stack) if i["resource"] == "alarms"]
    assert priced == ([alarms] if alarms else [])


# Literal anchors: dev alerts no one; staging and prod as infra/alarms.py counts them (uptime included).
@pytest.mark.parametrize(("stack", "alarms"), [("dev", 0), ("staging", 12), ("prod", 16)])
def test_alarm_counts(stack, alarms):
    assert count(stack, "aws:cloudwatch/metricAlarm:MetricAlarm") == alarms


@pytest.mark.parametrize("stack", STACKS)
def test_the_alerting_and_uptime_lines_are_what_the_plan_creates(stack):
    items = _observability_items(stack)
    secrets = [i["quantity"] for i in items if i["resource"] == "alerting" and i["unit"] == "secret-month"]
    assert secrets == ([len(_alert_destinations(stack))] if _alert_destinations(stack) else [])
    forwarders = [f for f in plan(stack).of_type("aws:lambda/function:Function") if f["urn"].endswith("-forwarder")]
    assert bool([i for i in items if i["resource"] == "alerting" and i["unit"] in ("1M requests", "GB-second")]) is bool(forwarders)
    checks = plan(stack).of_type("aws:route53/healthCheck:HealthCheck")
    assert sum(1 for i in items if i["resource"] == "uptime" and i["item"].startswith("Route 53 health check of")) == len(checks)
    for check in checks:
        # An HTTPS check every 30 s: the base check and the HTTPS feature, no fast-interval line.
        assert (check["inputs"]["type"], check["inputs"]["requestInterval"]) == ("HTTPS", 30)
        assert [i["item"] for i in items if i["resource"] == "uptime"][1:] == ["Route 53 health check optional feature: HTTPS"]
