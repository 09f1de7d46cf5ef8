"""The human plan's "Key sizing" reads the validated config: defaults are the program's own."""

from __future__ import annotations

from infra.offline.plan import render
from tests.conftest import plan


def sizing(p, stack: str) -> list[str]:
    lines = render(p.data, stack).splitlines()
    start = lines.index("Key sizing") + 1
    return [line.strip() for line in lines[start : lines.index("", start)]]


def test_committed_staging_sizing():
    assert sizing(plan("staging"), "staging") == [
        "network   10.20.0.0/16 across 2 AZs, NAT: single",
        "nodes     general: m5.large ON_DEMAND desired 2 (min 2, max 5)",
        "scaling   Cluster Autoscaler (least waste): scale down after 10m unneeded, 10m after a scale-up, below 50% use; platform pods spread over AZs: required",
        "database  db.t3.medium, 100 GB gp3, single-AZ, backups 7 d, 0 read replica(s)",
        "cache     cache.t3.small x 2, failover on, single-AZ",
        # 30 d x 86,400 s x 5,000 samples/s x 2 bytes = 25.92 GB, +25% = 32.4 -> 33 GB
        "observe   metrics 30 d on 33 GB gp3; logs 7 d (Loki, S3); traces 3 d (Tempo, S3); Grafana inside the cluster",
        "alerts    Slack #alerts-staging (critical, warning), from Alertmanager and CloudWatch alarms; uptime check https://api-staging.example.com/health",
        "data      anonymized copy: restore of the newest dump in s3://platform-prod-data-copy-123456789012-us-east-1 '0 7 * * 6' Europe/Madrid (CronJob data-restore), verified, then swapped",
        "budget    $500.00/month",
    ]


def test_fields_a_stack_file_leaves_out_show_the_models_defaults():
    # No az_count, nat_gateways or backup_retention_days in the file: 3 AZs, one NAT per AZ, 7 days.
    p = plan(
        "staging",
        **{
            "platform:network": {"cidr": "10.20.0.0/16"},
            "platform:database": {"instance_class": "db.t3.medium", "allocated_storage_gb": 100, "multi_az": False},
        },
    )
    lines = sizing(p, "staging")
    assert lines[0] == "network   10.20.0.0/16 across 3 AZs, NAT: one per AZ"
    assert lines[3] == "database  db.t3.medium, 100 GB gp3, single-AZ, backups 7 d, 0 read replica(s)"


def test_prod_sizing_shows_the_autoscaler_and_what_the_estimate_prices():
    p = plan("prod", **{"platform:cluster": {**plan("prod").config["platform:cluster"], "node_groups": [
        {**g, "expected_size": g["max_size"]} if g["name"] == "spot" else g for g in plan("prod").config["platform:cluster"]["node_groups"]
    ]}})
    lines = sizing(p, "prod")
    assert lines[1:4] == [
        "nodes     general: m5.large ON_DEMAND desired 3 (min 3, max 10)",
        "nodes     spot: m5.large SPOT desired 0 (min 0, max 5), priced at 5",
        "scaling   Cluster Autoscaler (SPOT groups first, then least waste): scale down after 15m unneeded, 15m after a scale-up, below 50% use; platform pods spread over AZs: required",
    ]
    # 90 d x 86,400 x 8,000 x 2 bytes = 124.416 GB, +25% = 155.52 -> 156 GB; PagerDuty first, then Slack.
    assert lines[-4:-1] == [
        "observe   metrics 90 d on 156 GB gp3 + 395 d in S3 (Thanos); logs 30 d (Loki, S3); traces 7 d (Tempo, S3); Grafana inside the cluster",
        "alerts    PagerDuty (critical) + Slack #alerts-prod (critical, warning), from Alertmanager and CloudWatch alarms; uptime check https://api.example.com/health",
        "data      anonymized copy: dump of the read replica '0 2 * * 6' Europe/Madrid (CronJob data-copy), dumps kept 3 d, read by 210987654321's platform-staging-data-restore",
    ]


def test_dev_sizing_observes_logs_only_and_alerts_no_one():
    assert sizing(plan("dev"), "dev")[-3:-1] == [
        "observe   metrics off; logs 3 d (Loki, S3); traces off; Grafana inside the cluster",
        "alerts    none (observability.alerts.enabled is false)",
    ]
