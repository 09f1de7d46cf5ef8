"""The database's own roles: the SQL that gives the app, its migrations and people their access.

Pure functions, no Pulumi. A Kubernetes Job runs `roles_sql()` with psql, as the RDS master,
against the app's database; `sql_digest()` is in the Job's name, so the Job runs again
exactly when this SQL changes. The master stays for break-glass use only.

The roles it creates (never drops) and keeps in step:

- `app` (login, password): the application. Reads and writes data in the schema `app`
  through `app_readwrite`; no DDL, no temporary tables, no roles, no databases. If its
  credential leaks, the damage is the data, not the schema or the server.
- `app_migrator` (login, password): owns the schema `app` and so every table migrations
  create; it runs migrations (DDL) and nothing else connects as it. Default privileges
  FOR ROLE app_migrator give the groups access to each new table as it is created, so a
  migration never has to remember a GRANT.
- `team_read_only` (login, IAM): people who look at data. `app_readonly` (SELECT), every
  transaction read-only by default and a statement timeout, so a stray query neither
  writes nor runs for an hour.
- `team_read_write` (login, IAM): people who fix data by hand. `app_readwrite`, no DDL.
- `app_readwrite` and `app_readonly` (NOLOGIN): the groups that hold the privileges, so
  the app and the people with the same access get exactly the same grants.

The two person roles are granted `rds_iam` and have no password: they log in with
short-lived IAM tokens (`aws rds generate-db-auth-token`), so nobody holds a database
password, and access follows IAM (the instance has IAM authentication on).

The passwords of `app` and `app_migrator` reach psql only as SCRAM-SHA-256 verifiers
(`scram_sha256_verifier`), in the psql variables `app_verifier` and `migrator_verifier`:
`ALTER ROLE ... PASSWORD '<verifier>'` stores it as given, so the plain text never reaches
the server, and RDS's statement logs (log_statement) can only ever print the verifier.

Also, for the whole database: PUBLIC loses CREATE on the schema `public` and TEMPORARY /
CREATE on the database (PostgreSQL 15+ already withholds the first; a database restored
from an older major may not).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import stringprep
import unicodedata
from dataclasses import dataclass

SCHEMA = "app"

# Login roles.
APP_ROLE = "app"
MIGRATOR_ROLE = "app_migrator"
READ_ONLY_ROLE = "team_read_only"
READ_WRITE_ROLE = "team_read_write"

# Group roles (NOLOGIN): what the login roles are members of.
READ_WRITE_GROUP = "app_readwrite"
READ_ONLY_GROUP = "app_readonly"

# RDS's own role: a member logs in with an IAM token instead of a password.
RDS_IAM_ROLE = "rds_iam"

# The psql variables holding each password role's verifier: psql -v app_verifier=...
VERIFIER_VARIABLES = {APP_ROLE: "app_verifier", MIGRATOR_ROLE: "migrator_verifier"}

# PostgreSQL's own choices for the verifiers it makes (SCRAM_DEFAULT_SALT_LEN and
# scram_iterations' default): use these with `scram_sha256_verifier`.
SALT_BYTES = 16
ITERATIONS = 4096

READ_ONLY_STATEMENT_TIMEOUT = "1min"
# A person's session left in an open transaction holds locks that block the next
# migration's ALTER TABLE (and everything queued behind it): end such sessions.
PERSON_IDLE_IN_TRANSACTION_TIMEOUT = "10min"


@dataclass(frozen=True)
class Role:
    name: str
    login: bool
    # A fuse, not sizing: a connection leak in one role cannot take all of max_connections
    # (about 80 on db.t3.micro, dev's class) and lock out the rest. -1: no limit.
    connection_limit: int = -1
    password_variable: str | None = None  # None: no password (a group, or IAM only)
    member_of: tuple[str, ...] = ()
    settings: tuple[tuple[str, str], ...] = ()


ROLES: tuple[Role, ...] = (
    Role(READ_WRITE_GROUP, login=False),
    Role(READ_ONLY_GROUP, login=False),
    Role(APP_ROLE, login=True, connection_limit=50, password_variable=VERIFIER_VARIABLES[APP_ROLE], member_of=(READ_WRITE_GROUP,), settings=(("search_path", SCHEMA),)),
    Role(MIGRATOR_ROLE, login=True, connection_limit=5, password_variable=VERIFIER_VARIABLES[MIGRATOR_ROLE], settings=(("search_path", SCHEMA),)),
    Role(
        READ_ONLY_ROLE,
        login=True,
        connection_limit=5,
        member_of=(READ_ONLY_GROUP, RDS_IAM_ROLE),
        settings=(
            ("search_path", SCHEMA),
            ("default_transaction_read_only", "on"),
            ("statement_timeout", READ_ONLY_STATEMENT_TIMEOUT),
            ("idle_in_transaction_session_timeout", PERSON_IDLE_IN_TRANSACTION_TIMEOUT),
        ),
    ),
    Role(
        READ_WRITE_ROLE,
        login=True,
        connection_limit=5,
        member_of=(READ_WRITE_GROUP, RDS_IAM_ROLE),
        settings=(("search_path", SCHEMA), ("idle_in_transaction_session_timeout", PERSON_IDLE_IN_TRANSACTION_TIMEOUT)),
    ),
)

ROLE_NAMES = tuple(role.name for role in ROLES)
LOGIN_ROLES = tuple(role.name for role in ROLES if role.login)

# What each group may do on the schema's objects (tables include views).
TABLE_PRIVILEGES = {READ_WRITE_GROUP: "SELECT, INSERT, UPDATE, DELETE", READ_ONLY_GROUP: "SELECT"}
SEQUENCE_PRIVILEGES = {READ_WRITE_GROUP: "USAGE, SELECT"}


def _saslprep(password: str) -> str | None:
    """RFC 4013 SASLprep as PostgreSQL applies it (src/common/saslprep.c), None if prohibited.

    Like PostgreSQL (and libpq on the client side): pure ASCII is taken as it is, and a
    password SASLprep prohibits is used unprepared rather than refused.
    """
    if password.isascii():
        return password
    mapped = "".join(" " if stringprep.in_table_c12(c) else c for c in password if not stringprep.in_table_b1(c))
    if not mapped:
        return None
    prepared = unicodedata.normalize("NFKC", mapped)
    prohibited = (
        stringprep.in_table_c12, stringprep.in_table_c21_c22, stringprep.in_table_c3, stringprep.in_table_c4,
        stringprep.in_table_c5, stringprep.in_table_c6, stringprep.in_table_c7, stringprep.in_table_c8,
        stringprep.in_table_c9, stringprep.in_table_a1,
    )  # fmt: skip
    if any(check(c) for c in prepared for check in prohibited):
        return None
    if any(stringprep.in_table_d1(c) for c in prepared):  # RFC 3454 section 6, bidirectional text
        if any(stringprep.in_table_d2(c) for c in prepared) or not (stringprep.in_table_d1(prepared[0]) and stringprep.in_table_d1(prepared[-1])):
            return None
    return prepared


def scram_sha256_verifier(password: str, salt: bytes, iterations: int = ITERATIONS) -> str:
    """The verifier PostgreSQL stores for `password`: `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`.

    RFC 5802 section 3 with SHA-256 (RFC 7677), in PostgreSQL's format (scram_build_secret in
    src/common/scram-common.c), base64 with padding:
    SaltedPassword = PBKDF2-HMAC-SHA-256(SASLprep(password), salt, iterations),
    StoredKey = SHA-256(HMAC(SaltedPassword, "Client Key")),
    ServerKey = HMAC(SaltedPassword, "Server Key").
    Pass the same salt again to get the same verifier (a re-run then changes nothing).
    """
    if not salt:
        raise ValueError("salt must not be empty")
    if iterations < 1:
        raise ValueError(f"iterations must be at least 1, not {iterations}")
    prepared = _saslprep(password)
    salted = hashlib.pbkdf2_hmac("sha256", (password if prepared is None else prepared).encode("utf-8"), salt, iterations)
    stored_key = hashlib.sha256(hmac.digest(salted, b"Client Key", "sha256")).digest()
    server_key = hmac.digest(salted, b"Server Key", "sha256")
    b64 = lambda raw: base64.b64encode(raw).decode("ascii")  # noqa: E731
    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


def _names(names: tuple[str, ...] | list[str]) -> str:
    return ", ".join(names)


def _literals(names: tuple[str, ...] | list[str]) -> str:
    return ", ".join(f"'{name}'" for name in names)


def _alter_role(role: Role) -> str:
    # NOSUPERUSER / NOREPLICATION / NOBYPASSRLS are set at CREATE and checked below, not
    # here: a non-superuser may not name those attributes in ALTER ROLE at all ("Only roles
    # with the SUPERUSER attribute may change the SUPERUSER attribute"), even to say no.
    login = "LOGIN VALID UNTIL 'infinity'" if role.login else "NOLOGIN"
    password = f":'{role.password_variable}'" if role.password_variable else "NULL"
    return f"ALTER ROLE {role.name} {login} NOCREATEDB NOCREATEROLE INHERIT CONNECTION LIMIT {role.connection_limit} PASSWORD {password};"


def roles_sql() -> str:
    """The psql script: run it as the RDS master against the app's database.

    `psql -v ON_ERROR_STOP=1 -v app_verifier=<verifier> -v migrator_verifier=<verifier>`
    with each verifier from `scram_sha256_verifier`. One transaction: it applies whole or not
    at all. Idempotent: a second run changes nothing; a run with new verifiers changes the
    passwords. The text holds no password, only the variables' names.
    """
    memberships = [(group, role.name) for role in ROLES for group in role.member_of]
    managed_memberships = [(group, member) for group, member in memberships if group in ROLE_NAMES]
    password_variables = [role.password_variable for role in ROLES if role.password_variable]
    lines = [
        "-- The database roles (infra/dbroles.py; the Job's name carries sql_digest() of this text).",
        "-- Run as the RDS master against the app's database:",
        "--   psql -v ON_ERROR_STOP=1 " + " ".join(f"-v {v}=SCRAM-SHA-256..." for v in password_variables),
        "\\set ON_ERROR_STOP 1",
        "",
        "-- The verifiers must be given, and be verifiers: a plain password would be stored",
        "-- (hashed) and printed by the statement log. psql checks presence itself; the shape is",
        "-- checked by the server, which then sees only what the ALTER ROLE would have shown it.",
    ]
    for variable in password_variables:
        lines += [
            f"\\if :{{?{variable}}}",
            "\\else",
            f"DO $$BEGIN RAISE EXCEPTION 'psql variable {variable} is not set: psql -v {variable}=<SCRAM-SHA-256 verifier>'; END$$;",
            "\\endif",
            f"SELECT :'{variable}' ~ '^SCRAM-SHA-256\\$[0-9]+:[A-Za-z0-9+/]+=*\\$[A-Za-z0-9+/]+=*:[A-Za-z0-9+/]+=*$' AS {variable}_ok \\gset",
            f"\\if :{variable}_ok",
            "\\else",
            f"DO $$BEGIN RAISE EXCEPTION 'psql variable {variable} is not a SCRAM-SHA-256 verifier: give infra.dbroles.scram_sha256_verifier(password, salt), never the password'; END$$;",
            "\\endif",
        ]
    lines += [
        "",
        "BEGIN;",
        "SET LOCAL client_min_messages = warning;  -- the Job's log: warnings and errors, not 'already a member' notices",
        "-- Roles are cluster-wide: two runs at once would race on CREATE ROLE. One at a time.",
        "DO $$BEGIN PERFORM pg_advisory_xact_lock(hashtext('infra.dbroles')); END$$;",
        "",
        "-- PostgreSQL 16 changed CREATEROLE. PostgreSQL 17 docs, 21.2 'Role Attributes' (role",
        "-- creation; postgresql.org/docs/17/role-attributes.html) and 19.11.1 'Statement Behavior'",
        "-- (createrole_self_grant; docs/17/runtime-config-client.html): a CREATEROLE role that is",
        "-- not a superuser, as the RDS master is, is granted ADMIN OPTION on each role it creates",
        "-- (so it may alter and grant it) but neither SET nor INHERIT unless createrole_self_grant",
        "-- says so. Pinned empty here, so a parameter group cannot hand the master every role's",
        "-- privileges; the one membership the master needs is granted explicitly below.",
        "SET LOCAL createrole_self_grant = '';",
        "",
        "-- Create what is missing; never drop.",
        "SELECT format('CREATE ROLE %I NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS', wanted.name)",
        f"  FROM unnest(ARRAY[{_literals(ROLE_NAMES)}]) AS wanted(name)",
        " WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = wanted.name) \\gexec",
        "",
        "-- Only a real superuser (rdsadmin, not the master) can give these or take them back.",
        "DO $$BEGIN",
        f"  IF EXISTS (SELECT FROM pg_roles WHERE rolname IN ({_literals(ROLE_NAMES)}) AND (rolsuper OR rolreplication OR rolbypassrls)) THEN",
        "    RAISE EXCEPTION 'a platform role has SUPERUSER, REPLICATION or BYPASSRLS: only a superuser can remove it';",
        "  END IF;",
        "END$$;",
        "",
        "-- Attributes and passwords, every run (a new verifier is a new password). The person",
        "-- roles have none: they log in with IAM tokens.",
        *[_alter_role(role) for role in ROLES],
        "",
        "-- Per-role settings, applied at each login.",
        *[f"ALTER ROLE {role.name} SET {name} = '{value}';" for role in ROLES for name, value in role.settings],
        "",
        "-- Memberships: the privileges come from the groups (INHERIT), nobody becomes a group",
        "-- (SET FALSE). rds_iam makes RDS take IAM tokens instead of passwords.",
        *[
            f"GRANT {group} TO {member} WITH INHERIT TRUE, SET FALSE;" if group in ROLE_NAMES else f"GRANT {group} TO {member};"
            for group, member in memberships
        ],
        "-- Any other membership among these roles (granted by hand) goes.",
        "SELECT format('REVOKE %I FROM %I', g.rolname, m.rolname)",
        "  FROM pg_auth_members a JOIN pg_roles g ON g.oid = a.roleid JOIN pg_roles m ON m.oid = a.member",
        f" WHERE g.rolname IN ({_literals(ROLE_NAMES)}) AND m.rolname IN ({_literals(ROLE_NAMES)})",
        f"   AND (g.rolname, m.rolname) NOT IN ({', '.join(f'({g!r}, {m!r})' for g, m in managed_memberships)}) \\gexec",
        "",
        "-- The master must be able to SET ROLE to the migrator: CREATE SCHEMA ... AUTHORIZATION and",
        "-- ALTER SCHEMA ... OWNER TO need it (PostgreSQL 17 docs: CREATE SCHEMA, ALTER SCHEMA), and",
        "-- the grants below are made as the migrator, the owner of what they grant on. SET only,",
        "-- not INHERIT: the master does not silently own the schema's tables.",
        f"GRANT {MIGRATOR_ROLE} TO CURRENT_USER WITH INHERIT FALSE, SET TRUE;",
        "",
        "-- The database: nobody but the migrator creates schemas or temporary tables. The migrator",
        "-- needs CREATE for trusted extensions (CREATE EXTENSION) and to be given the schema",
        "-- (ALTER SCHEMA ... OWNER TO: the new owner must have CREATE on the database).",
        "SELECT format('REVOKE TEMPORARY, CREATE ON DATABASE %I FROM PUBLIC', current_database()) \\gexec",
        "SELECT format('REVOKE TEMPORARY, CREATE ON DATABASE %I FROM %s', current_database(), "
        f"'{_names([name for name in ROLE_NAMES if name != MIGRATOR_ROLE])}') \\gexec",
        f"SELECT format('GRANT CONNECT ON DATABASE %I TO %s', current_database(), '{_names(LOGIN_ROLES)}') \\gexec",
        f"SELECT format('GRANT CREATE, TEMPORARY ON DATABASE %I TO {MIGRATOR_ROLE}', current_database()) \\gexec",
        "SELECT 'REVOKE CREATE ON SCHEMA public FROM PUBLIC' WHERE EXISTS (SELECT FROM pg_namespace WHERE nspname = 'public') \\gexec",
        "",
        "-- The schema, owned by the migrator.",
        f"CREATE SCHEMA IF NOT EXISTS {SCHEMA} AUTHORIZATION {MIGRATOR_ROLE};",
        f"ALTER SCHEMA {SCHEMA} OWNER TO {MIGRATOR_ROLE};",
        "",
        "-- Privileges, granted by the owner: on what exists, and by default on what the migrator",
        "-- creates from now on.",
        f"SET ROLE {MIGRATOR_ROLE};",
        f"REVOKE ALL ON SCHEMA {SCHEMA} FROM PUBLIC;",
        f"REVOKE CREATE ON SCHEMA {SCHEMA} FROM {_names(list(TABLE_PRIVILEGES))};",
        f"GRANT USAGE ON SCHEMA {SCHEMA} TO {_names(list(TABLE_PRIVILEGES))};",
    ]
    for group, privileges in TABLE_PRIVILEGES.items():
        lines += [
            f"GRANT {privileges} ON ALL TABLES IN SCHEMA {SCHEMA} TO {group};",
            f"ALTER DEFAULT PRIVILEGES FOR ROLE {MIGRATOR_ROLE} IN SCHEMA {SCHEMA} GRANT {privileges} ON TABLES TO {group};",
        ]
    for group, privileges in SEQUENCE_PRIVILEGES.items():
        lines += [
            f"GRANT {privileges} ON ALL SEQUENCES IN SCHEMA {SCHEMA} TO {group};",
            f"ALTER DEFAULT PRIVILEGES FOR ROLE {MIGRATOR_ROLE} IN SCHEMA {SCHEMA} GRANT {privileges} ON SEQUENCES TO {group};",
        ]
    lines += ["RESET ROLE;", "", "COMMIT;", ""]
    return "\n".join(lines)


def sql_digest() -> str:
    """12 hex characters of the script's SHA-256: in the Job's name, so it re-runs when the SQL changes."""
    return hashlib.sha256(roles_sql().encode("utf-8")).hexdigest()[:12]
