"""`python -m infra drift --preview FILE [--stack NAME] [--format text|markdown]`: what changed outside Pulumi.

Reads the JSON of `pulumi preview --refresh --json --stack NAME` (run where the stack's API
endpoints answer: the stack's runner) and reports every resource whose real state no longer
matches the program, except the drift the platform itself causes (`EXPECTED_DRIFT`):

- node group sizes (`aws:eks/nodeGroup:NodeGroup` `scalingConfig.*`): the Cluster Autoscaler
  and the off-hours schedule own them (infra/components/cluster.py, offhours.py);
- the `platform/autoscaler` tag of a node group's Auto Scaling group (`aws:autoscaling/tag:Tag`
  `tag.value`): the off-hours schedule sets it to `paused` before the nodes sleep.

A refreshed preview shows drift as steps: `update` (an input differs: `detailedDiff` paths,
or `diffReasons` when the engine gives no detail), `replace`/`create-replacement` (it would be
rebuilt), `create` (the resource is gone: the refresh dropped it from the state) and `delete`.
A step whose every changed path is expected is not drift; a step with one unexpected path is
reported with all of them.

Text (and the exit status): one line per drifted resource, then a summary

    drift <op> <name> (<type>): <paths>
    drift: 1 drifted resource(s), 2 expected change(s) ignored, 160 unchanged

Markdown (`--format markdown`) is the body of the stack's drift issue. Exit 0 when clean, 1 on
drift, 2 (one line) when the file cannot be read. Nothing is remediated: a person decides.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

NO_CHANGE = frozenset({"same", "read", "refresh"})


@dataclass(frozen=True)
class Expected:
    type: str
    # Changed paths at or below this one are expected (a.b covers a.b and a.b.c, a.b[0]).
    path: str
    why: str
    # Only for resources whose (new or old) inputs satisfy this.
    when: Callable[[Mapping[str, Any]], bool] = lambda inputs: True


def _tag_key(inputs: Mapping[str, Any]) -> Any:
    tag = inputs.get("tag")
    return tag.get("key") if isinstance(tag, Mapping) else None


EXPECTED_DRIFT: tuple[Expected, ...] = (
    Expected("aws:eks/nodeGroup:NodeGroup", "scalingConfig", "the Cluster Autoscaler and the off-hours schedule own node group sizes"),
    Expected(
        "aws:autoscaling/tag:Tag",
        "tag.value",
        "the off-hours schedule pauses the autoscaler on a sleeping group (platform/autoscaler=paused)",
        lambda inputs: _tag_key(inputs) == "platform/autoscaler",
    ),
)


@dataclass(frozen=True)
class Drifted:
    op: str
    urn: str
    paths: tuple[str, ...]

    @property
    def name(self) -> str:
        return self.urn.rsplit("::", 1)[-1]

    @property
    def type(self) -> str:
        return self.urn.split("::")[-2].rsplit("$", 1)[-1]


@dataclass(frozen=True)
class Report:
    drifted: tuple[Drifted, ...]
    expected: int
    unchanged: int


def _covers(prefix: str, path: str) -> bool:
    return path == prefix or path.startswith(prefix + ".") or path.startswith(prefix + "[")


def _inputs(step: Mapping[str, Any]) -> Mapping[str, Any]:
    for side in ("newState", "oldState"):
        state = step.get(side)
        if isinstance(state, Mapping) and isinstance(state.get("inputs"), Mapping):
            return state["inputs"]
    return {}


def _type(step: Mapping[str, Any]) -> str:
    for side in ("newState", "oldState"):
        state = step.get(side)
        if isinstance(state, Mapping) and isinstance(state.get("type"), str):
            return state["type"]
    return str(step.get("urn", "")).split("::")[-2].rsplit("$", 1)[-1]


def changed(step: Mapping[str, Any]) -> tuple[str, ...]:
    """The paths a step changes: its detailedDiff keys, else its diffReasons."""
    detailed = step.get("detailedDiff")
    if isinstance(detailed, Mapping) and detailed:
        return tuple(sorted(detailed))
    return tuple(sorted(step.get("diffReasons") or ()))


def is_expected(step: Mapping[str, Any], expected: Sequence[Expected] = EXPECTED_DRIFT) -> bool:
    """An update whose every changed path is one the platform causes itself."""
    if step.get("op") != "update":
        return False
    paths, kind, inputs = changed(step), _type(step), _inputs(step)
    rules = [e for e in expected if e.type == kind and e.when(inputs)]
    return bool(paths) and all(any(_covers(e.path, p) for e in rules) for p in paths)


def drift(preview: Mapping[str, Any], expected: Sequence[Expected] = EXPECTED_DRIFT) -> Report:
    drifted, ignored, unchanged = [], 0, 0
    for step in preview.get("steps") or ():
        op = step.get("op")
        if op in NO_CHANGE or _type(step) == "pulumi:pulumi:Stack":
            unchanged += 1
        elif is_expected(step, expected):
            ignored += 1
        else:
            drifted.append(Drifted(op=str(op), urn=str(step.get("urn")), paths=changed(step)))
    return Report(tuple(drifted), ignored, unchanged)


def summary(report: Report) -> str:
    return f"drift: {len(report.drifted)} drifted resource(s), {report.expected} expected change(s) ignored, {report.unchanged} unchanged"


def format_text(report: Report) -> list[str]:
    lines = [f"drift {d.op} {d.name} ({d.type}): {', '.join(d.paths) or 'no property detail'}" for d in report.drifted]
    return [*lines, summary(report)]


def format_markdown(report: Report, stack: str) -> list[str]:
    if not report.drifted:
        return [f"No drift in stack `{stack}`: every resource matches the program ({report.expected} expected change(s) ignored)."]
    out = [
        f"The nightly refresh of stack `{stack}` found resources that changed outside Pulumi. "
        "Nothing was changed back: decide per resource whether to keep the change (put it in the program) "
        f"or undo it (`pulumi up --stack {stack}` after review).",
        "",
        "| Resource | Type | Step | Changed |",
        "|---|---|---|---|",
    ]
    out += [f"| `{d.name}` | `{d.type}` | {d.op} | {', '.join(f'`{p}`' for p in d.paths) or 'no property detail'} |" for d in report.drifted]
    out += ["", f"Expected and ignored: {report.expected} (node group sizes, the off-hours autoscaler pause). {summary(report)}."]
    return out


def run(args: Any, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    try:
        with open(args.preview, encoding="utf-8") as fh:
            preview = json.load(fh)
    except (OSError, ValueError) as exc:
        print(f"drift: cannot read {args.preview}: {exc}", file=sys.stderr)
        return 2
    if not isinstance(preview, Mapping):
        print(f"drift: {args.preview} is not a `pulumi preview --json` object", file=sys.stderr)
        return 2
    errors = [d for d in preview.get("diagnostics") or () if isinstance(d, Mapping) and d.get("severity") == "error"]
    if errors:
        # A failed refresh still prints its refresh steps: never read it as "no drift".
        print(f"drift: the preview in {args.preview} failed ({len(errors)} error diagnostic(s)); no verdict", file=sys.stderr)
        return 2
    report = drift(preview)
    lines = format_markdown(report, args.stack or "?") if args.format == "markdown" else format_text(report)
    print("\n".join(lines), file=out)
    return 1 if report.drifted else 0
