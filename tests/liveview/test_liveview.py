"""The Redis live view against real Redis (both backends) and, for rebuilds, the dev server."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

import pytest
import redis
from temporalio import workflow
from temporalio.client import Client
from temporalio.service import RPCError
from temporalio.worker import Worker

from warmline import liveview, serve
from warmline.config.loader import load_config
from warmline.conversation import (
    CloseRequest,
    ConversationInput,
    ConversationView,
    CustomerMessage,
    Status,
)
from warmline.conversation import workflow_id as conversation_workflow_id
from warmline.escalation import (
    AcceptRequest,
    EscalationStatus,
    EscalationView,
    Offer,
    OfferStatus,
    escalation_workflow_id,
    offer_id,
)
from warmline.events import EventPublisher
from warmline.handoff import renderer_from_config
from warmline.liveview import CONVERSATIONS_QUERY, ESCALATIONS_QUERY, LiveView
from warmline.runtime import escalation_policy, roster_settings
from warmline.triage.lexicon import LexiconProvider
from warmline.worker import ACTIVITY_THREADS, Routing, build_worker
from workflows.conversation import ConversationWorkflow
from workflows.escalation import EscalationWorkflow

T = TypeVar("T")
NOW = datetime.now(UTC)
TENANT = "acme"


def offer(
    escalation: str,
    number: int,
    specialist: str,
    *,
    expires_in: timedelta = timedelta(minutes=2),
    status: OfferStatus = OfferStatus.OPEN,
    conversation: str = "c-1",
) -> Offer:
    return Offer(
        offer_id=offer_id(escalation, number),
        specialist_id=specialist,
        tenant_id=TENANT,
        conversation_id=conversation,
        queue="grief",
        priority=60,
        reason="bereavement",
        crisis=False,
        created_at=NOW,
        expires_at=datetime.now(UTC) + expires_in,
        status=status,
    )


def view(
    conversation: str,
    *,
    version: int = 1,
    status: EscalationStatus = EscalationStatus.WAITING,
    queue: str = "grief",
    priority: int = 60,
    entered: datetime = NOW,
    offers: list[Offer] | None = None,
) -> EscalationView:
    return EscalationView(
        escalation_id=escalation_workflow_id(TENANT, conversation, 1),
        version=version,
        tenant_id=TENANT,
        conversation_id=conversation,
        status=status,
        queue=queue,
        priority=priority,
        crisis=False,
        entered_queue_at=entered,
        offers=offers or [],
    )


def escalation(conversation: str) -> str:
    return escalation_workflow_id(TENANT, conversation, 1)


@pytest.fixture
def client(any_redis: str) -> Iterator[redis.Redis]:
    raw = redis.Redis.from_url(any_redis, decode_responses=True)
    yield raw
    raw.close()


@pytest.fixture
def prefix() -> str:
    """Each test's own key prefix, so tests never see each other's keys."""
    return f"test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def live(any_redis: str, prefix: str) -> Iterator[LiveView]:
    view = LiveView.connect(any_redis, prefix=prefix)
    yield view
    view.close()


def test_apply_lists_then_removes(live: LiveView, client: redis.Redis, prefix: str) -> None:
    esc = escalation("c-1")
    first = view(
        "c-1",
        offers=[
            offer(esc, 1, "dana"),
            offer(esc, 2, "eli"),
            offer(esc, 3, "fay", status=OfferStatus.DECLINED),
        ],
    )
    assert live.apply(first)

    assert live.waiting(TENANT, "grief") == [first]
    assert live.queue_depths(TENANT) == {"grief": 1}
    assert live.offers_for("dana") == [first.offers[0]]
    assert live.offers_for("eli") == [first.offers[1]]
    assert live.offers_for("fay") == []
    assert live.offer(first.offers[0].offer_id) == first.offers[0]
    assert live.offer(first.offers[2].offer_id) is None

    # Dana declines: only her offer goes.
    declined = first.offers[0].model_copy(update={"status": OfferStatus.DECLINED})
    second = first.model_copy(update={"version": 2, "offers": [declined, first.offers[1]]})
    assert live.apply(second)
    assert live.offers_for("dana") == []
    assert live.offer(declined.offer_id) is None
    assert live.offers_for("eli") == [first.offers[1]]
    assert live.waiting(TENANT, "grief") == [second]

    # Eli accepts: the escalation leaves its queue and nothing of it stays but a tombstone.
    accepted = first.offers[1].model_copy(update={"status": OfferStatus.ACCEPTED})
    third = second.model_copy(
        update={"version": 3, "status": EscalationStatus.ACCEPTED, "offers": [declined, accepted]}
    )
    assert live.apply(third)
    assert live.waiting(TENANT, "grief") == []
    assert live.queue_depths(TENANT) == {}
    assert live.offers_for("eli") == []
    assert live.offer(accepted.offer_id) is None
    tombstone = f"{prefix}:escalation:{esc}:tombstone"
    assert set(client.scan_iter(f"{prefix}:*")) == {tombstone}
    assert client.get(tombstone) == "3"
    assert 0 < client.ttl(tombstone) <= 86_400

    # A late, older view (a retried activity) cannot bring it back.
    assert not live.apply(second)
    assert live.waiting(TENANT, "grief") == []
    assert live.offers_for("eli") == []


def test_older_or_equal_version_is_ignored(live: LiveView) -> None:
    esc = escalation("c-2")
    newer = view("c-2", version=5, priority=80, offers=[offer(esc, 2, "dana")])
    assert live.apply(newer)

    older = view("c-2", version=4, queue="general", offers=[offer(esc, 1, "eli")])
    assert not live.apply(older)
    same = view("c-2", version=5, queue="general")
    assert not live.apply(same)

    assert live.waiting(TENANT, "grief") == [newer]
    assert live.waiting(TENANT, "general") == []
    assert live.queue_depths(TENANT) == {"grief": 1}
    assert [o.offer_id for o in live.offers_for("dana")] == [offer_id(esc, 2)]
    assert live.offers_for("eli") == []


def test_queue_order_and_reroute(live: LiveView) -> None:
    early, late = NOW - timedelta(minutes=5), NOW - timedelta(minutes=1)
    views = [
        view("c-low-early", priority=40, entered=early),
        view("c-high-late", priority=90, entered=late),
        view("c-mid-late", priority=60, entered=late),
        view("c-mid-early", priority=60, entered=early),
    ]
    for each in views:
        assert live.apply(each)
    order = [v.conversation_id for v in live.waiting(TENANT, "grief")]
    assert order == ["c-high-late", "c-mid-early", "c-mid-late", "c-low-early"]
    assert live.queue_depths(TENANT) == {"grief": 4}

    # Rerouted along the escalation chain: it leaves one queue and enters the next.
    rerouted = views[0].model_copy(
        update={"version": 2, "queue": "supervisors", "entered_queue_at": NOW}
    )
    assert live.apply(rerouted)
    assert "c-low-early" not in [v.conversation_id for v in live.waiting(TENANT, "grief")]
    assert live.waiting(TENANT, "supervisors") == [rerouted]
    assert live.queue_depths(TENANT) == {"grief": 3, "supervisors": 1}
    assert live.queue_depths("another-tenant") == {}


def test_offers_soonest_expiry_first_and_expired_hidden(live: LiveView) -> None:
    one, two, three = escalation("c-a"), escalation("c-b"), escalation("c-c")
    later = offer(one, 1, "dana", expires_in=timedelta(minutes=10), conversation="c-a")
    soon = offer(two, 1, "dana", expires_in=timedelta(seconds=30), conversation="c-b")
    gone = offer(three, 1, "dana", expires_in=timedelta(seconds=-1), conversation="c-c")
    live.apply(view("c-a", offers=[later]))
    live.apply(view("c-b", offers=[soon]))
    live.apply(view("c-c", offers=[gone]))

    assert live.offers_for("dana") == [soon, later]
    # Expired offers are hidden from the list; the workflow's next view removes them.
    assert live.offer(gone.offer_id) == gone


def test_claim_is_atomic_and_released_only_by_holder(live: LiveView) -> None:
    specialists = [f"specialist-{n}" for n in range(20)]
    start = threading.Barrier(len(specialists))

    def race(specialist: str) -> str:
        start.wait()
        return live.claim(TENANT, "c-crisis", specialist)

    with ThreadPoolExecutor(max_workers=len(specialists)) as pool:
        holders = list(pool.map(race, specialists))

    winner = live.claim_holder(TENANT, "c-crisis")
    assert winner in specialists
    assert set(holders) == {winner}
    assert live.claim(TENANT, "c-crisis", winner) == winner  # holding it again is fine

    loser = next(s for s in specialists if s != winner)
    assert not live.release_claim(TENANT, "c-crisis", loser)
    assert live.claim_holder(TENANT, "c-crisis") == winner
    assert live.release_claim(TENANT, "c-crisis", winner)
    assert live.claim_holder(TENANT, "c-crisis") is None
    assert not live.release_claim(TENANT, "c-crisis", winner)
    assert live.claim(TENANT, "c-crisis", loser) == loser
    assert live.claim_holder(TENANT, "c-other") is None


def test_a_claim_is_taken_over_only_once_its_holder_stopped_using_it(
    live: LiveView, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A desk that stopped between its claim and its accept left the claim behind; once the
    holder has not claimed it for `CLAIM_IN_USE`, another specialist may take it over."""
    monkeypatch.setattr(liveview, "CLAIM_IN_USE", timedelta(seconds=1))
    assert live.claim(TENANT, "c-left", "desk-gone") == "desk-gone"
    assert live.claim_in_use(TENANT, "c-left")
    # An accept of the holder may still be running: the claim stays theirs.
    assert live.take_over_claim(TENANT, "c-left", "desk-gone", "sp-next") == "desk-gone"

    time.sleep(1.2)
    assert not live.claim_in_use(TENANT, "c-left")
    # Only the holder the caller saw is replaced: someone else's claim is not.
    assert live.take_over_claim(TENANT, "c-left", "someone-else", "sp-next") == "desk-gone"
    assert live.take_over_claim(TENANT, "c-left", "desk-gone", "sp-next") == "sp-next"
    assert live.claim_holder(TENANT, "c-left") == "sp-next"
    assert live.claim_in_use(TENANT, "c-left")
    assert live.take_over_claim(TENANT, "c-left", "sp-next", "sp-third") == "sp-next"
    assert live.claim(TENANT, "c-left", "desk-gone") == "sp-next"

    time.sleep(1.2)
    # The holder claiming again (a retried accept) marks the claim in use again.
    assert live.claim(TENANT, "c-left", "sp-next") == "sp-next"
    assert live.take_over_claim(TENANT, "c-left", "sp-next", "sp-third") == "sp-next"
    # A claim released meanwhile is simply taken.
    assert live.release_claim(TENANT, "c-left", "sp-next")
    assert not live.claim_in_use(TENANT, "c-left")
    assert live.take_over_claim(TENANT, "c-left", "sp-next", "sp-third") == "sp-third"
    assert live.claim_holder(TENANT, "c-left") == "sp-third"


