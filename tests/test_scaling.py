"""A cluster that sizes itself (infra/components/scaling.py), and what keeps its platform pods up.

Specified here:
- per stack, the Cluster Autoscaler's release values exactly (tag auto-discovery, the
  priority expander before least-waste, the stack's scale-down settings) and everything it
  waits for; its IAM policy (scale only this cluster's groups tagged enabled), its Pod
  Identity trust and association;
- scale from zero, the issue's "Done when": from the tags the prod plan puts on each
  group's Auto Scaling group, a small model of the autoscaler's node templates decides
  which group a pending pod fits; a pod tolerating the spot taint fits the spot group at
  zero nodes and the expander picks it, a pod without the toleration fits only general;
- dev's night: the off-hours pause sets the very tag the autoscaler's discovery and IAM
  condition need `enabled` to `paused` on the very Auto Scaling group, before the stop,
  and the start sets it back: a table of times says when the autoscaler may scale;
- metrics-server's values per stack (two replicas, a PDB, spread over the zones as the
  stack's cluster.zone_spread says; both modes reach every replicated release, and a
  production tier refuses `preferred`);
- workload safety over every Helm release: replicated releases have a PodDisruptionBudget,
  every release names a priority class, and in prod every replicated release is spread
  over the zones with DoNotSchedule;
- the pure helpers (expander_priorities, template_tags) and the component's own refusals.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from infra.components.scaling import Scaling, ScalingArgs, expander_priorities, template_tags
from infra.config import AutoscalerConfig, ConfigError, NodeGroupConfig, Taint
from infra.offline.harness import ROOT, run_program
from infra.review import charts
from tests.conftest import STACKS, plan, stack_config
from tests.test_addons import pod_identity_trust

RELEASE = "kubernetes:helm.sh/v3:Release"
TAG = "aws:autoscaling/tag:Tag"
NODE_GROUP = "eks:index:ManagedNodeGroup"
ADDON = "aws:eks/addon:Addon"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
IDENTITY = "aws:eks/podIdentityAssociation:PodIdentityAssociation"
SCHEDULE = "aws:scheduler/schedule:Schedule"

LABEL = "k8s.io/cluster-autoscaler/node-template/label/"
TAINT = "k8s.io/cluster-autoscaler/node-template/taint/"
CAPACITY = "eks.amazonaws.com/capacityType"
AUTOSCALER_TAG = "platform/autoscaler"

# The expander's patterns per stack: `eks-<node group name prefix><26-character suffix>-<uuid>`
# (18 timestamp digits and an 8-character hex counter),
# the prefix through re.escape (which escapes every hyphen); SPOT groups 50, ON_DEMAND 10,
# a catch-all 1 (a group no pattern matches is never scaled up).
GENERAL = {s: rf"^eks-platform\-{s}\-general\-[0-9]{{18}}[0-9a-f]{{8}}-.*" for s in STACKS}
PROD_SPOT = r"^eks-platform\-prod\-spot\-[0-9]{18}[0-9a-f]{8}-.*"
EXPANDER_PRIORITIES = {
    # dev's only group runs on spot
    "dev": {"50": [GENERAL["dev"]], "1": [".*"]},
    "staging": {"10": [GENERAL["staging"]], "1": [".*"]},
    "prod": {"50": [PROD_SPOT], "10": [GENERAL["prod"]], "1": [".*"]},
}

# infra/config.py AutoscalerConfig: the autoscaler's own defaults.
SCALE_DOWN_DEFAULTS = {"scale_down_delay_after_add": "10m", "scale_down_unneeded_time": "10m", "scale_down_utilization_threshold": 0.5}
WHEN_UNSATISFIABLE = {"required": "DoNotSchedule", "preferred": "ScheduleAnyway"}


def scale_down(stack: str) -> dict[str, Any]:
    """The stack file's platform:cluster.autoscaler over the defaults."""
    return {**SCALE_DOWN_DEFAULTS, **(stack_config(stack)["platform:cluster"].get("autoscaler") or {})}


def zone_spread(stack: str) -> str:
    return stack_config(stack)["platform:cluster"].get("zone_spread", "required")


def release(p, stack: str, name: str) -> dict[str, Any]:
    return p.named(RELEASE, f"::platform-{stack}-{name}")


def asg_name(p, stack: str, group: str) -> str:
    """The Auto Scaling group EKS made for a node group, as the plan reads it back."""
    return p.named(TAG, f"::platform-{stack}-{group}-asg-autoscaler")["inputs"]["autoscalingGroupName"]


