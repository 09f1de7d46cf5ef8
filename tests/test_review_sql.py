"""The review database's SQL (infra/review_env.py create_sql / drop_sql) on a real PostgreSQL 17.

Run the way the Jobs run it: through psql, as the RDS-shaped master (`platform_admin`:
CREATEROLE and CREATEDB, not a superuser), against the `postgres` database, ON_ERROR_STOP.
What the per-PR role may do is asked of the server by logging in as it; refusals are pinned
by SQLSTATE (42501 insufficient_privilege).
"""

from __future__ import annotations

import psycopg
import pytest

from infra import dbroles, review_env

pytestmark = pytest.mark.xdist_group("postgres")

PASSWORD = "review-password-1"
SALT = bytes(range(16))


def variables(password: str = PASSWORD) -> dict[str, str]:
    return {review_env.VERIFIER_VARIABLE: dbroles.scram_sha256_verifier(password, SALT)}


def run(postgres, script: str, **kw) -> tuple[int, str, str]:
    result = postgres.psql(script, dbname=review_env.MAINTENANCE_DATABASE, **kw)
    return result.returncode, result.stdout, result.stderr


def create(postgres, pr: int, password: str = PASSWORD) -> None:
    assert run(postgres, review_env.create_sql(pr), variables=variables(password)) == (0, "", "")


def drop(postgres, pr: int) -> None:
    assert run(postgres, review_env.drop_sql(pr)) == (0, "", "")


def catalog(postgres, pr: int) -> dict[str, list[tuple]]:
    n = review_env.names(pr, "a.example.com", "b.example.com")
    with postgres.as_superuser(dbname="postgres") as conn:
        return {
            "database": conn.execute("SELECT d.datname, r.rolname, d.datacl::text FROM pg_database d JOIN pg_roles r ON r.oid = d.datdba WHERE d.datname = %s", (n.database,)).fetchall(),
            "role": conn.execute("SELECT rolname, rolsuper, rolcreatedb, rolcreaterole, rolcanlogin, rolconnlimit, rolpassword LIKE 'SCRAM-SHA-256$%%' FROM pg_authid WHERE rolname = %s", (n.role,)).fetchall(),
        }


def login(postgres, pr: int, dbname: str, password: str = PASSWORD):
    n = review_env.names(pr, "a.example.com", "b.example.com")
    return postgres.connect(n.role, password, dbname=dbname)


@pytest.fixture
def pr(postgres):
    """A fresh pull request number per test; its database dropped afterwards."""
    number = 900 + len(_used)
    _used.append(number)
    yield number
    drop(postgres, number)


_used: list[int] = []


def test_create_makes_the_database_owned_by_its_login_role_and_twice_is_the_same(postgres, pr):
    create(postgres, pr)
    first = catalog(postgres, pr)
    create(postgres, pr)
    assert catalog(postgres, pr) == first
    db, role = f"pr_{pr}", f"pr_{pr}_app"
    assert first == {
        # PUBLIC has nothing on it: only the owner is in the ACL.
        "database": [(db, role, f"{{{role}=CTc/{role}}}")],
        "role": [(role, False, False, False, True, review_env.ROLE_CONNECTION_LIMIT, True)],
    }


def test_the_role_works_in_its_own_database(postgres, pr):
    create(postgres, pr)
    with login(postgres, pr, f"pr_{pr}") as conn:
        conn.execute("CREATE TABLE seed (id int PRIMARY KEY, note text)")
        conn.execute("INSERT INTO seed VALUES (1, 'hello')")
        assert conn.execute("SELECT note FROM seed").fetchall() == [("hello",)]


@pytest.mark.parametrize(
    "target, statements, sqlstate",
    [
        # Another pull request's database: PUBLIC lost CONNECT there, so no session at all.
        ("other_review", (), "42501"),
        # Dev's own database: it may connect (RDS's PUBLIC CONNECT), but touches nothing.
        ("app", ("CREATE TABLE public.x (id int)",), "42501"),
        ("app", ("CREATE SCHEMA pr_owned",), "42501"),
        ("app", ("SELECT * FROM app.anything",), "42501"),
    ],
)
def test_the_role_cannot_use_any_other_database(postgres, pr, target, statements, sqlstate):
    other = pr + 5000
    create(postgres, pr)
    create(postgres, other)
    try:
        if target == "app":
            # What dev's roles job leaves: the schema `app` exists, PUBLIC has no CREATE on public.
            with postgres.as_superuser() as conn:
                conn.execute("CREATE SCHEMA IF NOT EXISTS app")
                conn.execute("CREATE TABLE IF NOT EXISTS app.anything (id int)")
                conn.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
                conn.execute("REVOKE CREATE, TEMPORARY ON DATABASE app FROM PUBLIC")
        dbname = f"pr_{other}" if target == "other_review" else target
        got = None
        try:
            with login(postgres, pr, dbname) as conn:
                for statement in statements:
                    try:
                        conn.execute(statement)
                    except psycopg.Error as error:
                        got = error.sqlstate
                        break
        except psycopg.OperationalError as error:
            got = "42501" if "permission denied for database" in str(error) else str(error)
        assert got == sqlstate
    finally:
        drop(postgres, other)


def test_a_new_password_replaces_the_old_one(postgres, pr):
    create(postgres, pr)
    create(postgres, pr, password="review-password-2")
    with pytest.raises(psycopg.OperationalError):
        login(postgres, pr, f"pr_{pr}").close()
    login(postgres, pr, f"pr_{pr}", password="review-password-2").close()


def test_drop_removes_database_and_role_even_with_a_session_open_and_twice_is_fine(postgres, pr):
    create(postgres, pr)
    session = login(postgres, pr, f"pr_{pr}")
    try:
        drop(postgres, pr)
    finally:
        session.close()
    assert catalog(postgres, pr) == {"database": [], "role": []}
    drop(postgres, pr)
    assert catalog(postgres, pr) == {"database": [], "role": []}


@pytest.mark.parametrize(
    "vars_, message",
    [
        ({}, "psql variable role_verifier is not set"),
        ({review_env.VERIFIER_VARIABLE: PASSWORD}, "psql variable role_verifier is not a SCRAM-SHA-256 verifier"),
    ],
)
def test_create_refuses_a_missing_or_plain_password(postgres, pr, vars_, message):
    code, _, stderr = run(postgres, review_env.create_sql(pr), variables=vars_)
    assert code == 3 and message in stderr
    assert catalog(postgres, pr) == {"database": [], "role": []}


def test_seed_data_loads_as_the_role_and_twice_is_the_same(postgres, pr):
    """The create Job's second step: dev's fixtures in the review database, owned by its role."""
    from infra.components.review_env import seed_script

    create(postgres, pr)
    n = review_env.names(pr, "a.example.com", "b.example.com")
    script = seed_script(n)
    for _ in range(2):
        assert run_in(postgres, script, n.database) == (0, "", "")
    with login(postgres, pr, n.database) as conn:
        users = conn.execute("SELECT count(*) FROM app.users").fetchone()[0]
        events = conn.execute("SELECT count(*) FROM app.events").fetchone()[0]
        owners = conn.execute("SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'app'").fetchall()
    from infra.data import seed as seed_data

    fixtures = seed_data.load_fixtures()
    assert (users, events, owners) == (len(fixtures.users), len(fixtures.events), [(n.role,)])


def run_in(postgres, script: str, dbname: str) -> tuple[int, str, str]:
    result = postgres.psql(script, dbname=dbname)
    return result.returncode, result.stdout, result.stderr
