"""The observability stack's numbers and routes (infra/telemetry.py), without a plan.

Specified here, each as exact values:
- Prometheus's volume: retention x samples/s x 2 bytes, a quarter more, rounded up, 10 GB at
  least; its retentionSize 85 % of that, in whole GB; its memory from the active series;
- the long-term store's steady state (the downsampled copies a tenth more), the telemetry
  buckets a config creates and the days each keeps its objects;
- every observability pod's requests per config, the share of the always-on nodes they
  take (tainted and min_size 0 groups are not always-on), and the one line when they take
  more than half;
- Alertmanager's routes: `null` for Watchdog and InfoInhibitor always, PagerDuty before
  Slack, both `continue: true`, severities as one exact matcher, credentials read from the
  mounted Secret's files (the function never sees a secret);
- the platform's own rules, ThanosCompactHalted only with a long-term store.
"""

from __future__ import annotations

import copy
import inspect
import json
from typing import Any

import pytest

from infra import config, telemetry
from infra.config import AlertsConfig, MetricsConfig, ObservabilityConfig
from infra.telemetry import Workload
from tests.conftest import STACKS, stack_config


def stack_cfg(stack: str) -> config.StackConfig:
    raw = {k.split(":", 1)[1]: v for k, v in stack_config(stack).items() if k.startswith("platform:")}
    return config.parse(raw, stack=stack, aws={"region": "us-east-1"}, secret_keys=frozenset(config.SECRET_KEYS))


def with_groups(stack: str, *groups: dict[str, Any]) -> config.StackConfig:
    """The committed stack with its node groups replaced (not re-validated: the capacity
    check runs at config load, so a config it refuses can only be built around it)."""
    cfg = stack_cfg(stack)
    node_groups = [config.NodeGroupConfig(**{"desired_size": g["min_size"], "max_size": max(1, g["min_size"]), **g}) for g in groups]
    return cfg.model_copy(update={"cluster": cfg.cluster.model_copy(update={"node_groups": node_groups})})


def with_observability(cfg: config.StackConfig, **sections: Any) -> config.StackConfig:
    return cfg.model_copy(update={"observability": ObservabilityConfig(**sections)})


# ---------------------------------------------------------------------------- sizes


@pytest.mark.parametrize(
    ("retention_days", "samples_per_second", "volume_gb", "retention_size"),
    [
        (1, 100, 10, "8GB"),  # 0.02 GB raw: the 10 GB floor
        (7, 1_000, 10, "8GB"),  # 1.21 GB raw, 1.51 with headroom: still the floor
        (30, 5_000, 33, "28GB"),  # staging: 25.92 GB raw, 32.4 with headroom
        (90, 8_000, 156, "132GB"),  # prod: 124.416 GB raw, 155.52 with headroom
        (15, 20_000, 65, "55GB"),  # 51.84 GB raw, 64.8 with headroom
        (365, 1_000_000, 78_840, "67014GB"),  # the largest allowed: 63,072 GB raw, x 1.25 exactly
    ],
)
def test_prometheus_volume_and_retention_size(retention_days, samples_per_second, volume_gb, retention_size):
    metrics = MetricsConfig(retention_days=retention_days, samples_per_second=samples_per_second)
    assert telemetry.prometheus_volume_gb(metrics) == volume_gb
    assert telemetry.prometheus_retention_size(metrics) == retention_size


@pytest.mark.parametrize(
    ("retention_days", "long_term_days", "samples_per_second", "long_term_gb"),
    [
        (30, 0, 5_000, 0.0),  # no long-term store
        (30, 60, 5_000, 57.0),  # 51.84 GB raw, 57.024 with the downsampled copies
        (90, 395, 8_000, 600.7),  # prod: 546.048 GB raw, 600.6528 with the copies
        (365, 3653, 1_000_000, 694362.2),
    ],
)
def test_long_term_store_at_steady_state(retention_days, long_term_days, samples_per_second, long_term_gb):
    metrics = MetricsConfig(retention_days=retention_days, long_term_days=long_term_days, samples_per_second=samples_per_second)
    assert telemetry.long_term_gb(metrics) == long_term_gb


