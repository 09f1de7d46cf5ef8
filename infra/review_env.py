"""Review environments (one per pull request, inside the dev cluster): the pure logic.

No Pulumi, nothing of the program: the review program (`review/__main__.py`), its component
(`infra/components/review_env.py`), the offline tools (`python -m infra review plan|gc`) and
the tests all take their names, limits, lifecycle decisions and SQL from here.

- `names(pr, api_host, web_host)`: the namespace `pr-<n>`, the database `pr_<n>`, its login
  role `pr_<n>_app` and the hostnames `pr-<n>-<dev's first label>.<rest>` (e.g.
  `pr-123-api-dev.example.com`), each within its limit: a DNS label 63 characters, a
  PostgreSQL identifier 63 bytes (NAMEDATALEN - 1; a longer one is silently truncated by the
  server, so two names could meet);
- `parse_config(raw)`: the review program's `platform-review:*` config, validated, one line
  naming the key on bad input (`ReviewConfigError`);
- `expired(last_push, now, ttl_days)` and `to_evict(envs, cap)`: the TTL and the cap;
  `collect(...)` combines them (and closed pull requests) into what the daily job destroys;
- `create_sql(pr)` / `drop_sql(pr)`: the psql scripts the in-cluster Jobs run as the RDS
  master, idempotent both.
"""

from __future__ import annotations

import datetime
import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

NAMESPACE = "platform-review"  # the review program's config namespace (its project name)

DNS_LABEL_MAX = 63
PG_IDENTIFIER_MAX = 63
# GitHub numbers pull requests from 1; nine digits keep every name far inside its limit.
PR_MAX = 999_999_999

# psql variable holding the per-PR role's SCRAM-SHA-256 verifier (infra.dbroles.scram_sha256_verifier):
# the password itself never reaches the server or its statement log.
VERIFIER_VARIABLE = "role_verifier"
# A fuse, not sizing: dev's db.t3.micro takes about 80 connections for dev and every review
# environment together; one pull request's leak must not take them all.
ROLE_CONNECTION_LIMIT = 10
# The database the Jobs connect to as the master: RDS creates `postgres` on every instance.
MAINTENANCE_DATABASE = "postgres"


class ReviewConfigError(ValueError):
    """One line naming the config key (`platform-review:<key>: <problem>`)."""

    def __init__(self, key: str, problem: str):
        full = key if ":" in key else f"{NAMESPACE}:{key}"
        super().__init__(f"{full}: {problem}")
        self.key = full
        self.problem = problem


# ---------------------------------------------------------------------------- names


def parse_pr(stack: str) -> int:
    """`pr-123` -> 123: a review stack is named after its pull request, nothing else."""
    match = re.fullmatch(r"pr-([1-9][0-9]{0,8})", stack)
    if match is None:
        raise ReviewConfigError("stack", f"{stack!r} is not a review stack name: pr-<pull request number> (1 to {PR_MAX}), e.g. pr-123")
    return int(match.group(1))


def _bounded(name: str, limit: int) -> str:
    """`name` if it fits, else cut with an 8-hex digest of the whole, so two long names stay apart."""
    if len(name.encode()) <= limit:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[: limit - 9].rstrip('-_')}-{digest}"


def hostname(pr: int, dev_host: str, domain: str | None = None) -> str:
    """`api-dev.example.com` -> `pr-123-api-dev.example.com`: the same zone, one label longer.

    A record at the zone's apex (`dev_host == domain`) gets `pr-123.<domain>`.

    One label under the same parent keeps the record in dev's Cloudflare zone, and covered by
    a `*.<parent>` certificate should dev's load balancer carry one.
    """
    host = dev_host.strip().rstrip(".").lower()
    if domain is not None and host == domain.strip().rstrip(".").lower():
        return f"{_bounded(f'pr-{pr}', DNS_LABEL_MAX)}.{host}"
    first, _, rest = host.partition(".")
    if not first or not rest:
        raise ValueError(f"{dev_host!r} is not a hostname with a parent domain")
    label = _bounded(f"pr-{pr}-{first}", DNS_LABEL_MAX)
    return f"{label}.{rest}"


@dataclass(frozen=True)
class Names:
    pr: int
    namespace: str   # Kubernetes namespace, a DNS label
    database: str    # PostgreSQL database
    role: str        # its owner, the login role the app uses
    api_host: str
    web_host: str

    @property
    def api_url(self) -> str:
        return f"https://{self.api_host}"

    @property
    def web_url(self) -> str:
        return f"https://{self.web_host}"


