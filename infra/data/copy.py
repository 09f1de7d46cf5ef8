"""The anonymized copy: prod's database, masked in the stream, into a new database that replaces staging's.

Four steps, each a function here and a subcommand of `python -m infra.data.copy`:

1. **check** (`problems`): every column of the copied schemas (the rules' `schemas`) has a rule
   in data/masking.yaml; no column whose name or sampled content looks like PII is `keep`;
   each rule fits its column's type; a foreign key and the key it references have the same
   rule (else the masked join breaks); nothing is in the schemas that the copy does not
   reproduce (views, functions, triggers, policies, domains). Any problem stops the run
   with one line, before anything is written.
2. **dump** (`dump`): one REPEATABLE READ, read-only transaction on the source (prod's read
   replica), table by table `COPY ... TO STDOUT`; each value is masked as it streams (the
   masker, infra/data/masking.py), and every kept text value is scanned for PII again (all
   rows, not a sample): un-masked data is never written anywhere. The output is one
   `.tar.gz`: `manifest.json` (the DDL, the tables' columns and row counts, the rules that
   were applied, the sequences' positions) and one COPY-text member per table.
3. **restore** (`restore`): into a NEW database `<target>_copy_<stamp>` on the target
   server: the schema, the data (`COPY ... FROM STDIN`), then the keys, indexes and foreign
   keys (so each is built and validated over the data once), then the sequences' positions.
4. **verify and swap**: row counts equal the manifest's, every constraint validated, the
   PII scan of step 1 over the restored kept columns; only then the swap, one transaction
   of two renames (`<target>` -> `<target>_previous_<stamp>`, the new one -> `<target>`),
   after closing the target's sessions. Any failure before the swap drops the new
   database and leaves the target as it was; the previous copy is kept for a rollback
   (one, older ones are dropped).

Why not pg_dump: un-masked rows would exist as a file before anything masks them (and the
seeds' `sed` over a dump misses every column its patterns do not know). The copy reproduces
tables, their columns (defaults, identity, generated), enums, sequences, constraints and
indexes; what it does not reproduce stops the check instead of disappearing.

Not here: grants and ownership. The new database's objects belong to the restoring role;
the roles job (infra/dbroles.py) must run against it before the app uses it.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import sys
import tarfile
import tempfile
import time
import zlib
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable

from infra.data import pii
from infra.data.masking import ALLOWED_TYPES, MASKING_RULES, RULES, TEXT_TYPES, Masker, MaskingRules, RulesError

FORMAT = "platform-anonymized-copy/1"
# What the PII content test reads: text-like columns (json included: free-form documents).
SCANNED_TYPES = TEXT_TYPES | {"json", "jsonb"}
SAMPLE_ROWS = 1000  # per kept column, in the check before the copy
VERIFY_ROWS = 10_000  # per table, in the scan of the restored database
KEEP_PREVIOUS = 1  # previous copies kept for a rollback after a swap
DEFAULT_RULES = "data/masking.yaml"


class CopyError(RuntimeError):
    """One line: what stopped the copy (a column, a count, a constraint), and what is allowed."""


def ident(*names: str) -> str:
    return ".".join('"' + name.replace('"', '""') + '"' for name in names)


# --- the catalog --------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    name: str
    typname: str  # pg_type.typname: text, varchar, int8, uuid, an enum's name, ...
    type_sql: str  # format_type(): varchar(120), app.status, ...
    not_null: bool
    default: str | None
    identity: str  # '', 'a' (ALWAYS), 'd' (BY DEFAULT)
    generated: bool
    max_length: int | None

    def ddl(self) -> str:
        parts = [ident(self.name), self.type_sql]
        if self.generated:
            parts.append(f"GENERATED ALWAYS AS ({self.default}) STORED")
        elif self.identity:
            parts.append(f"GENERATED {'ALWAYS' if self.identity == 'a' else 'BY DEFAULT'} AS IDENTITY")
        elif self.default is not None:
            parts.append(f"DEFAULT {self.default}")
        if self.not_null:
            parts.append("NOT NULL")
        return " ".join(parts)


@dataclass(frozen=True)
class Table:
    schema: str
    name: str
    columns: tuple[Column, ...]

    @property
    def key(self) -> str:
        return f"{self.schema}.{self.name}"

    @property
    def copied(self) -> tuple[Column, ...]:
        """The columns COPY carries: generated columns are computed again on restore."""
        return tuple(c for c in self.columns if not c.generated)


@dataclass(frozen=True)
class ForeignKey:
    name: str
    table: str
    columns: tuple[str, ...]
    references: str
    referenced: tuple[str, ...]


@dataclass
class Catalog:
    schemas: tuple[str, ...]
    tables: list[Table] = field(default_factory=list)
    enums: list[tuple[str, str, list[str]]] = field(default_factory=list)
    # (schema, name, type, start, increment, min, max, cache, cycle, owner table key or None, owner column)
    sequences: list[tuple[Any, ...]] = field(default_factory=list)
    constraints: list[tuple[str, str, str, str]] = field(default_factory=list)  # (table key, name, contype, definition)
    indexes: list[str] = field(default_factory=list)
    foreign_keys: list[ForeignKey] = field(default_factory=list)
    unsupported: list[str] = field(default_factory=list)

    def table(self, key: str) -> Table:
        return next(t for t in self.tables if t.key == key)


def _rows(conn, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    return conn.execute(sql, params or None).fetchall()


def introspect(conn, schemas: Iterable[str]) -> Catalog:
    """What the copy reproduces, from the catalogs; names qualified (search_path is pg_catalog)."""
    schemas = tuple(schemas)
    conn.execute("SET search_path = pg_catalog")
    catalog = Catalog(schemas)
    present = {row[0] for row in _rows(conn, "SELECT nspname FROM pg_namespace WHERE nspname = ANY(%s)", list(schemas))}
    for schema in schemas:
        if schema not in present:
            catalog.unsupported.append(f"{schema}: the schema does not exist on the source; allowed: the rules' schemas must exist")
    kinds = {"p": "a partitioned table", "v": "a view", "m": "a materialized view", "f": "a foreign table"}
    relations = _rows(
        conn,
        "SELECT c.oid, n.nspname, c.relname, c.relkind, c.relrowsecurity FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = ANY(%s) AND c.relkind IN ('r', 'p', 'v', 'm', 'f') AND NOT c.relispartition ORDER BY 2, 3",
        list(schemas),
    )
    for oid, schema, name, kind, rls in relations:
        if kind != "r":
            catalog.unsupported.append(f"{schema}.{name}: {kinds[kind]}; allowed: the copy reproduces plain tables only")
            continue
        if rls:
            catalog.unsupported.append(f"{schema}.{name}: row-level security is on; allowed: the copy does not reproduce policies")
        columns = _rows(
            conn,
            "SELECT a.attname, t.typname, format_type(a.atttypid, a.atttypmod), a.attnotnull, pg_get_expr(d.adbin, d.adrelid), "
            "a.attidentity, a.attgenerated <> '', CASE WHEN t.typname IN ('varchar', 'bpchar') AND a.atttypmod > 4 THEN a.atttypmod - 4 END "
            "FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
            "WHERE a.attrelid = %s AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
            oid,
        )
        catalog.tables.append(Table(schema, name, tuple(Column(*row) for row in columns)))
    for schema, name, kind in _rows(
        conn,
        "SELECT n.nspname, t.typname, t.typtype FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace "
        "WHERE n.nspname = ANY(%s) AND t.typtype IN ('e', 'd', 'c', 'r', 'm') AND t.typelem = 0 "
        "AND NOT (t.typtype = 'c' AND EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = t.typrelid AND c.relkind <> 'c')) ORDER BY 1, 2",
        list(schemas),
    ):
        if kind == "e":
            labels = [row[0] for row in _rows(conn, "SELECT enumlabel FROM pg_enum e JOIN pg_type t ON t.oid = e.enumtypid JOIN pg_namespace n ON n.oid = t.typnamespace WHERE n.nspname = %s AND t.typname = %s ORDER BY enumsortorder", schema, name)]
            catalog.enums.append((schema, name, labels))
        else:
            catalog.unsupported.append(f"{schema}.{name}: a {'domain' if kind == 'd' else 'composite or range type'}; allowed: enums only")
    for schema, name in _rows(conn, "SELECT n.nspname, p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = ANY(%s) ORDER BY 1, 2", list(schemas)):
        catalog.unsupported.append(f"{schema}.{name}: a function; allowed: the copy reproduces no functions")
    for schema, table, name in _rows(
        conn,
        "SELECT n.nspname, c.relname, tg.tgname FROM pg_trigger tg JOIN pg_class c ON c.oid = tg.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = ANY(%s) AND NOT tg.tgisinternal ORDER BY 1, 2, 3",
        list(schemas),
    ):
        catalog.unsupported.append(f"{schema}.{table}: trigger {name}; allowed: the copy reproduces no triggers")
    catalog.sequences = _rows(
        conn,
        "SELECT n.nspname, c.relname, format_type(s.seqtypid, NULL), s.seqstart, s.seqincrement, s.seqmin, s.seqmax, s.seqcache, s.seqcycle, "
        "(SELECT tn.nspname || '.' || tc.relname FROM pg_depend d JOIN pg_class tc ON tc.oid = d.refobjid JOIN pg_namespace tn ON tn.oid = tc.relnamespace "
        " WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype IN ('a', 'i') AND d.refclassid = 'pg_class'::regclass), "
        "(SELECT a.attname FROM pg_depend d JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid "
        " WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype IN ('a', 'i') AND d.refclassid = 'pg_class'::regclass), "
        "EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype = 'i') "
        "FROM pg_sequence s JOIN pg_class c ON c.oid = s.seqrelid JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = ANY(%s) ORDER BY 1, 2",
        list(schemas),
    )
    order = {"p": 0, "u": 1, "x": 2, "c": 3, "f": 4}
    constraints = _rows(
        conn,
        "SELECT n.nspname || '.' || c.relname, con.conname, con.contype, pg_get_constraintdef(con.oid) FROM pg_constraint con "
        "JOIN pg_class c ON c.oid = con.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = ANY(%s) AND con.contype IN ('p', 'u', 'x', 'c', 'f') AND c.relkind = 'r' ORDER BY 1, 2",
        list(schemas),
    )
    catalog.constraints = sorted(constraints, key=lambda row: (order[row[2]], row[0], row[1]))
    catalog.indexes = [
        row[0]
        for row in _rows(
            conn,
            "SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = ANY(%s) AND NOT EXISTS (SELECT 1 FROM pg_constraint con WHERE con.conindid = i.indexrelid AND con.contype IN ('p', 'u', 'x')) ORDER BY c.relname",
            list(schemas),
        )
    ]
    for name, table, columns, references, referenced in _rows(
        conn,
        "SELECT con.conname, n.nspname || '.' || c.relname, "
        "ARRAY(SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY k(num, pos) JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.num ORDER BY k.pos), "
        "rn.nspname || '.' || rc.relname, "
        "ARRAY(SELECT a.attname::text FROM unnest(con.confkey) WITH ORDINALITY k(num, pos) JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.num ORDER BY k.pos) "
        "FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
        "JOIN pg_class rc ON rc.oid = con.confrelid JOIN pg_namespace rn ON rn.oid = rc.relnamespace "
        "WHERE n.nspname = ANY(%s) AND con.contype = 'f' ORDER BY 2, 1",
        list(schemas),
    ):
        catalog.foreign_keys.append(ForeignKey(name, table, tuple(columns), references, tuple(referenced)))
    return catalog


# --- 1. check -----------------------------------------------------------------------------


def rule_problems(catalog: Catalog, rules: MaskingRules, source: str = DEFAULT_RULES) -> list[str]:
    """Every problem of the rules against the catalog, one line each (no database access)."""
    problems = list(catalog.unsupported)
    for table in catalog.tables:
        for column in table.columns:
            where = f"{table.key}.{column.name}"
            entry = rules.rule_of(table.schema, table.name, column.name)
            if entry is None:
                problems.append(f"{where}: not classified in {source}; allowed: one of {', '.join(RULES)} (a new column must be classified before the next copy)")
                continue
            allowed = ALLOWED_TYPES[entry.rule]
            if allowed is not None and column.typname not in allowed:
                fits = [r for r in RULES if ALLOWED_TYPES[r] is None or column.typname in ALLOWED_TYPES[r]]  # type: ignore[operator]
                problems.append(f"{where}: rule {entry.rule} on a {column.type_sql} column; allowed for {column.type_sql}: {', '.join(fits)}")
            if entry.rule == "null" and column.not_null:
                problems.append(f"{where}: rule null on a NOT NULL column; allowed: a masking rule ({', '.join(r for r in MASKING_RULES if r != 'null')})")
            suggested = pii.name_suggests(column.name)
            if entry.rule == "keep" and suggested and not entry.reason:
                problems.append(f"{where}: rule keep, but the name suggests {suggested}; allowed: a masking rule, or keep with a reason (why it is not PII)")
    for fk in catalog.foreign_keys:
        schema, name = fk.table.split(".", 1)
        ref_schema, ref_name = fk.references.split(".", 1)
        for column, referenced in zip(fk.columns, fk.referenced):
            mine, theirs = rules.rule_of(schema, name, column), rules.rule_of(ref_schema, ref_name, referenced)
            if mine and theirs and mine.rule != theirs.rule:
                problems.append(
                    f"{fk.table}.{column}: rule {mine.rule}, but it references {fk.references}.{referenced} (rule {theirs.rule}); allowed: the same rule on both, so the masked join holds"
                )
    return problems


def stale_rules(catalog: Catalog, rules: MaskingRules) -> list[str]:
    """Rules for columns the database no longer has (reported, not an error)."""
    present = {f"{t.key}.{c.name}" for t in catalog.tables for c in t.columns}
    return sorted(key for key in rules.columns if key not in present and key.split(".")[0] in catalog.schemas)


def kept_scanned(table: Table, rules: MaskingRules) -> list[Column]:
    return [c for c in table.columns if c.typname in SCANNED_TYPES and (e := rules.rule_of(table.schema, table.name, c.name)) is not None and e.rule == "keep"]


def content_problems(conn, catalog: Catalog, rules: MaskingRules, sample_rows: int | None = None) -> list[str]:
    """The PII content test over a sample of each kept text column. Values are never printed."""
    problems = []
    sample_rows = SAMPLE_ROWS if sample_rows is None else sample_rows
    for table in catalog.tables:
        for column in kept_scanned(table, rules):
            values = [row[0] for row in _rows(conn, f"SELECT {ident(column.name)}::text FROM {ident(table.schema, table.name)} WHERE {ident(column.name)} IS NOT NULL LIMIT %s", sample_rows)]
            problems += _scan(f"{table.key}.{column.name}", values, "sampled")
    return problems


def _scan(where: str, values: list[str], how: str) -> list[str]:
    found: dict[str, int] = {}
    for value in values:
        kind = pii.content_suggests(value)
        if kind:
            found[kind] = found.get(kind, 0) + 1
    if not found:
        return []
    kinds = ", ".join(f"{kind} in {count} of {len(values)} {how} values" for kind, count in sorted(found.items()))
    return [f"{where}: rule keep, but its content looks like PII ({kinds}); allowed: a masking rule ({', '.join(MASKING_RULES)})"]


def check(conn, rules: MaskingRules, source: str = DEFAULT_RULES, sample_rows: int | None = None) -> tuple[Catalog, list[str]]:
    catalog = introspect(conn, rules.schemas)
    problems = rule_problems(catalog, rules, source)
    if not problems:  # the content test reads data: only once the rules stand
        problems = content_problems(conn, catalog, rules, sample_rows)
    return catalog, problems


def _stop(problems: list[str]) -> None:
    if problems:
        more = f" (and {len(problems) - 1} more: `python -m infra.data.copy check` lists them)" if len(problems) > 1 else ""
        raise CopyError(problems[0] + more)


# --- COPY text format ---------------------------------------------------------------------

_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def copy_line(values: Iterable[str | None]) -> str:
    """One row in COPY's text format: tab-separated, `\\N` for NULL, backslash escapes."""
    return "\t".join("\\N" if v is None else v.translate(_ESCAPES) for v in values) + "\n"


