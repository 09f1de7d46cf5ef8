"""Grafana: one place to read the environment's metrics, logs, traces and AWS metrics.

Reachable only from inside: a ClusterIP Service, no Ingress, no LoadBalancer; people open it
with `kubectl -n monitoring port-forward svc/grafana 3000:80` through their team's access
entry (README, "Observability"). Anonymous access and sign-up are off; the one login is the
generated admin's, kept in a Secret.

Creates (when metrics, logs or traces are on):
- `{name}-grafana-admin-password` (32 random characters) and `{name}-grafana-admin`:
  Secret `grafana-admin` (`admin-user`, `admin-password`) the chart reads (admin.existingSecret);
- `{name}-grafana-role` / `-policy`: Grafana's EKS Pod Identity role
  (`monitoring/grafana`, `{name}-grafana-identity`): CloudWatch's read-only metric actions
  and the tags API, for the database and cache dashboards. Pod Identity, not IRSA: Grafana's
  AWS SDK reads container credentials (its CloudWatch datasource, auth "AWS SDK Default");
- `{name}-dashboard-<id>`: a ConfigMap per dashboard (`DASHBOARDS`: cluster, app
  namespace, database, cache), labelled `grafana_dashboard: "1"`, which the chart's sidecar
  loads; kube-prometheus-stack adds its own cluster dashboards the same way;
- `{name}-grafana`: chart grafana (grafana-community, vendored), one replica, no persistence
  (dashboards and datasources are code: nothing in it is lost on restart), datasources
  Prometheus (Thanos Query where there is a long-term store), Loki and Tempo (traces link to
  their logs) for what this stack runs, and CloudWatch.

Outputs: url (the in-cluster address), admin_secret (the Secret's name).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s
import pulumi_random as random

from infra import telemetry
from infra.components._shared import PLATFORM_PRIORITY_CLASS, pinned_release, pod_identity_trust
from infra.config import ObservabilityConfig

GRAFANA_CHART = "grafana"
GRAFANA_CHART_VERSION = "12.11.1"  # Grafana 13.2.0
# The chart moved from grafana/helm-charts (whose charts/grafana is now a migration note).
GRAFANA_REPO = "https://grafana-community.github.io/helm-charts"
SERVICE_ACCOUNT = "grafana"
ADMIN_SECRET = "grafana-admin"
DASHBOARD_LABEL = "grafana_dashboard"
URL = f"http://grafana.{telemetry.NAMESPACE}.svc.cluster.local"
# The CloudWatch datasource's read actions (Grafana docs, "Configure CloudWatch": the IAM
# policy for metrics); none takes a resource.
CLOUDWATCH_READ_ACTIONS = (
    "cloudwatch:DescribeAlarmsForMetric",
    "cloudwatch:DescribeAlarmHistory",
    "cloudwatch:DescribeAlarms",
    "cloudwatch:ListMetrics",
    "cloudwatch:GetMetricData",
    "cloudwatch:GetInsightRuleReport",
    "ec2:DescribeRegions",
    "tag:GetResources",
)


def cloudwatch_policy() -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": [{"Sid": "ReadMetrics", "Effect": "Allow", "Action": list(CLOUDWATCH_READ_ACTIONS), "Resource": "*"}]}


# ---------------------------------------------------------------------------- dashboards


def _panel(title: str, datasource: str, targets: list[dict[str, Any]], unit: str = "short") -> dict[str, Any]:
    return {
        "type": "timeseries",
        "title": title,
        "datasource": {"type": datasource, "uid": datasource},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "targets": targets,
    }


def _prom(expr: str, legend: str = "") -> dict[str, Any]:
    return {"refId": "A", "expr": expr, "legendFormat": legend}


def _cw(namespace: str, metric: str, dimensions: Mapping[str, str], stat: str = "Average") -> dict[str, Any]:
    return {
        "refId": next(iter(dimensions.values())),
        "queryMode": "Metrics",
        "namespace": namespace,
        "metricName": metric,
        "dimensions": {k: [v] for k, v in dimensions.items()},
        "statistic": stat,
        "region": "default",
        "matchExact": False,
    }


def _dashboard(uid: str, title: str, panels: list[dict[str, Any]]) -> dict[str, Any]:
    # Two panels a row, 12 columns and 8 rows each.
    laid_out = [{**p, "id": i + 1, "gridPos": {"h": 8, "w": 12, "x": (i % 2) * 12, "y": (i // 2) * 8}} for i, p in enumerate(panels)]
    return {"uid": uid, "title": title, "tags": ["platform"], "schemaVersion": 39, "time": {"from": "now-6h", "to": "now"}, "refresh": "1m", "panels": laid_out}


def dashboard_ids(obs: ObservabilityConfig) -> list[str]:
    return (["cluster", "app"] if obs.metrics.enabled else []) + ["database", "cache"]


def dashboards(obs: ObservabilityConfig, environment: str, db_instance: str, cache_nodes: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The platform's dashboards as Grafana JSON, by id: the cluster and the app namespace from
    Prometheus (when metrics are on), the database and the cache from CloudWatch (always)."""
    out: dict[str, dict[str, Any]] = {}
    if obs.metrics.enabled:
        out["cluster"] = _dashboard(
            "platform-cluster",
            f"{environment}: cluster",
            [
                _panel("Node CPU busy", "prometheus", [_prom('1 - avg by (instance) (rate(node_cpu_seconds_total{mode="idle"}[5m]))', "{{instance}}")], "percentunit"),
                _panel("Node memory used", "prometheus", [_prom("1 - node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes", "{{instance}}")], "percentunit"),
                _panel("Pods not ready", "prometheus", [_prom('sum by (namespace) (kube_pod_status_ready{condition="false"})', "{{namespace}}")]),
                _panel("Volumes used", "prometheus", [_prom("kubelet_volume_stats_used_bytes / kubelet_volume_stats_capacity_bytes", "{{namespace}}/{{persistentvolumeclaim}}")], "percentunit"),
            ],
        )
        out["app"] = _dashboard(
            "platform-app",
            f"{environment}: app namespace",
            [
                _panel("Requests per second", "prometheus", [_prom("sum by (code) (rate(traefik_service_requests_total[5m]))", "{{code}}")], "reqps"),
                _panel("5xx ratio", "prometheus", [_prom('sum(rate(traefik_service_requests_total{code=~"5.."}[5m])) / clamp_min(sum(rate(traefik_service_requests_total[5m])), 1)')], "percentunit"),
                _panel("CPU by pod", "prometheus", [_prom('sum by (pod) (rate(container_cpu_usage_seconds_total{namespace="app", container!=""}[5m]))', "{{pod}}")]),
                _panel("Restarts", "prometheus", [_prom('sum by (pod) (increase(kube_pod_container_status_restarts_total{namespace="app"}[1h]))', "{{pod}}")]),
            ],
        )
    out["database"] = _dashboard(
        "platform-database",
        f"{environment}: PostgreSQL",
        [
            _panel("CPU", "cloudwatch", [_cw("AWS/RDS", "CPUUtilization", {"DBInstanceIdentifier": db_instance})], "percent"),
            _panel("Connections", "cloudwatch", [_cw("AWS/RDS", "DatabaseConnections", {"DBInstanceIdentifier": db_instance})]),
            _panel("Free storage", "cloudwatch", [_cw("AWS/RDS", "FreeStorageSpace", {"DBInstanceIdentifier": db_instance}, "Minimum")], "bytes"),
            _panel("Replica lag", "cloudwatch", [_cw("AWS/RDS", "ReplicaLag", {"DBInstanceIdentifier": "*"}, "Maximum")], "s"),
        ],
    )
    out["cache"] = _dashboard(
        "platform-cache",
        f"{environment}: Redis",
        [
            _panel("Engine CPU", "cloudwatch", [_cw("AWS/ElastiCache", "EngineCPUUtilization", {"CacheClusterId": node}) for node in cache_nodes], "percent"),
            _panel("Memory used", "cloudwatch", [_cw("AWS/ElastiCache", "DatabaseMemoryUsagePercentage", {"CacheClusterId": node}) for node in cache_nodes], "percent"),
            _panel("Evictions", "cloudwatch", [_cw("AWS/ElastiCache", "Evictions", {"CacheClusterId": node}, "Sum") for node in cache_nodes]),
            _panel("Connections", "cloudwatch", [_cw("AWS/ElastiCache", "CurrConnections", {"CacheClusterId": node}) for node in cache_nodes]),
        ],
    )
    return out


