"""The database roles' SQL (infra/dbroles.py) on a real PostgreSQL 17, run the way the Job runs it.

Everything runs against the `postgres` fixture (tests/postgres.py): a throwaway server shaped
like RDS, whose master `platform_admin` has CREATEROLE and CREATEDB but is not a superuser.
The script always runs through real psql, as that master, with ON_ERROR_STOP; what a role
may do is asked of the server by logging in as that role with its password, and a refusal
is pinned by its exact SQLSTATE. The bootstrap superuser only sets up and inspects.

The person roles (`team_read_only`, `team_read_write`) log in with IAM tokens on RDS, and
there is no IAM here: after the script has run, the test gives such a role a password (as
the bootstrap superuser) and logs in with it. Not SET ROLE from the master: a role's own
settings (default_transaction_read_only, statement_timeout, search_path) apply only at
login, so SET ROLE would skip exactly what is under test, and the master would need a SET
grant on the role that the script deliberately does not give it. The next run of the script
takes the test password away again (PASSWORD NULL).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import re
import secrets

import psycopg
import pytest

from infra import dbroles
from infra.dbroles import APP_ROLE, MIGRATOR_ROLE, READ_ONLY_GROUP, READ_ONLY_ROLE, READ_WRITE_GROUP, READ_WRITE_ROLE, SCHEMA

pytestmark = pytest.mark.xdist_group("postgres")

APP_PASSWORD = "app-password-1"
MIGRATOR_PASSWORD = "migrator-password-1"
PERSON_TEST_PASSWORD = "test-only-person-password"  # see the module docstring
SALT = bytes(range(16))
OURS = dbroles.ROLE_NAMES
MASTER = "platform_admin"


def verifiers(app: str = APP_PASSWORD, migrator: str = MIGRATOR_PASSWORD, salt: bytes = SALT) -> dict[str, str]:
    return {
        dbroles.VERIFIER_VARIABLES[APP_ROLE]: dbroles.scram_sha256_verifier(app, salt),
        dbroles.VERIFIER_VARIABLES[MIGRATOR_ROLE]: dbroles.scram_sha256_verifier(migrator, salt),
    }


def apply(postgres, **passwords: str) -> None:
    result = postgres.psql(dbroles.roles_sql(), variables=verifiers(**passwords))
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def superuser(postgres, sql: str, *params) -> list[tuple]:
    with postgres.as_superuser() as conn:
        cursor = conn.execute(sql, params or None)
        return cursor.fetchall() if cursor.description else []


def login(postgres, role: str):
    """A session as `role`, by password."""
    if role in (READ_ONLY_ROLE, READ_WRITE_ROLE):
        superuser(postgres, f"ALTER ROLE {role} PASSWORD '{PERSON_TEST_PASSWORD}'")
    password = {APP_ROLE: APP_PASSWORD, MIGRATOR_ROLE: MIGRATOR_PASSWORD}.get(role, PERSON_TEST_PASSWORD)
    return postgres.connect(role, password)


def sqlstate_of(postgres, role: str, statements: tuple[str, ...]) -> str | None:
    """Run the statements in one session as `role`; the SQLSTATE of the first refused, or None."""
    with login(postgres, role) as conn:
        for statement in statements:
            try:
                conn.execute(statement)
            except psycopg.Error as error:
                return error.sqlstate
    return None


def reset_to_what_rds_hands_over(postgres) -> None:
    """No platform roles, no schema `app`, and PUBLIC with every privilege an old database had."""
    with postgres.as_superuser() as conn:
        conn.execute("DROP SCHEMA IF EXISTS app CASCADE")
        for role in OURS:
            if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone():
                conn.execute(f"DROP OWNED BY {role}")
                conn.execute(f"DROP ROLE {role}")
        conn.execute("GRANT CREATE ON SCHEMA public TO PUBLIC")
        conn.execute("GRANT CREATE, TEMPORARY ON DATABASE app TO PUBLIC")


@pytest.fixture
def db(postgres):
    """The script applied with the standard passwords (as after any deploy)."""
    apply(postgres)
    return postgres


_tables = itertools.count(1)


@pytest.fixture
def table(db) -> str:
    """A table the migrator creates AFTER the script ran (a later migration), with one row."""
    name = f"{SCHEMA}.t_{next(_tables)}_{secrets.token_hex(3)}"
    with login(db, MIGRATOR_ROLE) as conn:
        conn.execute(f"CREATE TABLE {name} (id bigserial PRIMARY KEY, note text)")
        conn.execute(f"INSERT INTO {name} (note) VALUES ('seed')")
    return name


# --- the script as a whole --------------------------------------------------------------


def snapshot(postgres) -> dict[str, list[tuple]]:
    """Everything the script touches, as the catalogs hold it."""
    names = list(OURS)
    return {
        "roles": superuser(postgres, "SELECT rolname, rolsuper, rolinherit, rolcreaterole, rolcreatedb, rolcanlogin, rolreplication, rolbypassrls, rolconnlimit, rolpassword, rolvaliduntil::text FROM pg_authid WHERE rolname = ANY(%s) ORDER BY 1", names),
        "members": superuser(postgres, "SELECT r.rolname, m.rolname, g.rolname, a.admin_option, a.inherit_option, a.set_option FROM pg_auth_members a JOIN pg_roles r ON r.oid = a.roleid JOIN pg_roles m ON m.oid = a.member JOIN pg_roles g ON g.oid = a.grantor WHERE r.rolname = ANY(%s) OR m.rolname = ANY(%s) ORDER BY 1, 2, 3", names, names),
        "settings": superuser(postgres, "SELECT r.rolname, s.setdatabase, s.setconfig FROM pg_db_role_setting s JOIN pg_roles r ON r.oid = s.setrole WHERE r.rolname = ANY(%s) ORDER BY 1, 2", names),
        "database": superuser(postgres, "SELECT datname, datacl::text[] FROM pg_database WHERE datname = 'app'"),
        "schemas": superuser(postgres, "SELECT nspname, nspowner::regrole::text, nspacl::text[] FROM pg_namespace WHERE nspname IN ('app', 'public') ORDER BY 1"),
        "default_acl": superuser(postgres, "SELECT defaclrole::regrole::text, defaclnamespace::regnamespace::text, defaclobjtype, defaclacl::text[] FROM pg_default_acl ORDER BY 1, 2, 3"),
        "relations": superuser(postgres, "SELECT oid::regclass::text, relowner::regrole::text, relacl::text[] FROM pg_class WHERE relnamespace = 'app'::regnamespace ORDER BY 1"),
    }


def test_on_what_rds_hands_over_the_script_runs_twice_and_the_second_run_changes_nothing(postgres):
    reset_to_what_rds_hands_over(postgres)
    apply(postgres)
    after_first = snapshot(postgres)
    apply(postgres)
    assert snapshot(postgres) == after_first
    assert [row[0] for row in after_first["roles"]] == sorted(OURS)


def test_a_rerun_on_a_deployed_database_changes_nothing(db, table):
    before = snapshot(db)
    apply(db)
    assert snapshot(db) == before


def test_the_script_never_runs_as_a_superuser(db):
    """The master it runs as in these tests is what RDS's master is: CREATEROLE, CREATEDB, rds_superuser, no more."""
    assert superuser(db, "SELECT rolsuper, rolcreaterole, rolcreatedb, pg_has_role(%s, 'rds_superuser', 'MEMBER') FROM pg_roles WHERE rolname = %s", MASTER, MASTER) == [(False, True, True, True)]


