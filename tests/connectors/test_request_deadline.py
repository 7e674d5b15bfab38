"""`timeout_seconds` bounds a whole request, as documented ("per request"): an API (or a proxy in
front of it) that sends its answer a byte at a time never trips httpx's per-read timeout, and
held the event, its batch and the connector's shutdown for as long as it kept dripping."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from connectors.hubspot import HubSpotConnector, HubSpotProfileSource, HubSpotSettings
from connectors.sdk.connector import ConnectorContext, Event, RetryableError
from connectors.webhook import WebhookConnector, WebhookSettings
from warmline.events.catalog import EventData
from warmline.events.envelope import DomainEvent
from warmline.events.types import EventType

DRIP_SECONDS = 0.2
"""Between two bytes of the answer: well inside the 1 s per-read timeout."""
GIVE_UP_AFTER = 30.0
"""How long the test waits for the connector to give up (it should after about 1 s)."""
ENDED = threading.Event()
"""Set when a test ends: the server stops dripping, so a client that did not give up ends too."""


class _Dripping(BaseHTTPRequestHandler):
    """Answers 200 with a 10 000-byte body, one byte every `DRIP_SECONDS`."""

    protocol_version = "HTTP/1.1"

    def _drip(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "10000")
        self.end_headers()
        for _ in range(10_000):
            if ENDED.is_set():
                return
            try:
                self.wfile.write(b" ")
                self.wfile.flush()
            except OSError:
                return
            time.sleep(DRIP_SECONDS)

    # The stdlib dispatches on these names.
    def do_GET(self) -> None:
        self._drip()

    def do_POST(self) -> None:
        self._drip()

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def dripping_url() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Dripping)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    ENDED.clear()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    ENDED.set()
    httpd.shutdown()
    httpd.server_close()


def closed_event() -> Event[EventData]:
    return Event.of(
        DomainEvent(
            id="e-drip",
            type=EventType.CONVERSATION_CLOSED,
            source="/test",
            subject="c-drip",
            time=datetime.now(UTC),
            data={"reason": "resolved", "messages": 3},
        )
    )


async def test_a_webhook_answer_that_drips_in_times_out_and_is_retried(dripping_url: str) -> None:
    settings = WebhookSettings(url=f"{dripping_url}/hook", timeout_seconds=1)
    hook = WebhookConnector(settings, ConnectorContext(name="h", secrets={"signing_secret": "s"}))
    await hook.start()
    try:
        with pytest.raises(RetryableError, match="timed out after 1s"):
            await asyncio.wait_for(hook.deliver(closed_event()), GIVE_UP_AFTER)
    finally:
        await hook.stop()


async def test_a_hubspot_read_that_drips_in_times_out_and_is_retried(dripping_url: str) -> None:
    settings = HubSpotSettings(base_url=dripping_url, timeout_seconds=1)
    crm = HubSpotConnector(settings, ConnectorContext(name="c", secrets={"access_token": "t"}))
    await crm.start()
    try:
        with pytest.raises(RetryableError, match="timed out after 1s"):
            await asyncio.wait_for(crm.find_ticket("c-drip"), GIVE_UP_AFTER)
    finally:
        await crm.stop()


async def test_the_blocking_profile_lookup_is_bounded_too(dripping_url: str) -> None:
    """The handoff's customer lookup: "a short timeout, because a specialist waits"."""
    profiles = HubSpotProfileSource("t", base_url=dripping_url, timeout_seconds=1)
    try:
        with pytest.raises(RetryableError, match="timed out after 1s"):
            await asyncio.wait_for(
                asyncio.to_thread(profiles.lookup, "tenant", "c-drip", None, "standard"),
                GIVE_UP_AFTER,
            )
    finally:
        profiles.close()
