"""`python -m infra diff BASE HEAD [--format text|markdown]`: what a change does to each resource.

Reads two plans (`python -m infra plan --json` or `pulumi preview --json`: anything with
`steps[].newState`) and says, per resource, what the engine would do between them, offline:

- create   the URN is only in HEAD;
- delete   the URN is only in BASE (a renamed logical name without an alias is a delete
           and a create: the URN is the identity);
- update   the same URN (or an alias of it, from HEAD's `aliases`) with changed inputs;
- replace  a changed input at or below a ForceNew path of the resource's type
           (policy/force_new.json) or a path of its `replaceOnChanges` option; "replace (possibly: unknown until deploy)" when HEAD
           holds an unknown ("04da6b54-...") on such a path; a resource whose provider is
           replaced is replaced with it;
- same     nothing changed ("[secret]" on both sides is unchanged: the values are hidden).

Matching compares `newState` only: the `op` of a real preview's steps is not read, steps on
their way out (delete, discard...) are skipped, and a missing BASE (a new stack) makes
everything a create. HEAD's `ignoreChanges` paths are not compared. Both sides unknown on the
same path counts as unchanged. Inputs of a type with no entry, or an unverified one, are
reported as updates and say so.

A mandatory violation is a replace or a delete of a protected resource (`protect`) or of a
stateful one, whatever the tier:
- aws:rds/instance:Instance (replicas included), aws:elasticache/replicationGroup:ReplicationGroup,
  aws:kms/key:Key, aws:secretsmanager/secret:Secret;
- an aws:cloudwatch/logGroup:LogGroup holding audit logs: the EKS control-plane group (its
  `name` input is `/aws/eks/<cluster>/cluster`, the only name EKS writes to, or its logical
  name ends in `-control-plane-logs`) or a VPC flow-log group (an aws:ec2/flowLog:FlowLog in
  either plan names it in `logDestination`, by property dependency or ARN, or its logical
  name ends in `-flow-logs`).
A conditional ForceNew change on one of them is an advisory line (it may replace).

Text: one line per resource that is not `same` (stateful/protected replace and delete first,
as their MANDATORY lines, then replace, delete, create, update), then a summary:

    MANDATORY replace <name> (<type>): <inputs> changed (ForceNew) — <what is at stake>
    replace <name> (<type>) [deleteBeforeReplace]: <inputs> changed (ForceNew); <inputs> changed
    update <name> (<type>) [was <old name>]: <inputs> changed
    diff FAILED: 1 mandatory, 0 advisory violation(s); 1 replace, 0 delete, 0 create, 0 update, 118 same

`--format markdown` prints the same as a pull-request comment. Exit status: 1 on a
mandatory violation, 2 (one line) when HEAD, or an existing BASE, cannot be read, else 0.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, TextIO

from policy import rules

FORCE_NEW_FILE = Path(rules.__file__).resolve().with_name("force_new.json")
SECRET = rules.SECRET

# Steps for resources on their way out (as in check.py): their newState is not what remains.
_GONE_OPS = frozenset({"delete", "delete-replaced", "discard", "discard-replaced", "remove-pending-replace", "read-discard"})

CREATE, UPDATE, REPLACE, DELETE, SAME = "create", "update", "replace", "delete", "same"
UNKNOWN_UNTIL_DEPLOY = "unknown until deploy"
MANDATORY, ADVISORY = "MANDATORY", "ADVISORY"

_EKS_LOG_GROUP_SUFFIXES = ("-control-plane-logs",)
_FLOW_LOG_GROUP_SUFFIXES = ("-flow-logs",)


# ---------------------------------------------------------------------------- the ForceNew table


@dataclass(frozen=True)
class TypeInfo:
    force_new: tuple[str, ...] = ()
    conditional: Mapping[str, str] = field(default_factory=dict)
    verified: bool = True
    ignored_if: tuple[Mapping[str, Any], ...] = ()


@lru_cache(maxsize=1)
def force_new_table() -> dict[str, TypeInfo]:
    """policy/force_new.json: the vendored `resources` and this repository's `resources_added_by_platform`."""
    data = json.loads(FORCE_NEW_FILE.read_text(encoding="utf-8"))
    entries = {**data["resources"], **data.get("resources_added_by_platform", {}).get("resources", {})}
    return {
        token: TypeInfo(
            force_new=tuple(e.get("force_new") or ()),
            conditional=dict(e.get("conditional") or {}),
            verified=bool(e.get("verified", True)),
            ignored_if=tuple(e.get("ignored_if") or ()),
        )
        for token, e in entries.items()
    }