# --- the catalogs after a run -------------------------------------------------------------

# role: (LOGIN, CONNECTION LIMIT, password)
ATTRIBUTES = {
    READ_WRITE_GROUP: (False, -1, None),
    READ_ONLY_GROUP: (False, -1, None),
    APP_ROLE: (True, 50, "SCRAM-SHA-256"),
    MIGRATOR_ROLE: (True, 5, "SCRAM-SHA-256"),
    READ_ONLY_ROLE: (True, 5, None),
    READ_WRITE_ROLE: (True, 5, None),
}


@pytest.mark.parametrize("role", list(ATTRIBUTES))
def test_role_attributes(db, role):
    login_, limit, password = ATTRIBUTES[role]
    row = superuser(db, "SELECT rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls, rolinherit, rolcanlogin, rolconnlimit, split_part(rolpassword, '$', 1), rolvaliduntil::text FROM pg_authid WHERE rolname = %s", role)
    valid_until = "infinity" if login_ else None
    assert [(*r[:9], None if r[9] is None else str(r[9])) for r in row] == [(False, False, False, False, False, True, login_, limit, password, valid_until)]


def test_the_password_roles_store_exactly_the_verifier_given(db):
    stored = dict(superuser(db, "SELECT rolname, rolpassword FROM pg_authid WHERE rolname IN (%s, %s)", APP_ROLE, MIGRATOR_ROLE))
    assert stored == {APP_ROLE: verifiers()["app_verifier"], MIGRATOR_ROLE: verifiers()["migrator_verifier"]}


