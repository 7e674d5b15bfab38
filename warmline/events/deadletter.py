"""The dead-letter topic: records a consumer could not process, kept with why and where from.

The original key, value and headers are kept byte for byte, so nothing is lost and a fixed record
can be replayed; `dlq.*` headers say why it failed and where it came from.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from kafka import KafkaProducer
from kafka.consumer.fetcher import ConsumerRecord
from kafka.errors import KafkaError

from warmline.errors import WarmlineError
from warmline.events.publisher import PRODUCER_SETTINGS
from warmline.events.types import DEADLETTER_TOPIC

MAX_DEAD_LETTER_BYTES = 10 * 1_048_576
"""As large as the broker accepts, so even an oversized record is kept."""
REASON_HEADER = "dlq.reason"
TOPIC_HEADER = "dlq.topic"
PARTITION_HEADER = "dlq.partition"
OFFSET_HEADER = "dlq.offset"
CONSUMER_HEADER = "dlq.consumer"
ATTEMPTS_HEADER = "dlq.attempts"
TIME_HEADER = "dlq.time"
_DLQ_HEADERS = frozenset(
    {
        REASON_HEADER,
        TOPIC_HEADER,
        PARTITION_HEADER,
        OFFSET_HEADER,
        CONSUMER_HEADER,
        ATTEMPTS_HEADER,
        TIME_HEADER,
    }
)
MAX_REASON_CHARS = 2000


class DeadLetterError(WarmlineError):
    """The dead-letter topic did not take a record; the consumer must not commit past it."""


@dataclass(frozen=True)
class Origin:
    """Where a record was read: the coordinates the dead letter keeps."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]

    @classmethod
    def of(cls, record: ConsumerRecord) -> Origin:
        """Where a consumed record came from, with its bytes, ready to be dead-lettered."""
        return cls(
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            key=record.key,
            value=record.value,
            headers=[(k, v) for k, v in (record.headers or [])],
        )


class DeadLetters:
    """Writes dead letters for one consumer (`consumer` names it in the headers)."""

    def __init__(
        self, producer: KafkaProducer, *, consumer: str, topic: str = DEADLETTER_TOPIC
    ) -> None:
        self._producer = producer
        self.consumer = consumer
        self.topic = topic

    @classmethod
    def connect(
        cls, bootstrap: str, *, consumer: str, topic: str = DEADLETTER_TOPIC
    ) -> DeadLetters:
        settings = {**PRODUCER_SETTINGS, "max_request_size": MAX_DEAD_LETTER_BYTES}
        producer = KafkaProducer(bootstrap_servers=bootstrap, **settings)
        return cls(producer, consumer=consumer, topic=topic)

    def send(self, origin: Origin, reason: str, *, attempts: int = 1) -> None:
        """Write the record with the reason; returns once Kafka acknowledged it."""
        headers = [(k, v) for k, v in origin.headers if k not in _DLQ_HEADERS]
        headers += [
            (REASON_HEADER, reason[:MAX_REASON_CHARS].encode()),
            (TOPIC_HEADER, origin.topic.encode()),
            (PARTITION_HEADER, str(origin.partition).encode()),
            (OFFSET_HEADER, str(origin.offset).encode()),
            (CONSUMER_HEADER, self.consumer.encode()),
            (ATTEMPTS_HEADER, str(attempts).encode()),
            (TIME_HEADER, datetime.now(UTC).isoformat().encode()),
        ]
        try:
            self._producer.send(
                self.topic, key=origin.key, value=origin.value, headers=headers
            ).get(timeout=30)
        except KafkaError as error:
            raise DeadLetterError(
                f"could not dead-letter {origin.topic}[{origin.partition}]@{origin.offset}: {error}"
            ) from error

    def close(self) -> None:
        self._producer.close(timeout=5)


def dead_letter_reason(headers: list[tuple[str, bytes]]) -> str | None:
    """The reason header of a dead letter, for tests and tooling."""
    return next((v.decode() for k, v in headers if k == REASON_HEADER), None)