def subscribed(client: redis.Redis, prefix: str, specialist: str) -> None:
    """Wait until a `wait_for_change` for `specialist` is listening."""
    channel = f"{prefix}:specialist:{specialist}:changed"
    for _ in range(200):
        if dict(client.pubsub_numsub(channel)).get(channel, 0) >= 1:
            return
        time.sleep(0.01)
    raise AssertionError(f"nobody subscribed to {channel}")


def unsubscribed(client: redis.Redis, prefix: str, specialist: str) -> None:
    """Wait until no `wait_for_change` for `specialist` is listening any more: a waiter that
    returned has closed its connection, but Redis may count its subscription a moment longer, and
    `subscribed` would take it for the next waiter's (whose change would then come too soon)."""
    channel = f"{prefix}:specialist:{specialist}:changed"
    for _ in range(500):
        if dict(client.pubsub_numsub(channel)).get(channel, 0) == 0:
            return
        time.sleep(0.01)
    raise AssertionError(f"{channel} still has a subscriber")


def test_wait_for_change_wakes_only_the_specialist_concerned(
    live: LiveView, client: redis.Redis, prefix: str
) -> None:
    esc = escalation("c-w")
    with ThreadPoolExecutor(max_workers=2) as pool:
        dana = pool.submit(live.wait_for_change, "dana", 10.0)
        eli = pool.submit(live.wait_for_change, "eli", 1.5)
        subscribed(client, prefix, "dana")
        subscribed(client, prefix, "eli")
        started = time.monotonic()
        live.apply(view("c-w", offers=[offer(esc, 1, "dana")]))
        assert dana.result(timeout=5) is True
        assert time.monotonic() - started < 2
        assert eli.result(timeout=5) is False

    # A new version that leaves Dana's offers as they were does not wake her.
    with ThreadPoolExecutor(max_workers=1) as pool:
        unsubscribed(client, prefix, "dana")
        waiting = pool.submit(live.wait_for_change, "dana", 1.0)
        subscribed(client, prefix, "dana")
        unchanged = view("c-w", version=2, priority=70, offers=[offer(esc, 1, "dana")])
        unchanged = unchanged.model_copy(update={"offers": live.offers_for("dana")})
        live.apply(unchanged)
        assert waiting.result(timeout=5) is False

        # Her offer expiring (the workflow marks it) does.
        unsubscribed(client, prefix, "dana")
        waiting = pool.submit(live.wait_for_change, "dana", 10.0)
        subscribed(client, prefix, "dana")
        expired = unchanged.offers[0].model_copy(update={"status": OfferStatus.EXPIRED})
        live.apply(unchanged.model_copy(update={"version": 3, "offers": [expired]}))
        assert waiting.result(timeout=5) is True


