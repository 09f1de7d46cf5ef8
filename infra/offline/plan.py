"""The offline plan: `python -m infra plan --stack NAME [--json]`.

Runs the program under the mocks harness and turns what the engine saw into
- JSON shaped like `pulumi preview --json` (`config`, `steps` with `newState`, `outputs`,
  `changeSummary`, `diagnostics`), secrets printed as "[secret]"; or
- a human summary: the resource tree per component, counts by type, key sizing and cost.

Reads the program's registrations and the stack file, never a component.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from pulumi.runtime import rpc

from infra.offline.harness import ROOT, ProgramRun, run_program

SECRET = "[secret]"
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"  # what `pulumi preview --json` prints for an unknown


def scrub(value: Any) -> Any:
    """JSON-ready copy: secrets masked, unknowns as the preview sentinel, 2.0 -> 2."""
    if value is rpc.UNKNOWN:
        return UNKNOWN
    if isinstance(value, dict):
        if value.get(rpc._special_sig_key) == rpc._special_secret_sig:
            return SECRET
        if value.get(rpc._special_sig_key) == rpc._special_resource_sig:
            return value.get("urn", "")
        return {k: scrub(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [scrub(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _state(reg: Any) -> dict[str, Any]:
    outputs = scrub(reg.outputs)
    for key in reg.additional_secret_outputs:
        if key in outputs:
            outputs[key] = SECRET
    return {
        "urn": reg.urn,
        "type": reg.type,
        "custom": reg.custom,
        "id": reg.id,
        "parent": reg.parent,
        "provider": reg.provider,
        "inputs": scrub(reg.inputs),
        "outputs": outputs,
        # Sorted: the engine's order follows the event loop, and a plan must diff cleanly.
        "dependencies": sorted(reg.dependencies),
        "propertyDependencies": {k: sorted(v) for k, v in sorted(reg.property_dependencies.items())},
        "protect": reg.protect,
        "retainOnDelete": reg.retain_on_delete,
        "ignoreChanges": reg.ignore_changes,
        "deleteBeforeReplace": reg.delete_before_replace,
        "additionalSecretOutputs": reg.additional_secret_outputs,
        "aliases": reg.aliases,
    }


def to_preview_json(run: ProgramRun) -> dict[str, Any]:
    steps = [{"op": "create", "urn": run.stack_urn, "provider": "", "newState": {"urn": run.stack_urn, "type": "pulumi:pulumi:Stack", "custom": False, "parent": "", "provider": "", "inputs": {}, "outputs": {}, "dependencies": [], "protect": False, "retainOnDelete": False, "ignoreChanges": []}}]
    # Sorted by URN: registration order depends on the event loop; a plan must diff cleanly.
    steps += [{"op": "create", "urn": reg.urn, "provider": reg.provider, "newState": _state(reg)} for reg in sorted(run.registrations, key=lambda r: r.urn)]
    outputs = {}
    for name, (value, secret, known) in run.outputs.items():
        outputs[name] = SECRET if secret else (scrub(value) if known else UNKNOWN)
    return {
        "config": dict(sorted(run.stack_file.values.items())),
        "steps": steps,
        "outputs": outputs,
        "changeSummary": {"create": len(steps)},
        "diagnostics": [{"urn": "", **d} for d in run.diagnostics],
    }


def build_plan(stack: str, overrides: dict[str, Any] | None = None, root: Path | None = None) -> dict[str, Any]:
    """The offline plan of `Pulumi.<stack>.yaml` as a preview-shaped dict."""
    return to_preview_json(run_program(stack, overrides=overrides, root=root or ROOT))


# ---------------------------------------------------------------------- human form


def _short_type(token: str) -> str:
    return token.split(":")[-1] if token.count(":") >= 2 else token


def render(plan: dict[str, Any], stack: str) -> str:
    steps = [s["newState"] for s in plan["steps"]]
    by_parent: dict[str, list[dict[str, Any]]] = {}
    for state in steps:
        by_parent.setdefault(state["parent"], []).append(state)
    stack_urn = next(s["urn"] for s in steps if s["type"] == "pulumi:pulumi:Stack")

    lines = [f"Offline plan of stack '{stack}' (mocks: no credentials, no network, nothing deployed)", ""]
    lines.append("Resources by component")

    def walk(urn: str, depth: int) -> None:
        for child in sorted(by_parent.get(urn, []), key=lambda c: c["urn"].rsplit("::", 1)[-1]):
            name = child["urn"].rsplit("::", 1)[-1]
            flags = [f for f, on in (("protect", child.get("protect")), ("retain", child.get("retainOnDelete"))) if on]
            suffix = f"  [{', '.join(flags)}]" if flags else ""
            lines.append(f"{'  ' * depth}+ {_short_type(child['type'])} {name}{suffix}")
            walk(child["urn"], depth + 1)

    walk(stack_urn, 1)
    counts = Counter(s["type"] for s in steps if s["type"] != "pulumi:pulumi:Stack")
    lines += ["", f"Resources: {sum(counts.values())} to create"]
    width = max((len(t) for t in counts), default=0)
    for token, n in sorted(counts.items()):
        lines.append(f"  {token:<{width}}  {n}")

    sizing = _sizing(plan["config"])
    if sizing:
        lines += ["", "Key sizing", *[f"  {line}" for line in sizing]]

    cost = plan["outputs"].get("cost")
    if isinstance(cost, dict):
        lines += ["", f"Monthly cost: ${cost['monthly_total']:,.2f} {cost['currency']} (budget ${cost['budget']:,.2f}; {cost['region']} list prices as of {cost['prices_as_of']})"]
        totals: Counter[str] = Counter()
        for item in cost["items"]:
            totals[item["component"]] += item["monthly"]
        for component, amount in totals.most_common():
            lines.append(f"  {component:<10} ${amount:>10,.2f}")
        if cost["monthly_total"] > cost["budget"]:
            lines.append(f"  WARNING: over budget by ${cost['monthly_total'] - cost['budget']:,.2f}")
    exports = sorted(k for k in plan["outputs"] if k != "cost")
    if exports:
        lines += ["", "Outputs: " + ", ".join(exports)]
    for diag in plan["diagnostics"]:
        lines.append(f"{diag['severity']}: {diag['message']}")
    return "\n".join(lines)


def _sizing(config: dict[str, Any]) -> list[str]:
    out: list[str] = []
    net = config.get("platform:network")
    if isinstance(net, dict):
        out.append(f"network   {net.get('cidr')} across {net.get('az_count', 3)} AZs, NAT: {net.get('nat_gateways', 'one_per_az')}")
    cluster = config.get("platform:cluster")
    if isinstance(cluster, dict):
        for g in cluster.get("node_groups", []):
            out.append(
                f"nodes     {g.get('name')}: {', '.join(g.get('instance_types', []))} {g.get('capacity_type', 'ON_DEMAND')}"
                f" desired {g.get('desired_size')} (min {g.get('min_size')}, max {g.get('max_size')})"
                + (" - off-hours scale to zero" if g.get("scale_to_zero_off_hours") else "")
            )
    db = config.get("platform:database")
    if isinstance(db, dict):
        out.append(
            f"database  {db.get('instance_class')}, {db.get('allocated_storage_gb')} GB gp3, "
            f"{'Multi-AZ' if db.get('multi_az', True) else 'single-AZ'}, backups {db.get('backup_retention_days', 7)} d, "
            f"{db.get('read_replicas', 0)} read replica(s)" + (", stopped off-hours" if db.get("stop_off_hours") else "")
        )
    cache = config.get("platform:cache")
    if isinstance(cache, dict):
        out.append(
            f"cache     {cache.get('node_type')} x {cache.get('num_nodes', 2)}, failover {'on' if cache.get('automatic_failover', True) else 'off'}, "
            f"{'Multi-AZ' if cache.get('multi_az', True) else 'single-AZ'}"
        )
    budget = config.get("platform:budget")
    if isinstance(budget, dict):
        out.append(f"budget    ${budget.get('monthly_limit_usd')}/month")
    return out


def run(args: Any) -> int:
    from infra.config import ConfigError

    try:
        plan = build_plan(args.stack, root=Path(args.dir).resolve() if getattr(args, "dir", None) else None)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        json.dump(plan, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(render(plan, args.stack))
    return 0