# (group, member, INHERIT, SET): every membership between the platform's roles and rds_iam.
MEMBERSHIPS = [
    ("app_readonly", "team_read_only", True, False),
    ("app_readwrite", "app", True, False),
    ("app_readwrite", "team_read_write", True, False),
    ("rds_iam", "team_read_only", True, True),
    ("rds_iam", "team_read_write", True, True),
]


def test_memberships(db):
    rows = superuser(db, "SELECT r.rolname, m.rolname, a.inherit_option, a.set_option FROM pg_auth_members a JOIN pg_roles r ON r.oid = a.roleid JOIN pg_roles m ON m.oid = a.member WHERE m.rolname = ANY(%s) ORDER BY 1, 2", list(OURS))
    assert rows == MEMBERSHIPS


def test_the_master_administers_every_role_and_can_become_only_the_migrator(db):
    """PostgreSQL 16+: ADMIN OPTION from creating each role (granted by the bootstrap superuser), no SET or INHERIT but the one grant the script makes."""
    rows = superuser(db, "SELECT r.rolname, g.rolname, a.admin_option, a.inherit_option, a.set_option FROM pg_auth_members a JOIN pg_roles r ON r.oid = a.roleid JOIN pg_roles m ON m.oid = a.member JOIN pg_roles g ON g.oid = a.grantor WHERE m.rolname = %s AND r.rolname = ANY(%s) ORDER BY 1, 2", MASTER, list(OURS))
    expected = sorted([(role, "postgres", True, False, False) for role in OURS] + [(MIGRATOR_ROLE, MASTER, False, False, True)])
    assert rows == expected


def test_only_the_person_roles_are_members_of_rds_iam(db):
    members = superuser(db, "SELECT m.rolname FROM pg_auth_members a JOIN pg_roles m ON m.oid = a.member WHERE a.roleid = 'rds_iam'::regrole ORDER BY 1")
    assert members == [("rds_superuser",), (READ_ONLY_ROLE,), (READ_WRITE_ROLE,)]


SETTINGS = {
    APP_ROLE: ["search_path=app"],
    MIGRATOR_ROLE: ["search_path=app"],
    READ_ONLY_ROLE: ["search_path=app", "default_transaction_read_only=on", "statement_timeout=1min", "idle_in_transaction_session_timeout=10min"],
    READ_WRITE_ROLE: ["search_path=app", "idle_in_transaction_session_timeout=10min"],
}


@pytest.mark.parametrize("role", list(SETTINGS))
def test_role_settings_in_the_catalog(db, role):
    assert superuser(db, "SELECT setdatabase, setconfig FROM pg_db_role_setting WHERE setrole = %s::regrole", role) == [(0, SETTINGS[role])]


# role: what its session shows at login
SESSION = {
    APP_ROLE: ("app", "off", "0"),
    MIGRATOR_ROLE: ("app", "off", "0"),
    READ_ONLY_ROLE: ("app", "on", "1min"),
    READ_WRITE_ROLE: ("app", "off", "0"),
}


@pytest.mark.parametrize("role", list(SESSION))
def test_a_login_gets_the_role_settings(db, role):
    with login(db, role) as conn:
        shown = conn.execute("SELECT current_setting('search_path'), current_setting('default_transaction_read_only'), current_setting('statement_timeout')").fetchone()
    assert shown == SESSION[role]


def test_the_schema_belongs_to_the_migrator_and_only_the_groups_may_use_it(db):
    rows = superuser(db, "SELECT nspowner::regrole::text, nspacl::text[] FROM pg_namespace WHERE nspname = 'app'")
    assert [(owner, sorted(acl)) for owner, acl in rows] == [
        (MIGRATOR_ROLE, ["app_migrator=UC/app_migrator", "app_readonly=U/app_migrator", "app_readwrite=U/app_migrator"]),
    ]


