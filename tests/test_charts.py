"""Helm release values against the vendored charts (infra/review/charts.py, `infra check`)."""

from __future__ import annotations

import copy
import io
import json
from argparse import Namespace
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.review import charts, check
from tests.conftest import plan

RELEASE = "kubernetes:helm.sh/v3:Release"
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
TRAEFIK = "platform-dev-traefik"
LBC = "platform-dev-aws-load-balancer-controller"
CHARTS = Path(charts.__file__).resolve().parent.parent / "charts"


def doctored() -> dict[str, Any]:
    return copy.deepcopy(plan("dev").data)


def release(data: dict[str, Any], name: str) -> dict[str, Any]:
    (state,) = [s["newState"] for s in data["steps"] if s["newState"]["type"] == RELEASE and s["newState"]["urn"].endswith(f"::{name}")]
    return state["inputs"]


def values(data: dict[str, Any], name: str) -> dict[str, Any]:
    return release(data, name)["values"]


# ---------------------------------------------------------------------------- the committed stacks


# The observability releases per stack (tests/test_observability.py): dev runs no metrics or traces.
OBSERVABILITY_RELEASES = {
    "dev": ("loki", "alloy", "grafana"),
    "staging": ("kube-prometheus-stack", "loki", "alloy", "tempo", "grafana"),
    "prod": ("kube-prometheus-stack", "loki", "alloy", "tempo", "grafana"),
}


def test_every_release_of_every_stack_validates(stack):
    data = plan(stack).data
    names = sorted(s["newState"]["urn"].rsplit("::", 1)[1] for s in data["steps"] if s["newState"]["type"] == RELEASE)
    assert names == sorted(f"platform-{stack}-{r}" for r in ("aws-load-balancer-controller", "traefik", "cluster-autoscaler", "metrics-server", *OBSERVABILITY_RELEASES[stack]))
    assert charts.check_release_values(data) == []


def test_the_chart_defaults_alone_validate_against_their_schema():
    for directory in sorted(CHARTS.glob("*/*/")):
        chart = charts.vendored_chart(directory.parent.name, directory.name)
        assert chart is not None, directory
        meta = yaml.safe_load((directory / "Chart.yaml").read_text(encoding="utf-8"))
        assert (meta["name"], meta["version"]) == (chart.chart, chart.version)
        if chart.schema is not None:
            assert list(charts._schema_findings(chart, {})) == []


# ---------------------------------------------------------------------------- doctored plans


def _old_logs(data):
    values(data, TRAEFIK)["logs"] = {"access": {"enabled": True}}


def _old_web_redirections(data):
    values(data, TRAEFIK)["ports"]["web"]["redirections"] = {"entryPoint": {"to": "websecure", "scheme": "https", "permanent": True}}


def _old_websecure_tls(data):
    values(data, TRAEFIK)["ports"]["websecure"]["tls"] = {"enabled": False}


def _traefik_wrong_type(data):
    values(data, TRAEFIK)["deployment"]["replicas"] = "two"


def _lbc_unknown_key(data):
    values(data, LBC)["enableServiceMutatorWebhok"] = False


def _lbc_unknown_nested_key(data):
    values(data, LBC)["serviceAccount"]["automount"] = True


def _traefik_not_vendored(data):
    release(data, TRAEFIK)["version"] = "41.3.0"


def _lbc_unpinned(data):
    del release(data, LBC)["version"]


FAILING = [
    (
        "traefik-logs",
        _old_logs,
        "platform-dev-traefik: values.logs: not allowed by traefik 41.2.0 values.schema.json "
        "(additionalProperties: false at values); did you mean `values.log`?",
    ),
    (
        "traefik-web-redirections",
        _old_web_redirections,
        "platform-dev-traefik: values.ports.web.redirections: not allowed by traefik 41.2.0 values.schema.json "
        "(additionalProperties: false at values.ports.web); it belongs under `values.ports.web.http.redirections`",
    ),
    (
        "traefik-websecure-tls",
        _old_websecure_tls,
        "platform-dev-traefik: values.ports.websecure.tls: not allowed by traefik 41.2.0 values.schema.json "
        "(additionalProperties: false at values.ports.websecure); it belongs under `values.ports.websecure.http.tls`",
    ),
    (
        "traefik-wrong-type",
        _traefik_wrong_type,
        "platform-dev-traefik: values.deployment.replicas: traefik 41.2.0 values.schema.json: 'two' is not of type 'integer', 'null'",
    ),
    (
        "lbc-unknown-key",
        _lbc_unknown_key,
        "platform-dev-aws-load-balancer-controller: values.enableServiceMutatorWebhok: no such key in "
        "aws-load-balancer-controller 3.5.0 values.yaml (the chart has no values.schema.json); "
        "did you mean `values.enableServiceMutatorWebhook`?",
    ),
    (
        "lbc-unknown-nested-key",
        _lbc_unknown_nested_key,
        "platform-dev-aws-load-balancer-controller: values.serviceAccount.automount: no such key in "
        "aws-load-balancer-controller 3.5.0 values.yaml (the chart has no values.schema.json)",
    ),
    (
        "traefik-not-vendored",
        _traefik_not_vendored,
        "platform-dev-traefik: chart traefik version 41.3.0 is not vendored under infra/charts",
    ),
    (
        "lbc-unpinned",
        _lbc_unpinned,
        "platform-dev-aws-load-balancer-controller: chart aws-load-balancer-controller version <unset> is not vendored under infra/charts",
    ),
]


