"""What the observability stack is, derived once from `platform:observability`.

Pure functions, no Pulumi: the components (infra/components/monitoring.py, logs.py,
traces.py, grafana.py) size and configure their charts from here, and the cost model
prices the same numbers, so a volume is sized in one place and billed as sized.

- volumes: Prometheus's from its retention and ingest rate (Prometheus docs, "Operational
  aspects": needed_disk_space = retention_time_seconds * ingested_samples_per_second *
  bytes_per_sample, 1-2 bytes a sample), the long-term store's and the log/trace buckets'
  steady state;
- requests: every observability pod's CPU and memory requests, which the charts' values
  set from `WORKLOADS`, and the check that they fit the nodes the stack always has;
- Alertmanager's routes from the alert destinations, the files its credentials are read
  from (never the secret in the Helm values), and the platform's own alert rules;
- the S3 bucket names and the in-cluster addresses the app and Grafana use.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from infra import cron

# The config sections these functions read (infra/config.py). Config itself calls this module
# (the capacity check runs at config load), so it cannot be imported back: shapes only.
AlertsConfig = DataCopyConfig = MetricsConfig = ObservabilityConfig = StackConfig = Any

NAMESPACE = "monitoring"
# Node exporter and the log shipper read the host (hostNetwork/hostPID, hostPath /var/log):
# Pod Security `privileged`, so they get a namespace of their own and `monitoring` stays
# `baseline`.
AGENTS_NAMESPACE = "monitoring-agents"

# Prometheus's TSDB: 1-2 bytes a sample compressed (Prometheus docs); 2, and a quarter more
# for the WAL and compaction headroom. The volume never goes below 10 GB.
BYTES_PER_SAMPLE = 2
VOLUME_HEADROOM = 1.25
MIN_VOLUME_GB = 10
# Prometheus also deletes by size (retentionSize) before the volume fills: this share of it.
RETENTION_SIZE_SHARE = 0.85
# Thanos's blocks in S3 are Prometheus's own 2-hour blocks, compacted: the same bytes a sample.
# The compactor's 5m and 1h downsampled copies add about a tenth (Thanos docs, "Downsampling").
LONG_TERM_DOWNSAMPLE_OVERHEAD = 1.1
# The scrape interval every ServiceMonitor inherits (kube-prometheus-stack's default).
SCRAPE_INTERVAL_SECONDS = 30
# Active series x this is a Prometheus's working memory (the head block), rounded up.
BYTES_PER_SERIES = 6 * 1024

# Tempo's local volume: its WAL and the blocks it has not flushed to S3 (Loki's is
# observability.logs.volume_gb).
TEMPO_VOLUME_GB = 10
# Thanos's compactor needs scratch space for the blocks it compacts (Thanos docs: about the
# size of the largest 2-week block); the store gateway rebuilds its index headers on start.
THANOS_COMPACT_VOLUME_GB = 20

# The backends' in-cluster addresses (Services the charts create, fullnameOverride below).
LOKI_URL = f"http://loki.{NAMESPACE}.svc.cluster.local:3100"
TEMPO_QUERY_URL = f"http://tempo.{NAMESPACE}.svc.cluster.local:3200"
# The OTLP receivers the app exports to (app-config OTEL_EXPORTER_OTLP_ENDPOINT): HTTP, 4318.
OTLP_HTTP_ENDPOINT = f"http://tempo.{NAMESPACE}.svc.cluster.local:4318"
# kube-prometheus-stack with fullnameOverride KPS_NAME names its Services <name>-prometheus, ...
KPS_NAME = "kube-prometheus"
PROMETHEUS_URL = f"http://{KPS_NAME}-prometheus.{NAMESPACE}.svc.cluster.local:9090"
# The sidecars' gRPC StoreAPI, a headless Service (prometheus.thanosService).
THANOS_SIDECAR_SRV = f"dnssrv+_grpc._tcp.{KPS_NAME}-thanos-discovery.{NAMESPACE}.svc.cluster.local"
THANOS_STORE_ADDRESS = f"dnssrv+_grpc._tcp.thanos-store.{NAMESPACE}.svc.cluster.local"
THANOS_QUERY_URL = f"http://thanos-query.{NAMESPACE}.svc.cluster.local:9090"
ALERTMANAGER_URL = f"http://{KPS_NAME}-alertmanager.{NAMESPACE}.svc.cluster.local:9093"

# Alertmanager reads its credentials from files: the Secret below is mounted by the
# operator at /etc/alertmanager/secrets/<name>/<key> (alertmanagerSpec.secrets), and the
# config names the files (slack_configs api_url_file, pagerduty_configs routing_key_file).
DESTINATIONS_SECRET = "alertmanager-destinations"
SECRET_FILES = {"slack": "slack-webhook-url", "pagerduty": "pagerduty-routing-key"}
NULL_RECEIVER = "null"


@dataclass(frozen=True)
class Workload:
    """An observability pod's requests: `cpu_m` millicores, `memory_mib` MiB, per replica or per node."""

    cpu_m: int
    memory_mib: int
    per_node: bool = False

    def requests(self) -> dict[str, str]:
        return {"cpu": f"{self.cpu_m}m", "memory": f"{self.memory_mib}Mi"}

    def limits(self) -> dict[str, str]:
        # Memory is not compressible: a limit twice the request keeps a leak from taking the
        # node. CPU is left unlimited (throttling a Prometheus mid-compaction helps no one).
        return {"memory": f"{self.memory_mib * 2}Mi"}