def names(pr: int, api_host: str, web_host: str, domain: str | None = None) -> Names:
    if not 1 <= pr <= PR_MAX:
        raise ValueError(f"pull request number {pr} outside 1..{PR_MAX}")
    namespace = _bounded(f"pr-{pr}", DNS_LABEL_MAX)
    database = _bounded(f"pr_{pr}", PG_IDENTIFIER_MAX)
    role = _bounded(f"pr_{pr}_app", PG_IDENTIFIER_MAX)
    return Names(pr, namespace, database, role, hostname(pr, api_host, domain), hostname(pr, web_host, domain))


def host_of(url: str) -> str:
    """`https://api-dev.example.com/` -> `api-dev.example.com`."""
    return re.sub(r"^[a-z]+://", "", url.strip()).split("/", 1)[0]


# ---------------------------------------------------------------------------- config


@dataclass(frozen=True)
class ReviewConfig:
    # The dev stack's fully qualified name (`organization/platform/dev` on the S3 backend).
    dev_stack: str
    ttl_days: int = 7
    max_environments: int = 5
    # What each review environment may request on dev's nodes (its ResourceQuota), and so
    # what its share of the nodes costs.
    cpu_millicores: int = 500
    memory_mib: int = 1024
    # Its database's share of dev's gp3 storage (priced; not a quota PostgreSQL enforces).
    database_storage_gb: int = 2
    # True for the `pulumi up` before `pulumi destroy`: runs the drop Job, removes the rest.
    teardown: bool = False

    @property
    def dev_stack_name(self) -> str:
        """`organization/platform/dev` -> `dev`: also the committed stack file it reads."""
        return self.dev_stack.rsplit("/", 1)[-1]


_INTS = {
    # key: (low, high, what)
    "ttl_days": (1, 90, "days without a push before the daily job destroys it"),
    "max_environments": (1, 20, "review environments at once"),
    "cpu_millicores": (50, 4000, "CPU millicores its pods may request"),
    "memory_mib": (64, 16384, "MiB of memory its pods may request"),
    "database_storage_gb": (1, 20, "GB of dev's database storage"),
}
# Config keys that are not this program's to validate (the Cloudflare token is read as a secret).
_SECRET_KEYS = ("cloudflare_api_token",)
_QUALIFIED = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")


def _int(key: str, value: Any) -> int:
    low, high, what = _INTS[key]
    if isinstance(value, bool) or not re.fullmatch(r"-?[0-9]+", str(value).strip()):
        raise ReviewConfigError(key, f"must be a whole number ({what}) from {low} to {high}, not {value!r}")
    number = int(str(value).strip())
    if not low <= number <= high:
        raise ReviewConfigError(key, f"must be from {low} to {high} ({what}), not {number}")
    return number


def parse_config(raw: Mapping[str, Any]) -> ReviewConfig:
    """`raw`: key (without `platform-review:`) -> value as the engine passes it (strings)."""
    unknown = sorted(set(raw) - {"dev_stack", "teardown", *_INTS, *_SECRET_KEYS})
    if unknown:
        allowed = ", ".join(sorted({"dev_stack", "teardown", *_INTS, *_SECRET_KEYS}))
        raise ReviewConfigError(unknown[0], f"unknown key; the review program reads {allowed}")
    dev_stack = str(raw.get("dev_stack") or "").strip()
    if not dev_stack:
        raise ReviewConfigError("dev_stack", "required: the dev stack's fully qualified name, e.g. organization/platform/dev")
    if not _QUALIFIED.fullmatch(dev_stack):
        raise ReviewConfigError("dev_stack", f"{dev_stack!r} is not a fully qualified stack name <organization>/<project>/<stack> (S3 backend: organization/platform/dev)")
    teardown = str(raw.get("teardown", "false")).strip().lower()
    if teardown not in ("true", "false"):
        raise ReviewConfigError("teardown", f"must be true or false, not {raw['teardown']!r}")
    ints = {key: _int(key, raw[key]) for key in _INTS if key in raw}
    return ReviewConfig(dev_stack=dev_stack, teardown=teardown == "true", **ints)