def test_flushall_unbuilds_the_view(live: LiveView, client: redis.Redis, prefix: str) -> None:
    client.set(f"{prefix}:built", "2025-01-01T00:00:00+00:00")
    assert live.is_built()
    live.apply(view("c-f"))
    client.flushall()
    assert not live.is_built()
    assert live.waiting(TENANT, "grief") == []


# --- rebuilding from Temporal -------------------------------------------------------------------


# Unsandboxed: the sandbox would re-import this module, whose test data reads the clock.
@workflow.defn(name="EscalationWorkflow", sandboxed=False)
class StandInEscalation:
    """Answers `view` like the escalation workflow, with the view it was started with."""

    def __init__(self) -> None:
        self._done = False

    @workflow.run
    async def run(self, start: EscalationView) -> None:
        self._view = start
        await workflow.wait_condition(lambda: self._done)

    @workflow.query
    def view(self) -> EscalationView:
        return self._view

    @workflow.signal
    def finish(self) -> None:
        self._done = True


@workflow.defn(name="ConversationWorkflow", sandboxed=False)
class StandInConversation:
    """Answers `view` like the conversation workflow, with the view it was started with."""

    def __init__(self) -> None:
        self._done = False

    @workflow.run
    async def run(self, start: ConversationView) -> None:
        self._view = start
        await workflow.wait_condition(lambda: self._done)

    @workflow.query
    def view(self) -> ConversationView:
        return self._view

    @workflow.signal
    def finish(self) -> None:
        self._done = True


