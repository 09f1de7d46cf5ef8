"""A cluster that sizes itself: the Cluster Autoscaler and metrics-server.

Creates:
- `{name}-autoscaler-role`: the autoscaler's EKS Pod Identity role
  (`kube-system/cluster-autoscaler`, `{name}-autoscaler-identity`), with
  `{name}-autoscaler-policy`: upstream's "full features" read actions on `*` (they take no
  resource), and SetDesiredCapacity / TerminateInstanceInAutoScalingGroup only on Auto
  Scaling groups tagged `eks:cluster-name=<cluster>` (what EKS puts on its node groups'
  groups, beside `eks:nodegroup-name`: the autoscaler itself reads both to recognise a managed
  node group, cloudprovider/aws/aws_manager.go extractLabelsFromAsg at chart 9.59.0) and
  `platform/autoscaler=enabled`, so it can scale no other cluster's group and
  no group the off-hours schedule has paused;
- per node group, on the Auto Scaling group EKS made for it: `{name}-{group}-asg-autoscaler`
  (`platform/autoscaler=enabled`, which the autoscaler discovers groups by), and the
  scale-from-zero template tags `{name}-{group}-asg-label-{key}` / `-asg-taint-{key}`
  (`k8s.io/cluster-autoscaler/node-template/label/<key>` = value, `.../taint/<key>` =
  `value:Effect`; cluster-autoscaler cloudprovider/aws/README.md). A group at zero has no
  node to copy: without them the autoscaler cannot know that a pod tolerating the spot
  taint fits the spot group. (It also reads them from eks:DescribeNodegroup, but only for a
  group that never had a node, README "Auto-Discovery Setup".) Tags on an EKS-made group
  are new with every replacement of the node group: they follow its name;
- `{name}-cluster-autoscaler`: chart cluster-autoscaler (vendored under infra/charts),
  auto-discovery by the tags above, the priority expander preferring SPOT groups for the
  pods that may run there (a pod that does not tolerate the spot taint only fits the
  on-demand group, whatever the priority), least-waste among equals, the stack's
  scale-down settings;
- `{name}-metrics-server`: chart metrics-server, the metrics API behind `kubectl top` and
  every HorizontalPodAutoscaler, replicated with a PodDisruptionBudget and spread over AZs.

Outputs: autoscaler_role_arn, expander_priorities.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from infra.components._shared import AUTOSCALER_ENABLED, AUTOSCALER_TAG, pinned_release, pod_identity_trust, zone_spread
from infra.config import AutoscalerConfig, NodeGroupConfig, node_group_name_prefix, tag_role as _tag_role

AUTOSCALER_CHART = "cluster-autoscaler"
AUTOSCALER_CHART_VERSION = "9.59.0"  # Cluster Autoscaler v1.35.0, the cluster's minor version
AUTOSCALER_REPO = "https://kubernetes.github.io/autoscaler"
AUTOSCALER_NAME = "cluster-autoscaler"
METRICS_CHART = "metrics-server"
METRICS_CHART_VERSION = "3.13.1"  # metrics-server v0.8.1
METRICS_REPO = "https://kubernetes-sigs.github.io/metrics-server/"
METRICS_NAME = "metrics-server"
NAMESPACE = "kube-system"

# What the autoscaler reads (cloudprovider/aws/README.md, "Full Cluster Autoscaler Features
# Policy"); none of these actions takes a resource or a tag condition.
AUTOSCALER_READ_ACTIONS = (
    "autoscaling:DescribeAutoScalingGroups",
    "autoscaling:DescribeAutoScalingInstances",
    "autoscaling:DescribeLaunchConfigurations",
    "autoscaling:DescribeScalingActivities",
    "ec2:DescribeImages",
    "ec2:DescribeInstanceTypes",
    "ec2:DescribeLaunchTemplateVersions",
    "ec2:GetInstanceTypesFromInstanceRequirements",
    "eks:DescribeNodegroup",
)
AUTOSCALER_WRITE_ACTIONS = ("autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup")
# The autoscaler's own spelling of the taint effects (aws_manager.go), EKS's in the config.
TAINT_EFFECT = {"NO_SCHEDULE": "NoSchedule", "NO_EXECUTE": "NoExecute", "PREFER_NO_SCHEDULE": "PreferNoSchedule"}
LABEL_TAG = "k8s.io/cluster-autoscaler/node-template/label/"
TAINT_TAG = "k8s.io/cluster-autoscaler/node-template/taint/"
# EKS labels every managed node with its capacity type; a pod may select on it.
CAPACITY_LABEL = "eks.amazonaws.com/capacityType"
# Priority expander: higher wins; a group no pattern matches is never scaled up, hence the
# catch-all (expander/priority/readme.md).
SPOT_PRIORITY, ON_DEMAND_PRIORITY, FALLBACK_PRIORITY = 50, 10, 1
# The unique suffix the provider appends to node_group_name_prefix: terraform-plugin-sdk's
# id.PrefixedUniqueId, an 18-digit UTC timestamp and an 8-character lowercase hex counter
# (fmt.Sprintf("%s%s%08x", prefix, timestamp, counter)): the counter is not always digits.
_SUFFIX_PATTERN = "[0-9]{18}[0-9a-f]{8}"


def autoscaler_policy(cluster_name: str) -> dict[str, Any]:
    """The autoscaler's IAM policy: read everything, change only this cluster's enabled groups."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "ReadGroupsAndInstanceTypes", "Effect": "Allow", "Action": list(AUTOSCALER_READ_ACTIONS), "Resource": "*"},
            {
                "Sid": "ScaleThisClustersEnabledGroups",
                "Effect": "Allow",
                "Action": list(AUTOSCALER_WRITE_ACTIONS),
                "Resource": "*",
                "Condition": {"StringEquals": {"aws:ResourceTag/eks:cluster-name": cluster_name, f"aws:ResourceTag/{AUTOSCALER_TAG}": AUTOSCALER_ENABLED}},
            },
        ],
    }


