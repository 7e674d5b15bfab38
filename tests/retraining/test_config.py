"""From `annotation.retraining` to running settings, a serving provider and `triage retrain`."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.service import RPCError
from typer.testing import CliRunner

from tests.retraining.conftest import (
    Deployment,
    Running,
    run_worker,
    wait_for_status,
    write_config,
)
from tests.workflows.conftest import EventLog
from warmline.cli import app
from warmline.config.loader import load_config
from warmline.config.model import LocalProvider
from warmline.errors import ConfigError
from warmline.retraining import client as retraining
from warmline.retraining.contracts import RoundRequest, retraining_workflow_id
from warmline.retraining.settings import RetrainingDisabledError, retraining_settings
from warmline.retraining.shadow import RegistryProvider
from warmline.runtime import build_provider
from warmline.triage.local import LocalProvider as PlainLocalProvider
from workflows.retraining import MAX_QUEUED, RetrainingWorkflow


def test_the_configuration_becomes_settings(deployment: Deployment, tmp_path: Path) -> None:
    path = write_config(tmp_path, deployment, extra="    shadow: true\n    check_interval: 10m\n")
    settings = retraining_settings(load_config(path, resolve_secrets=False))
    expected = deployment.settings
    assert (settings.deployment, settings.taxonomy) == (expected.deployment, "group")
    assert settings.registry == expected.registry
    assert settings.crisis_labels == ("negative",)
    assert settings.shadow is True
    assert settings.check_interval.total_seconds() == 600
    assert settings.after_gold_labels == 300
    assert settings.promotion_margin == 0.02


def test_crisis_labels_must_belong_to_the_taxonomy(deployment: Deployment, tmp_path: Path) -> None:
    path = write_config(tmp_path, deployment, extra="    crisis_labels: [grief]\n")
    with pytest.raises(ConfigError) as error:
        load_config(path, resolve_secrets=False)
    rendered = "\n".join(d.render() for d in error.value.diagnostics)
    assert "crisis_labels ['grief'] are not labels of the 'group' model taxonomy" in rendered


def test_without_a_registry_retraining_is_off_and_says_why() -> None:
    root = Path(__file__).resolve().parents[2]
    config = load_config(root / "examples" / "online-shop" / "warmline.yaml", resolve_secrets=False)
    with pytest.raises(RetrainingDisabledError) as error:
        retraining_settings(config)
    assert "annotation.retraining.registry is not set" in str(error.value)


def test_a_local_model_path_that_is_a_registry_serves_its_current_version(
    deployment: Deployment,
) -> None:
    root = deployment.settings.registry
    served = build_provider(LocalProvider(type="local", model_path=root / "group"))
    assert isinstance(served, RegistryProvider)
    assert served.version == "v1"
    plain = build_provider(LocalProvider(type="local", model_path=root / "group" / "v1"))
    assert isinstance(plain, PlainLocalProvider)


@pytest.fixture
async def dev_worker(
    dev_client: Client, event_log: EventLog, redis_url: str, task_queue: str
) -> AsyncIterator[Running]:
    async for running in run_worker(dev_client, event_log, redis_url, task_queue):
        yield running


async def test_triage_retrain_runs_a_round_through_the_workers(
    dev_worker: Running, deployment: Deployment, tmp_path: Path, temporal_address: str
) -> None:
    path = write_config(tmp_path, deployment)
    deployment.add_gold(0, 300)
    args = ["triage", "retrain", "--config", str(path), "--temporal", temporal_address]
    args += ["--task-queue", dev_worker.task_queue, "--json"]
    try:
        # The command runs its own event loop, so it gets a thread of its own.
        result = await asyncio.to_thread(CliRunner().invoke, app, args)
    finally:
        with contextlib.suppress(RPCError):
            await dev_worker.client.get_workflow_handle(
                retraining_workflow_id(deployment.settings.deployment, "group")
            ).terminate()
    assert result.exit_code == 0, result.stderr
    decision = json.loads(result.stdout)
    # The example's margin is 0.02; these labels gain more than that.
    assert decision["outcome"] == "promoted", decision["reason"]
    assert decision["macro_f1_after"] >= decision["macro_f1_before"] + 0.02
    assert decision["gold"]["read"] == 300


async def test_triage_retrain_turned_away_by_the_workflow_is_one_line(
    dev_worker: Running, deployment: Deployment, tmp_path: Path, temporal_address: str
) -> None:
    """While a candidate spends its day in shadow, requests wait (here the schedule's, firing
    every hour); once `MAX_QUEUED` wait, the workflow refuses another, and the command says so
    instead of a traceback."""
    path = write_config(tmp_path, deployment, "    shadow: true\n    shadow_period: 24h\n")
    settings = retraining_settings(load_config(path, resolve_secrets=False))
    deployment.add_gold(0, 300)
    workflow_id = retraining_workflow_id(settings.deployment, settings.taxonomy)
    args = ["triage", "retrain", "--config", str(path), "--temporal", temporal_address]
    args += ["--task-queue", dev_worker.task_queue]
    client = dev_worker.client
    try:
        await retraining.signal_round(
            client, settings, RoundRequest(reason="test"), task_queue=dev_worker.task_queue
        )
        await wait_for_status(
            client, settings, lambda s: s.in_shadow is not None, "candidate in shadow"
        )
        handle = client.get_workflow_handle_for(RetrainingWorkflow.run, workflow_id)
        for _ in range(MAX_QUEUED):
            await handle.signal(
                RetrainingWorkflow.retrain_now,
                RoundRequest(trigger="schedule", reason="scheduled retraining"),
            )
        # The command runs its own event loop, so it gets a thread of its own.
        result = await asyncio.to_thread(CliRunner().invoke, app, args)
    finally:
        with contextlib.suppress(RPCError):
            await client.get_workflow_handle(workflow_id).terminate()
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == (
        f"error: {workflow_id} refused the round: {MAX_QUEUED} rounds are already waiting; ask "
        "again once they are decided\n"
    )
