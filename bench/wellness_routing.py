"""Does wellness-aware routing actually protect people? One simulated day, replayed per strategy.

A seeded day — customers arriving on a curve with a morning and an afternoon peak, a mix of
routine, distressed and crisis contacts, a team of eight specialists on staggered shifts — is
played through the real workflows (conversation, escalation, roster, wellness) on Temporal's
time-skipping test server, with real Kafka and Redis, once per routing strategy. Simulated
specialists accept offers after a delay and complete conversations after a duration, both drawn
from the seed per contact and person, so every strategy gets the identical day. Exposure comes
from the real path: the `ExposureTracker` reads the conversation events and signals each
specialist's `WellnessWorkflow`; the figures are read back from the events those workflows publish
and from their `state` query.

    .venv/bin/python -m bench.wellness_routing [--contacts 100] [--seed 7]
        [--strategy longest_idle --strategy least_busy --strategy wellness_aware]
        [--add-member staff-kofi:crisis:1:2-10]
        [--chart docs/images/wellness-routing.png] [--json]

The deployment is `examples/peer-support/warmline.yaml` as shipped (triage model, rules, queues,
crisis lane, wellness policy) with the roster replaced by the benchmark's team. See
docs/benchmarks.md for what each figure means and what it was on this machine.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import heapq
import math
import random
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

from redis import Redis
from rich.console import Console
from rich.table import Table
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import LoggingConfig, Runtime, TelemetryConfig, TelemetryFilter
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from activities.routing import ensure_roster, set_availability
from bench.common import gini, percentile, reduction_interval, run_on_services
from warmline.config.loader import load_config
from warmline.config.model import WarmlineConfig
from warmline.conversation import (
    CloseRequest,
    CompleteRequest,
    ConversationInput,
    ConversationOutcome,
    CustomerMessage,
    EscalationPolicy,
    workflow_id,
)
from warmline.escalation import (
    AcceptRequest,
    AssignRequest,
    EscalationStatus,
    EscalationView,
    OfferStatus,
    escalation_workflow_id,
)
from warmline.events import DomainEvent, EventPublisher, EventType
from warmline.events.admin import ensure_topics
from warmline.events.deadletter import DeadLetters
from warmline.events.dedupe import Deduper
from warmline.events.pump import read_until_quiet
from warmline.handoff import renderer_from_config
from warmline.liveview import LiveView
from warmline.roster import AvailabilityRequest, RosterMember, RosterSettings
from warmline.routing import admission_named, strategy_named
from warmline.runtime import build_provider, escalation_policy, roster_settings, wellness_policy
from warmline.services import (
    Endpoints,
    LocalServices,
    ServiceName,
    gave_up_by_test_server,
    temporal_test_server_path,
)
from warmline.wellness.client import WellnessClient
from warmline.wellness.policy import Shift, WellnessState
from warmline.wellness.tracker import (
    ExposureCounter,
    ExposureTracker,
    TrackerSettings,
    TrackStore,
)
from warmline.wellness.view import WellnessStateStore
from warmline.worker import ACTIVITY_THREADS, Routing, build_worker
from workflows.conversation import ConversationWorkflow
from workflows.escalation import EscalationWorkflow
from workflows.wellness import WellnessWorkflow

CONFIG = Path(__file__).resolve().parents[1] / "examples" / "peer-support" / "warmline.yaml"
BASELINE = "longest_idle"
CANDIDATE = "wellness_aware"
PEAK_TARGET = 0.30
"""Peak individual exposure and its Gini at least this much lower than the baseline's."""
SLA_TOLERANCE = 0.02
"""SLA attainment within this many (fractional) points of the baseline's."""

POLL = timedelta(seconds=5)
"""While an escalation waits, the simulated specialists look at their offers this often."""
MAX_SKIP = timedelta(minutes=2)
"""Most workflow time skipped in one call: one long skip of the test server is fragile under
load (it can hang)."""
OVERTIME = timedelta(hours=2)
"""After the last shift, the day stops this much later at the latest (leftovers are closed)."""
TRACKER_WAIT_S = 30.0
"""Real time a completion may take to reach the wellness workflow through Kafka."""
QUIET_S = 1.0
"""Reading the events back stops once the topic has been quiet this long (real time)."""
STALL_S = 120.0
"""A run whose driver reports no change for this long (real time) is stalled: Temporal's
time-skipping test server now and then stops answering a skip (about one run in twenty on this
machine). The run is abandoned and played again on a fresh server; the day is deterministic, so
the replay is the same run."""
ATTEMPTS = 3
UPDATE_WAIT_S = 10.0
"""Real time the driver's update may take to be answered. A tiny day's updates take well under a
second, but the test server can leave a workflow without another workflow task, and then never
admits an update: it refuses a completion that cancels a timer which fired while the task ran
("invalid history builder state for action", temporalio/sdk-java#2606 and #3088). The escalation
used to poll the roster on 1 ms timers while a supervisor's offer was open, which made that race
near-certain: the accept of that offer hung in 9 of 25 plays of the paged-crisis test's day, and
in none of 25 once the escalation was fixed. Any timer cancelled as it fires can still meet it, so
such a run is played again once this wait ends instead of after `STALL_S` without a change."""

T = TypeVar("T")


class Kind(StrEnum):
    ROUTINE = "routine"
    """The AI handles it: no escalation."""
    DISTRESSED = "distressed"
    """Grief and loss: the `listening` queue."""
    PANIC = "panic"
    """Fear and panic: the `listening-priority` queue (intense)."""
    CRISIS = "crisis"
    """The crisis lane."""


TEXTS: dict[Kind, tuple[str, ...]] = {
    Kind.ROUTINE: (
        "Hi, what time are you open until tonight?",
        "Thanks for the chat earlier, I'm feeling a bit better now.",
        "I just wanted to say thank you, the volunteer yesterday really helped.",
        "Is this service free to use?",
        "Can I talk to someone in Spanish?",
        "How do I become a volunteer with you?",
        "Can you remind me of the hours for the evening line?",
        "Do you have a text service as well as chat?",
        "Hello! Just checking the chat works on my phone.",
        "Where can I read about your privacy policy?",
    ),
    Kind.DISTRESSED: (
        "My mum passed away on Sunday and I don't know how to cope with the grief.",
        "I lost my best friend last year and the anniversary is tomorrow, I miss him so much.",
        "Our dog died this morning and I am heartbroken.",
        "My cat passed away last week, I'm sad but mostly okay, I just miss her.",
        "My wife died two years ago and Christmas is coming, I could use someone to listen.",
        "My grandmother passed away peacefully last night, I'd like to talk about her.",
    ),
    Kind.PANIC: (
        "I'm terrified and panicking, I can't stop shaking and I'm frightened something awful "
        "will happen",
        "I'm really scared and afraid, I'm panicking and I can't calm down",
        "I'm so frightened, I keep panicking about everything and I'm scared to be alone tonight",
        "I'm scared of going outside, I'm afraid and panicking every time I try",
    ),
    Kind.CRISIS: (
        "I want to end it all, nobody would miss me",
        "I've been thinking about killing myself tonight",
        "I cut myself again and I don't want to be here anymore",
        "I have the pills in front of me and I want to die",
        "He hits me when he drinks and I'm scared to go home",
    ),
}
"""Opening messages the shipped peer-support triage model routes as the kind says (checked by
`tests/bench/test_wellness_routing.py`)."""
QUEUE_OF: dict[Kind, str | None] = {
    Kind.ROUTINE: None,
    Kind.DISTRESSED: "listening",
    Kind.PANIC: "listening-priority",
    Kind.CRISIS: "crisis",
}
"""The queue each kind's opening message is routed to; routine contacts stay with the AI."""