@pytest.fixture
async def stand_ins(namespace_client: Client, task_queue: str) -> AsyncIterator[str]:
    async with Worker(
        namespace_client,
        task_queue=task_queue,
        workflows=[StandInEscalation, StandInConversation],
    ):
        yield task_queue


async def listed(client: Client, query: str, count: int) -> None:
    """Wait until visibility lists `count` workflows for `query`."""
    for _ in range(100):
        if (await client.count_workflows(query)).count == count:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"visibility never listed {count} workflows for {query!r}")


def conversation_view(owner: str | None) -> ConversationView:
    return ConversationView(
        status=Status.HANDOFF if owner else Status.ESCALATED,
        message_count=3,
        trajectory=[],
        escalation=None,
        owner=owner,
    )


async def test_rebuild_from_temporal_after_flushall(
    namespace_client: Client, stand_ins: str, redis_url: str, prefix: str
) -> None:
    live = LiveView.connect(redis_url, prefix=prefix)
    raw = redis.Redis.from_url(redis_url, decode_responses=True)
    esc_a, esc_b = escalation("c-r1"), escalation("c-r2")
    views = [
        view("c-r1", version=3, priority=90, offers=[offer(esc_a, 1, "dana", conversation="c-r1")]),
        view("c-r2", version=7, offers=[offer(esc_b, 1, "eli", conversation="c-r2")]),
    ]
    for each in views:
        await namespace_client.start_workflow(
            "EscalationWorkflow", each, id=each.escalation_id, task_queue=stand_ins
        )
    owned = {"c-r3": "fay", "c-r4": None}
    for conversation, owner in owned.items():
        await namespace_client.start_workflow(
            "ConversationWorkflow",
            conversation_view(owner),
            id=conversation_workflow_id(TENANT, conversation),
            task_queue=stand_ins,
        )
    await listed(namespace_client, ESCALATIONS_QUERY, 2)
    await listed(namespace_client, CONVERSATIONS_QUERY, 2)

    assert not await asyncio.to_thread(live.is_built)
    assert (await live.rebuild(namespace_client)).applied == 2
    assert live.is_built()
    assert live.waiting(TENANT, "grief") == views
    assert live.offers_for("dana") == views[0].offers
    assert live.offers_for("eli") == views[1].offers
    assert live.claim_holder(TENANT, "c-r3") == "fay"
    assert live.claim_holder(TENANT, "c-r4") is None

    # Rebuilding again changes nothing: every view is already applied.
    assert (await live.rebuild(namespace_client)).applied == 0

    await asyncio.to_thread(raw.flushall)
    assert not live.is_built()
    assert live.waiting(TENANT, "grief") == []
    assert (await live.rebuild(namespace_client)).applied == 2
    assert live.is_built()
    assert live.waiting(TENANT, "grief") == views
    assert live.claim_holder(TENANT, "c-r3") == "fay"

    for each in views:
        await namespace_client.get_workflow_handle(each.escalation_id).signal("finish")
    for conversation in owned:
        handle = namespace_client.get_workflow_handle(
            conversation_workflow_id(TENANT, conversation)
        )
        await handle.signal("finish")
    live.close()
    raw.close()


