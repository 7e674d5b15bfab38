"""SetAvailability of a specialist the API knows and the roster does not: against warmline's
real workflows (dev server, Kafka, Redis)."""

from __future__ import annotations

import grpc

from tests.api.conftest import Deployment, bearer
from tests.api.test_flow import refused
from warmline.api.v1 import specialist_pb2 as pb
from warmline.config.model import WarmlineConfig
from warmline.runtime import roster_settings
from workflows.roster import RosterWorkflow


async def test_a_specialist_the_roster_does_not_list_is_told_so_not_an_internal_error(
    deployment: Deployment, peer_support: WarmlineConfig
) -> None:
    """The API's configuration lists vol-aoife; the workers' (the roster's) no longer does, as
    during a rollout that removes her. Her SetAvailability was INTERNAL, with a traceback in the
    server's log: the roster's validator refused an unknown specialist with a ValueError."""
    assert deployment.policy.routing is not None
    settings = roster_settings(peer_support)
    without_aoife = settings.model_copy(
        update={"members": [m for m in settings.members if m.id != "vol-aoife"]}
    )
    roster = deployment.client.get_workflow_handle_for(
        RosterWorkflow.run, deployment.policy.routing.roster_id
    )
    await roster.execute_update(RosterWorkflow.configure, without_aoife)

    code, details = await refused(
        deployment.api.stub.SetAvailability(
            pb.SetAvailabilityRequest(available=False), metadata=bearer("vol-aoife")
        )
    )

    assert code is grpc.StatusCode.FAILED_PRECONDITION
    assert details == (
        "'vol-aoife' is not on the roster (the workers' configuration does not list them)"
    )
