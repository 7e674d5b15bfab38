"""`warmline demo --redis URL`: a run deletes its Redis keys when it ends, so demos against a
shared Redis do not pile up wellness views (which have no TTL), tracks and live-view state."""

from __future__ import annotations

from redis import Redis

from warmline.demo.runner import DemoOptions, run_demo
from warmline.services import Endpoints


def test_a_demo_leaves_no_keys_in_the_redis_it_was_given(embedded_services: Endpoints) -> None:
    assert embedded_services.redis is not None
    redis = Redis.from_url(embedded_services.redis)
    try:
        before = set(redis.scan_iter(count=500))
        # Temporal is started by the demo itself; Kafka and Redis are the session's.
        options = DemoOptions(
            conversations=3, kafka=embedded_services.kafka, redis=embedded_services.redis
        )
        summary = run_demo(options)
        assert summary.conversations == 3
        assert summary.wellness.exposure_minutes  # the wellness views were written
        assert set(redis.scan_iter(count=500)) - before == set()
    finally:
        redis.close()
