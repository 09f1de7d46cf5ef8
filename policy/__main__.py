"""The CrossGuard pack `platform-baseline`: the rules of `rules.py`, enforced by the Pulumi engine.

    pulumi preview --stack staging --policy-pack policy

What it registers (`build_policies()`):
- one policy per rule, named by the rule id, at MANDATORY: it reports a violation only when
  the rule is mandatory for the stack's tier, so a report always blocks `pulumi up`;
- `platform-advisories` (per resource) and `platform-stack-advisories` (whole stack), at
  ADVISORY: they report "<rule-id>: <what to change>" for rules that are advisory in the
  stack's tier. A rule that is off in the tier reports nothing.
CrossGuard fixes a policy's enforcement level when the pack loads, before it knows the
stack; the two-sided split is how one pack serves every tier.

Per-resource rules run as ResourceValidationPolicy, on the inputs the program set (what the
offline plan records too). Rules that relate resources (every VPC has flow logs / a closed
default security group) run as StackValidationPolicy, which sees every resource with its
dependencies; the engine gives those policies outputs, a superset of the inputs for the
resources they read.

The tier: the stack config `platform:tier` (the engine passes stack config to policy packs),
else the `Tier` default tag of the aws provider (a resource's `args.provider`, or the
provider resource in a stack policy), else production, the strictest.

CrossGuard cannot see `retainOnDelete` (PolicyResourceOptions has no such field); here
`stateful-protected` checks `protect` only, and `python -m infra check` checks both. It does
see `deleteBeforeReplace` (unset arrives as None: not deleted first), which a saved
`pulumi preview --json` lacks; `aws-fixed-name-create-before-delete` (policy/constraints.py)
runs in full here and on the offline plan.

`PolicyPack(...)` starts the analyzer server and never returns, so it is only called when
the module runs as the pack; tests import `build_policies()` instead.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from typing import Any

import pulumi.runtime
from pulumi_policy import (
    EnforcementLevel,
    PolicyPack,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

# pulumi_policy wraps properties in proxies that raise on unknown values; the rules want the
# sentinels themselves (an unknown ARN counts as set). Pinned pulumi-policy==1.21.0.
from pulumi_policy.proxy import _DictProxy, _ListProxy

if __package__:
    # Imported as `policy.__main__` (tests; the repo root is on sys.path).
    from . import rules
else:
    # Run as the pack: `python -m pulumi.policy` runs this directory as a script.
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import rules  # type: ignore[no-redef]

PACK_NAME = "platform-baseline"
ADVISORIES = "platform-advisories"
STACK_ADVISORIES = "platform-stack-advisories"


def plain(value: Any) -> Any:
    """A plain copy of CrossGuard properties, unknown values kept as their sentinel strings."""
    if isinstance(value, (_DictProxy, _ListProxy)):
        value = value["__target"]
    if isinstance(value, Mapping):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def configured_tier() -> str | None:
    """`platform:tier` from the stack config the engine hands the pack (PULUMI_CONFIG)."""
    return rules.normalize_tier(pulumi.runtime.get_config("platform:tier"))


def resource_tier(provider_props: Mapping[str, Any] | None) -> str:
    return configured_tier() or rules.tier_from_provider(provider_props) or rules.DEFAULT_TIER


def record_from_args(args: ResourceValidationArgs) -> rules.Resource:
    return rules.Resource(
        type=args.resource_type,
        urn=args.urn,
        inputs=plain(args.props),
        protect=bool(args.opts.protect),
        retain_on_delete=None,
        provider_inputs=plain(args.provider.props) if args.provider is not None else None,
        delete_before_replace=bool(args.opts.delete_before_replace),
    )


def record_from_stack(resource: PolicyResource) -> rules.Resource:
    props = plain(resource.props)
    resource_id = props.get("id")
    return rules.Resource(
        type=resource.resource_type,
        urn=resource.urn,
        inputs=props,
        protect=bool(resource.opts.protect),
        retain_on_delete=None,
        id=resource_id if isinstance(resource_id, str) else None,
        dependencies=tuple(d.urn for d in resource.dependencies),
        property_dependencies={k: tuple(d.urn for d in v) for k, v in resource.property_dependencies.items()},
        provider_inputs=plain(resource.provider.props) if resource.provider is not None else None,
        delete_before_replace=bool(resource.opts.delete_before_replace),
    )


def stack_records(args: StackValidationArgs) -> tuple[list[rules.Resource], str]:
    records = [record_from_stack(r) for r in args.resources]
    return records, configured_tier() or rules.stack_tier(records)[0]


def _resource_validator(rule: rules.Rule) -> Callable[[ResourceValidationArgs, ReportViolation], None]:
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        if not rule.applies_to(args.resource_type):
            return
        record = record_from_args(args)
        tier = resource_tier(record.provider_inputs)
        if rule.level(tier) != rules.MANDATORY:
            return
        for _, message in rule.findings([record], tier):
            report_violation(message, None)

    return validate


def _stack_validator(rule: rules.Rule) -> Callable[[StackValidationArgs, ReportViolation], None]:
    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        records, tier = stack_records(args)
        if rule.level(tier) != rules.MANDATORY:
            return
        for urn, message in rule.findings(records, tier):
            report_violation(message, urn)

    return validate


def _resource_advisories(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    applicable = [r for r in rules.RULES if not r.whole_stack and r.applies_to(args.resource_type)]
    if not applicable:
        return
    record = record_from_args(args)
    tier = resource_tier(record.provider_inputs)
    for rule in applicable:
        if rule.level(tier) == rules.ADVISORY:
            for _, message in rule.findings([record], tier):
                report_violation(f"{rule.id}: {message}", None)


def _stack_advisories(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    records, tier = stack_records(args)
    for rule in rules.RULES:
        if rule.whole_stack and rule.level(tier) == rules.ADVISORY:
            for urn, message in rule.findings(records, tier):
                report_violation(f"{rule.id}: {message}", urn)


def build_policies() -> list[ResourceValidationPolicy | StackValidationPolicy]:
    policies: list[ResourceValidationPolicy | StackValidationPolicy] = []
    for rule in rules.RULES:
        if rule.whole_stack:
            policy = StackValidationPolicy(rule.id, rule.description, _stack_validator(rule), EnforcementLevel.MANDATORY)
        else:
            policy = ResourceValidationPolicy(rule.id, rule.description, _resource_validator(rule), EnforcementLevel.MANDATORY)
        policies.append(policy)
    policies.append(
        ResourceValidationPolicy(
            name=ADVISORIES,
            description="Rules the stack's tier allows it to miss (environment matrix): shown, not blocking",
            validate=_resource_advisories,
            enforcement_level=EnforcementLevel.ADVISORY,
        )
    )
    policies.append(
        StackValidationPolicy(
            name=STACK_ADVISORIES,
            description="Stack-wide rules the stack's tier allows it to miss: shown, not blocking",
            validate=_stack_advisories,
            enforcement_level=EnforcementLevel.ADVISORY,
        )
    )
    return policies


def main() -> None:
    PolicyPack(
        name=PACK_NAME,
        enforcement_level=EnforcementLevel.MANDATORY,
        policies=build_policies(),
        description="The platform's security and reliability baseline, enforced per tier (see policy/rules.py)",
    )


if __name__ == "__main__":
    main()
