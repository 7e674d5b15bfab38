"""Publishing domain events to Kafka with the idempotent producer (acks=all).

An event Kafka refuses for its size can never be published: it is dead-lettered with the reason,
and the other events of its batch are still published (`EventPublisher.publish`).
Blocking: call it from `def` activities (the worker's thread pool) or through `asyncio.to_thread`.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kafka import KafkaProducer
from kafka.errors import KafkaError, MessageSizeTooLargeError, RecordListTooLargeError
from kafka.producer.future import FutureRecordMetadata

from warmline.errors import WarmlineError
from warmline.events.envelope import DomainEvent, KafkaRecord, to_record
from warmline.events.types import DEADLETTER_TOPIC, EVENTS_TOPIC, WELLNESS_TOPIC

if TYPE_CHECKING:
    from warmline.events.deadletter import DeadLetters

log = logging.getLogger(__name__)

# The producer's own retries stay on, bounded by this delivery timeout: with idempotence the broker
# drops a retried batch it already has (by producer id and sequence number), so they never double
# an event. Past the timeout the activity attempt fails and Temporal's retry policy takes over,
# re-sending the same deterministic event ids, which consumers drop as duplicates.
DELIVERY_TIMEOUT_MS = 20_000
METADATA_WAIT_MS = 10_000
"""How long a send may wait for its topic's partitions (kafka-python's `max_block_ms`, 60 s by
default). With the broker down, the first event for a topic the producer has not seen yet waits
here: a publish must give up within its activity's 30 s start-to-close timeout, not keep a worker
thread blocked past it while Temporal's retry starts the next attempt on another."""
MAX_EVENT_BYTES = 1_048_576
PUBLISHER_NAME = "warmline-event-publisher"
"""Who gave up on an event too large for Kafka, in its dead letter's `dlq.consumer`."""


PRODUCER_SETTINGS: dict[str, Any] = {
    "enable_idempotence": True,
    "acks": "all",
    "delivery_timeout_ms": DELIVERY_TIMEOUT_MS,
    "request_timeout_ms": DELIVERY_TIMEOUT_MS // 2,
    "max_block_ms": METADATA_WAIT_MS,
    "max_request_size": MAX_EVENT_BYTES,
    "linger_ms": 2,
}
"""The idempotent producer's settings (the dead-letter writer and the benchmark use them too)."""

_TOO_LARGE = (MessageSizeTooLargeError, RecordListTooLargeError)
"""The producer (`max_request_size`) or the broker (the topic's `max.message.bytes`) refuses a
record for its size: no retry mends that."""


BROKER_LIMIT = "the topic's max.message.bytes (the broker refused it)"


class PublishError(WarmlineError):
    """Kafka did not acknowledge an event within the delivery timeout; safe to retry."""


@dataclass(frozen=True)
class _Outgoing:
    event: DomainEvent
    topic: str
    record: KafkaRecord

    @property
    def size(self) -> int:
        """Bytes of key, value and headers (what the size limits count, less framing)."""
        record = self.record
        headers = sum(len(k.encode()) + len(v) for k, v in record.headers)
        return len(record.key) + len(record.value) + headers


@dataclass(frozen=True)
class _Refusal:
    outgoing: _Outgoing
    limit: str
    error: KafkaError

    @property
    def reason(self) -> str:
        event = self.outgoing.event
        return (
            f"{event.type.value} event {event.id} (subject {event.subject}) is "
            f"{self.outgoing.size:,} bytes of key, value and headers, more than {self.limit}: "
            f"it can never be published to {self.outgoing.topic} ({self.error})"
        )