def prometheus_memory_mib(metrics: MetricsConfig) -> int:
    series = metrics.samples_per_second * SCRAPE_INTERVAL_SECONDS
    return max(768, math.ceil(series * BYTES_PER_SERIES / 2**20))


# The requests every chart's values set (Prometheus's memory follows its ingest, below).
WORKLOADS: Mapping[str, Workload] = {
    "alertmanager": Workload(50, 64),
    "operator": Workload(100, 128),
    "kube-state-metrics": Workload(50, 128),
    "node-exporter": Workload(50, 64, per_node=True),
    "thanos-sidecar": Workload(50, 128),
    "thanos-query": Workload(100, 256),
    "thanos-store": Workload(100, 512),
    "thanos-compact": Workload(100, 512),
    "loki": Workload(200, 512),
    "alloy": Workload(100, 192, per_node=True),
    "tempo": Workload(200, 512),
    "grafana": Workload(100, 256),
    "grafana-sidecar": Workload(50, 64),
}


def workloads_of(role: str) -> Workload:
    return WORKLOADS[role]


def prometheus_workload(metrics: MetricsConfig) -> Workload:
    return Workload(250, prometheus_memory_mib(metrics))


def workloads(obs: ObservabilityConfig) -> dict[str, Workload]:
    """Every observability pod this config runs, by role."""
    roles: list[str] = []
    out: dict[str, Workload] = {}
    if obs.metrics.enabled:
        out["prometheus"] = prometheus_workload(obs.metrics)
        roles += ["alertmanager", "operator", "kube-state-metrics", "node-exporter"]
        if obs.metrics.long_term_days:
            roles += ["thanos-sidecar", "thanos-query", "thanos-store", "thanos-compact"]
    if obs.logs.enabled:
        roles += ["loki", "alloy"]
    if obs.traces.enabled:
        roles += ["tempo"]
    if obs.grafana:
        roles += ["grafana", "grafana-sidecar"]
    out.update({role: WORKLOADS[role] for role in roles})
    return out


# vCPUs and GiB of the instance types the catalogue prices (EC2 User Guide, instance types).
INSTANCE_CAPACITY: Mapping[str, tuple[int, int]] = {
    "t3.small": (2, 2),
    "t3.medium": (2, 4),
    "t3.large": (2, 8),
    "m5.large": (2, 8),
    "m5.xlarge": (4, 16),
    "m6i.large": (2, 8),
    "m7i.large": (2, 8),
    "t4g.medium": (2, 4),
    "m6g.large": (2, 8),
    "m7g.large": (2, 8),
}
# Observability may take at most this share of the CPU and memory of the nodes the stack
# always runs (every group at min_size): the rest is the app's, the system pods' and EKS's
# reserve (kubelet, eviction threshold).
MAX_NODE_SHARE = 0.5


