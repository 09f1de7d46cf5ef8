"""The database's own roles, kept in step from inside the cluster (infra/dbroles.py holds the SQL).

RDS sits in the isolated subnets and answers only the nodes' security group, so the SQL that
creates the roles runs where the app runs: a Kubernetes Job, with the master credential, on
every deploy that changes the SQL, the passwords or the instance. Pulumi waits for the Job to
complete (pulumi-kubernetes' Job await), so a failed run fails the deploy before the app's
secret points at a role that does not exist.

Creates:
- `{name}-db-app-password`, `{name}-db-migrator-password`: the app's and the migrator's
  passwords (secrets in state), rotated by `database.app_password_generation`; and
  `{name}-db-app-salt`, `{name}-db-migrator-salt`: their SCRAM salts. The Job receives only
  the SCRAM verifiers (infra.dbroles.scram_sha256_verifier), so no statement log on RDS
  can ever hold a password;
- `{name}-ns-platform-db`: the namespace `platform-db` (Pod Security `restricted`), where no
  app runs and the only Secret holding the master credential lives;
- `{name}-db-roles-credentials`: that Secret (libpq's PG* variables and the verifiers);
- `{name}-db-roles-sql`: the ConfigMap with the script;
- `{name}-db-roles`: the Job `db-roles-<digest>`, the digest of the SQL, the password
  generation and the instance's resource id, so the Job is replaced (and so runs) exactly
  when one of them changes. No ttlSecondsAfterFinished: the TTL controller would delete a
  Job that Pulumi's state still holds, and the next deploy would run it again for nothing.

Outputs: app_user, app_password (secret; resolves after the Job completed), migrator_user,
migrator_password (secret; likewise), credentials_secret (the Secret's name).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from infra import dbroles, runtime_config
from infra.components._shared import psql_job_spec

NAMESPACE = "platform-db"
SQL_FILE = "roles.sql"


def job_name(sql_digest: str, generation: int, resource_id: str) -> str:
    """`db-roles-<12 hex>`: new exactly when the SQL, the password generation or the instance is."""
    digest = hashlib.sha256(f"{sql_digest}:{generation}:{resource_id}".encode()).hexdigest()[:12]
    return f"db-roles-{digest}"


@dataclass(frozen=True)
class DbRolesArgs:
    database_host: pulumi.Input[str]
    database_port: pulumi.Input[int]
    database_name: str
    master_user: str
    # The master password, a secret Output.
    master_password: pulumi.Input[str]
    # The primary's resource id: a new instance (a replacement) gets its roles again.
    resource_id: pulumi.Input[str]
    password_generation: int
    # What must run before any pod can (node groups, CoreDNS): Addons.workload_dependencies.
    nodes: Sequence[pulumi.Resource] = ()


class DbRoles(pulumi.ComponentResource):
    app_user: str
    app_password: pulumi.Output[str]
    migrator_user: str
    migrator_password: pulumi.Output[str]
    # The Secret with the master's PG* variables and the verifiers (the copy's restore reads it).
    credentials_secret: pulumi.Output[str]

    def __init__(self, name: str, args: DbRolesArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("platform:db_roles:DbRoles", name, None, opts)
        # derive
        child = pulumi.ResourceOptions(parent=self)
        keepers = {"generation": str(args.password_generation)}
        sql = dbroles.roles_sql()

        # children
        verifiers = {}
        passwords = {}
        for role, user in (("app", dbroles.APP_ROLE), ("migrator", dbroles.MIGRATOR_ROLE)):
            # Letters and digits: nothing to escape in a URL, a shell or libpq's key=value form.
            password = random.RandomPassword(f"{name}-db-{role}-password", length=40, special=False, keepers=keepers, opts=child)
            salt = random.RandomBytes(f"{name}-db-{role}-salt", length=16, keepers=keepers, opts=child)
            passwords[role] = password.result
            verifiers[role] = pulumi.Output.secret(
                pulumi.Output.all(password.result, salt.base64).apply(lambda a: dbroles.scram_sha256_verifier(a[0], base64.b64decode(a[1])))
            )

        namespace = k8s.core.v1.Namespace(
            f"{name}-ns-{NAMESPACE}",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=NAMESPACE,
                labels=runtime_config.pod_security_labels(),
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.nodes)),
        )
        meta = dict(namespace=namespace.metadata.name, labels={"app.kubernetes.io/managed-by": "pulumi", "app.kubernetes.io/name": "db-roles"})
        credentials = k8s.core.v1.Secret(
            f"{name}-db-roles-credentials",
            metadata=k8s.meta.v1.ObjectMetaArgs(name="db-roles-credentials", **meta),
            type="Opaque",
            string_data=pulumi.Output.secret(
                pulumi.Output.all(args.database_host, args.database_port, args.master_password, verifiers["app"], verifiers["migrator"]).apply(
                    lambda a: {
                        "PGHOST": a[0],
                        "PGPORT": str(a[1]),
                        "PGDATABASE": args.database_name,
                        "PGUSER": args.master_user,
                        "PGPASSWORD": a[2],
                        # The parameter group forces TLS (rds.force_ssl); the client insists too.
                        "PGSSLMODE": "require",
                        "PGCONNECT_TIMEOUT": "10",
                        "APP_VERIFIER": a[3],
                        "MIGRATOR_VERIFIER": a[4],
                    }
                )
            ),
            opts=child,
        )
        script = k8s.core.v1.ConfigMap(
            f"{name}-db-roles-sql",
            metadata=k8s.meta.v1.ObjectMetaArgs(name="db-roles-sql", **meta),
            data={SQL_FILE: sql},
            opts=child,
        )
        job = k8s.batch.v1.Job(
            f"{name}-db-roles",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=pulumi.Output.from_input(args.resource_id).apply(lambda rid: job_name(dbroles.sql_digest(), args.password_generation, rid)),
                **meta,
            ),
            # psql variables carry the verifiers; ON_ERROR_STOP makes any failed statement fail
            # the Job (and so the deploy).
            spec=psql_job_spec(
                "db-roles",
                'exec psql -X -v ON_ERROR_STOP=1 -v app_verifier="$APP_VERIFIER" -v migrator_verifier="$MIGRATOR_VERIFIER" -f /sql/' + SQL_FILE,
                credentials.metadata.name,
                script.metadata.name,
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.nodes)),
        )

        # outputs: the passwords resolve once the Job has set them, so whatever holds them
        # (the app's secrets) is written after the roles exist.
        def after_job(value: pulumi.Output[str]) -> pulumi.Output[str]:
            return pulumi.Output.secret(pulumi.Output.all(job.metadata, value).apply(lambda a: a[1]))

        self.app_user = dbroles.APP_ROLE
        self.app_password = after_job(passwords["app"])
        self.migrator_user = dbroles.MIGRATOR_ROLE
        self.migrator_password = after_job(passwords["migrator"])
        self.credentials_secret = credentials.metadata.name
        self.register_outputs({"app_user": self.app_user, "migrator_user": self.migrator_user, "job_name": job.metadata.name})
