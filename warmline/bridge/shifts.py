"""Shifts from the HR schedule, kept in Redis until the wellness workflow takes them over.

Shifts are acted on by the wellness issue's workflow (exposure budgets per shift, breaks,
rotation). Until that workflow exists the bridge cannot signal it, so it records each shift here,
one Redis hash per worker with a field per shift id, and the wellness workflow reads them. A shift
sent again (or corrected under the same id) overwrites the earlier one.

Beside the shifts, one hash per worker keeps the time of the latest HR event the bridge applied
to their availability and to each of their shifts (`mark_applied`), so an older event arriving
after it is recognised (`superseded_by`) and not applied.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Final

from redis import Redis

from warmline.events.catalog import InboundShift

SHIFT_RETENTION = timedelta(days=30)
"""A worker's shifts are kept this long past the end of their latest shift, for reports."""

_KEEP = """
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
local expires = tonumber(ARGV[3])
local left = redis.call('PTTL', KEYS[1])
if left >= 0 then
    local now = redis.call('TIME')
    if tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000) + left >= expires then
        return 0
    end
end
redis.call('PEXPIREAT', KEYS[1], expires)
return 1
"""
"""Keep a shift (field ARGV[1], JSON ARGV[2]) in the hash KEYS[1] and expire the hash at ARGV[3]
(Unix ms) unless it already expires later: the expiry only ever grows. `EXPIREAT`'s `NX` and `GT`
would say that in two commands, but only from Redis 7 on; the script runs on Redis 6 too (the
demo's embedded Redis is 6.2), and as one step."""

_APPLIED = """
local known = redis.call('HGET', KEYS[1], ARGV[1])
if (not known) or tonumber(known) < tonumber(ARGV[2]) then
    redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
"""
"""Remember that what is named ARGV[1] (`availability`, `shift <id>`) was applied as of ARGV[2]
(the event's time, Unix microseconds) in the hash KEYS[1], unless a later time is known; the hash
expires ARGV[3] ms after its last write."""
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


class ShiftStore:
    """The shifts of one deployment's workers."""

    def __init__(self, client: Redis, *, deployment: str, prefix: str = "warmline:shifts") -> None:
        self._client = client
        self._prefix = f"{prefix}:{deployment}:"
        self._keep = client.register_script(_KEEP)
        self._applied_prefix = f"{prefix}-applied:{deployment}:"
        self._applied = client.register_script(_APPLIED)

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
        expires_ms = int(expires.timestamp() * 1000)
        self._keep(
            keys=[self.key(shift.worker_id)],
            args=[shift.shift_id, shift.model_dump_json(), expires_ms],
        )
        return True

    def shifts(self, worker_id: str) -> list[InboundShift]:
        """The worker's kept shifts, earliest first."""
        stored = self._client.hgetall(self.key(worker_id))
        shifts = [InboundShift.model_validate_json(value) for value in stored.values()]
        return sorted(shifts, key=lambda shift: shift.starts_at)

    def applied_key(self, worker_id: str) -> str:
        """The Redis hash of the times of the HR events applied for `worker_id`: field =
        `availability` or `shift <shift id>`, value = the event's time in Unix microseconds."""
        return self._applied_prefix + worker_id

    def superseded_by(self, worker_id: str, what: str, at: datetime) -> datetime | None:
        """The time of an event about `what` applied before that is later than `at` (so an event
        of time `at` is out of date), or None."""
        known = self._client.hget(self.applied_key(worker_id), what)
        if known is None or int(known) <= _micros(at):
            return None
        return _EPOCH + timedelta(microseconds=int(known))

    def mark_applied(self, worker_id: str, what: str, at: datetime) -> None:
        """Remember that an event about `what` of time `at` was applied (the latest time wins),
        for `SHIFT_RETENTION` after the worker's last such event."""
        self._applied(
            keys=[self.applied_key(worker_id)],
            args=[what, _micros(at), int(SHIFT_RETENTION.total_seconds() * 1000)],
        )

    def close(self) -> None:
        self._client.close()


def _micros(at: datetime) -> int:
    return (at - _EPOCH) // timedelta(microseconds=1)
