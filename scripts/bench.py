"""Benchmark: the offline plan's cost next to the import of the SDK modules it actually uses.

For each stack, in fresh interpreters (nothing cached between runs), it times
  used:  `import` of every pulumi* module the plan of that stack loads, submodules included
         (importing `pulumi_aws` alone loads little; `aws.ec2.Vpc` loads `pulumi_aws.ec2`);
  plan:  `python -m infra plan --stack NAME --json`
and prints the median of N runs of each and their ratio. A ratio near 1 means the program,
the mocks and the plan cost little beyond loading the SDKs. The bare top-level imports are
printed too, for reference. Not a test: timings depend on the machine (run it quietly).

    .venv/bin/python scripts/bench.py [--runs 5] [--stacks dev staging prod]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SDKS = ("pulumi", "pulumi_aws", "pulumi_eks", "pulumi_kubernetes", "pulumi_cloudflare", "pulumi_random")
TOP_LEVEL = "import " + ", ".join(SDKS)

# Runs the plan in-process and lists the SDK modules it left loaded.
_USED = """
import contextlib, io, json, sys
from infra.offline.plan import build_plan
with contextlib.redirect_stdout(io.StringIO()):
    build_plan(sys.argv[1])
print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in %r)))
""" % (SDKS,)


def timed(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def median_of(cmd: list[str], runs: int) -> float:
    return statistics.median(timed(cmd) for _ in range(runs))


def used_modules(stack: str) -> list[str]:
    out = subprocess.run([sys.executable, "-c", _USED, stack], cwd=ROOT, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--stacks", nargs="+", default=["dev", "staging", "prod"])
    args = parser.parse_args()

    top = median_of([sys.executable, "-c", TOP_LEVEL], args.runs)
    print(f"bare top-level SDK imports: {top:.2f} s (median of {args.runs}; reference only)")
    print(f"{'stack':<10}{'modules':>8}{'used s':>8}{'plan s':>8}{'ratio':>8}")
    for stack in args.stacks:
        modules = used_modules(stack)
        used = median_of([sys.executable, "-c", "\n".join(f"import {m}" for m in modules)], args.runs)
        plan = median_of([sys.executable, "-m", "infra", "plan", "--stack", stack, "--json"], args.runs)
        print(f"{stack:<10}{len(modules):>8}{used:>8.2f}{plan:>8.2f}{plan / used:>8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