@pytest.mark.parametrize(
    ("samples_per_second", "memory_mib"),
    [
        (100, 768),  # 3,000 series: the 768 Mi floor
        (5_000, 879),  # 150,000 series x 6 KiB = 878.9 Mi
        (8_000, 1407),  # 240,000 series = 1,406.25 Mi
        (20_000, 3516),  # 600,000 series = 3,515.6 Mi
    ],
)
def test_prometheus_memory_follows_its_series(samples_per_second, memory_mib):
    metrics = MetricsConfig(samples_per_second=samples_per_second)
    assert telemetry.prometheus_memory_mib(metrics) == memory_mib
    assert telemetry.prometheus_workload(metrics) == Workload(250, memory_mib)


def test_a_workload_requests_cpu_and_memory_and_limits_memory_only():
    assert Workload(250, 879).requests() == {"cpu": "250m", "memory": "879Mi"}
    assert Workload(250, 879).limits() == {"memory": "1758Mi"}


@pytest.mark.parametrize(
    ("sections", "buckets"),
    [
        ({}, {"logs": 7, "traces": 3}),  # the defaults: no long-term metrics
        ({"metrics": {"retention_days": 90, "long_term_days": 395}, "logs": {"retention_days": 30}, "traces": {"retention_days": 7}}, {"metrics": 395, "logs": 30, "traces": 7}),
        ({"metrics": {"enabled": False, "long_term_days": 60}, "traces": {"enabled": False}}, {"logs": 7}),  # metrics off: no bucket for them
        ({"metrics": {"enabled": False}, "logs": {"enabled": False}, "traces": {"enabled": False}}, {}),
    ],
)
def test_the_buckets_a_config_creates_and_their_days(sections, buckets):
    assert telemetry.buckets(ObservabilityConfig(**sections)) == buckets


def test_bucket_names_carry_the_account_and_region():
    assert telemetry.bucket_name("platform-prod", "metrics", "123456789012", "us-east-1") == "platform-prod-metrics-123456789012-us-east-1"


# ---------------------------------------------------------------------------- requests

ALL_ON = ["prometheus", "alertmanager", "operator", "kube-state-metrics", "node-exporter", "loki", "alloy", "tempo", "grafana", "grafana-sidecar"]
THANOS = ["thanos-sidecar", "thanos-query", "thanos-store", "thanos-compact"]


@pytest.mark.parametrize(
    ("sections", "roles"),
    [
        ({}, ALL_ON),
        ({"metrics": {"long_term_days": 395}}, [*ALL_ON[:5], *THANOS, *ALL_ON[5:]]),
        ({"metrics": {"enabled": False}, "traces": {"enabled": False}}, ["loki", "alloy", "grafana", "grafana-sidecar"]),  # dev
        ({"logs": {"enabled": False}, "traces": {"enabled": False}}, [*ALL_ON[:5], "grafana", "grafana-sidecar"]),
        ({"metrics": {"enabled": False}, "logs": {"enabled": False}}, ["tempo", "grafana", "grafana-sidecar"]),
        ({"metrics": {"enabled": False}, "logs": {"enabled": False}, "traces": {"enabled": False}}, []),  # nothing observes: no Grafana either
    ],
)
def test_the_pods_each_config_runs(sections, roles):
    got = telemetry.workloads(ObservabilityConfig(**sections))
    assert list(got) == roles
    assert {role: w for role, w in got.items() if role != "prometheus"} == {role: telemetry.WORKLOADS[role] for role in roles if role != "prometheus"}