def check_development_tier(dev_stack: str, tier: str | None, environment: str | None, exported_environment: str | None) -> None:
    """Review environments live only in a development-tier stack: refuse any other, in one line.

    `tier` and `environment`: the referenced stack's committed stack file; `exported_environment`:
    what the stack itself exports as `environment`, so the reference is the stack the file describes.
    """
    key = "dev_stack"
    if tier != "development":
        raise ReviewConfigError(key, f"{dev_stack} is a {tier or 'unknown'}-tier stack (platform:tier); review environments are created only in a development-tier stack, never in staging or prod")
    if exported_environment is not None and exported_environment != environment:
        raise ReviewConfigError(key, f"{dev_stack} exports environment {exported_environment!r}, not {environment!r} as its stack file says: the reference is not that stack")


# ---------------------------------------------------------------------------- lifecycle


@dataclass(frozen=True)
class Env:
    """One review environment that exists: its pull request and the time of its last push."""

    pr: int
    last_push: datetime.datetime


@dataclass(frozen=True)
class Eviction:
    pr: int
    reason: str      # "closed", "expired", "cap"
    comment: str     # what the pull request is told


def _utc(moment: datetime.datetime) -> datetime.datetime:
    if moment.tzinfo is None:
        raise ValueError(f"{moment.isoformat()} has no time zone: give times in UTC (...Z)")
    return moment.astimezone(datetime.timezone.utc)


def _when(moment: datetime.datetime) -> str:
    return _utc(moment).strftime("%Y-%m-%d %H:%M UTC")


def expired(last_push: datetime.datetime, now: datetime.datetime, ttl_days: int) -> bool:
    """True once `ttl_days` whole days have passed since the last push (the boundary expires)."""
    return _utc(now) - _utc(last_push) >= datetime.timedelta(days=ttl_days)


def to_evict(envs: Sequence[Env], cap: int, room: int | None = None) -> list[Eviction]:
    """Never more than `cap`: the oldest by last push go (ties: the lower number, the older PR).

    `room`: how many of `envs` may stay when that is fewer than `cap` (one is about to be
    created); the comment still names the cap.
    """
    if cap < 0:
        raise ValueError("cap must be at least 0")
    keep = cap if room is None else max(0, min(room, cap))
    ordered = sorted(envs, key=lambda e: (_utc(e.last_push), e.pr))
    excess = ordered[: max(0, len(ordered) - keep)]
    return [
        Eviction(
            e.pr,
            "cap",
            f"Review environment `pr-{e.pr}` destroyed: at most {cap} review environments run at once, "
            f"and this one had the oldest push ({_when(e.last_push)}). Push again to recreate it.",
        )
        for e in excess
    ]


def collect(
    envs: Sequence[Env],
    open_prs: Iterable[int],
    now: datetime.datetime,
    ttl_days: int,
    cap: int,
    incoming: int | None = None,
) -> list[Eviction]:
    """What to destroy now, in order: closed pull requests, expired ones, then the cap.

    `incoming`: a pull request about to get its environment (counted in the cap as the
    newest, so room is made before it is created; never evicted itself).
    """
    open_set = set(open_prs)
    out: list[Eviction] = []
    alive: list[Env] = []
    for env in sorted(envs, key=lambda e: e.pr):
        if env.pr == incoming:
            continue
        if env.pr not in open_set:
            out.append(Eviction(env.pr, "closed", f"Review environment `pr-{env.pr}` destroyed: the pull request is closed."))
        elif expired(env.last_push, now, ttl_days):
            out.append(Eviction(
                env.pr, "expired",
                f"Review environment `pr-{env.pr}` destroyed: no push for {ttl_days} days (last {_when(env.last_push)}). Push again to recreate it.",
            ))
        else:
            alive.append(env)
    out += to_evict(alive, cap, room=cap - 1 if incoming is not None else None)
    return out


# ---------------------------------------------------------------------------- SQL


def _verifier_guard() -> list[str]:
    variable = VERIFIER_VARIABLE
    return [
        f"\\if :{{?{variable}}}",
        "\\else",
        f"DO $$BEGIN RAISE EXCEPTION 'psql variable {variable} is not set: psql -v {variable}=<SCRAM-SHA-256 verifier>'; END$$;",
        "\\endif",
        f"SELECT :'{variable}' ~ '^SCRAM-SHA-256\\$[0-9]+:[A-Za-z0-9+/=]+\\$[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+$' AS verifier_ok \\gset",
        "\\if :verifier_ok",
        "\\else",
        f"DO $$BEGIN RAISE EXCEPTION 'psql variable {variable} is not a SCRAM-SHA-256 verifier: give infra.dbroles.scram_sha256_verifier(password, salt), never the password'; END$$;",
        "\\endif",
    ]


