"""Five-field cron lines as Kubernetes' CronJob reads them (robfig/cron v3's standard parser):
what is wrong with one, and the longest wait between two of its runs.

Each field is `*`, a number or a range, optionally stepped (`a/n` means a to the field's
highest, by n), comma-separated. Names (MON, JAN) and macros (@weekly) are left out: one
spelling, so a review reads the hour at a glance. Day of month and day of week combine as
robfig/cron's `dayMatches` does: when either field is an unstepped `*`, a day must match both;
otherwise either.
"""

from __future__ import annotations

import datetime
import re

FIELD = re.compile(r"^(\*|\d+(-\d+)?)(/\d+)?(,(\*|\d+(-\d+)?)(/\d+)?)*$")
# (name, lowest, highest) of the five fields, in order.
RANGES = (("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31), ("month", 1, 12), ("day of week", 0, 6))
# Days looked at for the runs: eight years, so that 29 February is seen twice.
_HORIZON_DAYS = 8 * 366
_START = datetime.date(2024, 1, 1)


def values(text: str, low: int, high: int) -> set[int]:
    """The numbers one field names."""
    found: set[int] = set()
    for part in text.split(","):
        span, _, step = part.partition("/")
        if span == "*":
            first, last = low, high
        elif "-" in span:
            first, last = (int(n) for n in span.split("-", 1))
        else:
            first = int(span)
            last = high if step else first
        found.update(range(first, last + 1, int(step or 1)))
    return found


def _star(text: str) -> bool:
    return any(part in ("*", "*/1") for part in text.split(","))


def problem(schedule: str) -> str | None:
    """What is wrong with a five-field cron line, or None."""
    fields = schedule.split()
    if len(fields) != 5:
        return f"'{schedule}' has {len(fields)} fields; allowed: five (minute hour day-of-month month day-of-week), e.g. \"0 2 * * 6\""
    for text, (what, low, high) in zip(fields, RANGES):
        if not FIELD.match(text):
            return f"'{schedule}': the {what} field '{text}' is not *, a number, a range or a step"
        for number in (int(n) for n in re.findall(r"\d+", re.sub(r"/\d+", "", text))):
            if not low <= number <= high:
                return f"'{schedule}': the {what} field allows {low}-{high}, got {number}"
        if any(int(step) == 0 for step in re.findall(r"/(\d+)", text)):
            return f"'{schedule}': the {what} field has a step of 0; allowed: a step of 1 or more"
    if not _days(fields, first=True):
        return f"'{schedule}' never runs (no day has that day of month in those months); allowed: a schedule that runs"
    return None


def _days(fields: list[str], first: bool = False) -> list[int]:
    """The matching days in the horizon, as offsets from its start (with `first`, only the first)."""
    dom, months, dow = (values(fields[i], *RANGES[i][1:]) for i in (2, 3, 4))
    both = _star(fields[2]) or _star(fields[4])
    days = []
    for offset in range(_HORIZON_DAYS):
        day = _START + datetime.timedelta(days=offset)
        if day.month not in months:
            continue
        by_date, by_weekday = day.day in dom, (day.isoweekday() % 7) in dow
        if (by_date and by_weekday) if both else (by_date or by_weekday):
            days.append(offset)
            if first:
                break
    return days


def longest_gap(schedule: str) -> datetime.timedelta:
    """The longest time from one run to the next, on the wall clock of the CronJob's zone (a
    daylight-saving change moves a run by an hour: callers add their slack)."""
    fields = schedule.split()
    times = sorted(h * 60 + m for h in values(fields[1], 0, 23) for m in values(fields[0], 0, 59))
    days = _days(fields)
    within = max((b - a for a, b in zip(times, times[1:])), default=0)
    across = max(((d2 - d1) * 1440 + times[0] - times[-1] for d1, d2 in zip(days, days[1:])), default=0)
    return datetime.timedelta(minutes=max(within, across))