def tags_by_asg(p) -> dict[str, dict[str, tuple[str, bool]]]:
    """Every aws:autoscaling/tag:Tag of the plan: ASG name -> key -> (value, propagateAtLaunch)."""
    out: dict[str, dict[str, tuple[str, bool]]] = {}
    for resource in p.of_type(TAG):
        inputs = resource["inputs"]
        tags = out.setdefault(inputs["autoscalingGroupName"], {})
        assert inputs["tag"]["key"] not in tags, f"two tags {inputs['tag']['key']} on {inputs['autoscalingGroupName']}"
        tags[inputs["tag"]["key"]] = (inputs["tag"]["value"], inputs["tag"]["propagateAtLaunch"])
    return out


def autoscaler_statements(p, stack: str) -> list[dict[str, Any]]:
    return json.loads(p.named(ROLE_POLICY, f"::platform-{stack}-autoscaler-policy")["inputs"]["policy"])["Statement"]


# ---------------------------------------------------------------------- the autoscaler release


def test_the_autoscaler_release_values(stack):
    settings = scale_down(stack)
    values = release(plan(stack), stack, "cluster-autoscaler")["inputs"]["values"]
    assert values == {
        "cloudProvider": "aws",
        "awsRegion": "us-east-1",
        "fullnameOverride": "cluster-autoscaler",
        "rbac": {"create": True, "serviceAccount": {"create": True, "name": "cluster-autoscaler"}},
        "autoDiscovery": {
            "clusterName": f"platform-{stack}",
            "tags": ["k8s.io/cluster-autoscaler/enabled", f"k8s.io/cluster-autoscaler/platform-{stack}", "platform/autoscaler=enabled"],
        },
        "extraArgs": {
            "logtostderr": True,
            "stderrthreshold": "info",
            "v": 4,
            "expander": "priority,least-waste",
            "scale-down-delay-after-add": settings["scale_down_delay_after_add"],
            "scale-down-unneeded-time": settings["scale_down_unneeded_time"],
            "scale-down-utilization-threshold": str(float(settings["scale_down_utilization_threshold"])),
        },
        "expanderPriorities": EXPANDER_PRIORITIES[stack],
        "replicaCount": 1,
        "priorityClassName": "system-cluster-critical",
        "resources": {"requests": {"cpu": "100m", "memory": "300Mi"}, "limits": {"memory": "600Mi"}},
    }


def test_the_autoscaler_waits_for_its_identity_its_tags_the_nodes_and_dns(stack):
    p = plan(stack)
    dependencies = set(release(p, stack, "cluster-autoscaler")["dependencies"])
    tags = {t["urn"] for t in p.of_type(TAG)}
    groups = {g["urn"] for g in p.of_type(NODE_GROUP)}
    assert tags and groups
    needed = {
        p.named(IDENTITY, f"::platform-{stack}-autoscaler-identity")["urn"],
        p.named(ROLE_POLICY, f"::platform-{stack}-autoscaler-policy")["urn"],
        p.named(ADDON, f"::platform-{stack}-addon-coredns")["urn"],
        *tags,
        *groups,
    }
    assert needed <= dependencies, sorted(needed - dependencies)


def test_every_node_group_is_tagged_for_the_autoscaler(stack):
    p = plan(stack)
    groups = [g["name"] for g in stack_config(stack)["platform:cluster"]["node_groups"]]
    by_asg = tags_by_asg(p)
    # One Auto Scaling group per node group, each carrying the discovery tag, on the group only.
    assert sorted(by_asg) == sorted(asg_name(p, stack, g) for g in groups)
    for tags in by_asg.values():
        assert tags[AUTOSCALER_TAG] == ("enabled", False)


def test_prods_expander_patterns_pick_out_their_own_group():
    p = plan("prod")
    priorities = release(p, "prod", "cluster-autoscaler")["inputs"]["values"]["expanderPriorities"]
    assert priorities == {"50": [r"^eks-platform\-prod\-spot\-[0-9]{18}[0-9a-f]{8}-.*"], "10": [r"^eks-platform\-prod\-general\-[0-9]{18}[0-9a-f]{8}-.*"], "1": [".*"]}
    spot, general = asg_name(p, "prod", "spot"), asg_name(p, "prod", "general")
    assert spot != general
    (spot_pattern,), (general_pattern,) = priorities["50"], priorities["10"]
    assert re.search(spot_pattern, spot) and not re.search(spot_pattern, general)
    assert re.search(general_pattern, general) and not re.search(general_pattern, spot)


# The provider's unique suffix is 18 timestamp digits and an 8-character HEX counter
# (terraform-plugin-sdk helper/id PrefixedUniqueId, '%s%s%08x'): found once as [0-9]{18}[0-9a-f]{8}.
def test_the_patterns_match_a_suffix_whose_counter_is_hex():
    (pattern,) = expander_priorities("platform-prod", [_group("spot", "SPOT")])["50"]
    # The 10th name the provider process generates: counter 0000000a.
    assert re.search(pattern, "eks-platform-prod-spot-2026010112000000000000000a-80d073b4-5422-bec3-8810-22f0ca9e2821")