def datasources(obs: ObservabilityConfig, region: str, prometheus_url: str | None) -> list[dict[str, Any]]:
    """Grafana's datasources (provisioning format, apiVersion 1) for what this config runs."""
    out: list[dict[str, Any]] = []
    if obs.metrics.enabled and prometheus_url:
        out.append({"name": "Prometheus", "uid": "prometheus", "type": "prometheus", "access": "proxy", "url": prometheus_url, "isDefault": True})
    if obs.logs.enabled:
        out.append({"name": "Loki", "uid": "loki", "type": "loki", "access": "proxy", "url": telemetry.LOKI_URL, "isDefault": not obs.metrics.enabled})
    if obs.traces.enabled:
        tempo: dict[str, Any] = {"name": "Tempo", "uid": "tempo", "type": "tempo", "access": "proxy", "url": telemetry.TEMPO_QUERY_URL}
        if obs.logs.enabled:
            tempo["jsonData"] = {"tracesToLogsV2": {"datasourceUid": "loki", "filterByTraceID": True, "spanStartTimeShift": "-5m", "spanEndTimeShift": "5m"}}
        out.append(tempo)
    out.append({"name": "CloudWatch", "uid": "cloudwatch", "type": "cloudwatch", "jsonData": {"authType": "default", "defaultRegion": region}})
    return out


@dataclass(frozen=True)
class GrafanaArgs:
    config: ObservabilityConfig
    environment: str
    region: str
    cluster_name: pulumi.Input[str]
    # Monitoring.prometheus_url: Thanos Query or Prometheus, None without metrics.
    prometheus_url: str | None
    # Database.instance_identifier and Cache.member_cluster_ids (autonamed: Outputs).
    db_instance_identifier: pulumi.Input[str]
    cache_cluster_ids: pulumi.Input[Sequence[str]]
    pod_identity_agent: pulumi.Resource | None = None
    # Monitoring.dependencies: nodes, CoreDNS, the priority class, the namespaces.
    workload_dependencies: Sequence[pulumi.Resource] = ()


