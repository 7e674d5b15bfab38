"""The guide's example connector waits out the chat's rate limit rather than dead-letter the alert.

Slack-style incoming webhooks answer a burst with 429 and `Retry-After` (seconds). The example
raised `RetryableError` without it, so the runner retried on its own short backoff, every try
inside the limit counted toward `max_attempts`, and a crisis alert went to the dead letter within
a second or two. Real broker and Redis; the chat is a local server that limits as Slack does.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from connectors.examples.team_chat import TeamChatAlerts
from connectors.sdk.testkit import ConnectorHarness
from tests.connectors.fakes import consuming
from warmline.events.types import EventType

LIMIT_SECONDS = 2.0


class RateLimitedChat:
    """An incoming webhook that takes `{"text": ...}` JSON and, for `LIMIT_SECONDS` after the
    first post, answers 429 `rate_limited` with `Retry-After: <seconds left>`."""

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.answers: list[tuple[float, int]] = []
        self.lock = threading.Lock()
        self._limited_until: float | None = None
        chat = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if self.headers.get("Content-Type") != "application/json":
                    self.send_error(415, "JSON only")
                    return
                text = json.loads(body).get("text")
                if not isinstance(text, str) or not text:
                    self.send_error(400, "missing text")
                    return
                now = time.monotonic()
                with chat.lock:
                    if chat._limited_until is None:
                        chat._limited_until = now + LIMIT_SECONDS
                    left = chat._limited_until - now
                    chat.answers.append((now, 429 if left > 0 else 200))
                    if left <= 0:
                        chat.texts.append(text)
                if left > 0:
                    self.send_response(429)
                    self.send_header("Retry-After", str(math.ceil(left)))
                    self.send_header("Content-Type", "text/plain")
                    self.end_headers()
                    self.wfile.write(b"rate_limited")
                    return
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: object) -> None:
                return

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def chat() -> Iterator[RateLimitedChat]:
    server = RateLimitedChat()
    yield server
    server.close()


async def test_a_rate_limited_alert_waits_for_the_chats_retry_after(
    chat: RateLimitedChat, kafka_bootstrap: str, redis_url: str
) -> None:
    async with consuming(
        lambda: ConnectorHarness(
            TeamChatAlerts, {"webhook_url": chat.url}, kafka=kafka_bootstrap, redis=redis_url
        )
    ) as kit:
        crisis = kit.event(
            EventType.CRISIS_DETECTED,
            {"message_id": "m1", "risk_flags": ["self_harm"]},
            subject="c-burst",
        )
        await kit.emit(crisis)
        stats = kit.runner.stats
        await kit.wait_for(lambda: stats.handled + stats.dead_lettered >= 1, within=30)
        assert stats.dead_lettered == 0, kit.dead_letters(expect=1)[0].reason
    assert chat.texts == [":rotating_light: crisis in c-burst (self_harm)"]
    (first, _), *_, (delivered, status) = chat.answers
    assert status == 200
    assert delivered - first >= LIMIT_SECONDS - 0.05, "posted again inside the rate limit"
