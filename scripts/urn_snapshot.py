"""Write the committed URN snapshot of every stack: tests/snapshots/urns-<stack>.txt.

A URN is a resource's identity: a change of logical name, type or parent is, on a real
stack, a delete and a create (for a database, a new empty database). tests/test_urns.py
fails when the program's URNs stop matching this snapshot. Run this script only when the
change is meant:
- new resources, or resources deliberately removed: re-run it and commit the diff;
- a rename or a move into another component of something that already exists: give the
  resource `aliases=[pulumi.Alias(name=<old name>, parent=<old parent>)]` so the engine
  updates it in place; its old URN then leaves the snapshot and its new one enters.

    .venv/bin/python scripts/urn_snapshot.py [STACK ...]
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from infra.offline.plan import build_plan  # noqa: E402

SNAPSHOTS = ROOT / "tests" / "snapshots"


def urns(stack: str) -> list[str]:
    return sorted(step["urn"] for step in build_plan(stack)["steps"])


def main(stacks: list[str]) -> int:
    SNAPSHOTS.mkdir(parents=True, exist_ok=True)
    for stack in stacks or ["dev", "staging", "prod"]:
        path = SNAPSHOTS / f"urns-{stack}.txt"
        path.write_text("\n".join(urns(stack)) + "\n")
        print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
