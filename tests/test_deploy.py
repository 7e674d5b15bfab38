"""The production units in `deploy/systemd/` run commands that exist, with options that exist."""

from __future__ import annotations

import configparser
import shlex
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from warmline.cli import app

SYSTEMD = Path(__file__).resolve().parents[1] / "deploy" / "systemd"
UNITS = sorted(SYSTEMD.glob("*.service"))
EXAMPLE_INSTANCE = "crm"


def unit(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys keep their case
    parser.read(path, encoding="utf-8")
    return parser


def warmline_args(path: Path) -> list[str]:
    """What `ExecStart` passes to `warmline`, with a template's `%i` filled in."""
    command = shlex.split(unit(path)["Service"]["ExecStart"].replace("%i", EXAMPLE_INSTANCE))
    assert command[0].endswith("/bin/warmline"), command
    return command[1:]


def test_every_long_running_command_has_a_unit() -> None:
    commands = {" ".join(warmline_args(path)[:2]) for path in UNITS}
    assert {
        "worker --config",
        "bridge --config",
        "wellness-tracker --config",
        "api --config",
        "annotate sample",
        "connector run",
    } == commands


@pytest.mark.parametrize("path", UNITS, ids=[p.name for p in UNITS])
def test_a_unit_runs_a_command_and_options_that_exist(path: Path) -> None:
    # Click parses every option before it acts on --help: an unknown one is exit 2.
    result = CliRunner().invoke(app, [*warmline_args(path), "--help"])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("path", UNITS, ids=[p.name for p in UNITS])
def test_a_unit_restarts_a_failure_but_not_a_configuration_mistake(path: Path) -> None:
    service = unit(path)["Service"]
    assert service["Restart"] == "on-failure"
    assert service["RestartPreventExitStatus"] == "2"
    assert service["KillSignal"] == "SIGTERM", "the commands stop gracefully on SIGTERM"
    assert service["EnvironmentFile"] == "/etc/warmline/warmline.env"


def environment_variables(command: Any) -> set[str]:
    """Every environment variable an option of `command` or of its subcommands reads (Typer
    builds them with the click it vendors, so they are read by attribute)."""
    found: set[str] = set()
    for param in command.params:
        envvar = getattr(param, "envvar", None)
        found.update([envvar] if isinstance(envvar, str) else envvar or [])
    for sub in getattr(command, "commands", {}).values():
        found |= environment_variables(sub)
    return found


def test_the_example_environment_sets_only_what_the_commands_read() -> None:
    settings = [
        line.split("=", 1)[0]
        for line in (SYSTEMD / "warmline.env.example").read_text(encoding="utf-8").splitlines()
        if line and not line.startswith("#")
    ]
    read = environment_variables(typer.main.get_command(app))
    # WARMLINE_TOKEN_* and the like are the configuration's ${...} secrets, not options.
    options = [name for name in settings if name.startswith("WARMLINE_") and "TOKEN" not in name]
    assert options, settings
    assert [name for name in options if name not in read] == []