def always_on_nodes(c: StackConfig) -> list[tuple[str, int]]:
    """(instance type, count) of the nodes every group keeps at min_size (first instance type)."""
    return [(g.instance_types[0], g.min_size) for g in c.cluster.node_groups if g.min_size and not g.taints]


def requested(obs: ObservabilityConfig, nodes: int) -> tuple[int, int]:
    """Total (millicores, MiB) the observability pods request on a cluster of `nodes` nodes."""
    cpu = mem = 0
    for w in workloads(obs).values():
        n = nodes if w.per_node else 1
        cpu += w.cpu_m * n
        mem += w.memory_mib * n
    return cpu, mem


def node_share(c: StackConfig) -> tuple[float, float] | None:
    """The share (CPU, memory) of the always-on nodes' capacity observability requests, or
    None when there is no always-on untainted node (or its type's capacity is not known)."""
    nodes = always_on_nodes(c)
    count = sum(n for _, n in nodes)
    if not count or any(t not in INSTANCE_CAPACITY for t, _ in nodes):
        return None
    cpu_m = sum(INSTANCE_CAPACITY[t][0] * 1000 * n for t, n in nodes)
    mem_mib = sum(INSTANCE_CAPACITY[t][1] * 1024 * n for t, n in nodes)
    want_cpu, want_mem = requested(c.observability, count)
    return want_cpu / cpu_m, want_mem / mem_mib


def capacity_problem(c: StackConfig) -> str | None:
    """Why the observability pods do not fit the nodes the stack always runs, or None."""
    if not workloads(c.observability):
        return None
    share = node_share(c)
    if share is None:
        return None
    cpu, mem = share
    if max(cpu, mem) > MAX_NODE_SHARE:
        want_cpu, want_mem = requested(c.observability, sum(n for _, n in always_on_nodes(c)))
        return (
            f"the observability pods request {want_cpu}m CPU and {want_mem}Mi memory, {cpu:.0%} / {mem:.0%} of the nodes at min_size "
            f"(at most {MAX_NODE_SHARE:.0%}); raise cluster.node_groups[].min_size or turn a backend off"
        )
    return None


# ---------------------------------------------------------------------------- sizes


def prometheus_volume_gb(metrics: MetricsConfig) -> int:
    """Prometheus's gp3 volume: retention x ingest x 2 bytes, a quarter more, 10 GB at least."""
    raw = metrics.retention_days * 86400 * metrics.samples_per_second * BYTES_PER_SAMPLE / 1e9
    return max(MIN_VOLUME_GB, math.ceil(raw * VOLUME_HEADROOM))


def prometheus_retention_size(metrics: MetricsConfig) -> str:
    """Prometheus's size-based retention (retentionSize): deletes old blocks before the volume fills."""
    return f"{math.floor(prometheus_volume_gb(metrics) * RETENTION_SIZE_SHARE)}GB"


def long_term_gb(metrics: MetricsConfig) -> float:
    """The long-term bucket at steady state: long_term_days of samples, with the downsampled copies."""
    raw = metrics.long_term_days * 86400 * metrics.samples_per_second * BYTES_PER_SAMPLE / 1e9
    return round(raw * LONG_TERM_DOWNSAMPLE_OVERHEAD, 1)


def bucket_name(name: str, purpose: str, account_id: str, region: str) -> str:
    """A telemetry bucket (`logs`, `traces`, `metrics`): S3 names are global, so the
    account and region make it the environment's own."""
    return f"{name}-{purpose}-{account_id}-{region}"


def buckets(obs: ObservabilityConfig) -> dict[str, int]:
    """The telemetry buckets this config creates, purpose -> days its objects are kept."""
    out: dict[str, int] = {}
    if obs.metrics.enabled and obs.metrics.long_term_days:
        out["metrics"] = obs.metrics.long_term_days
    if obs.logs.enabled:
        out["logs"] = obs.logs.retention_days
    if obs.traces.enabled:
        out["traces"] = obs.traces.retention_days
    return out


