"""Roster activities: how escalations and conversations reserve, occupy and free specialists.

Workflows cannot send updates to other workflows, so these activities do it with the worker's
Temporal client. Each roster operation is idempotent, so Temporal may retry these freely. The
roster workflow is started on first use with the deployment's configured members.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import TypeVar

from pydantic import BaseModel
from temporalio import activity
from temporalio.client import Client, WorkflowHandle
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.workflow import UpdateMethodMultiParam

from warmline.liveview import LiveView
from warmline.roster import (
    AssignToRequest,
    AssignToResult,
    AvailabilityRequest,
    FreeRequest,
    MemberState,
    OccupyRequest,
    ReleaseRequest,
    ReserveRequest,
    ReserveResult,
    RosterInput,
    RosterSettings,
    WellnessFlags,
)
from warmline.wellness.view import WellnessStateStore
from workflows.roster import RosterWorkflow

ArgT = TypeVar("ArgT")
ResultT = TypeVar("ResultT")


class ReserveCall(BaseModel):
    roster_id: str
    request: ReserveRequest


class AssignToCall(BaseModel):
    roster_id: str
    request: AssignToRequest


class ReleaseCall(BaseModel):
    roster_id: str
    request: ReleaseRequest


class OccupyCall(BaseModel):
    roster_id: str
    request: OccupyRequest


class FreeCall(BaseModel):
    roster_id: str
    request: FreeRequest


async def ensure_roster(
    client: Client, roster_id: str, settings: RosterSettings, *, task_queue: str
) -> WorkflowHandle[RosterWorkflow, None]:
    """Start the roster if it is not running, then give it these settings (members, strategy)."""
    try:
        handle = await client.start_workflow(
            RosterWorkflow.run,
            RosterInput(roster_id=roster_id, settings=settings),
            id=roster_id,
            task_queue=task_queue,
        )
    except WorkflowAlreadyStartedError:
        handle = client.get_workflow_handle_for(RosterWorkflow.run, roster_id)
        await handle.execute_update(RosterWorkflow.configure, settings)
    return handle


async def set_availability(
    client: Client,
    roster_id: str,
    request: AvailabilityRequest,
    *,
    rpc_timeout: timedelta | None = None,
) -> MemberState:
    """Set one member's availability; `rpc_timeout` bounds the wait for the roster's answer."""
    handle = client.get_workflow_handle_for(RosterWorkflow.run, roster_id)
    return await handle.execute_update(
        RosterWorkflow.set_availability, request, rpc_timeout=rpc_timeout
    )


class RosterActivities:
    """Built once by the worker with its client and the configured roster settings."""

    def __init__(
        self,
        client: Client,
        settings: RosterSettings,
        *,
        wellness: WellnessStateStore | None = None,
        live_view: LiveView | None = None,
    ) -> None:
        self._client = client
        self._settings = settings
        self._wellness = wellness
        self._live_view = live_view

    @activity.defn(name="roster_reserve")
    async def reserve(self, call: ReserveCall) -> ReserveResult:
        request = call.request
        if self._wellness is not None and not request.wellness:
            # The roster ranks inside a workflow, which cannot read Redis: hand it each member's
            # wellness view. A member with no view counts as fresh (see WellnessStateStore).
            members = [m.id for m in self._settings.members]
            views = await asyncio.to_thread(self._wellness.read, members)
            fresh = WellnessFlags()
            flags = {member: WellnessFlags.of(view) for member, view in views.items()}
            request = request.model_copy(
                update={"wellness": {m: f for m, f in flags.items() if f != fresh}}
            )
        return await self._update(call.roster_id, RosterWorkflow.reserve, request)

    @activity.defn(name="roster_assign_to")
    async def assign_to(self, call: AssignToCall) -> AssignToResult:
        """A supervisor's assignment: the roster needs only whether the one member is on a break."""
        request = call.request
        if self._wellness is not None and request.wellness is None:
            views = await asyncio.to_thread(self._wellness.read, [request.specialist_id])
            view = views.get(request.specialist_id)
            if view is not None:
                request = request.model_copy(update={"wellness": WellnessFlags.of(view)})
        return await self._update(call.roster_id, RosterWorkflow.assign_to, request)

    @activity.defn(name="roster_release")
    async def release(self, call: ReleaseCall) -> None:
        await self._update(call.roster_id, RosterWorkflow.release, call.request)

    @activity.defn(name="roster_occupy")
    async def occupy(self, call: OccupyCall) -> None:
        await self._update(call.roster_id, RosterWorkflow.occupy, call.request)

    @activity.defn(name="roster_free")
    async def free(self, call: FreeCall) -> None:
        await self._update(call.roster_id, RosterWorkflow.free, call.request)
        request = call.request
        if self._live_view is not None and request.tenant_id is not None:
            # A conversation that ended without the desk (the customer left, inactivity) would
            # otherwise keep the claim, and refuse whoever accepts when the customer writes again.
            await asyncio.to_thread(
                self._live_view.release_claim,
                request.tenant_id,
                request.conversation_id,
                request.specialist_id,
            )

    async def _update(
        self,
        roster_id: str,
        update: UpdateMethodMultiParam[[RosterWorkflow, ArgT], ResultT],
        argument: ArgT,
    ) -> ResultT:
        handle = self._client.get_workflow_handle_for(RosterWorkflow.run, roster_id)
        try:
            return await handle.execute_update(update, argument)
        except RPCError as error:
            if error.status != RPCStatusCode.NOT_FOUND:
                raise
        await ensure_roster(
            self._client, roster_id, self._settings, task_queue=activity.info().task_queue
        )
        return await handle.execute_update(update, argument)
