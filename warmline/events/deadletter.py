"""The dead-letter topic: records a consumer could not process, kept with why and where from.

The original key, value and headers are kept byte for byte, so nothing is lost and a fixed record
can be replayed; `dlq.*` headers say why it failed and where it came from. Three exceptions: a
header without a value (null, which kafka-python cannot write) is kept empty, a record too large
for the dead-letter topic once the `dlq.*` headers are added is kept cut short, with
`dlq.truncated` (see `DeadLetters.send`), and a record the client cannot read at all is kept by
its coordinates alone, with an empty value (`BatchConsumer._skip_unreadable`).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from kafka import KafkaProducer
from kafka.consumer.fetcher import ConsumerRecord
from kafka.errors import KafkaError, MessageSizeTooLargeError, RecordListTooLargeError

from warmline.errors import WarmlineError
from warmline.events.publisher import PRODUCER_SETTINGS
from warmline.events.types import DEADLETTER_TOPIC

log = logging.getLogger(__name__)

MAX_DEAD_LETTER_BYTES = 10 * 1_048_576
"""As large as the broker accepts, so even an oversized record is kept (the dead-letter topic's
`max.message.bytes` must allow it too: docs/bridge.md)."""
TRUNCATED_BYTES = 1024
"""How much of a value a dead letter keeps when the whole record does not fit the dead-letter
topic: enough to recognise it. Its coordinates lead to the whole record while its topic keeps it."""
REASON_HEADER = "dlq.reason"
TOPIC_HEADER = "dlq.topic"
PARTITION_HEADER = "dlq.partition"
OFFSET_HEADER = "dlq.offset"
CONSUMER_HEADER = "dlq.consumer"
ATTEMPTS_HEADER = "dlq.attempts"
TIME_HEADER = "dlq.time"
TRUNCATED_HEADER = "dlq.truncated"
"""Set when the value was cut to `TRUNCATED_BYTES`: the original value's size in bytes."""
HEADERS_DROPPED_HEADER = "dlq.headers-dropped"
"""Set when even the cut record did not fit: how many original headers were left out."""
_DLQ_HEADERS = frozenset(
    {
        REASON_HEADER,
        TOPIC_HEADER,
        PARTITION_HEADER,
        OFFSET_HEADER,
        CONSUMER_HEADER,
        ATTEMPTS_HEADER,
        TIME_HEADER,
        TRUNCATED_HEADER,
        HEADERS_DROPPED_HEADER,
    }
)
MAX_REASON_CHARS = 2000
_TOO_LARGE = (MessageSizeTooLargeError, RecordListTooLargeError)
"""The topic (or the producer's `max_request_size`) refuses the record for its size: sending it
again cannot help, a smaller one can."""


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
        """Where a consumed record came from, with its bytes, ready to be dead-lettered.

        A header without a value (Java and librdkafka producers send them) is kept empty:
        kafka-python writes bytes only.
        """
        return cls(
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            key=record.key,
            value=record.value,
            headers=[(k, b"" if v is None else v) for k, v in (record.headers or [])],
        )