class EventPublisher:
    """The one way warmline puts domain events on Kafka.

    Thread-safe: activities publish from the worker's thread pool through one publisher.
    """

    def __init__(
        self,
        new_producer: Callable[[], KafkaProducer],
        *,
        dead_letters: Callable[[], DeadLetters],
        topic: str = EVENTS_TOPIC,
        wellness_topic: str = WELLNESS_TOPIC,
    ) -> None:
        self._new_producer = new_producer
        """Makes the producer, and the one that replaces a producer the broker refused a record."""
        self._producer = new_producer()
        self._make_dead_letters = dead_letters
        """Made at the first event too large for Kafka: most publishers never need one."""
        self._dead_letters: DeadLetters | None = None
        self._lock = threading.Lock()
        self.topic = topic
        self.wellness_topic = wellness_topic

    @classmethod
    def connect(
        cls,
        bootstrap: str,
        *,
        topic: str = EVENTS_TOPIC,
        wellness_topic: str = WELLNESS_TOPIC,
        dead_letter_topic: str = DEADLETTER_TOPIC,
    ) -> EventPublisher:
        # Imported here: the dead-letter writer takes PRODUCER_SETTINGS from this module.
        from warmline.events.deadletter import DeadLetters

        def new_producer() -> KafkaProducer:
            return KafkaProducer(bootstrap_servers=bootstrap, **PRODUCER_SETTINGS)

        def dead_letters() -> DeadLetters:
            return DeadLetters.connect(bootstrap, consumer=PUBLISHER_NAME, topic=dead_letter_topic)

        return cls(
            new_producer, dead_letters=dead_letters, topic=topic, wellness_topic=wellness_topic
        )

    def publish(self, events: Sequence[DomainEvent]) -> None:
        """Send the events, keyed by subject, and return once Kafka acknowledged every one.

        An event Kafka refuses for its size (more than the producer's `MAX_EVENT_BYTES`, or than
        the topic's `max.message.bytes`) is permanent: it goes to the dead-letter topic with a
        reason naming its type, id and size, and the batch's other events are published in
        order. kafka-python's idempotent producer fails every later send once the broker refused
        one record, so that producer is replaced, and the events it did not acknowledge are sent
        again one at a time (one written just as it failed then arrives twice; consumers drop
        the copy by id). `PublishError` (retry: the same event ids) when Kafka does not
        acknowledge in time, or the dead letter is not written. One attempt takes at most the
        delivery timeout, the sends' wait for metadata included.
        """
        outgoing = [_Outgoing(e, self.topic_of(e), to_record(e)) for e in events]
        producer = self._current_producer()
        refused: list[_Refusal] = []
        sent: list[tuple[_Outgoing, FutureRecordMetadata]] = []
        deadline = time.monotonic() + DELIVERY_TIMEOUT_MS / 1000
        try:
            for item in outgoing:
                try:
                    sent.append((item, _send(producer, item)))
                except _TOO_LARGE as error:  # checked before queueing: the producer is unharmed
                    refused.append(_Refusal(item, _producer_limit(producer), error))
            # flush only hurries the sends; each record's future says how it fared (flush raises
            # UnknownError while a batch the broker found too large is split).
            with contextlib.suppress(KafkaError):
                producer.flush(timeout=max(deadline - time.monotonic(), 0.001))
        except KafkaError as error:
            self._after_failure(producer, error)
            raise PublishError(f"Kafka did not take events for {self.topic}: {error}") from error
        unacknowledged: list[_Outgoing] = []
        failure: KafkaError | None = None
        broken = False
        for item, future in sent:
            try:
                future.get(timeout=max(deadline - time.monotonic(), 0.001))
            except _TOO_LARGE:
                broken = True
                unacknowledged.append(item)
            except KafkaError as error:
                failure = failure or error
                unacknowledged.append(item)
        if broken:
            # Which record was refused, and which were failed with it, only a send of each alone
            # tells; a producer of their own keeps other threads' sends out of that.
            try:
                self._replace_producer(producer)
            except KafkaError as error:  # no new producer: the next attempt tries again
                raise PublishError(f"could not replace the producer: {error}") from error
            refused += self._one_at_a_time(unacknowledged)
        elif failure is not None:
            self._after_failure(producer, failure)
            raise PublishError(
                f"Kafka did not acknowledge events on {self.topic}: {failure}"
            ) from failure
        for refusal in refused:
            self._dead_letter(refusal)

    def _one_at_a_time(self, outgoing: Sequence[_Outgoing]) -> list[_Refusal]:
        """Send each alone, in order, on a producer of its own; the ones refused for their size."""
        refused: list[_Refusal] = []
        producer: KafkaProducer | None = None
        try:
            for item in outgoing:
                producer = producer or self._new_producer()
                try:
                    future = _send(producer, item)
                except _TOO_LARGE as error:
                    refused.append(_Refusal(item, _producer_limit(producer), error))
                    continue
                try:
                    future.get(timeout=DELIVERY_TIMEOUT_MS / 1000)
                except _TOO_LARGE as error:
                    refused.append(_Refusal(item, BROKER_LIMIT, error))
                    _close(producer)  # broken now (see `_replace_producer`); cheap to make anew
                    producer = None
        except KafkaError as error:
            raise PublishError(
                f"Kafka did not acknowledge events on {self.topic}: {error}"
            ) from error
        finally:
            if producer is not None:
                _close(producer)
        return refused

    def _dead_letter(self, refusal: _Refusal) -> None:
        # Imported here: the dead-letter writer takes PRODUCER_SETTINGS from this module.
        from warmline.events.deadletter import DeadLetterError, Origin

        item = refusal.outgoing
        log.error("dead-lettering an event Kafka refuses: %s", refusal.reason)
        origin = Origin(
            topic=item.topic,
            partition=-1,  # never written: no partition or offset
            offset=-1,
            key=item.record.key,
            value=item.record.value,
            headers=item.record.headers,
        )
        try:
            self._open_dead_letters().send(origin, refusal.reason)
        except DeadLetterError as error:
            raise PublishError(
                f"could not dead-letter {item.event.type.value} event {item.event.id}: {error}"
            ) from error

    def _current_producer(self) -> KafkaProducer:
        with self._lock:
            return self._producer

    def _replace_producer(self, broken: KafkaProducer) -> None:
        """Put a fresh producer in the place of `broken`, unless another thread already did.

        kafka-python 3.0's idempotent producer takes an error the broker answers that is neither
        retriable nor about its sequence numbers (a record too large for the topic) as fatal, and
        fails every later send with it.
        """
        with self._lock:
            if self._producer is not broken:
                return
            self._producer = self._new_producer()
        _close(broken)

    def _after_failure(self, producer: KafkaProducer, error: KafkaError) -> None:
        """Replace a producer that failed a publish with an error no retry mends (`retriable`
        False: closed, its producer id unknown to the broker, which lost its state): it would
        fail every send from now on, and the activity retrying the publish the same way until
        the worker restarted. An outage (a timeout, a refused connection) keeps it: making a
        producer then waits for the broker, past the activity's timeout. Events the broker took
        before the failure may be sent again by the retry; consumers drop the copy by id."""
        if not error.retriable:
            with contextlib.suppress(KafkaError):
                self._replace_producer(producer)

    def _open_dead_letters(self) -> DeadLetters:
        with self._lock:
            if self._dead_letters is None:
                self._dead_letters = self._make_dead_letters()
            return self._dead_letters

    def topic_of(self, event: DomainEvent) -> str:
        """Wellness events go to their own topic (only HR reads it); the rest to `topic`."""
        return self.wellness_topic if event.type.topic == WELLNESS_TOPIC else self.topic

    def close(self) -> None:
        with self._lock:
            self._producer.close(timeout=5)
            if self._dead_letters is not None:
                self._dead_letters.close()


def _send(producer: KafkaProducer, item: _Outgoing) -> FutureRecordMetadata:
    record = item.record
    future: FutureRecordMetadata = producer.send(
        item.topic, key=record.key, value=record.value, headers=record.headers
    )
    return future


def _producer_limit(producer: KafkaProducer) -> str:
    limit: int = producer.config["max_request_size"]
    return f"the producer's max_request_size of {limit:,} bytes"


def _close(producer: KafkaProducer) -> None:
    with contextlib.suppress(KafkaError):  # a broken producer has nothing left to send
        producer.close(timeout=1)
