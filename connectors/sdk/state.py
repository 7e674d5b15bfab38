"""Connector state that outlives the process, in the Redis that drops the connector's duplicate
events (same client, same scope), so that an event redelivered to a restarted process, or to
another one of the consumer group, is handled as by the one that stopped.

Writes in doubt (`InDoubt`): a request to an API that failed without a refusal, so it may have
happened. A connector marks the write before sending it and clears the mark once the API
answered; a handler that finds the mark looks the object up before creating it again, rather than
creating it a second time.

Retry tries (`RetryState`): how far the runner got delivering an event not yet done (its
failures toward `max_attempts`, and the moment an API's Retry-After allows the next call), so a
restart neither calls a rate-limited API early nor starts an always-failing event's count again.

`connect_redis` opens that Redis as `warmline connector run` does: every call bounded by
`REDIS_TIMEOUT_S`, so a Redis that stops answering fails the call rather than holding it, and the
runner retries it (see `connectors.sdk.runner`).
"""

from __future__ import annotations

import asyncio
import json
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from redis import Redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from warmline.events.dedupe import DEFAULT_TTL

_IN_PROCESS_MEMORY = 10_000

REDIS_TIMEOUT_S = 5.0
"""How long one call to a connector's Redis may take to connect, and then to be answered, before
it fails: long enough for a busy Redis, short enough that a stop requested while Redis does not
answer ends the runner within seconds."""


def connect_redis(url: str, *, timeout: float = REDIS_TIMEOUT_S) -> Redis:
    """The client of a connector's dedupe keys, writes in doubt and retry tries.

    Each call gets `timeout` to connect and `timeout` to be answered, and fails then; the client
    is told not to retry it itself. The runner retries an outage, with its backoff, logged, and
    stops when asked between two tries, which retries inside the client would hold up."""
    return Redis.from_url(
        url,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 0),
    )


class InDoubt:
    """The keys of one connector's writes in doubt (`scope`: its dedupe scope), for `ttl`.

    Without a Redis client (a connector built outside `warmline connector run` or the test kit)
    the marks are kept in this process only, and a restart forgets them.
    """

    def __init__(
        self, client: Redis | None = None, *, scope: str = "", ttl: timedelta = DEFAULT_TTL
    ) -> None:
        self._client = client
        self._scope = scope
        self._prefix = f"warmline:in-doubt:{scope}:"
        self._ttl_ms = int(ttl.total_seconds() * 1000)
        self._local: OrderedDict[str, None] = OrderedDict()

    def retry_state(self) -> RetryState:
        """Retry tries kept beside these marks (same client, same scope): the runner's own when
        it is given none."""
        return RetryState(self._client, scope=self._scope)

    async def mark(self, key: str) -> None:
        """Before the write. A Redis error propagates (the runner retries the event), so no write
        goes out that a later attempt would not know to look for."""
        if self._client is None:
            self._local[key] = None
            self._local.move_to_end(key)
            while len(self._local) > _IN_PROCESS_MEMORY:
                self._local.popitem(last=False)
            return
        await asyncio.to_thread(self._client.set, self._prefix + key, b"1", px=self._ttl_ms)

    async def holds(self, key: str) -> bool:
        """Whether a write of `key` failed without a refusal (in this process or another)."""
        if self._client is None:
            return key in self._local
        return bool(await asyncio.to_thread(self._client.exists, self._prefix + key))

    async def clear(self, key: str) -> None:
        """Once the API answered (or the object was found): no more looking up."""
        if self._client is None:
            self._local.pop(key, None)
            return
        await asyncio.to_thread(self._client.delete, self._prefix + key)


@dataclass(frozen=True)
class SavedTries:
    """How far an event's delivery got, as another process of the connector reads it."""

    attempts: int
    """Calls made."""
    failures: int
    """Those that count toward `max_attempts`."""
    not_before: float
    """`time.time()` (wall clock, as it crosses processes) before which the API asked not to be
    called again; 0 when it named no Retry-After."""


class RetryState:
    """The tries of one connector's events not yet done (`scope`: its dedupe scope).

    The runner saves an event's tries when it fails or is held for a Retry-After, reads them when
    the event starts (once per batch), and clears them once it is done or dead-lettered, so a
    restarted process, or another one of the consumer group after a rebalance, goes on where the
    last one stopped: it honours the Retry-After the API gave, and counts the failures toward
    `max_attempts` from where they were. Each save keeps them for the `ttl` the runner passes (its
    `max_retry_after` and an hour, `TRIES_MARGIN`).

    Without a Redis client (a runner built outside `warmline connector run` or the test kit) the
    tries are kept in this process only, and a restart forgets them. Redis errors propagate; the
    runner's rule for them is in its module docstring.
    """

    def __init__(self, client: Redis | None = None, *, scope: str = "") -> None:
        self._client = client
        self._prefix = f"warmline:tries:{scope}:"
        self._local: OrderedDict[str, SavedTries] = OrderedDict()

    async def load(self, event_ids: Sequence[str]) -> dict[str, SavedTries]:
        """The saved tries of those of `event_ids` that have any (one round trip)."""
        if not event_ids:
            return {}
        if self._client is None:
            return {i: self._local[i] for i in event_ids if i in self._local}
        client = self._client
        keys = [self._prefix + i for i in event_ids]
        values = await asyncio.to_thread(client.mget, keys)
        found: dict[str, SavedTries] = {}
        for event_id, value in zip(event_ids, values, strict=True):
            tries = _parse_tries(value)
            if tries is not None:
                found[event_id] = tries
        return found

    async def save(self, event_ids: Sequence[str], tries: SavedTries, *, ttl: timedelta) -> None:
        """Remember `tries` for each of `event_ids` for `ttl` (from now: each save renews it)."""
        if self._client is None:
            for event_id in event_ids:
                self._local[event_id] = tries
                self._local.move_to_end(event_id)
            while len(self._local) > _IN_PROCESS_MEMORY:
                self._local.popitem(last=False)
            return
        value = json.dumps(
            {"attempts": tries.attempts, "failures": tries.failures, "not_before": tries.not_before}
        ).encode()
        ttl_ms = max(1, int(ttl.total_seconds() * 1000))
        pipeline = self._client.pipeline(transaction=False)
        for event_id in event_ids:
            pipeline.set(self._prefix + event_id, value, px=ttl_ms)
        await asyncio.to_thread(pipeline.execute)

    async def clear(self, event_ids: Sequence[str]) -> None:
        """Once the events are done or dead-lettered."""
        if not event_ids:
            return
        if self._client is None:
            for event_id in event_ids:
                self._local.pop(event_id, None)
            return
        await asyncio.to_thread(self._client.delete, *[self._prefix + i for i in event_ids])


def _parse_tries(value: object) -> SavedTries | None:
    """A saved value, or None for none (or one this version cannot read: a fresh start)."""
    if not isinstance(value, bytes | str):
        return None
    try:
        saved = json.loads(value)
        return SavedTries(
            attempts=int(saved["attempts"]),
            failures=int(saved["failures"]),
            not_before=float(saved["not_before"]),
        )
    except (ValueError, TypeError, KeyError):
        return None
