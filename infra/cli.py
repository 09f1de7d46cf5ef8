"""`python -m infra <command>`: the offline tooling, with no credentials, network or Pulumi CLI.

    plan   --stack NAME [--json]                 the offline plan of a stack file
    check  (--stack NAME | --plan FILE)           the policy rules over a plan
    cost   --stack NAME [--format table|json|markdown]
    cost   diff BASE HEAD                         a pull-request comment of the cost change
    parity STACK_A STACK_B                        what differs beyond sizing
    smoke  --outputs FILE                         check a deployed stack's promises
    diff   BASE_PLAN HEAD_PLAN [--format text|markdown]   create/update/replace/delete per resource
    graph  --stack NAME [--output FILE]           the plan's dependency graph (Mermaid), critical path
    drift  --preview FILE [--stack NAME] [--format text|markdown]   what changed outside Pulumi
    review plan --pr N | gc --stacks FILE --open-prs FILE | comment --outputs FILE   review environments

Each command lives in its own module with `run(args) -> exit code`; this file only parses.
Modules are imported on demand so `--help` and the cheap commands stay cheap.
"""

from __future__ import annotations

import argparse
import importlib
import sys


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m infra", description="Offline tooling for the platform Pulumi program.")
    sub = parser.add_subparsers(dest="command", required=True)

    plan = sub.add_parser("plan", help="run the program under mocks with a stack file's config and print the plan")
    plan.add_argument("--stack", required=True, help="stack name: reads Pulumi.<stack>.yaml")
    plan.add_argument("--json", action="store_true", help="print JSON shaped like `pulumi preview --json`")
    plan.add_argument("--dir", help="project directory holding __main__.py and the stack files (default: this checkout)")
    plan.set_defaults(module="infra.offline.plan")

    check = sub.add_parser("check", help="run the policy rules over a plan; exit 1 on a mandatory violation")
    source = check.add_mutually_exclusive_group(required=True)
    source.add_argument("--stack", help="check the offline plan of this stack")
    source.add_argument("--plan", help="check a saved offline plan or `pulumi preview --json` output")
    check.set_defaults(module="infra.review.check")

    cost = sub.add_parser("cost", help="monthly cost of a stack, or `cost diff BASE HEAD`")
    cost.add_argument("action", nargs="*", help="empty, or: diff BASE HEAD (offline plan JSON or `pulumi stack output --json` files)")
    cost.add_argument("--stack", help="stack name: reads Pulumi.<stack>.yaml")
    cost.add_argument("--format", choices=("table", "json", "markdown"), default="table")
    cost.set_defaults(module="infra.review.cost_report")

    parity = sub.add_parser("parity", help="what differs between two stacks beyond sizing")
    parity.add_argument("base", help="stack that sets the standard (e.g. staging)")
    parity.add_argument("other", help="stack compared with it (e.g. prod)")
    parity.set_defaults(module="infra.review.parity")

    smoke = sub.add_parser("smoke", help="check what a deployment promises, from `pulumi stack output --json`")
    smoke.add_argument("--outputs", required=True, help="file with `pulumi stack output --json --show-secrets` output, or - for stdin")
    smoke.add_argument("--timeout", type=float, default=10.0, help="seconds per probe")
    smoke.set_defaults(module="infra.review.smoke")

    diff = sub.add_parser("diff", help="what a change does to each resource, from two plans; exit 1 on a mandatory violation")
    diff.add_argument("base", help="the base plan (offline plan JSON or `pulumi preview --json`); a missing file means a new stack")
    diff.add_argument("head", help="the head plan")
    diff.add_argument("--format", choices=("text", "markdown"), default="text")
    diff.set_defaults(module="infra.review.diff")

    graph = sub.add_parser("graph", help="the plan's dependency graph as Mermaid, with the critical path and a deploy-time estimate")
    graph.add_argument("--stack", required=True, help="stack name: reads Pulumi.<stack>.yaml")
    graph.add_argument("--output", help="write the Markdown here instead of printing it")
    graph.set_defaults(module="infra.review.graph")

    drift = sub.add_parser("drift", help="drift in a `pulumi preview --refresh --json`, the platform's own expected changes left out; exit 1 on drift")
    drift.add_argument("--preview", required=True, help="file with `pulumi preview --refresh --json --stack NAME` output")
    drift.add_argument("--stack", help="the stack's name, for the report")
    drift.add_argument("--format", choices=("text", "markdown"), default="text")
    drift.set_defaults(module="infra.review.drift")

    review = sub.add_parser("review", help="review environments per pull request: plan (offline, against dev's plan), gc (what to destroy), comment")
    review.add_argument("action", choices=("plan", "gc", "comment"))
    review.add_argument("--pr", type=int, help="plan: the pull request number (stack pr-N)")
    review.add_argument("--json", action="store_true", help="plan: print JSON shaped like `pulumi preview --json`")
    review.add_argument("--stacks", help="gc: `pulumi stack ls --json` of the review project (lastUpdate = last push)")
    review.add_argument("--open-prs", help="gc: `gh pr list --state open --json number`")
    review.add_argument("--now", help="gc: the time to judge by (ISO 8601, default now)")
    review.add_argument("--incoming", type=int, help="gc: a pull request about to get its environment (room is made for it)")
    review.add_argument("--format", choices=("text", "json", "tsv"), default="text", help="gc: output format (tsv: number<TAB>comment per line, for a shell loop)")
    review.add_argument("--outputs", help="comment: `pulumi stack output --json` of the review stack")
    review.set_defaults(module="infra.review.environments")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    module = importlib.import_module(args.module)
    return int(module.run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