@workflow.defn(name="EscalationWorkflow", sandboxed=False)
class BrokenEscalation:
    """An escalation whose `view` query fails (a bug, or a history the code cannot replay)."""

    @workflow.run
    async def run(self, start: EscalationView) -> None:
        await workflow.wait_condition(lambda: False)

    @workflow.query
    def view(self) -> EscalationView:
        raise ValueError("this escalation cannot say where it stands")


async def test_rebuild_removes_escalations_whose_workflow_ended(
    namespace_client: Client, stand_ins: str, redis_url: str, prefix: str
) -> None:
    """The final view of an accepted or cancelled escalation can fail to reach Redis for good;
    a rebuild takes out of the view whatever no longer runs, as that final view would have."""
    live = LiveView.connect(redis_url, prefix=prefix)
    raw = redis.Redis.from_url(redis_url, decode_responses=True)
    esc_ended, esc_gone, esc_foreign = (
        escalation("c-ended"),
        escalation("c-gone"),
        escalation("c-x"),
    )
    running = view("c-running", version=3)
    ended = view("c-ended", version=5, offers=[offer(esc_ended, 1, "eli", conversation="c-ended")])
    gone = view("c-gone", version=2, offers=[offer(esc_gone, 1, "eli", conversation="c-gone")])
    foreign = view("c-x", version=4, offers=[offer(esc_foreign, 1, "fay", conversation="c-x")])
    for each, task_queue in ((running, stand_ins), (ended, stand_ins), (foreign, "elsewhere")):
        await namespace_client.start_workflow(
            "EscalationWorkflow", each, id=each.escalation_id, task_queue=task_queue
        )
    # Accepted: the workflow ends, but its last view never reached Redis (nor did `gone`'s,
    # whose workflow's history is no longer kept; `foreign` is another deployment's).
    await namespace_client.get_workflow_handle(ended.escalation_id).signal("finish")
    await namespace_client.get_workflow_handle(ended.escalation_id).result()
    for each in (ended, gone, foreign):
        assert live.apply(each)
    await listed(namespace_client, ESCALATIONS_QUERY, 2)

    with ThreadPoolExecutor(max_workers=1) as pool:
        told = pool.submit(live.wait_for_change, "eli", 10.0)
        subscribed(raw, prefix, "eli")
        rebuilt = await live.rebuild(namespace_client, task_queue=stand_ins)
        assert told.result(timeout=5), "eli's screen drops the offers"

    assert live.waiting(TENANT, "grief") == [running]
    assert live.queue_depths(TENANT) == {"grief": 1}
    assert live.offers_for("eli") == []
    assert live.offers_for("fay") == []
    assert live.offer(ended.offers[0].offer_id) is None
    assert (rebuilt.applied, rebuilt.removed, rebuilt.skipped) == (
        1,
        tuple(sorted([esc_ended, esc_gone, esc_foreign])),
        (),
    )
    others = {k for k in raw.scan_iter(f"{prefix}:*") if not k.startswith(f"{prefix}:escalation")}
    assert others == {
        f"{prefix}:{key}" for key in ("built", "queue:acme:grief", "tenant:acme:queues")
    }
    kept = set(raw.scan_iter(f"{prefix}:escalation:*"))
    at = f"{prefix}:escalation:"
    assert kept == {
        f"{at}{running.escalation_id}",
        f"{at}{running.escalation_id}:version",
        *(f"{at}{e}:tombstone" for e in (esc_ended, esc_gone, esc_foreign)),
    }
    assert raw.get(f"{prefix}:escalation:{esc_ended}:tombstone") == "5"
    assert raw.exists(f"{prefix}:escalation:{esc_ended}:version") == 0

    # The tombstone keeps the version order: a late older view cannot bring the escalation back,
    # a newer one (the escalation id used again by the conversation's next run) can.
    assert not live.apply(ended.model_copy(update={"version": 4}))
    assert live.apply(ended.model_copy(update={"version": 6}))
    assert [o.offer_id for o in live.offers_for("eli")] == [ended.offers[0].offer_id]

    await namespace_client.get_workflow_handle(running.escalation_id).signal("finish")
    await namespace_client.get_workflow_handle(foreign.escalation_id).terminate()
    live.close()
    raw.close()


