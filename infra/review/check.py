"""`python -m infra check (--stack NAME | --plan FILE)`: the policy rules over a plan.

- `--stack NAME` checks the offline plan of `Pulumi.NAME.yaml` (no credentials needed);
- `--plan FILE` checks a saved offline plan or the output of `pulumi preview --json`
  (`-` reads standard input).

The rules live in `policy/rules.py`, the same ones the CrossGuard pack runs; this module
only turns plan steps into rule records, picks the stack's tier and prints

    <LEVEL> <rule-id> <resource urn>: <what to change>

one line per violation, then a summary. Besides the rule table, every Helm release's values
are checked against its vendored chart (`infra/review/charts.py`, rule id `chart-values`,
mandatory in every tier: Helm would refuse them), and every Kubernetes object against the
strict OpenAPI schema of the cluster's Kubernetes version (`infra/review/k8s_objects.py`,
rule id `kubernetes-schema`, mandatory in every tier: the API server would refuse them).
Exit status: 1 if any violation is mandatory for the stack's tier, 2 if the plan cannot be
read or built, else 0.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

from infra.review import charts, k8s_objects
from policy import rules

# Steps for resources on their way out: what they looked like does not matter any more.
_GONE_OPS = frozenset({"delete", "delete-replaced", "discard", "discard-replaced", "remove-pending-replace", "read-discard"})


@dataclass(frozen=True)
class Report:
    tier: str
    tier_source: str
    resources: int
    violations: list[rules.Violation]

    @property
    def mandatory(self) -> list[rules.Violation]:
        return [v for v in self.violations if v.level == rules.MANDATORY]

    @property
    def advisory(self) -> list[rules.Violation]:
        return [v for v in self.violations if v.level == rules.ADVISORY]


def _provider_urn(reference: Any) -> str | None:
    """A provider reference is `<provider urn>::<provider id>`."""
    if not isinstance(reference, str) or "::" not in reference:
        return None
    return reference.rsplit("::", 1)[0]


def resources_from_plan(plan: Mapping[str, Any]) -> list[rules.Resource]:
    """One rule record per resource the plan leaves in the stack (the last step of each URN wins)."""
    states: dict[str, tuple[Mapping[str, Any], Any]] = {}
    for step in plan.get("steps") or []:
        state = step.get("newState")
        if step.get("op") in _GONE_OPS or not isinstance(state, Mapping):
            continue
        urn = state.get("urn") or step.get("urn")
        if urn:
            states[urn] = (state, state.get("provider") or step.get("provider"))
    inputs_by_urn = {urn: state.get("inputs") or {} for urn, (state, _) in states.items()}

    out = []
    for urn, (state, provider_ref) in states.items():
        provider_urn = _provider_urn(provider_ref)
        property_dependencies = state.get("propertyDependencies") or {}
        out.append(
            rules.Resource(
                type=state.get("type") or urn.split("::")[-2].split("$")[-1],
                urn=urn,
                inputs=state.get("inputs") or {},
                # Absent from a real preview when false.
                protect=bool(state.get("protect")),
                retain_on_delete=bool(state.get("retainOnDelete")),
                id=state.get("id") or None,
                dependencies=tuple(state.get("dependencies") or ()),
                property_dependencies={k: tuple(v or ()) for k, v in property_dependencies.items()},
                provider_inputs=inputs_by_urn.get(provider_urn) if provider_urn else None,
                # The offline plan records it; a real `pulumi preview --json` does not (None: unseen).
                delete_before_replace=None if state.get("deleteBeforeReplace") is None else bool(state.get("deleteBeforeReplace")),
            )
        )
    return out


def chart_violations(resources: Sequence[rules.Resource]) -> list[rules.Violation]:
    """The Helm release values findings, as mandatory violations (any tier)."""
    return [rules.Violation(rules.MANDATORY, charts.RULE_ID, f.urn, f.message) for f in charts.release_findings(resources)]


def kubernetes_violations(resources: Sequence[rules.Resource]) -> list[rules.Violation]:
    """The Kubernetes object schema findings, as mandatory violations (any tier)."""
    return [rules.Violation(rules.MANDATORY, k8s_objects.RULE_ID, f.urn, f.message) for f in k8s_objects.object_findings(resources)]


def check_plan(plan: Mapping[str, Any]) -> Report:
    resources = resources_from_plan(plan)
    tier, source = rules.stack_tier(resources, plan.get("config") or {})
    violations = rules.evaluate(resources, tier) + chart_violations(resources) + kubernetes_violations(resources)
    # As rules.evaluate orders them: mandatory first, then by rule and URN.
    violations.sort(key=lambda v: (v.level != rules.MANDATORY, v.rule, v.urn))
    return Report(tier, source, len(resources), violations)


def format_report(report: Report) -> list[str]:
    lines = [f"{v.level.upper()} {v.rule} {v.urn}: {v.message}" for v in report.violations]
    status = "FAILED" if report.mandatory else "passed"
    lines.append(
        f"policy check {status}: {len(report.mandatory)} mandatory, {len(report.advisory)} advisory violation(s) "
        f"in {report.resources} resources against {len(rules.RULES)} rules and the vendored charts; tier {report.tier} ({report.tier_source})"
    )
    return lines


def load_plan(path: str, stdin: TextIO | None = None) -> dict[str, Any]:
    if path == "-":
        return json.load(stdin or sys.stdin)
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def _plan_of(args: Any) -> dict[str, Any]:
    if getattr(args, "plan", None):
        return load_plan(args.plan)
    # Imported here: building the offline plan loads the whole program and the mocks.
    from infra.offline.plan import PLAN_ERRORS, build_plan

    try:
        return build_plan(args.stack)
    except PLAN_ERRORS as exc:
        raise ValueError(str(exc)) from None


def run(args: Any, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    try:
        plan = _plan_of(args)
    except (OSError, ValueError) as exc:  # no such file or stack, bad JSON, a bad stack config
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not isinstance(plan, Mapping) or not isinstance(plan.get("steps"), Sequence):
        print("error: not a plan: expected a JSON object with `steps` (python -m infra plan --json, or pulumi preview --json)", file=sys.stderr)
        return 2
    report = check_plan(plan)
    for line in format_report(report):
        print(line, file=out)
    return 1 if report.mandatory else 0
