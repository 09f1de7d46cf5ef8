"""Cron lines (infra/cron.py): what config load refuses, and the longest wait between runs that
the copy's DataCopyNotRun alert is sized from."""

from __future__ import annotations

import datetime

import pytest

from infra import cron


@pytest.mark.parametrize("schedule", ["0 2 * * 6", "*/15 * * * *", "0 2,14 1-7 * 0-6", "30 4 * 1,7 6", "0 0 29 2 *"])
def test_accepted(schedule: str) -> None:
    assert cron.problem(schedule) is None


@pytest.mark.parametrize(
    ("schedule", "message"),
    [
        ("0 2 * *", "'0 2 * *' has 4 fields; allowed: five (minute hour day-of-month month day-of-week), e.g. \"0 2 * * 6\""),
        ("0 2 * * SAT", "'0 2 * * SAT': the day of week field 'SAT' is not *, a number, a range or a step"),
        ("@weekly", "'@weekly' has 1 fields; allowed: five (minute hour day-of-month month day-of-week), e.g. \"0 2 * * 6\""),
        ("0 24 * * *", "'0 24 * * *': the hour field allows 0-23, got 24"),
        ("0 2 * * 7", "'0 2 * * 7': the day of week field allows 0-6, got 7"),
        ("*/0 * * * *", "'*/0 * * * *': the minute field has a step of 0; allowed: a step of 1 or more"),
        # Kubernetes accepts these and never runs them: a copy that silently never happens.
        ("0 2 30 2 *", "'0 2 30 2 *' never runs (no day has that day of month in those months); allowed: a schedule that runs"),
        ("0 2 31 4,6,9,11 *", "'0 2 31 4,6,9,11 *' never runs (no day has that day of month in those months); allowed: a schedule that runs"),
    ],
)
def test_refused(schedule: str, message: str) -> None:
    assert cron.problem(schedule) == message


@pytest.mark.parametrize(
    ("text", "low", "high", "expected"),
    [
        ("*", 0, 6, set(range(7))),
        ("*/15", 0, 59, {0, 15, 30, 45}),
        ("5/20", 0, 59, {5, 25, 45}),  # robfig: N/step is N to the highest, by step
        ("1-7", 1, 31, set(range(1, 8))),
        ("1-10/3", 1, 31, {1, 4, 7, 10}),
        ("2,14", 0, 23, {2, 14}),
    ],
)
def test_values(text: str, low: int, high: int, expected: set[int]) -> None:
    assert cron.values(text, low, high) == expected


H = datetime.timedelta(hours=1)


@pytest.mark.parametrize(
    ("schedule", "gap"),
    [
        ("0 2 * * 6", 7 * 24 * H),  # the seed's Saturday 02:00
        ("0 2,14 * * *", 12 * H),
        ("30 1 * * 1-5", 3 * 24 * H),  # Friday to Monday
        ("*/15 * * * *", datetime.timedelta(minutes=15)),
        ("0 0 1 * *", 31 * 24 * H),
        # Both day fields restricted: either matches (the 1st, and every Sunday).
        ("0 3 1 * 0", 7 * 24 * H),
        ("0 0 29 2 *", (366 + 365 * 3) * 24 * H),
    ],
)
def test_longest_gap(schedule: str, gap: datetime.timedelta) -> None:
    assert cron.longest_gap(schedule) == gap