async def test_reconcile_keeps_an_escalation_visibility_does_not_list_yet(
    namespace_client: Client, stand_ins: str, redis_url: str, prefix: str
) -> None:
    """Visibility lags behind a start: each escalation not listed is asked about one by one."""
    live = LiveView.connect(redis_url, prefix=prefix)
    fresh = view(
        "c-fresh", offers=[offer(escalation("c-fresh"), 1, "dana", conversation="c-fresh")]
    )
    await namespace_client.start_workflow(
        "EscalationWorkflow", fresh, id=fresh.escalation_id, task_queue=stand_ins
    )
    assert live.apply(fresh)

    assert await live.reconcile(namespace_client, task_queue=stand_ins) == ()

    assert live.waiting(TENANT, "grief") == [fresh]
    assert live.offers_for("dana") == fresh.offers
    await namespace_client.get_workflow_handle(fresh.escalation_id).signal("finish")
    live.close()


async def test_rebuild_skips_an_escalation_whose_query_fails(
    namespace_client: Client, stand_ins: str, redis_url: str, prefix: str
) -> None:
    live = LiveView.connect(redis_url, prefix=prefix)
    good = view("c-good", offers=[offer(escalation("c-good"), 1, "dana", conversation="c-good")])
    broken = view("c-broken")
    await namespace_client.start_workflow(
        "EscalationWorkflow", good, id=good.escalation_id, task_queue=stand_ins
    )
    broken_queue = f"{stand_ins}-broken"
    async with Worker(namespace_client, task_queue=broken_queue, workflows=[BrokenEscalation]):
        await namespace_client.start_workflow(
            "EscalationWorkflow", broken, id=broken.escalation_id, task_queue=broken_queue
        )
        await listed(namespace_client, ESCALATIONS_QUERY, 2)

        rebuilt = await live.rebuild(namespace_client)

        await namespace_client.get_workflow_handle(broken.escalation_id).terminate()
    assert (rebuilt.applied, rebuilt.removed, rebuilt.skipped) == (1, (), (broken.escalation_id,))
    assert live.waiting(TENANT, "grief") == [good]
    assert live.is_built(), "one escalation that cannot answer does not leave the view unbuilt"
    await namespace_client.get_workflow_handle(good.escalation_id).signal("finish")
    live.close()


async def test_rebuild_skips_an_escalation_whose_workers_are_down(
    namespace_client: Client, stand_ins: str, redis_url: str, prefix: str
) -> None:
    live = LiveView.connect(redis_url, prefix=prefix)
    good = view("c-good", offers=[offer(escalation("c-good"), 1, "dana", conversation="c-good")])
    stuck = view("c-stuck")
    await namespace_client.start_workflow(
        "EscalationWorkflow", good, id=good.escalation_id, task_queue=stand_ins
    )
    await namespace_client.start_workflow(
        "EscalationWorkflow", stuck, id=stuck.escalation_id, task_queue="nobody-polls-this"
    )
    await listed(namespace_client, ESCALATIONS_QUERY, 2)

    rebuilt = await live.rebuild(namespace_client, query_timeout=timedelta(seconds=1))

    assert (rebuilt.applied, rebuilt.removed, rebuilt.skipped) == (1, (), (stuck.escalation_id,))
    assert live.waiting(TENANT, "grief") == [good]
    assert live.is_built()
    await namespace_client.get_workflow_handle(good.escalation_id).signal("finish")
    await namespace_client.get_workflow_handle(stuck.escalation_id).terminate()
    live.close()


async def test_a_worker_start_removes_ended_escalations_from_a_built_view(
    namespace_client: Client, stand_ins: str, redis_url: str, prefix: str
) -> None:
    """Restarting a worker repairs the view without waiting for it to be lost."""
    live = LiveView.connect(redis_url, prefix=prefix)
    raw = redis.Redis.from_url(redis_url, decode_responses=True)
    raw.set(f"{prefix}:built", "2025-01-01T00:00:00+00:00")
    ghost = view(
        "c-ghost", offers=[offer(escalation("c-ghost"), 1, "dana", conversation="c-ghost")]
    )
    assert live.apply(ghost)  # its workflow ended long ago

    await serve.refresh_live_view(live, namespace_client, stand_ins)

    assert live.waiting(TENANT, "grief") == []
    assert live.offers_for("dana") == []
    assert raw.get(f"{prefix}:built") == "2025-01-01T00:00:00+00:00"
    live.close()
    raw.close()


