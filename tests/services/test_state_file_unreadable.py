"""A state file that is there but cannot be read stops `up` and `down` with one line, and stays."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from warmline.cli import app


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b'{"services": {"redis": {"pid": 4', "Invalid JSON"),
        (b"\xff\xfe{}", "not UTF-8"),
        (b'{"services": {"redis": {"pid": "many"}}}', "Input should be a valid integer"),
    ],
    ids=["cut-short", "not-utf8", "wrong-shape"],
)
def test_an_unreadable_state_file_is_named_and_kept(
    tmp_path: Path, content: bytes, reason: str
) -> None:
    """Before, it read as "no services": `down` said nothing was running and deleted it while
    the services it recorded ran on, and `up` started a second set beside them."""
    state = tmp_path / "state"
    state.mkdir()
    (state / "services.json").write_bytes(content)
    for command in (["services", "down"], ["services", "up", "--only", "redis"]):
        result = CliRunner().invoke(app, [*command, "--state-dir", str(state)])
        assert result.exit_code == 1, (command, result.output)
        assert result.stderr.startswith(f"error: {state / 'services.json'}: not a state file")
        assert reason in result.stderr
        assert "Traceback" not in result.output
        assert (state / "services.json").read_bytes() == content, "kept as it was"
