"""The app's namespaces, runtime config and secrets per stack; secrets stay secret at every hop."""

import json
import re

import pytest
from pulumi.runtime import rpc

from infra import runtime_config as rc
from infra.offline.harness import placeholder, run_program
from tests.conftest import plan
from tests.test_runtime_config import CONFIG_MAP, NAMESPACES

NAMESPACE = "kubernetes:core/v1:Namespace"
CONFIG_MAP_T = "kubernetes:core/v1:ConfigMap"
SECRET_T = "kubernetes:core/v1:Secret"
SM_SECRET = "aws:secretsmanager/secret:Secret"
SM_VERSION = "aws:secretsmanager/secretVersion:SecretVersion"


APP = "platform:app:App$"

# app-config's observability keys (runtime_config.telemetry_config): the OTLP endpoint where the
# stack runs Tempo, SENTRY_ENV where it names a Sentry environment; dev has neither.
OTLP = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://tempo.monitoring.svc.cluster.local:4318", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf", "OTEL_SERVICE_NAME": "api"}
TELEMETRY_CONFIG = {"dev": {}, "staging": {**OTLP, "SENTRY_ENV": "staging"}, "prod": {**OTLP, "SENTRY_ENV": "production"}}


def of_app(p, token):
    """The App component's own objects of `token` (other components have namespaces and secrets too)."""
    return [s for s in p.of_type(token) if APP in s["urn"]]


def app_namespaces(p):
    return [n["inputs"]["metadata"]["name"] for n in of_app(p, NAMESPACE)]


def test_namespaces_per_stack(stack):
    p = plan(stack)
    assert sorted(app_namespaces(p)) == sorted(NAMESPACES[stack])
    assert p.outputs["namespaces"] == NAMESPACES[stack]
    for ns in NAMESPACES[stack]:
        labels = p.named(NAMESPACE, f"platform-{stack}-ns-{ns}")["inputs"]["metadata"]["labels"]
        assert labels == {
            "pod-security.kubernetes.io/enforce": "restricted",
            "pod-security.kubernetes.io/warn": "restricted",
            "pod-security.kubernetes.io/audit": "restricted",
            "app.kubernetes.io/managed-by": "pulumi",
        }


def test_config_map_in_every_app_namespace(stack):
    p = plan(stack)
    maps = of_app(p, CONFIG_MAP_T)
    assert len(maps) == len(NAMESPACES[stack])
    for ns in NAMESPACES[stack]:
        cm = p.named(CONFIG_MAP_T, f"platform-{stack}-{ns}-app-config")["inputs"]
        assert (cm["metadata"]["name"], cm["metadata"]["namespace"]) == ("app-config", ns)
        assert cm["data"] == {**CONFIG_MAP[stack], **TELEMETRY_CONFIG[stack]}


def test_kubernetes_secret_in_every_app_namespace_prints_as_secret(stack):
    p = plan(stack)
    # app-secrets (the app's runtime secrets) and app-migrations (the migrator's DATABASE_URL)
    assert len(of_app(p, SECRET_T)) == 2 * len(NAMESPACES[stack])
    for ns in NAMESPACES[stack]:
        for role, name in (("app-secrets", rc.SECRET_NAME), ("app-migrations", rc.MIGRATIONS_SECRET_NAME)):
            secret = p.named(SECRET_T, f"platform-{stack}-{ns}-{role}")
            assert (secret["inputs"]["metadata"]["name"], secret["inputs"]["metadata"]["namespace"]) == (name, ns)
            assert secret["inputs"]["type"] == "Opaque"
            assert secret["inputs"]["stringData"] == "[secret]" and secret["outputs"]["stringData"] == "[secret]"
            assert "data" not in secret["inputs"]


def test_secrets_manager_secret(stack):
    p = plan(stack)
    secret = p.named(SM_SECRET, f"platform-{stack}-app")
    key = p.named("aws:kms/key:Key", f"platform-{stack}-key")
    assert secret["inputs"]["kmsKeyId"] == key["outputs"]["arn"]
    protected = stack == "prod"
    assert secret["inputs"]["recoveryWindowInDays"] == (30 if protected else 7)
    assert (secret["protect"], secret["retainOnDelete"]) == (protected, protected)
    version = p.named(SM_VERSION, f"platform-{stack}-app-value")
    assert version["inputs"]["secretId"] == secret["id"]
    assert version["inputs"]["secretString"] == "[secret]" and version["outputs"]["secretString"] == "[secret]"
    assert p.outputs["app_secret_arn"] == secret["outputs"]["arn"]