# ---------------------------------------------------------------------------- alerting


def secret_file(destination: str) -> str:
    return f"/etc/alertmanager/secrets/{DESTINATIONS_SECRET}/{SECRET_FILES[destination]}"


def alertmanager_config(alerts: AlertsConfig, environment: str) -> dict[str, Any]:
    """Alertmanager's configuration: one route per destination and severity, the credentials
    read from the mounted Secret's files. With no destination everything goes to `null`."""
    receivers: list[dict[str, Any]] = [{"name": NULL_RECEIVER}]
    routes: list[dict[str, Any]] = [
        # Always firing, by design: it proves the pipeline works; it must not page anyone.
        {"receiver": NULL_RECEIVER, "matchers": ['alertname = "Watchdog"']},
        # kube-prometheus-stack's "info" severity and InfoInhibitor are for dashboards only.
        {"receiver": NULL_RECEIVER, "matchers": ['alertname = "InfoInhibitor"']},
    ]
    if alerts.enabled and alerts.pagerduty is not None:
        receivers.append(
            {
                "name": "pagerduty",
                "pagerduty_configs": [
                    {
                        "routing_key_file": secret_file("pagerduty"),
                        "send_resolved": True,
                        "severity": '{{ if eq .CommonLabels.severity "critical" }}critical{{ else }}warning{{ end }}',
                        "description": "[" + environment + "] {{ .CommonLabels.alertname }}: {{ .CommonAnnotations.summary }}",
                    }
                ],
            }
        )
        routes.append({"receiver": "pagerduty", "matchers": [_severity_matcher(alerts.pagerduty.severities)], "continue": True})
    if alerts.enabled and alerts.slack is not None:
        receivers.append(
            {
                "name": "slack",
                "slack_configs": [
                    {
                        "api_url_file": secret_file("slack"),
                        "channel": alerts.slack.channel,
                        "send_resolved": True,
                        "title": "[" + environment + "] {{ .Status | toUpper }} {{ .CommonLabels.alertname }}",
                        "text": "{{ range .Alerts }}{{ .Annotations.summary }}\n{{ end }}",
                    }
                ],
            }
        )
        routes.append({"receiver": "slack", "matchers": [_severity_matcher(alerts.slack.severities)], "continue": True})
    return {
        "global": {"resolve_timeout": "5m"},
        "route": {
            "receiver": NULL_RECEIVER,
            "group_by": ["alertname", "namespace"],
            "group_wait": "30s",
            "group_interval": "5m",
            "repeat_interval": "4h",
            "routes": routes,
        },
        # A critical alert silences the warning of the same problem.
        "inhibit_rules": [
            {"source_matchers": ['severity = "critical"'], "target_matchers": ['severity = "warning"'], "equal": ["alertname", "namespace"]},
        ],
        "receivers": receivers,
    }


def _severity_matcher(severities: Sequence[str]) -> str:
    ordered = sorted(set(severities))
    return f'severity = "{ordered[0]}"' if len(ordered) == 1 else f'severity =~ "{"|".join(ordered)}"'


# The anonymized copy's CronJobs (infra/components/data_copy.py), by side, and their Jobs: the
# CronJobs' and the on-demand ones (`kubectl create job --from=cronjob/data-copy data-copy-manual-...`).
DATA_COPY_CRON_JOBS = {"source": "data-copy", "target": "data-restore"}
DATA_COPY_JOBS = 'namespace="platform-db", job_name=~"data-(copy|restore)-.+"'
# Past the longest wait between two runs and the run's deadline: a daylight-saving hour and the
# CronJob's startingDeadlineSeconds (an hour) of lateness.
DATA_COPY_LATENESS_HOURS = 2


def data_copy_overdue_hours(data_copy: DataCopyConfig) -> int:
    """Hours without a successful run after which DataCopyNotRun fires."""
    gap = cron.longest_gap(data_copy.schedule)
    return math.ceil(gap.total_seconds() / 3600) + data_copy.deadline_hours + DATA_COPY_LATENESS_HOURS


