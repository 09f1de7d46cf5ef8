"""Write docs/cost.md (each environment's monthly cost and its biggest cost levers) and
README's "Modelled cost" row.

    python scripts/cost_levers.py              # rewrite both from the stack files
    python scripts/cost_levers.py --check      # exit 1 if either is out of date
    python scripts/cost_levers.py --stdout     # print instead of writing

Every number comes from `infra.cost.model.estimate()`: a lever is a change to a stack
file's `platform:` config (re-validated exactly as `pulumi up` would validate it) or, for
estimates such as Valkey, to the price catalogue; its saving is the difference between the
two estimates. Nothing here is a hand-typed price.
"""

from __future__ import annotations

import argparse
import copy
import difflib
import sys
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as `python scripts/cost_levers.py` from anywhere
    sys.path.insert(0, str(ROOT))

from infra import config as config_module  # noqa: E402
from infra import prices  # noqa: E402
from infra.cost.model import estimate, totals_by_component  # noqa: E402
from infra.review.cost_report import money  # noqa: E402
from infra.offline.harness import read_stack_file  # noqa: E402

STACKS = ("dev", "staging", "prod")
DOC = ROOT / "docs" / "cost.md"
README = ROOT / "README.md"
README_ROW = "| Modelled cost |"
PREFIX = f"{config_module.PROJECT}:"

# Graviton (arm64) equivalents of the x86 SKUs, where the catalogue prices both.
GRAVITON = {
    "ec2": {"t3.medium": "t4g.medium", "m5.large": "m6g.large", "m6i.large": "m6g.large", "m7i.large": "m7g.large"},
    "rds_postgres": {"db.t3.medium": "db.t4g.medium", "db.m5.large": "db.m6g.large", "db.m6i.large": "db.m6g.large"},
    "elasticache": {"cache.t3.small": "cache.t4g.small", "cache.m5.large": "cache.m6g.large"},
}
# The awake window the "fewer dev hours" lever proposes: a 9-hour day.
SHORTER_DAY = {"start": "09:00", "stop": "18:00"}
# The window the "sleep off-hours" lever proposes to an environment that never sleeps.
DEFAULT_WORKING_HOURS = {"timezone": "UTC", "days": "MON-FRI", "start": "08:00", "stop": "20:00"}


# ---------------------------------------------------------------------------- stacks


@dataclass(frozen=True)
class Stack:
    """A stack file's `platform:` config in raw form, so a lever edits what a user would edit."""

    name: str
    raw: dict[str, Any]
    aws: dict[str, Any]
    secret_keys: frozenset[str]

    def parse(self, raw: dict[str, Any] | None = None) -> config_module.StackConfig:
        return config_module.parse(self.raw if raw is None else raw, stack=self.name, aws=self.aws, secret_keys=self.secret_keys)


def read_stack(name: str, root: Path = ROOT) -> Stack:
    stack_file = read_stack_file(name, root)
    raw = {k.removeprefix(PREFIX): v for k, v in stack_file.values.items() if k.startswith(PREFIX)}
    secret_keys = frozenset(k.removeprefix(PREFIX) for k in stack_file.secret_keys if k.startswith(PREFIX))
    aws = {key: stack_file.values.get(f"aws:{key}") for key in ("region", "assumeRoles", "profile")}
    return Stack(name, raw, aws, secret_keys)


# ---------------------------------------------------------------------------- levers


@dataclass(frozen=True)
class Lever:
    name: str
    # Returns (what changes, the changed raw config) or None when the lever does not apply.
    change: Callable[[dict[str, Any]], tuple[str, dict[str, Any]] | None]
    trade_off: str
    estimate_only: bool = False  # the saving rests on an unsourced figure
    # Prices the changed config with another catalogue (Valkey), instead of changing config.
    catalogue: Callable[[prices.Catalogue], prices.Catalogue] | None = None