# ---------------------------------------------------------------------- identity and IAM


def test_the_autoscaler_policy(stack):
    read, write = autoscaler_statements(plan(stack), stack)
    assert read == {
        "Sid": "ReadGroupsAndInstanceTypes",
        "Effect": "Allow",
        "Action": [
            "autoscaling:DescribeAutoScalingGroups",
            "autoscaling:DescribeAutoScalingInstances",
            "autoscaling:DescribeLaunchConfigurations",
            "autoscaling:DescribeScalingActivities",
            "ec2:DescribeImages",
            "ec2:DescribeInstanceTypes",
            "ec2:DescribeLaunchTemplateVersions",
            "ec2:GetInstanceTypesFromInstanceRequirements",
            "eks:DescribeNodegroup",
        ],
        "Resource": "*",
    }
    assert write == {
        "Sid": "ScaleThisClustersEnabledGroups",
        "Effect": "Allow",
        "Action": ["autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup"],
        "Resource": "*",
        "Condition": {"StringEquals": {"aws:ResourceTag/eks:cluster-name": f"platform-{stack}", "aws:ResourceTag/platform/autoscaler": "enabled"}},
    }


def test_the_autoscaler_policy_is_on_its_role(stack):
    p = plan(stack)
    role = p.named(ROLE, f"::platform-{stack}-autoscaler-role")
    assert p.named(ROLE_POLICY, f"::platform-{stack}-autoscaler-policy")["inputs"]["role"] == role["outputs"]["name"]
    assert json.loads(role["inputs"]["assumeRolePolicy"]) == pod_identity_trust(stack)


def test_the_pod_identity_association(stack):
    p = plan(stack)
    identity = p.named(IDENTITY, f"::platform-{stack}-autoscaler-identity")
    role = p.named(ROLE, f"::platform-{stack}-autoscaler-role")
    assert identity["inputs"] == {"clusterName": f"platform-{stack}", "namespace": "kube-system", "serviceAccount": "cluster-autoscaler", "roleArn": role["outputs"]["arn"]}
    # The release's ServiceAccount is the one bound.
    rbac = release(p, stack, "cluster-autoscaler")["inputs"]["values"]["rbac"]
    assert rbac["serviceAccount"]["name"] == identity["inputs"]["serviceAccount"]
    # Credentials come through the agent: it exists first.
    assert p.named(ADDON, f"::platform-{stack}-addon-eks-pod-identity-agent")["urn"] in identity["dependencies"]


# ---------------------------------------------------------------------- scale from zero


def node_template(tags: Mapping[str, str]) -> dict[str, Any]:
    """What the autoscaler builds for a group with no node (cloudprovider/aws, node-template tags):
    labels from `.../label/<key>` = value, taints from `.../taint/<key>` = `value:Effect`."""
    labels = {k.removeprefix(LABEL): v for k, v in tags.items() if k.startswith(LABEL)}
    taints = []
    for key, value in tags.items():
        if key.startswith(TAINT):
            taint_value, _, effect = value.rpartition(":")
            taints.append({"key": key.removeprefix(TAINT), "value": taint_value, "effect": effect})
    return {"labels": labels, "taints": taints}


def tolerates(toleration: Mapping[str, str], taint: Mapping[str, str]) -> bool:
    """Kubernetes' rule: same effect (or none given); Exists matches the key (an empty key every
    key), Equal the key and the value."""
    if toleration.get("effect") and toleration["effect"] != taint["effect"]:
        return False
    if toleration.get("operator", "Equal") == "Exists":
        return toleration.get("key", "") in ("", taint["key"])
    return toleration.get("key") == taint["key"] and toleration.get("value", "") == taint["value"]


def fits(pod: Mapping[str, Any], template: Mapping[str, Any]) -> bool:
    """Every NoSchedule/NoExecute taint tolerated, and the pod's nodeSelector met by the labels."""
    hard = [t for t in template["taints"] if t["effect"] in ("NoSchedule", "NoExecute")]
    if not all(any(tolerates(tol, t) for tol in pod.get("tolerations", [])) for t in hard):
        return False
    return all(template["labels"].get(k) == v for k, v in pod.get("nodeSelector", {}).items())


def expand(priorities: Mapping[str, Sequence[str]], candidates: Sequence[str]) -> list[str]:
    """The priority expander: of the groups that fit, those the highest priority's patterns match."""
    for priority in sorted(priorities, key=int, reverse=True):
        chosen = [asg for asg in candidates if any(re.search(pattern, asg) for pattern in priorities[priority])]
        if chosen:
            return chosen
    return []


