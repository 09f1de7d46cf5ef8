"""What the app runs with: its namespaces, its secret, its runtime config.

Creates:
- `{name}-jwt-secret`, `{name}-jwt-refresh-secret`: 64-character random signing keys;
- `{name}-app`: the Secrets Manager secret (customer-managed KMS key; recovery window 30 days
  where the stack is protected, else 7) and `{name}-app-value`, its JSON value:
  DATABASE_URL, REDIS_URL, JWT_SECRET, JWT_REFRESH_SECRET, STRIPE_SECRET_KEY, SENDGRID_API_KEY,
  and SENTRY_DSN when the stack sets `platform:sentry_dsn`.
  DATABASE_URL is the app's own PostgreSQL role (infra/dbroles.py: data, no DDL, never the
  master user), its password set by the roles job before this secret changes;
- per app namespace (`app`, plus `dev-<user>` per developer): `{name}-ns-<ns>` (Pod Security
  Standards labels), `{name}-<ns>-app-secrets` (Kubernetes Secret `app-secrets`, the same
  values as the Secrets Manager secret), `{name}-<ns>-app-migrations` (Kubernetes Secret
  `app-migrations`: DATABASE_URL as the migrator, the role that owns the schema, for the
  migration job) and `{name}-<ns>-app-config` (ConfigMap `app-config`, from
  `infra.runtime_config`, with the OTLP endpoint and SENTRY_ENV where observability has them).

Every secret value stays a secret Output from its source (stack config, the database, the cache's AUTH
token, random) to both destinations; nothing here is exported in plain text.

Outputs: secret_arn, namespaces (names), config (the ConfigMap data).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s
import pulumi_random as random

from infra import runtime_config
from infra.config import AppConfig, DnsConfig, ProtectionConfig


@dataclass(frozen=True)
class AppArgs:
    config: AppConfig
    dns: DnsConfig
    protection: ProtectionConfig
    # The CMK that encrypts the Secrets Manager secret.
    kms_key_arn: pulumi.Input[str]
    database_host: pulumi.Input[str]
    database_port: pulumi.Input[int]
    database_name: str
    # The app's own role and the migrator's (DbRoles), passwords as secret Outputs; rotated by
    # `database.app_password_generation`.
    database_user: str
    database_password: pulumi.Input[str]
    migrator_user: str
    migrator_password: pulumi.Input[str]
    # rediss://:TOKEN@host:6379, a secret Output.
    redis_url: pulumi.Input[str]
    # Secret Outputs from the stack config; None only with `external_services: mock`.
    stripe_secret_key: pulumi.Input[str] | None = None
    sendgrid_api_key: pulumi.Input[str] | None = None
    # Observability: Tempo's OTLP endpoint (Traces.otlp_endpoint) and Sentry's environment
    # go into app-config; the optional SENTRY_DSN (a secret Output) into app-secrets.
    otlp_endpoint: str | None = None
    sentry_environment: str | None = None
    sentry_dsn: pulumi.Input[str] | None = None


class App(pulumi.ComponentResource):
    secret_arn: pulumi.Output[str]
    namespaces: list[str]
    config: dict[str, str]

    def __init__(self, name: str, args: AppArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("platform:app:App", name, None, opts)
        # validate / derive
        cfg = args.config
        external = self._external_keys(cfg, args.stripe_secret_key, args.sendgrid_api_key)
        config_data = {**runtime_config.app_config(args.dns, cfg), **runtime_config.telemetry_config(args.sentry_environment, args.otlp_endpoint)}
        secret_keys = (*runtime_config.SECRET_KEYS, *(["SENTRY_DSN"] if args.sentry_dsn is not None else []))
        namespaces = runtime_config.namespaces(cfg)
        protect = args.protection.protect
        child = pulumi.ResourceOptions(parent=self)
        # Losing these logs every user out (JWT keys) or loses the app's credentials.
        stateful = pulumi.ResourceOptions(parent=self, protect=protect, retain_on_delete=args.protection.retain_on_delete)

        jwt = random.RandomPassword(f"{name}-jwt-secret", length=64, special=False, opts=pulumi.ResourceOptions(parent=self, protect=protect))
        jwt_refresh = random.RandomPassword(f"{name}-jwt-refresh-secret", length=64, special=False, opts=pulumi.ResourceOptions(parent=self, protect=protect))

        def url(user: str, password: pulumi.Input[str]) -> pulumi.Output[str]:
            return pulumi.Output.secret(
                pulumi.Output.all(password, args.database_host, args.database_port).apply(lambda a: runtime_config.database_url(user, a[0], a[1], a[2], args.database_name))
            )

        database_url = url(args.database_user, args.database_password)
        migrations_url = url(args.migrator_user, args.migrator_password)
        values: pulumi.Output[dict[str, str]] = pulumi.Output.secret(
            pulumi.Output.all(
                DATABASE_URL=database_url,
                REDIS_URL=args.redis_url,
                JWT_SECRET=jwt.result,
                JWT_REFRESH_SECRET=jwt_refresh.result,
                STRIPE_SECRET_KEY=external["STRIPE_SECRET_KEY"],
                SENDGRID_API_KEY=external["SENDGRID_API_KEY"],
                SENTRY_DSN=args.sentry_dsn if args.sentry_dsn is not None else "",
            ).apply(lambda v: {k: str(v[k]) for k in secret_keys})
        )

        secret = aws.secretsmanager.Secret(
            f"{name}-app",
            description=f"{name}: the app's runtime secrets ({', '.join(runtime_config.SECRET_KEYS)})",
            kms_key_id=args.kms_key_arn,
            recovery_window_in_days=30 if protect else 7,
            opts=stateful,
        )
        aws.secretsmanager.SecretVersion(
            f"{name}-app-value",
            secret_id=secret.id,
            secret_string=pulumi.Output.secret(values.apply(lambda v: json.dumps(v, sort_keys=True))),
            opts=child,
        )

        labels = runtime_config.namespace_labels(cfg)
        for ns_name in namespaces:
            namespace = k8s.core.v1.Namespace(
                f"{name}-ns-{ns_name}",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=ns_name, labels=labels),
                opts=child,
            )
            meta = dict(namespace=namespace.metadata.name, labels={"app.kubernetes.io/managed-by": "pulumi"})
            k8s.core.v1.Secret(
                f"{name}-{ns_name}-app-secrets",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=runtime_config.SECRET_NAME, **meta),
                type="Opaque",
                string_data=values,
                opts=child,
            )
            k8s.core.v1.Secret(
                f"{name}-{ns_name}-app-migrations",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=runtime_config.MIGRATIONS_SECRET_NAME, **meta),
                type="Opaque",
                string_data=pulumi.Output.secret(migrations_url.apply(lambda u: {"DATABASE_URL": u})),
                opts=child,
            )
            k8s.core.v1.ConfigMap(
                f"{name}-{ns_name}-app-config",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=runtime_config.CONFIG_MAP_NAME, **meta),
                data=config_data,
                opts=child,
            )

        self.secret_arn = secret.arn
        self.namespaces = namespaces
        self.config = config_data
        self.register_outputs({"secret_arn": self.secret_arn, "namespaces": self.namespaces, "config": self.config})

    @staticmethod
    def _external_keys(cfg: AppConfig, stripe: pulumi.Input[str] | None, sendgrid: pulumi.Input[str] | None) -> Mapping[str, pulumi.Input[str]]:
        if cfg.external_services == "mock":
            return {"STRIPE_SECRET_KEY": runtime_config.MOCK_STRIPE_SECRET_KEY, "SENDGRID_API_KEY": runtime_config.MOCK_SENDGRID_API_KEY}
        missing = [key for key, value in (("stripe_secret_key", stripe), ("sendgrid_api_key", sendgrid)) if value is None]
        if missing:
            raise ValueError(f"external_services is '{cfg.external_services}' but {', '.join(missing)} is not given")
        return {"STRIPE_SECRET_KEY": pulumi.Output.secret(stripe), "SENDGRID_API_KEY": pulumi.Output.secret(sendgrid)}
