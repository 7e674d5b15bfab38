"""A duration longer than timers and deadlines can reach is refused when the file is validated:
the workflows add durations to the current time, and past the year 9999 that raises inside a
workflow task, which would fail for good (a crisis lane whose deadline cannot be computed offers
the crisis to nobody). The refusal names the longest there is, which is itself accepted."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import Result

Edit = Callable[[Path, str, str], Path]


def _line_of(path: Path, start: str) -> int:
    lines = path.read_text(encoding="utf-8").splitlines()
    return next(number for number, line in enumerate(lines, start=1) if line.startswith(start))


@pytest.mark.parametrize("written", ["999999999d", "36501d", "876001h"])
def test_a_crisis_deadline_past_what_a_workflow_can_compute_is_refused(
    shop: Path, edit: Edit, validate: Callable[..., Result], written: str
) -> None:
    edit(shop, "    accept_within: 45s\n", f"    accept_within: {written}\n")
    result = validate(shop)
    assert result.exit_code == 2, result.output
    line = _line_of(shop, f"    accept_within: {written}")
    expected = (
        f"{shop}:{line}:20: triage.crisis.accept_within: duration '{written}' is too long; "
        "the longest is 36500d"
    )
    assert expected in result.stdout, result.stdout


def test_an_inactivity_timeout_of_the_longest_duration_is_valid(
    shop: Path, edit: Edit, validate: Callable[..., Result]
) -> None:
    edit(shop, "  inactivity_timeout: 48h\n", "  inactivity_timeout: 36500d\n")
    result = validate(shop)
    assert result.exit_code == 0, result.output


def test_the_longest_duration_fits_a_deadline_from_any_time_this_century() -> None:
    """What the bound is for: a workflow's `now() + duration` stays a date."""
    from warmline.config.durations import MAX_DURATION

    assert datetime(2099, 12, 31, tzinfo=UTC) + MAX_DURATION < datetime.max.replace(tzinfo=UTC)
