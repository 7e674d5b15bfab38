"""The webhook connector through the test kit: the real broker and Redis, a fake receiver."""

from __future__ import annotations

import json
from contextlib import AbstractAsyncContextManager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from connectors.sdk.connector import ConnectorContext, Event, PermanentError
from connectors.sdk.testkit import FAST_RETRIES, ConnectorHarness, DeadLetter
from connectors.webhook import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    WebhookConnector,
    WebhookSettings,
    verify_signature,
)
from tests.connectors.fakes import (
    WEBHOOK_SECRET,
    FakeReceiver,
    Fault,
    consuming,
    documented_signature,
)
from warmline.errors import ConfigError, WarmlineError
from warmline.events.catalog import EventData, parse_data
from warmline.events.envelope import DomainEvent
from warmline.events.types import EventType

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_TEMPLATE = ROOT / "examples" / "insurer-claims" / "templates" / "claims-webhook.json.j2"
RUNNER = replace(FAST_RETRIES, max_backoff=timedelta(seconds=3))
ESCALATED = {
    "queue": "claims",
    "reason": "grief",
    "priority": 5,
    "rule": "grief",
    "crisis": False,
    "message_id": "m1",
}
CLOSED = {"reason": "resolved", "messages": 3}


def harness(
    url: str, kafka: str, redis: str, *, secret: str = WEBHOOK_SECRET, **settings: Any
) -> AbstractAsyncContextManager[ConnectorHarness]:
    return consuming(
        lambda: ConnectorHarness(
            WebhookConnector,
            {"url": url, "timeout_seconds": 1.0} | settings,
            kafka=kafka,
            redis=redis,
            secrets={"signing_secret": secret},
            runner=RUNNER,
        )
    )


async def dead_letters(kit: ConnectorHarness, count: int) -> list[DeadLetter]:
    """Once the runner dead-lettered `count` events, the dead letters (read without stalling it)."""
    await kit.wait_for(lambda: kit.runner.stats.dead_lettered >= count)
    letters = kit.dead_letters(expect=count)
    assert len(letters) == count
    return letters


async def test_events_arrive_signed_in_cloudevents_form_and_replays_are_refused(
    kafka_bootstrap: str, redis_url: str
) -> None:
    with FakeReceiver() as receiver:
        async with harness(receiver.hook_url, kafka_bootstrap, redis_url) as kit:
            escalated = kit.event(EventType.CONVERSATION_ESCALATED, ESCALATED, subject="conv-w")
            closed = kit.event(EventType.CONVERSATION_CLOSED, CLOSED, subject="conv-w")
            await kit.emit(escalated, escalated, closed)
            await kit.wait_handled(2)

        first, second = receiver.delivered()
        assert (first.event_id, first.event_type) == (escalated.id, escalated.type.value)
        assert (second.event_id, second.event_type) == (closed.id, closed.type.value)
        assert first.content_type == "application/cloudevents+json; charset=utf-8"
        body = first.json()
        assert body == {
            "specversion": "1.0",
            "id": escalated.id,
            "type": "io.warmline.conversation.escalated.v1",
            "source": escalated.source,
            "subject": "conv-w",
            "time": escalated.time.isoformat(),
            "datacontenttype": "application/json",
            "data": parse_data(escalated.type, ESCALATED).model_dump(mode="json"),
        }
        signed_at = int(first.timestamp)
        assert first.signature == documented_signature(WEBHOOK_SECRET, first.timestamp, first.body)

        # A captured request sent again later, or altered, or checked with another secret.
        assert verify_signature(
            WEBHOOK_SECRET, signed_at, first.body, first.signature, now=signed_at
        )
        late = signed_at + 301
        assert not verify_signature(
            WEBHOOK_SECRET, signed_at, first.body, first.signature, now=late
        )
        early = signed_at - 301
        assert not verify_signature(
            WEBHOOK_SECRET, signed_at, first.body, first.signature, now=early
        )
        tampered = first.body.replace(b"grief", b"fraud")
        assert not verify_signature(
            WEBHOOK_SECRET, signed_at, tampered, first.signature, now=late - 301
        )
        assert not verify_signature("other", signed_at, first.body, first.signature, now=signed_at)
        assert not verify_signature(WEBHOOK_SECRET, "yesterday", first.body, first.signature)

        headers = {
            "Content-Type": first.content_type,
            TIMESTAMP_HEADER: first.timestamp,
            SIGNATURE_HEADER: first.signature,
            "X-Warmline-Event-Id": first.event_id,
            "X-Warmline-Event-Type": first.event_type,
        }
        async with httpx.AsyncClient() as client:
            receiver.clock_offset = 301
            replay = await client.post(receiver.hook_url, content=first.body, headers=headers)
            assert replay.status_code == 401
            assert len(receiver.delivered()) == 2
            receiver.clock_offset = 0  # the same request within the tolerance is accepted
            fresh = await client.post(receiver.hook_url, content=first.body, headers=headers)
            assert fresh.status_code == 200


