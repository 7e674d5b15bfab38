"""Reading one run's topics from their start: as the events come (a pump), or all at the end."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from kafka import KafkaConsumer, TopicPartition

from warmline.events.envelope import DomainEvent, from_record

FETCH_WAIT_MS = 10
"""How long the broker may hold the pump's fetch for new events."""
DRAIN_LIMIT_S = 3.0
"""How long one drain reads at most; what it leaves is read by the next."""
QUIET_S = 1.5
"""`read_until_quiet` stops once the topics have been quiet this long (real time)."""
POLL_MS = 500


EventHandler = Callable[[DomainEvent], Awaitable[None]]


class EventPump:
    """Feeds a topic's events, in order, to its handlers whenever asked, without a consumer group.

    What the long-running consumers (`warmline wellness-tracker`, `warmline annotate sample`) do
    for a deployment, a pump does for one run: `warmline simulate` drains it between skips, so
    exposure is counted before the clock moves on; the demo drains it in a loop. A group would
    first have to join, which with kafka-python can take seconds (see
    `warmline.events.consuming.JOIN_TIMEOUT`)."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        # The broker holds an empty fetch up to fetch_max_wait_ms (500 ms by default), which
        # would make reading up to the end of the topic slow.
        self._consumer = KafkaConsumer(
            bootstrap_servers=bootstrap, fetch_max_wait_ms=FETCH_WAIT_MS, enable_auto_commit=False
        )
        found = self._consumer.partitions_for_topic(topic) or {0}
        self._partitions = [TopicPartition(topic, partition) for partition in sorted(found)]
        self._consumer.assign(self._partitions)
        self._consumer.seek_to_beginning(*self._partitions)
        self.handlers: list[EventHandler] = []

    async def drain(self) -> int:
        """Handle every event published so far (up to the topic's end now); how many there were."""
        events = await asyncio.to_thread(self._read_to_end)
        for event in events:
            for handle in self.handlers:
                await handle(event)
        return len(events)

    def _read_to_end(self) -> list[DomainEvent]:
        ends: dict[TopicPartition, int] = self._consumer.end_offsets(self._partitions)
        events: list[DomainEvent] = []
        deadline = time.monotonic() + DRAIN_LIMIT_S
        # Whatever is not read by the deadline is read by the next drain.
        while time.monotonic() < deadline and any(
            self._consumer.position(partition) < end for partition, end in ends.items()
        ):
            batch = self._consumer.poll(timeout_ms=100)
            events.extend(
                from_record(r.key, list(r.headers), r.value)
                for records in batch.values()
                for r in records
            )
        return events

    def close(self) -> None:
        self._consumer.close()


def read_until_quiet(
    bootstrap: str, topics: list[str], *, quiet_s: float = QUIET_S
) -> list[DomainEvent]:
    """Everything on `topics`, read until they have been quiet for `quiet_s`: for events that
    follow the work they describe by a moment (wellness workflows publish from activities), so
    there is no last event to wait for. Blocking (kafka-python): call it in a thread."""
    consumer = KafkaConsumer(*topics, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    events: list[DomainEvent] = []
    try:
        quiet = 0.0
        while quiet < quiet_s:
            batch = consumer.poll(timeout_ms=POLL_MS)
            records = [record for records in batch.values() for record in records]
            quiet = 0.0 if records else quiet + POLL_MS / 1000
            events.extend(from_record(r.key, list(r.headers), r.value) for r in records)
    finally:
        consumer.close()
    return events