HANDLING_MINUTES: dict[Kind, tuple[float, float, float]] = {
    Kind.ROUTINE: (10, 25, 15),
    Kind.DISTRESSED: (10, 35, 18),
    Kind.PANIC: (15, 40, 22),
    Kind.CRISIS: (25, 60, 35),
}
"""(low, high, mode) of a triangular draw: how long a specialist holds the conversation (a
routine contact that escalates after all takes the first row)."""
ACCEPT_SECONDS: dict[bool, tuple[float, float, float]] = {False: (5, 50, 15), True: (3, 16, 6)}
"""(low, high, mode) of how long a specialist takes to accept an offer; True for an offer from
the crisis queue (a crisis, or an escalation whose chain ended there)."""
SUPERVISOR_SECONDS: tuple[float, float, float] = (30, 180, 60)
"""(low, high, mode) of how long a paged supervisor takes to assign the escalation (with
`--supervisor-assigns`), and to try again after an assigned offer went unanswered."""
SUPERVISOR_RETRY = timedelta(minutes=1)
"""When nobody could be assigned, how long until the supervisor looks again."""


@dataclass(frozen=True)
class Member:
    """A specialist of the benchmark's team and their shift (hours from the day's start)."""

    id: str
    crisis_trained: bool
    capacity: int
    starts: float
    ends: float
    skills: tuple[str, ...] = ("listening",)


TEAM: tuple[Member, ...] = (
    Member(
        "staff-ren",
        crisis_trained=True,
        capacity=1,
        starts=0,
        ends=8,
        skills=("listening", "crisis"),
    ),
    Member(
        "staff-nia",
        crisis_trained=True,
        capacity=1,
        starts=0,
        ends=8,
        skills=("listening", "crisis", "bereavement"),
    ),
    Member(
        "vol-aoife",
        crisis_trained=False,
        capacity=1,
        starts=0,
        ends=8,
        skills=("listening", "bereavement"),
    ),
    Member(
        "staff-luis",
        crisis_trained=True,
        capacity=1,
        starts=1,
        ends=9,
        skills=("listening", "crisis"),
    ),
    Member("vol-marcus", crisis_trained=False, capacity=2, starts=1, ends=9),
    Member(
        "staff-ade",
        crisis_trained=True,
        capacity=1,
        starts=2,
        ends=10,
        skills=("listening", "crisis"),
    ),
    Member(
        "staff-priya",
        crisis_trained=True,
        capacity=1,
        starts=2,
        ends=10,
        skills=("listening", "crisis"),
    ),
    Member("vol-sam", crisis_trained=False, capacity=2, starts=2, ends=10),
)
"""Eight specialists on staggered 8-hour shifts over a 10-hour day (08:00-18:00): five
crisis-trained staff and three volunteers."""


@dataclass(frozen=True)
class Contact:
    id: str
    arrives: timedelta
    """From the day's start."""
    kind: Kind
    text: str
    minutes: float
    """How long the specialist who accepts holds the conversation."""


@dataclass(frozen=True)
class Day:
    """Everything every strategy's run shares: the team, the contacts, the seed."""

    seed: int
    hours: float
    team: tuple[Member, ...]
    contacts: tuple[Contact, ...]

    def accept_after(self, offer_id: str, specialist: str, *, urgent: bool) -> timedelta:
        """How long `specialist` takes to accept an offer: a fresh draw per offer (a re-offer is
        answered anew), the same in every run for the same offer; `urgent` for the crisis
        queue, whose offers expire within seconds."""
        rng = random.Random(f"{self.seed}:{offer_id}:{specialist}:accept")  # noqa: S311 - a simulation
        low, high, mode = ACCEPT_SECONDS[urgent]
        return timedelta(seconds=rng.triangular(low, high, mode))

    def supervisor_after(self, contact: str, attempt: int) -> timedelta:
        """How long the paged supervisor takes before their `attempt`-th assignment of
        `contact`'s escalation (the same in every run)."""
        rng = random.Random(f"{self.seed}:{contact}:{attempt}:supervisor")  # noqa: S311 - a simulation
        return timedelta(seconds=rng.triangular(*SUPERVISOR_SECONDS))


def arrival_rate(hour: float) -> float:
    """The shape of a day's arrivals (relative): a base load with a peak around 10:30 and a
    smaller, wider one around 15:00, hours counted from 08:00."""
    return (
        0.35
        + 1.0 * math.exp(-(((hour - 2.5) / 1.0) ** 2) / 2)
        + 0.8 * math.exp(-(((hour - 7.0) / 1.25) ** 2) / 2)
    )


def plan_day(
    *,
    seed: int = 7,
    contacts: int = 100,
    hours: float = 10.0,
    distressed: float = 0.20,
    crisis: float = 0.04,
    team: Sequence[Member] = TEAM,
) -> Day:
    """A seeded day: `contacts` arrivals over `hours` on `arrival_rate`'s curve; a `distressed`
    share (grief, and a third of them panic) and a `crisis` share, the rest routine."""
    rng = random.Random(seed)  # noqa: S311 - a simulation, not security
    peak = max(arrival_rate(h / 10) for h in range(int(hours * 10) + 1))
    moments: list[float] = []
    while len(moments) < contacts:
        hour = rng.uniform(0, hours)
        if rng.uniform(0, peak) <= arrival_rate(hour):
            moments.append(hour)
    planned = []
    for number, hour in enumerate(sorted(moments), start=1):
        draw = rng.random()
        if draw < crisis:
            kind = Kind.CRISIS
        elif draw < crisis + distressed:
            kind = Kind.PANIC if rng.random() < 1 / 3 else Kind.DISTRESSED
        else:
            kind = Kind.ROUTINE
        low, high, mode = HANDLING_MINUTES[kind]
        planned.append(
            Contact(
                id=f"c{number:04d}-{kind.value}",
                arrives=timedelta(hours=hour),
                kind=kind,
                text=rng.choice(TEXTS[kind]),
                minutes=round(rng.triangular(low, high, mode), 2),
            )
        )
    return Day(seed=seed, hours=hours, team=tuple(team), contacts=tuple(planned))