class Grafana(pulumi.ComponentResource):
    url: str
    admin_secret: str

    def __init__(self, name: str, args: GrafanaArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("platform:grafana:Grafana", name, None, opts)
        # validate
        obs = args.config
        if not obs.grafana:
            raise ValueError("Grafana is built only when metrics, logs or traces are on")

        # derive
        child = pulumi.ResourceOptions(parent=self)
        after = [*args.workload_dependencies]
        account = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self)).account_id
        boards = pulumi.Output.all(args.db_instance_identifier, args.cache_cluster_ids).apply(
            lambda ids: {k: json.dumps(v, sort_keys=True) for k, v in dashboards(obs, args.environment, ids[0], sorted(ids[1] or [])).items()}
        )

        # children: the admin credential
        password = random.RandomPassword(f"{name}-grafana-admin-password", length=32, special=False, opts=child)
        admin = k8s.core.v1.Secret(
            f"{name}-grafana-admin",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=ADMIN_SECRET, namespace=telemetry.NAMESPACE, labels={"app.kubernetes.io/managed-by": "pulumi"}),
            string_data={"admin-user": "admin", "admin-password": pulumi.Output.secret(password.result)},
            opts=pulumi.ResourceOptions(parent=self, depends_on=after),
        )

        # children: CloudWatch read access
        role = aws.iam.Role(
            f"{name}-grafana-role",
            description=f"{name}: EKS Pod Identity role of {telemetry.NAMESPACE}/{SERVICE_ACCOUNT}",
            assume_role_policy=pod_identity_trust(account),
            opts=child,
        )
        grant = aws.iam.RolePolicy(f"{name}-grafana-policy", role=role.id, policy=json.dumps(cloudwatch_policy()), opts=child)
        identity = aws.eks.PodIdentityAssociation(
            f"{name}-grafana-identity",
            cluster_name=args.cluster_name,
            namespace=telemetry.NAMESPACE,
            service_account=SERVICE_ACCOUNT,
            role_arn=role.arn,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[args.pod_identity_agent] if args.pod_identity_agent else []),
        )

        # children: the dashboards
        configmaps = [
            k8s.core.v1.ConfigMap(
                f"{name}-dashboard-{board_id}",
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name=f"platform-dashboard-{board_id}", namespace=telemetry.NAMESPACE, labels={DASHBOARD_LABEL: "1", "app.kubernetes.io/managed-by": "pulumi"}
                ),
                data=boards.apply(lambda b, board_id=board_id: {f"{board_id}.json": b[board_id]}),
                opts=pulumi.ResourceOptions(parent=self, depends_on=after),
            )
            for board_id in dashboard_ids(obs)
        ]

        # children: the release
        release = pinned_release(
            f"{name}-grafana",
            release="grafana",
            chart=GRAFANA_CHART,
            version=GRAFANA_CHART_VERSION,
            repo=GRAFANA_REPO,
            namespace=telemetry.NAMESPACE,
            values=self._values(args),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*after, admin, identity, grant, *configmaps]),
        )

        # outputs
        self.url = URL
        self.admin_secret = ADMIN_SECRET
        self.register_outputs({"url": self.url, "admin_secret": self.admin_secret, "dashboards": dashboard_ids(obs), "release": release.name})

    @staticmethod
    def _values(args: GrafanaArgs) -> dict[str, Any]:
        grafana, sidecar = telemetry.workloads_of("grafana"), telemetry.workloads_of("grafana-sidecar")
        return {
            "fullnameOverride": "grafana",
            "replicas": 1,
            "serviceAccount": {"create": True, "name": SERVICE_ACCOUNT},
            "admin": {"existingSecret": ADMIN_SECRET, "userKey": "admin-user", "passwordKey": "admin-password"},
            # Inside only: port-forward through the cluster's access entries.
            "service": {"type": "ClusterIP"},
            "ingress": {"enabled": False},
            "persistence": {"enabled": False},
            # Its test pod runs with empty security contexts (not Pod Security baseline-clean).
            "testFramework": {"enabled": False},
            "resources": {"requests": grafana.requests(), "limits": grafana.limits()},
            "priorityClassName": PLATFORM_PRIORITY_CLASS,
            "datasources": {"datasources.yaml": {"apiVersion": 1, "datasources": datasources(args.config, args.region, args.prometheus_url)}},
            "sidecar": {
                "dashboards": {"enabled": True, "label": DASHBOARD_LABEL, "labelValue": "1", "searchNamespace": telemetry.NAMESPACE},
                "resources": {"requests": sidecar.requests(), "limits": sidecar.limits()},
            },
            "grafana.ini": {
                "analytics": {"check_for_updates": False, "reporting_enabled": False},
                "users": {"allow_sign_up": False},
                "auth.anonymous": {"enabled": False},
            },
        }
