"""The encoder scripts answer `--help` without the `finetune` extra (gigabytes, left out of the
default install), and name the extra instead of failing with an import traceback."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = [
    ["bench/finetune_encoder.py"],
    ["bench/dequantize_encoder.py"],
    ["-m", "bench.soup_encoders"],
]


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda s: s[-1])
def test_help_needs_no_extra(script: list[str]) -> None:
    done = subprocess.run(
        [sys.executable, *script, "--help"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.startswith("usage:")


def test_a_run_without_the_extra_names_it() -> None:
    assert importlib.util.find_spec("torch") is None, "the default install has no torch"
    done = subprocess.run(
        [sys.executable, "-m", "bench.soup_encoders", "a", "b", "--out", "c"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert "torch is not installed: pip install -e '.[finetune]'" in done.stderr
    assert "Traceback" not in done.stderr
