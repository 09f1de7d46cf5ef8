"""The architecture's directions (`.importlinter`) hold, and breaking one fails the suite.

import-linter reads the import graph statically; the suite runs its own CLI so a violation
prints import-linter's message (the contract, the offending import and its line).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=root, env=env, capture_output=True, text=True, timeout=120)


def test_the_contracts_hold():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "6 kept, 0 broken" in result.stdout


@pytest.fixture
def copy_of_tree(tmp_path: Path) -> Path:
    for folder in ("infra", "policy"):
        shutil.copytree(ROOT / folder, tmp_path / folder, ignore=shutil.ignore_patterns("__pycache__", "node_modules"))
    shutil.copy(ROOT / ".importlinter", tmp_path / ".importlinter")
    return tmp_path


# (module that gains the import, the import, the contract that must break)
VIOLATIONS = [
    ("infra/components/database.py", "from infra.offline import mocks", "Components never know they run under mocks or are reviewed"),
    ("infra/components/edge.py", "from infra.review import check", "Components never know they run under mocks or are reviewed"),
    ("infra/config.py", "from infra.components import network", "Config, the pure inputs and the cost model import no component"),
    ("infra/cost/model.py", "from infra.components import cache", "Config, the pure inputs and the cost model import no component"),
    ("infra/review/parity.py", "from infra.components import cluster", "Review tools and the policy pack read plans, not components"),
    ("policy/rules.py", "from infra import config", "The policy pack runs in its own virtualenv: it imports nothing of infra"),
    ("infra/components/app.py", "from infra.components import database", "Only __main__.py wires components together"),
    ("infra/prices/__init__.py", "from infra import config", "Tools sit on the program's inputs, never the other way round"),
]


@pytest.mark.parametrize(("module", "statement", "contract"), VIOLATIONS, ids=[v[0] for v in VIOLATIONS])
def test_a_forbidden_import_breaks_its_contract(copy_of_tree: Path, module: str, statement: str, contract: str):
    path = copy_of_tree / module
    path.write_text(path.read_text(encoding="utf-8") + f"\n{statement}  # noqa\n", encoding="utf-8")
    result = lint_imports(copy_of_tree)
    assert result.returncode == 1, result.stdout
    assert f"{contract} BROKEN" in result.stdout
    imported = statement.split()[1]
    assert imported in result.stdout
