"""A redirect is not followed (docs/connectors-reference.md): the event is dead-lettered at once,
and the reason says where the API sends the request, so a person can point the URL there."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from connectors.sdk.connector import ConnectorContext, Event, PermanentError
from connectors.webhook import WebhookConnector, WebhookSettings
from warmline.events.envelope import DomainEvent
from warmline.events.types import EventType

MOVED_TO = "https://hooks.example.com/v2/warmline"


class _Moved(BaseHTTPRequestHandler):
    """A receiver that moved: 308 Permanent Redirect with an empty body, as most servers send."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(308)
        self.send_header("Location", MOVED_TO)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def moved_url() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Moved)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/hook"
    httpd.shutdown()
    httpd.server_close()


async def test_a_redirect_is_dead_lettered_saying_where_it_leads(moved_url: str) -> None:
    hook = WebhookConnector(
        WebhookSettings(url=moved_url), ConnectorContext(name="h", secrets={"signing_secret": "s"})
    )
    event = Event.of(
        DomainEvent(
            id="e-moved",
            type=EventType.CONVERSATION_CLOSED,
            source="/test",
            subject="c-1",
            time=datetime.now(UTC),
            data={"reason": "resolved", "messages": 3},
        )
    )
    await hook.start()
    try:
        with pytest.raises(PermanentError) as refused:
            await hook.deliver(event)
    finally:
        await hook.stop()
    assert str(refused.value) == (
        "POST io.warmline.conversation.closed.v1 e-moved to the webhook: HTTP 308 redirecting "
        f"to {MOVED_TO} (not followed: use that URL)"
    )
