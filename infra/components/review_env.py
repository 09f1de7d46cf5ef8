"""One pull request's review environment inside the dev cluster (names from infra/review_env.py).

Dev's RDS instance answers only the nodes' security group (infra/components/database.py), so,
as for the app's roles (infra/components/db_roles.py), the SQL runs from inside the cluster:
a Kubernetes Job in dev's `platform-db` namespace, where no app runs and the master
credential's Secrets live; never in `pr-<n>`, where the pull request's own code runs.
pulumi-kubernetes waits for a Job to complete, so a failed SQL run fails `pulumi up`.

Creates (the environment, `teardown` false):
- `{name}-role-password`, `{name}-role-salt`: the per-PR role's password and SCRAM salt; the
  Job receives only the verifier (infra.dbroles.scram_sha256_verifier);
- `{name}-jwt-secret`, `{name}-jwt-refresh-secret`: its own signing keys;
- `{name}-ns`: the namespace `pr-<n>`, Pod Security `restricted`, with `{name}-quota` (a
  ResourceQuota: what its pods may request, which is what the cost model prices) and
  `{name}-limits` (a LimitRange giving containers without requests small defaults, so the
  quota admits them);
- `{name}-db-credentials` (Secret `review-pr-<n>-db`, the master's PG* variables and the
  verifier) and `{name}-db-sql` (ConfigMap `review-pr-<n>-sql`), both in `platform-db`;
- `{name}-db-create`: the Job `review-pr-<n>-create-<digest>` running create_sql (the
  database `pr_<n>` owned by the login role `pr_<n>_app`), then dev's seed data in it
  (`seed_script`, as that role); the digest is the scripts', so an edit of the SQL or of the
  fixtures runs it again, and both are idempotent;
- `{name}-app-secrets` (Secret `app-secrets`: the keys of infra.runtime_config.SECRET_KEYS,
  DATABASE_URL to its own database as its own role, written after the Job completed) and
  `{name}-app-config` (ConfigMap `app-config`) in `pr-<n>`;
- `{name}-dns-api`, `{name}-dns-web`: Cloudflare CNAMEs `pr-<n>-<dev label>.<domain>` to
  dev's load balancer, the API record DNS-only and the web record proxied, as dev's own
  (infra/components/edge.py).

With `teardown` true (the `pulumi up` the destroy path runs before `pulumi destroy`): only
`{name}-db-credentials`, `{name}-db-sql` (now drop_sql) and `{name}-db-drop`, the Job
`review-pr-<n>-drop-<digest>`. That update creates and awaits the drop Job first, then
deletes everything the program no longer declares (the engine deletes after it creates);
`pulumi destroy` then removes the Job and its Secret. A Job that only ran on delete does not
exist in pulumi-kubernetes: deleting a Job runs nothing.

Outputs: namespace, database, role, api_url, web_url, job_name.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_cloudflare as cloudflare
import pulumi_kubernetes as k8s
import pulumi_random as random

from infra import dbroles, review_env, runtime_config
from infra.data import seed as seed_data
from infra.components._shared import psql_job_spec

# dev's namespace for the database Jobs (infra/components/db_roles.py creates it).
DB_JOB_NAMESPACE = "platform-db"
SQL_FILE = "review.sql"
SEED_FILE = "seed.sql"
API_TTL = 300
AUTO_TTL = 1  # Cloudflare's "automatic", required for proxied records
# Containers that state no requests get these (the LimitRange), so the quota admits them.
DEFAULT_REQUESTS = {"cpu": "50m", "memory": "64Mi"}
DEFAULT_LIMITS = {"memory": "256Mi"}


def seed_script(names: review_env.Names) -> str:
    """dev's seed data (data/seed.yaml, infra/data/seed.py) for the review database, idempotent.

    Run by the create Job after create_sql, as the master connected to the review database:
    SET ROLE first, so the schema and rows belong to the pull request's role, as if its app had
    made them (the master holds SET on it, create_sql grants it).
    """
    seed_data.check_tier("review")
    return "\n".join(["\\set ON_ERROR_STOP on", "SET client_min_messages = warning;", f"SET ROLE {names.role};", seed_data.seed_sql(seed_data.load_fixtures())])


@dataclass(frozen=True)
class ReviewEnvironmentArgs:
    names: review_env.Names
    # dev's Cloudflare zone (the committed Pulumi.<dev>.yaml's platform:dns.zone_id).
    zone_id: str
    load_balancer_hostname: pulumi.Input[str]
    database_host: pulumi.Input[str]
    database_port: pulumi.Input[int]
    master_user: pulumi.Input[str]
    # Secret Outputs: dev's master password and Redis URL (from its Secrets Manager secrets).
    master_password: pulumi.Input[str]
    redis_url: pulumi.Input[str]
    # The ConfigMap's data (infra.runtime_config.app_config for the review hostnames).
    app_config: Mapping[str, str]
    cpu_millicores: int
    memory_mib: int
    teardown: bool = False


def _meta(name: str, namespace: pulumi.Input[str], component: str) -> k8s.meta.v1.ObjectMetaArgs:
    return k8s.meta.v1.ObjectMetaArgs(
        name=name,
        namespace=namespace,
        labels={"app.kubernetes.io/managed-by": "pulumi", "app.kubernetes.io/name": component},
    )


class ReviewEnvironment(pulumi.ComponentResource):
    namespace: str
    database: str
    role: str
    api_url: str
    web_url: str
    job_name: pulumi.Output[str]

    def __init__(self, name: str, args: ReviewEnvironmentArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("platform:review:ReviewEnvironment", name, None, opts)
        # validate: the names, the quota and the teardown flag come validated from
        # infra/review_env.py (parse_config's ranges, names' limits): nothing left to refuse here.

        # derive
        n = args.names
        child = pulumi.ResourceOptions(parent=self)
        prefix = f"review-pr-{n.pr}"
        sql = review_env.drop_sql(n.pr) if args.teardown else review_env.create_sql(n.pr)
        seed = "" if args.teardown else seed_script(n)
        scripts = {SQL_FILE: sql, **({SEED_FILE: seed} if seed else {})}
        # The digest of every script: an edit of the SQL or of the fixtures runs the Job again.
        job = f"{prefix}-{'drop' if args.teardown else 'create'}-{review_env.sql_digest(sql + seed)}"

        # children: the database Job, for both create and teardown
        verifier: pulumi.Output[str] | None = None
        password: pulumi.Output[str] | None = None
        if not args.teardown:
            pw = random.RandomPassword(f"{name}-role-password", length=40, special=False, opts=child)
            salt = random.RandomBytes(f"{name}-role-salt", length=16, opts=child)
            password = pw.result
            verifier = pulumi.Output.secret(
                pulumi.Output.all(pw.result, salt.base64).apply(lambda a: dbroles.scram_sha256_verifier(a[0], base64.b64decode(a[1])))
            )

        def credentials(values: list) -> dict[str, str]:
            env = {
                "PGHOST": values[0],
                "PGPORT": str(values[1]),
                "PGDATABASE": review_env.MAINTENANCE_DATABASE,
                "PGUSER": values[2],
                "PGPASSWORD": values[3],
                # dev's parameter group forces TLS (rds.force_ssl); the client insists too.
                "PGSSLMODE": "require",
                "PGCONNECT_TIMEOUT": "10",
            }
            if len(values) > 4:
                env["ROLE_VERIFIER"] = values[4]
            return env

        inputs = [args.database_host, args.database_port, args.master_user, args.master_password, *([verifier] if verifier is not None else [])]
        secret = k8s.core.v1.Secret(
            f"{name}-db-credentials",
            metadata=_meta(f"{prefix}-db", DB_JOB_NAMESPACE, "review-db"),
            type="Opaque",
            string_data=pulumi.Output.secret(pulumi.Output.all(*inputs).apply(credentials)),
            opts=child,
        )
        script = k8s.core.v1.ConfigMap(
            f"{name}-db-sql",
            metadata=_meta(f"{prefix}-sql", DB_JOB_NAMESPACE, "review-db"),
            data=scripts,
            opts=child,
        )
        if args.teardown:
            command = f"exec psql -X -v ON_ERROR_STOP=1 -f /sql/{SQL_FILE}"
        else:
            # The database and its role (against `postgres`), then the seed data in it.
            command = (
                f'psql -X -v ON_ERROR_STOP=1 -v {review_env.VERIFIER_VARIABLE}="$ROLE_VERIFIER" -f /sql/{SQL_FILE}'
                f" && PGDATABASE={n.database} exec psql -X -v ON_ERROR_STOP=1 -f /sql/{SEED_FILE}"
            )
        db_job = k8s.batch.v1.Job(
            f"{name}-db-{'drop' if args.teardown else 'create'}",
            metadata=_meta(job, DB_JOB_NAMESPACE, "review-db"),
            spec=psql_job_spec("review-db", command, secret.metadata.name, script.metadata.name),
            opts=child,
        )

        if not args.teardown:
            self._environment(name, args, child, password, db_job)

        # outputs
        self.namespace = n.namespace
        self.database = n.database
        self.role = n.role
        self.api_url = n.api_url
        self.web_url = n.web_url
        self.job_name = db_job.metadata.name
        self.register_outputs({
            "namespace": self.namespace, "database": self.database, "role": self.role,
            "api_url": self.api_url, "web_url": self.web_url, "job_name": self.job_name,
        })

    def _environment(self, name: str, args: ReviewEnvironmentArgs, child: pulumi.ResourceOptions, password: pulumi.Output[str] | None, db_job: k8s.batch.v1.Job) -> None:
        n = args.names
        namespace = k8s.core.v1.Namespace(
            f"{name}-ns",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=n.namespace,
                labels={**runtime_config.pod_security_labels(), "platform/review-pr": str(n.pr)},
            ),
            opts=child,
        )
        ns = namespace.metadata.name
        requests = {"cpu": f"{args.cpu_millicores}m", "memory": f"{args.memory_mib}Mi"}
        k8s.core.v1.ResourceQuota(
            f"{name}-quota",
            metadata=_meta("review-quota", ns, "review"),
            spec=k8s.core.v1.ResourceQuotaSpecArgs(hard={
                "requests.cpu": requests["cpu"],
                "requests.memory": requests["memory"],
                # Memory is what evicts neighbours: limits at twice the requests, no more.
                "limits.memory": f"{2 * args.memory_mib}Mi",
                # Services of type LoadBalancer would each buy an NLB: the review environment
                # shares dev's through Traefik.
                "services.loadbalancers": "0",
                "services.nodeports": "0",
                "persistentvolumeclaims": "0",
            }),
            opts=child,
        )
        k8s.core.v1.LimitRange(
            f"{name}-limits",
            metadata=_meta("review-defaults", ns, "review"),
            spec=k8s.core.v1.LimitRangeSpecArgs(limits=[
                k8s.core.v1.LimitRangeItemArgs(type="Container", default_request=DEFAULT_REQUESTS, default=DEFAULT_LIMITS),
            ]),
            opts=child,
        )

        jwt = random.RandomPassword(f"{name}-jwt-secret", length=64, special=False, opts=child)
        jwt_refresh = random.RandomPassword(f"{name}-jwt-refresh-secret", length=64, special=False, opts=child)
        # Resolves after the Job completed: the secret never points at a role that does not exist.
        database_url = pulumi.Output.secret(
            pulumi.Output.all(db_job.metadata, password, args.database_host, args.database_port).apply(
                lambda a: runtime_config.database_url(n.role, a[1], a[2], a[3], n.database)
            )
        )
        values = pulumi.Output.secret(
            pulumi.Output.all(
                DATABASE_URL=database_url,
                REDIS_URL=args.redis_url,
                JWT_SECRET=jwt.result,
                JWT_REFRESH_SECRET=jwt_refresh.result,
                # Review environments never hold a real Stripe or SendGrid key.
                STRIPE_SECRET_KEY=runtime_config.MOCK_STRIPE_SECRET_KEY,
                SENDGRID_API_KEY=runtime_config.MOCK_SENDGRID_API_KEY,
            ).apply(lambda v: {k: str(v[k]) for k in runtime_config.SECRET_KEYS})
        )
        k8s.core.v1.Secret(
            f"{name}-app-secrets",
            metadata=_meta(runtime_config.SECRET_NAME, ns, "app"),
            type="Opaque",
            string_data=values,
            opts=child,
        )
        k8s.core.v1.ConfigMap(
            f"{name}-app-config",
            metadata=_meta(runtime_config.CONFIG_MAP_NAME, ns, "app"),
            data=dict(args.app_config),
            opts=child,
        )
        for role, host, proxied in (("api", n.api_host, False), ("web", n.web_host, True)):
            cloudflare.DnsRecord(
                f"{name}-dns-{role}",
                zone_id=args.zone_id,
                name=host,
                type="CNAME",
                content=args.load_balancer_hostname,
                proxied=proxied,
                ttl=AUTO_TTL if proxied else API_TTL,
                comment=f"review environment of pull request #{n.pr}: {'web (proxied)' if proxied else 'API (DNS-only)'} -> dev's NLB",
                opts=child,
            )