@pytest.mark.parametrize(("mutate", "line"), [c[1:] for c in FAILING], ids=[c[0] for c in FAILING])
def test_doctored_values_give_exactly_their_line(mutate, line):
    data = doctored()
    mutate(data)
    assert charts.check_release_values(data) == [line]


def test_the_pre_41_traefik_values_give_one_line_per_misplaced_key():
    data = doctored()
    traefik = values(data, TRAEFIK)
    del traefik["accessLog"]
    traefik["logs"] = {"access": {"enabled": True}}
    traefik["ports"] = {
        "web": {"redirections": {"entryPoint": {"to": "websecure", "scheme": "https", "permanent": True}}},
        "websecure": {"tls": {"enabled": False}, "middlewares": ["traefik-https-proto@kubernetescrd"]},
    }
    assert [line.split(": ")[1] for line in charts.check_release_values(data)] == [
        "values.logs",
        "values.ports.web.redirections",
        "values.ports.websecure.middlewares",
        "values.ports.websecure.tls",
    ]


# ---------------------------------------------------------------------------- what must not fail


def test_unknown_and_secret_values_are_not_findings():
    """A real preview: outputs not known yet, secrets masked, where the schema wants a type."""
    data = doctored()
    traefik = values(data, TRAEFIK)
    traefik["deployment"]["replicas"] = UNKNOWN  # integer
    traefik["podDisruptionBudget"]["minAvailable"] = "[secret]"  # integer or string
    traefik["global"]["checkNewVersion"] = "1c4a061d-8072-4f0a-a4cb-0ff528b18fe7"  # boolean sentinel
    traefik["resources"] = "dd056dcd-154b-4c76-9bd3-c8f88648b5ff"  # a whole object unknown
    traefik["log"] = {"level": UNKNOWN}  # an enum
    lbc = values(data, LBC)
    lbc["vpcId"] = UNKNOWN
    lbc["serviceAccount"]["annotations"]["eks.amazonaws.com/role-arn"] = UNKNOWN
    lbc["defaultTags"] = UNKNOWN
    release(data, LBC)["values"] = lbc
    assert charts.check_release_values(data) == []
    release(data, LBC)["values"] = UNKNOWN  # the whole values map
    assert charts.check_release_values(data) == []


def test_open_maps_of_a_schemaless_chart_take_any_key():
    data = doctored()
    lbc = values(data, LBC)
    lbc["serviceAccount"]["annotations"]["example.com/anything"] = "x"
    lbc["defaultTags"]["CostCenter"] = "42"
    lbc["podAnnotations"] = {"a": "b"}
    lbc["podLabels"] = {"team": "platform"}
    lbc["nodeSelector"] = {"kubernetes.io/os": "linux"}
    lbc["resources"] = {"requests": {"cpu": "100m"}}
    lbc["securityContext"] = {"capabilities": {"drop": ["ALL"]}}  # a Kubernetes object, passed through
    lbc["livenessProbe"] = {"periodSeconds": 10}
    lbc["env"] = {"HTTP_PROXY": "http://proxy:3128"}  # null by default
    lbc["tolerations"] = [{"key": "spot", "operator": "Exists"}]  # lists are not looked into
    assert charts.check_release_values(data) == []
    # ...but a chart-structured map stays closed, even where it is a selector
    lbc["objectSelector"] = {"matchLabel": {"a": "b"}}
    assert charts.check_release_values(data) == [
        "platform-dev-aws-load-balancer-controller: values.objectSelector.matchLabel: no such key in "
        "aws-load-balancer-controller 3.5.0 values.yaml (the chart has no values.schema.json); "
        "did you mean `values.objectSelector.matchLabels`?"
    ]


