"""The environment's logs: Loki on S3, and Grafana Alloy on every node shipping them.

Creates (only with `observability.logs.enabled`):
- `{name}-logs-bucket` and its configuration (infra/components/_shared.py private_bucket):
  `<name>-logs-<account>-<region>`, SSE-KMS, every public access block, TLS only, objects
  expired `logs.retention_days` after they were written (the compactor deletes first);
- `{name}-loki-role` / `-policy`: Loki's IRSA role (`monitoring/loki`), read, write and
  delete on that bucket only, and the key through S3;
- `{name}-loki`: chart loki (grafana-community, vendored under infra/charts, which carries a
  values.schema.json), one monolithic replica: chunks, index (TSDB, schema v13, 24h tables)
  and ruler in the bucket; the compactor enforces `retention_period`; no gateway, caches,
  canary or multi-tenancy (a single cluster's logs, `auth_enabled: false`), on an
  encrypted gp3 volume for its WAL;
- `{name}-alloy`: chart alloy, a DaemonSet in `monitoring-agents` (Pod Security
  `privileged`: it reads the host's /var/log/pods as root) tailing every container's log
  on its node and, clustered so that one pod does it, the Kubernetes events.

Outputs: loki_url (what Grafana reads), bucket_name.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi

from infra import telemetry
from infra.components._shared import PLATFORM_PRIORITY_CLASS, pinned_release, telemetry_store
from infra.config import ProtectionConfig, LogsConfig

LOKI_CHART = "loki"
LOKI_CHART_VERSION = "18.11.0"  # Loki 3.7.6
# Since 2026-03 the open-source Loki chart is published here; grafana/loki 7.x in Grafana's
# own repository is Grafana Enterprise Logs only (grafana/loki#20705).
LOKI_REPO = "https://grafana-community.github.io/helm-charts"
ALLOY_CHART = "alloy"
ALLOY_CHART_VERSION = "1.11.1"  # Alloy v1.18.1
ALLOY_REPO = "https://grafana.github.io/helm-charts"
LOKI_SERVICE_ACCOUNT = "loki"
# Loki's schema starts here: a period entry is never edited once data exists (Loki docs,
# "Schema config"); a new schema is a new entry with a later date.
SCHEMA_FROM = "2026-01-01"


def alloy_config(push_url: str) -> str:
    """The Alloy pipeline: this node's pods' container logs (CRI format, labelled by namespace,
    pod and container) and the cluster's events, to Loki. The chart passes it through `tpl`:
    no `{{` in it."""
    return f"""// Container logs of the pods on this node (the chart sets HOSTNAME to spec.nodeName).
discovery.kubernetes "pods" {{
  role = "pod"
  selectors {{
    role  = "pod"
    field = "spec.nodeName=" + sys.env("HOSTNAME")
  }}
}}

discovery.relabel "pods" {{
  targets = discovery.kubernetes.pods.targets
  rule {{
    source_labels = ["__meta_kubernetes_namespace"]
    target_label  = "namespace"
  }}
  rule {{
    source_labels = ["__meta_kubernetes_pod_name"]
    target_label  = "pod"
  }}
  rule {{
    source_labels = ["__meta_kubernetes_pod_container_name"]
    target_label  = "container"
  }}
  rule {{
    source_labels = ["__meta_kubernetes_pod_uid", "__meta_kubernetes_pod_container_name"]
    separator     = "/"
    target_label  = "__path__"
    replacement   = "/var/log/pods/*$1/*.log"
  }}
}}

local.file_match "pods" {{
  path_targets = discovery.relabel.pods.output
}}

loki.source.file "pods" {{
  targets    = local.file_match.pods.targets
  forward_to = [loki.process.cri.receiver]
}}

loki.process "cri" {{
  stage.cri {{}}
  forward_to = [loki.write.default.receiver]
}}

// Kubernetes events, once for the cluster: the clustered pods share the work.
loki.source.kubernetes_events "events" {{
  job_name   = "integrations/kubernetes/eventhandler"
  forward_to = [loki.write.default.receiver]
  clustering {{
    enabled = true
  }}
}}

