"""The charts' CRDs are Pulumi resources, versioned with the chart (infra/components/edge.py).

Helm installs a chart's `crds/` on first install only: the releases skip them and each
vendored CRD (infra/charts/<chart>/<version>/crds/) is its own CustomResourceDefinition.
"""

from __future__ import annotations

import hashlib
import re
import shutil
from pathlib import Path

import pytest
import yaml

from infra.components import edge
from infra.review import k8s_objects
from tests.conftest import STACKS, plan

CRD = "kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition"
RELEASE = "kubernetes:helm.sh/v3:Release"
SOURCES = Path(edge.CHARTS_DIR) / "SOURCES.md"
# chart -> (its version constant, the release's logical-name suffix)
CHARTS = {
    edge.TRAEFIK_CHART: (edge.TRAEFIK_CHART_VERSION, "traefik"),
    edge.LBC_CHART: (edge.LBC_CHART_VERSION, "aws-load-balancer-controller"),
}
# The managed set, literally: a chart bump that adds or drops a CRD changes this on purpose.
MANAGED = {
    edge.TRAEFIK_CHART: [
        "ingressroutes.traefik.io",
        "ingressroutetcps.traefik.io",
        "ingressrouteudps.traefik.io",
        "middlewares.traefik.io",
        "middlewaretcps.traefik.io",
        "serverstransports.traefik.io",
        "serverstransporttcps.traefik.io",
        "tlsoptions.traefik.io",
        "tlsstores.traefik.io",
        "traefikservices.traefik.io",
    ],
    edge.LBC_CHART: [
        "albtargetcontrolconfigs.elbv2.k8s.aws",
        "globalaccelerators.aga.k8s.aws",
        "ingressclassparams.elbv2.k8s.aws",
        "targetgroupbindings.elbv2.k8s.aws",
    ],
}


def vendored(chart: str) -> list[dict]:
    """Every document of the chart version's vendored crds/, parsed here (not by the loader)."""
    version, _ = CHARTS[chart]
    out = []
    for path in sorted((edge.CHARTS_DIR / chart / version / "crds").glob("*.yaml")):
        out.extend(d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d is not None)
    return out


def crd_resources(stack: str) -> dict[str, dict]:
    """CRD name -> its resource in the stack's plan."""
    return {s["inputs"]["metadata"]["name"]: s for s in plan(stack).of_type(CRD)}


def wire(value):
    """A value as Pulumi sends it: every number a float64 (protobuf Struct). The API server keeps
    JSONSchemaProps' `maximum`/`minimum` as float64 too, so Traefik's `maximum: 9223372036854775000`
    is the same 9223372036854774784.0 whether `kubectl apply`'d from the file or sent by Pulumi."""
    if isinstance(value, dict):
        return {k: wire(v) for k, v in value.items()}
    if isinstance(value, list):
        return [wire(v) for v in value]
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def git_blob(path: Path) -> str:
    data = path.read_bytes()
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


# ---------------------------------------------------------------------------- the vendored files


def test_only_the_managed_crds_are_vendored():
    for chart in CHARTS:
        documents = vendored(chart)
        assert sorted(d["metadata"]["name"] for d in documents) == MANAGED[chart]
        assert {(d["apiVersion"], d["kind"]) for d in documents} == {("apiextensions.k8s.io/v1", "CustomResourceDefinition")}
        assert edge.chart_crds(chart, CHARTS[chart][0]) == documents


def test_every_vendored_crd_file_is_listed_in_sources_with_its_blob():
    text = SOURCES.read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\| (\S+/crds/\S+) \| \S+ \| `([0-9a-f]{40})` \|", text, re.M))
    files = {str(p.relative_to(edge.CHARTS_DIR)): p for p in sorted(edge.CHARTS_DIR.glob("*/*/crds/*"))}
    assert files and set(rows) == set(files)
    for name, path in files.items():
        assert git_blob(path) == rows[name], name


# ---------------------------------------------------------------------------- the plans


@pytest.mark.parametrize("stack", STACKS)
def test_every_managed_crd_is_a_resource_with_the_vendored_spec(stack):
    resources = crd_resources(stack)
    assert sorted(resources) == sorted(n for names in MANAGED.values() for n in names)
    edge_urn = plan(stack).named("platform:edge:Edge", f"platform-{stack}")["urn"]
    for chart, (version, _) in CHARTS.items():
        for document in vendored(chart):
            name = document["metadata"]["name"]
            state = resources[name]
            assert state["urn"].endswith(f"::platform-{stack}-crd-{name.replace('.', '-')}")
            assert state["parent"] == edge_urn
            assert wire(state["inputs"]["spec"]) == wire(document["spec"])
            metadata = state["inputs"]["metadata"]
            assert {k: v for k, v in metadata.items() if k != "labels"} == {k: v for k, v in document["metadata"].items() if k != "labels"}
            assert metadata["labels"] == {**document["metadata"].get("labels", {}), **edge.crd_labels(chart, version)}
            assert metadata["labels"]["helm.sh/chart"] == f"{chart}-{version}"
            # Only the API server: nothing but the cluster's provider.
            assert state["dependencies"] == []
            assert "::platform-" + stack + "-k8s" in state["provider"]


