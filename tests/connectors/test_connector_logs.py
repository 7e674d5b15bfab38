"""What `warmline connector run` writes to its log: no credential a URL carries."""

from __future__ import annotations

import signal
import time
import uuid
from pathlib import Path

from tests.connectors.test_cli import ChatServer, configure, event, run
from warmline.events.publisher import EventPublisher
from warmline.events.types import EventType

TOKEN = "xoxb-s3cret-in-the-query"


def test_a_token_in_a_url_stays_out_of_the_log(
    tmp_path: Path, kafka_bootstrap: str, redis_url: str
) -> None:
    chat = ChatServer()
    try:
        # Chat services put the token in the URL; the HTTP client logged every request's URL.
        config = configure(tmp_path, f"    settings:\n      webhook_url: {chat.url}?t={TOKEN}\n")
        topic = f"logs-{uuid.uuid4().hex[:8]}"
        crisis = event(EventType.CRISIS_DETECTED, "c-1", {"message_id": "m1", "risk_flags": ["x"]})
        publisher = EventPublisher.connect(kafka_bootstrap, topic=topic)
        publisher.publish([crisis])
        publisher.close()
        process = run(config, "team-chat", kafka_bootstrap, redis_url, topic)
        try:
            deadline = time.monotonic() + 60
            while not chat.texts and time.monotonic() < deadline and process.poll() is None:
                time.sleep(0.1)
        finally:
            process.send_signal(signal.SIGTERM)
            _, stderr = process.communicate(timeout=30)
    finally:
        chat.close()
    assert chat.texts == [":rotating_light: crisis in c-1 (x)"], stderr
    assert "connector team-chat stopped" in stderr, "the log was read"
    assert TOKEN not in stderr
