"""Writes in doubt: a request to an API that failed without a refusal, so it may have happened.

A connector marks the write before sending it and clears the mark once the API answered; a
handler that finds the mark looks the object up before creating it again. The marks live in the
Redis that drops the connector's duplicate events (same client, same scope), so they outlive the
process: an event redelivered to a restarted process, or to another one of the consumer group,
is looked up too rather than created a second time.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from datetime import timedelta

from redis import Redis

from warmline.events.dedupe import DEFAULT_TTL

_IN_PROCESS_MEMORY = 10_000


class InDoubt:
    """The keys of one connector's writes in doubt (`scope`: its dedupe scope), for `ttl`.

    Without a Redis client (a connector built outside `warmline connector run` or the test kit)
    the marks are kept in this process only, and a restart forgets them.
    """

    def __init__(
        self, client: Redis | None = None, *, scope: str = "", ttl: timedelta = DEFAULT_TTL
    ) -> None:
        self._client = client
        self._prefix = f"warmline:in-doubt:{scope}:"
        self._ttl_ms = int(ttl.total_seconds() * 1000)
        self._local: OrderedDict[str, None] = OrderedDict()

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