loki.write "default" {{
  endpoint {{
    url = "{push_url}"
  }}
}}
"""


@dataclass(frozen=True)
class LogsArgs:
    config: LogsConfig
    region: str
    account_id: str
    kms_key_arn: pulumi.Input[str]
    oidc_provider_arn: pulumi.Input[str]
    oidc_provider_url: pulumi.Input[str]
    # The StorageClass of Loki's volume (Addons.storage_class_name: gp3, encrypted).
    storage_class: str
    # The stack's protection: a protected stack protects (and retains) the bucket, so no
    # `pulumi destroy` or refactor deletes a year of telemetry.
    protection: ProtectionConfig = ProtectionConfig()
    # Nodes, CoreDNS, the priority class and the monitoring namespaces (Monitoring.namespaces).
    workload_dependencies: Sequence[pulumi.Resource] = ()


class Logs(pulumi.ComponentResource):
    loki_url: str
    bucket_name: pulumi.Output[str]

    def __init__(self, name: str, args: LogsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("platform:logs:Logs", name, None, opts)
        # validate
        cfg = args.config
        if not cfg.enabled:
            raise ValueError("Logs is built only with observability.logs.enabled")

        # derive
        bucket_name = telemetry.bucket_name(name, "logs", args.account_id, args.region)

        # children: the bucket and Loki's access to it
        store, role, grant = telemetry_store(
            self, name, "logs", "loki", account_id=args.account_id, region=args.region, kms_key_arn=args.kms_key_arn, expire_days=cfg.retention_days,
            protection=args.protection, oidc_provider_arn=args.oidc_provider_arn, oidc_provider_url=args.oidc_provider_url, service_account=LOKI_SERVICE_ACCOUNT,
        )  # fmt: skip

        # children: the releases
        after = [*args.workload_dependencies]
        loki = pinned_release(
            f"{name}-loki",
            release="loki",
            chart=LOKI_CHART,
            version=LOKI_CHART_VERSION,
            repo=LOKI_REPO,
            namespace=telemetry.NAMESPACE,
            values=self._loki_values(args, bucket_name, role.arn),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*after, *store.ready, grant]),
        )
        alloy = pinned_release(
            f"{name}-alloy",
            release="alloy",
            chart=ALLOY_CHART,
            version=ALLOY_CHART_VERSION,
            repo=ALLOY_REPO,
            namespace=telemetry.AGENTS_NAMESPACE,
            values=self._alloy_values(),
            # Shipping before Loki answers only fills the agents' retry buffers.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*after, loki]),
        )

        # outputs
        self.loki_url = telemetry.LOKI_URL
        self.bucket_name = store.bucket.bucket
        self.register_outputs({"loki_url": self.loki_url, "bucket_name": self.bucket_name, "releases": [loki.name, alloy.name]})

    @staticmethod
    def _loki_values(args: LogsArgs, bucket_name: str, role_arn: pulumi.Output[str]) -> dict[str, Any]:
        loki = telemetry.workloads_of("loki")
        return {
            "fullnameOverride": "loki",
            # Monolithic: one process runs every target (SingleBinary is its deprecated alias).
            "deploymentMode": "Monolithic",
            "loki": {
                # One cluster's logs, one tenant: no X-Scope-OrgID on every request.
                "auth_enabled": False,
                "commonConfig": {"replication_factor": 1},
                "schemaConfig": {
                    "configs": [
                        {"from": SCHEMA_FROM, "store": "tsdb", "object_store": "s3", "schema": "v13", "index": {"prefix": "loki_index_", "period": "24h"}}
                    ]
                },
                "storage": {
                    "type": "s3",
                    # The chart requires both while the ruler is on (its default).
                    "bucketNames": {"chunks": bucket_name, "ruler": bucket_name},
                    "s3": {"region": args.region},
                },
                "limits_config": {"retention_period": f"{args.config.retention_days * 24}h"},
                # Loki exits at start without a delete-request store when retention is on
                # (pkg/compactor/config.go: "compactor.delete-request-store should be configured").
                "compactor": {"retention_enabled": True, "delete_request_store": "s3"},
            },
            "serviceAccount": {"create": True, "name": LOKI_SERVICE_ACCOUNT, "annotations": {"eks.amazonaws.com/role-arn": role_arn}},
            "singleBinary": {
                "replicas": 1,
                "persistence": {"enabled": True, "size": f"{args.config.volume_gb}Gi", "storageClass": args.storage_class},
                "resources": {"requests": loki.requests(), "limits": loki.limits()},
                "priorityClassName": PLATFORM_PRIORITY_CLASS,
            },
            # The simple-scalable targets default to 3 replicas each; the chart refuses both modes at once.
            "backend": {"replicas": 0},
            "read": {"replicas": 0},
            "write": {"replicas": 0},
            "gateway": {"enabled": False},
            "chunksCache": {"enabled": False},
            "resultsCache": {"enabled": False},
            "lokiCanary": {"enabled": False},
            # The chart fails its own check with the test on and the canary off.
            "test": {"enabled": False},
        }

    @staticmethod
    def _alloy_values() -> dict[str, Any]:
        alloy = telemetry.workloads_of("alloy")
        return {
            "fullnameOverride": "alloy",
            # Every node, the tainted spot pool's too: its pods' logs are the ones most likely lost.
            "controller": {"type": "daemonset", "priorityClassName": "system-node-critical", "tolerations": [{"operator": "Exists"}]},
            "alloy": {
                "configMap": {"create": True, "content": alloy_config(f"{telemetry.LOKI_URL}/loki/api/v1/push")},
                "mounts": {"varlog": True},
                # The events source splits its work over the clustered pods.
                "clustering": {"enabled": True},
                "resources": {"requests": alloy.requests(), "limits": alloy.limits()},
            },
            "crds": {"create": False},
        }
