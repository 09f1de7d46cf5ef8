"""Numbers in the docs are generated, never typed: README's cost row and docs/cost.md."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def levers():
    spec = importlib.util.spec_from_file_location("cost_levers_docs", ROOT / "scripts" / "cost_levers.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their annotations through it
    spec.loader.exec_module(module)
    return module


def test_readme_cost_row_is_generated(levers):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    stacks = [levers.read_stack(s) for s in levers.STACKS]
    assert readme == levers.readme_with_costs(readme, stacks), "run `make docs`"
    assert "| Modelled cost | $183.42 | $424.96 | $1,283.99 |" in readme


def test_a_hand_edited_cost_row_is_rewritten(levers):
    stacks = [levers.read_stack(s) for s in levers.STACKS]
    edited = "# x\n\n| | dev | staging | prod |\n|---|---|---|---|\n| Modelled cost | $1 | $2 | $3 |\n"
    assert levers.readme_with_costs(edited, stacks).splitlines()[-1] == "| Modelled cost | $183.42 | $424.96 | $1,283.99 |"


def test_a_readme_without_the_row_is_refused(levers):
    with pytest.raises(ValueError, match="exactly one line starting with '| Modelled cost |'"):
        levers.readme_with_costs("# no table\n", [levers.read_stack("dev")])
