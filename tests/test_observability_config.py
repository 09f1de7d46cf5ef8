"""`platform:observability`: each kind of bad input is its one exact line, at config load.

Specified here:
- the sections' own rules: alerts need a destination and a destination needs alerts on; the
  long-term store outlasts Prometheus's own days; ranges, channel names and severities;
- the rules across sections: alerts need metrics (Alertmanager is Prometheus's), uptime
  needs alerts (a failing check must reach someone);
- the production floor's observability rows, each alone;
- the capacity check: observability that does not fit the nodes always running;
- unknown keys, with the allowed ones named;
- the secrets: each route's credential is required, stored as a secret, and its absence
  stops the real program with the command to run, before any resource;
- the CLI: a bad observability section is one `error:` line, no traceback.
"""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra import config
from infra.cli import main
from infra.config import ConfigError
from infra.offline.harness import read_stack_file, run_program
from tests.conftest import STACKS, stack_config

ROOT = Path(__file__).resolve().parents[1]


def raw_of(stack: str) -> dict[str, Any]:
    return {k.split(":", 1)[1]: v for k, v in stack_config(stack).items() if k.startswith("platform:")}


def parse(raw: dict[str, Any], stack: str, secret_keys: frozenset[str] = frozenset(config.SECRET_KEYS)) -> config.StackConfig:
    return config.parse(raw, stack=stack, aws={"region": "us-east-1"}, secret_keys=secret_keys)


def with_changes(stack: str, changes: dict[str, Any]) -> dict[str, Any]:
    """The committed config of `stack` with each dotted path set (removed when the value is ...)."""
    raw = copy.deepcopy(raw_of(stack))
    for path, value in changes.items():
        *parents, leaf = path.split(".")
        node = raw
        for part in parents:
            node = node[int(part)] if part.isdigit() else node.setdefault(part, {})
        if value is ...:
            del node[leaf]
        else:
            node[int(leaf) if leaf.isdigit() else leaf] = value
    return raw


