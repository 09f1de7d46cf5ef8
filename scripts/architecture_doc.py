"""Write docs/architecture.md: each stack's dependency graph (Mermaid), critical path and deploy-time estimate.

    python scripts/architecture_doc.py              # rewrite it from the stack files' offline plans
    python scripts/architecture_doc.py --check      # exit 1 if it is out of date
    python scripts/architecture_doc.py --stdout     # print instead of writing

Everything comes from `infra.review.graph` over `infra.offline.plan.build_plan(stack)`, the
same plan `python -m infra graph --stack NAME` draws; nothing here is typed by hand.
"""

from __future__ import annotations

import argparse
import difflib
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as `python scripts/architecture_doc.py` from anywhere
    sys.path.insert(0, str(ROOT))

from infra.config import ConfigError  # noqa: E402
from infra.offline.plan import build_plan  # noqa: E402
from infra.review.graph import architecture_document  # noqa: E402

STACKS = ("dev", "staging", "prod")
DOC = ROOT / "docs" / "architecture.md"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stacks", nargs="+", default=list(STACKS))
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="exit 1 if docs/architecture.md differs from what would be written")
    mode.add_argument("--stdout", action="store_true", help="print the document instead of writing docs/architecture.md")
    args = parser.parse_args(argv)
    try:
        text = architecture_document({stack: build_plan(stack) for stack in args.stacks})
    except (OSError, ValueError, ConfigError) as exc:
        print(f"architecture_doc: {exc}", file=sys.stderr)
        return 2
    if args.stdout:
        print(text, end="")
        return 0
    if args.check:
        current = DOC.read_text(encoding="utf-8") if DOC.exists() else ""
        if current != text:
            sys.stdout.writelines(difflib.unified_diff(current.splitlines(True), text.splitlines(True), str(DOC), "generated"))
            print(f"\n{DOC.relative_to(ROOT)} is out of date: run `make docs`", file=sys.stderr)
            return 1
        return 0
    DOC.parent.mkdir(exist_ok=True)
    DOC.write_text(text, encoding="utf-8")
    print(f"wrote {DOC.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
