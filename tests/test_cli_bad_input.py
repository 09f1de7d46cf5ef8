"""Every command that builds a plan answers bad input with one `error:` line and exit 2.

`plan`, `check`, `cost`, `graph` and `parity` all run the program under the mocks; a stack
file that fails validation, or a program the engine would refuse, must never reach the
user as a traceback from any of them.
"""

from __future__ import annotations

import pytest

from infra.cli import main

# (argv, the start of the one line)
CASES = [
    (["plan", "--stack", "qa"], "error: no stack file Pulumi.qa.yaml"),
    (["check", "--stack", "qa"], "error: no stack file Pulumi.qa.yaml"),
    (["cost", "--stack", "qa"], "error: no stack file Pulumi.qa.yaml"),
    (["graph", "--stack", "qa"], "error: no stack file Pulumi.qa.yaml"),
    (["parity", "staging", "qa"], "error: no stack file Pulumi.qa.yaml"),
]


@pytest.mark.parametrize(("argv", "line"), CASES, ids=[c[0][0] for c in CASES])
def test_one_line_and_exit_2(capsys, argv, line):
    code = main(argv)
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert code == 2 and out == ""
    assert len(lines) == 1 and lines[0].startswith(line), err


def _refuse(error):
    def build_plan(*args, **kwargs):
        raise error

    return build_plan


@pytest.mark.parametrize("command", [["plan", "--stack", "staging"], ["check", "--stack", "staging"], ["cost", "--stack", "staging"], ["graph", "--stack", "staging"], ["parity", "staging", "prod"]], ids=lambda c: c[0])
@pytest.mark.parametrize(
    ("error", "line"),
    [
        (lambda: __import__("infra.config", fromlist=["ConfigError"]).ConfigError("platform:network.cidr", "'10.20.0.0/33' is not an IPv4 CIDR like 10.20.0.0/16"),
         "error: platform:network.cidr: '10.20.0.0/33' is not an IPv4 CIDR like 10.20.0.0/16"),
        (lambda: __import__("infra.offline.errors", fromlist=["EngineError"]).EngineError("Duplicate resource URN 'urn:pulumi:staging::platform::x::y'; try giving it a unique name", rule="duplicate-urn", source="sg:284"),
         "error: Duplicate resource URN 'urn:pulumi:staging::platform::x::y'; try giving it a unique name"),
    ],
    ids=["config-error", "engine-error"],
)
def test_config_and_engine_errors_are_one_line_everywhere(monkeypatch, capsys, command, error, line):
    import infra.offline.plan as offline_plan

    monkeypatch.setattr(offline_plan, "build_plan", _refuse(error()))
    code = main(command)
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert err.strip().splitlines() == [line]
