"""The cost model, its reports and the cost diff, checked against arithmetic written out here.

The expected figures are computed by hand from `infra/prices/us-east-1.yaml` (730 h/month), never
by calling the model, so a wrong price lookup, a missed Multi-AZ factor or a rounding slip
fails a test.

MATRIX mirrors SPEC's environment matrix as raw `platform:` config, so the unit tests can
vary one field at a time; `test_committed_stack_files_cost` holds the committed stack files
(Pulumi.<stack>.yaml) to the same hand-computed figures.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import subprocess
import sys
from argparse import Namespace
from decimal import Decimal
from pathlib import Path

import pytest

from infra import config
from infra import prices as catalogue
from infra.cost.model import awake_hours_per_week, estimate, off_hours_per_month, totals_by_component
from infra.review.cost_report import changed_items, extract_cost, render_diff, render_markdown, render_table, run, signed_money

ROOT = Path(__file__).resolve().parents[1]
ZONE = "0123456789abcdef0123456789abcdef"

MATRIX: dict[str, dict] = {
    "dev": {
        "tier": "development",
        "network": {"cidr": "10.10.0.0/16", "az_count": 2, "nat_gateways": "single"},
        "cluster": {
            "node_groups": [
                {"name": "general", "instance_types": ["t3.medium"], "capacity_type": "SPOT", "min_size": 1, "desired_size": 2, "max_size": 3, "scale_to_zero_off_hours": True},
            ]
        },
        "database": {"instance_class": "db.t3.micro", "allocated_storage_gb": 20, "multi_az": False, "backup_retention_days": 1, "stop_off_hours": True},
        "cache": {"node_type": "cache.t3.micro", "num_nodes": 1, "automatic_failover": False, "multi_az": False, "snapshot_retention_days": 1},
        "dns": {"domain": "example.com", "zone_id": ZONE, "api_records": ["api-dev"], "web_records": ["dev"]},
        "app": {"node_env": "development", "log_level": "debug", "rate_limit_enabled": False, "external_services": "mock", "developers": ["ana", "luis"]},
        "budget": {"monthly_limit_usd": 200},
        "protection": {"protect": False, "retain_on_delete": False, "deletion_protection": False, "final_snapshots": False},
        "working_hours": {"timezone": "Europe/Madrid", "days": "MON-FRI", "start": "08:00", "stop": "20:00"},
        # dev shares staging's account, and staging builds that account's audit (as committed).
        "account": {"id": "222222222222", "audit_owner": "staging", "create_autoscaling_service_linked_role": False},
        # As committed: logs only. The defaults (metrics and traces on) would not fit the one
        # t3.medium dev keeps at min_size (infra/telemetry.py capacity_problem: 57% / 68% > 50%).
        "observability": {"metrics": {"enabled": False}, "logs": {"retention_days": 3, "volume_gb": 5}, "traces": {"enabled": False}},
        "cost": {"telemetry_put_requests_per_month": 50_000},
    },
    "staging": {
        "tier": "staging",
        "network": {"cidr": "10.20.0.0/16", "az_count": 2, "nat_gateways": "single"},
        "cluster": {"node_groups": [{"name": "general", "instance_types": ["m5.large"], "min_size": 2, "desired_size": 2, "max_size": 5}]},
        "database": {"instance_class": "db.t3.medium", "allocated_storage_gb": 100, "multi_az": False, "backup_retention_days": 7},
        "cache": {"node_type": "cache.t3.small", "num_nodes": 2, "automatic_failover": True, "multi_az": False},
        "dns": {"domain": "example.com", "zone_id": ZONE, "api_records": ["api-staging"], "web_records": ["staging"]},
        "app": {"node_env": "staging", "external_services": "test"},
        "budget": {"monthly_limit_usd": 500, "alert_emails": ["platform@example.com"]},
        "protection": {"protect": False, "retain_on_delete": False, "deletion_protection": False, "final_snapshots": True},
        "account": {"id": "222222222222"},
        "audit": {"trail_retention_days": 365, "object_lock_days": 0, "session_log_retention_days": 90},
        "observability": {
            "metrics": {"retention_days": 30},
            "logs": {"retention_days": 7},
            "traces": {"retention_days": 3},
            "alerts": {"enabled": True, "slack": {"channel": "#alerts-staging"}},
            "uptime": {"enabled": True},
            "sentry_environment": "staging",
        },
    },
    "prod": {
        "tier": "production",
        "network": {"cidr": "10.30.0.0/16", "az_count": 3, "nat_gateways": "one_per_az"},
        "cluster": {
            "node_groups": [
                {"name": "general", "instance_types": ["m5.large"], "min_size": 3, "desired_size": 3, "max_size": 10},
                {"name": "spot", "instance_types": ["m5.large", "m6i.large"], "capacity_type": "SPOT", "min_size": 0, "desired_size": 0, "max_size": 5},
            ]
        },
        "database": {"instance_class": "db.m5.large", "allocated_storage_gb": 500, "multi_az": True, "backup_retention_days": 30, "read_replicas": 1},
        "cache": {"node_type": "cache.m5.large", "num_nodes": 2, "automatic_failover": True, "multi_az": True, "snapshot_retention_days": 7},
        "dns": {"domain": "example.com", "zone_id": ZONE, "api_records": ["api"], "web_records": ["@", "www"]},
        "app": {"node_env": "production", "log_level": "warn", "external_services": "live"},
        "budget": {"monthly_limit_usd": 1800, "alert_emails": ["platform@example.com", "finance@example.com"]},
        "account": {"id": "333333333333"},
        "audit": {"trail_retention_days": 2557, "object_lock_days": 365, "session_log_retention_days": 365},
        "access": {"teams": {"break_glass": {"principal": "arn:aws:iam::333333333333:role/break-glass", "cluster": "cluster_admin"}}},
        # The production floor: metrics with a long-term store, logs, traces, PagerDuty, uptime.
        "data_copy": {"role": "source", "schedule": "0 2 * * 6", "timezone": "Europe/Madrid", "image_tag": "0.1.0", "target_account_id": "210987654321", "keep_dumps_days": 3},
        "observability": {
            "metrics": {"retention_days": 90, "long_term_days": 395, "samples_per_second": 8000},
            "logs": {"retention_days": 30},
            "traces": {"retention_days": 7},
            "alerts": {"enabled": True, "slack": {"channel": "#alerts-prod"}, "pagerduty": {"severities": ["critical"]}},
            "uptime": {"enabled": True},
            "sentry_environment": "production",
        },
    },
}


def stack_config(name: str, raw: dict | None = None) -> config.StackConfig:
    # The matrix's own accounts (not the committed stack files'): dev and staging share one,
    # whose audit staging builds; prod has its own.
    others = {stack: raw_stack["account"] for stack, raw_stack in MATRIX.items() if stack != name}
    return config.parse(MATRIX[name] if raw is None else raw, stack=name, aws={"region": "us-east-1"}, other_accounts=others)


def with_change(name: str, section: str, **fields) -> config.StackConfig:
    raw = copy.deepcopy(MATRIX[name])
    raw[section].update(fields)
    return stack_config(name, raw)


# Per component: every line's price x quantity, rounded to cents, then added.
EXPECTED = {
    "dev": {
        # NAT 1 x 730 h x 0.045 = 32.85; 100 GB x 0.045 = 4.50; EIP 730 h x 0.005 = 3.65; flow logs 5 GB x 0.50 = 2.50
        "network": 43.50,
        # EKS 730 x 0.10 = 73.00; logs 10 GB x 0.50 = 5.00; t3.medium SPOT 2 x 730 x 0.0416 x 0.4 = 24.29;
        # EBS 2 x 50 GB x 0.08 = 8.00; off-hours (awake 60 of 168 h): -1460 x 108/168 x 0.01664 = -15.62,
        # -100 GB x 108/168 x 0.08 = -5.14
        "cluster": 89.53,
        # db.t3.micro 730 x 0.018 = 13.14; 20 GB x 0.115 = 2.30; backups 0; off-hours -730 x 108/168 x 0.018 = -8.45
        "database": 6.99,
        "cache": 12.41,  # cache.t3.micro 730 x 0.017
        # NLB 730 x 0.0225 = 16.425 -> 16.43; 1 NLCU x 730 x 0.006 = 4.38; 2 IPs x 730 x 0.005 = 7.30
        "edge": 28.11,
        "keys": 1.00,  # one KMS key x 1.00
        "app": 1.20,  # 3 secrets x 0.40; 2 Cloudflare records x 0
        "budget": 0.00,
        # Logs only: Loki gp3 5 GB (logs.volume_gb) x 0.08 = 0.40; logs bucket 3 d x 0.5 GB/day = 1.5 GB-month
        # x 0.023 = 0.0345 -> 0.03; PUTs 1 bucket x 50k (dev's platform:cost) = 50 x 0.005/1k = 0.25
        "observability": 0.68,
    },
    "staging": {
        "network": 43.50,  # as dev: one shared NAT
        # EKS 73.00; logs 5.00; m5.large 2 x 730 x 0.096 = 140.16; EBS 100 GB x 0.08 = 8.00
        "cluster": 226.16,
        "database": 64.06,  # db.t3.medium 730 x 0.072 = 52.56; 100 GB x 0.115 = 11.50
        "cache": 49.64,  # cache.t3.small 2 x 730 x 0.034
        "edge": 28.11,
        "keys": 1.00,
        "app": 1.20,
        "budget": 0.00,
        # The account's audit (staging owns it): trail 1 x 0.00; S3 1 GB/month x 2 x 365 days / (730/24) = 24 GB-month
        # x 0.023 = 0.55; 50k PUTs x 0.005/1k = 0.25; KMS 0; session logs 0.1 GB x 0.50 = 0.05 + 0.1 GB x 90/(730/24)
        # GB-month x 0.03 = 0.01
        "audit": 0.86,
        # Prometheus gp3: 30 d x 86,400 s x 5,000 samples/s x 2 bytes = 25.92 GB x 1.25 = 32.4 -> 33 GB x 0.08 = 2.64;
        # Loki 0.80; logs bucket 7 d x 0.5 = 3.5 GB-month x 0.023 = 0.0805 -> 0.08; Tempo 0.80; traces bucket
        # 3 d x 0.2 = 0.6 GB-month x 0.023 = 0.0138 -> 0.01; PUTs 2 buckets x 300 x 0.005 = 3.00;
        # 12 alarms x 0.10 = 1.20; destinations secret 0.40; forwarder Lambda 0.001 M requests x 0.20 = 0.0002
        # -> 0.00 and 1,000 x 0.125 GB-s = 125 x 0.0000166667 = 0.0021 -> 0.00; health check 0.50 + HTTPS 1.00
        "observability": 10.43,
    },
    "prod": {
        # NAT 3 x 730 x 0.045 = 98.55; 4.50; 3 EIPs x 730 x 0.005 = 10.95; 2.50
        "network": 116.50,
        # EKS 73.00; logs 5.00; m5.large 3 x 730 x 0.096 = 210.24; EBS 150 GB x 0.08 = 12.00; spot pool desired 0 = 0
        "cluster": 300.24,
        # Multi-AZ db.m5.large 730 x 2 x 0.178 = 259.88; 500 GB x 2 x 0.115 = 115.00;
        # replica 730 x 0.178 = 129.94 + 500 GB x 0.115 = 57.50
        "database": 562.32,
        "cache": 227.76,  # cache.m5.large 2 x 730 x 0.156
        "edge": 31.76,  # 16.43 + 4.38 + 3 IPs x 730 x 0.005 = 10.95
        "keys": 1.00,
        "app": 1.20,  # 3 Cloudflare records x 0
        "budget": 0.00,
        # S3 1 GB/month x 2 x 2557 days / (730/24) = 168.1315 GB-month x 0.023 = 3.87; PUTs 0.25; session logs
        # 0.05 ingested + 0.1 x 365/(730/24) = 1.2 GB-month x 0.03 = 0.04
        "audit": 4.21,
        # Prometheus gp3: 90 d x 86,400 x 8,000 x 2 bytes = 124.416 GB x 1.25 = 155.52 -> 156 GB x 0.08 = 12.48;
        # long-term bucket 395 d x 86,400 x 8,000 x 2 = 546.048 GB x 1.1 = 600.7 GB-month x 0.023 = 13.8161 -> 13.82;
        # Thanos compactor 20 GB x 0.08 = 1.60; Loki 0.80; logs 30 x 0.5 = 15 x 0.023 = 0.345 -> 0.35; Tempo 0.80;
        # traces 7 x 0.2 = 1.4 x 0.023 = 0.0322 -> 0.03; PUTs 3 x 300 x 0.005 = 4.50; 16 alarms x 0.10 = 1.60;
        # secret 0.40; Lambda 0.00 + 0.00; health check 0.50 + HTTPS 1.00
        "observability": 37.88,
        # The data copy's source: the dumps' KMS key 1.00; a 2 GB dump (platform:cost.data_dump_gb) kept 3 of 7
        # days = 0.8571 GB-month x 0.023 = 0.02
        "data": 1.12,
    },
}
EXPECTED_TOTAL = {"dev": 183.42, "staging": 424.96, "prod": 1283.99}
BUDGET = {"dev": 200.0, "staging": 500.0, "prod": 1800.0}


# ---------------------------------------------------------------------------- the model


@pytest.mark.parametrize("stack", sorted(MATRIX))
def test_matrix_components_and_total(stack):
    cost = estimate(stack_config(stack))
    assert totals_by_component(cost) == EXPECTED[stack]
    assert cost["monthly_total"] == EXPECTED_TOTAL[stack]


@pytest.mark.parametrize("stack", sorted(MATRIX))
def test_committed_stack_files_cost(stack):
    committed = _levers_module().read_stack(stack).parse()
    cost = estimate(committed)
    assert totals_by_component(cost) == EXPECTED[stack]
    assert cost["monthly_total"] == EXPECTED_TOTAL[stack]
    assert cost["budget"] == BUDGET[stack]


@pytest.mark.parametrize("stack", sorted(MATRIX))
def test_matrix_within_budget(stack):
    cost = estimate(stack_config(stack))
    assert cost["budget"] == BUDGET[stack]
    assert cost["monthly_total"] <= cost["budget"]


@pytest.mark.parametrize("stack", sorted(MATRIX))
def test_items_are_cents_and_sum_to_total(stack):
    cost = estimate(stack_config(stack))
    monthly = [Decimal(str(i["monthly"])) for i in cost["items"]]
    assert all(m == m.quantize(Decimal("0.01")) for m in monthly)
    assert sum(monthly) == Decimal(str(cost["monthly_total"]))


def test_shape_is_the_spec_contract():
    cost = estimate(stack_config("staging"))
    # The interface's fields, plus `unpriced` (what a region's catalogue could not price),
    # `node_range` (every node group at min_size and at max_size) and `observability` (its own
    # lines' total and the share of the min_size nodes its pods request).
    assert set(cost) == {"currency", "region", "prices_as_of", "hours_per_month", "monthly_total", "budget", "items", "unpriced", "node_range", "observability"}
    # 10.43 as above; 2 m5.large at min_size = 4,000m / 16,384Mi; requests 1,300m (Prometheus 250, Alertmanager 50,
    # operator 100, kube-state-metrics 50, node exporter 2 x 50, Loki 200, Alloy 2 x 100, Tempo 200, Grafana 100
    # + sidecar 50) = 0.325; memory (Prometheus 150,000 series x 6 KiB = 879, 64, 128, 128, 2 x 64, 512,
    # 2 x 192, 512, 256 + 64) = 3,055Mi = 0.1865 -> 0.186
    assert cost["observability"] == {"monthly": 10.43, "node_cpu_share": 0.325, "node_memory_share": 0.186}
    assert cost["unpriced"] == []
    assert (cost["currency"], cost["region"], cost["hours_per_month"], cost["prices_as_of"]) == ("USD", "us-east-1", 730, "2026-01-19")
    for item in cost["items"]:
        assert set(item) == {"component", "resource", "item", "quantity", "unit", "unit_price", "monthly"}
        assert item["component"] in {"keys", "network", "cluster", "database", "cache", "edge", "app", "budget", "audit", "observability"}
    json.dumps(cost)  # a stack output must serialise


def _line(cost, resource, startswith):
    [line] = [i for i in cost["items"] if i["resource"] == resource and i["item"].startswith(startswith)]
    return line


@pytest.mark.parametrize(
    ("stack", "resource", "startswith", "quantity", "unit_price", "monthly"),
    [
        ("dev", "node-group/general", "t3.medium SPOT", 1460, 0.01664, 24.29),
        ("dev", "node-group/general", "off-hours scale to zero: instance", -938.5714, 0.01664, -15.62),
        ("dev", "node-group/general", "off-hours scale to zero: root", -64.2857, 0.08, -5.14),
        ("dev", "postgres", "off-hours stop", -469.2857, 0.018, -8.45),
        ("prod", "postgres", "db.m5.large instance hours (Multi-AZ", 730, 0.356, 259.88),
        ("prod", "postgres", "gp3 storage", 500, 0.23, 115.00),
        ("prod", "postgres-replica-1", "db.m5.large read replica", 730, 0.178, 129.94),
        ("prod", "nat-gateway", "NAT gateway hours (1 per AZ x 3)", 2190, 0.045, 98.55),
        ("prod", "nat-eip", "public IPv4", 2190, 0.005, 10.95),
        ("prod", "node-group/spot", "m5.large (first of its instance types) SPOT", 0, 0.0384, 0.00),
        ("prod", "redis", "snapshot storage", 0, 0.085, 0.00),
        ("staging", "nlb", "Network Load Balancer", 730, 0.0225, 16.43),
        ("prod", "trail", "CloudTrail management events, the account's first copy", 1, 0.0, 0.00),
        ("prod", "trail-bucket", "S3 Standard storage", 168.1315, 0.023, 3.87),
        ("staging", "trail-bucket", "S3 Standard storage", 24, 0.023, 0.55),
        ("prod", "trail-bucket", "S3 PUT requests", 50, 0.005, 0.25),
        ("prod", "trail", "KMS requests", 0, 0.03, 0.00),
        ("prod", "session-logs", "Session Manager session logs ingested", 0.1, 0.50, 0.05),
        ("prod", "session-logs", "session logs stored", 1.2, 0.03, 0.04),
        ("staging", "session-logs", "session logs stored", 0.2959, 0.03, 0.01),
    ],
)
def test_line_items(stack, resource, startswith, quantity, unit_price, monthly):
    line = _line(estimate(stack_config(stack)), resource, startswith)
    assert (line["quantity"], line["unit_price"], line["monthly"]) == (quantity, unit_price, monthly)


def test_only_the_audit_owner_prices_the_audit():
    assert [i for i in estimate(stack_config("dev"))["items"] if i["component"] == "audit"] == []
    # dev in an account of its own builds (and pays for) its own audit.
    raw = {**copy.deepcopy(MATRIX["dev"]), "account": {"id": "111111111111"}}
    own = estimate(config.parse(raw, stack="dev", aws={"region": "us-east-1"}, other_accounts={}))
    # AuditConfig's defaults (365 days each): 24 GB-month x 0.023 = 0.55 + PUTs 0.25 + 0.05 ingested + 1.2 GB-month x 0.03 = 0.04
    assert totals_by_component(own)["audit"] == 0.89
    assert {i["resource"] for i in own["items"] if i["component"] == "audit"} == {"trail", "trail-bucket", "session-logs"}


def test_audit_assumptions_come_from_platform_cost():
    base = stack_config("prod")
    assert (base.cost.trail_log_gb_per_month, base.cost.trail_put_requests_per_month, base.cost.session_log_ingest_gb_per_month) == (1.0, 50_000, 0.1)
    more = base.model_copy(update={"cost": base.cost.model_copy(update={"trail_log_gb_per_month": 2, "trail_put_requests_per_month": 100_000, "session_log_ingest_gb_per_month": 1})})
    assert _line(estimate(more), "trail-bucket", "S3 Standard storage")["monthly"] == 7.73  # 336.263 GB-month x 0.023
    assert _line(estimate(more), "trail-bucket", "S3 PUT")["monthly"] == 0.50
    assert _line(estimate(more), "session-logs", "Session Manager")["monthly"] == 0.50


def test_nothing_sleeps_without_the_flags():
    for stack in ("staging", "prod"):
        assert not [i for i in estimate(stack_config(stack))["items"] if i["monthly"] < 0]


@pytest.mark.parametrize(
    ("days", "start", "stop", "awake", "off_hours"),
    [
        ("MON-FRI", "08:00", "20:00", 60, Decimal(730) * 108 / 168),
        ("MON-SAT", "09:00", "18:30", Decimal("57"), Decimal(730) * 111 / 168),
        ("MON-SUN", "00:00", "23:30", Decimal("164.5"), Decimal(730) * Decimal("3.5") / 168),
    ],
)
def test_awake_and_off_hours(days, start, stop, awake, off_hours):
    hours = config.WorkingHours(days=days, start=start, stop=stop)
    assert awake_hours_per_week(hours) == awake
    assert off_hours_per_month(hours, Decimal(730)) == off_hours


def test_shorter_working_day_saves_more():
    # 09:00-18:00 MON-FRI: awake 45 h, so 123/168 of the month asleep instead of 108/168.
    cost = estimate(with_change("dev", "working_hours", start="09:00", stop="18:00"))
    assert _line(cost, "postgres", "off-hours stop")["monthly"] == -9.62  # 730 x 123/168 x 0.018 = 9.6225 -> 9.62 (half up)


# ---------------------------------------------------------------------------- missing prices


def _without(family: str, sku: str) -> catalogue.Catalogue:
    full = catalogue.load()
    table = {k: v for k, v in getattr(full, family).items() if k != sku}
    return full.model_copy(update={family: table})


@pytest.mark.parametrize(
    ("stack", "family", "sku"),
    [
        ("staging", "ec2", "m5.large"),
        ("staging", "rds_postgres", "db.t3.medium"),
        ("prod", "elasticache", "cache.m5.large"),
        ("dev", "unit_prices", "nat_gateway"),
        ("prod", "unit_prices", "rds_gp3_storage"),
    ],
)
def test_a_missing_price_is_an_unpriced_line_never_a_zero(stack, family, sku):
    full = estimate(stack_config(stack))
    cost = estimate(stack_config(stack), _without(family, sku))
    unpriced = [i for i in cost["items"] if i["unit_price"] is None]
    assert unpriced and all(i["monthly"] is None for i in unpriced)
    assert cost["unpriced"] == [f"{i['component']} {i['resource']}: {i['item']}" for i in unpriced]
    missing = sum(next(f["monthly"] for f in full["items"] if f["item"] == i["item"] and f["resource"] == i["resource"]) for i in unpriced)
    assert cost["monthly_total"] == round(full["monthly_total"] - missing, 2)


def test_other_region_is_not_priced_with_us_east_1_figures():
    other = config.parse(MATRIX["staging"], stack="staging", aws={"region": "eu-west-1"})
    with pytest.raises(ValueError, match="a us-east-1 catalogue cannot price a stack in eu-west-1"):
        estimate(other, catalogue.load("us-east-1"))
    assert estimate(other)["region"] == "eu-west-1"


def test_model_imports_no_pulumi_and_no_component():
    code = "import sys, infra.cost.model; bad = [m for m in sys.modules if m.split('.')[0] in {'pulumi', 'pulumi_aws'} or m == 'infra.config' or m.startswith('infra.components')]; print(bad)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# ---------------------------------------------------------------------------- diff


def test_diff_of_a_database_class_change():
    base = estimate(stack_config("staging"))
    head = estimate(with_change("staging", "database", instance_class="db.m5.large"))
    assert head["monthly_total"] == 502.34  # 424.96 + (0.178 - 0.072) x 730 = 424.96 + 77.38
    changes = changed_items(base, head)
    assert [(c["change"], c["key"][2], c["before"], c["after"], c["delta"]) for c in changes] == [
        ("added", "db.m5.large instance hours (Single-AZ)", None, Decimal("129.94"), Decimal("129.94")),
        ("removed", "db.t3.medium instance hours (Single-AZ)", Decimal("52.56"), None, Decimal("-52.56")),
    ]
    comment = render_diff(base, head, "staging")
    assert comment.startswith("### Cost change: staging\n")
    assert "| Before | $424.96 |" in comment
    assert "| After | $502.34 |" in comment
    assert "| Difference | **+$77.38** (+18.2%) |" in comment
    assert "| added | database | postgres | db.m5.large instance hours (Single-AZ) | — | $129.94 | +$129.94 |" in comment
    # 502.34 > 500 since observability's 10.43: over the budget by 2.34.
    assert "**Over budget:** the new estimate $502.34 is $2.34 above the $500.00 monthly budget." in comment
    assert "Near budget" not in comment
    # Against a $520 budget: 502.34 / 520 = 96.6%, not over, but near it.
    near = render_diff(base, {**head, "budget": 520.0}, "staging")
    assert "**Near budget:** the new estimate uses 96.6% of the $520.00 monthly budget." in near
    assert "Over budget" not in near


def test_diff_reversed_and_unchanged():
    base = estimate(stack_config("staging"))
    head = estimate(with_change("staging", "database", instance_class="db.m5.large"))
    assert "| Difference | **-$77.38** (-15.4%) |" in render_diff(head, base)  # 77.38 / 502.34
    same = render_diff(base, base)
    assert "| Difference | **$0.00** (+0.0%) |" in same
    assert "No line item changed." in same
    assert "| Budget | $500.00 (85.0% used) |" in same  # 424.96 / 500
    assert "Near budget" not in same and "Over budget" not in same


def test_diff_over_budget_and_quantity_change():
    base = estimate(stack_config("staging"))
    head = estimate(with_change("staging", "cluster", node_groups=[{**MATRIX["staging"]["cluster"]["node_groups"][0], "desired_size": 4}]))
    # 2 more m5.large: 2 x 730 x 0.096 = 140.16, 2 x 50 GB x 0.08 = 8.00 -> 424.96 + 148.16 = 573.12
    assert head["monthly_total"] == 573.12
    comment = render_diff(base, head)
    assert "| Difference | **+$148.16** (+34.9%) |" in comment  # 148.16 / 424.96
    assert "**Over budget:** the new estimate $573.12 is $73.12 above the $500.00 monthly budget." in comment
    assert "| changed | cluster | node-group/general | m5.large on-demand instance hours (desired_size x 730 h) | $140.16 | $280.32 | +$140.16 |" in comment


@pytest.mark.parametrize(
    ("amount", "text"),
    [(77.38, "+$77.38"), (-12, "-$12.00"), (0, "$0.00"), (1234.5, "+$1,234.50"), (-0.004, "$0.00")],
)
def test_signed_money(amount, text):
    assert signed_money(amount) == text


@pytest.mark.parametrize(
    "wrap",
    [
        lambda c: {"config": {"platform:environment": "staging"}, "steps": [], "outputs": {"cost": c}},  # offline plan
        lambda c: {"cost": c, "environment": "staging"},  # pulumi stack output --json
        lambda c: c,  # the cost object itself
    ],
)
def test_extract_cost_from_each_document(wrap):
    cost = estimate(stack_config("staging"))
    assert extract_cost(wrap(cost)) == cost


def test_extract_cost_rejects_other_documents():
    with pytest.raises(ValueError, match="no cost found"):
        extract_cost({"outputs": {"vpc_id": "vpc-1"}}, "head.json")


def _args(*action, stack=None, fmt="table"):
    return Namespace(action=list(action), stack=stack, format=fmt)


def test_diff_command_reads_files(tmp_path, capsys):
    base, head = tmp_path / "base.json", tmp_path / "head.json"
    base.write_text(json.dumps({"outputs": {"cost": estimate(stack_config("staging"))}, "config": {"platform:environment": "staging"}}))
    head.write_text(json.dumps({"cost": estimate(with_change("staging", "database", instance_class="db.m5.large"))}))
    assert run(_args("diff", str(base), str(head))) == 0
    out = capsys.readouterr().out
    assert out.startswith("### Cost change: staging\n")
    assert "**+$77.38**" in out


def test_diff_command_new_stack_and_bad_input(tmp_path, capsys):
    empty, head, bad = tmp_path / "empty.json", tmp_path / "head.json", tmp_path / "bad.json"
    empty.write_text("")
    head.write_text(json.dumps(estimate(stack_config("dev"))))
    bad.write_text('{"outputs": {}}')
    assert run(_args("diff", str(empty), str(head), stack="dev")) == 0
    out = capsys.readouterr().out
    assert "| Before | — (new stack) |" in out and "| Difference | **+$183.42** |" in out
    assert "| added | network | nat-gateway | NAT gateway hours (1 shared) | — | $32.85 | +$32.85 |" in out
    assert run(_args("diff", str(empty), str(bad))) == 2
    assert "no cost found" in capsys.readouterr().err
    assert run(_args("diff", str(head))) == 2
    assert run(_args()) == 2


# ---------------------------------------------------------------------------- one stack


@pytest.mark.parametrize("fmt", ["table", "json", "markdown"])
def test_cost_command_prints_the_plans_cost(monkeypatch, capsys, fmt):
    cost = estimate(stack_config("prod"))
    import infra.offline.plan as offline_plan

    monkeypatch.setattr(offline_plan, "build_plan", lambda stack: {"outputs": {"cost": cost}} if stack == "prod" else {})
    assert run(_args(stack="prod", fmt=fmt)) == 0
    out = capsys.readouterr().out
    if fmt == "json":
        assert json.loads(out) == cost
    else:
        assert "$1,283.99" in out and "prod" in out


def test_table_lists_every_line_with_subtotals():
    cost = estimate(stack_config("dev"))
    text = render_table(cost, "dev")
    lines = text.splitlines()
    assert lines[0] == "Monthly cost — dev (us-east-1, USD list prices as of 2026-01-19, 730 h/month)"
    assert lines[-2] == "Total: $183.42/month of a $200.00 budget (91.7%)"
    assert lines[-1] == "Node groups from min_size to max_size: $177.66 to $189.19/month; at max_size 94.6% of the budget."
    assert any(line.startswith("cluster ") and line.endswith("$89.53") for line in lines)
    assert any("1,460 instance-hour x $0.01664" in line and line.endswith("$24.29") for line in lines)
    assert any("-938.5714 instance-hour x $0.01664" in line and line.endswith("-$15.62") for line in lines)
    for item in cost["items"]:
        assert item["item"] in text


def test_markdown_has_one_row_per_line():
    cost = estimate(stack_config("prod"))
    text = render_markdown(cost, "prod")
    rows = [r for r in text.splitlines() if r.startswith("| ") and r.count("|") == 7 and not r.startswith("| Component |")]
    assert len(rows) == len(cost["items"])
    assert "| **Total** | **$1,283.99** |" in text
    assert "Budget: $1,800.00/month, 71.3% used by this estimate" in text  # 1283.99 / 1800


# ---------------------------------------------------------------------------- docs/cost.md


def _levers_module():
    spec = importlib.util.spec_from_file_location("cost_levers", ROOT / "scripts" / "cost_levers.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their annotations through it
    spec.loader.exec_module(module)
    return module


def test_levers_are_computed_by_the_model():
    levers = _levers_module()
    stack = levers.Stack("prod", MATRIX["prod"], {"region": "us-east-1"}, frozenset())
    savings = {s.lever.name: s.monthly for s in levers.levers_for(stack)}
    assert savings == {
        "Single NAT gateway": Decimal("73.00"),  # 2 NATs x (32.85 + 3.65 EIP)
        "Valkey instead of Redis OSS": Decimal("45.55"),  # 2 x 730 x 0.156 = 227.76 vs 2 x 730 x 0.1248 = 182.21
        "Graviton nodes": Decimal("41.61"),  # 3 x 730 x (0.096 - 0.077)
        "Graviton database": Decimal("41.61"),  # 730 x (2 + 1) x (0.178 - 0.159)
        "Graviton cache": Decimal("10.22"),  # 2 x 730 x (0.156 - 0.149)
    }


def test_docs_cost_md_is_current():
    levers = _levers_module()
    doc = ROOT / "docs" / "cost.md"
    assert doc.read_text(encoding="utf-8") == levers.render([levers.read_stack(s) for s in levers.STACKS]), "run `python scripts/cost_levers.py`"


# ---------------------------------------------------------------------------- the autoscaler's range

# Every node group at min_size and at max_size, the rest of the stack as priced: the worst
# case a cost review holds against the budget (staging and prod can outgrow theirs at max).
# Observability's lines do not move with the node count: each bound is the old one + 0.68 / 10.43 / 37.88 (prod + 1.02 for the data copy).
NODE_RANGE = {"dev": (177.66, 189.19), "staging": (424.96, 647.20), "prod": (1283.99, 1962.71)}


@pytest.mark.parametrize("stack", sorted(NODE_RANGE))
def test_node_range_prices_every_group_at_its_bounds(stack):
    cost = estimate(stack_config(stack))
    assert cost["node_range"] == dict(zip(("min", "max"), NODE_RANGE[stack]))
    assert cost["node_range"]["min"] <= cost["monthly_total"] <= cost["node_range"]["max"]


def test_the_range_is_the_node_lines_only():
    # prod at max: general 10 and spot 5 m5.large nodes instead of 3 and 0, volumes included.
    base, at_max = estimate(stack_config("prod")), estimate(with_change("prod", "cluster", node_groups=[
        {**g, "expected_size": g["max_size"]} for g in MATRIX["prod"]["cluster"]["node_groups"]
    ]))
    assert at_max["monthly_total"] == base["node_range"]["max"]
    on_demand, spot = Decimal("0.096") * 730, Decimal("0.096") * Decimal("0.4") * 730
    disks = Decimal(12 * 50) * Decimal("0.08")
    assert Decimal(str(at_max["monthly_total"])) - Decimal(str(base["monthly_total"])) == (7 * on_demand + 5 * spot + disks).quantize(Decimal("0.01"))


def test_expected_size_is_what_the_estimate_prices():
    cost = estimate(with_change("staging", "cluster", node_groups=[{**MATRIX["staging"]["cluster"]["node_groups"][0], "expected_size": 4}]))
    (nodes,) = [i for i in cost["items"] if i["resource"] == "node-group/general" and i["unit"] == "instance-hour"]
    assert nodes["quantity"] == 4 * 730 and "(expected_size x 730 h)" in nodes["item"]
    (unset,) = [i for i in estimate(stack_config("staging"))["items"] if i["resource"] == "node-group/general" and i["unit"] == "instance-hour"]
    assert unset["quantity"] == 2 * 730 and "(desired_size x 730 h)" in unset["item"]


@pytest.mark.parametrize(
    ("stack", "line"),
    [
        ("dev", "Node groups from min_size to max_size: $177.66 to $189.19/month; at max_size 94.6% of the budget."),
        ("prod", "Node groups from min_size to max_size: $1,283.99 to $1,962.71/month; at max_size 109.0% of the budget (over it)."),
    ],
)
def test_the_report_shows_the_range_against_the_budget(stack, line):
    cost = estimate(stack_config(stack))
    assert render_table(cost, stack).splitlines()[-1] == line
    assert f"{line}\n" in render_markdown(cost, stack)
