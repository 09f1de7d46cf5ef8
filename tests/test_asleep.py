"""A deploy of a sleeping environment outside its working hours stops in one line; previews run.

Dev sleeps MON-FRI 08:00-20:00 Europe/Madrid (its stack file): at night its node groups are
at zero and its database is stopped, and a `pulumi up` would time out on the Helm releases.
"""

from __future__ import annotations

import datetime

import pytest

from infra import config
from infra.config import ConfigError, WorkingHours
from infra.offline.harness import run_program

MADRID = WorkingHours(timezone="Europe/Madrid", days="MON-FRI", start="08:00", stop="20:00")
UTC = datetime.timezone.utc


@pytest.mark.parametrize(
    ("moment", "awake"),
    [
        (datetime.datetime(2026, 12, 2, 7, 59, tzinfo=UTC), True),    # Wednesday 08:59 in Madrid (CET, UTC+1)
        (datetime.datetime(2026, 12, 2, 6, 59, tzinfo=UTC), False),   # 07:59 in Madrid
        (datetime.datetime(2026, 12, 2, 18, 59, tzinfo=UTC), True),   # 19:59
        (datetime.datetime(2026, 12, 2, 19, 0, tzinfo=UTC), False),   # 20:00: stop is exclusive
        (datetime.datetime(2026, 12, 5, 12, 0, tzinfo=UTC), False),   # Saturday
        (datetime.datetime(2026, 7, 1, 6, 30, tzinfo=UTC), True),     # 08:30 in summer (CEST, UTC+2)
    ],
)
def test_awake_at(moment, awake):
    assert MADRID.awake_at(moment) is awake


NIGHT = datetime.datetime(2026, 12, 2, 23, 30, tzinfo=UTC)
NOON = datetime.datetime(2026, 12, 2, 11, 0, tzinfo=UTC)


def test_a_deploy_of_dev_at_night_stops_before_any_resource(monkeypatch):
    monkeypatch.setattr(config, "now", lambda: NIGHT)
    with pytest.raises(ConfigError) as err:
        run_program("dev", preview=False)
    assert str(err.value) == (
        "platform:working_hours: the environment is asleep now (awake MON-FRI 08:00-20:00 Europe/Madrid): its nodes are at zero "
        "and its database is stopped, so a deploy would time out; run `pulumi up` in working hours, when the off-hours schedule has woken it"
    )
    assert err.value.registered == []


def test_a_deploy_of_dev_in_working_hours_runs(monkeypatch):
    monkeypatch.setattr(config, "now", lambda: NOON)
    assert run_program("dev", preview=False).registrations


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_environments_that_never_sleep_deploy_any_time(monkeypatch, stack):
    monkeypatch.setattr(config, "now", lambda: NIGHT)
    assert run_program(stack, preview=False).registrations


def test_previews_and_the_offline_plan_run_at_night(monkeypatch):
    monkeypatch.setattr(config, "now", lambda: NIGHT)
    assert run_program("dev").registrations