# --- 2. dump ------------------------------------------------------------------------------


@dataclass
class Report:
    """What a run did: tables, rows, masked columns; `json()` and `text()`."""

    started: str
    source: str = ""
    target: str = ""
    tables: list[dict[str, Any]] = field(default_factory=list)  # {table, rows, masked: {column: rule}}
    stale_rules: list[str] = field(default_factory=list)
    rules_sha256: str = ""
    outcome: str = "running"
    database: str = ""  # the new database
    previous: str = ""  # where the old target went
    finished: str = ""

    def json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    def text(self) -> str:
        rows = sum(t["rows"] for t in self.tables)
        masked = sum(len(t["masked"]) for t in self.tables)
        lines = [f"copy {self.outcome}: {len(self.tables)} tables, {rows} rows, {masked} masked columns ({self.started} to {self.finished or '-'})"]
        for t in self.tables:
            columns = ", ".join(f"{c} ({r})" for c, r in sorted(t["masked"].items())) or "none"
            lines.append(f"  {t['table']}: {t['rows']} rows; masked: {columns}")
        if self.database:
            lines.append(f"  restored into {self.database}" + (f"; previous target kept as {self.previous}" if self.previous else ""))
        if self.stale_rules:
            lines.append(f"  rules for columns that no longer exist: {', '.join(self.stale_rules)}")
        return "\n".join(lines) + "\n"


