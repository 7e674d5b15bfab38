"""A rebuild stores an escalation as its own writes do: with only the open offers.

The escalation's `view` query shows every offer of the run, closed ones included; the live view
keeps nothing of a closed offer, and the waiting escalation's stored view (what the supervisors'
paged list reads) carries only the open ones, whichever of a write or a rebuild put it there.
"""

from __future__ import annotations

from temporalio.client import Client

from tests.liveview.test_liveview import (
    TENANT,
    escalation,
    listed,
    offer,
    prefix,
    stand_ins,
    view,
)
from warmline.escalation import OfferStatus
from warmline.liveview import ESCALATIONS_QUERY, LiveView

__all__ = ["prefix", "stand_ins"]  # fixtures, used by name


async def test_a_rebuilt_escalation_is_stored_without_its_closed_offers(
    namespace_client: Client, stand_ins: str, redis_url: str, prefix: str
) -> None:
    live = LiveView.connect(redis_url, prefix=prefix)
    esc = escalation("c-closed")
    shown = view(
        "c-closed",
        version=5,
        offers=[
            offer(esc, 1, "dana", status=OfferStatus.EXPIRED, conversation="c-closed"),
            offer(esc, 2, "eli", status=OfferStatus.DECLINED, conversation="c-closed"),
            offer(esc, 3, "fay", conversation="c-closed"),
        ],
    )
    await namespace_client.start_workflow(
        "EscalationWorkflow", shown, id=shown.escalation_id, task_queue=stand_ins
    )
    await listed(namespace_client, ESCALATIONS_QUERY, 1)

    assert (await live.rebuild(namespace_client, task_queue=stand_ins)).applied == 1
    [stored] = live.waiting(TENANT, "grief")
    assert [o.specialist_id for o in stored.offers] == ["fay"]
    assert stored == shown.model_copy(update={"offers": stored.offers})
    assert live.offers_for("fay") == stored.offers
    assert live.offers_for("dana") == live.offers_for("eli") == []

    await namespace_client.get_workflow_handle(shown.escalation_id).signal("finish")
    live.close()
