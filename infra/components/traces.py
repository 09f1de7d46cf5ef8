"""The environment's traces: Tempo on S3, with the OTLP endpoint the app exports to.

Tempo, not Jaeger v2: it keeps traces in object storage alone (no Elasticsearch or
Cassandra to run and pay for: Jaeger v2's long-lived stores), it is Grafana's native traces
datasource (trace-to-logs with Loki), and it takes OTLP as it comes.

Creates (only with `observability.traces.enabled`):
- `{name}-traces-bucket` and its configuration (infra/components/_shared.py private_bucket):
  `<name>-traces-<account>-<region>`, objects expired `traces.retention_days` after they
  were written (Tempo's compactor deletes blocks first, `block_retention`);
- `{name}-tempo-role` / `-policy`: Tempo's IRSA role (`monitoring/tempo`) on that bucket only;
- `{name}-tempo`: chart tempo (grafana-community; the grafana/helm-charts copy is deprecated),
  one replica, OTLP gRPC 4317 and HTTP 4318, its WAL on an encrypted gp3 volume, hardened to
  Pod Security `restricted` (the chart leaves the container's securityContext empty).

Outputs: query_url (Grafana's), otlp_endpoint (the app's OTEL_EXPORTER_OTLP_ENDPOINT), bucket_name.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi

from infra import telemetry
from infra.components._shared import PLATFORM_PRIORITY_CLASS, pinned_release, telemetry_store
from infra.config import ProtectionConfig, TracesConfig

TEMPO_CHART = "tempo"
TEMPO_CHART_VERSION = "2.2.4"  # Tempo 2.10.8
TEMPO_REPO = "https://grafana-community.github.io/helm-charts"
TEMPO_SERVICE_ACCOUNT = "tempo"


@dataclass(frozen=True)
class TracesArgs:
    config: TracesConfig
    region: str
    account_id: str
    kms_key_arn: pulumi.Input[str]
    oidc_provider_arn: pulumi.Input[str]
    oidc_provider_url: pulumi.Input[str]
    storage_class: str
    # The stack's protection: a protected stack protects (and retains) the bucket, so no
    # `pulumi destroy` or refactor deletes a year of telemetry.
    protection: ProtectionConfig = ProtectionConfig()
    workload_dependencies: Sequence[pulumi.Resource] = ()


class Traces(pulumi.ComponentResource):
    query_url: str
    otlp_endpoint: str
    bucket_name: pulumi.Output[str]

    def __init__(self, name: str, args: TracesArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("platform:traces:Traces", name, None, opts)
        # validate
        if not args.config.enabled:
            raise ValueError("Traces is built only with observability.traces.enabled")

        # derive
        bucket_name = telemetry.bucket_name(name, "traces", args.account_id, args.region)

        # children
        store, role, grant = telemetry_store(
            self, name, "traces", "tempo", account_id=args.account_id, region=args.region, kms_key_arn=args.kms_key_arn, expire_days=args.config.retention_days,
            protection=args.protection, oidc_provider_arn=args.oidc_provider_arn, oidc_provider_url=args.oidc_provider_url, service_account=TEMPO_SERVICE_ACCOUNT,
        )  # fmt: skip
        tempo = pinned_release(
            f"{name}-tempo",
            release="tempo",
            chart=TEMPO_CHART,
            version=TEMPO_CHART_VERSION,
            repo=TEMPO_REPO,
            namespace=telemetry.NAMESPACE,
            values=self._values(args, bucket_name, role.arn),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*args.workload_dependencies, *store.ready, grant]),
        )

        # outputs
        self.query_url = telemetry.TEMPO_QUERY_URL
        self.otlp_endpoint = telemetry.OTLP_HTTP_ENDPOINT
        self.bucket_name = store.bucket.bucket
        self.register_outputs({"query_url": self.query_url, "otlp_endpoint": self.otlp_endpoint, "bucket_name": self.bucket_name, "release": tempo.name})

    @staticmethod
    def _values(args: TracesArgs, bucket_name: str, role_arn: pulumi.Output[str]) -> dict[str, Any]:
        tempo = telemetry.workloads_of("tempo")
        return {
            "fullnameOverride": "tempo",
            "replicas": 1,
            "tempo": {
                # Tempo's compactor deletes blocks older than this (compactor.compaction.block_retention).
                "retention": f"{args.config.retention_days * 24}h",
                "storage": {
                    "trace": {
                        "backend": "s3",
                        # Tempo's S3 client needs the endpoint spelled out (no default).
                        "s3": {"bucket": bucket_name, "endpoint": f"s3.{args.region}.amazonaws.com", "region": args.region},
                    }
                },
                "resources": {"requests": tempo.requests(), "limits": tempo.limits()},
                "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
            },
            "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
            "serviceAccount": {"create": True, "name": TEMPO_SERVICE_ACCOUNT, "annotations": {"eks.amazonaws.com/role-arn": role_arn}},
            # The default StorageClass (gp3, encrypted): the chart reads no class from values.yaml.
            "persistence": {"enabled": True, "size": f"{telemetry.TEMPO_VOLUME_GB}Gi"},
            "priorityClassName": PLATFORM_PRIORITY_CLASS,
        }
