"""`warmline demo --redis URL --kafka ADDRESS`: a run deletes its Redis keys and its topics when
it ends, so demos against a shared Redis do not pile up wellness views (which have no TTL), tracks
and live-view state, nor demos against a shared broker two topics each."""

from __future__ import annotations

from kafka import KafkaAdminClient
from redis import Redis

from warmline.demo.runner import DemoOptions, run_demo
from warmline.services import Endpoints


def _topics(kafka: str) -> set[str]:
    admin = KafkaAdminClient(bootstrap_servers=kafka)
    try:
        return set(admin.list_topics())
    finally:
        admin.close()


def test_a_demo_leaves_no_keys_in_the_redis_it_was_given(embedded_services: Endpoints) -> None:
    assert embedded_services.redis is not None
    assert embedded_services.kafka is not None
    redis = Redis.from_url(embedded_services.redis)
    try:
        before = set(redis.scan_iter(count=500))
        topics_before = _topics(embedded_services.kafka)
        # Temporal is started by the demo itself; Kafka and Redis are the session's.
        options = DemoOptions(
            conversations=3, kafka=embedded_services.kafka, redis=embedded_services.redis
        )
        summary = run_demo(options)
        assert summary.conversations == 3
        assert summary.wellness.exposure_minutes  # the wellness views were written
        assert set(redis.scan_iter(count=500)) - before == set()
        assert {t for t in _topics(embedded_services.kafka) - topics_before if "demo" in t} == set()
    finally:
        redis.close()
