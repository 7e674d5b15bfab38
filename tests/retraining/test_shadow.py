"""Shadow mode: a candidate scores live traffic beside the current model without acting."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from redis import Redis
from temporalio.testing import WorkflowEnvironment
from typer.testing import CliRunner

from tests.retraining.conftest import Deployment, Running, write_config
from warmline.cli import app
from warmline.events import EventType
from warmline.events.catalog import ModelPromoted, parse_data
from warmline.retraining import client as retraining
from warmline.retraining import promotion
from warmline.retraining.contracts import RoundRequest
from warmline.retraining.rounds import train_candidate
from warmline.retraining.shadow import RegistryProvider, ShadowLog
from warmline.triage import registry
from warmline.triage.local import MODEL_CARD, LocalModel
from warmline.triage.provider import triage
from warmline.triage.types import TriageRequest

MESSAGES = [
    "I am so angry about this bill",
    "thank you, that was really helpful",
    "my dad died last week and I can't cope",
    "where is my parcel?",
    "this is the worst service ever",
    "ok",
]


@pytest.fixture
def shadow_log(redis_url: str, deployment: Deployment) -> Iterator[ShadowLog]:
    client = Redis.from_url(redis_url)
    yield ShadowLog(client, deployment=deployment.settings.deployment)
    client.close()


def _requests() -> list[TriageRequest]:
    return [
        TriageRequest(tenant_id="t", conversation_id="c", message_id=str(i), text=text)
        for i, text in enumerate(MESSAGES)
    ]


def test_a_candidate_in_shadow_scores_every_message_and_decides_nothing(
    deployment: Deployment, shadow_log: ShadowLog, tmp_path: Path, redis_url: str
) -> None:
    settings = deployment.settings
    deployment.add_gold(0, 300)
    candidate = train_candidate(
        settings, deployment.store.read(settings.taxonomy), round_id="test/round-1"
    )
    provider = RegistryProvider(
        settings.registry, settings.taxonomy, shadow_log=shadow_log, check_every=0.0
    )
    serving = provider.model_version
    alone = [triage(provider, r) for r in _requests()]

    promotion.start_shadow(settings.registry, settings.taxonomy, candidate.version)
    shadowed = [triage(provider, r) for r in _requests()]

    # What triage answers (and the conversation acts on) is the current model's reading.
    assert shadowed == alone
    assert {r.model_version for r in shadowed} == {serving}
    stats = shadow_log.read(settings.taxonomy, candidate.version)
    assert stats.messages == len(MESSAGES)
    assert 0 <= stats.same_labels <= stats.messages
    assert stats.same_top_emotion <= stats.messages

    config = write_config(tmp_path, deployment)
    result = CliRunner().invoke(
        app,
        ["triage", "shadow", "--config", str(config), "--redis", redis_url, "--json"],
    )
    assert result.exit_code == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown["version"] == candidate.version
    assert shown["messages"] == len(MESSAGES)
    assert shown["in_shadow"] is True
    assert shown["current"] == "v1"

    promotion.clear_shadow(settings.registry, settings.taxonomy, candidate.version)
    triage(provider, _requests()[0])
    assert shadow_log.read(settings.taxonomy, candidate.version).messages == len(MESSAGES)


def test_shadow_command_without_any_shadow_says_so(deployment: Deployment, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["triage", "shadow", "--config", str(write_config(tmp_path, deployment))]
    )
    assert result.exit_code == 2
    assert "no candidate has been in shadow" in result.stderr


def test_shadow_command_names_a_version_that_was_never_in_shadow(
    deployment: Deployment, tmp_path: Path
) -> None:
    """A mistyped or never-shadowed `--version` is refused, not shown as a candidate that scored
    no message."""
    settings = deployment.settings
    config = str(write_config(tmp_path, deployment))
    where = settings.registry / settings.taxonomy
    promotion.start_shadow(settings.registry, settings.taxonomy, "v1")
    promotion.note(
        settings.registry,
        settings.taxonomy,
        promotion.Action.SHADOW_STARTED,
        "v1",
        actor="test",
        reason="test",
    )
    promotion.clear_shadow(settings.registry, settings.taxonomy, "v1")
    registry.publish(
        settings.registry,
        LocalModel.load(where / "v1"),
        data={},
        metrics={},
        command=["tests", "v2"],
        make_current=False,
    )

    for asked, problem in (
        ("v9", f"error: {where}: no version 'v9'; versions: v1, v2\n"),
        ("v2", f"error: {where}: v2 has never been in shadow (candidates that were: v1)\n"),
    ):
        result = CliRunner().invoke(
            app, ["triage", "shadow", "--config", config, "--version", asked]
        )
        assert result.exit_code == 2, result.stdout
        assert result.stderr == problem


async def test_shadow_mode_keeps_a_passing_candidate_in_shadow_then_promotes_it(
    workflow_env: WorkflowEnvironment,
    worker: Running,
    deployment: Deployment,
    shadow_log: ShadowLog,
) -> None:
    settings = deployment.settings.model_copy(
        update={"shadow": True, "shadow_period": timedelta(hours=6)}
    )
    deployment.add_gold(0, 300)
    provider = RegistryProvider(
        settings.registry, settings.taxonomy, shadow_log=shadow_log, check_every=0.0
    )
    before = provider.model_version
    # A signal, not the run_round update: the test server loses an update across skipped time.
    await retraining.signal_round(
        worker.client, settings, RoundRequest(reason="test"), task_queue=worker.task_queue
    )
    for _ in range(300):
        status = await retraining.status(worker.client, settings.deployment, settings.taxonomy)
        if status.in_shadow and promotion.shadow_version(settings.registry, settings.taxonomy):
            break
        await asyncio.sleep(0.2)
    else:
        raise AssertionError("the candidate never went into shadow")
    assert status.in_shadow == "v2"
    for request in _requests():
        assert triage(provider, request).model_version == before
    assert registry.current(settings.registry / settings.taxonomy) == "v1"

    await workflow_env.sleep(timedelta(hours=6, minutes=1))
    for _ in range(300):
        status = await retraining.status(worker.client, settings.deployment, settings.taxonomy)
        if status.last_decision is not None:
            break
        await asyncio.sleep(0.2)
    decision = status.last_decision
    assert decision is not None

    assert decision.outcome == "promoted", decision.reason
    assert decision.shadow is not None
    assert decision.shadow.messages == len(MESSAGES)
    assert promotion.shadow_version(settings.registry, settings.taxonomy) is None
    assert provider.triage(_requests()[0]).model_version != before
    events = await worker.events.wait_for(
        f"{settings.deployment}/{settings.taxonomy}", until=EventType.MODEL_PROMOTED
    )
    data = parse_data(EventType.MODEL_PROMOTED, events[-1].data)
    assert isinstance(data, ModelPromoted)
    assert data.shadow is not None
    assert data.shadow["messages"] == len(MESSAGES)


def test_an_unreachable_redis_never_changes_the_answer_and_pauses_shadow_scoring(
    deployment: Deployment,
) -> None:
    settings = deployment.settings
    deployment.add_gold(0, 300)
    candidate = train_candidate(
        settings, deployment.store.read(settings.taxonomy), round_id="test/round-1"
    )
    promotion.start_shadow(settings.registry, settings.taxonomy, candidate.version)
    # Nothing listens on port 1: every write fails at once.
    dead = ShadowLog(Redis.from_url("redis://127.0.0.1:1/0"), deployment=settings.deployment)
    provider = RegistryProvider(
        settings.registry, settings.taxonomy, shadow_log=dead, check_every=0.0
    )
    plain = RegistryProvider(settings.registry, settings.taxonomy, check_every=0.0)

    answers = [triage(provider, r) for r in _requests()]

    assert answers == [triage(plain, r) for r in _requests()]
    assert provider.shadow_paused
    assert not plain.shadow_paused


def _second_version(settings_registry: Path, taxonomy: str) -> Path:
    """v2: a copy of v1 (the tests' base model), not current."""
    source = settings_registry / taxonomy / "v1"
    copy = settings_registry / taxonomy / "v2"
    shutil.copytree(source, copy)
    return copy


@pytest.mark.parametrize("pointer", ["CURRENT", "SHADOW"])
def test_a_pointer_damaged_while_serving_never_stops_triage(
    deployment: Deployment, shadow_log: ShadowLog, pointer: str
) -> None:
    settings = deployment.settings
    provider = RegistryProvider(
        settings.registry, settings.taxonomy, shadow_log=shadow_log, check_every=0.0
    )
    request = _requests()[0]
    answer = triage(provider, request)

    (settings.registry / settings.taxonomy / pointer).write_bytes(b"v2\xff\n")

    # The model that works keeps serving; the damage is logged, as for a version that fails to
    # load, and the live answer is the same.
    assert triage(provider, request) == answer
    assert provider.version == "v1"


def test_a_shadow_candidate_that_failed_to_load_is_loaded_once_complete(
    deployment: Deployment, shadow_log: ShadowLog
) -> None:
    settings = deployment.settings
    provider = RegistryProvider(
        settings.registry, settings.taxonomy, shadow_log=shadow_log, check_every=0.0
    )
    candidate = _second_version(settings.registry, settings.taxonomy)
    card = (candidate / MODEL_CARD).read_bytes()
    # SHADOW is visible before the candidate's files (a copy onto the shared volume under way).
    (candidate / MODEL_CARD).unlink()
    promotion.start_shadow(settings.registry, settings.taxonomy, "v2")
    triage(provider, _requests()[0])
    assert shadow_log.read(settings.taxonomy, "v2").messages == 0

    (candidate / MODEL_CARD).write_bytes(card)
    for request in _requests():
        triage(provider, request)

    assert shadow_log.read(settings.taxonomy, "v2").messages == len(MESSAGES)


def test_shadow_command_never_prints_the_redis_password(
    deployment: Deployment, tmp_path: Path
) -> None:
    """An unreachable Redis is named without the password its URL carries, either way redis-py
    takes one (before the host or as `?password=`)."""
    settings = deployment.settings
    promotion.start_shadow(settings.registry, settings.taxonomy, "v1")
    config = str(write_config(tmp_path, deployment))
    for url in (
        "redis://:hunter2@127.0.0.1:1/0",
        "redis://127.0.0.1:1/0?password=hunter2",
    ):
        result = CliRunner().invoke(app, ["triage", "shadow", "--config", config, "--redis", url])
        assert result.exit_code == 1, result.output
        assert "Redis at redis://" in result.stderr
        assert "hunter2" not in result.output + result.stderr
