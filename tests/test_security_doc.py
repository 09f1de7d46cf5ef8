"""docs/security.md takes a stance on every control the program is checked against.

The page has three tables a reviewer reads: "1. Controls met", "2. Deliberate departures"
and "3. Known gaps". This suite parses them and fails when:

- a control id that a `policy/rules.py` rule cites (FSBP `RDS.9`, Checkov `CKV_AWS_66`,
  `CIS EKS 5.4.1`, ...) is in none of the three: a new rule needs a documented stance;
- a rule that is advisory for a tier finds something in that tier's committed stack and no
  departure row names the rule for that stack: an advisory finding is a choice only if it
  is written down;
- a departure or gap row lacks a column, a control (or rule) id, or a stack;
- a departure or gap the plans can decide (port 80 open, single-AZ database, ...) is
  listed for other stacks than the plans show.

Control ids are read from the first column ("Control") only, with link targets removed, so
a URL or a passing mention elsewhere never counts as a stance.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from infra.review import check
from policy import rules
from tests.conftest import STACKS, Plan, plan

DOC = Path(__file__).resolve().parents[1] / "docs" / "security.md"
DOC_NAME = "docs/security.md"

MET, DEPARTURES, GAPS = "met", "departures", "gaps"
SECTION_TITLES = {MET: "1. Controls met", DEPARTURES: "2. Deliberate departures", GAPS: "3. Known gaps"}
REQUIRED_COLUMNS = {
    MET: ("control", "stacks"),
    DEPARTURES: ("control", "title", "stacks", "what the program does instead", "why", "compensating control"),
    GAPS: ("control", "title", "stacks", "gap", "next step"),
}

# ---------------------------------------------------------------------------- control ids

_CKV = re.compile(r"\bCKV2?_AWS_\d+\b", re.IGNORECASE)
_CIS = re.compile(r"\bCIS[\s-]+EKS\s+(?:v?1\.8(?:\.0)?\s+)?(\d+(?:\.\d+)+)\b", re.IGNORECASE)
# Security Hub ids: a service name (RDS, EC2, ElastiCache, SecretsManager, CloudWatch...) and
# a number. Lower-case names (rds.force_ssl) and version numbers (v1.8) are not ids.
_FSBP = re.compile(r"(?<![\w.])([A-Z][A-Za-z]*[0-9]?)\.(\d+)\b(?!\.\d)")
_LINK_TARGET = re.compile(r"\]\([^)]*\)")
_URL = re.compile(r"https?://\S+")
_CODE = re.compile(r"`([^`]+)`")


def canonical(control_id: str) -> str:
    """The form ids are compared in: `CIS EKS 5.4.1`, `CKV_AWS_66`, `RDS.9`, case-folded."""
    return " ".join(control_id.split()).casefold()


def written_ids(text: str) -> dict[str, str]:
    """Every FSBP, CIS EKS and Checkov id in `text`: canonical form -> as written.

    Link targets and bare URLs are ignored, so only an id a reader sees counts.
    """
    text = _URL.sub(" ", _LINK_TARGET.sub("]", text))
    found = [m.group(0) for m in _CKV.finditer(text)]
    found += [f"CIS EKS {m.group(1)}" for m in _CIS.finditer(text)]
    found += [f"{m.group(1)}.{m.group(2)}" for m in _FSBP.finditer(_CIS.sub(" ", text))]
    return {canonical(written): written for written in found}


def control_ids(text: str) -> set[str]:
    """The canonical ids in `text` (see `written_ids`)."""
    return set(written_ids(text))


def rule_ids_in(text: str) -> set[str]:
    """The policy rule ids written as code (`rds-multi-az`) in `text`."""
    return {token.strip() for token in _CODE.findall(text) if token.strip() in rules.RULES_BY_ID}


# ---------------------------------------------------------------------------- the document


@dataclass(frozen=True)
class Row:
    section: str
    line: int
    cells: dict[str, str]

    @property
    def control(self) -> str:
        return self.cells.get("control", "")

    @property
    def ids(self) -> set[str]:
        return control_ids(self.control)

    @property
    def rules(self) -> set[str]:
        return rule_ids_in(self.control)

    @property
    def stacks(self) -> set[str]:
        tokens = set(re.findall(r"\b(dev|staging|prod|all)\b", self.cells.get("stacks", "").lower()))
        return set(STACKS) if "all" in tokens else tokens

    def where(self) -> str:
        label = _LINK_TARGET.sub("]", self.control).replace("[", "").replace("]", "")
        return f"{DOC_NAME}:{self.line} ({SECTION_TITLES[self.section]}, row {label[:60]!r})"


@dataclass(frozen=True)
class Table:
    section: str
    line: int
    columns: tuple[str, ...]
    rows: tuple[Row, ...]


def _cells(line: str) -> list[str]:
    body = line.strip()
    body = body[1:] if body.startswith("|") else body
    body = body[:-1] if body.endswith("|") and not body.endswith("\\|") else body
    return [cell.strip().replace("\\|", "|") for cell in re.split(r"(?<!\\)\|", body)]


def _is_separator(line: str) -> bool:
    cells = _cells(line)
    return bool(cells) and all(re.fullmatch(r":?-{3,}:?", cell) for cell in cells)


def _section_of(title: str) -> str | None:
    title = title.lower()
    if "departure" in title:
        return DEPARTURES
    if re.search(r"\bgaps?\b", title):
        return GAPS
    if re.search(r"\bmet\b", title):
        return MET
    return None


@cache
def tables() -> tuple[Table, ...]:
    """Every table under the three sections, in document order."""
    assert DOC.is_file(), f"{DOC_NAME} is missing"
    lines = DOC.read_text(encoding="utf-8").splitlines()
    found: list[Table] = []
    section: str | None = None
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("## "):
            section = _section_of(line[3:])
        elif section and line.lstrip().startswith("|") and i + 1 < len(lines) and _is_separator(lines[i + 1]):
            columns = tuple(c.lower() for c in _cells(line))
            start, i = i, i + 2
            rows = []
            while i < len(lines) and lines[i].lstrip().startswith("|"):
                values = _cells(lines[i])
                assert len(values) == len(columns), (
                    f"{DOC_NAME}:{i + 1}: {len(values)} cells in a {len(columns)}-column table "
                    "(a '|' inside a cell must be written '\\|')"
                )
                rows.append(Row(section, i + 1, dict(zip(columns, values))))
                i += 1
            found.append(Table(section, start + 1, columns, tuple(rows)))
            continue
        i += 1
    return tuple(found)


def rows(*sections: str) -> list[Row]:
    return [row for table in tables() if table.section in sections for row in table.rows]


def documented_ids() -> set[str]:
    return {control_id for row in rows(MET, DEPARTURES, GAPS) for control_id in row.ids}


# ---------------------------------------------------------------------------- what the rules cite


def cited_controls() -> list[tuple[str, str]]:
    """(rule id, control id as written) for every control a rule's description cites."""
    return sorted({(rule.id, written) for rule in rules.RULES for written in written_ids(rule.description).values()})


