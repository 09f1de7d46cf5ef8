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

from infra.config import PROJECT, ConfigError, StackConfig, data_restore_role_name, parse
from infra.offline.errors import EngineError
from infra.offline.harness import ROOT, ProgramRun, run_program

# What building a plan refuses with one line: bad config, or what the engine itself refuses.
PLAN_ERRORS = (ConfigError, EngineError)

SECRET = "[secret]"
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"  # what `pulumi preview --json` prints for an unknown


def _asset(value: Any) -> dict[str, Any]:
    """An asset or archive as the engine writes one: its signature, what it is made of (a path
    relative to the project where it lies inside it) and, for files, the SHA-256 of the content,
    so a changed Lambda handler shows in a plan's diff."""
    import hashlib

    import pulumi

    if isinstance(value, pulumi.AssetArchive):
        return {rpc._special_sig_key: rpc._special_archive_sig, "assets": {k: _asset(v) for k, v in sorted(value.assets.items())}}
    sig = rpc._special_archive_sig if isinstance(value, pulumi.Archive) else rpc._special_asset_sig
    if isinstance(value, pulumi.StringAsset):
        return {rpc._special_sig_key: sig, "text": value.text, "hash": hashlib.sha256(value.text.encode()).hexdigest()}
    path = getattr(value, "path", None)
    if isinstance(path, str):
        file = Path(path)
        shown = str(file.resolve().relative_to(ROOT)) if file.resolve().is_relative_to(ROOT) else path
        out: dict[str, Any] = {rpc._special_sig_key: sig, "path": shown}
        if file.is_file():
            out["hash"] = hashlib.sha256(file.read_bytes()).hexdigest()
        return out
    return {rpc._special_sig_key: sig, "uri": getattr(value, "uri", "")}


def scrub(value: Any) -> Any:
    """JSON-ready copy: secrets masked, unknowns as the preview sentinel, assets and archives as
    the engine writes them, 2.0 -> 2."""
    from pulumi.asset import Archive, Asset

    if value is rpc.UNKNOWN:
        return UNKNOWN
    if isinstance(value, (Asset, Archive)):
        return _asset(value)
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
        "replaceOnChanges": reg.replace_on_changes,
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


def resource_lines(plan: dict[str, Any]) -> list[str]:
    """The plan's resource tree per component ([protect, retain] flagged), then the count per type."""
    steps = [s["newState"] for s in plan["steps"]]
    by_parent: dict[str, list[dict[str, Any]]] = {}
    for state in steps:
        by_parent.setdefault(state["parent"], []).append(state)
    stack_urn = next(s["urn"] for s in steps if s["type"] == "pulumi:pulumi:Stack")
    lines = ["Resources by component"]

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
    return lines


def render(plan: dict[str, Any], stack: str) -> str:
    lines = [f"Offline plan of stack '{stack}' (mocks: no credentials, no network, nothing deployed)", "", *resource_lines(plan)]
    lines += ["", "Key sizing", *[f"  {line}" for line in _sizing(validated_config(plan["config"], stack))]]

    cost = plan["outputs"].get("cost")
    if isinstance(cost, dict):
        prices_of = f"{cost['region']} list prices as of {cost['prices_as_of']}" if cost.get("prices_as_of") else f"no price catalogue for {cost['region']}"
        lines += ["", f"Monthly cost: ${cost['monthly_total']:,.2f} {cost['currency']} (budget ${cost['budget']:,.2f}; {prices_of})"]
        totals: Counter[str] = Counter()
        for item in cost["items"]:
            totals[item["component"]] += item["monthly"] or 0
        for component, amount in totals.most_common():
            lines.append(f"  {component:<13} ${amount:>10,.2f}")
        share = cost.get("observability")
        if share and share.get("node_cpu_share") is not None:
            lines.append(
                f"  observability: ${share['monthly']:,.2f} on its own lines, and its pods request {share['node_cpu_share']:.0%} of the CPU and "
                f"{share['node_memory_share']:.0%} of the memory of the nodes at min_size (inside the cluster's line)"
            )
        if cost["monthly_total"] > cost["budget"]:
            lines.append(f"  WARNING: over budget by ${cost['monthly_total'] - cost['budget']:,.2f}")
        span = cost.get("node_range")
        if span:
            over = " (over budget)" if span["max"] > cost["budget"] else ""
            lines.append(f"  node groups from min_size to max_size: ${span['min']:,.2f} to ${span['max']:,.2f}{over}")
        unpriced = cost.get("unpriced") or []
        if unpriced:
            lines.append(f"  WARNING: {len(unpriced)} of {len(cost['items'])} lines unpriced (no sourced {cost['region']} list price); the total is a lower bound:")
            lines += [f"    - {what}" for what in unpriced]
    exports = sorted(k for k in plan["outputs"] if k != "cost")
    if exports:
        lines += ["", "Outputs: " + ", ".join(exports)]
    for diag in plan["diagnostics"]:
        lines.append(f"{diag['severity']}: {diag['message']}")
    return "\n".join(lines)