def test_public_may_no_longer_create_in_schema_public_nor_temp_or_create_in_the_database(db):
    assert superuser(db, "SELECT has_schema_privilege('public', 'public', 'CREATE'), has_database_privilege('public', 'app', 'TEMPORARY'), has_database_privilege('public', 'app', 'CREATE'), has_database_privilege('public', 'app', 'CONNECT')") == [(False, False, False, True)]


def test_default_privileges_for_what_the_migrator_creates(db):
    rows = superuser(db, "SELECT defaclobjtype, defaclacl::text[] FROM pg_default_acl WHERE defaclrole = %s::regrole AND defaclnamespace = 'app'::regnamespace ORDER BY 1", MIGRATOR_ROLE)
    assert [(kind, sorted(acl)) for kind, acl in rows] == [
        ("S", ["app_readwrite=rU/app_migrator"]),
        ("r", ["app_readonly=r/app_migrator", "app_readwrite=arwd/app_migrator"]),
    ]


# --- what each role may do, asked of the server ---------------------------------------------

# (role, statements run in one session in order, the SQLSTATE of the refusal or None).
# {table} is a table the migrator created after the script ran (so default privileges).
# 42501 insufficient_privilege, 25006 read_only_sql_transaction.
CAN = [
    (APP_ROLE, ("SELECT * FROM {table}",), None),
    (APP_ROLE, ("INSERT INTO {table} (note) VALUES ('new')",), None),
    (APP_ROLE, ("UPDATE {table} SET note = 'changed'",), None),
    (APP_ROLE, ("DELETE FROM {table}",), None),
    (APP_ROLE, ("SELECT nextval(pg_get_serial_sequence('{table}', 'id'))",), None),
    (APP_ROLE, ("CREATE TABLE app.made_by_app (id int)",), "42501"),
    (APP_ROLE, ("CREATE TABLE public.made_by_app (id int)",), "42501"),
    (APP_ROLE, ("CREATE TEMPORARY TABLE scratch (id int)",), "42501"),
    (APP_ROLE, ("CREATE SCHEMA made_by_app",), "42501"),
    (APP_ROLE, ("CREATE ROLE made_by_app",), "42501"),
    (APP_ROLE, ("CREATE DATABASE made_by_app",), "42501"),
    (APP_ROLE, ("CREATE EXTENSION citext",), "42501"),
    (APP_ROLE, ("ALTER TABLE {table} ADD COLUMN extra int",), "42501"),
    (APP_ROLE, ("DROP TABLE {table}",), "42501"),
    (APP_ROLE, ("TRUNCATE {table}",), "42501"),
    (APP_ROLE, ("SET ROLE app_migrator",), "42501"),
    (APP_ROLE, ("SET ROLE app_readwrite",), "42501"),
    (MIGRATOR_ROLE, ("CREATE TABLE app.made_by_migrator (id int)", "ALTER TABLE app.made_by_migrator ADD COLUMN note text", "DROP TABLE app.made_by_migrator"), None),
    (MIGRATOR_ROLE, ("ALTER TABLE {table} ADD COLUMN extra int", "CREATE INDEX ON {table} (note)"), None),
    (MIGRATOR_ROLE, ("CREATE EXTENSION IF NOT EXISTS citext SCHEMA app",), None),
    (MIGRATOR_ROLE, ("CREATE TABLE public.made_by_migrator (id int)",), "42501"),
    (MIGRATOR_ROLE, ("CREATE ROLE made_by_migrator",), "42501"),
    (MIGRATOR_ROLE, ("CREATE DATABASE made_by_migrator",), "42501"),
    (READ_ONLY_ROLE, ("SELECT * FROM {table}",), None),
    (READ_ONLY_ROLE, ("INSERT INTO {table} (note) VALUES ('new')",), "25006"),
    (READ_ONLY_ROLE, ("UPDATE {table} SET note = 'changed'",), "25006"),
    (READ_ONLY_ROLE, ("DELETE FROM {table}",), "25006"),
    (READ_ONLY_ROLE, ("CREATE TABLE app.made_by_person (id int)",), "25006"),
    # Read-only is the default, not the barrier: switched off, the missing privilege refuses.
    (READ_ONLY_ROLE, ("SET default_transaction_read_only = off", "INSERT INTO {table} (note) VALUES ('new')"), "42501"),
    (READ_ONLY_ROLE, ("SET default_transaction_read_only = off", "UPDATE {table} SET note = 'changed'"), "42501"),
    (READ_ONLY_ROLE, ("SET default_transaction_read_only = off", "DELETE FROM {table}"), "42501"),
    (READ_ONLY_ROLE, ("SET default_transaction_read_only = off", "CREATE TABLE app.made_by_person (id int)"), "42501"),
    (READ_WRITE_ROLE, ("SELECT * FROM {table}",), None),
    (READ_WRITE_ROLE, ("INSERT INTO {table} (note) VALUES ('new')", "UPDATE {table} SET note = 'changed'", "DELETE FROM {table}"), None),
    (READ_WRITE_ROLE, ("CREATE TABLE app.made_by_person (id int)",), "42501"),
    (READ_WRITE_ROLE, ("ALTER TABLE {table} ADD COLUMN extra int",), "42501"),
    (READ_WRITE_ROLE, ("DROP TABLE {table}",), "42501"),
    (READ_WRITE_ROLE, ("TRUNCATE {table}",), "42501"),
    (READ_WRITE_ROLE, ("CREATE TEMPORARY TABLE scratch (id int)",), "42501"),
]