def now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _ddl(catalog: Catalog) -> tuple[list[str], list[str]]:
    """(before the data, after the data)."""
    before = [f"CREATE SCHEMA IF NOT EXISTS {ident(s)}" for s in catalog.schemas]
    for schema, name, labels in catalog.enums:
        before.append(f"CREATE TYPE {ident(schema, name)} AS ENUM ({', '.join(_literal(l) for l in labels)})")
    owned = []
    for schema, name, type_sql, start, increment, minimum, maximum, cache, cycle, owner, owner_column, identity in catalog.sequences:
        if identity:
            continue
        before.append(
            f"CREATE SEQUENCE {ident(schema, name)} AS {type_sql} INCREMENT BY {increment} MINVALUE {minimum} MAXVALUE {maximum} "
            f"START WITH {start} CACHE {cache}{' CYCLE' if cycle else ''}"
        )
        if owner:
            owned.append(f"ALTER SEQUENCE {ident(schema, name)} OWNED BY {ident(*owner.split('.', 1), owner_column)}")
    for table in catalog.tables:
        before.append(f"CREATE TABLE {ident(table.schema, table.name)} ({', '.join(c.ddl() for c in table.columns)})")
    before += owned
    after = [f"ALTER TABLE {ident(*key.split('.', 1))} ADD CONSTRAINT {ident(name)} {definition}" for key, name, kind, definition in catalog.constraints if kind != "f"]
    after += catalog.indexes
    after += [f"ALTER TABLE {ident(*key.split('.', 1))} ADD CONSTRAINT {ident(name)} {definition}" for key, name, kind, definition in catalog.constraints if kind == "f"]
    return before, after


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _sequence_positions(conn, catalog: Catalog) -> list[dict[str, Any]]:
    positions = []
    for schema, name, *_rest, owner, owner_column, identity in catalog.sequences:
        last_value, is_called = conn.execute(f"SELECT last_value, is_called FROM {ident(schema, name)}").fetchone()
        # An identity's sequence is made by its column, under a name of the server's choosing.
        positions.append({"sequence": None if identity else f"{schema}.{name}", "column": f"{owner}.{owner_column}" if identity else None, "last_value": last_value, "is_called": is_called})
    return positions


