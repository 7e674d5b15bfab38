"""A round that fails while its candidate is in shadow ends that shadow: no round will ever
promote or reject the candidate, so `SHADOW` must not go on naming it (real Temporal on the
time-skipping server, Kafka, Redis and training)."""

from __future__ import annotations

from datetime import timedelta

from temporalio.testing import WorkflowEnvironment

from tests.retraining.conftest import Deployment, Running, wait_for_status
from warmline.retraining import client as retraining
from warmline.retraining import promotion
from warmline.retraining.contracts import RoundRequest
from warmline.triage.local import CURRENT


async def test_a_round_failing_in_shadow_ends_its_candidates_shadow(
    workflow_env: WorkflowEnvironment,
    worker: Running,
    deployment: Deployment,
) -> None:
    settings = deployment.settings.model_copy(
        update={"shadow": True, "shadow_period": timedelta(hours=6)}
    )
    deployment.add_gold(0, 300)
    # A signal, not the run_round update: the test server loses an update across skipped time.
    await retraining.signal_round(
        worker.client, settings, RoundRequest(reason="test"), task_queue=worker.task_queue
    )
    await wait_for_status(
        worker.client,
        settings,
        lambda s: (
            s.in_shadow == "v2"
            and promotion.shadow_version(settings.registry, settings.taxonomy) == "v2"
        ),
        "candidate in shadow",
    )
    # During the candidate's shadow, CURRENT is emptied (a full disk while it was rewritten): the
    # round cannot decide and fails for good.
    pointer = settings.registry / settings.taxonomy / CURRENT
    pointer.write_bytes(b"")

    await workflow_env.sleep(timedelta(hours=6, minutes=1))
    status = await wait_for_status(
        worker.client,
        settings,
        lambda s: s.last_decision is not None and not s.running,
        "decision after the shadow period",
    )

    decision = status.last_decision
    assert decision is not None
    assert decision.outcome == "failed", decision
    assert "is empty, and names no version" in decision.reason
    assert status.in_shadow is None
    # Workers stop scoring traffic with a candidate that nothing will decide.
    assert promotion.shadow_version(settings.registry, settings.taxonomy) is None
    assert pointer.read_bytes() == b""
