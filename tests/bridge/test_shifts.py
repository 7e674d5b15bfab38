"""The shift store on both Redis servers warmline runs with: the system's (7) and the demo's
embedded one (6.2), which lacks `EXPIREAT`'s `NX` and `GT`."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from redis import Redis

from warmline.bridge.shifts import SHIFT_RETENTION, ShiftStore
from warmline.events.catalog import InboundShift


def shift(shift_id: str, *, starts_in: timedelta) -> InboundShift:
    """A shift starting `starts_in` from now: the expiry is measured from the same clock, when the
    test runs (not when the module was collected, minutes earlier in a full run)."""
    starts = datetime.now(UTC).replace(microsecond=0) + starts_in
    return InboundShift(
        worker_id="vol-aoife",
        shift_id=shift_id,
        starts_at=starts,
        ends_at=starts + timedelta(hours=8),
    )


def test_a_workers_shifts_expire_after_the_latest_one_and_never_sooner(any_redis: str) -> None:
    store = ShiftStore.connect(any_redis, deployment="test", prefix=f"t-{uuid.uuid4().hex[:8]}")
    redis = Redis.from_url(any_redis)
    key = store.key("vol-aoife")

    def expires_in() -> float:
        return float(redis.ttl(key))

    try:
        assert store.record(shift("s-today", starts_in=timedelta(0)))
        today = (SHIFT_RETENTION + timedelta(hours=8)).total_seconds()
        assert expires_in() == pytest.approx(today, abs=60)

        # A later shift extends the expiry; an earlier one, sent after it, does not shorten it.
        assert store.record(shift("s-next-week", starts_in=timedelta(days=7)))
        assert store.record(shift("s-tomorrow", starts_in=timedelta(days=1)))
        assert expires_in() == pytest.approx(today + timedelta(days=7).total_seconds(), abs=60)
        assert [s.shift_id for s in store.shifts("vol-aoife")] == [
            "s-today",
            "s-tomorrow",
            "s-next-week",
        ]

        # A shift that ended longer ago than the retention is not kept.
        assert not store.record(shift("s-old", starts_in=-SHIFT_RETENTION - timedelta(days=1)))
        assert len(store.shifts("vol-aoife")) == 3
    finally:
        redis.delete(key)
        redis.close()
        store.close()