def test_a_release_being_deleted_is_not_checked():
    data = doctored()
    _old_logs(data)
    for step in data["steps"]:
        if step["newState"]["urn"].endswith(f"::{TRAEFIK}"):
            step["op"] = "delete"
    assert charts.check_release_values(data) == []


def test_helm_merge_deletes_a_default_set_to_null():
    assert charts.merged({"a": {"b": 1, "c": 2}, "d": 3}, {"a": {"b": None, "e": 4}, "d": [1]}) == {"a": {"c": 2, "e": 4}, "d": [1]}


# ---------------------------------------------------------------------------- open paths and subcharts

STAGING_KPS = "platform-staging-kube-prometheus-stack"
NO_SCHEMA = "(the chart has no values.schema.json)"


def staging_doctored() -> dict[str, Any]:
    return copy.deepcopy(plan("staging").data)


def test_each_open_path_is_a_key_a_committed_release_sets(monkeypatch):
    """Without OPEN_PATHS the committed releases fail on exactly the keys the charts' templates
    read and their values.yaml does not show: each entry is there for one of these."""
    monkeypatch.setattr(charts, "OPEN_PATHS", {})
    assert charts.check_release_values(plan("staging").data) == [
        f"platform-staging-grafana: values.fullnameOverride: no such key in grafana 12.11.1 values.yaml {NO_SCHEMA}; did you mean `values.namespaceOverride`?",
        f"platform-staging-grafana: values.priorityClassName: no such key in grafana 12.11.1 values.yaml {NO_SCHEMA}",
        f"platform-staging-grafana: values[\"grafana.ini\"].analytics.reporting_enabled: no such key in grafana 12.11.1 values.yaml {NO_SCHEMA}",
        f"platform-staging-grafana: values[\"grafana.ini\"].users: no such key in grafana 12.11.1 values.yaml {NO_SCHEMA}",
        f"platform-staging-grafana: values[\"grafana.ini\"][\"auth.anonymous\"]: no such key in grafana 12.11.1 values.yaml {NO_SCHEMA}",
        f"{STAGING_KPS}: values.prometheusOperator.priorityClassName: no such key in kube-prometheus-stack 88.5.3 values.yaml {NO_SCHEMA}",
        f"platform-staging-tempo: values.tempo.storage.trace.s3: no such key in tempo 2.2.4 values.yaml {NO_SCHEMA}",
    ]


def test_below_an_open_path_any_key_is_allowed():
    data = staging_doctored()
    tempo = values(data, "platform-staging-tempo")["tempo"]
    tempo["storage"]["trace"]["s3"]["forcepathstyle"] = True
    tempo["storage"]["trace"]["wal"] = {"path": "/var/tempo/wal"}
    grafana_ini = values(data, "platform-staging-grafana")["grafana.ini"]
    grafana_ini["server"] = {"root_url": "http://localhost:3000"}
    grafana_ini["security"] = {"cookie_secure": True}
    assert charts.check_release_values(data) == []


@pytest.mark.parametrize(
    ("release", "path", "line"),
    [
        # a sibling of an open path stays closed
        ("platform-staging-tempo", ("tempo", "storag"), f"platform-staging-tempo: values.tempo.storag: no such key in tempo 2.2.4 values.yaml {NO_SCHEMA}; did you mean `values.tempo.storage`?"),
        (STAGING_KPS, ("prometheusOperator", "priorityClassNam"), f"{STAGING_KPS}: values.prometheusOperator.priorityClassNam: no such key in kube-prometheus-stack 88.5.3 values.yaml {NO_SCHEMA}"),
        # an open path is its chart's and its full path's only
        ("platform-staging-alloy", ("priorityClassName",), f"platform-staging-alloy: values.priorityClassName: no such key in alloy 1.11.1 values.yaml {NO_SCHEMA}"),
        (STAGING_KPS, ("priorityClassName",), f"{STAGING_KPS}: values.priorityClassName: no such key in kube-prometheus-stack 88.5.3 values.yaml {NO_SCHEMA}"),
    ],
    ids=["tempo-sibling", "kps-sibling", "alloy-not-grafana", "kps-top-level"],
)
def test_an_open_path_opens_nothing_else(release, path, line):
    data = staging_doctored()
    node = values(data, release)
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = "x"
    assert charts.check_release_values(data) == [line]


@pytest.fixture
def fresh_chart_cache():
    charts._load.cache_clear()
    yield
    charts._load.cache_clear()