def _graviton_nodes(raw: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    new = copy.deepcopy(raw)
    moves = []
    for group in new["cluster"]["node_groups"]:
        first = group["instance_types"][0]
        if first in GRAVITON["ec2"] and group.get("desired_size"):
            group["instance_types"] = [GRAVITON["ec2"][first]]
            moves.append(f"`{group['name']}`: {first} → {GRAVITON['ec2'][first]}")
    return ("; ".join(moves), new) if moves else None


def _graviton_section(section: str, field: str, family: str) -> Callable[[dict[str, Any]], tuple[str, dict[str, Any]] | None]:
    def change(raw: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
        current = raw[section][field]
        if current not in GRAVITON[family]:
            return None
        new = copy.deepcopy(raw)
        new[section][field] = GRAVITON[family][current]
        return f"`{section}.{field}`: {current} → {GRAVITON[family][current]}", new

    return change


def _single_nat(raw: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    if raw["network"].get("nat_gateways", "one_per_az") != "one_per_az":
        return None
    new = copy.deepcopy(raw)
    new["network"]["nat_gateways"] = "single"
    return f"`network.nat_gateways`: one_per_az ({raw['network'].get('az_count', 3)} NATs) → single", new


def _fewer_hours(raw: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    hours = raw.get("working_hours")
    if hours is None:
        return None
    current = {**DEFAULT_WORKING_HOURS, **hours}
    if current["start"] >= SHORTER_DAY["start"] and current["stop"] <= SHORTER_DAY["stop"]:
        return None
    new = copy.deepcopy(raw)
    new["working_hours"] = {**hours, **SHORTER_DAY}
    return f"`working_hours`: {current['start']}-{current['stop']} → {SHORTER_DAY['start']}-{SHORTER_DAY['stop']} ({current['days']})", new


def _sleep_off_hours(raw: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    if raw.get("tier") == "production":
        return None  # the production floor forbids it
    new = copy.deepcopy(raw)
    changed = []
    for group in new["cluster"]["node_groups"]:
        if not group.get("scale_to_zero_off_hours") and group.get("desired_size"):
            group["scale_to_zero_off_hours"] = True
            changed.append(f"node group `{group['name']}`")
    if not new["database"].get("stop_off_hours") and not new["database"].get("read_replicas"):
        new["database"]["stop_off_hours"] = True
        changed.append("database")
    if not changed:
        return None
    new.setdefault("working_hours", DEFAULT_WORKING_HOURS)
    hours = {**DEFAULT_WORKING_HOURS, **new["working_hours"]}
    return f"{' and '.join(changed)} sleep outside {hours['days']} {hours['start']}-{hours['stop']}", new


def _spot_nodes(raw: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    if raw.get("tier") == "production":
        return None  # prod's critical pool stays on-demand; its spot pool already exists
    new = copy.deepcopy(raw)
    moved = []
    for group in new["cluster"]["node_groups"]:
        if group.get("capacity_type", "ON_DEMAND") == "ON_DEMAND" and group.get("desired_size"):
            group["capacity_type"] = "SPOT"
            moved.append(f"`{group['name']}`")
    return (f"node group {', '.join(moved)} → SPOT", new) if moved else None


def _valkey(raw: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    # Not a stack-file setting yet: the cache component creates Redis OSS.
    return f"engine: Redis OSS → Valkey, same {raw['cache']['node_type']} nodes (needs an engine setting in the cache component)", raw


def _valkey_prices(cat: prices.Catalogue) -> prices.Catalogue:
    factor = Decimal(1) - Decimal(str(cat.valkey_discount))
    cheaper = {sku: p.model_copy(update={"hourly": float(Decimal(str(p.hourly)) * factor)}) for sku, p in cat.elasticache.items()}
    return cat.model_copy(update={"elasticache": cheaper})


LEVERS = (
    Lever("Single NAT gateway", _single_nat, "an outage of the NAT's AZ cuts internet egress for every AZ; the cross-AZ traffic to the one NAT is billed and not modelled here"),
    Lever("Graviton nodes", _graviton_nodes, "arm64 (multi-arch) images and AMI type AL2023_ARM_64_STANDARD; benchmark first"),
    Lever("Graviton database", _graviton_section("database", "instance_class", "rds_postgres"), "in-place class change with a short outage (Multi-AZ: a failover)"),
    Lever("Graviton cache", _graviton_section("cache", "node_type", "elasticache"), "online node-type change; no application change"),
    Lever("Fewer dev hours", _fewer_hours, "people working outside the window start the environment by hand"),
    Lever("Sleep off-hours", _sleep_off_hours, "nights and weekends unavailable (tests, demos); the scheduler starts it in the morning"),
    Lever("Spot nodes", _spot_nodes, "nodes can be reclaimed with 2 minutes' notice; keep at least two and spread types", estimate_only=True),
    Lever("Valkey instead of Redis OSS", _valkey, "Redis-compatible fork; verify client and version compatibility", estimate_only=True, catalogue=_valkey_prices),
)


@dataclass(frozen=True)
class Saving:
    lever: Lever
    change: str
    monthly: Decimal
    new_total: Decimal


def levers_for(stack: Stack, catalogue: prices.Catalogue | None = None) -> list[Saving]:
    """Each applicable lever's monthly saving, biggest first (those saving nothing left out)."""
    cat = catalogue or prices.load()
    base = Decimal(str(estimate(stack.parse(), cat)["monthly_total"]))
    savings = []
    for lever in LEVERS:
        proposed = lever.change(stack.raw)
        if proposed is None:
            continue
        what, raw = proposed
        lever_cat = lever.catalogue(cat) if lever.catalogue else cat
        total = Decimal(str(estimate(stack.parse(raw), lever_cat)["monthly_total"]))
        if base - total > 0:
            savings.append(Saving(lever, what, base - total, total))
    return sorted(savings, key=lambda s: (-s.monthly, s.lever.name))


def already_applied(cost: dict[str, Any]) -> Decimal:
    """What this environment's off-hours lines already save (they are negative)."""
    return -sum((Decimal(str(i["monthly"])) for i in cost["items"] if i["monthly"] < 0), Decimal(0))


# ---------------------------------------------------------------------------- document


def _axis_max(values: list[Decimal]) -> int:
    top = max(values) * Decimal("1.1")
    step = 500 if top > 1000 else 100
    return int((top // step + 1) * step)


def render(stacks: list[Stack], catalogue: prices.Catalogue | None = None) -> str:
    cat = catalogue or prices.load()
    costs = {s.name: estimate(s.parse(), cat) for s in stacks}
    names = [s.name for s in stacks]
    by_component = {n: totals_by_component(costs[n]) for n in names}
    components = list(dict.fromkeys(c for n in names for c in by_component[n]))
    totals = [Decimal(str(costs[n]["monthly_total"])) for n in names]
    budgets = [Decimal(str(costs[n]["budget"])) for n in names]

    out = [
        "# Cost",
        "",
        "<!-- Generated by scripts/cost_levers.py from the stack files and infra/prices/us-east-1.yaml; do not edit by hand. -->",
        "",
        f"Monthly estimates from `infra/cost/model.py`: {cat.region} list prices as of {cat.prices_as_of}, {cat.hours_per_month} h/month, "
        "every price with its source in [`infra/prices/us-east-1.yaml`](../infra/prices/us-east-1.yaml). The same numbers are each stack's "
        "`cost` output (`pulumi stack output --json cost`), `python -m infra cost --stack NAME` lists every line, and "
        "`python -m infra cost diff BASE HEAD` writes a pull request's cost change.",
        "",
        "## Per environment",
        "",
        "| Component | " + " | ".join(names) + " |",
        "|---|" + "---:|" * len(names),
    ]
    for component in components:
        out.append(f"| {component} | " + " | ".join(money(by_component[n].get(component, 0)) for n in names) + " |")
    out.append("| **Total** | " + " | ".join(f"**{money(t)}**" for t in totals) + " |")
    out.append("| Budget | " + " | ".join(money(b) for b in budgets) + " |")
    out.append("| Budget used | " + " | ".join(f"{t / b * 100:.1f}%" for t, b in zip(totals, budgets)) + " |")
    # The autoscaler's range: every node group at min_size, and at max_size.
    out.append("| Nodes at min / max size | " + " | ".join(f"{money(Decimal(str(costs[n]['node_range']['min'])))} / {money(Decimal(str(costs[n]['node_range']['max'])))}" for n in names) + " |")
    out.append("| Budget used at max size | " + " | ".join(f"{Decimal(str(costs[n]['node_range']['max'])) / b * 100:.1f}%" for n, b in zip(names, budgets)) + " |")
    out += [
        "",
        "Bars: estimated monthly cost; line: the budget (USD).",
        "",
        "```mermaid",
        "xychart-beta",
        '    title "Estimated monthly cost vs budget (USD)"',
        f"    x-axis [{', '.join(names)}]",
        f'    y-axis "USD per month" 0 --> {_axis_max(totals + budgets)}',
        f"    bar [{', '.join(f'{t:.2f}' for t in totals)}]",
        f"    line [{', '.join(f'{b:.2f}' for b in budgets)}]",
        "```",
        "",
        "## Cost levers",
        "",
        "Each saving is the model's total for the stack file with the change, subtracted from its total without it. "
        "Levers marked *estimate* rest on an unsourced figure (spot discount "
        f"{cat.spot_discount:.0%}, Valkey {cat.valkey_discount:.0%} below Redis OSS per node-hour); the others use list prices only. "
        "Savings of different levers overlap (e.g. Graviton nodes and fewer hours), so they do not simply add up.",
    ]
    for stack, total in zip(stacks, totals):
        out += ["", f"### {stack.name} — {money(total)}/month", ""]
        applied = already_applied(costs[stack.name])
        if applied:
            out += [f"Already applied: sleeping outside working hours saves {money(applied)}/month (the negative off-hours lines).", ""]
        savings = levers_for(stack, cat)
        if not savings:
            out.append("No lever in `scripts/cost_levers.py` applies.")
            continue
        out += ["| Lever | Change | Saving/month | New total | Trade-off |", "|---|---|---:|---:|---|"]
        for s in savings:
            name = f"{s.lever.name} (*estimate*)" if s.lever.estimate_only else s.lever.name
            out.append(f"| {name} | {s.change} | {money(s.monthly)} ({s.monthly / total * 100:.1f}%) | {money(s.new_total)} | {s.lever.trade_off} |")
    out += [
        "",
        "## Assumptions",
        "",
        "Usage the price list cannot know is set per stack under `platform:cost` (NAT data processed, control-plane log and "
        "flow-log ingestion, NLB capacity units) and stated in each line's text. Node groups are priced at `expected_size` (default `desired_size`; the report adds the range from every group at `min_size` to every group at `max_size`) and "
        "their first instance type, running all month unless they sleep outside `platform:working_hours`. RDS backups and "
        "ElastiCache snapshots are assumed to stay within their free allowances (shown as zero-quantity lines). Not priced "
        "(free tier or too small to estimate honestly): RDS enhanced monitoring and Performance Insights (7-day retention), "
        "the RDS log exports and Redis slow log, the off-hours EventBridge schedules, KMS and Secrets Manager API requests, "
        "CloudWatch Logs storage, internet data transfer out, and Cloudflare (Free plan).",
        "",
    ]
    return "\n".join(out)


def readme_with_costs(readme: str, stacks: list[Stack], catalogue: prices.Catalogue | None = None) -> str:
    """README with its "Modelled cost" row (one cell per stack, in `stacks` order) regenerated."""
    cat = catalogue or prices.load()
    row = README_ROW + "".join(f" {money(estimate(s.parse(), cat)['monthly_total'])} |" for s in stacks)
    lines = readme.splitlines(keepends=True)
    at = [i for i, line in enumerate(lines) if line.startswith(README_ROW)]
    if len(at) != 1:
        raise ValueError(f"README.md must have exactly one line starting with {README_ROW!r}")
    lines[at[0]] = row + "\n"
    return "".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=ROOT, help="directory holding Pulumi.<stack>.yaml (default: the repo)")
    parser.add_argument("--stacks", nargs="+", default=list(STACKS))
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="exit 1 if docs/cost.md differs from what would be written")
    mode.add_argument("--stdout", action="store_true", help="print the document instead of writing docs/cost.md")
    args = parser.parse_args(argv)
    try:
        stacks = [read_stack(name, args.root) for name in args.stacks]
        text = render(stacks)
        readme = readme_with_costs(README.read_text(encoding="utf-8"), stacks)
    except (FileNotFoundError, ValueError, config_module.ConfigError, prices.MissingPrice) as exc:
        print(f"cost_levers: {exc}", file=sys.stderr)
        return 2
    if args.stdout:
        print(text, end="")
        return 0
    outputs = ((DOC, text), (README, readme))
    if args.check:
        stale = 0
        for path, wanted in outputs:
            current = path.read_text(encoding="utf-8") if path.exists() else ""
            if current != wanted:
                sys.stdout.writelines(difflib.unified_diff(current.splitlines(True), wanted.splitlines(True), str(path), "generated"))
                print(f"\n{path.relative_to(ROOT)} is out of date: run `python scripts/cost_levers.py`", file=sys.stderr)
                stale = 1
        return stale
    DOC.parent.mkdir(exist_ok=True)
    for path, wanted in outputs:
        path.write_text(wanted, encoding="utf-8")
        print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
