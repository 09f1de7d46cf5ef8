"""What the app reads at run time, derived once from the stack's DNS and app config.

Pure functions, no Pulumi: the edge (certificate names, DNS records), the app component
(ConfigMap `app-config`, namespaces, the DATABASE_URL format) and the stack exports
(`api_url`, `web_url`) all take their values from here, so a hostname or an origin is
written once — in the stack file — and never typed twice.

The ConfigMap keys follow the seeds' per-environment `.env` files (NODE_ENV, LOG_LEVEL,
RATE_LIMIT_ENABLED, CORS_ORIGIN, FRONTEND_URL, API_URL, JWT_*_EXPIRES_IN); secrets
(DATABASE_URL, REDIS_URL, JWT_SECRET, ...) never appear here, only in `app-secrets`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import quote

if TYPE_CHECKING:  # shapes only: the cost model derives from these without loading pulumi
    from infra.config import AppConfig, DnsConfig

# Every app namespace gets these two objects (same names everywhere, so a Deployment's
# `envFrom` is identical in `app` and in `dev-alice`).
CONFIG_MAP_NAME = "app-config"
SECRET_NAME = "app-secrets"
# The migrator's DATABASE_URL (infra/dbroles.py), for the job that runs the app's migrations.
MIGRATIONS_SECRET_NAME = "app-migrations"

# The keys of the app secret (Secrets Manager JSON and the Kubernetes Secret alike).
SECRET_KEYS = ("DATABASE_URL", "REDIS_URL", "JWT_SECRET", "JWT_REFRESH_SECRET", "STRIPE_SECRET_KEY", "SENDGRID_API_KEY")

# `external_services: mock` (dev): obviously fake values, so nothing can mistake them for a
# key and no real Stripe/SendGrid account is ever touched from dev.
MOCK_STRIPE_SECRET_KEY = "sk_test_mock_not_a_real_key"
MOCK_SENDGRID_API_KEY = "SG.mock-not-a-real-key"


def api_hosts(dns: DnsConfig) -> list[str]:
    return [dns.fqdn(r) for r in dns.api_records]


def web_hosts(dns: DnsConfig) -> list[str]:
    return [dns.fqdn(r) for r in dns.web_records]


def certificate_names(dns: DnsConfig) -> list[str]:
    """Every hostname the load balancer's certificate must cover: API first, then web.

    Web names are included although Cloudflare proxies them: with SSL mode Full (strict)
    Cloudflare connects to the origin over TLS and checks the origin's certificate.
    """
    names = [*api_hosts(dns), *web_hosts(dns)]
    if dns.review_wildcard:
        # The review environments' hostnames, one label under the domain (docs/review-environments.md).
        names.append(f"*.{dns.domain}")
    return list(dict.fromkeys(names))


def api_url(dns: DnsConfig) -> str:
    """The URL clients call: the first API record."""
    return f"https://{api_hosts(dns)[0]}"


def web_url(dns: DnsConfig) -> str:
    """The URL people open: the first web record."""
    return f"https://{web_hosts(dns)[0]}"


def cors_origins(dns: DnsConfig, app: AppConfig) -> list[str]:
    """Browser origins allowed to call the API: every web hostname, then the extra origins."""
    return list(dict.fromkeys([*(f"https://{h}" for h in web_hosts(dns)), *app.extra_cors_origins]))


def _flag(value: bool) -> str:
    return "true" if value else "false"


def app_config(dns: DnsConfig, app: AppConfig) -> dict[str, str]:
    """The ConfigMap `app-config`: non-secret runtime settings, all strings."""
    data = {
        "NODE_ENV": app.node_env,
        "LOG_LEVEL": app.log_level,
        "RATE_LIMIT_ENABLED": _flag(app.rate_limit_enabled),
        "CORS_ORIGIN": ",".join(cors_origins(dns, app)),
        "FRONTEND_URL": web_url(dns),
        "API_URL": api_url(dns),
        "JWT_EXPIRES_IN": app.jwt_expires_in,
        "JWT_REFRESH_EXPIRES_IN": app.jwt_refresh_expires_in,
    }
    for name, enabled in sorted(app.feature_flags.items()):
        data[f"FEATURE_{name}"] = _flag(enabled)
    return data


def telemetry_config(sentry_environment: str | None, otlp_endpoint: str | None, service_name: str = "api") -> dict[str, str]:
    """The app-config keys of observability: where the app sends traces (OpenTelemetry's
    standard variables, read by every OTel SDK) and Sentry's environment name."""
    data: dict[str, str] = {}
    if otlp_endpoint:
        data["OTEL_EXPORTER_OTLP_ENDPOINT"] = otlp_endpoint
        data["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/protobuf"
        data["OTEL_SERVICE_NAME"] = service_name
    if sentry_environment:
        data["SENTRY_ENV"] = sentry_environment
    return data


def namespaces(app: AppConfig) -> list[str]:
    """`app`, then one `dev-<user>` per developer (AppConfig.namespaces, where config checks them)."""
    return app.namespaces


def pod_security_labels(level: str = "restricted") -> dict[str, str]:
    """A namespace's labels: Pod Security Standards enforced (and warned/audited) at `level`."""
    return {
        "pod-security.kubernetes.io/enforce": level,
        "pod-security.kubernetes.io/warn": level,
        "pod-security.kubernetes.io/audit": level,
        "app.kubernetes.io/managed-by": "pulumi",
    }


def namespace_labels(app: AppConfig) -> dict[str, str]:
    """The app namespaces' labels, at the configured Pod Security level."""
    return pod_security_labels(app.pod_security)


def database_url(user: str, password: str, host: str, port: int | str, database: str) -> str:
    """`postgresql://USER:PASSWORD@HOST:PORT/DB?sslmode=require`, user and password URL-encoded.

    RDS-generated passwords may hold characters that are special in a URL (`:`, `#`, `%`, ...).
    """
    return f"postgresql://{quote(user, safe='')}:{quote(password, safe='')}@{host}:{port}/{database}?sslmode=require"
