"""Publishing domain events to Kafka with the idempotent producer (acks=all).

Blocking: call it from `def` activities (the worker's thread pool) or through `asyncio.to_thread`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kafka import KafkaProducer
from kafka.errors import KafkaError

from warmline.errors import WarmlineError
from warmline.events.envelope import DomainEvent, to_record
from warmline.events.types import EVENTS_TOPIC, WELLNESS_TOPIC

# The producer's own retries stay on, bounded by this delivery timeout: with idempotence the broker
# drops a retried batch it already has (by producer id and sequence number), so they never double
# an event. Past the timeout the activity attempt fails and Temporal's retry policy takes over,
# re-sending the same deterministic event ids, which consumers drop as duplicates.
DELIVERY_TIMEOUT_MS = 20_000
MAX_EVENT_BYTES = 1_048_576


PRODUCER_SETTINGS: dict[str, Any] = {
    "enable_idempotence": True,
    "acks": "all",
    "delivery_timeout_ms": DELIVERY_TIMEOUT_MS,
    "request_timeout_ms": DELIVERY_TIMEOUT_MS // 2,
    "max_request_size": MAX_EVENT_BYTES,
    "linger_ms": 2,
}
"""The idempotent producer's settings (the dead-letter writer and the benchmark use them too)."""


class PublishError(WarmlineError):
    """Kafka did not acknowledge an event within the delivery timeout; safe to retry."""


class EventPublisher:
    """The one way warmline puts domain events on Kafka."""

    def __init__(
        self,
        producer: KafkaProducer,
        *,
        topic: str = EVENTS_TOPIC,
        wellness_topic: str = WELLNESS_TOPIC,
    ) -> None:
        self._producer = producer
        self.topic = topic
        self.wellness_topic = wellness_topic

    @classmethod
    def connect(
        cls, bootstrap: str, *, topic: str = EVENTS_TOPIC, wellness_topic: str = WELLNESS_TOPIC
    ) -> EventPublisher:
        producer = KafkaProducer(bootstrap_servers=bootstrap, **PRODUCER_SETTINGS)
        return cls(producer, topic=topic, wellness_topic=wellness_topic)

    def publish(self, events: Sequence[DomainEvent]) -> None:
        """Send the events, keyed by subject, and return once Kafka acknowledged every one."""
        try:
            futures = []
            for event in events:
                record = to_record(event)
                futures.append(
                    self._producer.send(
                        self.topic_of(event),
                        key=record.key,
                        value=record.value,
                        headers=record.headers,
                    )
                )
            self._producer.flush(timeout=DELIVERY_TIMEOUT_MS / 1000)
            for future in futures:
                future.get(timeout=DELIVERY_TIMEOUT_MS / 1000)
        except KafkaError as error:
            raise PublishError(
                f"Kafka did not acknowledge events on {self.topic}: {error}"
            ) from error

    def topic_of(self, event: DomainEvent) -> str:
        """Wellness events go to their own topic (only HR reads it); the rest to `topic`."""
        return self.wellness_topic if event.type.topic == WELLNESS_TOPIC else self.topic

    def close(self) -> None:
        self._producer.close(timeout=5)
