"""`warmline services up/down` as a user runs them: a real subprocess, real clients afterwards."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import redis
from kafka import KafkaAdminClient

from tests.worker_process import WARMLINE
from warmline.events.types import WARMLINE_TOPICS
from warmline.services import ServiceName, answers_clients, start_detached, stop_detached
from warmline.services.ports import is_listening
from warmline.services.process import pid_alive


def warmline(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(WARMLINE), *args], cwd=cwd, capture_output=True, text=True, timeout=240, check=False
    )


def recorded_pids(state_dir: Path) -> list[int]:
    state = json.loads((state_dir / "services.json").read_text())
    return [entry["pid"] for entry in state["services"].values()]


def test_up_json_then_real_clients_then_down(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    up = warmline("services", "up", "--json", "--state-dir", str(state_dir), cwd=tmp_path)
    assert up.returncode == 0, up.stderr
    endpoints = json.loads(up.stdout)
    assert set(endpoints) == {"temporal", "kafka", "redis"}
    pids = recorded_pids(state_dir)
    try:
        admin = KafkaAdminClient(bootstrap_servers=endpoints["kafka"])
        assert admin.describe_cluster()["brokers"]
        assert set(WARMLINE_TOPICS) <= set(admin.list_topics()), "the bridge need not wait"
        admin.close()
        assert redis.Redis.from_url(endpoints["redis"]).ping()
        assert answers_clients(endpoints["temporal"]), "a real Temporal client connects"

        again = warmline("services", "up", "--json", "--state-dir", str(state_dir), cwd=tmp_path)
        assert again.returncode == 0, again.stderr
        assert json.loads(again.stdout) == endpoints, "a second `up` reuses running services"
    finally:
        down = warmline("services", "down", "--state-dir", str(state_dir), cwd=tmp_path)
    assert down.returncode == 0, down.stderr
    assert "kafka" in down.stderr, down.stderr
    survivors = [pid for pid in pids if pid_alive(pid)]
    assert not survivors, f"still running after down: {survivors}\n{down.stderr}"


def test_only_starts_the_named_services(tmp_path: Path) -> None:
    env_dir = tmp_path / "state"
    up = subprocess.run(
        [str(WARMLINE), "services", "up", "--only", "redis", "--json"],
        cwd=tmp_path,
        env={**os.environ, "WARMLINE_STATE_DIR": str(env_dir)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    try:
        assert up.returncode == 0, up.stderr
        assert set(json.loads(up.stdout)) == {"redis"}
    finally:
        warmline("services", "down", "--state-dir", str(env_dir), cwd=tmp_path)


def test_unknown_service_is_a_usage_error(tmp_path: Path) -> None:
    result = warmline("services", "up", "--only", "redis,bogus", cwd=tmp_path)
    assert result.returncode == 2
    said = " ".join(result.stderr.replace("│", " ").split())
    assert "unknown service(s) bogus; choose from temporal, kafka, redis" in said
    assert "Traceback" not in result.stderr + result.stdout


def test_an_empty_only_is_refused_rather_than_starting_everything(tmp_path: Path) -> None:
    result = warmline("services", "up", "--only", " , ", cwd=tmp_path)
    assert result.returncode == 2
    assert "leave --only out for all three" in " ".join(result.stderr.replace("│", " ").split())
    assert not (tmp_path / ".warmline").exists()


def test_a_state_dir_that_cannot_be_made_is_one_line(tmp_path: Path) -> None:
    result = warmline(
        "services", "up", "--only", "redis", "--state-dir", "/proc/warmline", cwd=tmp_path
    )
    assert result.returncode == 1
    assert result.stderr.startswith("error: cannot use /proc/warmline for the services' state")
    assert "Traceback" not in result.stderr + result.stdout


def test_a_state_dir_that_is_a_file_is_refused_before_anything_starts(tmp_path: Path) -> None:
    taken = tmp_path / "services.json"
    taken.write_text("{}", encoding="utf-8")
    for command in ("up", "down"):
        result = warmline("services", command, "--state-dir", str(taken), cwd=tmp_path)
        assert result.returncode == 2, result.stderr
        assert "Invalid value for '--state-dir'" in result.stderr
        assert "is a file" in result.stderr
        assert "Traceback" not in result.stderr + result.stdout
    assert taken.read_text(encoding="utf-8") == "{}"


def test_a_pid_reused_by_another_process_is_neither_the_service_nor_stopped(
    tmp_path: Path,
) -> None:
    """After a crash or a reboot the recorded pid may be someone else's: `down` must not kill it
    and `up` must not report a dead address as running."""
    other = subprocess.Popen(["sleep", "300"], start_new_session=True)
    try:
        state_dir = tmp_path / "state"
        state_dir.mkdir()
        entry = {"pid": other.pid, "address": "redis://127.0.0.1:1/0", "log": "x", "started": 1}
        (state_dir / "services.json").write_text(json.dumps({"services": {"redis": entry}}))
        down = warmline("services", "down", "--state-dir", str(state_dir), cwd=tmp_path)
        assert down.returncode == 0, down.stderr
        assert other.poll() is None, "an unrelated process was killed"
        assert "nothing was running" in down.stderr, down.stderr
        (state_dir / "services.json").write_text(json.dumps({"services": {"redis": entry}}))
        up = warmline(
            "services",
            "up",
            "--only",
            "redis",
            "--embedded",
            "--json",
            "--state-dir",
            str(state_dir),
            cwd=tmp_path,
        )
        try:
            assert up.returncode == 0, up.stderr
            address = json.loads(up.stdout)["redis"]
            assert address != entry["address"]
            assert redis.Redis.from_url(address).ping()
        finally:
            warmline("services", "down", "--state-dir", str(state_dir), cwd=tmp_path)
        assert other.poll() is None
    finally:
        other.kill()
        other.wait()


def test_two_ups_at_once_start_one_set_and_down_stops_it(tmp_path: Path) -> None:
    """Two terminals (or `make -j`) running `up` on one state directory: before, each started
    its own Redis and the last to write the state file hid the other's from `down`, which left
    it running for good."""
    state_dir = tmp_path / "state"
    both = threading.Barrier(2)

    def up() -> str:
        both.wait()
        endpoints = start_detached(
            frozenset({ServiceName.REDIS}), embedded=False, state_dir=state_dir
        )
        assert endpoints.redis is not None
        return endpoints.redis

    with ThreadPoolExecutor(2) as pool:
        addresses = list(pool.map(lambda _: up(), range(2)))
    ports = {int(address.rsplit(":", 1)[1].split("/")[0]) for address in addresses}
    try:
        assert len(set(addresses)) == 1, f"two Redis servers for one state directory: {addresses}"
    finally:
        stopped = stop_detached(state_dir=state_dir)
        left = [port for port in ports if is_listening(port)]
        _kill_run_from(state_dir)
    assert stopped == ["redis"]
    assert not left, f"a Redis on port {left} outlived `services down`"


def _kill_run_from(directory: Path) -> None:
    """Kill what a failed run left behind: a Redis runs in its data directory, under `directory`."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if (entry / "cwd").resolve().is_relative_to(directory.resolve()):
                    os.kill(int(entry.name), signal.SIGKILL)
