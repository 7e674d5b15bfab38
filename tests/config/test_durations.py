"""Duration strings: what parses to which timedelta and what is refused."""

from __future__ import annotations

from datetime import timedelta

import pytest

from warmline.config.durations import DurationError, format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30s", timedelta(seconds=30)),
        ("2m", timedelta(minutes=2)),
        ("8h", timedelta(hours=8)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("1d2h", timedelta(days=1, hours=2)),
        ("500ms", timedelta(milliseconds=500)),
        ("1m30s250ms", timedelta(minutes=1, seconds=30, milliseconds=250)),
        ("0s", timedelta()),
        (" 90m ", timedelta(minutes=90)),
    ],
)
def test_parse(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty duration"),
        ("30", "needs a unit"),
        ("4 hours", "invalid duration"),
        ("1.5h", "invalid duration"),
        ("30m1h", "largest to smallest"),
        ("1h1h", "largest to smallest"),
        ("-5m", "invalid duration"),
        ("5w", "invalid duration"),
        ("99999999999d", "is too long; the longest is 36500d"),
        ("999999999d24h", "is too long"),
    ],
)
def test_refused(text: str, message: str) -> None:
    with pytest.raises(DurationError, match=message):
        parse_duration(text)


@pytest.mark.parametrize("text", ["30s", "2m", "1h30m", "1d2h", "500ms", "0s"])
def test_format_round_trips(text: str) -> None:
    assert format_duration(parse_duration(text)) == text
