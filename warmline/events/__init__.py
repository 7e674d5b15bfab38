"""Domain events: the CloudEvents warmline emits on Kafka and the types that name them."""

from warmline.events.envelope import (
    DomainEvent,
    EventDecodeError,
    KafkaRecord,
    event_id,
    from_record,
    to_record,
)
from warmline.events.publisher import EventPublisher, PublishError
from warmline.events.types import EVENTS_TOPIC, EventType

__all__ = [
    "EVENTS_TOPIC",
    "DomainEvent",
    "EventDecodeError",
    "EventPublisher",
    "EventType",
    "KafkaRecord",
    "PublishError",
    "event_id",
    "from_record",
    "to_record",
]