# ---------------------------------------------------------------------------- the result


@dataclass(frozen=True)
class InputChange:
    path: str
    force_new: bool = False
    conditional: str | None = None  # the condition under which it replaces
    unknown: bool = False  # HEAD's value is not known until deploy


@dataclass(frozen=True)
class Change:
    op: str
    urn: str
    type: str
    inputs: tuple[InputChange, ...] = ()
    possibly: str | None = None  # a replace that only may happen: why
    delete_before_replace: bool = False
    protect: bool = False
    retain_on_delete: bool = False
    at_stake: str | None = None  # stateful: what a replace or delete destroys
    old_urn: str | None = None  # matched through an alias
    provider_replaced: str | None = None  # replaced because this provider is
    gone_note: str | None = None  # delete: why / what to do
    unverified: str | None = None  # no (verified) ForceNew data for the type

    @property
    def name(self) -> str:
        return self.urn.rsplit("::", 1)[-1]

    @property
    def violation(self) -> str | None:
        """MANDATORY for a replace/delete of a stateful or protected resource, ADVISORY for a possible one."""
        if self.op in (REPLACE, DELETE) and (self.at_stake or self.protect):
            return MANDATORY
        if self.op == UPDATE and (self.at_stake or self.protect) and any(c.conditional for c in self.inputs):
            return ADVISORY
        return None


@dataclass(frozen=True)
class Diff:
    changes: tuple[Change, ...]
    new_stack: bool = False

    def of(self, op: str) -> list[Change]:
        return [c for c in self.changes if c.op == op]

    @property
    def mandatory(self) -> list[Change]:
        return [c for c in self.changes if c.violation == MANDATORY]

    @property
    def advisory(self) -> list[Change]:
        return [c for c in self.changes if c.violation == ADVISORY]

    def ordered(self) -> list[Change]:
        """Not `same`: stateful/protected replace and delete first, then replace, delete, create, update."""
        rank = {REPLACE: 1, DELETE: 2, CREATE: 3, UPDATE: 4}
        shown = [c for c in self.changes if c.op != SAME]
        return sorted(shown, key=lambda c: (0 if c.violation == MANDATORY else rank[c.op], rank[c.op], c.name, c.urn))


# ---------------------------------------------------------------------------- reading plans


def states_of(plan: Mapping[str, Any] | None) -> dict[str, Mapping[str, Any]]:
    """URN -> newState of every resource the plan leaves in the stack (the last step of a URN wins)."""
    out: dict[str, Mapping[str, Any]] = {}
    for step in (plan or {}).get("steps") or []:
        if not isinstance(step, Mapping):
            continue
        state = step.get("newState")
        if step.get("op") in _GONE_OPS or not isinstance(state, Mapping):
            continue
        urn = state.get("urn") or step.get("urn")
        if urn:
            out[urn] = state
    return out


def _type_of(urn: str, state: Mapping[str, Any]) -> str:
    return state.get("type") or urn.split("::")[-2].split("$")[-1]


