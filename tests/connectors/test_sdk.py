"""The connector SDK's runner against a real broker and Redis, through the test kit."""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from pathlib import Path

import pytest
from pydantic import BaseModel

from connectors.sdk import Connector, Event, PermanentError, RetryableError, handles
from connectors.sdk.registry import UnknownConnectorError, resolve
from connectors.sdk.testkit import ConnectorHarness
from warmline.events.catalog import HandoffAccepted, HandoffCompleted, MessageTriaged
from warmline.events.envelope import to_record
from warmline.events.types import EventType

ACCEPTED = {"specialist": "sam", "queue": "care", "offer_id": "o1", "crisis": False, "waited_ms": 5}
COMPLETED = {"specialist": "sam", "queue": "care", "outcome": "resolved"}


class RecorderSettings(BaseModel):
    fail_first: int = 0
    """Raise a retryable error this many times per event before succeeding."""
    retry_after: float | None = 0.01
    """The Retry-After those errors give (one does not count toward `max_attempts`)."""
    refuse: list[str] = []
    """Subjects the handler refuses permanently."""


class Recorder(Connector):
    type_name = "recorder"
    Settings = RecorderSettings

    def __init__(self, settings: BaseModel, context: object) -> None:
        super().__init__(settings, context)  # type: ignore[arg-type]
        self.seen: list[tuple[str, str]] = []
        self.attempts: dict[str, int] = defaultdict(int)
        self.batches: list[int] = []

    @handles(EventType.HANDOFF_ACCEPTED, EventType.HANDOFF_COMPLETED)
    async def on_handoff(self, event: Event[HandoffAccepted | HandoffCompleted]) -> None:
        settings = self.settings
        assert isinstance(settings, RecorderSettings)
        if event.subject in settings.refuse:
            raise PermanentError(f"the CRM refused {event.subject}: 422 invalid")
        self.attempts[event.id] += 1
        if self.attempts[event.id] <= settings.fail_first:
            raise RetryableError("503 from the CRM", retry_after=settings.retry_after)
        self.seen.append((event.subject, event.data.specialist))

    @handles(EventType.MESSAGE_TRIAGED, batch=True)
    async def on_triaged(self, events: list[Event[MessageTriaged]]) -> None:
        self.batches.append(len(events))


def triaged(message_id: str) -> dict[str, object]:
    return {
        "message_id": message_id,
        "emotions": [{"label": "neutral", "score": 0.9}],
        "distress": 0.1,
        "confidence": 0.8,
        "rationale": "calm",
        "model_version": "lexicon:1",
    }


async def test_handlers_get_typed_events_once_in_order_per_subject(
    kafka_bootstrap: str, redis_url: str
) -> None:
    async with ConnectorHarness(Recorder, {}, kafka=kafka_bootstrap, redis=redis_url) as kit:
        first = kit.event(EventType.HANDOFF_ACCEPTED, ACCEPTED, subject="c1")
        done = kit.event(EventType.HANDOFF_COMPLETED, COMPLETED, subject="c1")
        ali = {**ACCEPTED, "specialist": "ali"}
        other = kit.event(EventType.HANDOFF_ACCEPTED, ali, subject="c2")
        await kit.emit(first, first, other, done, done)
        await kit.wait_handled(3)
        recorder = kit.connector
        assert isinstance(recorder, Recorder)
        assert sorted(recorder.seen) == [("c1", "sam"), ("c1", "sam"), ("c2", "ali")]
        assert [s for s in recorder.seen if s[0] == "c1"] == [("c1", "sam"), ("c1", "sam")]
        assert kit.runner.stats.duplicates == 2
        assert kit.dead_letters() == []


async def test_retryable_failures_are_retried_then_dead_lettered(
    kafka_bootstrap: str, redis_url: str
) -> None:
    settings = {"fail_first": 2, "refuse": ["bad"]}
    async with ConnectorHarness(Recorder, settings, kafka=kafka_bootstrap, redis=redis_url) as kit:
        await kit.emit(
            kit.event(EventType.HANDOFF_ACCEPTED, ACCEPTED, subject="flaky"),
            kit.event(EventType.HANDOFF_ACCEPTED, ACCEPTED, subject="bad"),
        )
        await kit.wait_handled(1)
        letters = kit.dead_letters(expect=1)
        assert kit.runner.stats.retries >= 2
    assert [letter.reason for letter in letters] == [
        "on_handoff failed after 1 attempt(s): the CRM refused bad: 422 invalid"
    ]
    assert letters[0].headers["dlq.attempts"] == b"1"


