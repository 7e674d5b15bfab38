"""A worker's wellness calls retried after a lost answer (a network drop, a deadline), over the
real API, the time-skipping server's workflows, Redis and Kafka.

A client that never saw the answer sends the identical request again, `RETRY_DELAY` later: it is
answered as the first was, and nothing is counted, published or lengthened twice.
"""

from __future__ import annotations

from datetime import timedelta

import grpc
from temporalio.testing import WorkflowEnvironment

from tests.api.conftest import token_of
from tests.wellness import test_api
from tests.wellness.conftest import WellnessEvents
from tests.wellness.test_api import WellnessApi, bearer, refused
from warmline.api.v1 import specialist_pb2
from warmline.api.v1 import wellness_pb2 as pb
from warmline.events import EventType
from warmline.wellness.types import wellness_workflow_id
from workflows.wellness import WellnessWorkflow

api = test_api.api
RETRY_DELAY = timedelta(seconds=30)
PAST_THE_RETRY_WINDOW = timedelta(minutes=6)
"""Longer than the 5 minutes within which an identical request counts as a retry."""


def published(events: WellnessEvents, worker: str, until: EventType) -> list[EventType]:
    """The types of the worker's events, up to and including their first `until` event."""
    count = 1
    while True:
        mine = [e for e in events.read(count) if e.subject == worker]
        types = [e.type for e in mine]
        if until in types:
            return types[: types.index(until) + 1]
        count = len(events.events) + 1


def count_of(types: list[EventType], wanted: EventType) -> int:
    return sum(1 for t in types if t is wanted)


async def test_a_retried_check_in_is_counted_once_and_its_break_starts_once(
    api: WellnessApi, workflow_env: WorkflowEnvironment
) -> None:
    worker = "vol-aoife"
    me = bearer(token_of(worker))
    stub = api.stub
    await api.specialists.SetAvailability(
        specialist_pb2.SetAvailabilityRequest(available=True), metadata=me
    )
    await workflow_env.sleep(timedelta(minutes=90))
    await api.deployment.view_when(worker, lambda v: v.checkin_pending)

    answer = pb.SubmitCheckInRequest(mood=2, note="a hard call", break_now=True)
    first = await stub.SubmitCheckIn(answer, metadata=me)
    await workflow_env.sleep(RETRY_DELAY)
    retried = await stub.SubmitCheckIn(answer, metadata=me)
    assert retried == first, "the same state: the break not restarted"

    mine = await stub.GetMyWellness(pb.GetMyWellnessRequest(), metadata=me)
    assert [(c.mood, c.note, c.reason) for c in mine.checkins] == [(2, "a hard call", "cadence")]
    view = api.deployment.store.read([worker])[worker]
    assert (view.checkins_requested, view.checkins_submitted, view.checkins_answered) == (1, 1, 1)
    assert view.breaks_taken == 1
    await stub.EndBreak(pb.EndBreakRequest(), metadata=me)
    types = published(api.deployment.events, worker, EventType.WELLNESS_BREAK_ENDED)
    assert count_of(types, EventType.WELLNESS_CHECKIN_SUBMITTED) == 1
    assert count_of(types, EventType.WELLNESS_BREAK_STARTED) == 1

    # The same answer once the retry window has passed is a new check-in, and another mood at
    # once is one too.
    await workflow_env.sleep(PAST_THE_RETRY_WINDOW)
    later = pb.SubmitCheckInRequest(mood=2, note="a hard call")
    await stub.SubmitCheckIn(later, metadata=me)
    await stub.SubmitCheckIn(pb.SubmitCheckInRequest(mood=3, note="a hard call"), metadata=me)
    mine = await stub.GetMyWellness(pb.GetMyWellnessRequest(), metadata=me)
    assert [c.mood for c in mine.checkins] == [2, 2, 3]
    assert [c.reason for c in mine.checkins] == ["cadence", "", ""]


async def test_a_retried_break_now_keeps_the_break_it_started(
    api: WellnessApi, workflow_env: WorkflowEnvironment
) -> None:
    worker = "vol-marcus"
    me = bearer(token_of(worker))
    stub = api.stub
    first = await stub.BreakNow(pb.BreakNowRequest(minutes=20), metadata=me)
    await workflow_env.sleep(RETRY_DELAY)
    retried = await stub.BreakNow(pb.BreakNowRequest(minutes=20), metadata=me)
    assert retried == first, "the break keeps its end"
    # A break of another length is the worker's new wish: it lengthens the break.
    longer = await stub.BreakNow(pb.BreakNowRequest(minutes=30), metadata=me)
    assert longer.break_until.ToDatetime() > first.break_until.ToDatetime()
    assert api.deployment.store.read([worker])[worker].breaks_taken == 1
    await stub.EndBreak(pb.EndBreakRequest(), metadata=me)
    types = published(api.deployment.events, worker, EventType.WELLNESS_BREAK_ENDED)
    assert count_of(types, EventType.WELLNESS_BREAK_STARTED) == 2


async def test_a_retried_end_break_says_the_worker_ended_it(
    api: WellnessApi, workflow_env: WorkflowEnvironment
) -> None:
    """The break is over, so the retry is refused as before (`FAILED_PRECONDITION`), saying who
    ended it and when rather than only that there is no break."""
    worker = "staff-nia"
    me = bearer(token_of(worker))
    await api.stub.BreakNow(pb.BreakNowRequest(), metadata=me)
    ended = await api.stub.EndBreak(pb.EndBreakRequest(), metadata=me)
    assert not ended.on_break
    await workflow_env.sleep(RETRY_DELAY)
    code, details = await refused(api.stub.EndBreak(pb.EndBreakRequest(), metadata=me))
    assert code == grpc.StatusCode.FAILED_PRECONDITION
    assert details.startswith("you are not on a break: you ended it yourself at ")


async def test_a_retried_set_availability_keeps_the_shift_it_started(
    api: WellnessApi, workflow_env: WorkflowEnvironment
) -> None:
    """Already right before: the retry finds the shift running and changes nothing."""
    worker = "staff-luis"
    me = bearer(token_of(worker))
    available = specialist_pb2.SetAvailabilityRequest(available=True)
    await api.specialists.SetAvailability(available, metadata=me)
    first = await api.deployment.view_when(worker, lambda v: v.in_shift)
    await workflow_env.sleep(RETRY_DELAY)
    await api.specialists.SetAvailability(available, metadata=me)
    assert first.updated_at is not None
    since = first.updated_at
    retried = await api.deployment.view_when(
        worker, lambda v: v.updated_at is not None and v.updated_at > since
    )
    assert retried.in_shift
    handle = workflow_env.client.get_workflow_handle_for(
        WellnessWorkflow.run, wellness_workflow_id(api.deployment.deployment, worker)
    )
    state = await handle.query(WellnessWorkflow.state)
    assert state.shift_number == 1
    assert state.shift is not None
    assert state.shift.shift_id == "available-1"