def alias_urns(urn: str, state: Mapping[str, Any]) -> list[str]:
    """A resource's old URNs: full alias URNs as given, a bare alias name as this URN renamed.

    The offline plan records an alias spec by its name only (its parent/type are not kept);
    an empty entry (an alias of type or parent only) cannot be rebuilt and is skipped.
    """
    out = []
    for alias in state.get("aliases") or []:
        if isinstance(alias, str) and alias.startswith("urn:pulumi:"):
            out.append(alias)
        elif isinstance(alias, str) and alias:
            out.append(urn.rsplit("::", 1)[0] + "::" + alias)
    return out


def _provider_urn(reference: Any) -> str | None:
    if not isinstance(reference, str) or "::" not in reference:
        return None
    return reference.rsplit("::", 1)[0]


# ---------------------------------------------------------------------------- comparing inputs


def _normalize(path: str) -> str:
    """`tags["Name"]` -> `tags.Name`; `subnetIds[1]` / `[*]` -> `subnetIds` (ForceNew paths carry no indices)."""
    out, i = [], 0
    while i < len(path):
        ch = path[i]
        if ch == "[":
            end = path.index("]", i)
            inner = path[i + 1 : end]
            if inner[:1] in ('"', "'"):
                out.append("." + inner[1:-1])
            i = end + 1
        else:
            out.append(ch)
            i += 1
    return "".join(out).strip(".")


def _covers(prefix: str, path: str) -> bool:
    return path == prefix or path.startswith(prefix + ".")


def _related(force_path: str, path: str) -> bool:
    """A change at or below a ForceNew path, or of a whole object holding one."""
    return _covers(force_path, path) or _covers(path, force_path)


def changed_paths(old: Any, new: Any, path: str = "") -> list[tuple[str, bool]]:
    """(path, head value unknown) of every difference; "[secret]" equals "[secret]", unknown equals unknown."""
    if old == new:
        return []
    if rules.is_unknown(new):
        return [] if rules.is_unknown(old) else [(path, True)]
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        out = []
        for key in sorted(set(old) | set(new), key=str):
            sub = f"{path}.{key}" if path else str(key)
            if key not in new:
                out.append((sub, False))
            elif key not in old:
                out.append((sub, rules.is_unknown(new[key])))
            else:
                out.extend(changed_paths(old[key], new[key], sub))
        return out
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        out = []
        for i, (a, b) in enumerate(zip(old, new)):
            out.extend(changed_paths(a, b, f"{path}[{i}]"))
        return out
    return [(path, False)]


def _ignored(state: Mapping[str, Any], info: TypeInfo | None) -> list[str]:
    paths = [_normalize(p) for p in state.get("ignoreChanges") or [] if isinstance(p, str)]
    inputs = state.get("inputs") or {}
    for rule in info.ignored_if if info else ():
        if inputs.get(rule.get("input")) == rule.get("equals"):
            paths.extend(rule.get("paths") or [])
    return paths


def input_changes(old_inputs: Mapping[str, Any], new_state: Mapping[str, Any], info: TypeInfo | None) -> tuple[InputChange, ...]:
    ignored = _ignored(new_state, info)
    out = []
    for path, unknown in changed_paths(old_inputs or {}, new_state.get("inputs") or {}):
        flat = _normalize(path)
        if any(_covers(p, flat) for p in ignored):
            continue
        # The provider's ForceNew paths, and the resource's own replaceOnChanges option.
        replacing = [*(info.force_new if info else ()), *(_normalize(p) for p in new_state.get("replaceOnChanges") or () if isinstance(p, str))]
        force = any(_related(f, flat) for f in replacing)
        condition = None
        if info and not force:
            condition = next((text for f, text in sorted(info.conditional.items()) if _related(f, flat)), None)
        out.append(InputChange(path, force_new=force, conditional=condition, unknown=unknown))
    return tuple(out)


# ---------------------------------------------------------------------------- what is at stake


