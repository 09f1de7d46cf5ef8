"""The baseline alert rules the issue asks for exist in the pinned chart and stay on.

kube-prometheus-stack's default rules are templates in the chart; the four that carry the
baseline alerts are vendored under infra/charts/kube-prometheus-stack/<version>/rules/
(infra/charts/SOURCES.md). Each template renders only when its `defaultRules.rules.<flag>`
is on and the alert is not in `defaultRules.disabled`: a chart bump that renames a group or
an alert, or values that turn one off, fail here.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from infra.components import monitoring
from infra.versions import THANOS_IMAGE
from tests.conftest import plan

RELEASE = "kubernetes:helm.sh/v3:Release"
CHART_DIR = Path(monitoring.__file__).resolve().parent.parent / "charts" / monitoring.KPS_CHART / monitoring.KPS_CHART_VERSION
# The baseline beside the platform's own rules (infra/telemetry.py platform_rules):
# alert -> the vendored template that defines it.
BASELINE = {
    "KubeNodeNotReady": "kubernetes-system-kubelet.yaml",
    "KubePodCrashLooping": "kubernetes-apps.yaml",
    "KubePersistentVolumeFillingUp": "kubernetes-storage.yaml",
    "Watchdog": "general.rules.yaml",
}
_GATE = re.compile(r"\.Values\.defaultRules\.create \.Values\.defaultRules\.rules\.(\w+) }}")


def _kps_values(stack: str) -> dict:
    (release,) = [s for s in plan(stack).of_type(RELEASE) if s["urn"].endswith("-kube-prometheus-stack")]
    return release["inputs"]["values"]


@pytest.mark.parametrize("alert, template", sorted(BASELINE.items()))
@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_the_baseline_alert_is_in_the_chart_and_left_on(stack, alert, template):
    text = (CHART_DIR / "rules" / template).read_text(encoding="utf-8")
    assert f"- alert: {alert}\n" in text
    (flag,) = _GATE.findall(text)
    rules = _kps_values(stack)["defaultRules"]
    assert rules["create"] is True
    assert rules["rules"].get(flag, True) is True, f"defaultRules.rules.{flag} turns {alert} off"
    assert alert not in rules.get("disabled", {})


def test_only_the_control_plane_groups_eks_hides_are_off():
    assert _kps_values("prod")["defaultRules"]["rules"] == {
        "etcd": False,
        "kubeControllerManager": False,
        "kubeSchedulerAlerting": False,
        "kubeSchedulerRecording": False,
        "kubeProxy": False,
    }


def test_every_thanos_component_runs_the_sidecars_version():
    defaults = yaml.safe_load((CHART_DIR / "values.yaml").read_text(encoding="utf-8"))
    image = defaults["prometheusOperator"]["thanosImage"]
    assert THANOS_IMAGE == f"{image['registry']}/{image['repository']}:{image['tag']}"
    thanos = [s for s in plan("prod").states if s["type"] in ("kubernetes:apps/v1:StatefulSet", "kubernetes:apps/v1:Deployment") and "-thanos-" in s["urn"]]
    assert sorted(s["urn"].rsplit("::", 1)[1] for s in thanos) == ["platform-prod-thanos-compact", "platform-prod-thanos-query", "platform-prod-thanos-store"]
    for state in thanos:
        (container,) = state["inputs"]["spec"]["template"]["spec"]["containers"]
        assert container["image"] == THANOS_IMAGE


def test_the_compactor_keeps_raw_samples_as_long_as_prometheus_and_the_rest_as_long_as_the_store():
    state = plan("prod").named("kubernetes:apps/v1:StatefulSet", "::platform-prod-thanos-compact")
    (container,) = state["inputs"]["spec"]["template"]["spec"]["containers"]
    retention = [a for a in container["args"] if a.startswith("--retention.")]
    assert retention == ["--retention.resolution-raw=90d", "--retention.resolution-5m=395d", "--retention.resolution-1h=395d"]
    assert state["inputs"]["spec"]["replicas"] == 1
