"""The committed stacks' observability, read from their plans (infra/components/monitoring.py,
logs.py, traces.py, grafana.py).

Specified here, per stack:
- the releases: dev Loki, Alloy and Grafana; staging and prod kube-prometheus-stack, Loki,
  Alloy, Tempo and Grafana; Thanos (store gateway, compactor, query) in prod only;
- the retention each backend is given: Prometheus's `retention`, `retentionSize` and volume,
  Loki's `limits_config.retention_period`, Tempo's `retention`, the Thanos compactor's
  resolutions, and each bucket's lifecycle (the retention's backstop);
- the buckets: named `<name>-<purpose>-<account>-<region>`, SSE-KMS with the stack's key,
  TLS only; each backend's IRSA role trusts its one service account and reaches its one bucket;
- Alertmanager: staging routes to Slack, prod pages PagerDuty then Slack; the credentials
  Secret is secret in the plan, and no secret placeholder appears anywhere in it;
- Grafana: datasources for what the stack runs (prod's Prometheus is Thanos Query), inside
  only (ClusterIP, no Ingress), its admin from a Secret;
- the namespaces' Pod Security levels;
- doctored values of the new releases: each typo is its one `infra check` line.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from infra import config
from infra.offline.harness import placeholder
from infra.review import charts
from tests.conftest import STACKS, account, plan

RELEASE = "kubernetes:helm.sh/v3:Release"
SECRET = "kubernetes:core/v1:Secret"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
# The releases every stack had before observability (tests/test_charts.py lists them all).
PLATFORM_RELEASES = ("aws-load-balancer-controller", "traefik", "cluster-autoscaler", "metrics-server")
GRAFANA_COMMUNITY = "https://grafana-community.github.io/helm-charts"

# stack -> release -> (chart, version, namespace, repository)
RELEASES: dict[str, dict[str, tuple[str, str, str, str]]] = {
    "dev": {
        "loki": ("loki", "18.11.0", "monitoring", GRAFANA_COMMUNITY),
        "alloy": ("alloy", "1.11.1", "monitoring-agents", "https://grafana.github.io/helm-charts"),
        "grafana": ("grafana", "12.11.1", "monitoring", GRAFANA_COMMUNITY),
    },
}
RELEASES["staging"] = RELEASES["prod"] = {
    "kube-prometheus-stack": ("kube-prometheus-stack", "88.5.3", "monitoring", "https://prometheus-community.github.io/helm-charts"),
    **RELEASES["dev"],
    "tempo": ("tempo", "2.2.4", "monitoring", GRAFANA_COMMUNITY),
}


def values(stack: str, release: str, **overrides: Any) -> dict[str, Any]:
    return plan(stack, **overrides).named(RELEASE, f"::platform-{stack}-{release}")["inputs"]["values"]


def resource(stack: str, token: str, name: str, **overrides: Any) -> dict[str, Any]:
    return plan(stack, **overrides).named(token, f"::platform-{stack}-{name}")


def names(stack: str, token: str, **overrides: Any) -> list[str]:
    return sorted(s["urn"].rsplit("::", 1)[1] for s in plan(stack, **overrides).of_type(token))


# ---------------------------------------------------------------------------- what runs


def test_the_observability_releases_per_stack(stack):
    platform = {f"platform-{stack}-{r}" for r in PLATFORM_RELEASES}
    releases = {s["urn"].rsplit("::", 1)[1]: s["inputs"] for s in plan(stack).of_type(RELEASE) if s["urn"].rsplit("::", 1)[1] not in platform}
    assert {name: (i["chart"], i["version"], i["namespace"], i["repositoryOpts"]["repo"]) for name, i in releases.items()} == {
        f"platform-{stack}-{r}": want for r, want in RELEASES[stack].items()
    }
    assert {name: i["name"] for name, i in releases.items()} == {f"platform-{stack}-{r}": r for r in RELEASES[stack]}


@pytest.mark.parametrize(
    ("stack", "workloads"),
    [
        ("dev", ([], [], [])),
        ("staging", ([], [], [])),
        ("prod", (["platform-prod-thanos-compact", "platform-prod-thanos-store"], ["platform-prod-thanos-query"], ["platform-prod-thanos-query-svc", "platform-prod-thanos-store-svc"])),
    ],
)
def test_thanos_runs_where_there_is_a_long_term_store(stack, workloads):
    thanos = lambda token: [n for n in names(stack, token) if "thanos" in n]  # noqa: E731
    assert (thanos("kubernetes:apps/v1:StatefulSet"), thanos("kubernetes:apps/v1:Deployment"), thanos("kubernetes:core/v1:Service")) == workloads


@pytest.mark.parametrize(
    ("stack", "levels"),
    [(s, {"monitoring": "baseline", "monitoring-agents": "privileged"}) for s in STACKS],
)
def test_the_namespaces_pod_security(stack, levels):
    for ns, level in levels.items():
        got = resource(stack, "kubernetes:core/v1:Namespace", f"{ns}-ns")["inputs"]["metadata"]
        assert got["name"] == ns
        assert got["labels"] == {
            "app.kubernetes.io/managed-by": "pulumi",
            "pod-security.kubernetes.io/enforce": level,
            "pod-security.kubernetes.io/warn": level,
            "pod-security.kubernetes.io/audit": level,
        }


# ---------------------------------------------------------------------------- retention


@pytest.mark.parametrize(
    ("stack", "retention", "retention_size", "volume"),
    [("staging", "30d", "28GB", "33Gi"), ("prod", "90d", "132GB", "156Gi")],
)
def test_prometheus_keeps_its_days_on_a_volume_sized_for_them(stack, retention, retention_size, volume):
    spec = values(stack, "kube-prometheus-stack")["prometheus"]["prometheusSpec"]
    assert (spec["retention"], spec["retentionSize"]) == (retention, retention_size)
    assert spec["storageSpec"] == {
        "volumeClaimTemplate": {"spec": {"storageClassName": "gp3", "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": volume}}}}
    }
    assert spec["externalLabels"] == {"environment": stack}


@pytest.mark.parametrize(("stack", "period"), [("dev", "72h"), ("staging", "168h"), ("prod", "720h")])
def test_loki_deletes_after_its_retention(stack, period):
    loki = values(stack, "loki")["loki"]
    assert loki["limits_config"] == {"retention_period": period}
    assert loki["compactor"] == {"retention_enabled": True, "delete_request_store": "s3"}
    bucket = f"platform-{stack}-logs-{account(stack)}-us-east-1"
    assert loki["storage"] == {"type": "s3", "bucketNames": {"chunks": bucket, "ruler": bucket}, "s3": {"region": "us-east-1"}}


@pytest.mark.parametrize(("stack", "retention"), [("staging", "72h"), ("prod", "168h")])
def test_tempo_deletes_after_its_retention(stack, retention):
    tempo = values(stack, "tempo")["tempo"]
    assert tempo["retention"] == retention
    assert tempo["storage"] == {
        "trace": {"backend": "s3", "s3": {"bucket": f"platform-{stack}-traces-{account(stack)}-us-east-1", "endpoint": "s3.us-east-1.amazonaws.com", "region": "us-east-1"}}
    }


def _container(stack: str, token: str, name: str, **overrides: Any) -> dict[str, Any]:
    (container,) = resource(stack, token, name, **overrides)["inputs"]["spec"]["template"]["spec"]["containers"]
    return container


def test_the_thanos_compactor_keeps_raw_for_prometheus_days_and_downsampled_for_the_long_term():
    assert _container("prod", "kubernetes:apps/v1:StatefulSet", "thanos-compact")["args"] == [
        "compact",
        "--log.level=info",
        "--http-address=0.0.0.0:10902",
        "--wait",
        "--data-dir=/var/thanos/compact",
        "--objstore.config-file=/etc/thanos/objstore.yml",
        "--retention.resolution-raw=90d",
        "--retention.resolution-5m=395d",
        "--retention.resolution-1h=395d",
        "--delete-delay=48h",
    ]
    compact = resource("prod", "kubernetes:apps/v1:StatefulSet", "thanos-compact")["inputs"]["spec"]
    assert compact["replicas"] == 1  # two compactors on one bucket corrupt it
    assert [c["spec"]["resources"]["requests"]["storage"] for c in compact["volumeClaimTemplates"]] == ["20Gi"]


def _port_of(address_flag: str, args: list[str]) -> int | None:
    found = [a.split("=", 1)[1] for a in args if a.startswith(f"--{address_flag}=")]
    return int(found[0].rsplit(":", 1)[1]) if found else None


@pytest.mark.parametrize(("token", "name"), [("kubernetes:apps/v1:StatefulSet", "thanos-store"), ("kubernetes:apps/v1:StatefulSet", "thanos-compact"), ("kubernetes:apps/v1:Deployment", "thanos-query")])
def test_each_thanos_probe_reads_the_port_its_process_serves_http_on(token, name):
    """The probes name the container port `http`: the process's --http-address must be it,
    or the pod never becomes ready and its Service never routes to it."""
    container = _container("prod", token, name)
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert container["readinessProbe"]["httpGet"] == {"path": "/-/ready", "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/-/healthy", "port": "http"}
    assert _port_of("http-address", container["args"]) == ports["http"] == 10902


@pytest.mark.parametrize(("service", "token", "workload", "port"), [("thanos-query-svc", "kubernetes:apps/v1:Deployment", "thanos-query", ("http", 9090)), ("thanos-store-svc", "kubernetes:apps/v1:StatefulSet", "thanos-store", ("grpc", 10901))])
def test_each_thanos_service_reaches_a_port_its_pods_listen_on(service, token, workload, port):
    spec = resource("prod", "kubernetes:core/v1:Service", service)["inputs"]["spec"]
    container = _container("prod", token, workload)
    listening = {p["name"]: p["containerPort"] for p in container["ports"]}
    (svc_port,) = spec["ports"]
    assert (svc_port["name"], svc_port["port"]) == port
    target = svc_port["targetPort"]
    assert target in listening or target in listening.values(), (target, listening)
    number = listening.get(target, target)
    flag = "http-address" if svc_port["name"] == "http" else "grpc-address"
    assert _port_of(flag, container["args"]) == number
    assert spec["selector"] == resource("prod", token, workload)["inputs"]["spec"]["selector"]["matchLabels"]


# ---------------------------------------------------------------------------- buckets and their access

# stack -> purpose -> days its objects are kept
BUCKETS = {"dev": {"logs": 3}, "staging": {"logs": 7, "traces": 3}, "prod": {"metrics": 395, "logs": 30, "traces": 7}}


def _bucket_name(stack: str, purpose: str) -> str:
    return f"platform-{stack}-{purpose}-{account(stack)}-us-east-1"


def _key_arn(stack: str) -> str:
    # The platform key, by name: prod's data copy has a key of its own (platform-prod-data-copy-key).
    return plan(stack).named("aws:kms/key:Key", f"::platform-{stack}-key")["outputs"]["arn"]


def test_the_telemetry_buckets_and_their_lifecycle(stack):
    telemetry_buckets = [n for n in names(stack, "aws:s3/bucket:Bucket") if n.rsplit("-", 1)[0] in {f"platform-{stack}-{p}" for p in ("metrics", "logs", "traces")}]
    assert sorted(telemetry_buckets) == sorted(f"platform-{stack}-{p}-bucket" for p in BUCKETS[stack])
    for purpose, days in BUCKETS[stack].items():
        name = _bucket_name(stack, purpose)
        assert resource(stack, "aws:s3/bucket:Bucket", f"{purpose}-bucket")["inputs"]["bucket"] == name
        lifecycle = resource(stack, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", f"{purpose}-bucket-lifecycle")["inputs"]
        assert lifecycle["bucket"] == name
        assert {r["id"]: r["expiration"] for r in lifecycle["rules"]} == {
            "expire-after-retention": {"days": days},
            "remove-expired-delete-markers": {"expiredObjectDeleteMarker": True},
        }


def test_the_telemetry_buckets_are_encrypted_and_tls_only(stack):
    for purpose in BUCKETS[stack]:
        name = _bucket_name(stack, purpose)
        policy = json.loads(resource(stack, "aws:s3/bucketPolicy:BucketPolicy", f"{purpose}-bucket-policy")["inputs"]["policy"])
        assert policy["Statement"] == [
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [f"arn:aws:s3:::{name}", f"arn:aws:s3:::{name}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ]
        encryption = resource(stack, "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration", f"{purpose}-bucket-encryption")["inputs"]
        assert encryption["rules"] == [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": _key_arn(stack)}, "bucketKeyEnabled": True}]
        block = resource(stack, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", f"{purpose}-bucket-public-access")["inputs"]
        assert (block["blockPublicAcls"], block["blockPublicPolicy"], block["ignorePublicAcls"], block["restrictPublicBuckets"]) == (True, True, True, True)


# stack -> (role, its service account, the bucket it reaches, the release that runs as it)
IDENTITIES = {
    "dev": [("loki", "loki", "logs", "loki")],
    "staging": [("loki", "loki", "logs", "loki"), ("tempo", "tempo", "traces", "tempo")],
    "prod": [("thanos", "prometheus", "metrics", "kube-prometheus-stack"), ("loki", "loki", "logs", "loki"), ("tempo", "tempo", "traces", "tempo")],
}


def test_each_backend_role_trusts_its_service_account_and_reaches_its_bucket(stack):
    for role_name, service_account, purpose, release in IDENTITIES[stack]:
        role = resource(stack, ROLE, f"{role_name}-role")
        (trust,) = json.loads(role["inputs"]["assumeRolePolicy"])["Statement"]
        assert (trust["Effect"], trust["Action"]) == ("Allow", "sts:AssumeRoleWithWebIdentity")
        assert trust["Principal"]["Federated"].startswith(f"arn:aws:iam::{account(stack)}:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/")
        issuer = trust["Principal"]["Federated"].split("oidc-provider/", 1)[1]
        assert trust["Condition"] == {"StringEquals": {f"{issuer}:sub": f"system:serviceaccount:monitoring:{service_account}", f"{issuer}:aud": "sts.amazonaws.com"}}

        bucket = f"arn:aws:s3:::{_bucket_name(stack, purpose)}"
        policy = json.loads(resource(stack, ROLE_POLICY, f"{role_name}-policy")["inputs"]["policy"])
        assert policy["Statement"] == [
            {"Sid": "ListTheBucket", "Effect": "Allow", "Action": ["s3:ListBucket", "s3:GetBucketLocation"], "Resource": bucket},
            {"Sid": "ItsObjects", "Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"], "Resource": f"{bucket}/*"},
            {"Sid": "ItsKeyThroughS3", "Effect": "Allow", "Action": ["kms:Decrypt", "kms:GenerateDataKey"], "Resource": _key_arn(stack), "Condition": {"StringLike": {"kms:ViaService": "s3.*.amazonaws.com"}}},
        ]

        sa = values(stack, release)["prometheus"]["serviceAccount"] if release == "kube-prometheus-stack" else values(stack, release)["serviceAccount"]
        assert sa == {"create": True, "name": service_account, "annotations": {"eks.amazonaws.com/role-arn": role["outputs"]["arn"]}}


def test_the_thanos_pods_run_as_the_service_account_the_role_trusts():
    for token, name in (("kubernetes:apps/v1:StatefulSet", "thanos-store"), ("kubernetes:apps/v1:StatefulSet", "thanos-compact"), ("kubernetes:apps/v1:Deployment", "thanos-query")):
        assert resource("prod", token, name)["inputs"]["spec"]["template"]["spec"]["serviceAccountName"] == "prometheus"


# ---------------------------------------------------------------------------- Alertmanager

NULL_ROUTES = [("null", ['alertname = "Watchdog"'], None), ("null", ['alertname = "InfoInhibitor"'], None)]
SECRETS_DIR = "/etc/alertmanager/secrets/alertmanager-destinations"


@pytest.mark.parametrize(
    ("stack", "routes", "credentials"),
    [
        ("staging", [*NULL_ROUTES, ("slack", ['severity =~ "critical|warning"'], True)], {"slack": ("api_url_file", f"{SECRETS_DIR}/slack-webhook-url")}),
        (
            "prod",
            [*NULL_ROUTES, ("pagerduty", ['severity = "critical"'], True), ("slack", ['severity =~ "critical|warning"'], True)],
            {"pagerduty": ("routing_key_file", f"{SECRETS_DIR}/pagerduty-routing-key"), "slack": ("api_url_file", f"{SECRETS_DIR}/slack-webhook-url")},
        ),
    ],
)
def test_alertmanager_routes_per_stack(stack, routes, credentials):
    alertmanager = values(stack, "kube-prometheus-stack")["alertmanager"]
    cfg = alertmanager["config"]
    assert cfg["route"]["receiver"] == "null"
    assert [(r["receiver"], r["matchers"], r.get("continue")) for r in cfg["route"]["routes"]] == routes
    assert [r["name"] for r in cfg["receivers"]] == ["null", *credentials]
    for receiver in cfg["receivers"][1:]:
        (settings,) = receiver[f"{receiver['name']}_configs"]
        key, path = credentials[receiver["name"]]
        assert settings[key] == path
    (slack,) = cfg["receivers"][-1]["slack_configs"]
    assert slack["channel"] == f"#alerts-{stack}"
    # the operator mounts the Secret at SECRETS_DIR
    assert alertmanager["alertmanagerSpec"]["secrets"] == ["alertmanager-destinations"]


def test_the_destinations_secret_is_secret_in_the_plan(stack):
    found = [s for s in plan(stack).of_type(SECRET) if s["urn"].endswith("-alertmanager-destinations")]
    if stack == "dev":  # no metrics, no Alertmanager
        assert found == []
        return
    (secret,) = found
    assert secret["inputs"]["metadata"]["name"] == "alertmanager-destinations"
    assert secret["inputs"]["metadata"]["namespace"] == "monitoring"
    assert secret["inputs"]["stringData"] == "[secret]"


def test_no_secret_placeholder_appears_in_the_plan(stack):
    text = plan(stack).text()
    for key in config.SECRET_KEYS:
        assert placeholder(f"platform:{key}") not in text, key
        assert plan(stack).config[f"platform:{key}"] == "[secret]"


# ---------------------------------------------------------------------------- Grafana

CLOUDWATCH = {"name": "CloudWatch", "uid": "cloudwatch", "type": "cloudwatch", "jsonData": {"authType": "default", "defaultRegion": "us-east-1"}}
LOKI = "http://loki.monitoring.svc.cluster.local:3100"
TEMPO = {
    "name": "Tempo",
    "uid": "tempo",
    "type": "tempo",
    "access": "proxy",
    "url": "http://tempo.monitoring.svc.cluster.local:3200",
    "jsonData": {"tracesToLogsV2": {"datasourceUid": "loki", "filterByTraceID": True, "spanStartTimeShift": "-5m", "spanEndTimeShift": "5m"}},
}


def _prometheus(url: str) -> dict[str, Any]:
    return {"name": "Prometheus", "uid": "prometheus", "type": "prometheus", "access": "proxy", "url": url, "isDefault": True}


def _loki(default: bool) -> dict[str, Any]:
    return {"name": "Loki", "uid": "loki", "type": "loki", "access": "proxy", "url": LOKI, "isDefault": default}


@pytest.mark.parametrize(
    ("stack", "datasources"),
    [
        ("dev", [_loki(True), CLOUDWATCH]),
        ("staging", [_prometheus("http://kube-prometheus-prometheus.monitoring.svc.cluster.local:9090"), _loki(False), TEMPO, CLOUDWATCH]),
        ("prod", [_prometheus("http://thanos-query.monitoring.svc.cluster.local:9090"), _loki(False), TEMPO, CLOUDWATCH]),
    ],
)
def test_grafana_datasources_per_stack(stack, datasources):
    assert values(stack, "grafana")["datasources"] == {"datasources.yaml": {"apiVersion": 1, "datasources": datasources}}


def test_grafana_is_reachable_from_inside_only_and_logs_in_with_its_secret(stack):
    grafana = values(stack, "grafana")
    assert grafana["service"] == {"type": "ClusterIP"}
    assert grafana["ingress"] == {"enabled": False}
    assert grafana["admin"] == {"existingSecret": "grafana-admin", "userKey": "admin-user", "passwordKey": "admin-password"}
    assert grafana["grafana.ini"]["auth.anonymous"] == {"enabled": False}
    assert grafana["grafana.ini"]["users"] == {"allow_sign_up": False}
    admin = resource(stack, SECRET, "grafana-admin")["inputs"]
    assert (admin["metadata"]["name"], admin["metadata"]["namespace"], admin["stringData"]) == ("grafana-admin", "monitoring", "[secret]")
    p = plan(stack)
    assert p.of_type("kubernetes:networking.k8s.io/v1:Ingress") == []
    monitoring_services = [s for s in p.of_type("kubernetes:core/v1:Service") if s["inputs"]["metadata"].get("namespace") in ("monitoring", "monitoring-agents")]
    assert [s["inputs"]["spec"].get("type", "ClusterIP") for s in monitoring_services] == ["ClusterIP"] * len(monitoring_services)


@pytest.mark.parametrize(("stack", "dashboards"), [("dev", ["cache", "database"]), ("staging", ["app", "cache", "cluster", "database"]), ("prod", ["app", "cache", "cluster", "database"])])
def test_grafana_dashboards_per_stack(stack, dashboards):
    got = [n.removeprefix(f"platform-{stack}-dashboard-") for n in names(stack, "kubernetes:core/v1:ConfigMap") if n.startswith(f"platform-{stack}-dashboard-")]
    assert got == dashboards


# ---------------------------------------------------------------------------- a long-term store in staging


def test_a_long_term_store_adds_thanos_and_grafana_reads_it():
    obs = {"metrics": {"retention_days": 30, "long_term_days": 60}, "logs": {"retention_days": 7}, "traces": {"retention_days": 3}}
    overrides = {"platform:observability": obs}
    assert [n for n in names("staging", "kubernetes:apps/v1:StatefulSet", **overrides) if "thanos" in n] == ["platform-staging-thanos-compact", "platform-staging-thanos-store"]
    assert _container("staging", "kubernetes:apps/v1:StatefulSet", "thanos-compact", **overrides)["args"][6:9] == [
        "--retention.resolution-raw=30d",
        "--retention.resolution-5m=60d",
        "--retention.resolution-1h=60d",
    ]
    lifecycle = resource("staging", "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", "metrics-bucket-lifecycle", **overrides)["inputs"]
    assert lifecycle["rules"][0]["expiration"] == {"days": 60}
    assert values("staging", "grafana", **overrides)["datasources"]["datasources.yaml"]["datasources"][0]["url"] == "http://thanos-query.monitoring.svc.cluster.local:9090"
    # no alerts here: every route ends in `null`, and the destinations Secret holds nothing
    cfg = values("staging", "kube-prometheus-stack", **overrides)["alertmanager"]["config"]
    assert [r["name"] for r in cfg["receivers"]] == ["null"]
    assert charts.check_release_values(plan("staging", **overrides).data) == []


# ---------------------------------------------------------------------------- doctored values


def _doctored(stack: str) -> dict[str, Any]:
    return copy.deepcopy(plan(stack).data)


def _values_in(data: dict[str, Any], release: str) -> dict[str, Any]:
    (state,) = [s["newState"] for s in data["steps"] if s["newState"]["type"] == RELEASE and s["newState"]["urn"].endswith(f"::{release}")]
    return state["inputs"]["values"]


KPS = "platform-staging-kube-prometheus-stack"
DOCTORED = [
    (
        "prometheus-retension",
        lambda d: _values_in(d, KPS)["prometheus"]["prometheusSpec"].__setitem__("retension", "30d"),
        "platform-staging-kube-prometheus-stack: values.prometheus.prometheusSpec.retension: no such key in kube-prometheus-stack 88.5.3 values.yaml "
        "(the chart has no values.schema.json); did you mean `values.prometheus.prometheusSpec.retention`?",
    ),
    (
        "loki-limits-config-a-string",
        lambda d: _values_in(d, "platform-staging-loki")["loki"].__setitem__("limits_config", "720h"),
        "platform-staging-loki: values.loki.limits_config: loki 18.11.0 values.schema.json: '720h' is not of type 'object'",
    ),
    (
        "node-exporter-namespace-override",
        lambda d: _values_in(d, KPS)["prometheus-node-exporter"].__setitem__("namespaceOverrid", "monitoring-agents"),
        "platform-staging-kube-prometheus-stack: values.prometheus-node-exporter.namespaceOverrid: no such key in kube-prometheus-stack 88.5.3 values.yaml "
        "(the chart has no values.schema.json); did you mean `values.prometheus-node-exporter.namespaceOverride`?",
    ),
    (
        "kube-state-metrics-resources",
        lambda d: _values_in(d, KPS)["kube-state-metrics"].__setitem__("resourses", {}),
        "platform-staging-kube-prometheus-stack: values.kube-state-metrics.resourses: no such key in kube-prometheus-stack 88.5.3 values.yaml "
        "(the chart has no values.schema.json); did you mean `values.kube-state-metrics.resources`?",
    ),
    (
        "tempo-retension",
        lambda d: _values_in(d, "platform-staging-tempo")["tempo"].__setitem__("retension", "72h"),
        "platform-staging-tempo: values.tempo.retension: no such key in tempo 2.2.4 values.yaml (the chart has no values.schema.json); did you mean `values.tempo.retention`?",
    ),
    (
        "grafana-ingres",
        lambda d: _values_in(d, "platform-staging-grafana").__setitem__("ingres", {"enabled": False}),
        "platform-staging-grafana: values.ingres: no such key in grafana 12.11.1 values.yaml (the chart has no values.schema.json); did you mean `values.ingress`?",
    ),
    (
        "alloy-mount",
        lambda d: _values_in(d, "platform-staging-alloy")["alloy"].__setitem__("mount", {"varlog": True}),
        "platform-staging-alloy: values.alloy.mount: no such key in alloy 1.11.1 values.yaml (the chart has no values.schema.json); did you mean `values.alloy.mounts`?",
    ),
]


@pytest.mark.parametrize(("mutate", "line"), [c[1:] for c in DOCTORED], ids=[c[0] for c in DOCTORED])
def test_a_typo_in_an_observability_release_is_its_one_line(mutate, line):
    data = _doctored("staging")
    assert charts.check_release_values(data) == []
    mutate(data)
    assert charts.check_release_values(data) == [line]