# --- one run ---------------------------------------------------------------------------------


@dataclass
class RunRecord:
    """What one strategy's run produced, before it is summarised."""

    strategy: str
    events: list[DomainEvent]
    states: dict[str, WellnessState]
    wall_s: float
    closed_early: list[str] = field(default_factory=list)
    """Conversations still open when the day stopped (closed by the benchmark)."""
    attempts: int = 1
    """Runs it took: more than one when a run stalled and was played again."""


Progress = Callable[[str], None]


@dataclass(order=True)
class _Due:
    when: datetime
    order: int
    kind: str = field(compare=False)
    subject: str = field(compare=False)
    detail: str = field(compare=False, default="")


class _Driver:
    """Moves the test server's clock and plays the customers and the specialists."""

    def __init__(
        self,
        env: WorkflowEnvironment,
        day: Day,
        config: WarmlineConfig,
        policy: EscalationPolicy,
        task_queue: str,
        tracker: ExposureTracker,
        progress: Progress,
        supervisor: str | None = None,
    ) -> None:
        self.env = env
        self.client: Client = env.client
        self.day = day
        self.tenant = config.tenants[0].id
        self.country = config.tenants[0].country
        self.policy = policy
        self.crisis_queue = config.triage.crisis.queue
        self.task_queue = task_queue
        self.tracker = tracker
        self.progress = progress
        self.start = datetime.min
        self._agenda: list[_Due] = []
        self._order = 0
        self.contacts = {c.id: c for c in day.contacts}
        self.conversations: dict[
            str, WorkflowHandle[ConversationWorkflow, ConversationOutcome]
        ] = {}
        self.waiting: set[str] = set()
        """Escalated contacts nobody has accepted yet."""
        self.offers_seen: set[str] = set()
        self.owner: dict[str, str] = {}
        self.done: set[str] = set()
        self.completions = 0
        self.supervisor = supervisor
        """The supervisor who assigns paged escalations; None: pages go unanswered."""
        self.idle_since: dict[str, datetime] = {}
        self.supervise_at: dict[str, datetime] = {}
        self.assignments: dict[str, int] = {}

    @property
    def roster_id(self) -> str:
        return policy_roster(self.policy)

    def _push(self, when: datetime, kind: str, subject: str, detail: str = "") -> None:
        self._order += 1
        heapq.heappush(self._agenda, _Due(when, self._order, kind, subject, detail))

    async def play(self, start: datetime) -> list[str]:
        """The whole day from `start`; returns the conversations the benchmark had to close."""
        self.start = start
        for member in self.day.team:
            await set_availability(
                self.client,
                self.roster_id,
                AvailabilityRequest(specialist_id=member.id, available=False),
            )
            self._push(self.start + timedelta(hours=member.starts), "on", member.id)
            self._push(self.start + timedelta(hours=member.ends), "off", member.id)
        for contact in self.day.contacts:
            self._push(self.start + contact.arrives, "arrive", contact.id)
        # Nobody is on shift after `closing`: escalations still waiting then can only be closed.
        closing = self.start + timedelta(hours=max(m.ends for m in self.day.team)) + POLL
        stop = closing + OVERTIME
        while True:
            now = await self.env.get_current_time()
            watching = bool(self.waiting) and now < closing
            if now >= stop or not (self._agenda or watching):
                break
            target = self._agenda[0].when if self._agenda else stop
            if watching:
                target = min(target, now + POLL)
            await self._advance_to(min(target, stop))
            now = await self.env.get_current_time()
            while self._agenda and self._agenda[0].when <= now:
                await self._perform(heapq.heappop(self._agenda))
            if self.waiting and now < closing:
                await self._look_at_offers()
            # To the minute: the stall watch counts only a changed line as progress, and a paged
            # escalation is polled every 5 s with nothing else changing.
            minutes = int((now - self.start).total_seconds() // 60)
            self.progress(
                f"{minutes // 60}:{minutes % 60:02d} into the day, "
                f"{len(self.conversations)}/{len(self.contacts)} contacts, "
                f"{len(self.waiting)} waiting, {len(set(self.owner) - self.done)} in progress"
            )
        return await self._close_leftovers()

    async def _advance_to(self, moment: datetime) -> None:
        while (now := await self.env.get_current_time()) < moment:
            await self.env.sleep(min(moment - now, MAX_SKIP))

    async def _perform(self, due: _Due) -> None:
        if due.kind == "on":
            self.idle_since[due.subject] = due.when
        if due.kind in {"on", "off"}:
            await set_availability(
                self.client,
                self.roster_id,
                AvailabilityRequest(specialist_id=due.subject, available=due.kind == "on"),
            )
        elif due.kind == "arrive":
            await self._arrive(self.contacts[due.subject])
        elif due.kind == "accept":
            await self._accept(due.subject, offer_id=due.detail)
        elif due.kind == "complete":
            await self._complete(due.subject, specialist=due.detail)

    async def _arrive(self, contact: Contact) -> None:
        handle = await self.client.start_workflow(
            ConversationWorkflow.run,
            ConversationInput(
                tenant_id=self.tenant,
                conversation_id=contact.id,
                country=self.country,
                policy=self.policy,
            ),
            id=workflow_id(self.tenant, contact.id),
            task_queue=self.task_queue,
        )
        self.conversations[contact.id] = handle
        answer = await answered(
            handle.execute_update(
                ConversationWorkflow.add_message,
                CustomerMessage(message_id="m1", text=contact.text),
            )
        )
        if answer.escalated:
            self.waiting.add(contact.id)
        else:
            await handle.signal(ConversationWorkflow.close, CloseRequest(reason="resolved"))
            self.done.add(contact.id)

    def _escalation(self, contact: str) -> WorkflowHandle[EscalationWorkflow, Any]:
        return self.client.get_workflow_handle_for(
            EscalationWorkflow.run, escalation_workflow_id(self.tenant, contact, 1)
        )

    async def _look_at_offers(self) -> None:
        """Each waiting escalation's open offers: the specialist will accept after their delay."""
        now = await self.env.get_current_time()
        for contact in sorted(self.waiting):
            try:
                view = await self._escalation(contact).query(EscalationWorkflow.view)
            except RPCError:
                continue  # the child is still starting
            if view.status is EscalationStatus.CANCELLED:
                # The customer left (the inactivity timeout) before anyone accepted.
                self.waiting.discard(contact)
            if view.status is not EscalationStatus.WAITING:
                continue
            for offer in view.offers:
                if offer.status is not OfferStatus.OPEN or offer.offer_id in self.offers_seen:
                    continue
                self.offers_seen.add(offer.offer_id)
                urgent = offer.crisis or offer.queue == self.crisis_queue
                delay = self.day.accept_after(offer.offer_id, offer.specialist_id, urgent=urgent)
                self._push(max(offer.created_at + delay, now), "accept", contact, offer.offer_id)
            if self.supervisor is not None and view.paged_at is not None:
                await self._supervise(contact, view, now)

    async def _supervise(self, contact: str, view: EscalationView, now: datetime) -> None:
        """The paged supervisor assigns the escalation, once they have reacted, to whoever on
        shift has been free longest: their console shows who is free, not anyone's exposure
        (that stays with the worker). The roster refuses a break, a missing skill, a full slot;
        the next in line is tried, and with nobody left the supervisor looks again later."""
        assert self.supervisor is not None
        if any(o.status is OfferStatus.OPEN and o.assigned_by for o in view.offers):
            return
        attempt = self.assignments.get(contact, 0)
        assert view.paged_at is not None
        due = self.supervise_at.setdefault(
            contact, view.paged_at + self.day.supervisor_after(contact, attempt)
        )
        if now < due:
            return
        holding = Counter(self.owner[c] for c in self.owner if c not in self.done)
        free = [
            m
            for m in self.day.team
            if self.start + timedelta(hours=m.starts) <= now < self.start + timedelta(hours=m.ends)
            and holding[m.id] < m.capacity
        ]
        free.sort(key=lambda m: (self.idle_since.get(m.id, self.start), m.id))
        for member in free:
            try:
                await answered(
                    self._escalation(contact).execute_update(
                        EscalationWorkflow.assign,
                        AssignRequest(
                            supervisor_id=self.supervisor,
                            specialist_id=member.id,
                            reason="free the longest",
                        ),
                    )
                )
            except WorkflowUpdateFailedError:
                continue  # refused: the message says why; the next in line
            self.assignments[contact] = attempt + 1
            self.supervise_at[contact] = now + self.day.supervisor_after(contact, attempt + 1)
            return
        self.supervise_at[contact] = now + SUPERVISOR_RETRY

    async def _accept(self, contact: str, *, offer_id: str) -> None:
        if contact not in self.waiting:
            return
        view = await self._escalation(contact).query(EscalationWorkflow.view)
        offer = next((o for o in view.offers if o.offer_id == offer_id), None)
        if offer is None or offer.status is not OfferStatus.OPEN:
            return  # expired, or withdrawn because someone else accepted first
        try:
            await answered(
                self._escalation(contact).execute_update(
                    EscalationWorkflow.accept,
                    AcceptRequest(offer_id=offer_id, specialist_id=offer.specialist_id),
                )
            )
        except WorkflowUpdateFailedError:
            return  # it expired a moment ago
        self.waiting.discard(contact)
        self.owner[contact] = offer.specialist_id
        now = await self.env.get_current_time()
        minutes = timedelta(minutes=self.contacts[contact].minutes)
        self._push(now + minutes, "complete", contact, offer.specialist_id)

    async def _complete(self, contact: str, *, specialist: str) -> None:
        handle = self.conversations[contact]
        if (await handle.describe()).status is not WorkflowExecutionStatus.RUNNING:
            # The customer left (the inactivity timeout) as the specialist accepted: the
            # escalation handed the slot back, and there is nothing left to complete.
            self.done.add(contact)
            return
        try:
            await answered(
                handle.execute_update(
                    ConversationWorkflow.complete,
                    CompleteRequest(specialist_id=specialist, outcome="resolved"),
                )
            )
        except WorkflowUpdateFailedError:
            # The handoff is still being rendered: try again shortly.
            now = await self.env.get_current_time()
            self._push(now + POLL, "complete", contact, specialist)
            return
        self.done.add(contact)
        self.completions += 1
        self.idle_since[specialist] = await self.env.get_current_time()
        await self.tracker_caught_up()

    async def tracker_caught_up(self) -> None:
        """Wait (real time) until the tracker has recorded every completion so far, so a break
        starts when the conversation ended rather than when the clock next moves."""
        deadline = time.monotonic() + TRACKER_WAIT_S
        # The tracker only counts (it has no event to wait on), hence the polling.
        while self.tracker.counter.recorded < self.completions and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.02)

    async def _close_leftovers(self) -> list[str]:
        """Past the day's end: close what is still open (customers who waited in vain, or
        conversations still held)."""
        leftovers = sorted(set(self.conversations) - self.done)
        for contact in leftovers:
            with contextlib.suppress(RPCError):  # closed already (the inactivity timeout)
                await self.conversations[contact].signal(
                    ConversationWorkflow.close, CloseRequest(reason="customer_left")
                )
        for contact in leftovers:
            await self.conversations[contact].result()
        return leftovers