def test_control_ids_are_read_as_written():
    text = (
        "(FSBP RDS.9 / RDS.36) (FSBP EC2.170, EC2.8) (CIS EKS 5.4.1) (KMS.4, CKV_AWS_7) "
        "(CKV2_AWS_69) SecretsManager.1 CloudWatch.16 rds.force_ssl = 1 v1.8 0.0.0.0/0 "
        "[ElastiCache.4](https://docs.aws.amazon.com/x/EKS.2) `rds-multi-az` TLS 1.2"
    )
    assert control_ids(text) == {
        canonical(i)
        for i in (
            "RDS.9", "RDS.36", "EC2.170", "EC2.8", "CIS EKS 5.4.1", "KMS.4", "CKV_AWS_7",
            "CKV2_AWS_69", "SecretsManager.1", "CloudWatch.16", "ElastiCache.4",
        )
    }
    assert rule_ids_in(text) == {"rds-multi-az"}


def test_the_rules_cite_controls():
    # If this fails, the extraction (not the rules) is broken: no stance could ever be checked.
    assert cited_controls(), "no control id found in any policy/rules.py description"


def test_the_three_sections_have_tables():
    missing = [title for section, title in SECTION_TITLES.items() if not any(t.section == section for t in tables())]
    assert not missing, f"{DOC_NAME} has no table under: {', '.join(missing)}"