def _audit_log_groups(*plans: Mapping[str, Mapping[str, Any]]) -> set[str]:
    """URNs of log groups that a VPC flow log writes to, in either plan (by property dependency or ARN)."""
    out: set[str] = set()
    for states in plans:
        arns = {}
        for urn, s in states.items():
            if _type_of(urn, s) == rules.LOG_GROUP:
                arn = (s.get("outputs") or {}).get("arn")
                if isinstance(arn, str) and not rules.is_unknown(arn):
                    arns[arn.removesuffix(":*")] = urn
        for urn, s in states.items():
            if _type_of(urn, s) != rules.FLOW_LOG:
                continue
            out.update((s.get("propertyDependencies") or {}).get("logDestination") or [])
            dest = (s.get("inputs") or {}).get("logDestination")
            if isinstance(dest, str) and dest.removesuffix(":*") in arns:
                out.add(arns[dest.removesuffix(":*")])
    return out


def _is_eks_log_group(urn: str, state: Mapping[str, Any]) -> bool:
    name = (state.get("inputs") or {}).get("name")
    if isinstance(name, str) and name.startswith("/aws/eks/") and name.endswith("/cluster"):
        return True
    return urn.rsplit("::", 1)[-1].endswith(_EKS_LOG_GROUP_SUFFIXES)


def at_stake(urn: str, state: Mapping[str, Any], op: str, flow_log_groups: set[str]) -> str | None:
    """What a replace (op REPLACE) or delete of a stateful resource destroys; None if not stateful."""
    token = _type_of(urn, state)
    inputs = state.get("inputs") or {}
    replace = op == REPLACE
    if token == rules.RDS_INSTANCE:
        if rules.is_set(inputs.get("replicateSourceDb")):
            return "the read replica would be destroyed and rebuilt from its source" if replace else "the read replica would be destroyed"
        return "the database and its data would be destroyed and recreated empty" if replace else "the database and its data would be destroyed"
    if token == rules.CACHE_GROUP:
        return "the Redis replication group and its data would be destroyed" + (" and recreated empty" if replace else "")
    if token == rules.KMS_KEY:
        return (
            "the key would be scheduled for deletion"
            + (" and a new one created" if replace else "")
            + ": whatever it encrypts (database, Redis, EKS secrets, Secrets Manager, logs, volumes) becomes unreadable once it is deleted"
        )
    if token == rules.SM_SECRET:
        return "the secret and its stored value would be deleted" + (" and recreated empty" if replace else "")
    if token == rules.LOG_GROUP:
        if _is_eks_log_group(urn, state):
            return "the EKS control-plane audit logs it holds would be deleted"
        if urn in flow_log_groups or urn.rsplit("::", 1)[-1].endswith(_FLOW_LOG_GROUP_SUFFIXES):
            return "the VPC flow logs it holds would be deleted"
    return None


# ---------------------------------------------------------------------------- the diff


