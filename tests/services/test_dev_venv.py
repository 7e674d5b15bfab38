"""`dev.py` makes the virtual environment again when a creation failed half-way."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import dev


def test_a_venv_without_pip_is_not_taken_for_a_set_up_one(tmp_path: Path) -> None:
    """`python -m venv` on Debian without python3-venv leaves an interpreter and no pip; the
    set-up used to skip creating the venv once `bin/python` existed, and then failed at
    `pip install` on every run until the user deleted `.venv` by hand."""
    half_made = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(half_made)], check=True)
    assert (half_made / "bin" / "python").exists()
    assert not dev.has_pip(half_made / "bin" / "python")
    assert not dev.has_pip(tmp_path / "nothing" / "bin" / "python")
    assert dev.has_pip(Path(sys.executable))