def refused(stack: str, changes: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as err:
        parse(with_changes(stack, changes), stack)
    assert "\n" not in str(err.value)
    return str(err.value)


@pytest.mark.parametrize("stack", STACKS)
def test_the_committed_observability_sections_are_valid(stack):
    obs = parse(raw_of(stack), stack).observability
    assert (obs.metrics.enabled, obs.metrics.retention_days, obs.metrics.long_term_days, obs.metrics.samples_per_second) == {
        "dev": (False, 30, 0, 5000),
        "staging": (True, 30, 0, 5000),
        "prod": (True, 90, 395, 8000),
    }[stack]
    assert (obs.logs.enabled, obs.logs.retention_days, obs.traces.enabled, obs.traces.retention_days) == {
        "dev": (True, 3, False, 3),
        "staging": (True, 7, True, 3),
        "prod": (True, 30, True, 7),
    }[stack]
    assert (obs.alerts.enabled, obs.alerts.destinations, obs.uptime.enabled, obs.sentry_environment) == {
        "dev": (False, [], False, None),
        "staging": (True, ["slack"], True, "staging"),
        "prod": (True, ["slack", "pagerduty"], True, "production"),
    }[stack]


OBS = "platform:observability"
ALLOWED_METRICS = "enabled, long_term_days, retention_days, samples_per_second"


@pytest.mark.parametrize(
    ("stack", "changes", "message"),
    [
        # alert destinations
        ("staging", {"observability.alerts": {"enabled": True}}, f"{OBS}.alerts: enabled without a destination: set slack, pagerduty or both (alerting never points at nothing)"),
        (
            "staging",
            {"observability.alerts.enabled": False},
            f"{OBS}.alerts: slack or pagerduty is set but enabled is false; set enabled: true or remove the destination",
        ),
        ("dev", {"observability.alerts": {"pagerduty": {}}}, f"{OBS}.alerts: slack or pagerduty is set but enabled is false; set enabled: true or remove the destination"),
        ("staging", {"observability.alerts.slack.channel": "alerts-staging"}, f"{OBS}.alerts.slack.channel: 'alerts-staging' does not match ^#[a-z0-9][a-z0-9._-]{{0,79}}$"),
        ("staging", {"observability.alerts.slack": {}}, f"{OBS}.alerts.slack.channel: required, not set"),
        ("prod", {"observability.alerts.pagerduty.severities": ["info"]}, f"{OBS}.alerts.pagerduty.severities[0]: got 'info'; allowed: 'critical' or 'warning'"),
        ("prod", {"observability.alerts.pagerduty.severities": []}, f"{OBS}.alerts.pagerduty.severities: must have at least 1 item(s)"),
        # metrics
        ("staging", {"observability.metrics.long_term_days": 30}, f"{OBS}.metrics: long_term_days (30) must be longer than retention_days (30), or 0 for no long-term store"),
        ("prod", {"observability.metrics.long_term_days": 60}, f"{OBS}.metrics: long_term_days (60) must be longer than retention_days (90), or 0 for no long-term store"),
        ("staging", {"observability.metrics.retention_days": 0}, f"{OBS}.metrics.retention_days: must be >= 1, got 0"),
        ("staging", {"observability.metrics.retention_days": 366}, f"{OBS}.metrics.retention_days: must be <= 365, got 366"),
        ("staging", {"observability.metrics.samples_per_second": 50}, f"{OBS}.metrics.samples_per_second: must be >= 100, got 50"),
        ("staging", {"observability.metrics.retention_days": "30d"}, f"{OBS}.metrics.retention_days: expected a whole number, got '30d'"),
        # logs and traces
        ("staging", {"observability.logs.retention_days": 0}, f"{OBS}.logs.retention_days: must be >= 1, got 0"),
        ("staging", {"observability.logs.enabled": "yes please"}, f"{OBS}.logs.enabled: expected true or false, got 'yes please'"),
        ("staging", {"observability.traces.retention_days": 91}, f"{OBS}.traces.retention_days: must be <= 90, got 91"),
        # across the sections
        ("staging", {"observability.alerts": {"enabled": False}}, f"{OBS}: uptime.enabled needs alerts.enabled: a failing uptime check must reach someone"),
        ("dev", {"observability.uptime": {"enabled": True}}, f"{OBS}: uptime.enabled needs alerts.enabled: a failing uptime check must reach someone"),
        (
            "staging",
            {"observability.metrics.enabled": False},
            f"{OBS}: alerts.enabled needs metrics.enabled: the baseline alert rules run in Prometheus and route through its Alertmanager",
        ),
        ("staging", {"observability.uptime.path": "health"}, f"{OBS}.uptime.path: 'health' does not match ^/[A-Za-z0-9._~/-]*$"),
        ("staging", {"observability.uptime.request_interval_seconds": 60}, f"{OBS}.uptime.request_interval_seconds: got 60; allowed: 10 or 30"),
        ("staging", {"observability.sentry_environment": "Staging"}, f"{OBS}.sentry_environment: 'Staging' does not match ^[a-z][a-z0-9_-]{{0,63}}$"),
        # unknown keys name the allowed ones
        ("staging", {"observability.metrics.retention": "30d"}, f"{OBS}.metrics.retention: unknown key; allowed: {ALLOWED_METRICS}"),
        ("staging", {"observability.grafana": True}, f"{OBS}.grafana: unknown key; allowed: alerts, logs, metrics, sentry_environment, traces, uptime"),
        ("staging", {"observability.alerts.slack.webhook_url": "https://hooks.slack.com/services/T0/B0/x"}, f"{OBS}.alerts.slack.webhook_url: unknown key; allowed: channel, severities"),
        ("prod", {"observability.alerts.pagerduty.routing_key": "R0"}, f"{OBS}.alerts.pagerduty.routing_key: unknown key; allowed: severities"),
        ("staging", {"observability.logs.retention_period": "168h"}, f"{OBS}.logs.retention_period: unknown key; allowed: enabled, retention_days, volume_gb"),
    ],
    ids=lambda v: ",".join(f"{k}={v[k]!r}" for k in v) if isinstance(v, dict) else None,
)
def test_bad_observability_input_is_one_line(stack, changes, message):
    assert refused(stack, changes) == message


# Every observability row of the production safety floor, each alone (the rest of prod stays valid).
@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            # metrics off takes alerts (they route through Alertmanager) and so uptime with it
            {"observability.metrics": {"enabled": False}, "observability.alerts": {"enabled": False}, "observability.uptime": {"enabled": False}},
            f"{OBS}.metrics.enabled: must be true in a production tier",
        ),
        ({"observability.metrics.long_term_days": 0}, f"{OBS}.metrics.long_term_days: must be above 0 in a production tier (long-term metrics in S3)"),
        ({"observability.logs.enabled": False}, f"{OBS}.logs.enabled: must be true in a production tier"),
        ({"observability.traces.enabled": False}, f"{OBS}.traces.enabled: must be true in a production tier"),
        ({"observability.alerts.pagerduty": ...}, f"{OBS}.alerts.pagerduty: is required in a production tier (someone is paged 24/7)"),
        ({"observability.uptime.enabled": False}, f"{OBS}.uptime.enabled: must be true in a production tier"),
    ],
    ids=["metrics", "long-term", "logs", "traces", "pagerduty", "uptime"],
)
def test_production_floor(changes, message):
    assert refused("prod", changes) == message