def diff(base: Mapping[str, Any] | None, head: Mapping[str, Any]) -> Diff:
    """Per resource: create / update / replace / delete / same, from two plans (pure)."""
    table = force_new_table()
    old = states_of(base) if base is not None else {}
    new = states_of(head)
    flow_log_groups = _audit_log_groups(old, new)

    matched: dict[str, str] = {}  # head urn -> base urn
    taken: set[str] = set()
    for urn in new:
        if urn in old:
            matched[urn] = urn
            taken.add(urn)
    for urn, state in new.items():
        if urn in matched:
            continue
        for alias in alias_urns(urn, state):
            if alias in old and alias not in taken:
                matched[urn] = alias
                taken.add(alias)
                break

    changes: dict[str, Change] = {}
    for urn, state in new.items():
        token = _type_of(urn, state)
        info = table.get(token)
        common = dict(
            urn=urn,
            type=token,
            protect=bool(state.get("protect")),
            retain_on_delete=bool(state.get("retainOnDelete")),
            delete_before_replace=bool(state.get("deleteBeforeReplace")),
        )
        if urn not in matched:
            changes[urn] = Change(CREATE, **common)
            continue
        before = old[matched[urn]]
        inputs = input_changes(before.get("inputs") or {}, state, info)
        unverified = None
        if inputs and info is None:
            unverified = "no ForceNew data for this type: it may replace"
        elif inputs and not info.verified:
            unverified = "ForceNew data for this type unverified: it may replace"
        certain = [c for c in inputs if c.force_new and not c.unknown]
        possible = [c for c in inputs if c.force_new and c.unknown]
        op = REPLACE if certain or possible else UPDATE if inputs else SAME
        changes[urn] = Change(
            op,
            inputs=inputs,
            possibly=UNKNOWN_UNTIL_DEPLOY if possible and not certain else None,
            # Phrased as a replacement: an update is only at stake when it may replace.
            at_stake=at_stake(urn, state, REPLACE, flow_log_groups),
            old_urn=matched[urn] if matched[urn] != urn else None,
            unverified=unverified,
            **common,
        )

    # A replaced provider takes every resource it manages with it.
    for provider_urn, change in list(changes.items()):
        if change.op != REPLACE or not change.type.startswith("pulumi:providers:"):
            continue
        for urn, state in new.items():
            if _provider_urn(state.get("provider")) == provider_urn and changes[urn].op in (SAME, UPDATE):
                current = changes[urn]
                changes[urn] = Change(
                    REPLACE,
                    urn=urn,
                    type=current.type,
                    inputs=current.inputs,
                    possibly=change.possibly,
                    delete_before_replace=current.delete_before_replace,
                    protect=current.protect,
                    retain_on_delete=current.retain_on_delete,
                    at_stake=at_stake(urn, state, REPLACE, flow_log_groups),
                    old_urn=current.old_urn,
                    provider_replaced=change.name,
                    unverified=current.unverified,
                )

    created_types: dict[str, list[str]] = {}
    for change in changes.values():
        if change.op == CREATE:
            created_types.setdefault(change.type, []).append(change.name)
    for urn, state in old.items():
        if urn in taken:
            continue
        token = _type_of(urn, state)
        note = "gone from the head plan"
        same_type = sorted(created_types.get(token, []))
        if same_type:
            note += f"; same type created as {', '.join(same_type)}: if renamed, alias it"
        changes[urn] = Change(
            DELETE,
            urn=urn,
            type=token,
            protect=bool(state.get("protect")),
            retain_on_delete=bool(state.get("retainOnDelete")),
            at_stake=at_stake(urn, state, DELETE, flow_log_groups),
            gone_note=note,
        )
    return Diff(tuple(changes.values()), new_stack=base is None)


# ---------------------------------------------------------------------------- output


def _paths(items: Sequence[InputChange]) -> str:
    return ", ".join(c.path for c in items)


def detail(change: Change) -> str:
    """What changed: groups joined by "; " (ForceNew first)."""
    if change.op == DELETE:
        return change.gone_note or ""
    parts = []
    if change.provider_replaced:
        parts.append(f"its provider {change.provider_replaced} is replaced")
    groups = (
        ([c for c in change.inputs if c.force_new and not c.unknown], "changed (ForceNew)"),
        ([c for c in change.inputs if c.force_new and c.unknown], f"{UNKNOWN_UNTIL_DEPLOY} (ForceNew)"),
        ([c for c in change.inputs if c.conditional and not c.unknown], "changed (conditional ForceNew)"),
        ([c for c in change.inputs if c.conditional and c.unknown], f"{UNKNOWN_UNTIL_DEPLOY} (conditional ForceNew)"),
        ([c for c in change.inputs if not c.force_new and not c.conditional and c.unknown], UNKNOWN_UNTIL_DEPLOY),
        ([c for c in change.inputs if not c.force_new and not c.conditional and not c.unknown], "changed"),
    )
    parts += [f"{_paths(items)} {what}" for items, what in groups if items]
    if change.unverified:
        parts.append(change.unverified)
    return "; ".join(parts)