def platform_rules(obs: ObservabilityConfig, data_copy: DataCopyConfig | None = None) -> dict[str, Any]:
    """The platform's own Prometheus rules, beside kube-prometheus-stack's defaults (which
    alert on nodes not ready, pods crash-looping and volumes filling: tests/test_monitoring.py
    holds the vendored chart to those alert names). Ingress errors come from Traefik's metrics.
    With `data_copy`, DataCopyFailed: a copy Job failed (kube-state-metrics). The Jobs run with
    backoffLimit 0, so one failed pod is a failed run; the alert lasts until the failed Job is
    deleted (after a look, or by its TTL, 3 days). DataCopyNotRun: no successful run for longer
    than the schedule's longest gap plus the deadline and an hour or two of lateness."""
    rules: list[dict[str, Any]] = [
        {
            "alert": "IngressHighErrorRate",
            "expr": 'sum(rate(traefik_service_requests_total{code=~"5.."}[5m])) / clamp_min(sum(rate(traefik_service_requests_total[5m])), 1) > 0.05',
            "for": "10m",
            "labels": {"severity": "critical"},
            "annotations": {"summary": "More than 5% of the requests through the ingress fail with a 5xx for 10 minutes."},
        },
        {
            "alert": "IngressHighErrorRate",
            "expr": 'sum(rate(traefik_service_requests_total{code=~"5.."}[5m])) / clamp_min(sum(rate(traefik_service_requests_total[5m])), 1) > 0.01',
            "for": "15m",
            "labels": {"severity": "warning"},
            "annotations": {"summary": "More than 1% of the requests through the ingress fail with a 5xx for 15 minutes."},
        },
    ]
    if obs.metrics.long_term_days:
        rules.append(
            {
                "alert": "ThanosCompactHalted",
                "expr": "max(thanos_compact_halted) > 0",
                "for": "30m",
                "labels": {"severity": "warning"},
                "annotations": {"summary": "The Thanos compactor halted: long-term metrics are no longer compacted or expired."},
            }
        )
    if data_copy is not None:
        side = {"source": "the dump of prod's replica", "target": "the restore into staging (its database is untouched)"}[data_copy.role]
        rules.append(
            {
                "alert": "DataCopyFailed",
                "expr": f"max by (namespace, job_name) (kube_job_status_failed{{{DATA_COPY_JOBS}}}) > 0",
                "labels": {"severity": "warning"},
                "annotations": {
                    "summary": f"The anonymized data copy failed: {side}. Its report and error line: kubectl -n platform-db logs job/<the alert's job_name> (docs/data.md)."
                },
            }
        )
        # A copy that stops running fails no Job: the CronJob suspended, deleted, its image
        # unpullable, its pods never scheduled. kube-state-metrics has no last success until
        # the first one, so a CronJob older than the limit without one fires as well.
        hours = data_copy_overdue_hours(data_copy)
        selector = f'namespace="platform-db", cronjob="{DATA_COPY_CRON_JOBS[data_copy.role]}"'
        rules.append(
            {
                "alert": "DataCopyNotRun",
                "expr": (
                    f"(time() - max by (namespace, cronjob) (kube_cronjob_status_last_successful_time{{{selector}}}) > {hours * 3600})"
                    f" or (time() - max by (namespace, cronjob) (kube_cronjob_created{{{selector}}}) > {hours * 3600}"
                    f" unless on (namespace, cronjob) kube_cronjob_status_last_successful_time{{{selector}}})"
                ),
                "for": "15m",
                "labels": {"severity": "warning"},
                "annotations": {
                    "summary": f"No successful run of {side} for {hours} hours (schedule '{data_copy.schedule}' in {data_copy.timezone}): kubectl -n platform-db get cronjob,jobs (docs/data.md)."
                },
            }
        )
    return {"platform": {"groups": [{"name": "platform.rules", "rules": rules}]}}