def dump(conn, rules: MaskingRules, masker: Masker, out: str | Path, source: str = DEFAULT_RULES, report: Report | None = None) -> Report:
    """Check, then stream every table through the masker into the tar.gz `out`.

    `conn`: a connection to the source (autocommit or not; the dump opens its own
    transaction). On any problem `out` is removed and CopyError names it.
    """
    report = report or Report(started=now())
    report.source = f"{conn.info.dbname}@{conn.info.host}"  # never the password
    out = Path(out)
    conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")  # one snapshot: the foreign keys hold across tables
    try:
        catalog, problems = check(conn, rules, source)
        _stop(problems)
        report.stale_rules = stale_rules(catalog, rules)
        before, after = _ddl(catalog)
        # Which rules masked this dump: the digest of their canonical JSON, in the report too.
        report.rules_sha256 = hashlib.sha256(rules.model_dump_json().encode()).hexdigest()
        manifest: dict[str, Any] = {
            "format": FORMAT, "created": now(), "schemas": list(catalog.schemas), "before": before, "after": after,
            "tables": [], "locale": rules.locale, "rules_sha256": report.rules_sha256,
        }  # fmt: skip
        with tempfile.TemporaryDirectory(prefix="copy-") as work, tarfile.open(out, "w:gz") as archive:
            for number, table in enumerate(catalog.tables, 1):
                member = f"data/{number:04d}.copy"
                path = Path(work) / f"{number:04d}.copy"
                plan = [(c, rules.columns[f"{table.key}.{c.name}"].rule) for c in table.copied]
                rows = _dump_table(conn, table, plan, masker, path)
                archive.add(path, arcname=member)
                path.unlink()
                masked = {c.name: rule for c, rule in plan if rule != "keep"}
                manifest["tables"].append({"table": table.key, "columns": [c.name for c in table.copied], "rows": rows, "member": member, "rules": {c.name: r for c, r in plan}})
                report.tables.append({"table": table.key, "rows": rows, "masked": masked})
            manifest["sequences"] = _sequence_positions(conn, catalog)
            data = json.dumps(manifest, indent=1, sort_keys=True).encode()
            info = tarfile.TarInfo("manifest.json")
            info.size, info.mtime = len(data), int(time.time())
            archive.addfile(info, io.BytesIO(data))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        out.unlink(missing_ok=True)
        raise
    return report


