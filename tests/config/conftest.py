"""Fixtures for configuration tests: the examples, a writable copy of one, and the real CLI."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import IO

import pytest
from typer.testing import CliRunner, Result

from tests.worker_process import WARMLINE
from warmline.cli import app

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
EXAMPLE_FILES = sorted(EXAMPLES.glob("*/warmline.yaml"))
Installed = Callable[..., "subprocess.CompletedProcess[str]"]


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


@pytest.fixture
def installed() -> Installed:
    """Run the installed `warmline` console script, as a user or a CI job does, with `args`:
    exit status, stdout (unless `stdout` is given a file) and stderr, never raising on failure."""

    def run(
        *args: Path | str,
        timeout: float = 60,
        cwd: Path | None = None,
        stdout: IO[str] | int = subprocess.PIPE,
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(WARMLINE), *[str(a) for a in args]],
            cwd=cwd,
            stdout=stdout,
            stderr=subprocess.PIPE,
            text=True,
            timeout=timeout,
            check=False,
        )

    return run
