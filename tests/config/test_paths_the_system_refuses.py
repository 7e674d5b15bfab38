"""A path the system refuses to look up at all (a name longer than the file system allows) is a
FILE:LINE:COL diagnostic and exit 2, like a file that is not there, never a traceback: in a
configuration's file settings, given to `warmline validate`, and to `warmline simulate`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from typer.testing import CliRunner, Result

from warmline.cli import app

TOO_LONG = "a" * 300
"""One name of 300 bytes: longer than ext4, XFS, btrfs and tmpfs allow (255)."""
REFUSED = "cannot be used: a name in it is longer than the file system allows"
ROOT = Path(__file__).resolve().parents[2]
ONLINE_SHOP = ROOT / "examples" / "online-shop" / "warmline.yaml"

Edit = Callable[[Path, str, str], Path]


def _line_of(path: Path, start: str) -> int:
    lines = path.read_text(encoding="utf-8").splitlines()
    return next(number for number, line in enumerate(lines, start=1) if line.startswith(start))


def _refused(result: Result) -> None:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception


def test_a_template_path_with_an_overlong_name_is_refused_at_its_value(
    shop: Path, edit: Edit, validate: Callable[..., Result]
) -> None:
    edit(shop, "template: templates/handoff.md.j2", f"template: templates/{TOO_LONG}.j2")
    result = validate(shop)
    _refused(result)
    line = _line_of(shop, "  template: ")
    assert f"{shop}:{line}:13: handoff.template: this path {REFUSED}" in result.stdout


def test_a_lexicon_under_a_directory_with_an_overlong_name_is_refused(
    shop: Path, edit: Edit, validate: Callable[..., Result]
) -> None:
    edit(shop, "    type: lexicon\n", f"    type: lexicon\n    lexicon: {TOO_LONG}/extra.tsv\n")
    result = validate(shop)
    _refused(result)
    line = _line_of(shop, "    lexicon: ")
    assert f"{shop}:{line}:" in result.stdout
    assert REFUSED in result.stdout


def test_validate_given_an_overlong_file_name_names_it(
    tmp_path: Path, validate: Callable[..., Result]
) -> None:
    path = tmp_path / f"{TOO_LONG}.yaml"
    result = validate(path)
    _refused(result)
    assert f"{path}:1:1: {REFUSED}" in result.stdout


def test_simulate_given_an_overlong_scenario_name_exits_2(tmp_path: Path) -> None:
    path = tmp_path / f"{TOO_LONG}.yaml"
    result = CliRunner().invoke(app, ["simulate", str(path)])
    _refused(result)
    assert f"{path}:1:1: {REFUSED}" in result.stderr


def test_simulate_with_an_overlong_config_option_exits_2(tmp_path: Path) -> None:
    scenario = ROOT / "examples" / "scenarios" / "decline-next-candidate.yaml"
    config = tmp_path / f"{TOO_LONG}.yaml"
    result = CliRunner().invoke(app, ["simulate", str(scenario), "--config", str(config)])
    _refused(result)
    assert f"{config}:1:1: {REFUSED}" in result.stderr


def test_a_scenario_config_key_with_an_overlong_name_is_refused_at_the_key(
    tmp_path: Path,
) -> None:
    path = tmp_path / "scenario.yaml"
    path.write_text(
        "apiVersion: warmline/v1\nkind: Scenario\nmetadata: {name: probe}\n"
        f"config: ../{TOO_LONG}.yaml\n"
        'steps:\n  - at: 0s\n    message: {conversation: c1, text: "Where is my parcel?"}\n',
        encoding="utf-8",
    )
    result = CliRunner().invoke(app, ["simulate", str(path)])
    _refused(result)
    assert f"{path}:4:9: config: " in result.stderr
    assert REFUSED in result.stderr


def test_a_path_that_is_only_not_there_is_usable(tmp_path: Path) -> None:
    """Not there (yet) is for the callers to judge: a model directory may be made later."""
    from warmline.config.paths import unusable_path

    assert unusable_path(tmp_path / "not-yet" / "model") is None
    assert unusable_path(ONLINE_SHOP) is None