@pytest.mark.parametrize("section", [MET, DEPARTURES, GAPS])
def test_tables_have_their_columns(section):
    problems = [
        f"{DOC_NAME}:{table.line}: the table under {SECTION_TITLES[section]!r} lacks column(s) "
        f"{', '.join(repr(c) for c in REQUIRED_COLUMNS[section] if c not in table.columns)} (has {', '.join(table.columns)})"
        for table in tables()
        if table.section == section and not set(REQUIRED_COLUMNS[section]) <= set(table.columns)
    ]
    assert not problems, "\n".join(problems)


def test_every_departure_row_is_complete():
    problems = []
    for row in rows(DEPARTURES):
        empty = [c for c in REQUIRED_COLUMNS[DEPARTURES] if not row.cells.get(c, "").strip(" —-")]
        if empty:
            problems.append(f"{row.where()}: empty {', '.join(empty)}")
        if not row.ids and not row.rules:
            problems.append(f"{row.where()}: the Control column names no control id and no `policy rule id`")
        if not row.stacks:
            problems.append(f"{row.where()}: the Stacks column names none of dev, staging, prod, all")
    assert rows(DEPARTURES), f"{DOC_NAME} lists no deliberate departure"
    assert not problems, "\n".join(problems)


def test_every_gap_row_is_complete():
    problems = []
    for row in rows(GAPS):
        empty = [c for c in ("title", "stacks", "gap", "next step") if not row.cells.get(c, "").strip(" —-")]
        if empty:
            problems.append(f"{row.where()}: empty {', '.join(empty)}")
        if not row.stacks:
            problems.append(f"{row.where()}: the Stacks column names none of dev, staging, prod, all")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(("rule_id", "control_id"), cited_controls())
def test_every_control_a_rule_cites_has_a_documented_stance(rule_id, control_id):
    assert canonical(control_id) in documented_ids(), (
        f"policy/rules.py rule {rule_id!r} cites {control_id}, "
        f"which {DOC_NAME} lists neither as met (section 1) nor as a deliberate departure (2) or a known gap (3): "
        "add a row saying which stacks meet it, and how"
    )


# ---------------------------------------------------------------------------- against the plans


@pytest.mark.parametrize("stack", STACKS)
def test_every_advisory_finding_is_a_documented_departure(stack):
    data = plan(stack).data
    resources = check.resources_from_plan(data)
    tier, _ = rules.stack_tier(resources, data.get("config") or {})
    advisory: dict[str, list[str]] = {}
    for violation in rules.evaluate(resources, tier):
        if violation.level == rules.ADVISORY:
            advisory.setdefault(violation.rule, []).append(violation.urn)
    documented = {rule for row in rows(DEPARTURES) if stack in row.stacks for rule in row.rules}
    missing = {rule: urns for rule, urns in advisory.items() if rule not in documented}
    assert not missing, "\n".join(
        f"{stack}: `{rule}` is advisory in tier {tier} and finds {len(urns)} resource(s) (e.g. {urns[0]}), "
        f"but no row of {SECTION_TITLES[DEPARTURES]!r} in {DOC_NAME} names `{rule}` in its Control column for {stack}"
        for rule, urns in sorted(missing.items())
    )


def _inputs(p: Plan, token: str) -> list[dict[str, Any]]:
    return [state.get("inputs") or {} for state in p.of_type(token)]


def _num(value: Any, default: float) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


def _primaries(p: Plan) -> list[dict[str, Any]]:
    return [i for i in _inputs(p, rules.RDS_INSTANCE) if not i.get("replicateSourceDb")]


def _world_port(p: Plan, port: int) -> bool:
    return any(
        i.get("cidrIpv4") == "0.0.0.0/0" and _num(i.get("fromPort"), 1e9) <= port <= _num(i.get("toPort"), -1)
        for i in _inputs(p, rules.SG_INGRESS_RULE)
    )


def _world_egress_all(p: Plan) -> bool:
    return any(
        i.get("cidrIpv4") == "0.0.0.0/0" and str(i.get("ipProtocol")) == "-1"
        for i in _inputs(p, "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule")
    )


def _short_log_retention(p: Plan) -> bool:
    return any(_num(i.get("retentionInDays"), 0) < 365 for i in _inputs(p, rules.LOG_GROUP))


def _few_control_plane_logs(p: Plan) -> bool:
    return any(len(set(i.get("enabledClusterLogTypes") or ())) < 5 for i in _inputs(p, rules.EKS_CLUSTER_COMPONENT))