def _dump_table(conn, table: Table, plan: list[tuple[Column, str]], masker: Masker, path: Path) -> int:
    names = ", ".join(ident(c.name) for c, _ in plan)
    scanned = {i for i, (c, rule) in enumerate(plan) if rule == "keep" and c.typname in SCANNED_TYPES}
    rows = 0
    with open(path, "w", encoding="utf-8", newline="") as fh, conn.cursor().copy(f"COPY {ident(table.schema, table.name)} ({names}) TO STDOUT") as copy:
        for row in copy.rows():  # text COPY without set_types(): every value a str, NULL None
            for i in scanned:
                if row[i] is not None and (kind := pii.content_suggests(row[i])):
                    raise CopyError(f"{table.key}.{plan[i][0].name}: rule keep, but row {rows + 1} looks like PII ({kind}); allowed: a masking rule ({', '.join(MASKING_RULES)})")
            fh.write(copy_line(masker.mask(rule, value, c.typname, c.max_length) for (c, rule), value in zip(plan, row)))
            rows += 1
    return rows


# --- 3. restore, 4. verify and swap -------------------------------------------------------


def read_manifest(archive: tarfile.TarFile) -> dict[str, Any]:
    try:
        member = archive.extractfile("manifest.json")
    except KeyError:
        raise CopyError("dump: no manifest.json; allowed: a dump written by `python -m infra.data.copy dump`") from None
    manifest = json.loads(member.read())  # type: ignore[union-attr]
    if manifest.get("format") != FORMAT:
        raise CopyError(f"dump: format {manifest.get('format')!r}; allowed: {FORMAT}")
    return manifest