async def test_a_worker_start_releases_claims_of_ended_conversations(
    namespace_client: Client, stand_ins: str, redis_url: str, prefix: str
) -> None:
    """A conversation that ended without freeing its owner (terminated, timed out) kept the
    claim: when the customer wrote again, every other specialist's `Accept` was refused as
    "already accepted by another specialist". A worker start, and a rebuild, release it."""
    live = LiveView.connect(redis_url, prefix=prefix)
    raw = redis.Redis.from_url(redis_url, decode_responses=True)
    raw.set(f"{prefix}:built", "2025-01-01T00:00:00+00:00")
    for conversation, owner in (("c-live", "fay"), ("c-ended", "dana"), ("c-idle", None)):
        await namespace_client.start_workflow(
            "ConversationWorkflow",
            conversation_view(owner),
            id=conversation_workflow_id(TENANT, conversation),
            task_queue=stand_ins,
        )
    ended = namespace_client.get_workflow_handle(conversation_workflow_id(TENANT, "c-ended"))
    await ended.terminate()
    # Claims of live conversations stay, owned or not (an accept claims before it accepts).
    stale = {"c-ended": "dana", "c-gone": "dana", "c:odd%id": "eli"}
    for conversation, holder in {**stale, "c-live": "fay", "c-idle": "gil"}.items():
        assert live.claim(TENANT, conversation, holder) == holder

    await serve.refresh_live_view(live, namespace_client, stand_ins)

    for conversation in stale:
        assert live.claim_holder(TENANT, conversation) is None, conversation
    assert live.claim_holder(TENANT, "c-live") == "fay"
    assert live.claim_holder(TENANT, "c-idle") == "gil"
    assert live.claim(TENANT, "c-ended", "eli") == "eli", "the next accept is not refused"
    assert raw.get(f"{prefix}:built") == "2025-01-01T00:00:00+00:00"

    # A rebuild of a lost view releases them too, and says which.
    assert live.claim(TENANT, "c-gone", "dana") == "dana"
    raw.delete(f"{prefix}:built")
    rebuilt = await live.rebuild(namespace_client, task_queue=stand_ins)
    assert rebuilt.released == tuple(
        sorted(conversation_workflow_id(TENANT, c) for c in ("c-ended", "c-gone"))
    )
    assert live.claim_holder(TENANT, "c-live") == "fay"
    assert live.claim_holder(TENANT, "c-idle") == "gil"
    for conversation in ("c-live", "c-idle"):
        handle = namespace_client.get_workflow_handle(
            conversation_workflow_id(TENANT, conversation)
        )
        await handle.signal("finish")
    live.close()
    raw.close()


def test_releasing_an_ended_claim_spares_one_taken_meanwhile(
    live: LiveView, client: redis.Redis, prefix: str
) -> None:
    """Between noting a claim's holder and dropping it, a reconcile asks Temporal: the customer
    may write again meanwhile and a specialist accept the new run, even the same one."""
    keys = live._claim_keys(TENANT, "c-1")
    ttl = 60

    assert live.claim(TENANT, "c-1", "dana") == "dana"
    assert live._check_claim(keys=keys, args=[ttl]) == "dana"
    assert live.claim(TENANT, "c-1", "dana") == "dana"  # the new run's accept, same specialist
    assert not live._end_claim(keys=keys, args=["dana"])
    assert live.claim_holder(TENANT, "c-1") == "dana"

    assert live._check_claim(keys=keys, args=[ttl]) == "dana"
    assert live.release_claim(TENANT, "c-1", "dana")
    assert live.claim(TENANT, "c-1", "eli") == "eli"  # released and taken by another
    assert not live._end_claim(keys=keys, args=["dana"])
    assert live.claim_holder(TENANT, "c-1") == "eli"

    assert live._check_claim(keys=keys, args=[ttl]) == "eli"
    assert live._end_claim(keys=keys, args=["eli"])
    assert live.claim_holder(TENANT, "c-1") is None
    assert set(client.scan_iter(f"{prefix}:*")) == set(), "no check is left behind"


# --- the real workflows, through warmline's worker ----------------------------------------------

PEER_SUPPORT = Path(__file__).resolve().parents[2] / "examples" / "peer-support" / "warmline.yaml"
GRIEF = "My husband passed away yesterday and I don't know what to do"


async def eventually(probe: Callable[[], Awaitable[T | None]], what: str) -> T:
    for _ in range(300):
        found = await probe()
        if found is not None:
            return found
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