def _unrotated_secrets(p: Plan) -> bool:
    return bool(p.of_type(rules.SM_SECRET)) and not p.of_type("aws:secretsmanager/secretRotation:SecretRotation")


def _nlb_without_deletion_protection(p: Plan) -> bool:
    services = [i for i in _inputs(p, "kubernetes:core/v1:Service") if (i.get("spec") or {}).get("type") == "LoadBalancer"]
    return any(
        "deletion_protection.enabled=true"
        not in ((s.get("metadata") or {}).get("annotations") or {}).get("service.beta.kubernetes.io/aws-load-balancer-attributes", "")
        for s in services
    )


# Facts the plans decide: control id -> "this stack departs from it". Each listed id must be
# a departure or gap for exactly the stacks where the predicate holds.
PLAN_FACTS: dict[str, Callable[[Plan], bool]] = {
    "CKV_AWS_260": lambda p: _world_port(p, 80),
    "CKV_AWS_382": _world_egress_all,
    "CKV_AWS_37": _few_control_plane_logs,
    "CloudWatch.16": _short_log_retention,
    "CKV_AWS_338": _short_log_retention,
    "RDS.5": lambda p: any(i.get("multiAz") is False for i in _inputs(p, rules.RDS_INSTANCE)),
    "CKV_AWS_157": lambda p: any(i.get("multiAz") is False for i in _inputs(p, rules.RDS_INSTANCE)),
    "RDS.8": lambda p: any(i.get("deletionProtection") is not True for i in _primaries(p)),
    "CKV_AWS_293": lambda p: any(i.get("deletionProtection") is not True for i in _inputs(p, rules.RDS_INSTANCE)),
    "RDS.11": lambda p: any(_num(i.get("backupRetentionPeriod"), 1) < 7 for i in _inputs(p, rules.RDS_INSTANCE)),
    "CKV_AWS_133": lambda p: any(not 0 < _num(i.get("backupRetentionPeriod"), 1) <= 35 for i in _inputs(p, rules.RDS_INSTANCE)),
    "RDS.23": lambda p: any(_num(i.get("port"), 0) == 5432 for i in _inputs(p, rules.RDS_INSTANCE)),
    "ElastiCache.3": lambda p: any(i.get("automaticFailoverEnabled") is not True for i in _inputs(p, rules.CACHE_GROUP)),
    "CKV2_AWS_50": lambda p: any(i.get("automaticFailoverEnabled") is not True for i in _inputs(p, rules.CACHE_GROUP)),
    "SecretsManager.1": _unrotated_secrets,
    "CKV2_AWS_57": _unrotated_secrets,
    "CKV2_AWS_30": lambda p: any(
        not any(q.get("name") == "log_statement" for q in (i.get("parameters") or ())) for i in _inputs(p, rules.RDS_PARAMETER_GROUP)
    ),
    "RDS.26": lambda p: bool(p.of_type(rules.RDS_INSTANCE)) and not p.of_type("aws:backup/selection:Selection"),
    "EC2.10": lambda p: not p.of_type("aws:ec2/vpcEndpoint:VpcEndpoint"),
    "AutoScaling.6": lambda p: any(len(i.get("instanceTypes") or ()) < 2 for i in _inputs(p, rules.EKS_NODE_GROUP_COMPONENT)),
    "ELB.6": _nlb_without_deletion_protection,
    "CKV_AWS_150": _nlb_without_deletion_protection,
}


def _stacks_listed(control_id: str, sections: Iterable[str]) -> set[str]:
    wanted = canonical(control_id)
    return {stack for row in rows(*sections) if wanted in row.ids for stack in row.stacks}


@pytest.mark.parametrize("control_id", sorted(PLAN_FACTS))
def test_departures_and_gaps_name_the_stacks_the_plans_show(control_id):
    in_plans = {stack for stack in STACKS if PLAN_FACTS[control_id](plan(stack))}
    in_doc = _stacks_listed(control_id, (DEPARTURES, GAPS))
    assert in_doc == in_plans, (
        f"{DOC_NAME} lists {control_id} as a departure or gap for {sorted(in_doc) or 'no stack'}, "
        f"but the committed stacks' plans depart from it in {sorted(in_plans) or 'none'}: "
        + ("move it to section 1 (met) for the others, " if in_doc - in_plans else "")
        + ("add the missing stacks (or a row) to section 2 or 3" if in_plans - in_doc else "")
    )
