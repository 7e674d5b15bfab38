"""Cron schedules: what Temporal's schedule parser accepts, and what it refuses, found at
validation rather than when `warmline worker` creates the Schedule."""

from __future__ import annotations

import pytest

from warmline.config.cron import CronError, check_cron


@pytest.mark.parametrize(
    "expression",
    [
        "0 3 * * 1",
        "*/15 * * * *",
        "0 9-17/2 * * MON-FRI",
        "0 0 1 JAN,jul *",
        "0 0 1 march-May *",
        "30 2 * * 0",
        "30 2 * * 7",
        "30 2 * * tu,Th",
        "5/10 * * * *",
        "0,15,30,45 0-23 1-31 1-12 0-7",
        "  0  3 * *   1 ",
    ],
)
def test_accepted(expression: str) -> None:
    assert check_cron(expression) == expression


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("0 25 * * *", "hour 25 is out of range 0-23"),
        ("99 * * * *", "minute 99 is out of range 0-59"),
        ("0 0 0 * *", "day of month 0 is out of range 1-31"),
        ("0 0 32 * *", "day of month 32 is out of range 1-31"),
        ("0 0 * 13 *", "month 13 is out of range 1-12"),
        ("0 0 * * 8", "day of week 8 is out of range 0-7"),
        ("0 0 * 1-13 *", "month 13 is out of range 1-12"),
        ("0 0 * * 1,9", "day of week 9 is out of range 0-7"),
        ("0 10-99/5 * * *", "hour 99 is out of range 0-23"),
        ("0 5-2 * * *", "hour '5-2': the range '5-2' ends before it starts"),
        ("*/0 * * * *", "minute '*/0': the step after '/' in '*/0' must be a whole number >= 1"),
        ("*/x * * * *", "the step after '/' in '*/x' must be a whole number >= 1"),
        ("1/2/3 * * * *", "'1/2/3' has more than one '/'"),
        ("1-2-3 * * * *", "'1-2-3' is not a range a-b"),
        ("0 0 * MA *", "month 'MA' is not a number 1-12 or a name JAN-DEC"),
        ("0 0 * * t", "day of week 't' is not a number 0-7 or a name SUN-SAT"),
        ("0 0 * * ?", "day of week '?' is not a number 0-7"),
        ("0 0 L * *", "day of month 'L' is not a number 1-31; write e.g. '0 3 * * 1'"),
        ("1,,2 * * * *", "minute (empty) (in '1,,2') is not a number 0-59"),
        ("0 \u00b2 * * *", "hour '\u00b2' is not a number 0-23"),
        ("0 3 * *", "five-field cron expression"),
        ("0 3 * * 1 2026", "'0 3 * * 1 2026' has 6 field(s)"),
        ("@daily", "'@daily' has 1 field(s)"),
    ],
)
def test_refused(expression: str, message: str) -> None:
    with pytest.raises(CronError) as raised:
        check_cron(expression)
    assert message in str(raised.value)
