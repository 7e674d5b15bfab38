"""`warmline simulate` refuses a scenario whose YAML does not say what it seems to, before any
service starts: exit 2 and FILE:LINE:COL lines, never a step that runs with a value nobody wrote."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from warmline.cli import app

ROOT = Path(__file__).resolve().parents[2]
ONLINE_SHOP = ROOT / "examples" / "online-shop" / "warmline.yaml"
HEADER = (
    f"apiVersion: warmline/v1\nkind: Scenario\nmetadata: {{name: probe}}\nconfig: {ONLINE_SHOP}\n"
)
STEPS = 'steps:\n  - at: 0s\n    message: {conversation: c1, text: "Where is my parcel?"}\n'
"""Lines 5 to 7; a step or `expect:` added after it starts at line 8."""


def simulate(path: Path) -> tuple[int, str]:
    """Exit status and the FILE:LINE:COL lines of `warmline simulate PATH`."""
    result = CliRunner().invoke(app, ["simulate", str(path)])
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    return result.exit_code, result.stderr


def write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "scenario.yaml"
    path.write_text(HEADER + STEPS + body, encoding="utf-8")
    return path


REFUSED = [
    pytest.param(
        "  - at: 1s\n    checkin: {worker: sp-olu, mood: true}\n",
        "9:37: steps[1].checkin.mood: expected a number, found the boolean true",
        id="mood-true-is-not-mood-1",
    ),
    pytest.param(
        "  - at: 1s\n    break_now: {worker: sp-olu, minutes: true}\n",
        "9:42: steps[1].break_now.minutes: expected a number, found the boolean true",
        id="break-minutes-true-is-not-one-minute",
    ),
    pytest.param(
        "  - at: 1s\n    break_now: {worker: sp-olu, minutes: .nan}\n",
        "9:42: steps[1].break_now.minutes: Input should be a finite number",
        id="break-minutes-nan",
    ),
    pytest.param(
        "expect:\n  - wellness: {worker: sp-olu, at: 1m, breaks_taken: false}\n",
        "9:54: expect[0].wellness.breaks_taken: expected a number, found the boolean false",
        id="breaks-taken-false-is-not-zero",
    ),
    pytest.param(
        "expect:\n  - wellness: {worker: sp-olu, at: 1m, exposure_below: .inf}\n",
        "9:56: expect[0].wellness.exposure_below: Input should be a finite number",
        id="exposure-below-infinity",
    ),
    pytest.param(
        "expect:\n  - event: io.warmline.conversation.started.v1\n    subject: 1234\n",
        "10:14: expect[0].subject: expected a string, but YAML reads this value as a number "
        "(1234); put it in quotes to keep it as written",
        id="numeric-subject",
    ),
    pytest.param(
        "expect:\n",
        "8:1: expect: expected a list",
        id="expect-with-nothing-at-its-own-line",
    ),
    pytest.param(
        "  - at: 1s\n    message:\n      conversation: c2\n      text:\n",
        "11:7: steps[1].message.text: expected a string, found no value",
        id="text-with-nothing-at-its-own-line",
    ),
    pytest.param(
        "expect:\n  - not_event: 404\n",
        "9:16: expect[0].not_event: expected an event type such as "
        "'io.warmline.offer.created.v1', found 404",
        id="event-type-a-number-is-not-answered-with-every-type",
    ),
    pytest.param(
        "  - at: 1s\n    close: {conversation: c1}\n    message: {conversation: c2, text: hi}\n"
        "    message: {conversation: c3, text: hi}\n",
        "11:5: duplicate key 'message' (first defined at line 10, column 5)",
        id="duplicate-step-kind-names-the-first",
    ),
]


@pytest.mark.parametrize(("body", "expected"), REFUSED)
def test_a_value_that_is_not_what_it_seems_is_refused_where_it_is(
    tmp_path: Path, body: str, expected: str
) -> None:
    path = write(tmp_path, body)
    status, said = simulate(path)
    assert status == 2, said
    assert f"{path}:{expected}" in said.splitlines(), said


def test_a_utf_16_scenario_is_named_as_one(tmp_path: Path) -> None:
    path = tmp_path / "scenario.yaml"
    path.write_text(HEADER + STEPS, encoding="utf-16")
    status, said = simulate(path)
    assert status == 2
    assert said == (
        f"{path}:1:1: file is UTF-16 (it starts with a UTF-16 byte order mark); save it as UTF-8\n"
    )


def test_a_scenario_that_is_a_symbolic_link_loop_is_named_as_one(tmp_path: Path) -> None:
    path, other = tmp_path / "scenario.yaml", tmp_path / "other.yaml"
    path.symlink_to(other)
    other.symlink_to(path)
    status, said = simulate(path)
    assert status == 2
    assert said == f"{path}:1:1: is a symbolic link loop (too many levels of symbolic links)\n"
