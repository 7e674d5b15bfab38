"""What is left when things go wrong: a killed parent, a state directory that cannot be used, a
recorded service that no longer answers."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.worker_process import WARMLINE
from warmline.services.ports import free_port, is_listening
from warmline.services.process import pid_alive, started_at

_START_AND_WAIT = """
import sys, time
from pathlib import Path
from warmline.services import LocalServices, ServiceName

local = LocalServices(only={ServiceName.REDIS}, embedded=True, workdir=Path(sys.argv[1]))
local.start()
print(local.running[ServiceName.REDIS].process.pid, flush=True)
time.sleep(300)
"""


def test_a_killed_parent_takes_its_services_with_it(tmp_path: Path) -> None:
    """Each service runs in a session of its own, out of reach of a CI job's cancel or
    `timeout`, which kill the parent's group: before, a SIGKILLed test session or demo left its
    Redis, Kafka and Temporal running for good, with nothing recording them."""
    parent = subprocess.Popen(
        [sys.executable, "-c", _START_AND_WAIT, str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
    )
    service = 0
    try:
        assert parent.stdout is not None
        service = int(parent.stdout.readline())
        assert pid_alive(service)
        parent.kill()
        parent.wait()
        deadline = time.monotonic() + 30
        while pid_alive(service) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not pid_alive(service), "the service outlived its SIGKILLed parent"
    finally:
        parent.kill()
        parent.wait()
        if service:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(service, signal.SIGKILL)


def test_down_on_a_state_dir_it_cannot_use_is_one_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(WARMLINE), "services", "down", "--state-dir", "/proc/sys"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1, result.stderr
    assert result.stderr.startswith("error: cannot use /proc/sys/services.lock"), result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_a_recorded_broker_that_does_not_answer_is_one_line(tmp_path: Path) -> None:
    """A broker `up` recorded is still running but answers nothing (hung, out of heap): before, a
    second `up` printed kafka-python's traceback after half a minute of trying."""
    hung = subprocess.Popen(["sleep", "300"], start_new_session=True)
    try:
        state_dir = tmp_path / "state"
        state_dir.mkdir()
        entry = {
            "pid": hung.pid,
            "address": f"127.0.0.1:{free_port()}",
            "log": str(tmp_path / "kafka.log"),
            "started": started_at(hung.pid),
        }
        (state_dir / "services.json").write_text(json.dumps({"services": {"kafka": entry}}))
        up = subprocess.run(
            [str(WARMLINE), "services", "up", "--only", "kafka", "--state-dir", str(state_dir)],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert up.returncode == 1, up.stderr
        assert "Traceback" not in up.stderr + up.stdout
        assert up.stderr.startswith(
            f"error: the running Kafka (pid {hung.pid}) cannot create warmline's topics: "
            f"cannot reach Kafka at {entry['address']}: Connection refused"
        ), up.stderr
        assert len(up.stderr.splitlines()) == 1, up.stderr
        down = subprocess.run(
            [str(WARMLINE), "services", "down", "--state-dir", str(state_dir)],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert down.returncode == 0, down.stderr
        assert "stopped: kafka" in down.stderr
        assert hung.wait(timeout=30) is not None
    finally:
        hung.kill()
        hung.wait()


def test_a_failed_up_stops_what_it_had_started(tmp_path: Path) -> None:
    """`up` started Redis, then Temporal could not open its database: before, it exited 1 and
    left Redis running, recorded only in a state file the failing script never looked at."""
    state_dir = tmp_path / "state"
    (state_dir / "temporal.db").mkdir(parents=True)  # no SQLite database can be opened there
    try:
        up = subprocess.run(
            [
                *(str(WARMLINE), "services", "up", "--only", "redis,temporal", "--embedded"),
                *("--state-dir", str(state_dir)),
            ],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
        )
        assert up.returncode == 1, up.stderr
        assert up.stderr.startswith("error: temporal exited during start-up"), up.stderr
        assert "Traceback" not in up.stderr + up.stdout
        redis_log = (state_dir / "redis.log").read_text()
        port = int(redis_log.split("Running mode=standalone, port=", 1)[1].split(".", 1)[0])
        assert not is_listening(port), "a failed `up` left Redis running"
        assert json.loads((state_dir / "services.json").read_text()) == {"services": {}}
    finally:
        subprocess.run(
            [str(WARMLINE), "services", "down", "--state-dir", str(state_dir)],
            capture_output=True,
            timeout=60,
            check=False,
        )