def test_the_requests_of_every_pod():
    assert {role: (w.cpu_m, w.memory_mib, w.per_node) for role, w in telemetry.WORKLOADS.items()} == {
        "alertmanager": (50, 64, False),
        "operator": (100, 128, False),
        "kube-state-metrics": (50, 128, False),
        "node-exporter": (50, 64, True),
        "thanos-sidecar": (50, 128, False),
        "thanos-query": (100, 256, False),
        "thanos-store": (100, 512, False),
        "thanos-compact": (100, 512, False),
        "loki": (200, 512, False),
        "alloy": (100, 192, True),
        "tempo": (200, 512, False),
        "grafana": (100, 256, False),
        "grafana-sidecar": (50, 64, False),
    }


@pytest.mark.parametrize(
    ("stack", "nodes", "requested", "share"),
    [
        # logs and Grafana on one t3.medium (2 vCPU, 4 GiB)
        ("dev", [("t3.medium", 1)], (450, 1024), (450 / 2000, 1024 / 4096)),
        # everything but Thanos on two m5.large (2 vCPU, 8 GiB each): node exporter and Alloy twice
        ("staging", [("m5.large", 2)], (1300, 3055), (1300 / 4000, 3055 / 16384)),
        # everything on three m5.large; the spot group (tainted, min_size 0) is not always on
        ("prod", [("m5.large", 3)], (1800, 5247), (1800 / 6000, 5247 / 24576)),
    ],
)
def test_the_committed_stacks_fit_their_always_on_nodes(stack, nodes, requested, share):
    cfg = stack_cfg(stack)
    assert telemetry.always_on_nodes(cfg) == nodes
    assert telemetry.requested(cfg.observability, sum(n for _, n in nodes)) == requested
    assert telemetry.node_share(cfg) == share
    assert telemetry.capacity_problem(cfg) is None


def test_per_node_pods_are_counted_once_a_node():
    obs = stack_cfg("staging").observability
    one, three = telemetry.requested(obs, 1), telemetry.requested(obs, 3)
    # node exporter (50m, 64Mi) and Alloy (100m, 192Mi) on each extra node
    assert (three[0] - one[0], three[1] - one[1]) == (2 * 150, 2 * 256)


@pytest.mark.parametrize(
    ("stack", "groups", "sections", "problem"),
    [
        (
            "staging",
            [{"name": "general", "instance_types": ["t3.small"], "min_size": 1}],
            None,
            "the observability pods request 1150m CPU and 2799Mi memory, 57% / 137% of the nodes at min_size (at most 50%); "
            "raise cluster.node_groups[].min_size or turn a backend off",
        ),
        (
            "staging",
            [{"name": "general", "instance_types": ["m5.large"], "min_size": 1}],
            None,
            "the observability pods request 1150m CPU and 2799Mi memory, 57% / 34% of the nodes at min_size (at most 50%); "
            "raise cluster.node_groups[].min_size or turn a backend off",
        ),
        # the same node without Tempo: 950m of 2000m, 47.5 %
        ("staging", [{"name": "general", "instance_types": ["m5.large"], "min_size": 1}], {"traces": {"enabled": False}, "alerts": {}}, None),
        # only a tainted group is always on: nothing to measure against
        ("staging", [{"name": "spot", "instance_types": ["t3.small"], "min_size": 1, "taints": [{"key": "workload", "value": "x", "effect": "NO_SCHEDULE"}]}], None, None),
        # every group scales from zero: nothing is always on
        ("staging", [{"name": "general", "instance_types": ["t3.small"], "min_size": 0}], None, None),
        # nothing observes: no pod to fit
        ("dev", [{"name": "general", "instance_types": ["t3.small"], "min_size": 1}], {"metrics": {"enabled": False}, "logs": {"enabled": False}, "traces": {"enabled": False}}, None),
    ],
    ids=["t3.small", "one-m5.large", "one-m5.large-no-tempo", "tainted-only", "min-size-0", "nothing-on"],
)
def test_capacity_problem(stack, groups, sections, problem):
    cfg = with_groups(stack, *groups)
    if sections is not None:
        cfg = with_observability(cfg, **sections)
    assert telemetry.capacity_problem(cfg) == problem