def create_sql(pr: int) -> str:
    """The review database and its owner, as the RDS master, against `postgres`. Idempotent.

    `psql -X -v ON_ERROR_STOP=1 -v role_verifier=<verifier> -f create.sql`. CREATE DATABASE
    cannot run in a transaction or a DO block, so each CREATE is generated only when missing
    and run by psql's \\gexec. Since PostgreSQL 16 a CREATEROLE user (the RDS master is one,
    not a superuser) may create a database owned by another role only if it can SET ROLE to
    it, and its CREATEROLE alone no longer grants it the role: the master takes the
    membership explicitly (it holds ADMIN OPTION on the roles it created).
    The role may connect to its own database only: PUBLIC loses CONNECT on it, so no other
    pull request's role gets in.
    """
    n = names(pr, "x.invalid", "x.invalid")
    db, role = n.database, n.role
    # A non-superuser may not name SUPERUSER / REPLICATION / BYPASSRLS in ALTER ROLE at all,
    # even to say no (infra/dbroles.py): they are set at CREATE only.
    attributes = f"LOGIN NOCREATEDB NOCREATEROLE INHERIT CONNECTION LIMIT {ROLE_CONNECTION_LIMIT}"
    return "\n".join([
        f"-- Review environment of pull request #{pr}: database {db}, owned by its login role {role}.",
        "-- Generated by infra/review_env.py (create_sql); run by the Job as the RDS master.",
        "\\set ON_ERROR_STOP on",
        "SET client_min_messages = warning;",
        *_verifier_guard(),
        # Pinned empty, as infra/dbroles.py does: the master gets only the membership granted below.
        "SET createrole_self_grant = '';",
        f"SELECT format('CREATE ROLE %I NOSUPERUSER NOREPLICATION NOBYPASSRLS {attributes}', '{role}') WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{role}') \\gexec",
        f"ALTER ROLE {role} {attributes} PASSWORD :'{VERIFIER_VARIABLE}' VALID UNTIL 'infinity';",
        # PostgreSQL 16+: SET lets the master name the role as the database's owner; INHERIT lets
        # it drop that database later without SET ROLE.
        f"SELECT format('GRANT %I TO %I WITH INHERIT TRUE, SET TRUE', '{role}', current_user)",
        f"  WHERE NOT EXISTS (SELECT FROM pg_auth_members a JOIN pg_roles r ON r.oid = a.roleid JOIN pg_roles m ON m.oid = a.member",
        f"                    WHERE r.rolname = '{role}' AND m.rolname = current_user AND a.inherit_option AND a.set_option) \\gexec",
        f"SELECT format('CREATE DATABASE %I OWNER %I', '{db}', '{role}') WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '{db}') \\gexec",
        f"ALTER DATABASE {db} OWNER TO {role};",
        f"REVOKE ALL ON DATABASE {db} FROM PUBLIC;",
        f"GRANT CONNECT, TEMPORARY, CREATE ON DATABASE {db} TO {role};",
        "",
    ])


def drop_sql(pr: int) -> str:
    """The review database and its role gone, as the RDS master, against `postgres`. Idempotent.

    WITH (FORCE) (PostgreSQL 13+) ends the pull request's sessions first, which a plain DROP
    DATABASE would wait on forever; the master may end them as a member of their role.
    """
    n = names(pr, "x.invalid", "x.invalid")
    return "\n".join([
        f"-- Review environment of pull request #{pr}: drop database {n.database} and role {n.role}.",
        "-- Generated by infra/review_env.py (drop_sql); run by the teardown Job as the RDS master.",
        "\\set ON_ERROR_STOP on",
        "SET client_min_messages = warning;",
        f"DROP DATABASE IF EXISTS {n.database} WITH (FORCE);",
        f"DROP ROLE IF EXISTS {n.role};",
        "",
    ])


def sql_digest(script: str) -> str:
    return hashlib.sha256(script.encode()).hexdigest()[:12]