async def test_rebuild_restores_real_escalations_and_claims(
    namespace_client: Client, task_queue: str, redis_url: str, kafka_bootstrap: str, prefix: str
) -> None:
    config = load_config(PEER_SUPPORT, resolve_secrets=False)
    policy = escalation_policy(config)
    assert policy.routing is not None
    roster_id = f"roster/test-{uuid.uuid4().hex[:8]}"
    policy = policy.model_copy(
        update={"routing": policy.routing.model_copy(update={"roster_id": roster_id})}
    )
    live = LiveView.connect(redis_url, prefix=prefix)
    raw = redis.Redis.from_url(redis_url, decode_responses=True)
    publisher = EventPublisher.connect(kafka_bootstrap, topic=f"events-{uuid.uuid4().hex[:8]}")
    routing = Routing(
        roster=roster_settings(config),
        live_view=live,
        renderer=renderer_from_config(config),
    )
    tenant = "open-door"

    async def escalate(conversation: str) -> Offer:
        await namespace_client.start_workflow(
            ConversationWorkflow.run,
            ConversationInput(tenant_id=tenant, conversation_id=conversation, policy=policy),
            id=conversation_workflow_id(tenant, conversation),
            task_queue=task_queue,
        )
        handle = namespace_client.get_workflow_handle_for(
            ConversationWorkflow.run, conversation_workflow_id(tenant, conversation)
        )
        await handle.execute_update(
            ConversationWorkflow.add_message, CustomerMessage(message_id="m1", text=GRIEF)
        )
        escalation = namespace_client.get_workflow_handle_for(
            EscalationWorkflow.run, escalation_workflow_id(tenant, conversation, 1)
        )

        async def open_offer() -> Offer | None:
            try:
                view = await escalation.query(EscalationWorkflow.view)
            except RPCError:  # the escalation has not started yet
                return None
            offers = [o for o in view.offers if o.status is OfferStatus.OPEN]
            return offers[0] if offers else None

        return await eventually(open_offer, f"an offer for {conversation}")

    with ThreadPoolExecutor(max_workers=ACTIVITY_THREADS) as executor:
        async with build_worker(
            namespace_client,
            provider=LexiconProvider(),
            publisher=publisher,
            task_queue=task_queue,
            executor=executor,
            routing=routing,
        ):
            waiting_offer = await escalate("conv-waiting")
            owned_offer = await escalate("conv-owned")
            await namespace_client.get_workflow_handle_for(
                EscalationWorkflow.run, escalation_workflow_id(tenant, "conv-owned", 1)
            ).execute_update(
                EscalationWorkflow.accept,
                AcceptRequest(
                    offer_id=owned_offer.offer_id, specialist_id=owned_offer.specialist_id
                ),
            )
            owner = owned_offer.specialist_id

            async def owned() -> bool | None:
                handle = namespace_client.get_workflow_handle_for(
                    ConversationWorkflow.run, conversation_workflow_id(tenant, "conv-owned")
                )
                view = await handle.query(ConversationWorkflow.view)
                return True if view.owner == owner else None

            await eventually(owned, "the accepted conversation's owner")
            await listed(namespace_client, ESCALATIONS_QUERY, 1)

            # The workflow's own activity keeps the view current ...
            async def applied() -> list[Offer] | None:
                offers = await asyncio.to_thread(live.offers_for, waiting_offer.specialist_id)
                return offers or None

            assert [o.offer_id for o in await eventually(applied, "the applied offer")] == [
                waiting_offer.offer_id
            ]
            # ... and after the view is lost, a rebuild brings it back from Temporal.
            await asyncio.to_thread(raw.flushall)
            assert not await asyncio.to_thread(live.is_built)
            assert (await live.rebuild(namespace_client)).applied == 1
            assert await asyncio.to_thread(live.is_built)
            [view] = await asyncio.to_thread(live.waiting, tenant, waiting_offer.queue)
            assert view.conversation_id == "conv-waiting"
            offers = await asyncio.to_thread(live.offers_for, waiting_offer.specialist_id)
            assert [o.offer_id for o in offers] == [waiting_offer.offer_id]
            assert await asyncio.to_thread(live.claim_holder, tenant, "conv-owned") == owner
            assert await asyncio.to_thread(live.claim_holder, tenant, "conv-waiting") is None

            for conversation in ("conv-waiting", "conv-owned"):
                handle = namespace_client.get_workflow_handle_for(
                    ConversationWorkflow.run, conversation_workflow_id(tenant, conversation)
                )
                await handle.signal(ConversationWorkflow.close, CloseRequest())
    publisher.close()
    live.close()
    raw.close()
