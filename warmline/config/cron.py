"""Five-field cron expressions, checked the way Temporal's schedules parse them.

`warmline worker` hands `annotation.retraining.schedule` to a Temporal Schedule, which refuses an
expression it cannot parse (`Invalid schedule spec: Hour is not in range [0-23]`) only when the
worker starts. This checks the same grammar when the file is validated: per field a
comma-separated list of `*`, `n`, `a-b`, each optionally followed by `/step` (`n/step` runs from
`n` to the field's maximum), with month names (at least three letters, `JAN`, `march`) and weekday
names (at least two letters, `MON`, `tu`) where Temporal accepts them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from pydantic import AfterValidator, Field


@dataclass(frozen=True)
class CronField:
    """One field of a cron expression: its name, its range and the names it accepts."""

    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()
    """Names for `first_named`, `first_named + 1`, ..., matched by prefix."""
    first_named: int = 0
    shortest_name: int = 3


MONTHS = (
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
)
WEEKDAYS = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")

FIELDS = (
    CronField("minute", 0, 59),
    CronField("hour", 0, 23),
    CronField("day of month", 1, 31),
    CronField("month", 1, 12, MONTHS, first_named=1, shortest_name=3),
    CronField("day of week", 0, 7, WEEKDAYS, first_named=0, shortest_name=2),
)
EXAMPLE = "0 3 * * 1"


class CronError(ValueError):
    """A cron expression Temporal would refuse; the message says which field and why."""


def check_cron(expression: str) -> str:
    """Return `expression` if Temporal accepts it as a five-field cron; raise `CronError`."""
    fields = expression.split()
    if len(fields) != len(FIELDS):
        raise CronError(
            f"schedule must be a five-field cron expression (minute hour day-of-month month "
            f"day-of-week, e.g. '{EXAMPLE}'); {expression!r} has {len(fields)} field(s)"
        )
    for text, field in zip(fields, FIELDS, strict=True):
        for part in text.split(","):
            _check_part(part, field, text)
    return expression


def _check_part(part: str, field: CronField, text: str) -> None:
    base, slash, step = part.partition("/")
    where = f"{field.name} {text!r}"
    if slash:
        if "/" in step:
            raise CronError(f"{where}: {part!r} has more than one '/'")
        if not _is_number(step) or int(step) < 1:
            raise CronError(f"{where}: the step after '/' in {part!r} must be a whole number >= 1")
    if base == "*":
        return
    if "-" in base:
        first, _, last = base.partition("-")
        if "-" in last:
            raise CronError(f"{where}: {part!r} is not a range a-b")
        start = _value(first, field, f" (in {text!r})")
        end = _value(last, field, f" (in {text!r})")
        if end < start:
            raise CronError(f"{where}: the range {base!r} ends before it starts")
        return
    _value(base, field, "" if base == text else f" (in {text!r})")


def _is_number(text: str) -> bool:
    return text.isascii() and text.isdigit()


def _value(text: str, field: CronField, where: str) -> int:
    if _is_number(text):
        number = int(text)
        if not field.low <= number <= field.high:
            raise CronError(f"{field.name} {number} is out of range {field.low}-{field.high}")
        return number
    lowered = text.lower()
    if field.names and len(lowered) >= field.shortest_name:
        for index, name in enumerate(field.names):
            if name.startswith(lowered):
                return field.first_named + index
    names = ""
    if field.names:
        first, last = field.names[0][:3].upper(), field.names[-1][:3].upper()
        names = f" or a name {first}-{last}"
    shown = repr(text) if text else "(empty)"
    raise CronError(
        f"{field.name} {shown}{where} is not a number {field.low}-{field.high}{names}; write "
        f"e.g. '{EXAMPLE}'"
    )


CronSchedule = Annotated[
    str,
    AfterValidator(check_cron),
    Field(examples=[EXAMPLE, "30 2 * * MON-FRI", "0 */6 * * *"]),
]
"""A five-field cron expression Temporal's schedules accept."""