def validated_config(plan_config: dict[str, Any], stack: str) -> StackConfig:
    """The plan's `config` block validated exactly as the program validated it.

    Secrets print as "[secret]" in a plan; they are passed as secret keys, never as values.
    """
    prefix = f"{PROJECT}:"
    raw = {k[len(prefix):]: v for k, v in plan_config.items() if k.startswith(prefix)}
    secret_keys = frozenset(k for k, v in raw.items() if v == SECRET)
    aws = {"region": plan_config.get("aws:region"), "assumeRoles": plan_config.get("aws:assumeRoles"), "profile": plan_config.get("aws:profile")}
    return parse(raw, stack=stack, aws=aws, secret_keys=secret_keys)


def _sizing(c: StackConfig) -> list[str]:
    """Key sizing from the validated config: every default is the one the program used."""
    nat = "single" if c.network.nat_gateways == "single" else "one per AZ"
    out = [f"network   {c.network.cidr} across {c.network.az_count} AZs, NAT: {nat}"]
    for g in c.cluster.node_groups:
        out.append(
            f"nodes     {g.name}: {', '.join(g.instance_types)} {g.capacity_type}"
            f" desired {g.desired_size} (min {g.min_size}, max {g.max_size})"
            + (f", priced at {g.expected_size}" if g.expected_size is not None else "")
            + (" - off-hours scale to zero" if g.scale_to_zero_off_hours else "")
        )
    a = c.cluster.autoscaler
    kinds = {g.capacity_type for g in c.cluster.node_groups}
    expander = "SPOT groups first, then least waste" if len(kinds) > 1 else "least waste"
    out.append(
        f"scaling   Cluster Autoscaler ({expander}): scale down after {a.scale_down_unneeded_time} unneeded, "
        f"{a.scale_down_delay_after_add} after a scale-up, below {a.scale_down_utilization_threshold:.0%} use; "
        f"platform pods spread over AZs: {c.cluster.zone_spread}"
    )
    db = c.database
    out.append(
        f"database  {db.instance_class}, {db.allocated_storage_gb} GB gp3, "
        f"{'Multi-AZ' if db.multi_az else 'single-AZ'}, backups {db.backup_retention_days} d, "
        f"{db.read_replicas} read replica(s)" + (", stopped off-hours" if db.stop_off_hours else "")
    )
    if not db.apply_immediately:
        out.append(f"database  changes wait for the maintenance window {db.maintenance_window}")
    cache = c.cache
    out.append(
        f"cache     {cache.node_type} x {cache.num_nodes}, failover {'on' if cache.automatic_failover else 'off'}, "
        f"{'Multi-AZ' if cache.multi_az else 'single-AZ'}"
    )
    if not cache.apply_immediately:
        out.append(f"cache     changes wait for the maintenance window {cache.maintenance_window}")
    out += _observability_sizing(c)
    copy = c.data_copy
    if copy is not None and copy.role == "source":
        out.append(
            f"data      anonymized copy: dump of the read replica {copy.schedule!r} {copy.timezone} (CronJob data-copy), "
            f"dumps kept {copy.keep_dumps_days} d, read by {copy.target_account_id}'s {data_restore_role_name(copy.target_environment)}"
        )
    elif copy is not None:
        out.append(f"data      anonymized copy: restore of the newest dump in s3://{copy.source_bucket} {copy.schedule!r} {copy.timezone} (CronJob data-restore), verified, then swapped")
    out.append(f"budget    ${c.budget.monthly_limit_usd:,.2f}/month")
    return out


def _observability_sizing(c: StackConfig) -> list[str]:
    """What observes the environment, with the seed's retention and where alerts go."""
    from infra import telemetry

    o = c.observability
    m = o.metrics
    if m.enabled:
        long_term = f" + {m.long_term_days} d in S3 (Thanos)" if m.long_term_days else ""
        metrics = f"metrics {m.retention_days} d on {telemetry.prometheus_volume_gb(m)} GB gp3{long_term}"
    else:
        metrics = "metrics off"
    logs = f"logs {o.logs.retention_days} d (Loki, S3)" if o.logs.enabled else "logs off"
    traces = f"traces {o.traces.retention_days} d (Tempo, S3)" if o.traces.enabled else "traces off"
    out = [f"observe   {metrics}; {logs}; {traces}" + ("; Grafana inside the cluster" if o.grafana else "")]
    if o.alerts.enabled:
        routes = []
        if o.alerts.pagerduty is not None:
            routes.append(f"PagerDuty ({', '.join(o.alerts.pagerduty.severities)})")
        if o.alerts.slack is not None:
            routes.append(f"Slack {o.alerts.slack.channel} ({', '.join(o.alerts.slack.severities)})")
        uptime = f"; uptime check https://{c.dns.fqdn(c.dns.api_records[0])}{o.uptime.path}" if o.uptime.enabled else ""
        out.append(f"alerts    {' + '.join(routes)}, from Alertmanager and CloudWatch alarms{uptime}")
    else:
        out.append("alerts    none (observability.alerts.enabled is false)")
    return out


def run(args: Any) -> int:
    try:
        plan = build_plan(args.stack, root=Path(args.dir).resolve() if getattr(args, "dir", None) else None)
    except PLAN_ERRORS as exc:
        # Bad config, or what the Pulumi engine itself refuses, in its words (docs/offline-engine.md).
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
