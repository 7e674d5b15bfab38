"""What `from_record` refuses that it used to take or misname: no `ce_time`, structured mode."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from warmline.events import DomainEvent, EventType, from_record, to_record
from warmline.events.envelope import EventDecodeError


def test_a_record_without_a_time_is_refused_not_dated_now() -> None:
    event = DomainEvent(
        id="e-1",
        type=EventType.INBOUND_AVAILABILITY_CHANGED,
        source="/hr/test",
        subject="vol-aoife",
        time=datetime(2026, 11, 24, 9, 30, tzinfo=UTC),
        data={"specialist_id": "vol-aoife", "available": False},
    )
    record = to_record(event)
    assert from_record(record.key, record.headers, record.value).time == event.time
    timeless = [(name, value) for name, value in record.headers if name != "ce_time"]
    with pytest.raises(EventDecodeError) as caught:
        from_record(record.key, timeless, record.value)
    assert caught.value.reason.startswith("the event has no time (header ce_time)")


def test_a_structured_mode_cloudevent_is_refused_with_how_to_send_it() -> None:
    """The whole event as the value is a valid CloudEvent, only not the binary mode warmline
    reads: the reason says so, rather than only that it is not a CloudEvent."""
    envelope = {
        "specversion": "1.0",
        "id": "e-1",
        "type": "io.warmline.inbound.availability.changed.v1",
        "source": "/hr/test",
        "subject": "vol-aoife",
        "time": "2026-11-24T09:30:00Z",
        "datacontenttype": "application/json",
        "data": {"specialist_id": "vol-aoife", "available": False},
    }
    headers = [("content-type", b"application/cloudevents+json; charset=UTF-8")]
    with pytest.raises(EventDecodeError) as caught:
        from_record(b"vol-aoife", headers, json.dumps(envelope).encode())
    reason = caught.value.reason
    assert reason.startswith("not a CloudEvent: missing header(s) ce_id, ce_type"), reason
    assert "structured content mode" in reason, reason
    assert "send the attributes as ce_ headers" in reason, reason
    with pytest.raises(EventDecodeError) as plain:
        from_record(b"vol-aoife", [], json.dumps(envelope).encode())
    assert "structured" not in plain.value.reason
