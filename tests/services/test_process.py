"""A service that dies or never becomes ready fails loudly: command line and log tail included."""

from __future__ import annotations

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
