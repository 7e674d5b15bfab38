"""The wellness gRPC service over a real channel, the time-skipping server's workflows and Redis."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import grpc
import pytest
import redis
from temporalio.testing import WorkflowEnvironment

from activities.routing import ensure_roster
from tests.api.conftest import load_peer_support, token_of
from tests.wellness.conftest import WellnessDeployment
from warmline.api.auth import Authenticator
from warmline.api.desk import Desk
from warmline.api.server import start_server
from warmline.api.v1 import specialist_pb2, specialist_pb2_grpc
from warmline.api.v1 import wellness_pb2 as pb
from warmline.api.v1 import wellness_pb2_grpc as pb_grpc
from warmline.api.wellness import WellnessAuthenticator, WellnessService
from warmline.config.model import WarmlineConfig
from warmline.liveview import LiveView
from warmline.runtime import roster_settings, wellness_policy, worker_kinds
from warmline.wellness.client import WellnessClient

LEAD, NOT_LEAD = "sup-night", "sup-day"


def supervisor_token(config: WarmlineConfig, supervisor: str) -> str:
    [found] = [s for s in config.routing.supervisors if s.id == supervisor]
    return found.token.reveal()


def bearer(token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),)


@dataclass
class WellnessApi:
    stub: pb_grpc.WellnessServiceStub
    config: WarmlineConfig
    deployment: WellnessDeployment
    specialists: specialist_pb2_grpc.SpecialistServiceStub


@pytest.fixture
async def api(
    workflow_env: WorkflowEnvironment, wellness: WellnessDeployment, redis_url: str
) -> AsyncIterator[WellnessApi]:
    config = load_peer_support()
    client = WellnessClient(
        workflow_env.client,
        deployment=wellness.deployment,
        policy=wellness_policy(config),
        task_queue=wellness.task_queue,
        kinds=worker_kinds(config),
    )
    service = WellnessService(
        config, client, wellness.store, WellnessAuthenticator.from_config(config)
    )
    # Built (as after a rebuild): going unavailable reads the caller's offers from it, and the
    # time-skipping server cannot list the workflows a rebuild would read.
    prefix = f"test-{uuid.uuid4().hex[:8]}"
    live_view = LiveView.connect(redis_url, prefix=prefix)
    marker = redis.Redis.from_url(redis_url)
    marker.set(f"{prefix}:built", "2025-01-01T00:00:00+00:00")
    marker.close()
    roster_id = f"roster/wellness-{wellness.task_queue}"
    await ensure_roster(
        workflow_env.client, roster_id, roster_settings(config), task_queue=wellness.task_queue
    )
    with ThreadPoolExecutor(2) as executor:
        desk = Desk(workflow_env.client, live_view, config, executor, roster_id=roster_id)
        server, port = await start_server(
            desk, Authenticator.from_config(config), "127.0.0.1:0", wellness=service
        )
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
        try:
            yield WellnessApi(
                pb_grpc.WellnessServiceStub(channel),
                config,
                wellness,
                specialist_pb2_grpc.SpecialistServiceStub(channel),
            )
        finally:
            await channel.close(None)  # no grace, as the default: grpc-stubs omits it
            await server.stop(grace=None)
            live_view.close()


async def refused(call: object) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call  # type: ignore[misc]  # a grpc.aio call object is awaitable
    return caught.value.code(), caught.value.details() or ""


async def test_a_worker_checks_in_takes_a_break_at_once_and_ends_it(api: WellnessApi) -> None:
    me = bearer(token_of("vol-aoife"))
    stub = api.stub
    code, _ = await refused(stub.SubmitCheckIn(pb.SubmitCheckInRequest(mood=9), metadata=me))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    code, _ = await refused(
        stub.SubmitCheckIn(pb.SubmitCheckInRequest(mood=3, note="x" * 2001), metadata=me)
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT

    state = await stub.SubmitCheckIn(
        pb.SubmitCheckInRequest(mood=2, note="rough call", break_now=True), metadata=me
    )
    assert state.on_break
    # Routing reads Redis: the break is there as soon as the call returns.
    assert api.deployment.store.read(["vol-aoife"])["vol-aoife"].on_break
    mine = await stub.GetMyWellness(pb.GetMyWellnessRequest(), metadata=me)
    assert [(c.mood, c.note) for c in mine.checkins] == [(2, "rough call")]
    assert (mine.scale_min, mine.scale_max) == (1, 5)

    back = await stub.EndBreak(pb.EndBreakRequest(), metadata=me)
    assert not back.on_break
    code, details = await refused(stub.EndBreak(pb.EndBreakRequest(), metadata=me))
    assert code == grpc.StatusCode.FAILED_PRECONDITION
    assert "not on a break" in details
    code, _ = await refused(stub.BreakNow(pb.BreakNowRequest(minutes=500), metadata=me))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    # A break that would end as it starts, yet count as one taken.
    code, details = await refused(stub.BreakNow(pb.BreakNowRequest(minutes=1e-300), metadata=me))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert "at least 1 minute" in details


async def test_supervisors_see_teams_and_only_a_permitted_lead_sees_notes(
    api: WellnessApi,
) -> None:
    stub = api.stub
    worker = bearer(token_of("vol-marcus"))
    await stub.SubmitCheckIn(pb.SubmitCheckInRequest(mood=4, note="fine today"), metadata=worker)
    lead = bearer(supervisor_token(api.config, LEAD))
    other = bearer(supervisor_token(api.config, NOT_LEAD))

    team = await stub.GetTeamWellness(pb.GetTeamWellnessRequest(), metadata=lead)
    groups = {(g.kind, g.name): g for g in team.groups}
    specialists = groups[("team", "specialists")]
    assert not specialists.suppressed
    assert specialists.workers == 5
    # One person's unasked check-in, and nobody's exposure yet: both would be one person's.
    assert specialists.checkins_withheld
    assert specialists.checkins_submitted == 0
    assert specialists.exposure_withheld
    # Three annotators and every queue (nobody worked one yet) are under the group size.
    assert groups[("team", "annotators")].suppressed
    assert groups[("team", "annotators")].workers == 0
    assert all(g.suppressed for (kind, _), g in groups.items() if kind == "queue")

    notes = await stub.GetCheckInNotes(
        pb.GetCheckInNotesRequest(worker_id="vol-marcus"), metadata=lead
    )
    assert [c.note for c in notes.checkins] == ["fine today"]
    code, _ = await refused(
        stub.GetCheckInNotes(pb.GetCheckInNotesRequest(worker_id="vol-marcus"), metadata=other)
    )
    assert code == grpc.StatusCode.PERMISSION_DENIED
    code, _ = await refused(
        stub.GetCheckInNotes(pb.GetCheckInNotesRequest(worker_id="nobody"), metadata=lead)
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    code, _ = await refused(stub.GetTeamWellness(pb.GetTeamWellnessRequest(), metadata=worker))
    assert code == grpc.StatusCode.PERMISSION_DENIED
    code, _ = await refused(stub.GetMyWellness(pb.GetMyWellnessRequest(), metadata=lead))
    assert code == grpc.StatusCode.PERMISSION_DENIED
    code, _ = await refused(stub.GetTeamWellness(pb.GetTeamWellnessRequest()))
    assert code == grpc.StatusCode.UNAUTHENTICATED


async def test_setting_oneself_available_starts_a_shift_without_hr(api: WellnessApi) -> None:
    me = bearer(token_of("staff-nia"))
    await api.specialists.SetAvailability(
        specialist_pb2.SetAvailabilityRequest(available=True), metadata=me
    )
    mine = await api.stub.GetMyWellness(pb.GetMyWellnessRequest(), metadata=me)
    assert mine.state.in_shift
    assert mine.state.available
    await api.specialists.SetAvailability(
        specialist_pb2.SetAvailabilityRequest(available=False), metadata=me
    )
    mine = await api.stub.GetMyWellness(pb.GetMyWellnessRequest(), metadata=me)
    assert not mine.state.in_shift
    assert not mine.state.available
    assert mine.state.checkin_pending
