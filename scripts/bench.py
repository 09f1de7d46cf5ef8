"""Benchmark: the offline plan's cost next to the bare import of the SDK modules it uses.

For each stack, in fresh interpreters (so nothing is cached between runs), it times
  imports: `import pulumi, pulumi_aws, pulumi_eks, pulumi_kubernetes, pulumi_cloudflare, pulumi_random`
  plan:    `python -m infra plan --stack NAME --json`
and prints the median of N runs of each and their ratio. A ratio near 1 means the plan
costs little more than loading the SDKs. Not a test: timings depend on the machine.

    .venv/bin/python scripts/bench.py [--runs 5] [--stacks dev staging prod]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
IMPORTS = "import pulumi, pulumi_aws, pulumi_eks, pulumi_kubernetes, pulumi_cloudflare, pulumi_random"


def timed(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def median_of(cmd: list[str], runs: int) -> float:
    return statistics.median(timed(cmd) for _ in range(runs))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--stacks", nargs="+", default=["dev", "staging", "prod"])
    args = parser.parse_args()

    baseline = median_of([sys.executable, "-c", IMPORTS], args.runs)
    print(f"SDK imports alone: {baseline:.2f} s (median of {args.runs})")
    print(f"{'stack':<10}{'plan s':>8}{'ratio':>8}")
    for stack in args.stacks:
        plan = median_of([sys.executable, "-m", "infra", "plan", "--stack", stack, "--json"], args.runs)
        print(f"{stack:<10}{plan:>8.2f}{plan / baseline:>8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
