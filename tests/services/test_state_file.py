"""`services.json` survives a write that fails: the services it records stay `down`'s to stop."""

from __future__ import annotations

import json
import resource
import signal
import subprocess
import sys
from pathlib import Path

from warmline.services.process import pid_alive, started_at, stop_pid

_STATE_FILE_LIMIT = 64
"""Bytes any file of the `up` may grow to: far less than a state file with two services."""


def _full_disk() -> None:
    """In the child: writing a file past the limit fails with EFBIG, as on a full disk."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (_STATE_FILE_LIMIT, _STATE_FILE_LIMIT))


def _warmline(*args: str, full_disk: bool = False) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "warmline.cli", *args],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        preexec_fn=_full_disk if full_disk else None,
    )


def test_an_up_that_cannot_write_the_state_file_keeps_the_one_before(tmp_path: Path) -> None:
    """The state file was rewritten in place: an `up` on a full disk (where the service it starts
    cannot write its log either, and the `up` writes the state back as it gives up) cut it short,
    and the services it had recorded ran on unknown to `down` (`nothing was running`) and to the
    next `up`, which started a second set beside them."""
    state_dir = tmp_path / "state"
    state_dir.mkdir()
    # A service an earlier `up` recorded: a process leading a session of its own, as they do.
    earlier = subprocess.Popen(["sleep", "600"], start_new_session=True)
    try:
        recorded = {
            "services": {
                "temporal": {
                    "pid": earlier.pid,
                    "address": "127.0.0.1:7233",
                    "log": str(state_dir / "temporal.log"),
                    "started": started_at(earlier.pid),
                }
            }
        }
        (state_dir / "services.json").write_text(json.dumps(recorded))

        up = _warmline(
            "services", "up", "--only", "redis", "--state-dir", str(state_dir), full_disk=True
        )
        assert up.returncode == 1, up.stderr
        assert "File too large" in up.stderr, up.stderr
        assert json.loads((state_dir / "services.json").read_text()) == recorded
        assert not list(state_dir.glob(".services.json*")), "a partial state file is left"

        down = _warmline("services", "down", "--state-dir", str(state_dir))
        assert down.returncode == 0, down.stderr
        assert "stopped: temporal" in down.stderr, down.stderr
        earlier.wait(timeout=30)
        assert not pid_alive(earlier.pid)
    finally:
        if earlier.poll() is None:
            stop_pid(earlier.pid)
            earlier.wait(timeout=30)