@pytest.mark.parametrize("stack", STACKS)
def test_releases_skip_their_crds_and_wait_for_them(stack):
    p = plan(stack)
    resources = crd_resources(stack)
    for chart, (_, suffix) in CHARTS.items():
        release = p.named(RELEASE, f"platform-{stack}-{suffix}")
        assert release["inputs"]["skipCrds"] is True
        assert {resources[n]["urn"] for n in MANAGED[chart]} <= set(release["dependencies"])
        others = {resources[n]["urn"] for c, names in MANAGED.items() if c != chart for n in names}
        assert others.isdisjoint(release["dependencies"])


@pytest.mark.parametrize("stack", STACKS)
def test_crds_pass_the_kubernetes_schema_check(stack):
    data = plan(stack).data
    assert k8s_objects.check_kubernetes_objects(data) == []
    # ...and the check does read them: a misspelt field in one is a finding.
    doctored = {**data, "steps": [dict(s, newState=dict(s["newState"])) for s in data["steps"]]}
    for step in doctored["steps"]:
        state = step["newState"]
        if state["type"] == CRD and state["inputs"]["metadata"]["name"] == "middlewares.traefik.io":
            state["inputs"] = {**state["inputs"], "spec": {**state["inputs"]["spec"], "scopes": "Namespaced"}}
    (finding,) = k8s_objects.check_kubernetes_objects(doctored)
    assert re.fullmatch(
        rf"platform-{stack}-crd-middlewares-traefik-io: spec\.scopes: not allowed by the Kubernetes [0-9.]+ schema of "
        r"apiextensions\.k8s\.io/v1 CustomResourceDefinition \(CustomResourceDefinitionSpec has no such field\); did you mean `spec\.scope`\?",
        finding,
    ), finding


# ---------------------------------------------------------------------------- a chart bump


def test_a_chart_bump_changes_every_crd_label(tmp_path):
    chart, (version, _) = edge.TRAEFIK_CHART, CHARTS[edge.TRAEFIK_CHART]
    shutil.copytree(edge.CHARTS_DIR / chart / version, tmp_path / chart / "99.0.0")
    # What the bump vendors: a new schema for one CRD, and a Hub CRD that stays unmanaged.
    middleware = tmp_path / chart / "99.0.0" / "crds" / "traefik.io_middlewares.yaml"
    document = yaml.safe_load(middleware.read_text(encoding="utf-8"))
    document["spec"]["versions"][0]["name"] = "v1beta1"
    middleware.write_text(yaml.safe_dump(document), encoding="utf-8")
    (tmp_path / chart / "99.0.0" / "crds" / "hub.traefik.io_apis.yaml").write_text("kind: CustomResourceDefinition\n", encoding="utf-8")

    old = {d["metadata"]["name"]: d for d in edge.chart_crds(chart, version)}
    new = {d["metadata"]["name"]: d for d in edge.chart_crds(chart, "99.0.0", charts_dir=tmp_path)}
    assert list(new) == list(old)
    assert new["middlewares.traefik.io"]["spec"]["versions"][0]["name"] == "v1beta1"
    assert edge.crd_labels(chart, version)["helm.sh/chart"] == f"traefik-{version}"
    assert edge.crd_labels(chart, "99.0.0") == {**edge.crd_labels(chart, version), "app.kubernetes.io/version": "99.0.0", "helm.sh/chart": "traefik-99.0.0"}


def test_a_bump_without_its_crds_does_not_plan(tmp_path):
    (tmp_path / "traefik" / "99.0.0").mkdir(parents=True)
    with pytest.raises(ValueError, match="no CRDs vendored"):
        edge.chart_crds("traefik", "99.0.0", charts_dir=tmp_path)
    (tmp_path / "traefik" / "99.0.0" / "crds").mkdir()
    (tmp_path / "traefik" / "99.0.0" / "crds" / "traefik.io_x.yaml").write_text("apiVersion: v1\nkind: ConfigMap\n", encoding="utf-8")
    with pytest.raises(ValueError, match="is not an apiextensions.k8s.io/v1 CustomResourceDefinition"):
        edge.chart_crds("traefik", "99.0.0", charts_dir=tmp_path)


def test_a_version_bump_relabels_the_planned_crds(monkeypatch, tmp_path):
    """The program itself, with the Traefik version constant bumped and the new version vendored."""
    from infra.offline.plan import build_plan

    chart, (version, _) = edge.TRAEFIK_CHART, CHARTS[edge.TRAEFIK_CHART]
    for name in CHARTS:
        shutil.copytree(edge.CHARTS_DIR / name / CHARTS[name][0], tmp_path / name / CHARTS[name][0])
    shutil.copytree(edge.CHARTS_DIR / chart / version, tmp_path / chart / "99.0.0")
    monkeypatch.setattr(edge, "CHARTS_DIR", tmp_path)
    monkeypatch.setattr(edge, "TRAEFIK_CHART_VERSION", "99.0.0")
    data = build_plan("dev", None)
    states = [s["newState"] for s in data["steps"]]
    crds = {s["urn"]: s["inputs"]["metadata"]["labels"] for s in states if s["type"] == CRD}
    before = {s["urn"]: s["inputs"]["metadata"]["labels"] for s in plan("dev").of_type(CRD)}
    assert set(crds) == set(before)  # same resources: an update, not a replacement
    changed = {u for u in crds if crds[u] != before[u]}
    assert changed == {u for u in crds if "traefik-io" in u}
    assert all(crds[u]["helm.sh/chart"] == "traefik-99.0.0" for u in changed)