def test_the_committed_values_use_keys_only_the_subcharts_show(monkeypatch, fresh_chart_cache):
    """kube-prometheus-stack's values.yaml shows no `resources` for its kube-state-metrics and
    node exporter; their own values.yaml do, and Helm passes them their section."""
    monkeypatch.setattr(charts, "_with_subcharts", lambda directory, defaults: defaults)
    assert charts.check_release_values(plan("staging").data) == [
        f"{STAGING_KPS}: values.kube-state-metrics.resources: no such key in kube-prometheus-stack 88.5.3 values.yaml {NO_SCHEMA}",
        f"{STAGING_KPS}: values.prometheus-node-exporter.resources: no such key in kube-prometheus-stack 88.5.3 values.yaml {NO_SCHEMA}",
    ]


def test_kube_prometheus_stack_reads_its_vendored_subcharts():
    kps = charts.vendored_chart("kube-prometheus-stack", "88.5.3")
    own = yaml.safe_load((CHARTS / "kube-prometheus-stack" / "88.5.3" / "values.yaml").read_text(encoding="utf-8"))
    for sub, version in (("kube-state-metrics", "8.4.0"), ("prometheus-node-exporter", "4.56.1"), ("grafana", "12.11.1")):
        theirs = charts.vendored_chart(sub, version)
        assert kps.defaults[sub] == charts.merged(theirs.defaults, own[sub]), sub
    # the parent's section wins over the subchart's default
    assert kps.defaults["prometheus-node-exporter"]["podLabels"] == {"jobLabel": "node-exporter"}
    # dependencies that are not vendored (crds 0.0.0, prometheus-windows-exporter 0.12.*) add nothing
    assert kps.defaults.get("crds") == own.get("crds")
    assert kps.defaults.get("prometheus-windows-exporter") == own.get("prometheus-windows-exporter")


def _chart(root: Path, name: str, version: str, values_yaml: dict[str, Any], dependencies: list[dict[str, str]] | None = None) -> None:
    directory = root / name / version
    directory.mkdir(parents=True)
    (directory / "values.yaml").write_text(yaml.safe_dump(values_yaml))
    (directory / "Chart.yaml").write_text(yaml.safe_dump({"name": name, "version": version, **({"dependencies": dependencies} if dependencies else {})}))


def test_a_subchart_is_merged_under_its_alias_beneath_the_parents_section(tmp_path):
    _chart(tmp_path, "grandchild", "0.1.0", {"g": 1})
    _chart(tmp_path, "child", "2.0.0", {"hidden": {"deep": 1}, "shown": 0}, [{"name": "grandchild", "version": "0.1.0"}])
    _chart(
        tmp_path,
        "parent",
        "1.0.0",
        {"kid": {"shown": 1}, "other": {"a": 1}},
        [{"name": "child", "version": "2.0.0", "alias": "kid"}, {"name": "child", "version": "2.0.0"}, {"name": "absent", "version": "9.9.9"}],
    )
    parent = charts.vendored_chart("parent", "1.0.0", tmp_path)
    assert parent.defaults == {
        "kid": {"hidden": {"deep": 1}, "shown": 1, "grandchild": {"g": 1}},
        "child": {"hidden": {"deep": 1}, "shown": 0, "grandchild": {"g": 1}},
        "other": {"a": 1},
    }
    assert list(charts._key_findings(parent, {"kid": {"hidden": {"deep": 2}, "grandchild": {"g": 2}}, "child": {"shown": 3}})) == []
    assert list(charts._key_findings(parent, {"kid": {"hiden": 1}, "absent": {"x": 1}})) == [
        f"values.kid.hiden: no such key in parent 1.0.0 values.yaml {NO_SCHEMA}; did you mean `values.kid.hidden`?",
        f"values.absent: no such key in parent 1.0.0 values.yaml {NO_SCHEMA}",
    ]


# ---------------------------------------------------------------------------- `infra check`


def test_infra_check_fails_a_plan_file_with_a_bad_value(tmp_path):
    data = doctored()
    _old_websecure_tls(data)
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(data))
    out = io.StringIO()
    assert check.run(Namespace(plan=str(path), stack=None), out=out) == 1
    lines = out.getvalue().splitlines()
    assert lines[0] == (
        "MANDATORY chart-values urn:pulumi:dev::platform::platform:edge:Edge$kubernetes:helm.sh/v3:Release::platform-dev-traefik: "
        "values.ports.websecure.tls: not allowed by traefik 41.2.0 values.schema.json "
        "(additionalProperties: false at values.ports.websecure); it belongs under `values.ports.websecure.http.tls`"
    )
    assert lines[-1].startswith("policy check FAILED: 1 mandatory, ")


def test_infra_check_passes_the_committed_plan(tmp_path):
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(plan("dev").data))
    out = io.StringIO()
    assert check.run(Namespace(plan=str(path), stack=None), out=out) == 0
    assert "chart-values" not in out.getvalue()