NOT_CRITICAL = {"key": "workload", "operator": "Equal", "value": "non-critical", "effect": "NoSchedule"}


@pytest.mark.parametrize(
    ("pod", "template", "fit"),
    [
        ({}, {"labels": {}, "taints": []}, True),
        ({}, {"labels": {}, "taints": [{"key": "workload", "value": "non-critical", "effect": "NoSchedule"}]}, False),
        ({"tolerations": [NOT_CRITICAL]}, {"labels": {}, "taints": [{"key": "workload", "value": "non-critical", "effect": "NoSchedule"}]}, True),
        ({"tolerations": [{**NOT_CRITICAL, "value": "batch"}]}, {"labels": {}, "taints": [{"key": "workload", "value": "non-critical", "effect": "NoSchedule"}]}, False),
        ({"tolerations": [{**NOT_CRITICAL, "effect": "NoExecute"}]}, {"labels": {}, "taints": [{"key": "workload", "value": "non-critical", "effect": "NoSchedule"}]}, False),
        ({"tolerations": [{"key": "workload", "operator": "Exists"}]}, {"labels": {}, "taints": [{"key": "workload", "value": "x", "effect": "NoExecute"}]}, True),
        ({"tolerations": [{"operator": "Exists"}]}, {"labels": {}, "taints": [{"key": "anything", "value": "x", "effect": "NoSchedule"}]}, True),
        ({}, {"labels": {}, "taints": [{"key": "soft", "value": "x", "effect": "PreferNoSchedule"}]}, True),
        ({"nodeSelector": {CAPACITY: "SPOT"}}, {"labels": {CAPACITY: "ON_DEMAND"}, "taints": []}, False),
        ({"nodeSelector": {CAPACITY: "SPOT"}}, {"labels": {CAPACITY: "SPOT"}, "taints": []}, True),
    ],
    ids=["plain", "untolerated-taint", "tolerated", "other-value", "other-effect", "exists-key", "exists-everything", "prefer-is-soft", "selector-miss", "selector-hit"],
)
def test_the_fit_model(pod, template, fit):
    assert fits(pod, template) is fit


def test_node_template_reads_labels_and_taints():
    tags = {AUTOSCALER_TAG: "enabled", f"{LABEL}workload": "non-critical", f"{TAINT}workload": "non-critical:NoSchedule", f"{TAINT}empty": ":NoExecute"}
    assert node_template(tags) == {
        "labels": {"workload": "non-critical"},
        "taints": [{"key": "workload", "value": "non-critical", "effect": "NoSchedule"}, {"key": "empty", "value": "", "effect": "NoExecute"}],
    }


def test_prods_spot_group_carries_its_node_template():
    p = plan("prod")
    assert tags_by_asg(p)[asg_name(p, "prod", "spot")] == {
        AUTOSCALER_TAG: ("enabled", False),
        f"{LABEL}{CAPACITY}": ("SPOT", False),
        f"{LABEL}workload": ("non-critical", False),
        f"{TAINT}workload": ("non-critical:NoSchedule", False),
    }
    assert tags_by_asg(p)[asg_name(p, "prod", "general")] == {AUTOSCALER_TAG: ("enabled", False), f"{LABEL}{CAPACITY}": ("ON_DEMAND", False)}


# (pod, the groups whose template it fits, the group the expander scales up)
PENDING_PODS = [
    ("tolerates-spot", {"tolerations": [NOT_CRITICAL]}, {"spot", "general"}, "spot"),
    ("no-toleration", {}, {"general"}, "general"),
    ("selects-spot-and-tolerates", {"nodeSelector": {CAPACITY: "SPOT"}, "tolerations": [NOT_CRITICAL]}, {"spot"}, "spot"),
    ("selects-spot-without-toleration", {"nodeSelector": {CAPACITY: "SPOT"}}, set(), None),
    ("selects-the-workload-label-and-tolerates", {"nodeSelector": {"workload": "non-critical"}, "tolerations": [NOT_CRITICAL]}, {"spot"}, "spot"),
]