def test_jwt_secrets_are_long_random_values(stack):
    p = plan(stack)
    for which in ("jwt-secret", "jwt-refresh-secret"):
        password = p.named("random:index/randomPassword:RandomPassword", f"platform-{stack}-{which}")
        assert password["inputs"]["length"] == 64 and password["inputs"]["special"] is False
        assert password["outputs"]["result"] == "[secret]"
        # A replaced signing key logs every user out: protected wherever the stack protects its data.
        assert password["protect"] is (stack == "prod")


def test_no_export_is_a_plain_secret(stack):
    p = plan(stack)
    outputs = p.outputs
    assert outputs["kubeconfig"] == "[secret]"
    text = json.dumps({k: v for k, v in outputs.items() if v != "[secret]"})
    for marker in ("postgresql://", "rediss://", "mock-password", "offline-placeholder", rc.MOCK_STRIPE_SECRET_KEY, rc.MOCK_SENDGRID_API_KEY):
        assert marker not in text
    # and nowhere in the whole plan either
    whole = p.text()
    for marker in ("rediss://", "mock-password", rc.MOCK_STRIPE_SECRET_KEY, rc.MOCK_SENDGRID_API_KEY):
        assert marker not in whole
    # A database URL in plain text carries no password (the data copy's IAM-token URL: user@host).
    assert re.findall(r"postgresql://[^/@\s\"]*:[^@\s\"]*@", whole) == []


# ---------------------------------------------------------------------------- the values behind "[secret]"
# The plan masks them; the raw registrations show that the right values travel, and that every
# hop carries them as secrets.

_RUNS: dict = {}


def raw_run(stack: str):
    if stack not in _RUNS:
        _RUNS[stack] = run_program(stack)
    return _RUNS[stack]


def unwrap(value):
    """(is_secret, plain value) of an input as the engine received it."""
    if isinstance(value, dict) and value.get(rpc._special_sig_key) == rpc._special_secret_sig:
        return True, value["value"]
    return False, value


def registration(run, token, name):
    (reg,) = [r for r in run.registrations if r.type == token and r.name == name]
    return reg


@pytest.mark.parametrize("stack", ["dev", "staging"])
def test_secret_values_and_that_they_travel_as_secrets(stack):
    run = raw_run(stack)
    secret, version = unwrap(registration(run, SM_VERSION, f"platform-{stack}-app-value").inputs["secretString"])
    assert secret
    values = json.loads(version)
    # SENTRY_DSN with platform:sentry_dsn, which the offline plan sets (a placeholder) in every stack.
    assert list(sorted(values)) == sorted((*rc.SECRET_KEYS, "SENTRY_DSN"))
    assert values["SENTRY_DSN"] == placeholder("platform:sentry_dsn")
    db = registration(run, "aws:rds/instance:Instance", f"platform-{stack}-db")
    # The app's own role, never the master user; its password is the roles job's.
    password = registration(run, "random:index/randomPassword:RandomPassword", f"platform-{stack}-db-app-password").outputs["result"]
    master = registration(run, "random:index/randomPassword:RandomPassword", f"platform-{stack}-db-master-password").outputs["result"]
    assert len(password) == 40 and password != master
    assert values["DATABASE_URL"] == f"postgresql://app:{password}@{db.outputs['address']}:5432/app?sslmode=require"
    assert master not in version
    assert values["REDIS_URL"].startswith("rediss://:") and values["REDIS_URL"].endswith(":6379")
    assert len(values["JWT_SECRET"]) == len(values["JWT_REFRESH_SECRET"]) == 64 and values["JWT_SECRET"] != values["JWT_REFRESH_SECRET"]
    if stack == "dev":  # external_services: mock
        assert (values["STRIPE_SECRET_KEY"], values["SENDGRID_API_KEY"]) == (rc.MOCK_STRIPE_SECRET_KEY, rc.MOCK_SENDGRID_API_KEY)
    else:  # from the stack's secret config (placeholders offline)
        assert (values["STRIPE_SECRET_KEY"], values["SENDGRID_API_KEY"]) == (placeholder("platform:stripe_secret_key"), placeholder("platform:sendgrid_api_key"))
    # the Kubernetes copy in every namespace: the same values, secret
    for ns in NAMESPACES[stack]:
        is_secret, data = unwrap(registration(run, SECRET_T, f"platform-{stack}-{ns}-app-secrets").inputs["stringData"])
        assert is_secret and data == values
        is_secret, data = unwrap(registration(run, SECRET_T, f"platform-{stack}-{ns}-app-migrations").inputs["stringData"])
        migrator = registration(run, "random:index/randomPassword:RandomPassword", f"platform-{stack}-db-migrator-password").outputs["result"]
        assert is_secret and data == {"DATABASE_URL": f"postgresql://app_migrator:{migrator}@{db.outputs['address']}:5432/app?sslmode=require"}
    # no value shows anywhere in the offline plan, exports included
    text = plan(stack).text()
    assert not [key for key, value in values.items() if value in text]