def team_roster(config: WarmlineConfig, team: Sequence[Member], strategy: str) -> RosterSettings:
    """The configuration's roster settings with the benchmark's team and `strategy`."""
    strategy_named(strategy)
    members = [
        RosterMember(
            id=m.id, skills=list(m.skills), capacity=m.capacity, crisis_trained=m.crisis_trained
        )
        for m in team
    ]
    # The TaskRouter-style strategies, the baselines here, ignore wellness, breaks included
    # (docs/benchmarks.md); `wellness_aware` reads it, and stops offers on a break by itself.
    reads_wellness = admission_named(strategy) is not None
    changes = {"members": members, "strategy": strategy, "breaks_stop_offers": reads_wellness}
    return roster_settings(config).model_copy(update=changes)


async def run_day(
    day: Day,
    strategy: str,
    *,
    kafka: str,
    redis: str,
    config: WarmlineConfig | None = None,
    progress: Progress | None = None,
    supervisor_assigns: bool = False,
) -> RunRecord:
    """Play `day` with routing `strategy` on a fresh time-skipping server; everything else
    (Kafka topic, Redis keys, task queue) is fresh too. `config`: the peer-support example's.
    `supervisor_assigns`: the configuration's first supervisor assigns paged escalations."""
    say = progress or (lambda _text: None)
    began = time.perf_counter()
    config = config or deployment_config()
    run_id = uuid.uuid4().hex[:8]
    task_queue = f"bench-wellness-{run_id}"
    topic = f"bench-wellness-{run_id}"
    deployment = config.metadata.name
    await asyncio.to_thread(ensure_topics, kafka, [topic])
    publisher = EventPublisher.connect(kafka, topic=topic, wellness_topic=topic)
    live_view = LiveView.connect(redis, prefix=f"bench-{run_id}")
    store = WellnessStateStore.connect(redis, deployment=deployment, prefix=f"bench-{run_id}")
    tracks = Redis.from_url(redis)
    settings = team_roster(config, day.team, strategy)
    policy = escalation_policy(config, task_queue=task_queue)
    routing = Routing(
        roster=settings,
        live_view=live_view,
        renderer=renderer_from_config(config),
        wellness=store,
    )
    say("starting a time-skipping test server")
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter,
        test_server_existing_path=str(temporal_test_server_path()),
        runtime=_quiet_runtime(),
    )
    wellness = WellnessClient(
        env.client, deployment=deployment, policy=wellness_policy(config), task_queue=task_queue
    )
    dead_letters = DeadLetters.connect(
        kafka, consumer="bench-tracker", topic=f"bench-deadletter-{run_id}"
    )
    tracker = ExposureTracker(
        ExposureCounter(
            wellness, TrackStore(tracks, deployment=deployment, prefix=f"bench-track-{run_id}")
        ),
        bootstrap=kafka,
        deduper=Deduper(tracks, scope=f"bench-tracker-{run_id}"),
        dead_letters=dead_letters,
        settings=TrackerSettings(events_topic=topic, group_id=f"bench-tracker-{run_id}"),
    )
    try:
        with ThreadPoolExecutor(max_workers=ACTIVITY_THREADS) as executor:
            async with build_worker(
                env.client,
                provider=build_provider(config.triage.provider),
                publisher=publisher,
                task_queue=task_queue,
                executor=executor,
                routing=routing,
            ):
                tracking = asyncio.create_task(tracker.run())
                try:
                    await ensure_roster(
                        env.client, policy_roster(policy), settings, task_queue=task_queue
                    )
                    supervisor = config.routing.supervisors[0].id if supervisor_assigns else None
                    driver = _Driver(
                        env, day, config, policy, task_queue, tracker, say, supervisor=supervisor
                    )
                    # A minute's margin: shifts and roster are in place before the day starts.
                    start = await env.get_current_time() + timedelta(minutes=1)
                    for member in day.team:
                        await wellness.shift(
                            member.id,
                            Shift(
                                shift_id=f"day-{member.id}",
                                starts_at=start + timedelta(hours=member.starts),
                                ends_at=start + timedelta(hours=member.ends),
                            ),
                        )
                    say("roster and shifts in place")
                    leftovers = await driver.play(start)
                    say("waiting for the tracker to record the last completions")
                    await driver.tracker_caught_up()
                    states = {
                        m.id: await wellness.handle(m.id).query(WellnessWorkflow.state)
                        for m in day.team
                    }
                finally:
                    tracker.stop()
                    await tracking
                say("reading the events back")
                events = await asyncio.to_thread(read_events, kafka, topic)
    finally:
        await env.shutdown()
        publisher.close()
        dead_letters.close()
        live_view.close()
        store.close()
        tracks.close()
    return RunRecord(
        strategy=strategy,
        events=events,
        states=states,
        wall_s=round(time.perf_counter() - began, 1),
        closed_early=leftovers,
    )


