"""Consuming warmline's topics: the consumer settings every reader shares, and polling.

Offsets are committed by hand after a batch is done (at least once). The consumer subscribes only
once its topics exist, so the group's first rebalance already has partitions (see
`warmline.events.admin` for why that matters), and oversized records are still fetched, so they
are dead-lettered rather than stuck on.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from datetime import timedelta

from kafka import KafkaConsumer
from kafka.consumer.fetcher import ConsumerRecord

log = logging.getLogger(__name__)


def open_consumer(
    bootstrap: str,
    topics: Sequence[str],
    *,
    group_id: str,
    batch_size: int,
    max_poll_interval: timedelta,
    stopping: Callable[[], bool],
) -> KafkaConsumer:
    """A consumer in `group_id`, subscribed to `topics` once they exist (or shutdown began)."""
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=group_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=batch_size,
        max_poll_interval_ms=int(max_poll_interval.total_seconds() * 1000),
        fetch_max_bytes=64 * 1_048_576,
        max_partition_fetch_bytes=16 * 1_048_576,
    )
    waited = 0.0
    while not stopping():
        missing = set(topics) - consumer.topics()
        if not missing:
            break
        if waited % 10 == 0:
            log.info("%s: waiting for topic(s) %s to exist", group_id, ", ".join(sorted(missing)))
        time.sleep(0.5)
        waited += 0.5
    consumer.subscribe(list(topics))
    return consumer


JOIN_TIMEOUT = timedelta(seconds=2)
"""How long a poll may wait while the consumer holds no partitions (joining its group). With
kafka-python 3.0 a group join that a short poll timeout cuts short can hang for minutes (measured:
9 joins in 10 hung at 5 ms, 1 in 10 at 50-100 ms, none at 1 s); a joining consumer has no records
to wait for anyway."""


def poll_records(
    consumer: KafkaConsumer, *, timeout: timedelta, batch_size: int
) -> list[ConsumerRecord]:
    """One poll's records, all partitions together."""
    if not consumer.assignment():
        timeout = max(timeout, JOIN_TIMEOUT)
    polled = consumer.poll(timeout_ms=int(timeout.total_seconds() * 1000), max_records=batch_size)
    return [record for batch in polled.values() for record in batch]