def test_every_catalogue_instance_type_has_a_known_capacity():
    assert sorted(telemetry.INSTANCE_CAPACITY) == sorted(__import__("infra.prices", fromlist=["known_skus"]).known_skus("ec2"))


# ---------------------------------------------------------------------------- Alertmanager

SLACK_FILE = "/etc/alertmanager/secrets/alertmanager-destinations/slack-webhook-url"
PAGERDUTY_FILE = "/etc/alertmanager/secrets/alertmanager-destinations/pagerduty-routing-key"
NULL_ROUTES = [
    {"receiver": "null", "matchers": ['alertname = "Watchdog"']},
    {"receiver": "null", "matchers": ['alertname = "InfoInhibitor"']},
]


def slack_receiver(environment: str, channel: str) -> dict[str, Any]:
    return {
        "name": "slack",
        "slack_configs": [
            {
                "api_url_file": SLACK_FILE,
                "channel": channel,
                "send_resolved": True,
                "title": f"[{environment}] {{{{ .Status | toUpper }}}} {{{{ .CommonLabels.alertname }}}}",
                "text": "{{ range .Alerts }}{{ .Annotations.summary }}\n{{ end }}",
            }
        ],
    }


def pagerduty_receiver(environment: str) -> dict[str, Any]:
    return {
        "name": "pagerduty",
        "pagerduty_configs": [
            {
                "routing_key_file": PAGERDUTY_FILE,
                "send_resolved": True,
                "severity": '{{ if eq .CommonLabels.severity "critical" }}critical{{ else }}warning{{ end }}',
                "description": f"[{environment}] {{{{ .CommonLabels.alertname }}}}: {{{{ .CommonAnnotations.summary }}}}",
            }
        ],
    }


def test_without_alerts_everything_goes_to_null():
    assert telemetry.alertmanager_config(AlertsConfig(), "dev") == {
        "global": {"resolve_timeout": "5m"},
        "route": {
            "receiver": "null",
            "group_by": ["alertname", "namespace"],
            "group_wait": "30s",
            "group_interval": "5m",
            "repeat_interval": "4h",
            "routes": NULL_ROUTES,
        },
        "inhibit_rules": [{"source_matchers": ['severity = "critical"'], "target_matchers": ['severity = "warning"'], "equal": ["alertname", "namespace"]}],
        "receivers": [{"name": "null"}],
    }


@pytest.mark.parametrize(
    ("alerts", "routes", "receivers"),
    [
        (
            {"enabled": True, "slack": {"channel": "#alerts-staging"}},
            [*NULL_ROUTES, {"receiver": "slack", "matchers": ['severity =~ "critical|warning"'], "continue": True}],
            [{"name": "null"}, slack_receiver("staging", "#alerts-staging")],
        ),
        (
            {"enabled": True, "slack": {"channel": "#alerts-staging", "severities": ["warning"]}},
            [*NULL_ROUTES, {"receiver": "slack", "matchers": ['severity = "warning"'], "continue": True}],
            [{"name": "null"}, slack_receiver("staging", "#alerts-staging")],
        ),
        (
            {"enabled": True, "slack": {"channel": "#alerts-prod"}, "pagerduty": {}},
            [
                *NULL_ROUTES,
                {"receiver": "pagerduty", "matchers": ['severity = "critical"'], "continue": True},
                {"receiver": "slack", "matchers": ['severity =~ "critical|warning"'], "continue": True},
            ],
            [{"name": "null"}, pagerduty_receiver("staging"), slack_receiver("staging", "#alerts-prod")],
        ),
        (
            # severities are a set, in one order, however they are written
            {"enabled": True, "pagerduty": {"severities": ["warning", "critical", "warning"]}},
            [*NULL_ROUTES, {"receiver": "pagerduty", "matchers": ['severity =~ "critical|warning"'], "continue": True}],
            [{"name": "null"}, pagerduty_receiver("staging")],
        ),
    ],
    ids=["slack", "slack-warnings-only", "pagerduty-and-slack", "pagerduty-both-severities"],
)
def test_routes_per_destination(alerts, routes, receivers):
    got = telemetry.alertmanager_config(AlertsConfig(**alerts), "staging")
    assert got["route"]["routes"] == routes
    assert got["receivers"] == receivers
    assert got["route"]["receiver"] == "null"