def _quiet_runtime() -> Runtime:
    """A runtime whose core logs only errors: its warnings would land in the `--json` output."""
    logging = LoggingConfig(filter=TelemetryFilter(core_level="ERROR", other_level="ERROR"))
    return Runtime(telemetry=TelemetryConfig(logging=logging))


def policy_roster(policy: EscalationPolicy) -> str:
    """The roster the escalations of `policy` reserve from."""
    if policy.routing is None:
        raise RuntimeError("the benchmark's policy has routing")
    return policy.routing.roster_id


def read_events(bootstrap: str, topic: str) -> list[DomainEvent]:
    """Every event on the run's topic (each once), read until it has been quiet for a while."""
    events: dict[str, DomainEvent] = {}
    for event in read_until_quiet(bootstrap, [topic], quiet_s=QUIET_S):
        events.setdefault(event.id, event)
    # A stable sort: events of one moment stay in publish order, which Kafka keeps per subject
    # (one worker's events share a key, hence a partition); their ids carry no order.
    return sorted(events.values(), key=lambda e: e.time)


# --- figures ---------------------------------------------------------------------------------


def _breaks(events: Sequence[DomainEvent]) -> dict[str, list[tuple[datetime, datetime]]]:
    """Each worker's breaks as (start, end); a break extended while it ran counts once."""
    spans: dict[str, list[tuple[datetime, datetime]]] = {}
    open_at: dict[str, datetime] = {}
    for event in events:
        worker = event.subject
        if event.type == EventType.WELLNESS_BREAK_STARTED and worker not in open_at:
            open_at[worker] = event.time
        elif event.type == EventType.WELLNESS_BREAK_ENDED and worker in open_at:
            spans.setdefault(worker, []).append((open_at.pop(worker), event.time))
    for worker, started in open_at.items():
        spans.setdefault(worker, []).append((started, datetime.max.replace(tzinfo=started.tzinfo)))
    return spans


def _exposure(events: Sequence[DomainEvent]) -> dict[str, float]:
    """Each worker's exposure over the whole day: the sum of the increases their wellness
    workflow reported (a shift start resets the shift's figure to 0)."""
    total: dict[str, float] = {}
    last: dict[str, float] = {}
    for event in events:
        if event.type != EventType.WELLNESS_EXPOSURE_UPDATED:
            continue
        value = float(event.data["exposure_minutes"])
        worker = event.subject
        total[worker] = total.get(worker, 0.0) + max(0.0, value - last.get(worker, 0.0))
        last[worker] = value
    return total