@pytest.mark.parametrize(("pod", "fitting", "scaled"), [c[1:] for c in PENDING_PODS], ids=[c[0] for c in PENDING_PODS])
def test_a_pending_pod_scales_up_the_group_it_fits_from_zero(pod, fitting, scaled):
    p = plan("prod")
    # The spot group starts, and may sit, at zero nodes: only its tags describe a node.
    spot_group = p.named(NODE_GROUP, "::platform-prod-spot")["inputs"]["scalingConfig"]
    assert (spot_group["minSize"], spot_group["desiredSize"]) == (0, 0)
    asgs = {group: asg_name(p, "prod", group) for group in ("spot", "general")}
    tags = tags_by_asg(p)
    templates = {group: node_template({k: v for k, (v, _) in tags[asg].items()}) for group, asg in asgs.items()}
    assert {group for group, template in templates.items() if fits(pod, template)} == fitting
    priorities = release(p, "prod", "cluster-autoscaler")["inputs"]["values"]["expanderPriorities"]
    chosen = expand(priorities, [asgs[g] for g in sorted(fitting)])
    assert chosen == ([asgs[scaled]] if scaled else [])


# ---------------------------------------------------------------------- dev's night

DAYS = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")
CRON = re.compile(r"cron\((\d+) (\d+) \? \* ([A-Z]{3})-([A-Z]{3}) \*\)")
WEEK = 7 * 24 * 60


def fires(expression: str) -> tuple[list[int], int]:
    """An EventBridge cron's days (0 = MON) and minute of the day."""
    match = CRON.fullmatch(expression)
    assert match, expression
    minute, hour, first, last = match.groups()
    return list(range(DAYS.index(first), DAYS.index(last) + 1)), int(hour) * 60 + int(minute)


