"""The app's runtime values, derived from DnsConfig/AppConfig without Pulumi."""

import pytest

from infra import runtime_config as rc
from infra.config import AppConfig, DnsConfig
from tests.conftest import stack_config

CONFIG_MAP = {
    "dev": {
        "NODE_ENV": "development",
        "LOG_LEVEL": "debug",
        "RATE_LIMIT_ENABLED": "false",
        "CORS_ORIGIN": "https://dev.example.com,http://localhost:8081",
        "FRONTEND_URL": "https://dev.example.com",
        "API_URL": "https://api-dev.example.com",
        "JWT_EXPIRES_IN": "7d",
        "JWT_REFRESH_EXPIRES_IN": "30d",
        "FEATURE_NEW_CHECKOUT_FLOW": "true",
    },
    "staging": {
        "NODE_ENV": "staging",
        "LOG_LEVEL": "info",
        "RATE_LIMIT_ENABLED": "true",
        "CORS_ORIGIN": "https://staging.example.com",
        "FRONTEND_URL": "https://staging.example.com",
        "API_URL": "https://api-staging.example.com",
        "JWT_EXPIRES_IN": "7d",
        "JWT_REFRESH_EXPIRES_IN": "30d",
        "FEATURE_NEW_CHECKOUT_FLOW": "true",
    },
    "prod": {
        "NODE_ENV": "production",
        "LOG_LEVEL": "warn",
        "RATE_LIMIT_ENABLED": "true",
        "CORS_ORIGIN": "https://example.com,https://www.example.com",
        "FRONTEND_URL": "https://example.com",
        "API_URL": "https://api.example.com",
        "JWT_EXPIRES_IN": "24h",
        "JWT_REFRESH_EXPIRES_IN": "7d",
        "FEATURE_NEW_CHECKOUT_FLOW": "false",
    },
}
CERTIFICATE_NAMES = {
    "dev": ["api-dev.example.com", "dev.example.com", "*.example.com"],
    "staging": ["api-staging.example.com", "staging.example.com"],
    "prod": ["api.example.com", "example.com", "www.example.com"],
}
NAMESPACES = {"dev": ["app", "dev-alice", "dev-bob"], "staging": ["app"], "prod": ["app"]}


def sections(stack: str) -> tuple[DnsConfig, AppConfig]:
    raw = stack_config(stack)
    return DnsConfig.model_validate(raw["platform:dns"]), AppConfig.model_validate(raw["platform:app"])


def dns(**changes) -> DnsConfig:
    return DnsConfig.model_validate({"domain": "example.org", "zone_id": "f" * 32, "api_records": ["api"], "web_records": ["@"], **changes})


def app(**changes) -> AppConfig:
    return AppConfig.model_validate({"node_env": "production", **changes})


def test_config_map_per_stack(stack):
    assert rc.app_config(*sections(stack)) == CONFIG_MAP[stack]


def test_certificate_names_per_stack(stack):
    assert rc.certificate_names(sections(stack)[0]) == CERTIFICATE_NAMES[stack]


def test_namespaces_per_stack(stack):
    assert rc.namespaces(sections(stack)[1]) == NAMESPACES[stack]


def test_urls_come_from_the_first_records():
    d = dns(api_records=["api", "api2"], web_records=["www", "@"])
    assert (rc.api_url(d), rc.web_url(d)) == ("https://api.example.org", "https://www.example.org")
    assert rc.api_hosts(d) == ["api.example.org", "api2.example.org"]
    assert rc.web_hosts(d) == ["www.example.org", "example.org"]


def test_apex_is_the_domain():
    d = dns()
    assert rc.web_url(d) == "https://example.org"
    assert rc.certificate_names(d) == ["api.example.org", "example.org"]


def test_cors_origins_are_web_urls_then_extras_without_repeats():
    d = dns(web_records=["@", "www"])
    a = app(extra_cors_origins=["http://localhost:8081", "https://www.example.org", "http://localhost:19006"])
    assert rc.cors_origins(d, a) == ["https://example.org", "https://www.example.org", "http://localhost:8081", "http://localhost:19006"]


def test_feature_flags_are_upper_case_true_false_and_sorted():
    data = rc.app_config(dns(), app(feature_flags={"ZED": False, "ALPHA": True}))
    assert [k for k in data if k.startswith("FEATURE_")] == ["FEATURE_ALPHA", "FEATURE_ZED"]
    assert (data["FEATURE_ALPHA"], data["FEATURE_ZED"]) == ("true", "false")


def test_no_flags_no_feature_keys_and_all_values_are_strings():
    data = rc.app_config(dns(), app())
    assert not [k for k in data if k.startswith("FEATURE_")]
    assert all(isinstance(v, str) for v in data.values())
    assert not set(data) & set(rc.SECRET_KEYS)


@pytest.mark.parametrize("level", ["restricted", "baseline"])
def test_namespace_labels_enforce_warn_and_audit_the_configured_level(level):
    labels = rc.namespace_labels(app(pod_security=level))
    assert labels == {
        "pod-security.kubernetes.io/enforce": level,
        "pod-security.kubernetes.io/warn": level,
        "pod-security.kubernetes.io/audit": level,
        "app.kubernetes.io/managed-by": "pulumi",
    }


def test_database_url_requires_tls_and_escapes_the_password():
    assert rc.database_url("app_admin", "s3cret", "db.internal", 5432, "app") == "postgresql://app_admin:s3cret@db.internal:5432/app?sslmode=require"
    url = rc.database_url("app_admin", "p:a@s/s#w%rd?", "db", 5432, "app")
    assert url == "postgresql://app_admin:p%3Aa%40s%2Fs%23w%25rd%3F@db:5432/app?sslmode=require"


def test_mock_keys_are_obviously_fake():
    assert "mock" in rc.MOCK_STRIPE_SECRET_KEY and rc.MOCK_STRIPE_SECRET_KEY.startswith("sk_test_")
    assert "mock" in rc.MOCK_SENDGRID_API_KEY and rc.MOCK_SENDGRID_API_KEY.startswith("SG.")