def _op_label(change: Change) -> str:
    return f"{change.op} (possibly: {change.possibly})" if change.possibly else change.op


def _flags(change: Change) -> str:
    out = ""
    if change.op == REPLACE and change.delete_before_replace:
        out += " [deleteBeforeReplace]"
    if change.old_urn:
        out += f" [was {change.old_urn.rsplit('::', 1)[-1]}]"
    return out


def _stake_text(change: Change) -> str:
    if change.at_stake:
        return change.at_stake
    if change.protect:
        return "it is protected (protect=True): pulumi up refuses to " + ("replace" if change.op == REPLACE else "delete") + " it"
    return ""


def _conditions(change: Change) -> str:
    return "; ".join(f"{c.path}: {c.conditional.rstrip('.')}" for c in change.inputs if c.conditional)


def line(change: Change) -> str:
    head = f"{_op_label(change)} {change.name} ({change.type}){_flags(change)}"
    text = detail(change)
    body = f"{head}: {text}" if text else head
    level = change.violation
    if level == MANDATORY:
        return f"{MANDATORY} {body} — {_stake_text(change)}"
    if level == ADVISORY:
        return f"{ADVISORY} {body} — may be replaced ({_conditions(change)}): {_stake_text(change)}"
    return body


def summary(result: Diff) -> str:
    status = "FAILED" if result.mandatory else "passed"
    counts = ", ".join(f"{len(result.of(op))} {op}" for op in (REPLACE, DELETE, CREATE, UPDATE, SAME))
    new_stack = " (no base plan: a new stack)" if result.new_stack else ""
    return f"diff {status}: {len(result.mandatory)} mandatory, {len(result.advisory)} advisory violation(s); {counts}{new_stack}"


def format_text(result: Diff) -> list[str]:
    return [line(c) for c in result.ordered()] + [summary(result)]


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def format_markdown(result: Diff) -> list[str]:
    lines = ["### Resource changes", ""]
    if result.mandatory:
        lines += [
            f"**{len(result.mandatory)} mandatory violation(s): a protected or stateful resource would be replaced or deleted.**",
            "",
        ]
    shown = result.ordered()
    if shown:
        lines += ["| | op | resource | type | changes | at stake |", "|---|---|---|---|---|---|"]
        for c in shown:
            op = _op_label(c) + (", delete before replace" if c.op == REPLACE and c.delete_before_replace else "")
            name = f"`{c.name}`" + (f" (was `{c.old_urn.rsplit('::', 1)[-1]}`)" if c.old_urn else "")
            stake = _stake_text(c) if c.violation else ""
            lines.append(f"| {c.violation or ''} | {op} | {_cell(name)} | `{c.type}` | {_cell(detail(c))} | {_cell(stake)} |")
        lines.append("")
    else:
        lines += ["No resource changes.", ""]
    lines.append(summary(result))
    return lines


# ---------------------------------------------------------------------------- command line


class PlanError(ValueError):
    pass


def _read(path: str, stdin: TextIO | None = None) -> dict[str, Any]:
    try:
        if path == "-":
            data = json.load(stdin or sys.stdin)
        else:
            with open(path, encoding="utf-8") as handle:
                data = json.load(handle)
    except OSError as exc:
        raise PlanError(f"{path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise PlanError(f"{path}: not JSON ({exc})") from None
    if not isinstance(data, Mapping) or not isinstance(data.get("steps"), list):
        raise PlanError(f"{path}: not a plan: expected a JSON object with `steps` (python -m infra plan --json, or pulumi preview --json)")
    return dict(data)


def run(args: Any, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    try:
        base = None if args.base != "-" and not Path(args.base).exists() else _read(args.base)
        head = _read(args.head)
    except PlanError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    result = diff(base, head)
    lines = format_markdown(result) if getattr(args, "format", "text") == "markdown" else format_text(result)
    for text in lines:
        print(text, file=out)
    return 1 if result.mandatory else 0
