"""A check-in note written while the policy kept notes with the worker stays theirs.

`note_visibility` changes with a redeployed configuration: a lead who may read notes from then on
must not read the ones written under `worker_only`, which the worker wrote as private.
"""

from __future__ import annotations

from temporalio.testing import WorkflowEnvironment

from tests.api.conftest import token_of
from tests.wellness import test_api
from tests.wellness.test_api import LEAD, WellnessApi, bearer, supervisor_token
from warmline.api.v1 import wellness_pb2 as pb
from warmline.runtime import wellness_policy, worker_kinds
from warmline.wellness.client import WellnessClient
from workflows.wellness import WellnessWorkflow

api = test_api.api


async def test_a_note_written_as_private_stays_private_when_the_policy_opens_notes(
    api: WellnessApi, workflow_env: WorkflowEnvironment
) -> None:
    worker = "vol-marcus"
    shared = wellness_policy(api.config)
    assert shared.note_visibility == "wellness_lead"
    private = shared.model_copy(update={"note_visibility": "worker_only"})
    wellness = WellnessClient(
        workflow_env.client,
        deployment=api.deployment.deployment,
        policy=private,
        task_queue=api.deployment.task_queue,
        kinds=worker_kinds(api.config),
    )
    await wellness.ensure(worker)  # the worker's workflow runs under `worker_only`
    me = bearer(token_of(worker))
    await api.stub.SubmitCheckIn(
        pb.SubmitCheckInRequest(mood=2, note="my own business"), metadata=me
    )

    # The configuration is redeployed with `wellness_lead`: the API and, once a worker starts,
    # the running workflow have it.
    await wellness.handle(worker).signal(WellnessWorkflow.set_policy, shared)
    await api.stub.SubmitCheckIn(pb.SubmitCheckInRequest(mood=4, note="better now"), metadata=me)

    lead = bearer(supervisor_token(api.config, LEAD))
    notes = await api.stub.GetCheckInNotes(
        pb.GetCheckInNotesRequest(worker_id=worker), metadata=lead
    )
    assert [c.note for c in notes.checkins] == ["better now"]
    mine = await api.stub.GetMyWellness(pb.GetMyWellnessRequest(), metadata=me)
    assert [c.note for c in mine.checkins] == ["my own business", "better now"]
