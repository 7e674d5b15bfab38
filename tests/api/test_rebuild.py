"""The desk rebuilds a lost live view before it answers from it, from its own deployment's
workflows only: stand-in escalations on the dev server, the live view in real Redis."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from temporalio.client import Client
from temporalio.worker import Worker

from tests.api.conftest import IdleDeployment, bearer
from tests.api.test_flow import next_event
from tests.api.test_supervisor import supervisor
from tests.api.test_workers_down import waiting_escalation
from tests.liveview.test_liveview import StandInEscalation
from warmline.api.v1 import specialist_pb2 as pb
from warmline.api.v1 import supervisor_pb2 as spb
from warmline.escalation import EscalationView
from warmline.liveview import ESCALATIONS_QUERY

OTHER_DEPLOYMENT = "another-deployment"
"""The task queue of another deployment in the same namespace, with its own Redis."""


@pytest.fixture
async def stand_ins(idle_deployment: IdleDeployment) -> AsyncIterator[IdleDeployment]:
    """Workers that answer `view` for stand-in escalations, on this deployment's task queue and on
    another deployment's."""
    async with (
        Worker(
            idle_deployment.client,
            task_queue=idle_deployment.task_queue,
            workflows=[StandInEscalation],
        ),
        Worker(idle_deployment.client, task_queue=OTHER_DEPLOYMENT, workflows=[StandInEscalation]),
    ):
        yield idle_deployment


async def start(client: Client, view: EscalationView, task_queue: str) -> None:
    await client.start_workflow(
        "EscalationWorkflow", view, id=view.escalation_id, task_queue=task_queue
    )


async def listed(client: Client, count: int) -> None:
    """Wait until visibility lists `count` running escalations (a rebuild lists them so)."""
    for _ in range(100):
        if (await client.count_workflows(ESCALATIONS_QUERY)).count == count:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"visibility never listed {count} escalations")


async def test_supervisors_see_a_paged_escalation_after_the_live_view_is_lost(
    stand_ins: IdleDeployment,
) -> None:
    paged = waiting_escalation("c-paged", "vol-aoife").model_copy(
        update={
            "paged_supervisor": "sup-day",
            "paged_at": datetime.now(UTC),
            "paged_reason": "nobody accepted in time",
        }
    )
    await start(stand_ins.client, paged, stand_ins.task_queue)
    await listed(stand_ins.client, 1)
    stand_ins.lose_live_view()  # Redis restarted without persistence

    response = await stand_ins.api.supervisor.ListPagedEscalations(
        spb.ListPagedEscalationsRequest(), metadata=supervisor("sup-day")
    )

    assert [(e.conversation_id, e.supervisor) for e in response.escalations] == [
        ("c-paged", "sup-day")
    ]


async def test_a_rebuild_reads_only_this_deployments_escalations(
    stand_ins: IdleDeployment,
) -> None:
    """Another deployment's offer to a namesake of vol-aoife stays out of this live view, and an
    escalation whose workers are down (another deployment's) holds up nobody's watch."""
    foreign = waiting_escalation("c-foreign", "vol-aoife")
    await start(stand_ins.client, foreign, OTHER_DEPLOYMENT)
    stuck = waiting_escalation("c-stuck", "vol-aoife")
    await start(stand_ins.client, stuck, "a-deployment-whose-workers-are-down")
    await listed(stand_ins.client, 2)
    stand_ins.lose_live_view()

    watch = stand_ins.api.stub.WatchOffers(pb.WatchOffersRequest(), metadata=bearer("vol-aoife"))
    first = await asyncio.wait_for(next_event(watch), 8)
    watch.cancel()

    assert first.WhichOneof("event") == "synced"
    assert await asyncio.to_thread(stand_ins.live_view.offers_for, "vol-aoife") == []
    assert await asyncio.to_thread(stand_ins.live_view.is_built)
