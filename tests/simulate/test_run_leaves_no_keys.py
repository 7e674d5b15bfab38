"""`warmline simulate --redis URL --kafka ADDRESS`: a run deletes its Redis keys and its topics
when it ends, so runs against a shared Redis do not pile up wellness views (which have no TTL),
tracks and live-view state, nor runs against a shared broker two topics each."""

from __future__ import annotations

from pathlib import Path

from kafka import KafkaAdminClient
from redis import Redis

from warmline.services import Endpoints
from warmline.simulate import load_scenario, run_scenario

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ROOT / "examples" / "scenarios"


def _simulate_keys(redis: Redis) -> set[bytes]:
    return set(redis.scan_iter(match="simulate-*", count=500))


def _simulate_topics(kafka: str) -> set[str]:
    admin = KafkaAdminClient(bootstrap_servers=kafka)
    try:
        return {t for t in admin.list_topics() if t.startswith("simulate-")}
    finally:
        admin.close()


def test_a_run_leaves_no_keys_in_the_redis_it_was_given(embedded_services: Endpoints) -> None:
    assert embedded_services.redis is not None
    assert embedded_services.kafka is not None
    redis = Redis.from_url(embedded_services.redis)
    try:
        before = _simulate_keys(redis)
        topics_before = _simulate_topics(embedded_services.kafka)
        # A conversation (live view, exposure track, wellness views) and the annotation loop
        # (gold labels).
        for name in ("decline-next-candidate", "annotator-exposure-counts"):
            report = run_scenario(
                load_scenario(SCENARIOS / f"{name}.yaml"),
                kafka=embedded_services.kafka,
                redis=embedded_services.redis,
            )
            assert report.passed, [r.detail for r in report.results if not r.passed]
        assert _simulate_keys(redis) - before == set()
        assert _simulate_topics(embedded_services.kafka) - topics_before == set()
    finally:
        redis.close()