def summarise(day: Day, config: WarmlineConfig, run: RunRecord) -> dict[str, Any]:
    """The side-by-side figures of one run."""
    events = run.events
    queues = {q.name: q.accept_within for q in config.routing.queues}
    crisis_lane = config.triage.crisis
    team = [m.id for m in day.team]
    escalated = {e.subject: e for e in events if e.type == EventType.CONVERSATION_ESCALATED}
    accepted = {e.subject: e for e in events if e.type == EventType.HANDOFF_ACCEPTED}
    closed = {e.subject for e in events if e.type == EventType.CONVERSATION_CLOSED}
    paged = {e.subject for e in events if e.type == EventType.SUPERVISOR_PAGED}
    assigned = [e for e in events if e.type == EventType.ESCALATION_ASSIGNED]
    referrals = {e.subject for e in events if e.type == EventType.REFERRALS_SENT}
    met = 0
    waits: list[float] = []
    for conversation, event in escalated.items():
        crisis = bool(event.data.get("crisis"))
        within = crisis_lane.accept_within if crisis else queues[str(event.data["queue"])]
        handoff = accepted.get(conversation)
        if handoff is None:
            continue
        waited = float(handoff.data["waited_ms"]) / 1000
        waits.append(waited)
        met += waited <= within.total_seconds()
    per_person = dict.fromkeys(team, 0)
    crises = dict.fromkeys(team, 0)
    for event in accepted.values():
        per_person[str(event.data["specialist"])] += 1
        crises[str(event.data["specialist"])] += bool(event.data.get("crisis"))
    exposure = {worker: round(_exposure(events).get(worker, 0.0), 1) for worker in team}
    breaks = _breaks(events)
    offers = [e for e in events if e.type == EventType.OFFER_CREATED]
    taken = honoured = offered_on_break = 0
    for worker, spans in breaks.items():
        for start, end in spans:
            taken += 1
            during = [o for o in offers if o.data["specialist"] == worker and start <= o.time < end]
            offered_on_break += len(during)
            honoured += not during
    budget = {
        worker: sum(
            1
            for e in events
            if e.type == EventType.WELLNESS_BUDGET_EXCEEDED and e.subject == worker
        )
        for worker in team
    }
    values = list(exposure.values())
    kinds = {kind.value: sum(c.kind is kind for c in day.contacts) for kind in Kind}
    by_queue: dict[str, int] = {}
    for event in escalated.values():
        by_queue[str(event.data["queue"])] = by_queue.get(str(event.data["queue"]), 0) + 1
    return {
        "strategy": run.strategy,
        "contacts": len(day.contacts),
        "contacts_by_kind": kinds,
        "conversations_closed": len(closed),
        "escalations": len(escalated),
        "escalations_by_queue": by_queue,
        "accepted": len(accepted),
        "sla_met": met,
        "sla_attainment": round(met / len(escalated), 4) if escalated else math.nan,
        "wait_p50_s": round(percentile(waits, 0.5), 1),
        "wait_p90_s": round(percentile(waits, 0.9), 1),
        "supervisor_pages": len(paged),
        "supervisor_assignments": len(assigned),
        "referrals_sent": len(referrals),
        "unaccepted": sorted(set(escalated) - set(accepted)),
        "closed_unfinished": run.closed_early,
        "exposure_minutes": exposure,
        "peak_exposure": max(values, default=0.0),
        "mean_exposure": round(sum(values) / len(values), 1) if values else 0.0,
        "exposure_gini": round(gini(values), 4),
        "conversations_per_person": per_person,
        "crisis_per_person": crises,
        "max_crisis_per_person": max(crises.values(), default=0),
        "breaks": taken,
        "breaks_honoured": honoured,
        "offers_during_breaks": offered_on_break,
        "budget_exceeded": budget,
        "people_over_budget": sum(1 for n in budget.values() if n),
        "workflow_exposure_now": {
            worker: round(state.exposure_minutes, 1) for worker, state in run.states.items()
        },
        "workflow_shifts": {worker: state.shift_number for worker, state in run.states.items()},
        "waits_s": [round(w, 1) for w in waits],
        "wall_s": run.wall_s,
        "attempts": run.attempts,
    }


