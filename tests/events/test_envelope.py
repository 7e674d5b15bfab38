"""The CloudEvents envelope round-trips, and every malformed record gets a reason, not a crash."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from warmline.events import (
    DomainEvent,
    EventDecodeError,
    EventType,
    event_id,
    from_record,
    to_record,
)


def an_event(**changes: object) -> DomainEvent:
    fields: dict[str, object] = {
        "id": event_id("acme/conv-1", "msg-1/triaged"),
        "type": EventType.MESSAGE_TRIAGED,
        "source": "/warmline/tenants/acme",
        "subject": "conv-1",
        "time": datetime(2026, 11, 22, 9, 30, tzinfo=UTC),
        "data": {"distress": 0.82, "emotions": [{"label": "grief", "score": 0.9}], "note": "ça va"},
    }
    return DomainEvent.model_validate({**fields, **changes})


def test_round_trip_in_binary_content_mode() -> None:
    event = an_event()
    record = to_record(event)
    headers = dict(record.headers)
    assert headers["ce_type"] == b"io.warmline.message.triaged.v1"
    assert headers["ce_specversion"] == b"1.0"
    assert headers["ce_subject"] == b"conv-1"
    assert headers["content-type"] == b"application/json"
    assert record.key == b"conv-1"
    assert from_record(record.key, record.headers, record.value) == event


def test_event_ids_are_deterministic_per_step() -> None:
    assert event_id("acme/conv-1", "msg-1/triaged") == event_id("acme/conv-1", "msg-1/triaged")
    assert event_id("acme/conv-1", "msg-1/triaged") != event_id("acme/conv-1", "msg-2/triaged")
    assert event_id("acme/conv-1", "msg-1/triaged") != event_id("acme/conv-2", "msg-1/triaged")


def replace_header(
    headers: list[tuple[str, bytes]], name: str, value: bytes
) -> list[tuple[str, bytes]]:
    return [(n, value if n == name else v) for n, v in headers]


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda r: ([], r.value), "missing header(s) ce_id, ce_type, ce_source, ce_specversion"),
        (
            lambda r: ([h for h in r.headers if h[0] != "ce_type"], r.value),
            "missing header(s) ce_type",
        ),
        (lambda r: (r.headers, b"{not json"), "data is not a JSON object: Expecting property name"),
        (lambda r: (r.headers, b"[1, 2]"), "data must be a JSON object"),
        (lambda r: (r.headers, b'"text"'), "data is not a JSON object: found a JSON string"),
        (lambda r: (r.headers, b"\xff\xfe{}"), "data is not UTF-8"),
        (
            lambda r: (replace_header(r.headers, "ce_type", b"io.warmline.unknown.v1"), r.value),
            "unknown event type 'io.warmline.unknown.v1'",
        ),
        (
            lambda r: (
                replace_header(r.headers, "ce_type", b"io.warmline.message.triaged.v9"),
                r.value,
            ),
            "unknown event type 'io.warmline.message.triaged.v9': this consumer knows v1",
        ),
        (lambda r: (replace_header(r.headers, "ce_source", b"\xc3\x28"), r.value), "not UTF-8"),
    ],
)
def test_malformed_records_are_rejected_with_a_reason(mutate: Any, reason: str) -> None:
    record = to_record(an_event())
    headers, value = mutate(record)
    with pytest.raises(EventDecodeError) as caught:
        from_record(record.key, headers, value)
    assert reason in caught.value.reason