def minute_of_day(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


def value_at(day: str, hhmm: str, events: Sequence[tuple[str, str]]) -> str:
    """The tag value the latest of the schedules (expression, value) set at or before the moment."""
    now = DAYS.index(day) * 1440 + minute_of_day(hhmm)
    ago: list[tuple[int, str]] = []
    for expression, value in events:
        days, at = fires(expression)
        ago += [((now - (d * 1440 + at)) % WEEK, value) for d in days]
    return min(ago, key=lambda a: a[0])[1]


# What EKS itself tags a managed node group's Auto Scaling group with (not in the plan).
def eks_tags(cluster: str) -> dict[str, str]:
    return {"eks:cluster-name": cluster, "k8s.io/cluster-autoscaler/enabled": "true", f"k8s.io/cluster-autoscaler/{cluster}": "owned"}


def discovered(tags: Mapping[str, str], discovery: Sequence[str]) -> bool:
    """--node-group-auto-discovery=asg:tag=...: every `key` present, every `key=value` equal."""
    for spec in discovery:
        key, has_value, value = spec.partition("=")
        if key not in tags or (has_value and tags[key] != value):
            return False
    return True


def allowed(tags: Mapping[str, str], condition: Mapping[str, Mapping[str, str]]) -> bool:
    """IAM StringEquals on aws:ResourceTag/<key>: every key present with that value."""
    return all(tags.get(key.removeprefix("aws:ResourceTag/")) == value for key, value in condition["StringEquals"].items())


def _dev_schedules(p) -> dict[str, dict[str, Any]]:
    return {s["urn"].rsplit("::", 1)[-1].removeprefix("platform-dev-offhours-"): s["inputs"] for s in p.of_type(SCHEDULE)}


def test_the_pause_tags_the_autoscalers_own_group_before_the_stop_and_the_start_resumes_it():
    p = plan("dev")
    schedules = _dev_schedules(p)
    asg = asg_name(p, "dev", "general")
    values = release(p, "dev", "cluster-autoscaler")["inputs"]["values"]
    (_, write) = autoscaler_statements(p, "dev")
    # The key the autoscaler discovers by and the IAM condition reads, both wanting `enabled`.
    assert f"{AUTOSCALER_TAG}=enabled" in values["autoDiscovery"]["tags"]
    assert write["Condition"]["StringEquals"][f"aws:ResourceTag/{AUTOSCALER_TAG}"] == "enabled"
    for role, value in (("pause", "paused"), ("resume", "enabled")):
        (tag,) = json.loads(schedules[f"nodes-general-{role}"]["target"]["input"])["Tags"]
        assert tag == {"ResourceId": asg, "ResourceType": "auto-scaling-group", "Key": AUTOSCALER_TAG, "Value": value, "PropagateAtLaunch": False}
    pause_days, pause = fires(schedules["nodes-general-pause"]["scheduleExpression"])
    stop_days, stop = fires(schedules["nodes-general-stop"]["scheduleExpression"])
    assert pause_days == stop_days and 0 < stop - pause <= 15
    # Resumed exactly when the group is restored.
    assert schedules["nodes-general-resume"]["scheduleExpression"] == schedules["nodes-general-start"]["scheduleExpression"]
    assert {schedules[r]["scheduleExpressionTimezone"] for r in ("nodes-general-pause", "nodes-general-stop", "nodes-general-resume")} == {"Europe/Madrid"}
    # ...and the stop still takes the group to zero.
    scaling = json.loads(schedules["nodes-general-stop"]["target"]["input"])["ScalingConfig"]
    assert (scaling["MinSize"], scaling["DesiredSize"]) == (0, 0)


# (day, time in Europe/Madrid, the tag's value then, whether the autoscaler may scale the group)
DEV_WEEK = [
    ("MON", "07:59", "paused", False),
    ("MON", "08:00", "enabled", True),
    ("WED", "13:00", "enabled", True),
    ("FRI", "19:54", "enabled", True),
    ("FRI", "19:55", "paused", False),
    ("FRI", "20:00", "paused", False),  # the stop: its evicted pods bring no node back
    ("TUE", "03:00", "paused", False),
    ("SAT", "12:00", "paused", False),
    ("SUN", "23:59", "paused", False),
]


@pytest.mark.parametrize(("day", "hhmm", "value", "may_scale"), DEV_WEEK, ids=[f"{d}-{t}" for d, t, _, _ in DEV_WEEK])
def test_when_the_autoscaler_may_scale_dev(day, hhmm, value, may_scale):
    p = plan("dev")
    schedules = _dev_schedules(p)
    events = [(schedules[f"nodes-general-{role}"]["scheduleExpression"], json.loads(schedules[f"nodes-general-{role}"]["target"]["input"])["Tags"][0]["Value"]) for role in ("pause", "resume")]
    assert value_at(day, hhmm, events) == value
    # The group's tags then: EKS's, the plan's, the schedule's value on the autoscaler tag.
    tags = {**eks_tags("platform-dev"), **{k: v for k, (v, _) in tags_by_asg(p)[asg_name(p, "dev", "general")].items()}, AUTOSCALER_TAG: value}
    discovery = release(p, "dev", "cluster-autoscaler")["inputs"]["values"]["autoDiscovery"]["tags"]
    (_, write) = autoscaler_statements(p, "dev")
    assert discovered(tags, discovery) is may_scale
    assert allowed(tags, write["Condition"]) is may_scale


def test_the_model_is_not_blind_to_the_other_cluster():
    """The IAM condition, not only discovery, keeps another cluster's enabled group out."""
    p = plan("dev")
    (_, write) = autoscaler_statements(p, "dev")
    other = {**eks_tags("platform-staging"), AUTOSCALER_TAG: "enabled"}
    assert not allowed(other, write["Condition"])
    assert not discovered(other, release(p, "dev", "cluster-autoscaler")["inputs"]["values"]["autoDiscovery"]["tags"])


# ---------------------------------------------------------------------- metrics-server


@pytest.mark.parametrize("mode", ["required", "preferred"])
def test_cluster_zone_spread_decides_every_replicated_release(mode):
    """Both modes, whatever the stack files choose: staging's cluster with zone_spread set."""
    p = plan("staging", **{"platform:cluster": {**stack_config("staging")["platform:cluster"], "zone_spread": mode}})
    spread = {r["inputs"]["chart"]: [c["whenUnsatisfiable"] for c in r["inputs"]["values"].get("topologySpreadConstraints", [])] for r in p.of_type(RELEASE)}
    when = WHEN_UNSATISFIABLE[mode]
    # The single-replica releases (and Alloy's DaemonSet) have nothing to spread.
    assert spread == {
        "metrics-server": [when], "traefik": [when], "aws-load-balancer-controller": [when], "cluster-autoscaler": [],
        "grafana": [], "loki": [], "alloy": [], "kube-prometheus-stack": [], "tempo": [],
    }


def test_production_refuses_a_preferred_zone_spread():
    with pytest.raises(ConfigError) as err:
        plan("prod", **{"platform:cluster": {**stack_config("prod")["platform:cluster"], "zone_spread": "preferred"}})
    assert str(err.value) == "platform:cluster.zone_spread: must be required in a production tier (one zone's loss must leave a replica)"


def test_metrics_server_values(stack):
    values = release(plan(stack), stack, "metrics-server")["inputs"]["values"]
    selector = {"app.kubernetes.io/name": "metrics-server", "app.kubernetes.io/instance": "metrics-server"}
    assert values == {
        "fullnameOverride": "metrics-server",
        "replicas": 2,
        "podDisruptionBudget": {"enabled": True, "maxUnavailable": 1},
        "topologySpreadConstraints": [
            {"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": WHEN_UNSATISFIABLE[zone_spread(stack)], "labelSelector": {"matchLabels": selector}}
        ],
        "priorityClassName": "system-cluster-critical",
        "resources": {"requests": {"cpu": "100m", "memory": "200Mi"}, "limits": {"memory": "400Mi"}},
    }


# ---------------------------------------------------------------------- workload safety, every release


def _get(values: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    for key in path:
        values = values[key]
    return values


# chart -> (where its replica count is, the replicas, whether its PodDisruptionBudget is rendered,
# whether one must be, where its priority class is, the class), read from the values the chart
# renders with (its vendored defaults under ours). A DaemonSet's "replica count" is its
# controller type: one pod per node.
SAFETY = {
    # The chart renders the PDB from a non-empty podDisruptionBudget, with 2+ replicas.
    "aws-load-balancer-controller": (("replicaCount",), 2, lambda v: bool(v.get("podDisruptionBudget")), True, ("priorityClassName",), "system-cluster-critical"),
    "traefik": (("deployment", "replicas"), 2, lambda v: v["podDisruptionBudget"]["enabled"] is True, True, ("priorityClassName",), "platform-critical"),
    "metrics-server": (("replicas",), 2, lambda v: v["podDisruptionBudget"]["enabled"] is True, True, ("priorityClassName",), "system-cluster-critical"),
    # One replica (leader election); the chart's default podDisruptionBudget (maxUnavailable 1) renders one.
    "cluster-autoscaler": (("replicaCount",), 1, lambda v: bool(v.get("podDisruptionBudget")), True, ("priorityClassName",), "system-cluster-critical"),
    # One replica, no persistence (dashboards and datasources are provisioned); the chart's
    # podDisruptionBudget is empty, so no PDB: a drain may take the one pod.
    "grafana": (("replicas",), 1, lambda v: bool(v.get("podDisruptionBudget")), False, ("priorityClassName",), "platform-critical"),
    # Monolithic Loki, one replica; singleBinary.podDisruptionBudget keeps the chart's default (enabled).
    "loki": (("singleBinary", "replicas"), 1, lambda v: v["singleBinary"]["podDisruptionBudget"]["enabled"] is True, True, ("singleBinary", "priorityClassName"), "platform-critical"),
    # A DaemonSet on every node (the spot pool's too), node-critical as log shippers are; the
    # chart's controller.podDisruptionBudget stays off (a drain evicts no DaemonSet pod).
    "alloy": (("controller", "type"), "daemonset", lambda v: v["controller"]["podDisruptionBudget"]["enabled"] is True, False, ("controller", "priorityClassName"), "system-node-critical"),
    # One Prometheus (and one Alertmanager), the chart's PDBs off (prometheus.podDisruptionBudget.enabled false).
    "kube-prometheus-stack": (("prometheus", "prometheusSpec", "replicas"), 1, lambda v: v["prometheus"]["podDisruptionBudget"]["enabled"] is True, False, ("prometheus", "prometheusSpec", "priorityClassName"), "platform-critical"),
    # One replica (the chart's single-binary StatefulSet), no PDB in its values.
    "tempo": (("replicas",), 1, lambda v: bool(v.get("podDisruptionBudget")), False, ("priorityClassName",), "platform-critical"),
}
# The releases only a stack observing metrics / traces has (dev observes logs only).
ONLY_WITH = {"kube-prometheus-stack": "metrics", "tempo": "traces"}


def releases_of(stack: str) -> list[str]:
    observability = stack_config(stack).get("platform:observability") or {}
    return sorted(c for c in SAFETY if c not in ONLY_WITH or (observability.get(ONLY_WITH[c]) or {}).get("enabled", True))


def _effective(state: Mapping[str, Any]) -> dict[str, Any]:
    inputs = state["inputs"]
    chart = charts.vendored_chart(inputs["chart"], inputs["version"])
    assert chart is not None, inputs["chart"]
    return charts.merged(dict(chart.defaults), inputs["values"])


def test_the_safety_table_covers_every_release(stack):
    assert sorted(r["inputs"]["chart"] for r in plan(stack).of_type(RELEASE)) == releases_of(stack)


@pytest.mark.parametrize("chart", sorted(SAFETY))
def test_every_release_is_replicated_as_specified_with_a_pdb_and_a_priority(stack, chart):
    if chart not in releases_of(stack):
        pytest.skip(f"{stack} runs no {chart}")
    path, replicas, has_pdb, pdb, priority_path, priority = SAFETY[chart]
    (state,) = [r for r in plan(stack).of_type(RELEASE) if r["inputs"]["chart"] == chart]
    values = _effective(state)
    assert _get(values, path) == replicas
    # What a drain may take: a replicated release never loses every pod at once.
    assert has_pdb(values) is pdb
    if isinstance(replicas, int) and replicas > 1:
        assert pdb
    assert _get(values, priority_path) == priority
    # kube-system's releases take the system class, the platform's the platform class
    # (a DaemonSet the node class).
    if state["inputs"]["namespace"] == "kube-system":
        assert priority == "system-cluster-critical"


@pytest.mark.parametrize("chart", sorted(c for c, (_, replicas, *_) in SAFETY.items() if isinstance(replicas, int) and replicas > 1))
def test_prods_replicated_releases_are_spread_over_the_zones(chart):
    (state,) = [r for r in plan("prod").of_type(RELEASE) if r["inputs"]["chart"] == chart]
    spread = state["inputs"]["values"]["topologySpreadConstraints"]
    assert [(c["topologyKey"], c["whenUnsatisfiable"], c["maxSkew"]) for c in spread] == [("topology.kubernetes.io/zone", "DoNotSchedule", 1)]
    assert spread[0]["labelSelector"]["matchLabels"]


# ---------------------------------------------------------------------- the pure helpers and refusals


def _group(name: str, capacity: str, **extra: Any) -> NodeGroupConfig:
    return NodeGroupConfig(name=name, instance_types=["m5.large"], capacity_type=capacity, min_size=0, desired_size=0, max_size=2, **extra)


@pytest.mark.parametrize(
    ("groups", "expected"),
    [
        (
            [_group("on-demand", "ON_DEMAND"), _group("batch", "SPOT")],
            {"50": [r"^eks-c\-batch\-[0-9]{18}[0-9a-f]{8}-.*"], "10": [r"^eks-c\-on\-demand\-[0-9]{18}[0-9a-f]{8}-.*"], "1": [".*"]},
        ),
        (
            [_group("spot-a", "SPOT"), _group("spot-b", "SPOT")],
            {"50": [r"^eks-c\-spot\-a\-[0-9]{18}[0-9a-f]{8}-.*", r"^eks-c\-spot\-b\-[0-9]{18}[0-9a-f]{8}-.*"], "1": [".*"]},
        ),
        ([_group("only", "ON_DEMAND")], {"10": [r"^eks-c\-only\-[0-9]{18}[0-9a-f]{8}-.*"], "1": [".*"]}),
    ],
    ids=["spot-and-on-demand", "two-spot", "one-on-demand"],
)
def test_expander_priorities(groups, expected):
    priorities = expander_priorities("c", groups)
    assert priorities == expected
    # Highest first, the catch-all last.
    assert list(priorities) == sorted(expected, key=int, reverse=True)


def test_template_tags_of_a_group_with_labels_and_a_taint():
    group = _group("batch", "SPOT", labels={"workload": "batch", "team.example.com/owner": "data"}, taints=[Taint(key="dedicated", value="batch", effect="NO_EXECUTE"), Taint(key="noisy", effect="PREFER_NO_SCHEDULE")])
    assert template_tags(group) == [
        ("label-capacity-type", f"{LABEL}{CAPACITY}", "SPOT"),
        ("label-team-example-com-owner", f"{LABEL}team.example.com/owner", "data"),
        ("label-workload", f"{LABEL}workload", "batch"),
        ("taint-dedicated", f"{TAINT}dedicated", "batch:NoExecute"),
        ("taint-noisy", f"{TAINT}noisy", ":PreferNoSchedule"),
    ]


def test_a_single_metrics_server_has_no_pdb_and_no_spread():
    args = ScalingArgs(config=AutoscalerConfig(), cluster_name="c", region="us-east-1", groups=(), metrics_replicas=1)
    values = Scaling._metrics_values(args)
    assert (values["replicas"], values["podDisruptionBudget"], values["topologySpreadConstraints"]) == (1, {"enabled": False}, [])


PROGRAM = """
from infra.components.scaling import ScaledGroup, Scaling, ScalingArgs
from infra.config import AutoscalerConfig, NodeGroupConfig

group = NodeGroupConfig(name="general", instance_types=["m5.large"], min_size=1, desired_size=1, max_size=2)
Scaling("platform-dev", ScalingArgs(config=AutoscalerConfig(), cluster_name="platform-dev", region="us-east-1", {args}))
"""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ("groups=[]", "the autoscaler needs at least one node group"),
        ("groups=[ScaledGroup(group, 'eks-platform-dev-general')], metrics_replicas=0", "metrics_replicas must be at least 1"),
    ],
    ids=["no-group", "no-metrics-replica"],
)
def test_the_component_refuses_before_creating_anything(tmp_path: Path, args, message):
    shutil.copy(ROOT / "Pulumi.dev.yaml", tmp_path / "Pulumi.dev.yaml")
    (tmp_path / "__main__.py").write_text(PROGRAM.format(args=args), encoding="utf-8")
    with pytest.raises(ValueError) as err:
        run_program("dev", root=tmp_path)
    assert str(err.value) == message
    assert [r.type for r in err.value.registered] in ([], ["platform:scaling:Scaling"])
