"""No traceback, ever: every `raise` the program can reach is a one-line config error first.

The program's bad-input contract is one line naming the config key, raised before any
resource is registered. Components and the cost model keep their own invariant checks (they
must hold whoever builds their args), so each such `raise` is listed here with how config
load reaches it first, or why no valid config can: a new `raise` fails this test until it
is classified. Config validation itself (infra/config.py, infra/cidr.py behind it) is the
one-line path and is exercised by test_config.py.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml

from infra import config
from infra.config import ConfigError

ROOT = Path(__file__).resolve().parents[1]
SCOPE = ("infra/components", "infra/cost", "infra/prices", "infra/runtime_config.py", "infra/versions.py")
VALIDATION = ("infra/config.py", "infra/cidr.py")


def raise_sites() -> dict[tuple[str, str], list[str]]:
    """(file, function qualname) -> the exception names it raises, in source order."""
    sites: dict[tuple[str, str], list[str]] = {}
    files = [f for s in SCOPE for f in (sorted((ROOT / s).rglob("*.py")) if (ROOT / s).is_dir() else [ROOT / s])]
    for path in files:
        rel = str(path.relative_to(ROOT))
        scope: list[str] = []

        class Visitor(ast.NodeVisitor):
            def visit_FunctionDef(self, node):  # noqa: N802
                scope.append(node.name)
                self.generic_visit(node)
                scope.pop()

            visit_AsyncFunctionDef = visit_FunctionDef
            visit_ClassDef = visit_FunctionDef

            def visit_Raise(self, node):  # noqa: N802
                exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
                name = exc.attr if isinstance(exc, ast.Attribute) else getattr(exc, "id", "reraise")
                sites.setdefault((rel, ".".join(scope)), []).append(name)

        Visitor().visit(ast.parse(path.read_text(encoding="utf-8")))
    return sites


def raw(stack: str) -> dict:
    with open(ROOT / f"Pulumi.{stack}.yaml", encoding="utf-8") as fh:
        return {k.removeprefix("platform:"): v for k, v in yaml.safe_load(fh)["config"].items() if k.startswith("platform:")}


def changed(stack: str, **sections) -> dict:
    out = raw(stack)
    for key, value in sections.items():
        out[key] = {**out[key], **value} if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


GROUP = {"name": "general", "instance_types": ["m5.large"], "min_size": 1, "desired_size": 1, "max_size": 2}

# How config load reaches each raise first: ("config", stack, raw config, region, key refused),
# or ("unreachable", why no valid config gets there), or ("one line", why it is already one).
CLASSIFIED = {
    ("infra/components/app.py", "App._external_keys"): [("config-secret", "load() requires stripe_secret_key and sendgrid_api_key unless external_services is mock (required_secrets)")],
    ("infra/components/grafana.py", "Grafana.__init__"): [("unreachable", "__main__ builds Grafana only under `if obs.grafana` (metrics, logs or traces on)")],
    ("infra/components/logs.py", "Logs.__init__"): [("unreachable", "__main__ builds Logs only under `if obs.logs.enabled`")],
    ("infra/components/monitoring.py", "Monitoring.__init__"): [
        ("unreachable", "__main__ builds Monitoring only under `if obs.grafana` (metrics, logs or traces on)"),
        ("config-secret", "load() requires slack_webhook_url / pagerduty_routing_key with their alert route (required_secrets)"),
    ],
    ("infra/components/traces.py", "Traces.__init__"): [("unreachable", "__main__ builds Traces only under `if obs.traces.enabled`")],
    ("infra/components/budget.py", "Budget.__init__"): [("unreachable", "environment is required and defaults to the stack name")],
    ("infra/components/cache.py", "Cache.__init__"): [
        ("config", "staging", changed("staging", cache={"num_nodes": 1, "automatic_failover": True, "multi_az": False}), "us-east-1", "platform:cache"),
        ("config", "staging", changed("staging", cache={"num_nodes": 2, "automatic_failover": False, "multi_az": True}), "us-east-1", "platform:cache"),
    ],
    ("infra/components/cluster.py", "Cluster.__init__"): [
        ("config", "staging", changed("staging", cluster={"node_groups": [{**GROUP, "instance_types": ["m5.large", "m7g.large"]}]}), "us-east-1", "platform:cluster.node_groups[0].instance_types"),
        ("config", "staging", changed("staging", cluster={"node_groups": [{**GROUP, "name": "general-purpose-workers"}]}), "us-east-1", "platform:cluster.node_groups[0].name"),
        ("unreachable", "__main__ passes session_key_alias and session_log_group_arn together, both derived by infra/components/audit.py in every stack"),
    ],
    ("infra/components/audit.py", "Audit.__init__"): [
        ("unreachable", "idle_session_timeout_minutes is not config: AuditArgs' default (20) is the only value the program passes"),
    ],
    ("infra/components/_shared.py", "final_snapshot_identifier"): [
        ("config", "staging", changed("staging", environment="qa--one"), "us-east-1", "platform:environment"),
    ],
    ("infra/components/database.py", "Database.__init__"): [
        ("config", "dev", changed("dev", database={"read_replicas": 1}), "us-east-1", "platform:database"),
        ("unreachable", "ENGINE_VERSION and PARAMETER_FAMILY are module constants, not config: tests/test_lifecycle.py holds them together"),
    ],
    ("infra/components/edge.py", "chart_crds"): [
        ("unreachable", "the chart versions are module constants, not config, and their crds/ are vendored: tests/test_crds.py loads them"),
        ("unreachable", "the vendored crds/ files are upstream's CRDs, byte for byte: tests/test_crds.py checks every document's kind"),
    ],
    ("infra/components/edge.py", "Edge.__init__"): [
        ("config", "staging", changed("staging", environment="a-very-long-environment-name"), "us-east-1", "platform:environment"),
        ("unreachable", "traefik_replicas is not config: EdgeArgs' default (2) is the only value the program passes"),
    ],
    ("infra/components/keys.py", "Keys.__init__"): [("unreachable", "deletion_window_days is not config: KeysArgs' default (30) is the only value passed")],
    ("infra/components/network.py", "Network._first_azs"): [
        ("config", "prod", changed("prod", network={"az_count": 4}), "eu-west-1", "platform:network.az_count"),
    ],
    ("infra/components/offhours.py", "OffHours.__init__"): [
        ("unreachable", "__main__ builds OffHours only when the database stops or a node group sleeps"),
        ("config", "dev", changed("dev", cluster={"node_groups": [{**GROUP, "min_size": 3, "desired_size": 2, "max_size": 2, "scale_to_zero_off_hours": True}]}), "us-east-1", "platform:cluster.node_groups[0]"),
        ("config", "dev", changed("dev", cluster={"node_groups": [GROUP, GROUP]}), "us-east-1", "platform:cluster.node_groups"),
    ],
    ("infra/components/scaling.py", "Scaling.__init__"): [
        ("config", "staging", changed("staging", cluster={"node_groups": []}), "us-east-1", "platform:cluster.node_groups"),
        ("unreachable", "metrics_replicas is not config: ScalingArgs' default (2) is the only value the program passes"),
        ("config", "staging", changed("staging", cluster={"node_groups": [{**GROUP, "labels": {"team.a": "x", "team-a": "y"}}]}), "us-east-1", "platform:cluster.node_groups[0]"),
    ],
    ("infra/versions.py", "addon_versions"): [
        ("unreachable", "KUBERNETES_VERSION is a module constant, not config: tests/test_addons.py holds every pinned version's row complete"),
        ("unreachable", "KUBERNETES_VERSION is a module constant, not config: tests/test_addons.py holds every pinned version's row complete"),
    ],
    ("infra/components/alerting.py", "Alerting.__init__"): [
        ("unreachable", "__main__ builds Alerting only when observability.alerts.enabled"),
        ("config-secret", "load() requires slack_webhook_url with the slack route (required_secrets); the offline plan substitutes a placeholder"),
        ("config-secret", "load() requires pagerduty_routing_key with the pagerduty route (required_secrets); the offline plan substitutes a placeholder"),
        ("unreachable", "__main__ passes Database.replica_identifiers, one per database.read_replicas"),
    ],
    ("infra/components/uptime.py", "Uptime.__init__"): [
        ("unreachable", "__main__ builds Uptime only when observability.uptime.enabled (which config allows only with alerts)"),
        ("unreachable", "__main__ passes aws_provider(cfg, region='us-east-1') exactly when the stack's region is not us-east-1"),
        ("unreachable", "__main__ passes no us-east-1 provider when the stack's region is us-east-1"),
    ],
    ("infra/components/data_copy.py", "DataCopySource.__init__"): [
        ("unreachable", "__main__ builds DataCopySource only when data_copy.role is source, and config (DataCopyConfig) requires target_account_id with role source"),
    ],
    ("infra/components/data_copy.py", "DataCopyTarget.__init__"): [
        ("unreachable", "__main__ builds DataCopyTarget only when data_copy.role is target, and config (DataCopyConfig) requires source_account_id and source_bucket with role target"),
    ],
    ("infra/components/providers.py", "check_dns_zone"): [("one line", "a ConfigError naming platform:dns.zone_id, raised before any cloud resource (tests/test_dns_zone.py)")],
    ("infra/cost/model.py", "estimate"): [("unreachable", "only a caller passing another region's catalogue (tests, cost levers); the program passes none")],
    ("infra/prices/__init__.py", "load"): [
        ("unreachable", "the model asks for_region(), which loads only regions that have a file"),
        ("unreachable", "every committed catalogue names its own region (tests/test_regions.py)"),
    ],
}


def test_every_raise_outside_config_validation_is_classified():
    sites = raise_sites()
    unclassified = {site: names for site, names in sites.items() if site not in CLASSIFIED or len(CLASSIFIED[site]) != len(names)}
    assert not unclassified, f"classify these raises in tests/test_no_traceback.py (how config load reaches each first): {unclassified}"
    assert set(CLASSIFIED) <= set(sites), f"no longer raising: {sorted(set(CLASSIFIED) - set(sites))}"


CONFIG_CASES = [(site, case) for site, cases in CLASSIFIED.items() for case in cases if case[0] == "config"]


@pytest.mark.parametrize(("site", "case"), CONFIG_CASES, ids=[f"{s[0].rsplit('/', 1)[-1]}-{i}" for i, (s, _) in enumerate(CONFIG_CASES)])
def test_config_load_refuses_first_with_one_line(site, case):
    _, stack, raw_config, region, key = case
    with pytest.raises(ConfigError) as err:
        config.parse(raw_config, stack=stack, aws={"region": region})
    assert err.value.key.startswith(key)
    assert "\n" not in str(err.value)