def test_staging_may_run_without_long_term_metrics_pagerduty_or_traces():
    obs = parse(with_changes("staging", {"observability.traces.enabled": False}), "staging").observability
    assert (obs.metrics.long_term_days, obs.alerts.pagerduty, obs.traces.enabled) == (0, None, False)


# ---------------------------------------------------------------------------- capacity


@pytest.mark.parametrize(
    ("stack", "changes", "message"),
    [
        (
            "staging",
            {"cluster.node_groups.0.instance_types": ["t3.small"], "cluster.node_groups.0.min_size": 1, "cluster.node_groups.0.desired_size": 1},
            f"{OBS}: the observability pods request 1150m CPU and 2799Mi memory, 57% / 137% of the nodes at min_size (at most 50%); "
            "raise cluster.node_groups[].min_size or turn a backend off",
        ),
        (
            "staging",
            {"cluster.node_groups.0.min_size": 1, "cluster.node_groups.0.desired_size": 1},
            f"{OBS}: the observability pods request 1150m CPU and 2799Mi memory, 57% / 34% of the nodes at min_size (at most 50%); "
            "raise cluster.node_groups[].min_size or turn a backend off",
        ),
        (
            # prod's always-on group at one node: Thanos too; the spot group (min_size 0) does not count
            "prod",
            {"cluster.node_groups.0.min_size": 1, "cluster.node_groups.0.desired_size": 1},
            f"{OBS}: the observability pods request 1500m CPU and 4735Mi memory, 75% / 58% of the nodes at min_size (at most 50%); "
            "raise cluster.node_groups[].min_size or turn a backend off",
        ),
    ],
    ids=["staging-t3.small", "staging-one-node", "prod-one-node"],
)
def test_observability_that_does_not_fit_the_always_on_nodes_is_refused(stack, changes, message):
    assert refused(stack, changes) == message


def test_turning_a_backend_off_makes_it_fit():
    one_node = {"cluster.node_groups.0.min_size": 1, "cluster.node_groups.0.desired_size": 1}
    cfg = parse(with_changes("staging", {**one_node, "observability.traces.enabled": False}), "staging")
    assert [(g.min_size, g.instance_types) for g in cfg.cluster.node_groups] == [(1, ["m5.large"])]