def template_tags(group: NodeGroupConfig) -> list[tuple[str, str, str]]:
    """The scale-from-zero tags of a group's Auto Scaling group, as (role, key, value): its
    labels (EKS's capacity-type label among them) and taints, as the autoscaler reads them."""
    tags = [("label-capacity-type", f"{LABEL_TAG}{CAPACITY_LABEL}", group.capacity_type)]
    tags += [(f"label-{_tag_role(k)}", f"{LABEL_TAG}{k}", v) for k, v in sorted(group.labels.items())]
    tags += [(f"taint-{_tag_role(t.key)}", f"{TAINT_TAG}{t.key}", f"{t.value}:{TAINT_EFFECT[t.effect]}") for t in group.taints]
    return tags


def expander_priorities(cluster_name: str, groups: Sequence[NodeGroupConfig]) -> dict[str, list[str]]:
    """Priority expander config: patterns over the groups' Auto Scaling group names
    (`eks-<node group name>-<uuid>`), SPOT groups above ON_DEMAND ones, a catch-all last."""
    by_priority: dict[int, list[str]] = {}
    for group in groups:
        priority = SPOT_PRIORITY if group.capacity_type == "SPOT" else ON_DEMAND_PRIORITY
        pattern = f"^eks-{re.escape(node_group_name_prefix(cluster_name, group.name))}{_SUFFIX_PATTERN}-.*"
        by_priority.setdefault(priority, []).append(pattern)
    by_priority[FALLBACK_PRIORITY] = [".*"]
    # Helm values: the chart writes each key as `<int>:`; string keys for the JSON round trip.
    return {str(p): by_priority[p] for p in sorted(by_priority, reverse=True)}


@dataclass(frozen=True)
class ScaledGroup:
    config: NodeGroupConfig
    # The Auto Scaling group EKS made for the node group (Cluster.autoscaling_group_names).
    autoscaling_group_name: pulumi.Input[str]


@dataclass(frozen=True)
class ScalingArgs:
    config: AutoscalerConfig
    cluster_name: str
    region: str
    groups: Sequence[ScaledGroup]
    # ClusterConfig.zone_spread: how metrics-server's replicas spread over the AZs.
    zone_spread: str = "required"
    # Two: `kubectl top` and every HPA keep working while one replica is drained.
    metrics_replicas: int = 2
    # What must run first: the nodes and CoreDNS (Addons.workload_dependencies), and the
    # Pod Identity agent (the autoscaler gets its credentials through it).
    workload_dependencies: Sequence[pulumi.Resource] = ()
    pod_identity_agent: pulumi.Resource | None = None


