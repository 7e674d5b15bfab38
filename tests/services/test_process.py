"""A service that dies or never becomes ready fails loudly: command line and log tail included."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

import pytest

from warmline.errors import ServiceError
from warmline.services.process import ServiceProcess, pid_alive


def test_a_service_that_exits_reports_its_command_and_log(tmp_path: Path) -> None:
    command = ["sh", "-c", "echo 'address already in use'; exit 3"]
    process = ServiceProcess.spawn("broken", command, tmp_path / "broken.log")
    with pytest.raises(ServiceError, match="exited during start-up") as raised:
        process.wait_ready(lambda: False, timeout=10)
    assert "sh -c" in str(raised.value)
    assert "address already in use" in str(raised.value)


def test_a_service_that_never_gets_ready_is_stopped_with_its_children(tmp_path: Path) -> None:
    command = ["sh", "-c", "echo starting; sleep 60 & wait"]
    process = ServiceProcess.spawn("stalled", command, tmp_path / "stalled.log")
    with pytest.raises(ServiceError, match="not ready within 1s") as raised:
        process.wait_ready(lambda: False, timeout=1)
    assert "starting" in str(raised.value)
    assert not pid_alive(process.pid)


def _child_of(log: Path) -> int:
    """The pid a test service printed as its first line (its forked child's)."""
    for _ in range(50):
        lines = log.read_text().split()
        if lines:
            return int(lines[0])
        time.sleep(0.05)
    raise AssertionError(f"{log} never named the child")


def test_a_start_interrupted_while_waiting_stops_the_service_with_its_children(
    tmp_path: Path,
) -> None:
    """Ctrl-C (or SIGTERM, which the CLI turns into SystemExit) during `services up`, the demo's
    start or the test session's: the process being started was recorded nowhere, so nothing
    else would ever stop it."""
    log = tmp_path / "slow.log"
    process = ServiceProcess.spawn("slow", ["sh", "-c", "sleep 60 & echo $!; wait"], log)
    child = _child_of(log)

    def interrupted() -> bool:
        raise KeyboardInterrupt

    try:
        with pytest.raises(KeyboardInterrupt):
            process.wait_ready(interrupted, timeout=10)
        assert not pid_alive(process.pid)
        assert not pid_alive(child), "the service's child outlived the interrupted start"
    finally:
        _kill_group(process.pid)


def test_a_service_that_exits_leaves_no_child_behind(tmp_path: Path) -> None:
    """A launcher that dies during start-up (a bad flag, a port taken) may have forked: what it
    left in its session is stopped with it, not left running unrecorded."""
    log = tmp_path / "launcher.log"
    process = ServiceProcess.spawn("launcher", ["sh", "-c", "sleep 60 & echo $!; exit 3"], log)
    child = _child_of(log)
    try:
        with pytest.raises(ServiceError, match="exited during start-up"):
            process.wait_ready(lambda: False, timeout=10)
        assert not pid_alive(child), "the dead launcher's child is still running"
    finally:
        _kill_group(process.pid)


def _kill_group(pgid: int) -> None:
    """What a failed run left behind."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)
