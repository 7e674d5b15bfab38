"""What a webhook payload template puts on the wire when the text it prints is hostile: a template
escapes every `{{ }}` output for the body's content type."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from markupsafe import escape

from connectors import http
from connectors.sdk.connector import ConnectorContext, Event, PermanentError
from connectors.sdk.testkit import FAST_RETRIES, ConnectorHarness
from connectors.webhook import WebhookConnector, WebhookSettings
from tests.connectors.fakes import WEBHOOK_SECRET, FakeReceiver, consuming
from warmline.events.catalog import EventData
from warmline.events.envelope import DomainEvent
from warmline.events.types import EventType

QUOTING = 'Customer said: refund me", "approved": true, "x": "'
"""Free text that, printed unescaped inside a JSON string, closes it and adds a key."""
HOSTILE = QUOTING + '\\ and a \\" too,\na new line, a tab\t, a bell \x07 and <b>ünïcödé</b>'
CLAIMS_TEMPLATE = (
    '{"conversation": "{{ event.subject }}", "approved": false, '
    '"reason": "{{ data.reason }}", "priority": {{ data.priority }}, '
    '"queue": {{ data.queue | tojson }}}\n'
)
"""A template that quotes its strings by hand instead of using `tojson`."""
COMPLETED = {"specialist": "sam", "queue": "claims", "outcome": "resolved"}


def completed(summary: str) -> Event[EventData]:
    return Event.of(
        DomainEvent(
            id="e-1",
            type=EventType.HANDOFF_COMPLETED,
            source="/test",
            subject="conv-x",
            time=datetime.now(UTC),
            data=COMPLETED | {"summary": summary},
        )
    )


def webhook(tmp_path: Path, source: str, content_type: str) -> WebhookConnector:
    (tmp_path / "payload.j2").write_text(source, encoding="utf-8")
    settings = WebhookSettings(
        url="https://x.example/h", payload_template="payload.j2", content_type=content_type
    )
    context = ConnectorContext(name="hook", secrets={"signing_secret": "s"}, base_dir=str(tmp_path))
    return WebhookConnector(settings, context)


def test_text_printed_in_a_json_string_stays_that_string(tmp_path: Path) -> None:
    template = '{"summary": "{{ data.summary }}", "approved": false, "n": {{ 2 + 3 }}}'
    body, _ = webhook(tmp_path, template, "application/json").body(completed(HOSTILE))
    assert json.loads(body) == {"summary": HOSTILE, "approved": False, "n": 5}


def test_html_escaped_text_in_a_json_string_is_escaped_as_json_too(tmp_path: Path) -> None:
    """`| e` HTML-escapes (a HubSpot note's body is HTML) and marks the text safe, which skipped
    the JSON escaping: a line break made the body invalid JSON, a backslash changed the text."""
    template = '{"summary": "{{ data.summary | e }}", "again": "{{ data.summary | escape }}"}'
    body, _ = webhook(tmp_path, template, "application/json").body(completed(HOSTILE))
    html = str(escape(HOSTILE))
    assert json.loads(body) == {"summary": html, "again": html}
    assert "&lt;b&gt;" in html


def test_tojson_output_is_not_escaped_twice(tmp_path: Path) -> None:
    template = '{"summary": {{ data.summary | tojson }}, "data": {{ data | tojson }}}'
    connector = webhook(tmp_path, template, "application/vnd.claims+json; charset=utf-8")
    body, content_type = connector.body(completed(HOSTILE))
    assert json.loads(body)["summary"] == HOSTILE
    assert json.loads(body)["data"]["summary"] == HOSTILE
    assert content_type == "application/vnd.claims+json; charset=utf-8"


def test_html_bodies_are_html_escaped_and_text_bodies_left_alone(tmp_path: Path) -> None:
    html, _ = webhook(tmp_path, "<p>{{ data.summary }}</p>", "text/html").body(
        completed("<script>alert(1)</script> & co")
    )
    assert html == b"<p>&lt;script&gt;alert(1)&lt;/script&gt; &amp; co</p>"
    text, _ = webhook(tmp_path, "{{ data.summary }}", "text/plain").body(completed(QUOTING))
    assert text == QUOTING.encode()


@pytest.mark.parametrize(
    ("source", "raised"),
    [
        ('{"s": "{{ "{claim}".format() }}"}', "KeyError: 'claim'"),
        ('{"s": "{{ "{0}".format() }}"}', "IndexError: "),
        ("{% macro m() %}{{ m() }}{% endmacro %}{{ m() }}", "RecursionError: "),
    ],
    ids=["key-error", "index-error", "recursion"],
)
def test_a_template_that_cannot_render_is_a_permanent_error_naming_it(
    tmp_path: Path, source: str, raised: str
) -> None:
    """Whatever an admin's template raises is its bug, not the receiver's: retrying cannot help.
    A `KeyError` or `IndexError` from `format`, or a runaway macro, was retried as if the
    receiver were down, and dead-lettered without naming the template."""
    connector = webhook(tmp_path, source, "application/json")
    with pytest.raises(PermanentError, match=f"template payload.j2 failed: {raised}"):
        connector.body(completed("s"))


def test_a_template_that_runs_too_long_is_a_permanent_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A payload template renders inside the connector's event loop: one that loops on
    (`range` nested, printing nothing) held every connector of the process. It is now stopped at
    the render timeout (here 0, spent at the first loop step) and dead-lettered, naming it."""
    monkeypatch.setattr(http, "RENDER_TIMEOUT_SECONDS", 0.0, raising=False)
    source = '{% for a in [1, 2] %}{% for b in [1, 2] %}{% endfor %}{% endfor %}{"ok": true}'
    connector = webhook(tmp_path, source, "application/json")
    with pytest.raises(PermanentError, match=r"template payload\.j2 failed: RenderBudgetError"):
        connector.body(completed("s"))


async def test_a_receiver_reads_the_payload_the_template_meant(
    tmp_path: Path, kafka_bootstrap: str, redis_url: str
) -> None:
    (tmp_path / "payload.json.j2").write_text(CLAIMS_TEMPLATE, encoding="utf-8")
    escalated = {
        "queue": "claims",
        "reason": "grief",
        "priority": 5,
        "rule": "grief",
        "crisis": False,
        "message_id": "m1",
    }
    with FakeReceiver() as receiver:
        async with consuming(
            lambda: ConnectorHarness(
                WebhookConnector,
                {"url": receiver.hook_url, "payload_template": str(tmp_path / "payload.json.j2")},
                kafka=kafka_bootstrap,
                redis=redis_url,
                secrets={"signing_secret": WEBHOOK_SECRET},
                runner=replace(FAST_RETRIES, max_backoff=timedelta(seconds=1)),
            )
        ) as kit:
            event = kit.event(
                EventType.CONVERSATION_ESCALATED, escalated | {"reason": QUOTING}, subject="c-1"
            )
            await kit.emit(event)
            await kit.wait_handled(1)
    [delivery] = receiver.delivered()
    assert delivery.json() == {
        "conversation": "c-1",
        "approved": False,
        "reason": QUOTING,
        "priority": 5,
        "queue": "claims",
    }