@pytest.mark.parametrize(("role", "statements", "refused"), CAN, ids=[f"{r}: {s[-1][:60]}" for r, s, _ in CAN])
def test_what_each_role_may_do(db, table, role, statements, refused):
    assert sqlstate_of(db, role, tuple(s.format(table=table) for s in statements)) == refused


def test_a_table_whose_grants_were_lost_gets_them_back_on_the_next_run(db, table):
    superuser(db, f"REVOKE ALL ON {table} FROM app_readwrite, app_readonly")
    assert sqlstate_of(db, APP_ROLE, (f"SELECT * FROM {table}",)) == "42501"
    apply(db)
    assert sqlstate_of(db, APP_ROLE, (f"SELECT * FROM {table}",)) is None
    assert sqlstate_of(db, READ_ONLY_ROLE, (f"SELECT * FROM {table}",)) is None


# --- keeping in step ----------------------------------------------------------------------


def test_attributes_changed_by_hand_are_put_back(db):
    superuser(db, f"ALTER ROLE {APP_ROLE} CREATEDB CREATEROLE NOINHERIT CONNECTION LIMIT 1000 VALID UNTIL '2000-01-01'")
    superuser(db, f"ALTER ROLE {READ_ONLY_ROLE} SET default_transaction_read_only = off")
    apply(db)
    assert superuser(db, "SELECT rolcreatedb, rolcreaterole, rolinherit, rolconnlimit, rolvaliduntil::text FROM pg_roles WHERE rolname = %s", APP_ROLE) == [(False, False, True, 50, "infinity")]
    assert sqlstate_of(db, READ_ONLY_ROLE, ("SELECT 1", "CREATE TABLE app.made_by_person (id int)")) == "25006"


def test_a_membership_granted_by_hand_between_the_roles_is_revoked(db):
    with db.as_master() as conn:
        conn.execute(f"GRANT {READ_WRITE_GROUP} TO {READ_ONLY_ROLE}")
    apply(db)
    assert superuser(db, "SELECT pg_has_role(%s, %s, 'MEMBER')", READ_ONLY_ROLE, READ_WRITE_GROUP) == [(False,)]


def test_a_role_made_superuser_stops_the_script_which_cannot_undo_it(db):
    superuser(db, f"ALTER ROLE {APP_ROLE} SUPERUSER")
    try:
        result = db.psql(dbroles.roles_sql(), variables=verifiers(app="would-be-new"))
    finally:
        superuser(db, f"ALTER ROLE {APP_ROLE} NOSUPERUSER")
    assert result.returncode == 3
    assert "a platform role has SUPERUSER, REPLICATION or BYPASSRLS: only a superuser can remove it" in result.stderr
    # One transaction: nothing of the failed run stayed (the password is still the old one).
    db.connect(APP_ROLE, APP_PASSWORD).close()


