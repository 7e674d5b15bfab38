"""Fixtures for configuration tests: the examples, a writable copy of one, and the real CLI."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from warmline.cli import app

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
EXAMPLE_FILES = sorted(EXAMPLES.glob("*/warmline.yaml"))


def secret_names(path: Path) -> list[str]:
    """Every `${NAME}` referenced in a file."""
    return re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", path.read_text(encoding="utf-8"))


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    """A writable copy of the online-shop example; returns the path of its warmline.yaml."""
    target = tmp_path / "shop"
    shutil.copytree(EXAMPLES / "online-shop", target)
    return target / "warmline.yaml"


@pytest.fixture
def edit() -> Callable[[Path, str, str], Path]:
    """Replace exactly one occurrence of `old` with `new` in a file."""

    def replace(path: Path, old: str, new: str) -> Path:
        text = path.read_text(encoding="utf-8")
        assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times"
        path.write_text(text.replace(old, new), encoding="utf-8")
        return path

    return replace


@pytest.fixture
def validate() -> Callable[..., Result]:
    """Run `warmline validate` in-process through the real Typer app."""
    runner = CliRunner()

    def run(*paths: Path | str) -> Result:
        return runner.invoke(app, ["validate", *[str(p) for p in paths]])

    return run