async def test_retries_then_delivers_and_refusals_are_dead_lettered_at_once(
    kafka_bootstrap: str, redis_url: str
) -> None:
    with FakeReceiver() as receiver:
        async with harness(receiver.hook_url, kafka_bootstrap, redis_url) as kit:
            receiver.fail_next(2, Fault("error", status=502))
            await kit.emit(kit.event(EventType.CONVERSATION_CLOSED, CLOSED, subject="c-5xx"))
            await kit.wait_handled(1)
            assert [r.status for r in receiver.seen()] == [502, 502, 200]

            # Delivered, but the answer is lost: delivered again with the same event id.
            receiver.fail_next(1, Fault("timeout", delay=2.0))
            timed_out = kit.event(EventType.CONVERSATION_CLOSED, CLOSED, subject="c-timeout")
            await kit.emit(timed_out)
            await kit.wait_handled(2)
            assert [d.event_id for d in receiver.delivered()[-2:]] == [timed_out.id] * 2

            receiver.fail_next(1, Fault("rate_limit", retry_after="1"))
            await kit.emit(kit.event(EventType.CONVERSATION_CLOSED, CLOSED, subject="c-429"))
            await kit.wait_handled(3)
            limited, retried = receiver.seen()[-2:]
            assert (limited.status, retried.status) == (429, 200)
            assert retried.at - limited.at >= 0.95, "Retry-After: 1 was not honoured"

            retries = kit.runner.stats.retries
            receiver.fail_next(1, Fault("slow", delay=0.3))
            await kit.emit(kit.event(EventType.CONVERSATION_CLOSED, CLOSED, subject="c-slow"))
            await kit.wait_handled(4)
            assert kit.runner.stats.retries == retries
            assert len(receiver.delivered()) == 5

            receiver.fail_next(1, Fault("error", status=410))
            await kit.emit(kit.event(EventType.CONVERSATION_CLOSED, CLOSED, subject="c-gone"))
            [gone] = await dead_letters(kit, 1)
            assert "deliver failed after 1 attempt(s)" in gone.reason
            assert "HTTP 410" in gone.reason

        # A receiver holding another secret refuses every request as unsigned: no retries.
        async with harness(
            receiver.hook_url, kafka_bootstrap, redis_url, secret="rotated-away"
        ) as kit:
            await kit.emit(kit.event(EventType.CONVERSATION_CLOSED, CLOSED, subject="c-401"))
            [refused] = await dead_letters(kit, 1)
            assert "deliver failed after 1 attempt(s)" in refused.reason
            assert 'HTTP 401: {"error": "invalid or stale signature"}' in refused.reason
        assert len(receiver.delivered()) == 5


async def test_a_payload_template_shapes_the_body(kafka_bootstrap: str, redis_url: str) -> None:
    with FakeReceiver() as receiver:
        async with harness(
            receiver.hook_url, kafka_bootstrap, redis_url, payload_template=str(EXAMPLE_TEMPLATE)
        ) as kit:
            event = kit.event(EventType.CONVERSATION_ESCALATED, ESCALATED, subject="conv-t")
            await kit.emit(event)
            await kit.wait_handled(1)
        [delivery] = receiver.delivered()
        assert delivery.content_type == "application/json"
        assert delivery.json() == {
            "source": "warmline",
            "event_type": "io.warmline.conversation.escalated.v1",
            "conversation_id": "conv-t",
            "claim_id": None,
            "queue": "claims",
            "reason": "grief",
            "occurred_at": event.time.isoformat(),
        }


def escalation(**data: Any) -> Event[EventData]:
    return Event.of(
        DomainEvent(
            id="e-1",
            type=EventType.CONVERSATION_ESCALATED,
            source="/test",
            subject="conv-x",
            time=datetime.now(UTC),
            data=ESCALATED | data,
        )
    )


def test_templates_are_checked_and_json_bodies_must_parse(tmp_path: Path) -> None:
    context = ConnectorContext(name="hook", secrets={"signing_secret": "s"}, base_dir=str(tmp_path))

    def connector(template: str, source: str) -> WebhookConnector:
        (tmp_path / template).write_text(source)
        settings = WebhookSettings(url="https://x.example/h", payload_template=template)
        return WebhookConnector(settings, context)

    with pytest.raises(
        ConfigError, match=r"broken\.json\.j2:2:1: template broken\.json\.j2: line 2"
    ):
        connector("broken.json.j2", '{"a": 1}\n{% if %}\n')
    missing = WebhookSettings(url="https://x.example/h", payload_template="absent.j2")
    with pytest.raises(ConfigError, match=r"absent\.j2:1:1: cannot read payload template"):
        WebhookConnector(missing, context)

    loose = connector("loose.json.j2", '{"queue": {{ data.queue }}}')
    with pytest.raises(PermanentError, match=r"loose\.json\.j2 rendered invalid JSON"):
        loose.body(escalation())
    strict = connector("strict.json.j2", '{"claim": {{ data.claim_id | tojson }}}')
    with pytest.raises(PermanentError, match="has no attribute 'claim_id'"):
        strict.body(escalation())
    body, content_type = strict.body(escalation(claim_id="CL-9"))
    assert (json.loads(body), content_type) == ({"claim": "CL-9"}, "application/json")

    with pytest.raises(ValidationError, match="http:// or https://"):
        WebhookSettings(url="ftp://x.example/h")
    with pytest.raises(WarmlineError, match="needs the secret signing_secret"):
        WebhookConnector(
            WebhookSettings(url="https://x.example/h"), ConnectorContext(name="h", secrets={})
        )