def test_a_schema_the_master_created_is_handed_to_the_migrator(postgres):
    reset_to_what_rds_hands_over(postgres)
    with postgres.as_master() as conn:
        conn.execute("CREATE SCHEMA app")
    apply(postgres)
    assert superuser(postgres, "SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname = 'app'") == [(MIGRATOR_ROLE,)]


# --- passwords ------------------------------------------------------------------------------


@pytest.mark.parametrize("role", [APP_ROLE, MIGRATOR_ROLE])
def test_the_password_behind_the_verifier_logs_in_and_another_does_not(db, role):
    password = {APP_ROLE: APP_PASSWORD, MIGRATOR_ROLE: MIGRATOR_PASSWORD}[role]
    with db.connect(role, password) as conn:
        assert conn.execute("SELECT current_user").fetchone() == (role,)
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        db.connect(role, password + "x")


def test_a_run_with_new_passwords_lets_the_new_ones_in_and_the_old_ones_out(db):
    apply(db, app="app-password-2", migrator="migrator-password-2")
    try:
        for role, new, old in [(APP_ROLE, "app-password-2", APP_PASSWORD), (MIGRATOR_ROLE, "migrator-password-2", MIGRATOR_PASSWORD)]:
            db.connect(role, new).close()
            with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
                db.connect(role, old)
    finally:
        apply(db)


def test_the_person_roles_have_no_password_after_a_run(db):
    login(db, READ_ONLY_ROLE).close()  # a test password, as the other tests give it
    apply(db)
    assert superuser(db, "SELECT rolname, rolpassword FROM pg_authid WHERE rolname IN (%s, %s) ORDER BY 1", READ_ONLY_ROLE, READ_WRITE_ROLE) == [(READ_ONLY_ROLE, None), (READ_WRITE_ROLE, None)]


def test_neither_password_is_in_the_script_nor_reaches_the_server_log(postgres):
    app, migrator = f"app-{secrets.token_hex(12)}", f"migrator-{secrets.token_hex(12)}"
    apply(postgres, app=app, migrator=migrator)
    try:
        postgres.connect(APP_ROLE, app).close()
        postgres.connect(MIGRATOR_ROLE, migrator).close()
        log = postgres.log()
        # The server logs every statement (log_statement = all): the verifier is there, the password never.
        assert verifiers(app, migrator)["app_verifier"] in log
        assert app not in log and migrator not in log
        assert app not in dbroles.roles_sql() and migrator not in dbroles.roles_sql()
    finally:
        apply(postgres)


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"migrator_verifier": dbroles.scram_sha256_verifier("x", SALT)}, "psql variable app_verifier is not set"),
        ({"app_verifier": dbroles.scram_sha256_verifier("x", SALT)}, "psql variable migrator_verifier is not set"),
        ({"app_verifier": "a-plain-password", "migrator_verifier": dbroles.scram_sha256_verifier("x", SALT)}, "psql variable app_verifier is not a SCRAM-SHA-256 verifier"),
        ({"app_verifier": dbroles.scram_sha256_verifier("x", SALT), "migrator_verifier": "SCRAM-SHA-256$4096:bad"}, "psql variable migrator_verifier is not a SCRAM-SHA-256 verifier"),
    ],
    ids=["no app_verifier", "no migrator_verifier", "a password for app", "a broken verifier"],
)
def test_a_missing_or_malformed_verifier_stops_the_script_before_any_change(db, variables, message):
    result = db.psql(dbroles.roles_sql(), variables=variables)
    assert result.returncode == 3  # psql's exit code for an error under ON_ERROR_STOP
    assert message in result.stderr
    db.connect(APP_ROLE, APP_PASSWORD).close()
    db.connect(MIGRATOR_ROLE, MIGRATOR_PASSWORD).close()


# --- the verifier itself ---------------------------------------------------------------------


