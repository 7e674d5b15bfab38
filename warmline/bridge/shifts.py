"""Shifts from the HR schedule, kept in Redis until the wellness workflow takes them over.

Shifts are acted on by the wellness issue's workflow (exposure budgets per shift, breaks,
rotation). Until that workflow exists the bridge cannot signal it, so it records each shift here,
one Redis hash per worker with a field per shift id, and the wellness workflow reads them. A shift
sent again (or corrected under the same id) overwrites the earlier one: the HR topic is ordered per
worker, so the latest word wins.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from redis import Redis

from warmline.events.catalog import InboundShift

SHIFT_RETENTION = timedelta(days=30)
"""A worker's shifts are kept this long past the end of their latest shift, for reports."""


class ShiftStore:
    """The shifts of one deployment's workers."""

    def __init__(self, client: Redis, *, deployment: str, prefix: str = "warmline:shifts") -> None:
        self._client = client
        self._prefix = f"{prefix}:{deployment}:"

    @classmethod
    def connect(cls, url: str, *, deployment: str, prefix: str = "warmline:shifts") -> ShiftStore:
        return cls(Redis.from_url(url), deployment=deployment, prefix=prefix)

    def key(self, worker_id: str) -> str:
        """The Redis hash of `worker_id`'s shifts: field = shift id, value = the shift's JSON."""
        return self._prefix + worker_id

    def record(self, shift: InboundShift, *, now: datetime | None = None) -> bool:
        """Keep the shift; False (and nothing kept) when it ended longer ago than the retention."""
        expires = shift.ends_at + SHIFT_RETENTION
        if expires <= (now or datetime.now(UTC)):
            return False
        key = self.key(shift.worker_id)
        pipeline = self._client.pipeline(transaction=True)
        pipeline.hset(key, shift.shift_id, shift.model_dump_json())
        # NX gives a new hash its expiry; GT only ever extends it (Redis >= 7).
        pipeline.expireat(key, expires, nx=True)
        pipeline.expireat(key, expires, gt=True)
        pipeline.execute()
        return True

    def shifts(self, worker_id: str) -> list[InboundShift]:
        """The worker's kept shifts, earliest first."""
        stored = self._client.hgetall(self.key(worker_id))
        shifts = [InboundShift.model_validate_json(value) for value in stored.values()]
        return sorted(shifts, key=lambda shift: shift.starts_at)

    def close(self) -> None:
        self._client.close()