async def test_a_handler_that_keeps_failing_is_dead_lettered_after_max_attempts(
    kafka_bootstrap: str, redis_url: str
) -> None:
    async with ConnectorHarness(
        Recorder, {"fail_first": 99, "retry_after": None}, kafka=kafka_bootstrap, redis=redis_url
    ) as kit:
        await kit.emit(kit.event(EventType.HANDOFF_ACCEPTED, ACCEPTED, subject="down"))
        await kit.wait_for(lambda: kit.runner.stats.dead_lettered == 1)
        letters = kit.dead_letters(expect=1)
    assert letters[0].reason == "on_handoff failed after 5 attempt(s): 503 from the CRM"
    assert letters[0].headers["dlq.topic"] == kit.topic.encode()


async def test_batch_handlers_get_the_poll_in_one_call(
    kafka_bootstrap: str, redis_url: str
) -> None:
    async with ConnectorHarness(Recorder, {}, kafka=kafka_bootstrap, redis=redis_url) as kit:
        events = [kit.event(EventType.MESSAGE_TRIAGED, triaged(f"m{n}")) for n in range(20)]
        await kit.emit(*events)
        await kit.wait_handled(20)
        recorder = kit.connector
        assert isinstance(recorder, Recorder)
        assert sum(recorder.batches) == 20
        assert len(recorder.batches) < 20


async def test_bad_records_are_dead_lettered_with_a_reason_and_the_runner_goes_on(
    kafka_bootstrap: str, redis_url: str
) -> None:
    async with ConnectorHarness(Recorder, {}, kafka=kafka_bootstrap, redis=redis_url) as kit:
        good = to_record(kit.event(EventType.HANDOFF_ACCEPTED, ACCEPTED, subject="ok"))
        unknown_version = [
            (k, b"io.warmline.handoff.accepted.v9" if k == "ce_type" else v)
            for k, v in good.headers
        ]
        missing_field = to_record(kit.event(EventType.HANDOFF_ACCEPTED, ACCEPTED, subject="x"))
        await kit.emit_raw(b"not json at all {", headers=good.headers)
        await kit.emit_raw(good.value, headers=[])
        await kit.emit_raw(good.value, headers=unknown_version)
        await kit.emit_raw(b"\xff\xfe\xfa", headers=good.headers)
        await kit.emit_raw(json.dumps({"queue": "care"}).encode(), headers=missing_field.headers)
        await kit.emit_raw(b'{"x": "' + b"a" * (5 * 1_048_576) + b'"}', headers=good.headers)
        await kit.emit_raw(good.value, key=good.key, headers=good.headers)
        await kit.wait_handled(1)
        letters = kit.dead_letters(expect=6)
    reasons = sorted(letter.reason for letter in letters)
    expected = [
        "data is not a JSON object",
        "not a CloudEvent: missing header(s) ce_id, ce_type, ce_source, ce_specversion",
        "unknown event type 'io.warmline.handoff.accepted.v9'",
        "UTF-8",
        "specialist: Field required",
    ]
    for phrase in expected:
        assert any(phrase in reason for reason in reasons), (phrase, reasons)
    assert len(reasons) == 6, reasons
    biggest = max(letters, key=lambda letter: len(letter.value or b""))
    assert len(biggest.value or b"") > 5 * 1_048_576, "the 5 MB record is kept whole"
    assert "Field required" in biggest.reason


@pytest.mark.parametrize(
    ("source", "raised"),
    [
        ('raise RuntimeError("no config at import")\n', "RuntimeError: no config at import"),
        ("def deliver(:\n", "SyntaxError: invalid syntax"),
    ],
)
def test_a_connector_module_that_fails_to_import_is_a_connector_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: str, raised: str
) -> None:
    module = f"broken_connector_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{module}.py").write_text(source, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(UnknownConnectorError) as caught:
        resolve(f"{module}:Desk")
    assert str(caught.value).startswith(
        f"cannot load connector '{module}:Desk': importing {module} raised {raised}"
    )
