"""What a run of `warmline simulate` or `warmline demo` leaves on the services it was given.

Each run keeps its Redis keys under a prefix of its own (`simulate-<run>`, `warmline-demo-<run>`,
followed by `:` or `-…:`) and its events on topics of its own. Nothing outside the run knows its
id, and the wellness views have no TTL, so against a shared Redis and broker (`--redis`,
`--kafka`) every run's keys and topics would stay for good: `forget_run` deletes them once the
run's worker has stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable

from kafka.errors import KafkaError
from redis import Redis
from redis.exceptions import RedisError

from warmline.events.admin import delete_topics


async def forget_run(redis: Redis, prefix: str, kafka: str, topics: Iterable[str]) -> None:
    """Delete the keys under `prefix` and the `topics`. A service that has gone (stopped on an
    interrupt) or refuses is not worth hiding the run's own error for: what it holds stays."""
    with contextlib.suppress(RedisError):
        await asyncio.to_thread(_delete_keys, redis, prefix)
    with contextlib.suppress(KafkaError):
        await asyncio.to_thread(delete_topics, kafka, list(topics))


def _delete_keys(redis: Redis, prefix: str) -> None:
    for pattern in (f"{prefix}:*", f"{prefix}-*"):
        keys = list(redis.scan_iter(match=pattern, count=500))
        if keys:
            redis.delete(*keys)
