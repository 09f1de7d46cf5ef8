"""The environment's metrics and alert routing: kube-prometheus-stack, and Thanos in S3.

Creates:
- `{name}-monitoring-ns` (namespace `monitoring`, Pod Security `baseline`: the charts' pods
  are non-root, not all of them `restricted`) and `{name}-monitoring-agents-ns`
  (`monitoring-agents`, `privileged`: node exporter and the log shipper read the host), the
  namespaces every observability component uses; always, when anything observes;
With `observability.metrics.enabled`:
- `{name}-alertmanager-destinations`: Secret `alertmanager-destinations`, the Slack webhook
  URL and the PagerDuty routing key of the configured routes (stack secrets). The operator
  mounts it into Alertmanager, whose config names the files: the credentials never appear
  in the Helm values or the release's manifest;
- `{name}-kube-prometheus-stack`: chart kube-prometheus-stack (vendored, with its
  kube-state-metrics and prometheus-node-exporter subcharts): the operator and its CRDs,
  Prometheus on an encrypted gp3 volume sized from `metrics.retention_days`
  (infra/telemetry.py), deleting by size before the volume fills; Alertmanager with the
  routes of `observability.alerts`; node exporter (in `monitoring-agents`) and
  kube-state-metrics; the chart's default rules (nodes not ready, pods crash-looping,
  volumes filling...) without the control-plane groups EKS does not expose (etcd,
  scheduler, controller manager, kube-proxy), and the platform's rules (ingress 5xx rate);
  Grafana is its own component (infra/components/grafana.py), the chart's is off;
  a PodMonitor of Traefik's `metrics` port (the ingress error-rate rule reads it) is part of
  the release's values, so the chart creates it after the operator's CRDs;
With `metrics.long_term_days` (Thanos):
- `{name}-metrics-bucket` and its configuration (private_bucket), objects expired after
  `long_term_days`; `{name}-thanos-role` / `-policy`: the IRSA role of service account
  `monitoring/prometheus`, which the Prometheus pods (their Thanos sidecar uploads each
  2-hour block) and the Thanos pods share, on that bucket only;
- `{name}-thanos-objstore`: Secret `thanos-objstore`, the bucket's client config;
- `{name}-thanos-store` (StatefulSet + `-svc`): the store gateway serving the bucket's blocks;
- `{name}-thanos-compact` (StatefulSet, one replica, with a scratch volume): compaction,
  downsampling to 5m and 1h, and retention: raw for `retention_days`, downsampled for
  `long_term_days`;
- `{name}-thanos-query` (Deployment + `-svc`): one PromQL endpoint over the sidecars and the
  store gateway, Grafana's Prometheus datasource.

Outputs: namespaces, prometheus_url (Grafana's Prometheus datasource: Thanos Query when there
is a long-term store), alertmanager_url, dependencies (what a release in the namespaces waits for).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import yaml

from infra import runtime_config, telemetry
from infra.components._shared import PLATFORM_PRIORITY_CLASS, pinned_release, telemetry_store
from infra.config import DataCopyConfig, ProtectionConfig, ObservabilityConfig
from infra.versions import THANOS_IMAGE

KPS_CHART = "kube-prometheus-stack"
KPS_CHART_VERSION = "88.5.3"  # Prometheus Operator v0.93.1, Prometheus v3.14, Alertmanager v0.34
KPS_REPO = "https://prometheus-community.github.io/helm-charts"
PROMETHEUS_SERVICE_ACCOUNT = "prometheus"
# The default rule groups that alert on EKS's managed control plane, whose metrics EKS does
# not expose (and kube-proxy's, which binds 127.0.0.1): they would only fire TargetDown.
CONTROL_PLANE_RULES = ("etcd", "kubeControllerManager", "kubeSchedulerAlerting", "kubeSchedulerRecording", "kubeProxy")
CONTROL_PLANE_TARGETS = ("kubeControllerManager", "kubeScheduler", "kubeEtcd", "kubeProxy")
THANOS_UID = 65534
THANOS_GRPC, THANOS_HTTP = 10901, 10902


@dataclass(frozen=True)
class MonitoringArgs:
    config: ObservabilityConfig
    environment: str
    region: str
    account_id: str
    kms_key_arn: pulumi.Input[str]
    oidc_provider_arn: pulumi.Input[str]
    oidc_provider_url: pulumi.Input[str]
    storage_class: str
    # The stack's protection: a protected stack protects (and retains) the bucket, so no
    # `pulumi destroy` or refactor deletes a year of telemetry.
    protection: ProtectionConfig = ProtectionConfig()
    # Secret Outputs from the stack config, for the configured routes only.
    slack_webhook_url: pulumi.Input[str] | None = None
    pagerduty_routing_key: pulumi.Input[str] | None = None
    # Traefik's namespace and pod labels (infra/components/edge.py): the PodMonitor's target.
    ingress_namespace: str = "traefik"
    ingress_selector: Mapping[str, str] | None = None
    workload_dependencies: Sequence[pulumi.Resource] = ()
    # The anonymized copy's side in this stack (platform:data_copy): its DataCopyFailed rule.
    data_copy: DataCopyConfig | None = None


class Monitoring(pulumi.ComponentResource):
    namespaces: list[str]
    prometheus_url: str | None
    alertmanager_url: str | None
    dependencies: list[pulumi.Resource]

    def __init__(self, name: str, args: MonitoringArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("platform:monitoring:Monitoring", name, None, opts)
        # validate
        obs = args.config
        if not obs.grafana:
            raise ValueError("Monitoring is built only when metrics, logs or traces are on")
        alerts = obs.alerts
        for destination, value in (("slack", args.slack_webhook_url), ("pagerduty", args.pagerduty_routing_key)):
            if alerts.enabled and destination in alerts.destinations and value is None:
                raise ValueError(f"alerts.{destination} is configured without its secret")

        # derive
        child = pulumi.ResourceOptions(parent=self)
        metrics = obs.metrics
        long_term = metrics.enabled and metrics.long_term_days > 0

        # children: the namespaces
        monitoring_ns = k8s.core.v1.Namespace(
            f"{name}-monitoring-ns",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=telemetry.NAMESPACE, labels=_labels("baseline")),
            opts=child,
        )
        agents_ns = k8s.core.v1.Namespace(
            f"{name}-monitoring-agents-ns",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=telemetry.AGENTS_NAMESPACE, labels=_labels("privileged")),
            opts=child,
        )
        after = [*args.workload_dependencies, monitoring_ns, agents_ns]
        self.dependencies = after
        self.namespaces = [telemetry.NAMESPACE, telemetry.AGENTS_NAMESPACE]
        self.prometheus_url = None
        self.alertmanager_url = None
        if not metrics.enabled:
            self.register_outputs({"namespaces": self.namespaces})
            return

        # children: Alertmanager's credentials
        secret_values = {
            telemetry.SECRET_FILES[d]: v
            for d, v in (("slack", args.slack_webhook_url), ("pagerduty", args.pagerduty_routing_key))
            if v is not None and alerts.enabled and d in alerts.destinations
        }
        destinations = k8s.core.v1.Secret(
            f"{name}-alertmanager-destinations",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=telemetry.DESTINATIONS_SECRET, namespace=telemetry.NAMESPACE, labels={"app.kubernetes.io/managed-by": "pulumi"}),
            string_data={k: pulumi.Output.secret(v) for k, v in secret_values.items()},
            type="Opaque",
            opts=pulumi.ResourceOptions(parent=self, depends_on=[monitoring_ns]),
        )

        # children: the long-term store
        thanos_role = None
        waits: list[pulumi.Resource] = [destinations]
        if long_term:
            bucket_name = telemetry.bucket_name(name, "metrics", args.account_id, args.region)
            store, thanos_role, grant = telemetry_store(
                self, name, "metrics", "thanos", account_id=args.account_id, region=args.region, kms_key_arn=args.kms_key_arn, expire_days=metrics.long_term_days,
                protection=args.protection, oidc_provider_arn=args.oidc_provider_arn, oidc_provider_url=args.oidc_provider_url, service_account=PROMETHEUS_SERVICE_ACCOUNT,
            )  # fmt: skip
            objstore = k8s.core.v1.Secret(
                f"{name}-thanos-objstore",
                metadata=k8s.meta.v1.ObjectMetaArgs(name="thanos-objstore", namespace=telemetry.NAMESPACE, labels={"app.kubernetes.io/managed-by": "pulumi"}),
                string_data={"objstore.yml": thanos_objstore(bucket_name, args.region)},
                opts=pulumi.ResourceOptions(parent=self, depends_on=[monitoring_ns]),
            )
            waits += [*store.ready, grant, objstore]

        # children: the release
        kps = pinned_release(
            f"{name}-kube-prometheus-stack",
            release="kube-prometheus-stack",
            chart=KPS_CHART,
            version=KPS_CHART_VERSION,
            repo=KPS_REPO,
            namespace=telemetry.NAMESPACE,
            values=kps_values(
                obs, args.environment, args.storage_class, thanos_role.arn if thanos_role is not None else None,
                ingress_namespace=args.ingress_namespace, ingress_selector=args.ingress_selector, data_copy=args.data_copy,
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*after, *waits]),
        )
        if long_term:
            self._thanos(name, metrics, after=[kps])

        # outputs
        self.prometheus_url = telemetry.THANOS_QUERY_URL if long_term else telemetry.PROMETHEUS_URL
        self.alertmanager_url = telemetry.ALERTMANAGER_URL
        self.register_outputs({"namespaces": self.namespaces, "prometheus_url": self.prometheus_url, "alertmanager_url": self.alertmanager_url, "release": kps.name})

    def _thanos(self, name: str, metrics: Any, after: Sequence[pulumi.Resource]) -> None:
        opts = pulumi.ResourceOptions(parent=self, depends_on=list(after))
        objstore_volume = k8s.core.v1.VolumeArgs(name="objstore", secret=k8s.core.v1.SecretVolumeSourceArgs(secret_name="thanos-objstore"))
        objstore_mount = k8s.core.v1.VolumeMountArgs(name="objstore", mount_path="/etc/thanos", read_only=True)
        data_mount = k8s.core.v1.VolumeMountArgs(name="data", mount_path="/var/thanos")
        long_days = f"{metrics.long_term_days}d"

        def pod(role: str, args: list[str], *, volumes: list[k8s.core.v1.VolumeArgs], mounts: list[k8s.core.v1.VolumeMountArgs]) -> k8s.core.v1.PodTemplateSpecArgs:
            w = telemetry.workloads_of(f"thanos-{role}")
            return k8s.core.v1.PodTemplateSpecArgs(
                metadata=k8s.meta.v1.ObjectMetaArgs(labels=_thanos_labels(role)),
                spec=k8s.core.v1.PodSpecArgs(
                    service_account_name=PROMETHEUS_SERVICE_ACCOUNT,
                    priority_class_name=PLATFORM_PRIORITY_CLASS,
                    security_context=k8s.core.v1.PodSecurityContextArgs(
                        run_as_non_root=True, run_as_user=THANOS_UID, run_as_group=THANOS_UID, fs_group=THANOS_UID,
                        seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
                    ),
                    containers=[
                        k8s.core.v1.ContainerArgs(
                            name=f"thanos-{role}",
                            image=THANOS_IMAGE,
                            args=args,
                            ports=[
                                k8s.core.v1.ContainerPortArgs(name="grpc", container_port=THANOS_GRPC),
                                k8s.core.v1.ContainerPortArgs(name="http", container_port=THANOS_HTTP),
                            ],
                            readiness_probe=k8s.core.v1.ProbeArgs(http_get=k8s.core.v1.HTTPGetActionArgs(path="/-/ready", port="http")),
                            liveness_probe=k8s.core.v1.ProbeArgs(http_get=k8s.core.v1.HTTPGetActionArgs(path="/-/healthy", port="http"), period_seconds=30),
                            resources=k8s.core.v1.ResourceRequirementsArgs(requests=w.requests(), limits=w.limits()),
                            security_context=k8s.core.v1.SecurityContextArgs(
                                allow_privilege_escalation=False, read_only_root_filesystem=True, capabilities=k8s.core.v1.CapabilitiesArgs(drop=["ALL"])
                            ),
                            volume_mounts=mounts,
                        )
                    ],
                    volumes=volumes,
                ),
            )

        def claim(gb: int) -> k8s.core.v1.PersistentVolumeClaimArgs:
            return k8s.core.v1.PersistentVolumeClaimArgs(
                metadata=k8s.meta.v1.ObjectMetaArgs(name="data"),
                spec=k8s.core.v1.PersistentVolumeClaimSpecArgs(access_modes=["ReadWriteOnce"], resources=k8s.core.v1.VolumeResourceRequirementsArgs(requests={"storage": f"{gb}Gi"})),
            )

        meta = lambda role: k8s.meta.v1.ObjectMetaArgs(name=f"thanos-{role}", namespace=telemetry.NAMESPACE, labels=_thanos_labels(role))  # noqa: E731
        common = ["--log.level=info", f"--http-address=0.0.0.0:{THANOS_HTTP}"]
        k8s.apps.v1.StatefulSet(
            f"{name}-thanos-store",
            metadata=meta("store"),
            spec=k8s.apps.v1.StatefulSetSpecArgs(
                service_name="thanos-store",
                replicas=1,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=_thanos_labels("store")),
                template=pod(
                    "store",
                    ["store", *common, f"--grpc-address=0.0.0.0:{THANOS_GRPC}", "--data-dir=/var/thanos/store", "--objstore.config-file=/etc/thanos/objstore.yml"],
                    # Index headers rebuilt from the bucket on start: scratch space, not state.
                    volumes=[objstore_volume, k8s.core.v1.VolumeArgs(name="data", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(size_limit="10Gi"))],
                    mounts=[objstore_mount, data_mount],
                ),
            ),
            opts=opts,
        )
        k8s.core.v1.Service(
            f"{name}-thanos-store-svc",
            metadata=meta("store"),
            # Headless: Thanos Query finds the gateway's pods through DNS SRV records.
            spec=k8s.core.v1.ServiceSpecArgs(cluster_ip="None", selector=_thanos_labels("store"), ports=[k8s.core.v1.ServicePortArgs(name="grpc", port=THANOS_GRPC, target_port="grpc")]),
            opts=opts,
        )
        k8s.apps.v1.StatefulSet(
            f"{name}-thanos-compact",
            metadata=meta("compact"),
            spec=k8s.apps.v1.StatefulSetSpecArgs(
                service_name="thanos-compact",
                # Never two: concurrent compactors on one bucket corrupt it (Thanos docs, "Compactor").
                replicas=1,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=_thanos_labels("compact")),
                template=pod(
                    "compact",
                    [
                        "compact",
                        *common,
                        "--wait",
                        "--data-dir=/var/thanos/compact",
                        "--objstore.config-file=/etc/thanos/objstore.yml",
                        # Raw samples as long as Prometheus keeps them; the 5m and 1h
                        # downsampled copies as long as the long-term store.
                        f"--retention.resolution-raw={metrics.retention_days}d",
                        f"--retention.resolution-5m={long_days}",
                        f"--retention.resolution-1h={long_days}",
                        "--delete-delay=48h",
                    ],
                    volumes=[objstore_volume],
                    mounts=[objstore_mount, data_mount],
                ),
                volume_claim_templates=[claim(telemetry.THANOS_COMPACT_VOLUME_GB)],
            ),
            opts=opts,
        )
        k8s.apps.v1.Deployment(
            f"{name}-thanos-query",
            metadata=meta("query"),
            spec=k8s.apps.v1.DeploymentSpecArgs(
                replicas=1,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=_thanos_labels("query")),
                template=pod(
                    "query",
                    [
                        "query",
                        "--log.level=info",
                        # Its HTTP API on the container's `http` port, which the probes read;
                        # the Service below answers on 9090, as a Prometheus does (Grafana's URL).
                        f"--http-address=0.0.0.0:{THANOS_HTTP}",
                        f"--grpc-address=0.0.0.0:{THANOS_GRPC}",
                        f"--endpoint={telemetry.THANOS_SIDECAR_SRV}",
                        f"--endpoint={telemetry.THANOS_STORE_ADDRESS}",
                        # The sidecars' replica label: one series per target, not per replica.
                        "--query.replica-label=prometheus_replica",
                    ],
                    volumes=[],
                    mounts=[],
                ),
            ),
            opts=opts,
        )
        k8s.core.v1.Service(
            f"{name}-thanos-query-svc",
            metadata=meta("query"),
            spec=k8s.core.v1.ServiceSpecArgs(selector=_thanos_labels("query"), ports=[k8s.core.v1.ServicePortArgs(name="http", port=9090, target_port="http")]),
            opts=opts,
        )


def _labels(level: str) -> dict[str, str]:
    return runtime_config.pod_security_labels(level)


def _thanos_labels(role: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": "thanos", "app.kubernetes.io/component": role, "app.kubernetes.io/managed-by": "pulumi"}


def thanos_objstore(bucket: str, region: str) -> str:
    """Thanos's S3 client config: the bucket in the stack's region, credentials from the
    pod's web identity (IRSA); the bucket's default encryption applies SSE-KMS."""
    return yaml.safe_dump({"type": "S3", "config": {"bucket": bucket, "endpoint": f"s3.{region}.amazonaws.com", "region": region}}, sort_keys=False)


def kps_values(
    obs: ObservabilityConfig,
    environment: str,
    storage_class: str,
    thanos_role_arn: pulumi.Input[str] | None,
    *,
    ingress_namespace: str = "traefik",
    ingress_selector: Mapping[str, str] | None = None,
    data_copy: DataCopyConfig | None = None,
) -> dict[str, Any]:
    """kube-prometheus-stack's values for this config (the chart's key paths, values.yaml 88.5.3)."""
    metrics = obs.metrics
    prometheus = telemetry.prometheus_workload(metrics)

    def res(role: str) -> dict[str, Any]:
        w = telemetry.workloads_of(role)
        return {"requests": w.requests(), "limits": w.limits()}

    spec: dict[str, Any] = {
        "retention": f"{metrics.retention_days}d",
        "retentionSize": telemetry.prometheus_retention_size(metrics),
        "resources": {"requests": prometheus.requests(), "limits": prometheus.limits()},
        "priorityClassName": PLATFORM_PRIORITY_CLASS,
        "externalLabels": {"environment": environment},
        # Every ServiceMonitor, PodMonitor and rule of the cluster, not only the chart's.
        "serviceMonitorSelectorNilUsesHelmValues": False,
        "podMonitorSelectorNilUsesHelmValues": False,
        "ruleSelectorNilUsesHelmValues": False,
        "storageSpec": {
            "volumeClaimTemplate": {
                "spec": {
                    "storageClassName": storage_class,
                    "accessModes": ["ReadWriteOnce"],
                    "resources": {"requests": {"storage": f"{telemetry.prometheus_volume_gb(metrics)}Gi"}},
                }
            }
        },
    }
    prometheus_values: dict[str, Any] = {
        "serviceAccount": {"create": True, "name": PROMETHEUS_SERVICE_ACCOUNT},
        "prometheusSpec": spec,
        # Traefik's `metrics` port, which the ingress error-rate rule reads. Rendered by the
        # chart (templates/prometheus/podmonitors.yaml) after its own CRDs: a
        # PodMonitor of the program's would be previewed before the kind exists on a new
        # cluster (pulumi/pulumi-kubernetes#3247, a CR whose CRD a Helm release installs).
        "additionalPodMonitors": [
            {
                "name": "traefik",
                "namespaceSelector": {"matchNames": [ingress_namespace]},
                "selector": {"matchLabels": dict(ingress_selector or {"app.kubernetes.io/name": "traefik"})},
                "podMetricsEndpoints": [{"port": "metrics", "path": "/metrics"}],
            }
        ],
    }
    if metrics.long_term_days:
        prometheus_values["serviceAccount"]["annotations"] = {"eks.amazonaws.com/role-arn": thanos_role_arn}
        spec["thanos"] = {
            "objectStorageConfig": {"existingSecret": {"name": "thanos-objstore", "key": "objstore.yml"}},
            "resources": res("thanos-sidecar"),
        }
        # The sidecars' gRPC StoreAPI as a headless Service, for Thanos Query.
        prometheus_values["thanosService"] = {"enabled": True}
    return {
        "fullnameOverride": telemetry.KPS_NAME,
        "crds": {"enabled": True},
        "defaultRules": {"create": True, "rules": {group: False for group in CONTROL_PLANE_RULES}},
        "additionalPrometheusRulesMap": telemetry.platform_rules(obs, data_copy),
        **{target: {"enabled": False} for target in CONTROL_PLANE_TARGETS},
        # Grafana is its own release (infra/components/grafana.py); the chart's dashboards
        # of the cluster still ship as ConfigMaps its sidecar loads.
        "grafana": {"enabled": False, "forceDeployDashboards": True, "forceDeployDatasources": False},
        "alertmanager": {
            "config": telemetry.alertmanager_config(obs.alerts, environment),
            "alertmanagerSpec": {
                "secrets": [telemetry.DESTINATIONS_SECRET],
                "resources": res("alertmanager"),
                "priorityClassName": PLATFORM_PRIORITY_CLASS,
            },
        },
        "prometheusOperator": {"resources": res("operator"), "priorityClassName": PLATFORM_PRIORITY_CLASS},
        "prometheus": prometheus_values,
        "kube-state-metrics": {"resources": res("kube-state-metrics")},
        "prometheus-node-exporter": {"namespaceOverride": telemetry.AGENTS_NAMESPACE, "resources": res("node-exporter")},
    }