def restore(
    dump_path: str | Path,
    connect,
    target: str,
    report: Report | None = None,
    verify_rows: int = VERIFY_ROWS,
    owner: str | None = None,
    before_swap: Callable[[str], None] | None = None,
) -> Report:
    """Restore the dump into a new database beside `target`, verify it, swap it in.

    `connect(dbname)` returns an autocommit psycopg connection to the target server as the
    restoring role (it needs CREATEDB and must own `target`); `connect(None)` one to its
    maintenance database. `owner`: the role that creates (so owns) every object, as the
    migrator owns the app's tables (the restoring role must be able to SET ROLE to it).
    `before_swap(new_database)` runs after the load, before the checks: the roles script
    (`roles_hook`) gives the app its grants there. On any failure before the swap the new
    database is dropped and `target` is as it was.
    """
    report = report or Report(started=now())
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d%H%M%S")
    new = f"{target[:40]}_copy_{stamp}"
    report.target, report.database = target, new
    try:
        archive = tarfile.open(dump_path, "r:gz")
    except (tarfile.TarError, OSError) as error:
        raise CopyError(f"restore: {dump_path}: {error}; allowed: a .tar.gz written by `python -m infra.data.copy dump`") from None
    try:
        _restore_from(archive, connect, target, report, verify_rows, owner, before_swap, new, stamp)
    except (tarfile.TarError, EOFError, zlib.error) as error:  # damaged past its manifest (the new database is dropped)
        raise CopyError(f"restore: {dump_path}: damaged ({error or type(error).__name__}); allowed: a whole dump (its report beside it)") from None
    finally:
        archive.close()
    report.outcome, report.finished = "swapped", now()
    return report


def _restore_from(archive: tarfile.TarFile, connect, target: str, report: Report, verify_rows: int, owner: str | None, before_swap, new: str, stamp: str) -> None:
    """The load, the roles hook, the checks and the swap; on any failure the new database is dropped."""
    manifest = read_manifest(archive)
    if not report.tables:
        report.tables = [{"table": t["table"], "rows": t["rows"], "masked": {c: r for c, r in t["rules"].items() if r != "keep"}} for t in manifest["tables"]]
        report.rules_sha256 = manifest.get("rules_sha256", "")
    with connect(None) as admin:
        admin.execute(f"CREATE DATABASE {ident(new)}")
        try:
            with connect(new) as conn:
                _load(conn, archive, manifest, new, owner)
            if before_swap is not None:
                before_swap(new)
            with connect(new) as conn:
                if owner:  # the restoring role reads the owner's tables as the owner
                    conn.execute(f"SET ROLE {ident(owner)}")
                _verify(conn, manifest, verify_rows)
            report.previous = _swap(admin, new, target, stamp)
        except BaseException:
            admin.execute(f"DROP DATABASE IF EXISTS {ident(new)} WITH (FORCE)")
            report.outcome = "failed"
            report.finished = now()
            raise


def _load(conn, archive: tarfile.TarFile, manifest: dict[str, Any], database: str, owner: str | None) -> None:
    if owner:  # the owner creates the schemas: it needs CREATE on the (new, empty) database
        conn.execute(f"GRANT CREATE ON DATABASE {ident(database)} TO {ident(owner)}")
    with conn.transaction():
        conn.execute("SET LOCAL search_path = pg_catalog")
        if owner:
            conn.execute(f"SET LOCAL ROLE {ident(owner)}")
        for statement in manifest["before"]:
            conn.execute(statement)
        for table in manifest["tables"]:
            schema, name = table["table"].split(".", 1)
            names = ", ".join(ident(c) for c in table["columns"])
            data = archive.extractfile(table["member"])
            with conn.cursor().copy(f"COPY {ident(schema, name)} ({names}) FROM STDIN") as copy:
                while chunk := data.read(1 << 20):  # type: ignore[union-attr]
                    copy.write(chunk)
        for statement in manifest["after"]:
            try:
                conn.execute(statement)
            except Exception as error:  # a key or foreign key the data breaks: name it
                raise CopyError(f"restore: {statement.split(' ADD ')[0].removeprefix('ALTER TABLE ')}: {str(error).splitlines()[0]}; allowed: data that keeps every constraint") from None
        for position in manifest["sequences"]:
            if position["sequence"]:
                sequence = ident(*position["sequence"].split(".", 1))
                conn.execute(f"SELECT setval(%s::regclass, %s, %s)", (sequence, position["last_value"], position["is_called"]))
            else:
                table, column = position["column"].rsplit(".", 1)
                conn.execute("SELECT setval(pg_get_serial_sequence(%s, %s), %s, %s)", (ident(*table.split(".", 1)), column, position["last_value"], position["is_called"]))


