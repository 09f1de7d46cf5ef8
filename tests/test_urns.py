"""URN stability: a refactor must not rename (= delete and recreate) an existing resource."""

from pathlib import Path

from tests.conftest import plan

SNAPSHOTS = Path(__file__).parent / "snapshots"


def test_urns_match_the_committed_snapshot(stack):
    committed = set((SNAPSHOTS / f"urns-{stack}.txt").read_text().split())
    current = {s["urn"] for s in plan(stack).states}
    removed, added = sorted(committed - current), sorted(current - committed)
    assert not removed and not added, (
        f"URNs of stack {stack} changed: on a real stack the removed ones are deleted and the added ones created.\n"
        + "".join(f"  - {u}\n" for u in removed)
        + "".join(f"  + {u}\n" for u in added)
        + "If a resource was renamed or moved, add `aliases` for its old name/parent; if the change is meant, "
        "run `.venv/bin/python scripts/urn_snapshot.py` and commit the snapshot."
    )