class Scaling(pulumi.ComponentResource):
    autoscaler_role_arn: pulumi.Output[str]
    expander_priorities: Mapping[str, list[str]]

    def __init__(self, name: str, args: ScalingArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("platform:scaling:Scaling", name, None, opts)
        # validate
        if not args.groups:
            raise ValueError("the autoscaler needs at least one node group")
        if args.metrics_replicas < 1:
            raise ValueError("metrics_replicas must be at least 1")
        for scaled in args.groups:
            roles = [role for role, _, _ in template_tags(scaled.config)]
            if len(set(roles)) != len(roles):
                # NodeGroupConfig refuses these at config load; a caller without it gets this.
                raise ValueError(f"node group {scaled.config.name}: label or taint keys that differ only in punctuation ({', '.join(sorted(roles))})")

        # derive
        child = pulumi.ResourceOptions(parent=self)
        account = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self)).account_id
        priorities = expander_priorities(args.cluster_name, [g.config for g in args.groups])

        # children: identity
        role = aws.iam.Role(
            f"{name}-autoscaler-role",
            description=f"{args.cluster_name}: EKS Pod Identity role of {NAMESPACE}/{AUTOSCALER_NAME}",
            assume_role_policy=pod_identity_trust(account),
            opts=child,
        )
        policy = aws.iam.RolePolicy(f"{name}-autoscaler-policy", role=role.id, policy=json.dumps(autoscaler_policy(args.cluster_name)), opts=child)
        identity = aws.eks.PodIdentityAssociation(
            f"{name}-autoscaler-identity",
            cluster_name=args.cluster_name,
            namespace=NAMESPACE,
            service_account=AUTOSCALER_NAME,
            role_arn=role.arn,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[args.pod_identity_agent] if args.pod_identity_agent else []),
        )

        # children: the groups' tags
        tags: list[aws.autoscaling.Tag] = []
        for scaled in args.groups:
            group = scaled.config

            def tag(role_name: str, key: str, value: str) -> aws.autoscaling.Tag:
                return aws.autoscaling.Tag(
                    f"{name}-{group.name}-asg-{role_name}",
                    autoscaling_group_name=scaled.autoscaling_group_name,
                    # On the group only: EKS labels and taints the nodes themselves.
                    tag=aws.autoscaling.TagTagArgs(key=key, value=value, propagate_at_launch=False),
                    opts=child,
                )

            tags.append(tag("autoscaler", AUTOSCALER_TAG, AUTOSCALER_ENABLED))
            tags += [tag(role_name, key, value) for role_name, key, value in template_tags(group)]

        # children: the releases
        after = [*args.workload_dependencies]
        autoscaler = pinned_release(
            f"{name}-cluster-autoscaler",
            release=AUTOSCALER_NAME,
            chart=AUTOSCALER_CHART,
            version=AUTOSCALER_CHART_VERSION,
            repo=AUTOSCALER_REPO,
            namespace=NAMESPACE,
            values=self._autoscaler_values(args, priorities),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*after, identity, policy, *tags]),
        )
        metrics = pinned_release(
            f"{name}-metrics-server",
            release=METRICS_NAME,
            chart=METRICS_CHART,
            version=METRICS_CHART_VERSION,
            repo=METRICS_REPO,
            namespace=NAMESPACE,
            values=self._metrics_values(args),
            opts=pulumi.ResourceOptions(parent=self, depends_on=after),
        )

        # outputs
        self.autoscaler_role_arn = role.arn
        self.expander_priorities = priorities
        self.register_outputs({"autoscaler_role_arn": self.autoscaler_role_arn, "expander_priorities": priorities, "releases": [autoscaler.name, metrics.name]})

    @staticmethod
    def _autoscaler_values(args: ScalingArgs, priorities: Mapping[str, list[str]]) -> dict[str, Any]:
        cfg = args.config
        return {
            "cloudProvider": "aws",
            # Cluster Autoscaler 1.35 (AWS SDK v2) takes the region from AWS_REGION only; the
            # nodes' IMDS hop limit of 1 keeps pods from the instance metadata anyway.
            "awsRegion": args.region,
            # Deployment, ServiceAccount and RBAC all named cluster-autoscaler, the name the
            # Pod Identity association binds.
            "fullnameOverride": AUTOSCALER_NAME,
            "rbac": {"create": True, "serviceAccount": {"create": True, "name": AUTOSCALER_NAME}},
            # Every tag must be on a group (key=value: that value): the two EKS puts on each
            # managed node group's Auto Scaling group, and ours, which the off-hours schedule
            # sets to paused before the group sleeps.
            "autoDiscovery": {
                "clusterName": args.cluster_name,
                "tags": ["k8s.io/cluster-autoscaler/enabled", f"k8s.io/cluster-autoscaler/{args.cluster_name}", f"{AUTOSCALER_TAG}={AUTOSCALER_ENABLED}"],
            },
            "extraArgs": {
                "logtostderr": True,
                "stderrthreshold": "info",
                "v": 4,
                "expander": "priority,least-waste",
                "scale-down-delay-after-add": cfg.scale_down_delay_after_add,
                "scale-down-unneeded-time": cfg.scale_down_unneeded_time,
                "scale-down-utilization-threshold": str(cfg.scale_down_utilization_threshold),
            },
            "expanderPriorities": dict(priorities),
            # One replica (leader election would idle a second); a node drain reschedules it.
            "replicaCount": 1,
            "priorityClassName": "system-cluster-critical",
            "resources": {"requests": {"cpu": "100m", "memory": "300Mi"}, "limits": {"memory": "600Mi"}},
        }

    @staticmethod
    def _metrics_values(args: ScalingArgs) -> dict[str, Any]:
        replicated = args.metrics_replicas > 1
        return {
            "fullnameOverride": METRICS_NAME,
            "replicas": args.metrics_replicas,
            # A drain never takes both replicas at once.
            "podDisruptionBudget": {"enabled": replicated, "maxUnavailable": 1} if replicated else {"enabled": False},
            "topologySpreadConstraints": zone_spread({"app.kubernetes.io/name": METRICS_NAME, "app.kubernetes.io/instance": METRICS_NAME}, args.zone_spread)
            if replicated
            else [],
            "priorityClassName": "system-cluster-critical",
            "resources": {"requests": {"cpu": "100m", "memory": "200Mi"}, "limits": {"memory": "400Mi"}},
        }
