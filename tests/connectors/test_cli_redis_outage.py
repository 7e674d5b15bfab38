"""`warmline connector run` as a process while its Redis stops answering: it waits the outage
out, and SIGTERM still stops it. The documented example connector against a local chat webhook;
real broker; a Redis of the test's own, frozen with SIGSTOP (connections accepted, nothing
answered) and continued with SIGCONT."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from redis import Redis

from tests.connectors.test_cli import ChatServer, configure, event
from tests.outages import RestartableRedis
from warmline.events.publisher import EventPublisher
from warmline.events.types import EventType


@pytest.fixture
def chat() -> Iterator[ChatServer]:
    server = ChatServer()
    yield server
    server.close()


def wait_for(condition: Callable[[], bool], process: subprocess.Popen[str], within: float) -> None:
    """Until `condition()` holds or the process ended (the caller tells which)."""
    deadline = time.monotonic() + within
    while not condition() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)


def finished(redis: str, event_id: str) -> bool:
    """Whether the connector marked `event_id` done and cleared its tries."""
    client = Redis.from_url(redis)
    try:
        done = client.exists(f"warmline:dedupe:connector:team-chat:{event_id}")
        tries = client.exists(f"warmline:tries:connector:team-chat:{event_id}")
    finally:
        client.close()
    return bool(done) and not tries


def test_sigterm_stops_the_connector_while_its_redis_does_not_answer(
    tmp_path: Path, chat: ChatServer, kafka_bootstrap: str, restartable_redis: RestartableRedis
) -> None:
    config = configure(tmp_path, f"    settings:\n      webhook_url: {chat.url}\n")
    topic = f"cli-outage-{uuid.uuid4().hex[:8]}"
    publisher = EventPublisher.connect(kafka_bootstrap, topic=topic)
    data: dict[str, object] = {"message_id": "m1", "risk_flags": ["x"]}
    first = event(EventType.CRISIS_DETECTED, "conv-1", data)
    publisher.publish([first])
    log = tmp_path / "connector.log"
    command = [sys.executable, "-m", "warmline.cli", "connector", "run", "team-chat"]
    command += ["--config", str(config), "--kafka", kafka_bootstrap]
    command += ["--redis", restartable_redis.url, "--topic", topic]
    redis_pid = restartable_redis.service.process.pid
    with log.open("w") as stderr:
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr, text=True)
    try:
        # The first event is done: marked, its tries (a 503, then a 200) cleared.
        wait_for(lambda: finished(restartable_redis.url, first.id), process, within=60)
        assert chat.texts, log.read_text()
        os.kill(redis_pid, signal.SIGSTOP)
        try:
            publisher.publish([event(EventType.CRISIS_DETECTED, "conv-2", data)])
            wait_for(lambda: "Redis is out for" in log.read_text(), process, within=60)
            assert process.poll() is None, f"the connector ended:\n{log.read_text()}"
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)
        finally:
            os.kill(redis_pid, signal.SIGCONT)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        publisher.close()
    said = log.read_text()
    assert process.returncode == 0, said
    assert "stopping while Redis is out; the batch is left uncommitted" in said
    assert "connector team-chat stopped" in said
    assert chat.texts == [":rotating_light: crisis in conv-1 (x)"], "conv-2 went out unchecked"