def pool(days: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """One strategy's figures over several days: counts summed, SLA attainment and break
    figures pooled, the peak and the Gini averaged over the days (each day's own)."""
    team = list(days[0]["exposure_minutes"])
    escalations = sum(d["escalations"] for d in days)
    met = sum(d["sla_met"] for d in days)
    waits = [w for d in days for w in d["waits_s"]]

    def total(key: str) -> int:
        return int(sum(d[key] for d in days))

    def mean(key: str) -> float:
        return round(float(sum(d[key] for d in days)) / len(days), 4)

    return {
        "strategy": days[0]["strategy"],
        "days": len(days),
        "contacts": total("contacts"),
        "escalations": escalations,
        "accepted": total("accepted"),
        "unaccepted": sum(len(d["unaccepted"]) for d in days),
        "sla_met": met,
        "sla_attainment": round(met / escalations, 4) if escalations else math.nan,
        "sla_attainment_by_day": [d["sla_attainment"] for d in days],
        "wait_p50_s": round(percentile(waits, 0.5), 1),
        "wait_p90_s": round(percentile(waits, 0.9), 1),
        "supervisor_pages": total("supervisor_pages"),
        "supervisor_assignments": total("supervisor_assignments"),
        "peak_exposure": round(mean("peak_exposure"), 1),
        "peak_exposure_by_day": [d["peak_exposure"] for d in days],
        "peak_exposure_max": max(d["peak_exposure"] for d in days),
        "mean_exposure": round(mean("mean_exposure"), 1),
        "exposure_gini": mean("exposure_gini"),
        "exposure_gini_by_day": [d["exposure_gini"] for d in days],
        "exposure_minutes": {
            w: round(sum(d["exposure_minutes"][w] for d in days) / len(days), 1) for w in team
        },
        "crisis_per_person": {w: sum(d["crisis_per_person"][w] for d in days) for w in team},
        "max_crisis_per_person": max(d["max_crisis_per_person"] for d in days),
        "conversations_per_person": {
            w: sum(d["conversations_per_person"][w] for d in days) for w in team
        },
        "breaks": total("breaks"),
        "breaks_honoured": total("breaks_honoured"),
        "offers_during_breaks": total("offers_during_breaks"),
        "people_over_budget": total("people_over_budget"),
        "wall_s": round(sum(d["wall_s"] for d in days), 1),
    }


def verdict(summaries: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The issue's targets: the candidate against the baseline measured in the same run."""
    if BASELINE not in summaries or CANDIDATE not in summaries:
        return {}
    base, cand = summaries[BASELINE], summaries[CANDIDATE]

    def lower(key: str) -> float:
        return round(1 - cand[key] / base[key], 4) if base[key] else math.nan

    peak, spread = lower("peak_exposure"), lower("exposure_gini")
    sla = round(cand["sla_attainment"] - base["sla_attainment"], 4)
    found: dict[str, Any] = {
        "baseline": BASELINE,
        "peak_exposure_lower_by": peak,
        "gini_lower_by": spread,
        "sla_attainment_change": sla,
        "peak_target_met": peak >= PEAK_TARGET,
        "gini_target_met": spread >= PEAK_TARGET,
        "sla_target_met": sla >= -SLA_TOLERANCE,
    }
    # Pooled over several days: how far the luck of the days alone could move the two cuts.
    for key, name in (
        ("peak_exposure", "peak_exposure_lower_by"),
        ("exposure_gini", "gini_lower_by"),
    ):
        days = f"{key}_by_day"
        if len(base.get(days, ())) >= 2 and len(base[days]) == len(cand.get(days, ())):
            found[f"{name}_ci95"] = list(reduction_interval(base[days], cand[days]))
    return found


# --- output ----------------------------------------------------------------------------------


def chart(summary: dict[str, Any], path: Path) -> list[Path]:
    """Two PNGs: the highest individual exposure of each day per strategy (at `path`), and each
    specialist's mean exposure per day per strategy (beside it, `-team`)."""
    from bench.plots import grouped_bars

    runs: dict[str, dict[str, Any]] = summary["runs"]
    seeds = [f"seed {day['seed']}" for day in summary["days"]]
    budget = summary["budget_minutes"]
    peaks = grouped_bars(
        path,
        groups=[*seeds, "mean"],
        series={name: [*s["peak_exposure_by_day"], s["peak_exposure"]] for name, s in runs.items()},
        title="Highest individual exposure of the day, by routing strategy",
        y_label=f"weighted minutes (budget {budget:.0f} per shift)",
    )
    team = grouped_bars(
        path.with_name(f"{path.stem}-team{path.suffix}"),
        groups=list(next(iter(runs.values()))["exposure_minutes"]),
        series={name: list(s["exposure_minutes"].values()) for name, s in runs.items()},
        title="Each specialist's exposure, mean per day",
        y_label=f"weighted minutes (budget {budget:.0f} per shift)",
    )
    return [peaks, team]


def print_table(summary: dict[str, Any], console: Console) -> None:
    runs: dict[str, dict[str, Any]] = summary["runs"]
    seeds = ", ".join(str(d["seed"]) for d in summary["days"])
    table = Table(title=f"simulated days (seeds {seeds}), per routing strategy, pooled")
    table.add_column("")
    for name in runs:
        table.add_column(name, justify="right")

    def row(label: str, render: Callable[[dict[str, Any]], str]) -> None:
        table.add_row(label, *(render(s) for s in runs.values()))

    row("contacts / escalations", lambda s: f"{s['contacts']} / {s['escalations']}")
    row("SLA attainment", lambda s: f"{s['sla_attainment']:.1%} ({s['sla_met']})")
    row("wait p50 / p90", lambda s: f"{s['wait_p50_s']} / {s['wait_p90_s']} s")
    row(
        "supervisor pages / never accepted",
        lambda s: f"{s['supervisor_pages']} / {s['unaccepted']}",
    )
    row("peak exposure, mean of days (min)", lambda s: f"{s['peak_exposure']:.0f}")
    row("peak exposure, worst day (min)", lambda s: f"{s['peak_exposure_max']:.0f}")
    row("mean exposure (min)", lambda s: f"{s['mean_exposure']:.0f}")
    row("exposure Gini, mean of days", lambda s: f"{s['exposure_gini']:.3f}")
    row("most crises for one person in a day", lambda s: str(s["max_crisis_per_person"]))
    row("breaks honoured", lambda s: f"{s['breaks_honoured']} of {s['breaks']}")
    row("offers during breaks", lambda s: str(s["offers_during_breaks"]))
    row("person-days over budget", lambda s: str(s["people_over_budget"]))
    row("wall time", lambda s: f"{s['wall_s']} s")
    console.print(table)
    result = summary.get("verdict") or {}
    if result:
        console.print(
            f"{CANDIDATE} vs {result['baseline']}: peak exposure "
            f"{result['peak_exposure_lower_by']:.1%} lower"
            f"{_interval(result, 'peak_exposure_lower_by')} (target ≥ {PEAK_TARGET:.0%}), Gini "
            f"{result['gini_lower_by']:.1%} lower{_interval(result, 'gini_lower_by')} "
            f"(target ≥ {PEAK_TARGET:.0%}), SLA attainment "
            f"{result['sla_attainment_change']:+.1%} (target ≥ -{SLA_TOLERANCE:.0%})"
        )
    for path in summary.get("charts", []):
        console.print(f"chart: {path}")


def _interval(result: dict[str, Any], cut: str) -> str:
    """The verdict's interval for `cut` (a `verdict` key), for the printed line; "" for none."""
    if f"{cut}_ci95" not in result:
        return ""
    low, high = result[f"{cut}_ci95"]
    return f" (95 % interval over the days {low:.1%} to {high:.1%})"


async def run_all(
    days: Sequence[Day],
    strategies: Sequence[str],
    *,
    kafka: str,
    redis: str,
    config: WarmlineConfig | None = None,
    progress: Progress | None = None,
    supervisor_assigns: bool = False,
) -> dict[str, Any]:
    """Play each day once per strategy, one after the other; summarise per day and pooled."""
    config = config or deployment_config()
    say = progress or (lambda _text: None)
    per_day: list[dict[str, Any]] = []
    for number, day in enumerate(days, start=1):
        runs = {}
        for strategy in strategies:
            prefix = f"day {number}/{len(days)}, {strategy}: "
            record = await run_until_done(
                day,
                strategy,
                kafka=kafka,
                redis=redis,
                config=config,
                progress=functools.partial(_prefixed, say, prefix),
                supervisor_assigns=supervisor_assigns,
            )
            runs[strategy] = summarise(day, config, record)
        per_day.append({"seed": day.seed, "runs": runs, "verdict": verdict(runs)})
    pooled = {s: pool([d["runs"][s] for d in per_day]) for s in strategies}
    return {
        "budget_minutes": shift_budget(config, days[0].team if days else TEAM),
        "days": per_day,
        "runs": pooled,
        "verdict": verdict(pooled),
    }


class StalledRunError(RuntimeError):
    """A day's run stalled on every attempt."""


async def run_until_done(
    day: Day,
    strategy: str,
    *,
    kafka: str,
    redis: str,
    config: WarmlineConfig | None = None,
    progress: Progress | None = None,
    supervisor_assigns: bool = False,
    stall_s: float = STALL_S,
    attempts: int = ATTEMPTS,
) -> RunRecord:
    """`run_day`, played again on a fresh server when it stalls: no change for `stall_s` of
    real time (see `STALL_S`), or an update left unanswered (see `UPDATE_WAIT_S`); at most
    `attempts` plays."""
    say: Progress = progress or (lambda _text: None)
    for attempt in range(1, attempts + 1):
        last, said = time.monotonic(), ""

        def heard(text: str) -> None:
            # Only a change counts: a driver stuck retrying one step repeats the same line.
            nonlocal last, said
            if text != said:
                last, said = time.monotonic(), text
            say(text)

        run = asyncio.create_task(
            run_day(
                day,
                strategy,
                kafka=kafka,
                redis=redis,
                config=config,
                progress=heard,
                supervisor_assigns=supervisor_assigns,
            )
        )
        while not run.done() and time.monotonic() - last < stall_s:
            await asyncio.wait({run}, timeout=1.0)
        if run.done() and not _server_timed_out(run):
            record = run.result()
            record.attempts = attempt
            return record
        if run.done():
            why = str(run.exception())
        else:
            why = f"no change for {stall_s:g} s of real time"
            run.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(run, timeout=30)
        say(f"stalled after {said!r} (attempt {attempt} of {attempts}), playing the day again")
    raise StalledRunError(
        f"day {day.seed} with {strategy} stalled {attempts} times, the last time after "
        f"{said!r}: {why}"
    )


class UnansweredUpdateError(Exception):
    """The test server did not answer one of the driver's updates within `UPDATE_WAIT_S`."""


async def answered(update: Awaitable[T]) -> T:
    """`update`'s result, or `UnansweredUpdateError` after `UPDATE_WAIT_S` of real time."""
    try:
        return await asyncio.wait_for(update, UPDATE_WAIT_S)
    except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError):
        raise UnansweredUpdateError(
            f"the test server did not answer an update within {UPDATE_WAIT_S:g} s"
        ) from None


def _server_timed_out(run: asyncio.Task[RunRecord]) -> bool:
    """The run failed because the test server let a skip's RPC time out or never answered an
    update (the stall's other faces: the server stops answering rather than answering slowly)."""
    error = run.exception()
    if isinstance(error, UnansweredUpdateError):
        return True
    return error is not None and gave_up_by_test_server(error)


def shift_budget(config: WarmlineConfig, team: Sequence[Member]) -> float:
    """The exposure budget of the team's first shift (see `member_budget`)."""
    return member_budget(config, team[0])


def member_budget(config: WarmlineConfig, member: Member) -> float:
    """The exposure budget of `member`'s shift, in weighted minutes (pro rata to the shift's
    length when the policy says so: the example's 3 h are for a 6-hour shift)."""
    epoch = datetime(2026, 1, 1, tzinfo=UTC)
    shift = Shift(
        shift_id="budget",
        starts_at=epoch + timedelta(hours=member.starts),
        ends_at=epoch + timedelta(hours=member.ends),
    )
    return wellness_policy(config).budget_for(shift)


def _prefixed(say: Progress, prefix: str, text: str) -> None:
    say(prefix + text)


def deployment_config(budget: timedelta | None = None) -> WarmlineConfig:
    """The peer-support example as shipped; `budget` replaces its exposure budget per shift."""
    config = load_config(CONFIG, resolve_secrets=False)
    if budget is None:
        return config
    wellness = config.wellness
    return config.model_copy(
        update={
            "wellness": wellness.model_copy(
                update={"budget": wellness.budget.model_copy(update={"per_shift": budget})}
            )
        }
    )


def add_day_options(parser: argparse.ArgumentParser) -> None:
    """The options that choose the simulated days and the team (`bench.wellness_bound` takes
    the same, so that its floor is of the same days)."""
    parser.add_argument("--contacts", type=int, default=100, help="contacts in the day (100)")
    parser.add_argument("--seed", type=int, default=7, help="the first day's seed (7)")
    parser.add_argument("--days", type=int, default=1, help="days, seeds from --seed on (1)")
    parser.add_argument("--distressed", type=float, default=0.20, help="share (0.20)")
    parser.add_argument("--crisis", type=float, default=0.04, help="share (0.04)")
    parser.add_argument(
        "--add-member",
        action="append",
        default=[],
        type=member_spec,
        metavar="ID:crisis|listening:CAPACITY:STARTS-ENDS",
        help="one more specialist for the team, e.g. staff-kofi:crisis:1:2-10 (hours from 08:00)",
    )


def days_of(args: argparse.Namespace) -> list[Day]:
    """The days `add_day_options` chose."""
    team = TEAM + tuple(args.add_member)
    if len({m.id for m in team}) < len(team):
        raise SystemExit("--add-member: a specialist of that id is already on the team")
    return [
        plan_day(
            seed=seed,
            contacts=args.contacts,
            distressed=args.distressed,
            crisis=args.crisis,
            team=team,
        )
        for seed in range(args.seed, args.seed + args.days)
    ]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    add_day_options(parser)
    parser.add_argument(
        "--budget-hours",
        type=float,
        help="exposure budget per shift (default: the configuration's, 3 h)",
    )
    parser.add_argument(
        "--strategy",
        action="append",
        help=f"routing strategies to compare (default: {BASELINE}, least_busy, {CANDIDATE})",
    )
    parser.add_argument(
        "--supervisor-assigns",
        action="store_true",
        help="the paged supervisor assigns each paged escalation to whoever has been free longest",
    )
    parser.add_argument("--chart", type=Path, help="write a PNG of exposure per specialist")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    return parser.parse_args(argv)


def member_spec(text: str) -> Member:
    """`ID:crisis|listening:CAPACITY:STARTS-ENDS`, e.g. `staff-kofi:crisis:1:2-10`."""
    try:
        ident, kind, capacity, hours = text.split(":")
        starts, ends = (float(h) for h in hours.split("-"))
        member = Member(
            ident,
            crisis_trained=kind == "crisis",
            capacity=int(capacity),
            starts=starts,
            ends=ends,
            skills=("listening", "crisis") if kind == "crisis" else ("listening",),
        )
    except ValueError:
        member = None
    if (
        member is None
        or kind not in {"crisis", "listening"}
        or not ident
        or member.capacity < 1
        or not 0 <= member.starts < member.ends
    ):
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected ID:crisis|listening:CAPACITY:STARTS-ENDS, "
            "e.g. staff-kofi:crisis:1:2-10"
        )
    return member


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    strategies = args.strategy or [BASELINE, "least_busy", CANDIDATE]
    for name in strategies:
        strategy_named(name)
    days = days_of(args)
    budget = None if args.budget_hours is None else timedelta(hours=args.budget_hours)
    config = deployment_config(budget)
    console = Console(stderr=True)

    def measure(_local: LocalServices, endpoints: Endpoints) -> dict[str, Any]:
        if endpoints.kafka is None or endpoints.redis is None:
            raise RuntimeError("the benchmark needs Kafka and Redis")
        with console.status("starting") as status:
            summary = asyncio.run(
                run_all(
                    days,
                    strategies,
                    kafka=endpoints.kafka,
                    redis=endpoints.redis,
                    config=config,
                    progress=status.update,
                    supervisor_assigns=args.supervisor_assigns,
                )
            )
        if args.chart:
            summary["charts"] = [str(p) for p in chart(summary, args.chart)]
        return summary

    return run_on_services(
        {ServiceName.KAFKA, ServiceName.REDIS}, measure, print_table, as_json=args.json
    )


if __name__ == "__main__":
    raise SystemExit(main())
