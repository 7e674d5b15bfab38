"""The worker wiring: every workflow and activity warmline runs, listed in one place."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from temporalio.client import Client
from temporalio.worker import Worker

from activities.annotation import AnnotationActivities
from activities.events import EventActivities
from activities.handoff import HandoffActivities
from activities.liveview import LiveViewActivities
from activities.offers import OfferActivities
from activities.retraining import RetrainingActivities
from activities.routing import RosterActivities
from activities.triage import TriageActivities
from activities.wellness import OfferWithdrawal, WellnessActivities
from warmline.annotation.gold import GoldLabelStore
from warmline.annotation.redact import Redactor
from warmline.events import EventPublisher
from warmline.handoff import CustomerProfileSource, HandoffRenderer, RequestProfileSource
from warmline.liveview import LiveView
from warmline.retraining.settings import RetrainingSettings
from warmline.roster import RosterSettings
from warmline.runtime import DEFAULT_TASK_QUEUE
from warmline.triage.provider import TriageProvider
from warmline.wellness.client import WellnessClient
from warmline.wellness.view import WellnessStateStore
from workflows.annotation import AnnotationWorkflow
from workflows.conversation import ConversationWorkflow
from workflows.escalation import EscalationWorkflow
from workflows.retraining import RetrainingWorkflow, ScheduledRetrainingWorkflow
from workflows.roster import RosterWorkflow
from workflows.wellness import WellnessWorkflow

# Activities are synchronous (blocking Kafka, Redis and provider calls) and run on this pool.
ACTIVITY_THREADS = 16
GRACEFUL_SHUTDOWN = timedelta(seconds=30)
"""How long a stopping `warmline worker` lets in-flight activities finish before cancelling them
(they are then retried elsewhere): well inside the 60 s a supervisor waits after SIGTERM."""


@dataclass(frozen=True)
class Routing:
    """What escalations need besides triage and events: the roster, live view and handoff."""

    roster: RosterSettings
    live_view: LiveView
    renderer: HandoffRenderer
    profiles: CustomerProfileSource | None = None
    wellness: WellnessStateStore | None = None
    """The workers' wellness view: the roster's reserve reads it, wellness workflows write it."""


@dataclass(frozen=True)
class Annotation:
    """What the annotation loop needs: the gold-label store, the wellness view, a redactor, and
    the two loops it feeds."""

    gold: GoldLabelStore
    wellness: WellnessStateStore
    redactor: Redactor
    exposure: WellnessClient | None = None
    """Counts annotators' work in their wellness workflows (on this worker's task queue, whose
    wellness workflows write `wellness`); None: annotation work is not counted."""
    retraining: RetrainingSettings | None = None
    """The deployment's retraining, told of new gold labels; None: retraining is off."""


def build_worker(
    client: Client,
    *,
    provider: TriageProvider,
    publisher: EventPublisher,
    task_queue: str = DEFAULT_TASK_QUEUE,
    executor: ThreadPoolExecutor,
    routing: Routing | None = None,
    retraining: RetrainingActivities | None = None,
    annotation: Annotation | None = None,
    graceful_shutdown: timedelta = timedelta(0),
) -> Worker:
    """A worker for all of warmline's workflows and activities on one task queue.

    Without `routing`, conversations that carry no routing policy still run (escalations are
    recorded but not offered to anyone). The client must use `pydantic_data_converter`; the
    caller owns (and shuts down) the executor. With `retraining`, the worker also trains,
    scores and promotes triage models (`RetrainingWorkflow`). With `annotation`, it runs the
    annotation loop; wellness workflows it starts for annotators write `annotation.wellness`.

    On shutdown, activities under way get `graceful_shutdown` to finish; after it the async ones
    (roster and wellness updates, offer checks) are cancelled. The default, none, suits tests and
    the demo, which stop at once; `warmline worker` passes `GRACEFUL_SHUTDOWN`.
    """
    triage = TriageActivities(provider, publisher)
    events = EventActivities(publisher)
    activities: list[Any] = [
        triage.triage_message,
        triage.triage_and_publish,
        events.publish_events,
    ]
    if routing is not None:
        roster = RosterActivities(
            client, routing.roster, wellness=routing.wellness, live_view=routing.live_view
        )
        view = LiveViewActivities(routing.live_view)
        handoff = HandoffActivities(routing.renderer, routing.profiles or RequestProfileSource())
        # After showing an offer, the escalation reads again what the reserve read.
        offers = OfferActivities(
            client,
            wellness=routing.wellness,
            breaks_stop_offers=routing.roster.breaks_stop_offers,
        )
        activities += [
            roster.reserve,
            roster.assign_to,
            roster.release,
            roster.occupy,
            roster.free,
            view.sync_live_view,
            offers.recheck_offers,
            handoff.render_handoff,
        ]
    wellness = routing.wellness if routing is not None else None
    if wellness is None and annotation is not None and annotation.exposure is not None:
        wellness = annotation.wellness
    if wellness is not None:
        # A break takes back open offers wherever the roster stops making new ones.
        withdrawal = (
            OfferWithdrawal(client, routing.live_view)
            if routing is not None and routing.roster.breaks_stop_offers
            else None
        )
        activities.append(WellnessActivities(wellness, publisher, offers=withdrawal).sync)
    workflows: list[type] = [
        ConversationWorkflow,
        EscalationWorkflow,
        RosterWorkflow,
        WellnessWorkflow,
    ]
    if retraining is not None:
        activities += retraining.activities
        workflows += [RetrainingWorkflow, ScheduledRetrainingWorkflow]
    if annotation is not None:
        loop = AnnotationActivities(
            client,
            annotation.gold,
            annotation.wellness,
            annotation.redactor,
            exposure=annotation.exposure,
            retraining=annotation.retraining,
        )
        activities += [
            loop.prepare_items,
            loop.prepare_text,
            loop.read_wellness,
            loop.measure_agreement,
            loop.record_gold,
            loop.record_exposure,
            loop.notify_retraining,
        ]
        workflows.append(AnnotationWorkflow)
    return Worker(
        client,
        task_queue=task_queue,
        workflows=workflows,
        activities=activities,
        activity_executor=executor,
        max_concurrent_activities=ACTIVITY_THREADS,
        graceful_shutdown_timeout=graceful_shutdown,
    )