def test_alertmanager_config_takes_no_secret_and_names_only_files():
    """The webhook URL and the routing key reach Alertmanager as files of the mounted Secret;
    the config (a Helm value, in the release's manifest) never holds them."""
    assert list(inspect.signature(telemetry.alertmanager_config).parameters) == ["alerts", "environment"]
    got = telemetry.alertmanager_config(AlertsConfig(enabled=True, slack={"channel": "#alerts-prod"}, pagerduty={}), "prod")
    text = json.dumps(got)
    for key in ('"api_url"', '"routing_key"', '"service_key"', '"url"'):
        assert key not in text
    (pagerduty,) = got["receivers"][1]["pagerduty_configs"]
    (slack,) = got["receivers"][2]["slack_configs"]
    assert (pagerduty["routing_key_file"], slack["api_url_file"]) == (PAGERDUTY_FILE, SLACK_FILE)
    assert {d: telemetry.secret_file(d) for d in ("slack", "pagerduty")} == {"slack": SLACK_FILE, "pagerduty": PAGERDUTY_FILE}


def test_alertmanager_config_is_a_fresh_value_each_call():
    first = telemetry.alertmanager_config(AlertsConfig(), "dev")
    kept = copy.deepcopy(first)
    first["route"]["routes"].append({"receiver": "x"})
    assert telemetry.alertmanager_config(AlertsConfig(), "dev") == kept


# ---------------------------------------------------------------------------- rules


@pytest.mark.parametrize(
    ("sections", "rules"),
    [
        ({}, [("IngressHighErrorRate", "critical", "10m"), ("IngressHighErrorRate", "warning", "15m")]),
        (
            {"metrics": {"retention_days": 90, "long_term_days": 395}},
            [("IngressHighErrorRate", "critical", "10m"), ("IngressHighErrorRate", "warning", "15m"), ("ThanosCompactHalted", "warning", "30m")],
        ),
    ],
    ids=["no-long-term", "thanos"],
)
def test_platform_rules(sections, rules):
    got = telemetry.platform_rules(ObservabilityConfig(**sections))
    (group,) = got["platform"]["groups"]
    assert group["name"] == "platform.rules"
    assert [(r["alert"], r["labels"]["severity"], r["for"]) for r in group["rules"]] == rules
    ratio = 'sum(rate(traefik_service_requests_total{code=~"5.."}[5m])) / clamp_min(sum(rate(traefik_service_requests_total[5m])), 1)'
    assert [r["expr"] for r in group["rules"][:2]] == [f"{ratio} > 0.05", f"{ratio} > 0.01"]
    assert all(r["annotations"]["summary"] for r in group["rules"])
    if len(rules) == 3:
        assert group["rules"][2]["expr"] == "max(thanos_compact_halted) > 0"


@pytest.mark.parametrize("stack", STACKS)
def test_the_committed_stacks_sizes(stack):
    metrics = stack_cfg(stack).observability.metrics
    assert (telemetry.prometheus_volume_gb(metrics), telemetry.prometheus_retention_size(metrics), telemetry.long_term_gb(metrics)) == {
        "dev": (33, "28GB", 0.0),  # metrics off in dev: the defaults, never built
        "staging": (33, "28GB", 0.0),
        "prod": (156, "132GB", 600.7),
    }[stack]