def _verify(conn, manifest: dict[str, Any], verify_rows: int) -> None:
    for table in manifest["tables"]:
        schema, name = table["table"].split(".", 1)
        count = conn.execute(f"SELECT count(*) FROM {ident(schema, name)}").fetchone()[0]
        if count != table["rows"]:
            raise CopyError(f"verify: {table['table']}: {count} rows restored, {table['rows']} dumped; allowed: the same count")
    unvalidated = _rows(conn, "SELECT conrelid::regclass::text, conname FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace WHERE n.nspname = ANY(%s) AND NOT convalidated", manifest["schemas"])
    if unvalidated:
        raise CopyError(f"verify: {unvalidated[0][0]}: constraint {unvalidated[0][1]} is not validated; allowed: every constraint validated")
    expected = {t["table"]: set(t["rules"]) for t in manifest["tables"]}
    for key, column, typname in _rows(
        conn,
        "SELECT n.nspname || '.' || c.relname, a.attname, t.typname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
        "JOIN pg_type t ON t.oid = a.atttypid WHERE n.nspname = ANY(%s) AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '' ORDER BY 1, 2",
        manifest["schemas"],
    ):
        if column not in expected.get(key, ()):
            raise CopyError(f"verify: {key}.{column}: in the restored database but not in the dump's rules; allowed: classified columns only")
    for table in manifest["tables"]:
        schema, name = table["table"].split(".", 1)
        kept = [c for c, r in table["rules"].items() if r == "keep"]
        if not kept:
            continue
        types = dict(_rows(conn, "SELECT a.attname, t.typname FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid WHERE a.attrelid = %s::regclass AND a.attnum > 0", ident(schema, name)))
        for column in (c for c in kept if types.get(c) in SCANNED_TYPES):
            values = [row[0] for row in _rows(conn, f"SELECT {ident(column)}::text FROM {ident(schema, name)} WHERE {ident(column)} IS NOT NULL LIMIT %s", verify_rows)]
            problems = _scan(f"verify: {table['table']}.{column}", values, "restored")
            _stop(problems)


def roles_hook(url: str, verifiers: dict[str, str]) -> Callable[[str], None]:
    """`before_swap` that runs the roles script (infra/dbroles.py) with psql on the new database.

    The new database has none of the target's grants (they are per database): the same
    script the roles Job runs gives them, with the verifiers of that Job's Secret
    (APP_VERIFIER, MIGRATOR_VERIFIER), before anything is swapped.
    """
    import shutil
    import subprocess

    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    from infra import dbroles

    def run(database: str) -> None:
        info = conninfo_to_dict(url)
        password = info.pop("password", None)
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        if password is not None:
            env["PGPASSWORD"] = str(password)  # not on the command line, where ps shows it
        command = [shutil.which("psql") or "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", make_conninfo(**{**info, "dbname": database})]
        for role, variable in dbroles.VERIFIER_VARIABLES.items():
            command += ["-v", f"{variable}={verifiers[role]}"]
        done = subprocess.run(command, input=dbroles.roles_sql(), env=env, capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            lines = done.stderr.strip().splitlines()
            last = next((line.split("ERROR:", 1)[1].strip() for line in lines if "ERROR:" in line), lines[-1] if lines else f"exit {done.returncode}")
            raise CopyError(f"restore: the roles script failed on {database}: {last}; allowed: a run that succeeds (the roles Job's credentials)")

    return run


def _swap(admin, new: str, target: str, stamp: str) -> str:
    """Rename `target` away and `new` into its place in one transaction; the previous name ('' if none)."""
    exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (target,)).fetchone()
    previous = f"{target[:36]}_previous_{stamp}" if exists else ""
    if exists:
        # No new sessions, then end the current ones: a database in use cannot be renamed.
        admin.execute(f"ALTER DATABASE {ident(target)} ALLOW_CONNECTIONS false")
        try:
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", (target,))
            with admin.transaction():
                admin.execute(f"ALTER DATABASE {ident(target)} RENAME TO {ident(previous)}")
                admin.execute(f"ALTER DATABASE {ident(new)} RENAME TO {ident(target)}")
        except BaseException:
            admin.execute(f"ALTER DATABASE {ident(target)} ALLOW_CONNECTIONS true")
            raise
        # Open again under its new name, for a look or a rollback (the app asks for `target`).
        admin.execute(f"ALTER DATABASE {ident(previous)} ALLOW_CONNECTIONS true")
    else:
        admin.execute(f"ALTER DATABASE {ident(new)} RENAME TO {ident(target)}")
    prefix = f"{target[:36]}_previous_"
    olds = sorted(row[0] for row in _rows(admin, "SELECT datname FROM pg_database WHERE starts_with(datname, %s)", prefix) if re.fullmatch(r"\d{14}", row[0][len(prefix):]))
    for old in olds[:-KEEP_PREVIOUS] if KEEP_PREVIOUS else olds:
        admin.execute(f"DROP DATABASE {ident(old)} WITH (FORCE)")
    return previous


# --- the CLI ------------------------------------------------------------------------------

