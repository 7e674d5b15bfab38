"""Human-friendly durations (`30s`, `2m`, `8h`, `1h30m`, `1d`) parsed into `datetime.timedelta`."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, WithJsonSchema
from pydantic_core import PydanticCustomError

DURATION_PATTERN = r"^(?:\d+(?:d|h|ms|m|s))+$"
_PART = re.compile(r"(\d+)(d|h|ms|m|s)")
_UNITS = {
    "d": timedelta(days=1),
    "h": timedelta(hours=1),
    "m": timedelta(minutes=1),
    "s": timedelta(seconds=1),
    "ms": timedelta(milliseconds=1),
}
# Units must appear largest first and at most once, so `1h30m` is valid and `30m1h` is a typo.
_ORDER = ["d", "h", "m", "s", "ms"]
MAX_DURATION = timedelta(days=36500)
"""The longest duration warmline takes (100 years, `36500d`): the workflows add durations to the
current time (a crisis lane's deadline is when it started plus `accept_within`), and Python's
dates end in the year 9999 and Temporal's durations at 10,000 years, so a longer one, though a
`timedelta` holds it, would fail every workflow task that reached it, leaving the conversation
stuck. 100 years is as good as "never" for any setting."""


class DurationError(ValueError):
    """A duration string could not be parsed."""


def parse_duration(text: str) -> timedelta:
    """Parse `1h30m`-style text; raise `DurationError` saying what is wrong."""
    stripped = text.strip()
    if not stripped:
        raise DurationError("empty duration; write e.g. '30s', '2m', '8h' or '1h30m'")
    if stripped.isdigit():
        raise DurationError(f"duration {text!r} needs a unit: s, m, h or d (e.g. '{stripped}s')")
    position = 0
    total = timedelta()
    last_rank = -1
    for match in _PART.finditer(stripped):
        if match.start() != position:
            break
        unit = match.group(2)
        rank = _ORDER.index(unit)
        if rank <= last_rank:
            raise DurationError(
                f"duration {text!r}: units must go from largest to smallest, each at most once"
            )
        last_rank = rank
        try:
            total += int(match.group(1)) * _UNITS[unit]
        except OverflowError:
            raise _too_long(text) from None
        position = match.end()
    if position != len(stripped):
        raise DurationError(
            f"invalid duration {text!r}; write e.g. '30s', '2m', '8h', '1h30m' or '1d'"
        )
    if total > MAX_DURATION:
        raise _too_long(text)
    return total


def _too_long(text: str) -> DurationError:
    return DurationError(
        f"duration {text!r} is too long; the longest is {MAX_DURATION.days}d (100 years, as "
        "good as never): timers and deadlines cannot reach past that"
    )


def format_duration(value: timedelta) -> str:
    """Render a timedelta the way it would be written in a configuration file."""
    milliseconds = int(value.total_seconds() * 1000)
    if milliseconds == 0:
        return "0s"
    parts: list[str] = []
    for unit in _ORDER:
        size = int(_UNITS[unit].total_seconds() * 1000)
        count, milliseconds = divmod(milliseconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


def _coerce_duration(value: Any) -> Any:
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise PydanticCustomError("duration", "expected a duration such as '30s' or '1h30m'")
    try:
        return parse_duration(str(value))
    except DurationError as error:
        raise PydanticCustomError("duration", str(error)) from None


Duration = Annotated[
    timedelta,
    BeforeValidator(_coerce_duration),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": DURATION_PATTERN,
            "description": "A duration: digits with a unit (d, h, m, s, ms), e.g. 30s, 2m, 1h30m.",
            "examples": ["30s", "2m", "8h", "1h30m"],
        }
    ),
]
"""A non-negative duration written as `30s`, `2m`, `8h`, `1h30m`, `1d` or `500ms`."""


def at_least(minimum: timedelta) -> AfterValidator:
    """A validator refusing a duration shorter than `minimum`, for `Annotated[Duration, ...]`:
    the error names the value and the minimum, e.g. `must be at least 1m (got 0s)`."""

    def check(value: timedelta) -> timedelta:
        if value < minimum:
            raise PydanticCustomError(
                "duration_too_short",
                "must be at least {minimum} (got {value})",
                {"minimum": format_duration(minimum), "value": format_duration(value)},
            )
        return value

    return AfterValidator(check)


PositiveDuration = Annotated[Duration, at_least(timedelta(seconds=1))]
"""A duration of at least `1s`: a wait or a length that `0s` would make meaningless or make
spin (an SLA, a break, a budget); the demo scales such times down to seconds."""
MinuteDuration = Annotated[Duration, at_least(timedelta(minutes=1))]
"""A duration of at least `1m`: a period that timers or loops repeat on (or divide by)."""
