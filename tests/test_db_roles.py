"""The database roles' Job, per stack (infra/components/db_roles.py; the SQL itself is
tests/test_dbroles_sql.py's, on a real PostgreSQL).

Specified here:
- the Job runs infra.dbroles.roles_sql() with psql as the master user, from the namespace
  `platform-db` (Pod Security restricted), hardened (non-root, read-only root, no
  capabilities, no service account token), after the nodes; no TTL;
- it is renamed, and so run again, exactly when the SQL, the password generation or the
  instance changes;
- its credential holds the master password and the SCRAM verifiers, never the app's or the
  migrator's plain password, and prints as a secret;
- the app's secrets wait for the Job (their password resolves after it), and they hold
  the app's role, never the master user (tests/test_app.py has the values).
"""

from __future__ import annotations

import base64
import json

import pytest

from infra import dbroles
from infra.components.db_roles import job_name
from infra.offline.harness import run_program
from infra.versions import POSTGRES_CLIENT_IMAGE
from tests.conftest import STACKS, plan
from tests.test_app import registration, unwrap

JOB = "kubernetes:batch/v1:Job"
SECRET = "kubernetes:core/v1:Secret"
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
NAMESPACE = "kubernetes:core/v1:Namespace"
PASSWORD = "random:index/randomPassword:RandomPassword"
SALT = "random:index/randomBytes:RandomBytes"


@pytest.mark.parametrize("stack", STACKS)
def test_the_job_runs_the_roles_sql_hardened(stack):
    p = plan(stack)
    job = p.named(JOB, f"::platform-{stack}-db-roles")
    meta, spec = job["inputs"]["metadata"], job["inputs"]["spec"]
    rid = p.named("aws:rds/instance:Instance", f"::platform-{stack}-db")["outputs"]["resourceId"]
    assert meta["name"] == job_name(dbroles.sql_digest(), 1, rid)
    assert meta["namespace"] == "platform-db"
    assert "ttlSecondsAfterFinished" not in spec
    assert (spec["backoffLimit"], spec["activeDeadlineSeconds"]) == (3, 600)
    pod = spec["template"]["spec"]
    assert pod["restartPolicy"] == "Never" and pod["automountServiceAccountToken"] is False
    assert pod["securityContext"] == {"runAsNonRoot": True, "runAsUser": 70, "runAsGroup": 70, "seccompProfile": {"type": "RuntimeDefault"}}
    (container,) = pod["containers"]
    assert container["image"] == POSTGRES_CLIENT_IMAGE
    assert container["command"] == ["sh", "-c", 'exec psql -X -v ON_ERROR_STOP=1 -v app_verifier="$APP_VERIFIER" -v migrator_verifier="$MIGRATOR_VERIFIER" -f /sql/roles.sql']
    assert container["envFrom"] == [{"secretRef": {"name": "db-roles-credentials"}}]
    assert container["securityContext"] == {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True, "capabilities": {"drop": ["ALL"]}}
    assert pod["volumes"] == [{"name": "sql", "configMap": {"name": "db-roles-sql"}}]
    assert p.named(CONFIG_MAP, f"::platform-{stack}-db-roles-sql")["inputs"]["data"] == {"roles.sql": dbroles.roles_sql()}
    # After every node group and CoreDNS: a Job created before any node would wait out its deadline.
    for group in p.of_type("eks:index:ManagedNodeGroup"):
        assert group["urn"] in job["dependencies"]
    labels = p.named(NAMESPACE, f"::platform-{stack}-ns-platform-db")["inputs"]["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"


def test_the_job_is_renamed_exactly_when_its_inputs_change():
    base = job_name("sql-a", 1, "db-ABC")
    assert base.startswith("db-roles-") and len(base) == len("db-roles-") + 12
    assert job_name("sql-a", 1, "db-ABC") == base
    assert len({base, job_name("sql-b", 1, "db-ABC"), job_name("sql-a", 2, "db-ABC"), job_name("sql-a", 1, "db-XYZ")}) == 4


def test_a_password_generation_bump_reruns_the_job_and_rotates_both_passwords():
    before, after = plan("staging"), plan("staging", **{"platform:database": {**_database("staging"), "app_password_generation": 2}})
    name = lambda p: p.named(JOB, "::platform-staging-db-roles")["inputs"]["metadata"]["name"]  # noqa: E731
    assert name(before) != name(after)
    for role in ("app", "migrator"):
        assert after.named(PASSWORD, f"::platform-staging-db-{role}-password")["inputs"]["keepers"] == {"generation": "2"}
        assert after.named(SALT, f"::platform-staging-db-{role}-salt")["inputs"]["keepers"] == {"generation": "2"}


def _database(stack: str) -> dict:
    from tests.conftest import stack_config

    return stack_config(stack)["platform:database"]


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_credential_carries_verifiers_never_the_roles_passwords(stack):
    run = run_program(stack)
    is_secret, data = unwrap(registration(run, SECRET, f"platform-{stack}-db-roles-credentials").inputs["stringData"])
    assert is_secret
    master = registration(run, PASSWORD, f"platform-{stack}-db-master-password").outputs["result"]
    assert (data["PGUSER"], data["PGPASSWORD"], data["PGDATABASE"], data["PGSSLMODE"]) == ("app_admin", master, "app", "require")
    db = registration(run, "aws:rds/instance:Instance", f"platform-{stack}-db")
    assert (data["PGHOST"], data["PGPORT"]) == (db.outputs["address"], "5432")
    for role, key in (("app", "APP_VERIFIER"), ("migrator", "MIGRATOR_VERIFIER")):
        password = registration(run, PASSWORD, f"platform-{stack}-db-{role}-password").outputs["result"]
        salt = base64.b64decode(registration(run, SALT, f"platform-{stack}-db-{role}-salt").outputs["base64"])
        assert data[key] == dbroles.scram_sha256_verifier(password, salt)
        assert password not in json.dumps(data)
    text = plan(stack).text()
    assert master not in text and data["APP_VERIFIER"] not in text


@pytest.mark.parametrize("stack", STACKS)
def test_the_apps_secrets_wait_for_the_roles(stack):
    p = plan(stack)
    job = p.named(JOB, f"::platform-{stack}-db-roles")["urn"]
    assert job in p.named("aws:secretsmanager/secretVersion:SecretVersion", f"::platform-{stack}-app-value")["dependencies"]
    assert job in p.named(SECRET, f"::platform-{stack}-app-app-secrets")["dependencies"]
    assert job in p.named(SECRET, f"::platform-{stack}-app-app-migrations")["dependencies"]
