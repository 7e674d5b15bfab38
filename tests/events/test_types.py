"""Event type names are a contract: exact spelling, one shape, one key per concern."""

from __future__ import annotations

import re

from warmline.events import EventType

TYPE_SHAPE = re.compile(r"^io\.warmline(\.[a-z]+)+\.v[1-9][0-9]*$")


def test_every_type_has_the_contract_shape() -> None:
    for event_type in EventType:
        assert TYPE_SHAPE.match(event_type.value), event_type.value
        assert event_type.version == 1


def test_names_promised_by_the_conversation_contract() -> None:
    promised = {
        "io.warmline.conversation.started.v1",
        "io.warmline.message.triaged.v1",
        "io.warmline.crisis.detected.v1",
        "io.warmline.conversation.escalated.v1",
        "io.warmline.offer.created.v1",
        "io.warmline.offer.declined.v1",
        "io.warmline.offer.expired.v1",
        "io.warmline.escalation.rerouted.v1",
        "io.warmline.handoff.accepted.v1",
        "io.warmline.handoff.completed.v1",
        "io.warmline.conversation.closed.v1",
    }
    assert promised <= {t.value for t in EventType}


def test_wellness_and_hr_events_are_keyed_by_worker_and_the_rest_by_conversation() -> None:
    assert EventType.WELLNESS_BREAK_STARTED.keyed_by_worker
    assert EventType.INBOUND_AVAILABILITY_CHANGED.keyed_by_worker
    assert not EventType.HANDOFF_ACCEPTED.keyed_by_worker
    assert not EventType.INBOUND_MESSAGE_RECEIVED.keyed_by_worker
    assert sum(t.keyed_by_worker for t in EventType) == 9 + 2