USAGE = """\
usage: python -m infra.data.copy check   [--rules FILE]
       python -m infra.data.copy dump    [--rules FILE] --out DUMP.tar.gz [--report FILE]
       python -m infra.data.copy restore --dump DUMP.tar.gz --target DATABASE [--owner ROLE] [--roles] [--report FILE]
       python -m infra.data.copy run     [--rules FILE] --target DATABASE [--owner ROLE] [--roles] [--report FILE]

The source is $SOURCE_DATABASE_URL (prod's read replica), the target server
$TARGET_DATABASE_URL (any database there; the restore connects to it to create, swap and
drop), the masking key $DATA_MASKING_KEY (at least 32 bytes). --owner: the role that owns
the restored objects (app_migrator); --roles: run the roles script (infra/dbroles.py) on
the new database before the swap, with $APP_VERIFIER and $MIGRATOR_VERIFIER (the roles
Job's Secret). --report writes the run's report as JSON; the text report goes to stdout."""


def _connector(url: str):
    import psycopg
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    maintenance = conninfo_to_dict(url).get("dbname")

    def connect(dbname: str | None):
        return psycopg.connect(make_conninfo(url, dbname=dbname or maintenance), autocommit=True, connect_timeout=10)

    return connect


def _env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise CopyError(f"{name}: not set; allowed: a libpq URL (postgresql://user@host:5432/db?sslmode=require)")
    return value


def _restore(args, dump_path: str | Path, report: Report) -> None:
    url = _env("TARGET_DATABASE_URL")
    hook = None
    if args.roles:
        from infra import dbroles

        names = {role: variable.upper() for role, variable in dbroles.VERIFIER_VARIABLES.items()}
        verifiers = {role: os.environ.get(name, "") for role, name in names.items()}
        for role, name in names.items():
            if not verifiers[role].startswith("SCRAM-SHA-256$"):
                raise CopyError(f"{name}: not a SCRAM-SHA-256 verifier; allowed: the roles Job's {name} (infra.dbroles.scram_sha256_verifier)")
        hook = roles_hook(url, verifiers)
    restore(dump_path, _connector(url), args.target, report, owner=args.owner, before_swap=hook)


def main(argv: list[str] | None = None) -> int:
    import argparse

    import psycopg

    from infra.data import masking

    usage, _, epilog = USAGE.partition("\n\n")  # argparse writes "usage: " itself
    parser = argparse.ArgumentParser(prog="python -m infra.data.copy", usage=usage.removeprefix("usage: "), epilog=epilog, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=("check", "dump", "restore", "run"))
    parser.add_argument("--rules", default=DEFAULT_RULES)
    parser.add_argument("--out")
    parser.add_argument("--dump")
    parser.add_argument("--target")
    parser.add_argument("--report")
    parser.add_argument("--owner")
    parser.add_argument("--roles", action="store_true")
    args = parser.parse_args(argv)
    report = Report(started=now())
    try:
        if args.command in ("restore", "run") and not args.target:
            raise CopyError("--target: missing; allowed: the name of the database to replace (staging's database)")
        if args.command == "dump" and not args.out:
            raise CopyError("--out: missing; allowed: the path of the dump to write (DUMP.tar.gz)")
        if args.command == "restore" and not args.dump:
            raise CopyError("--dump: missing; allowed: the path of a dump written by `dump`")
        if args.command != "restore":
            rules = masking.load(args.rules)
            with psycopg.connect(_env("SOURCE_DATABASE_URL"), autocommit=True, connect_timeout=10) as source:
                if args.command == "check":
                    _, problems = check(source, rules, args.rules)
                    for line in problems:
                        print(f"error: {line}", file=sys.stderr)
                    if not problems:
                        print(f"check: every column of {', '.join(rules.schemas)} classified in {args.rules}, no PII kept")
                    return 1 if problems else 0
                masker = Masker(masking.key_from(os.environ.get("DATA_MASKING_KEY"), "DATA_MASKING_KEY"), rules.locale)
                if args.command == "dump":
                    dump(source, rules, masker, args.out, args.rules, report)
                else:  # run: the dump lives only as long as the restore needs it
                    with tempfile.TemporaryDirectory(prefix="copy-") as work:
                        dump(source, rules, masker, Path(work) / "copy.tar.gz", args.rules, report)
                        _restore(args, Path(work) / "copy.tar.gz", report)
        else:
            _restore(args, args.dump, report)
        if args.command == "dump":
            report.outcome, report.finished = "dumped", now()
    except (CopyError, RulesError, psycopg.Error) as error:
        report.outcome, report.finished = "failed", now()
        print(f"error: {str(error).splitlines()[0] if str(error) else type(error).__name__}", file=sys.stderr)
        if args.report:
            Path(args.report).write_text(report.json(), encoding="utf-8")
        return 1
    if args.report:
        Path(args.report).write_text(report.json(), encoding="utf-8")
    print(report.text(), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