def test_the_verifier_matches_rfc_7677s_exchange():
    """RFC 7677 section 3: user "user", password "pencil", salt W22ZaJ0SNY7soEsUEjb6gQ==, 4096 iterations.

    The RFC gives the client's proof and the server's signature, not the keys; both follow
    from StoredKey and ServerKey, so the verifier reproduces them or is wrong.
    """
    verifier = dbroles.scram_sha256_verifier("pencil", base64.b64decode("W22ZaJ0SNY7soEsUEjb6gQ=="))
    assert verifier == "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU="
    match = re.fullmatch(r"SCRAM-SHA-256\$4096:([^$]+)\$([^:]+):(.+)", verifier)
    assert match
    stored_key, server_key = base64.b64decode(match[2]), base64.b64decode(match[3])
    nonce = "rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
    auth_message = f"n=user,r=rOprNGfwEbeRWgbNEkqO,r={nonce},s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,c=biws,r={nonce}".encode()
    client_proof = base64.b64decode("dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")
    client_key = bytes(a ^ b for a, b in zip(client_proof, hmac.digest(stored_key, auth_message, "sha256")))
    assert hashlib.sha256(client_key).digest() == stored_key
    assert base64.b64encode(hmac.digest(server_key, auth_message, "sha256")).decode() == "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="


def test_the_verifier_follows_salt_and_iterations():
    assert dbroles.scram_sha256_verifier("p", SALT) == dbroles.scram_sha256_verifier("p", SALT)
    assert dbroles.scram_sha256_verifier("p", SALT) != dbroles.scram_sha256_verifier("p", SALT[::-1])
    assert dbroles.scram_sha256_verifier("p", SALT, iterations=10000).startswith("SCRAM-SHA-256$10000:AAECAwQFBgcICQoLDA0ODw==$")


@pytest.mark.parametrize(("salt", "iterations"), [(b"", 4096), (SALT, 0)])
def test_the_verifier_refuses_an_empty_salt_or_no_iterations(salt, iterations):
    with pytest.raises(ValueError):
        dbroles.scram_sha256_verifier("p", salt, iterations)


# (password, what SASLprep makes of it; None: prohibited, so used as it is, as PostgreSQL does)
SASLPREP = [
    ("pencil", "pencil"),
    ("with space and ~!#%^&*()", "with space and ~!#%^&*()"),
    ("ascii\x07bell", "ascii\x07bell"),  # pure ASCII is never prepared
    ("pass\u00a0word", "pass word"),  # non-ASCII space -> space
    ("I\u00adX", "IX"),  # soft hyphen: mapped to nothing
    ("\u2168", "IX"),  # ROMAN NUMERAL NINE: NFKC
    ("cafe\u0301", "caf\u00e9"),  # NFKC composes
    ("caf\u00e9\u0007", None),  # a control character
    ("\u0627\u0031", None),  # right-to-left text that does not end right-to-left
    ("\u00ad", None),  # nothing left after mapping
]


@pytest.mark.parametrize(("password", "prepared"), SASLPREP, ids=[ascii(p) for p, _ in SASLPREP])
def test_saslprep(password, prepared):
    assert dbroles._saslprep(password) == prepared


@pytest.mark.parametrize("password", [p for p, _ in SASLPREP], ids=[ascii(p) for p, _ in SASLPREP])
def test_a_verifier_of_any_password_lets_that_password_in(db, password):
    """The server and libpq agree with the verifier: SASLprep, prohibited passwords and all."""
    apply(db, app=password)
    try:
        db.connect(APP_ROLE, password).close()
    finally:
        apply(db)


# --- the digest -------------------------------------------------------------------------------


def test_the_digest_is_twelve_hex_characters_of_the_scripts_sha256():
    assert dbroles.sql_digest() == hashlib.sha256(dbroles.roles_sql().encode()).hexdigest()[:12]
    assert re.fullmatch(r"[0-9a-f]{12}", dbroles.sql_digest())


def test_the_digest_changes_when_the_script_changes(monkeypatch):
    before = dbroles.sql_digest()
    original = dbroles.roles_sql
    monkeypatch.setattr(dbroles, "roles_sql", lambda: original().replace("CONNECTION LIMIT 50", "CONNECTION LIMIT 51"))
    assert dbroles.sql_digest() != before


def test_the_script_holds_no_password_only_variable_references():
    sql = dbroles.roles_sql()
    assert re.findall(r"PASSWORD (\S+);", sql) == ["NULL", "NULL", ":'app_verifier'", ":'migrator_verifier'", "NULL", "NULL"]
    assert "SCRAM-SHA-256$4096" not in sql