# ---------------------------------------------------------------------------- secrets


@pytest.mark.parametrize(
    ("stack", "needed"),
    [
        ("dev", ("cloudflare_api_token",)),
        ("staging", ("cloudflare_api_token", "stripe_secret_key", "sendgrid_api_key", "slack_webhook_url")),
        ("prod", ("cloudflare_api_token", "stripe_secret_key", "sendgrid_api_key", "slack_webhook_url", "pagerduty_routing_key")),
    ],
)
def test_each_alert_route_requires_its_credential(stack, needed):
    assert config.required_secrets(parse(raw_of(stack), stack)) == needed


@pytest.mark.parametrize("key", ["slack_webhook_url", "pagerduty_routing_key", "sentry_dsn"])
def test_an_observability_secret_in_plain_text_is_refused(key):
    raw = {**raw_of("prod"), key: "https://hooks.slack.com/services/T0/B0/plaintext"}
    with pytest.raises(ConfigError) as err:
        parse(raw, "prod", secret_keys=frozenset(config.SECRET_KEYS) - {key})
    assert str(err.value) == f"platform:{key}: stored in plain text; remove it and run `pulumi config set --secret platform:{key} <value> --stack prod`"
    assert "plaintext" not in str(err.value)


@pytest.mark.parametrize(("stack", "key"), [("staging", "slack_webhook_url"), ("prod", "slack_webhook_url"), ("prod", "pagerduty_routing_key")])
def test_a_missing_route_credential_stops_the_program_before_any_resource(stack, key):
    """Under the engine nothing substitutes secrets: the program names the command to run."""
    stack_file = read_stack_file(stack)
    full = f"platform:{key}"
    del stack_file.config[full]
    del stack_file.values[full]
    stack_file.secret_keys.remove(full)
    with pytest.raises(ConfigError) as err:
        run_program(stack, stack_file=stack_file)
    assert str(err.value) == f"{full}: required secret is not set; run `pulumi config set --secret {full} <value> --stack {stack}`"
    assert err.value.registered == []


def test_dev_needs_no_route_credential():
    stack_file = read_stack_file("dev")
    for key in ("platform:slack_webhook_url", "platform:pagerduty_routing_key"):
        del stack_file.config[key]
        del stack_file.values[key]
        stack_file.secret_keys.remove(key)
    assert run_program("dev", stack_file=stack_file).registrations


# ---------------------------------------------------------------------------- the CLI

ALERTS_NOWHERE = "platform:observability.alerts: enabled without a destination: set slack, pagerduty or both (alerting never points at nothing)"


def _project_with_alerts_nowhere(tmp_path: Path) -> Path:
    stack_file = yaml.safe_load((ROOT / "Pulumi.staging.yaml").read_text())
    stack_file["config"]["platform:observability"]["alerts"] = {"enabled": True}
    (tmp_path / "__main__.py").write_text((ROOT / "__main__.py").read_text())
    (tmp_path / "Pulumi.staging.yaml").write_text(yaml.safe_dump(stack_file))
    return tmp_path


def test_plan_with_a_bad_observability_section_is_one_line(tmp_path, capsys):
    code = main(["plan", "--stack", "staging", "--dir", str(_project_with_alerts_nowhere(tmp_path))])
    out, err = capsys.readouterr()
    assert (code, out) == (2, "")
    assert err.splitlines() == [f"error: {ALERTS_NOWHERE}"]


def test_python_m_infra_plan_prints_no_traceback(tmp_path):
    """`python -m infra plan --stack staging` in a fresh interpreter, as a user's shell runs it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PULUMI_")}
    result = subprocess.run(
        [sys.executable, "-m", "infra", "plan", "--stack", "staging", "--dir", str(_project_with_alerts_nowhere(tmp_path))],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=180,
    )
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.splitlines() == [f"error: {ALERTS_NOWHERE}"]
    assert "Traceback" not in result.stderr