class DeadLetters:
    """Writes dead letters for one consumer (`consumer` names it in the headers).

    Thread-safe: sends are one at a time (dead letters are rare), so a producer replaced after a
    refusal (`send`) is never in use by another send.
    """

    def __init__(
        self,
        producer: KafkaProducer,
        *,
        consumer: str,
        topic: str = DEADLETTER_TOPIC,
        new_producer: Callable[[], KafkaProducer] | None = None,
    ) -> None:
        self._producer: KafkaProducer | None = producer
        self._new_producer = new_producer
        """Makes the producer that replaces one the broker refused a record to (`send`)."""
        self._lock = threading.Lock()
        self.consumer = consumer
        self.topic = topic

    @classmethod
    def connect(
        cls, bootstrap: str, *, consumer: str, topic: str = DEADLETTER_TOPIC
    ) -> DeadLetters:
        settings = {**PRODUCER_SETTINGS, "max_request_size": MAX_DEAD_LETTER_BYTES}

        def new_producer() -> KafkaProducer:
            return KafkaProducer(bootstrap_servers=bootstrap, **settings)

        return cls(new_producer(), consumer=consumer, topic=topic, new_producer=new_producer)

    def send(self, origin: Origin, reason: str, *, attempts: int = 1) -> None:
        """Write the record with the reason; returns once Kafka acknowledged it.

        A record refused for its size (the `dlq.*` headers made a record near the topic's
        `max.message.bytes` too large, or the topic allows less than the record's own topic) is
        not an outage that waiting mends: it is written again with its value cut to
        `TRUNCATED_BYTES` and `dlq.truncated` set to the original size, the original headers kept;
        if that is refused too (large headers or key), without the original headers
        (`dlq.headers-dropped` says how many) and with the key cut as well. `DeadLetterError`
        when Kafka does not answer, or the topic refuses even that (its `max.message.bytes` is
        far too small).
        """
        own = [
            (REASON_HEADER, reason[:MAX_REASON_CHARS].encode("utf-8", "backslashreplace")),
            (TOPIC_HEADER, origin.topic.encode()),
            (PARTITION_HEADER, str(origin.partition).encode()),
            (OFFSET_HEADER, str(origin.offset).encode()),
            (CONSUMER_HEADER, self.consumer.encode()),
            (ATTEMPTS_HEADER, str(attempts).encode()),
            (TIME_HEADER, datetime.now(UTC).isoformat().encode()),
        ]
        kept = [(k, v) for k, v in origin.headers if k not in _DLQ_HEADERS]
        value = origin.value
        if origin.key is None and value is None:
            value = b""  # kafka-python writes no record without either
        letters = [(origin.key, value, kept + own)]
        short, cut = value, []
        if value is not None and len(value) > TRUNCATED_BYTES:
            short, cut = value[:TRUNCATED_BYTES], [(TRUNCATED_HEADER, str(len(value)).encode())]
            letters.append((origin.key, short, kept + own + cut))
        short_key = None if origin.key is None else origin.key[:TRUNCATED_BYTES]
        dropped = [(HEADERS_DROPPED_HEADER, str(len(kept)).encode())]
        letters.append((short_key, short, own + cut + dropped))
        where = f"{origin.topic}[{origin.partition}]@{origin.offset}"
        refusal: KafkaError | None = None
        with self._lock:
            for key, data, headers in letters:
                try:
                    producer = self._open_producer()
                    producer.send(self.topic, key=key, value=data, headers=headers).get(timeout=30)
                except _TOO_LARGE as error:
                    refusal = error
                    log.warning(
                        "%s refused the dead letter of %s for its size (%s)",
                        self.topic,
                        where,
                        error,
                    )
                    self._drop_producer()
                except KafkaError as error:
                    if not error.retriable:
                        # The next send gets a fresh producer: this one may fail every send from
                        # now on (closed, or its broker lost its producer state), and the callers
                        # retry a dead letter until it is written. An outage keeps it: making one
                        # then waits for the broker.
                        self._drop_producer()
                    raise DeadLetterError(f"could not dead-letter {where}: {error}") from error
                else:
                    return
        raise DeadLetterError(
            f"could not dead-letter {where}: {self.topic} refuses even a dead letter cut to "
            f"{TRUNCATED_BYTES:,} bytes of key and value without the original headers "
            f"({refusal}); raise the topic's max.message.bytes"
        ) from refusal

    def _open_producer(self) -> KafkaProducer:
        """The producer, made afresh after `_drop_producer` (which leaves none only when it can)."""
        if self._producer is None and self._new_producer is not None:
            self._producer = self._new_producer()
        if self._producer is None:
            raise DeadLetterError("the dead-letter producer was closed and cannot be made again")
        return self._producer

    def _drop_producer(self) -> None:
        """Close the producer after a refusal or a failed send; the next send makes a fresh one.

        kafka-python 3.0's idempotent producer takes any error the broker answers that is neither
        retriable nor about its sequence numbers as fatal: once refused one record, it fails every
        later send with that same error, so the next (shorter) letter would be refused too.
        """
        if self._new_producer is None or self._producer is None:
            return
        producer, self._producer = self._producer, None
        with contextlib.suppress(KafkaError):  # it has nothing left to send
            producer.close(timeout=1)

    def close(self) -> None:
        with self._lock:
            if self._producer is not None:
                self._producer.close(timeout=5)


def dead_letter_reason(headers: list[tuple[str, bytes]]) -> str | None:
    """The reason header of a dead letter, for tests and tooling."""
    return next((v.decode() for k, v in headers if k == REASON_HEADER), None)
