"""The event catalog: a model per type, generated docs and schemas that match the models."""

from __future__ import annotations

import json

import pytest

from warmline.events.catalog import (
    CATALOG,
    EventDataError,
    HandoffAccepted,
    InboundMessage,
    parse_data,
)
from warmline.events.docs import SCHEMAS, stale_files
from warmline.events.types import EVENTS_TOPIC, INBOUND_HR_TOPIC, WELLNESS_TOPIC, EventType


def test_every_event_type_has_a_model() -> None:
    assert set(CATALOG) == set(EventType)


def test_generated_docs_and_schemas_are_current() -> None:
    stale = [str(p) for p in stale_files()]
    assert stale == [], "regenerate: .venv/bin/python -m warmline.events.docs"


def test_schemas_are_json_schema_with_the_required_fields() -> None:
    schema = json.loads((SCHEMAS / "io.warmline.handoff.accepted.v1.json").read_text())
    assert schema["title"] == "io.warmline.handoff.accepted.v1"
    assert set(schema["required"]) == {"specialist", "queue", "offer_id", "crisis", "waited_ms"}
    assert schema["additionalProperties"] is True, "additive fields keep the version"


def test_additive_fields_are_kept_and_missing_ones_are_named() -> None:
    data = {"specialist": "sam", "queue": "care", "offer_id": "o", "crisis": False, "waited_ms": 3}
    parsed = parse_data(EventType.HANDOFF_ACCEPTED, {**data, "added_in_a_later_release": 1})
    assert isinstance(parsed, HandoffAccepted)
    assert parsed.model_extra == {"added_in_a_later_release": 1}
    with pytest.raises(EventDataError, match="waited_ms: Field required"):
        parse_data(EventType.HANDOFF_ACCEPTED, {k: v for k, v in data.items() if k != "waited_ms"})


@pytest.mark.parametrize(
    ("event_type", "topic", "by_worker"),
    [
        (EventType.HANDOFF_ACCEPTED, EVENTS_TOPIC, False),
        (EventType.WELLNESS_BREAK_STARTED, WELLNESS_TOPIC, True),
        (EventType.INBOUND_SHIFT_SCHEDULED, INBOUND_HR_TOPIC, True),
    ],
)
def test_topics_and_keys(event_type: EventType, topic: str, by_worker: bool) -> None:
    assert event_type.topic == topic
    assert event_type.keyed_by_worker is by_worker


def test_an_inbound_country_is_read_in_either_case_and_ids_are_bounded() -> None:
    data = {"tenant_id": "acme", "conversation_id": "c1", "message_id": "m1", "text": "hi"}
    parsed = parse_data(EventType.INBOUND_MESSAGE_RECEIVED, {**data, "country": "gb"})
    assert isinstance(parsed, InboundMessage)
    assert parsed.country == "GB", "a lower-case code must still find the GB helplines"
    with pytest.raises(EventDataError, match="conversation_id: must not contain control"):
        parse_data(EventType.INBOUND_MESSAGE_RECEIVED, {**data, "conversation_id": "c\t1"})
    with pytest.raises(EventDataError, match="country: String should match pattern"):
        parse_data(EventType.INBOUND_MESSAGE_RECEIVED, {**data, "country": "GBR"})
