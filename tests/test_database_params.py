"""The RDS parameter group's PostgreSQL settings, held to a real PostgreSQL 17's own catalogue
(`pg_settings` of the `postgres` fixture: the major of the group's family, postgres17).

RDS refuses a parameter its family does not have, a value outside the parameter's range, and
`applyMethod: immediate` (the provider's default) for a static parameter, which is what
PostgreSQL's `postmaster` context is: "cannot use immediate apply method for static
parameter" (RDS user guide, "Modifying parameters in a DB parameter group"). `rds.*` settings
are RDS's own and not in PostgreSQL's catalogue; they are checked by name only.
"""

from __future__ import annotations

import pytest

from tests.conftest import STACKS, plan

pytestmark = pytest.mark.xdist_group("postgres")

PARAMETER_GROUP = "aws:rds/parameterGroup:ParameterGroup"
RDS_OWN = {"rds.force_ssl"}  # RDS's own settings the program sets (RDS user guide, "rds.force_ssl")
TRUE, FALSE = {"1", "on", "true", "yes"}, {"0", "off", "false", "no"}


def problems(parameters: list[dict[str, str]], catalogue: dict[str, tuple]) -> list[str]:
    found = []
    for parameter in parameters:
        name, value, method = parameter["name"], str(parameter["value"]), parameter.get("applyMethod", "immediate")
        if name.startswith("rds."):
            if name not in RDS_OWN:
                found.append(f"{name}: an RDS setting this test does not know")
            continue
        if name not in catalogue:
            found.append(f"{name}: not a PostgreSQL 17 setting")
            continue
        context, vartype, low, high, choices = catalogue[name]
        if context == "postmaster" and method != "pending-reboot":
            found.append(f"{name}: static (needs a restart): applyMethod must be pending-reboot")
        if vartype == "bool" and value.lower() not in TRUE | FALSE:
            found.append(f"{name}: '{value}' is not a boolean")
        if vartype == "integer" and not (value.lstrip("-").isdigit() and float(low) <= int(value) <= float(high)):
            found.append(f"{name}: '{value}' is outside {low}..{high}")
        if vartype == "enum" and value not in choices:
            found.append(f"{name}: '{value}' is not one of {choices}")
    return found


@pytest.fixture(scope="module")
def catalogue(postgres) -> dict[str, tuple]:
    with postgres.as_superuser("postgres") as conn:
        assert conn.execute("SHOW server_version_num").fetchone()[0].startswith("17")
        rows = conn.execute("SELECT name, context, vartype, min_val, max_val, enumvals FROM pg_settings").fetchall()
    return {name: (context, vartype, low, high, choices) for name, context, vartype, low, high, choices in rows}


@pytest.mark.parametrize("stack", STACKS)
def test_every_parameter_is_one_postgres_17_takes_as_set(stack: str, catalogue) -> None:
    (group,) = plan(stack).of_type(PARAMETER_GROUP)
    assert group["inputs"]["family"] == "postgres17"
    assert problems(group["inputs"]["parameters"], catalogue) == []


def test_the_check_refuses_what_rds_would(catalogue) -> None:
    assert problems(
        [
            {"name": "shared_preload_libraries", "value": "pg_stat_statements"},
            {"name": "max_standby_streaming_delay", "value": "-2"},
            {"name": "hot_standby_feedback", "value": "sometimes"},
            {"name": "wal_level", "value": "logical", "applyMethod": "pending-reboot"},
            {"name": "log_min_messages", "value": "chatty"},
            {"name": "max_standby_delay", "value": "1"},
            {"name": "rds.logical_replication", "value": "1"},
        ],
        catalogue,
    ) == [
        "shared_preload_libraries: static (needs a restart): applyMethod must be pending-reboot",
        "max_standby_streaming_delay: '-2' is outside -1..2147483647",
        "hot_standby_feedback: 'sometimes' is not a boolean",
        "log_min_messages: 'chatty' is not one of ['debug5', 'debug4', 'debug3', 'debug2', 'debug1', 'info', 'notice', 'warning', 'error', 'log', 'fatal', 'panic']",
        "max_standby_delay: not a PostgreSQL 17 setting",
        "rds.logical_replication: an RDS setting this test does not know",
    ]
