"""The CloudEvents envelope round-trips, and every malformed record gets a reason, not a crash."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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
    headers: list[tuple[str, bytes]], name: str, value: bytes | None
) -> list[tuple[str, bytes | None]]:
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
        (lambda r: (r.headers, b'"text"'), "data must be a JSON object, not a JSON string"),
        (lambda r: (r.headers, b"\xff\xfe{}"), "data is not UTF-8: invalid start byte at byte 0"),
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
        (
            lambda r: (replace_header(r.headers, "ce_source", b"\xc3\x28"), r.value),
            "header 'ce_source' is not UTF-8",
        ),
        (lambda r: ([*r.headers, ("traceparent", None)], r.value), "header 'traceparent' has no"),
        (lambda r: (replace_header(r.headers, "ce_subject", None), r.value), "'ce_subject' has no"),
        (lambda r: (r.headers, b"[" * 100_000), "data is not a JSON object: nested too deeply"),
        (lambda r: (r.headers, nested(40)), "data is nested 33 levels deep at data.n.n.n"),
        (
            lambda r: (r.headers, with_field("x", "9" * 5000)),
            "data is not a JSON object: Exceeds the limit (4300 digits) for integer string",
        ),
        (
            lambda r: (r.headers, with_field("note", '"hi \\ud83d"')),
            "data.note is not valid Unicode: a lone surrogate \\ud83d at character 3",
        ),
        (
            lambda r: (r.headers, with_field("emotions", '[{"label": "\\udc00"}]')),
            "data.emotions[0].label is not valid Unicode",
        ),
        (lambda r: (r.headers, with_field("\\ud83d", "1")), "a key of data is not valid Unicode"),
        (
            lambda r: (replace_header(r.headers, "content-type", b"text/plain"), r.value),
            "content-type 'text/plain' is not JSON",
        ),
        (lambda r: (r.headers, b""), "data must be a JSON object; the record's value is empty"),
    ],
)
def test_malformed_records_are_rejected_with_a_reason(mutate: Any, reason: str) -> None:
    record = to_record(an_event())
    headers, value = mutate(record)
    with pytest.raises(EventDecodeError) as caught:
        from_record(record.key, headers, value)
    assert reason in caught.value.reason


def with_field(name: str, raw_json: str) -> bytes:
    """The event's data with one more field, written as raw JSON (escapes kept as sent)."""
    return to_record(an_event()).value[:-1] + f', "{name}": {raw_json}}}'.encode()


def nested(depth: int) -> bytes:
    return json.dumps({"n": json.loads("{" + '"n": {' * (depth - 1) + "}" * depth)}).encode()


def test_a_key_that_is_not_utf8_is_named_as_the_key() -> None:
    record = to_record(an_event())
    with pytest.raises(EventDecodeError) as caught:
        from_record(b"\xff", record.headers, record.value)
    assert caught.value.reason.startswith("the record key is not UTF-8: invalid start byte")


def test_json_data_under_a_json_content_type_is_read() -> None:
    """A surrogate pair is one character; `+json` and parameters are JSON too."""
    record = to_record(an_event())
    value = with_field("emoji", '"\\ud83d\\ude00"')
    for content_type in (b"application/json; charset=utf-8", b"application/cloudevents+json"):
        headers = replace_header(record.headers, "content-type", content_type)
        assert from_record(record.key, headers, value).data["emoji"] == "\N{GRINNING FACE}"


header_names = st.sampled_from(
    ["ce_id", "ce_type", "ce_source", "ce_specversion", "ce_time", "ce_subject", "content-type"]
) | st.text(max_size=12)
header_values = (
    st.none()
    | st.binary(max_size=40)
    | st.sampled_from(
        [b"1.0", b"0.3", b"", b"io.warmline.message.triaged.v1", b"2026-11-22T09:30:00Z", b"text/x"]
    )
)
values = (
    st.none()
    | st.binary(max_size=200)
    | st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner),
        max_leaves=20,
    ).map(lambda data: json.dumps(data).encode())
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    key=st.none() | st.binary(max_size=8),
    headers=st.lists(st.tuples(header_names, header_values), max_size=9),
    value=values,
)
def test_any_record_decodes_or_is_refused_with_a_reason(
    key: bytes | None, headers: list[tuple[str, bytes | None]], value: bytes | None
) -> None:
    """Whatever the bytes, `from_record` returns an event or raises `EventDecodeError`: the
    consumers catch only that, so anything else would stop them on one record."""
    merged: dict[str, bytes | None] = dict(to_record(an_event()).headers)
    merged.update(headers)
    refusal: EventDecodeError | None = None
    try:
        from_record(key, list(merged.items()), value)
    except EventDecodeError as refused:
        refusal = refused
    assert refusal is None or refusal.reason.strip(), "a refusal's dead letter needs its reason"
