"""Record AnnotationWorkflow histories into tests/histories/ for the replay tests.

Run after a deliberate, versioned change to the workflow; old histories stay as they are, so
name the new ones (no name records them all):

    .venv/bin/python -m tests.annotation.record_histories annotation-exposure

`annotation-loop` takes items through overlap, a skip, a distress flag, a reveal, agreement and
gold labels, and a tone audit; `annotation-adjudication` through a disagreement settled by a
senior annotator (both recorded before annotation work counted toward exposure);
`annotation-exposure` through labels, a flag before the labels, a flag after them and a flag
before a skip, each counted in the annotator's wellness workflow, and gold labels announced to
retraining; `annotation-availability` through an annotator who goes unavailable while holding a
task (they keep it, then get no new one) until HR says they are back, with that annotator's
wellness workflow saved beside it as `wellness-availability`; `annotation-reachable` through
tasks every eligible annotator skipped (one under-overlapped and measured, one dropped) and a
crisis flag that narrows who may take a task; `annotation-adjudicator-language` through German
disagreements that an English-only senior is not offered, an original labeller repeating their
labels and flagging the item meanwhile, and an adjudication skipped out;
`annotation-late-correction` through a specialist's correction arriving once the item is labelled
(kept with its gold label) and once the gold label is recorded (not kept);
`annotation-adjudication-rounds` through an adjudication the one senior who did not label the item
skips with a round to spare, settled by the senior who labelled it;
`annotation-policy-reachable` through a redeployed policy without one of three annotators, which
settles an item two of them labelled (overlap 3) and lowers the overlap of one nobody labelled;
`annotation-stop-keeps-labels` through a stop with an item labelled and waiting for its batch, an
item with one of its two labels and one skipped twice (the client retries the skip), settled as
the loop stops; `annotation-lapsed-adjudication` through an adjudication its senior sends after
the lease lapsed, which is recorded; `annotation-backlog-budget` through a backlog past a loop's
budget of open work (lowered to some four short tasks): the newest items are shed, a crisis item
takes the place of the newest task nobody began, and a task is labelled;
`annotation-skipped-item` through a senior who skipped an item and is offered the other item's
adjudication, not its own, while her client sends the skip again; `annotation-departed-holds`
through an annotator who leaves the roster holding a task (overlap 1), which goes to another at
once; `annotation-orphaned-adjudication` through the one senior leaving the roster holding one
of two adjudications: both are settled by majority; `annotation-flush-while-rolling-over`
through flushes sent while `next_task`s are in flight (the wellness view unreachable) on a dev
server of its own that suggests continuing as new early: the run that took a flush while it
waited to roll over, which ends continued as new.
Each annotation history ends with the `stop` signal, so it is complete.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

from redis import Redis
from temporalio.client import Client, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from tests.annotation.conftest import ANNOTATORS, make_policy
from tests.api.conftest import UNREACHABLE_REDIS
from tests.workflows.test_replay import patch_markers
from warmline.annotation.client import (
    AnnotationLoop,
    AnnotationRefusedError,
    apply_policy,
    start_loop,
    submit_item,
    submit_texts,
)
from warmline.annotation.gold import GoldLabelStore
from warmline.annotation.model import (
    AnnotationInput,
    AnnotationPolicy,
    AnnotatorSpec,
    ItemKind,
    ItemRequest,
    Source,
    TextItem,
    annotation_workflow_id,
)
from warmline.annotation.redact import Redactor
from warmline.events import EventPublisher
from warmline.services import LocalServices, ServiceName, temporal_test_server_path
from warmline.services.binaries import temporal_cli_path
from warmline.triage.lexicon import LexiconProvider
from warmline.wellness.client import WellnessClient
from warmline.wellness.policy import WellnessPolicy, WorkerKind
from warmline.wellness.types import Availability, wellness_workflow_id
from warmline.wellness.view import WellnessStateStore, WorkerWellness
from warmline.worker import ACTIVITY_THREADS, Annotation, build_worker
from workflows.annotation import FLUSH_WAIT_PATCH, AnnotationWorkflow
from workflows.wellness import WellnessWorkflow

HISTORIES = Path(__file__).resolve().parent.parent / "histories"
TASK_QUEUE = "record"


def item(message: str, text: str, **fields: object) -> TextItem:
    return TextItem.model_validate(
        {
            "item_id": f"acme/c1/{message}/{fields.get('kind', ItemKind.EMOTION)}",
            "tenant_id": "acme",
            "conversation_id": "c1",
            "message_id": message,
            "text": text,
            **fields,
        }
    )


async def wait_for(loop: AnnotationLoop, count: int) -> None:
    while len(await loop.tasks()) < count:  # noqa: ASYNC110 - a query, not an event to wait on
        await asyncio.sleep(0.05)


async def loop_with(
    client: Client, policy: AnnotationPolicy, items: list[TextItem]
) -> AnnotationLoop:
    """The deployment's loop, started, with `items` submitted and open as tasks."""
    loop = AnnotationLoop(client, policy.deployment)
    await start_loop(client, policy, task_queue=TASK_QUEUE)
    await submit_texts(client, policy, items, task_queue=TASK_QUEUE)
    await wait_for(loop, len(items))
    return loop


async def take(loop: AnnotationLoop, annotator: str) -> str:
    result = await loop.next_task(annotator)
    assert result.task is not None, result.reason
    return result.task.task_id


async def disagree(loop: AnnotationLoop, first: str, second: str) -> None:
    """`first` labels the two open items anger then joy, `second` joy then anger: both items
    go to adjudication."""
    for annotator, labels in ((first, ["anger", "joy"]), (second, ["joy", "anger"])):
        for chosen in labels:
            await loop.submit(annotator, await take(loop, annotator), [chosen])


async def finish(client: Client, policy: AnnotationPolicy, name: str) -> None:
    handle = client.get_workflow_handle_for(
        AnnotationWorkflow.run, annotation_workflow_id(policy.deployment)
    )
    await handle.signal(AnnotationWorkflow.stop)
    await handle.result()
    history = await handle.fetch_history()
    (HISTORIES / f"{name}.json").write_text(history.to_json())
    print(f"recorded {name}: {len(history.events)} events")


async def end_wellness(client: Client) -> None:
    """End the annotators' wellness workflows the recording's work started (they hold timers)."""
    for annotator in ANNOTATORS:
        try:
            await client.get_workflow_handle(wellness_workflow_id("record", annotator)).terminate()
        except RPCError:
            continue


async def record_loop(client: Client, wellness: WellnessStateStore) -> None:
    policy = make_policy(deployment="record-loop")
    loop = AnnotationLoop(client, policy.deployment)
    await start_loop(client, policy, task_queue=TASK_QUEUE)
    wellness.write(WorkerWellness(worker_id="an-cai", exposure_minutes=90.0, budget_minutes=240.0))
    items = [
        item("m1", "I'm Sam, my dog died and I can't stop crying", distress=0.8),
        item("m2", "Great, the parcel arrived, thanks!"),
        item(
            "ai1",
            "Cheer up!",
            kind=ItemKind.TONE,
            sources=[Source.TONE_AUDIT],
            model_version="llm:v1",
        ),
        item(
            "ai2",
            "I'm sorry, that sounds so hard.",
            kind=ItemKind.TONE,
            sources=[Source.TONE_AUDIT],
            model_version="llm:v1",
        ),
    ]
    await submit_texts(client, policy, items, task_queue=TASK_QUEUE)
    await wait_for(loop, 4)
    first = await take(loop, "an-ben")
    await loop.flag("an-ben", first, "hard to read")
    await loop.skip("an-ben", first, "too close to home")
    for annotator in ("an-ada", "an-cai", "an-ben"):
        while True:
            result = await loop.next_task(annotator)
            if result.task is None:
                break
            task = result.task
            if task.blurred:
                await loop.reveal(annotator, task.task_id)
            if task.item_kind is ItemKind.TONE:
                labels = ["dismissive"] if "ai1" in task.task_id else ["appropriate"]
            else:
                labels = ["sadness"] if "m1" in task.task_id else ["joy"]
            await loop.submit(annotator, task.task_id, labels)
    await loop.flush()
    await finish(client, policy, "annotation-loop")


async def record_adjudication(client: Client) -> None:
    policy = make_policy(deployment="record-adjudication")
    loop = await loop_with(
        client, policy, [item("m1", "ugh, fine"), item("m2", "whatever you say")]
    )
    await disagree(loop, "an-ben", "an-cai")
    await wait_for(loop, 2)
    for _ in range(2):
        task_id = await take(loop, "an-ada")
        await loop.submit("an-ada", task_id, ["anger"])
    await loop.flush()
    await finish(client, policy, "annotation-adjudication")


async def record_exposure(env: WorkflowEnvironment) -> None:
    client = env.client
    policy = make_policy(deployment="record-exposure", overlap=1)
    loop = AnnotationLoop(client, policy.deployment)
    await start_loop(client, policy, task_queue=TASK_QUEUE)
    items = [
        item("m1", "I'm Sam, my dog died and I can't stop crying", distress=0.8),
        item("m2", "fine, whatever"),
        item("m3", "where is my parcel"),
        item("m4", "I can't do this any more", distress=0.9),
    ]
    await submit_texts(client, policy, items, task_queue=TASK_QUEUE)
    await wait_for(loop, 4)
    high = await take(loop, "an-ada")
    await env.sleep(timedelta(minutes=6))
    await loop.submit("an-ada", high, ["sadness"])
    flagged_first = await take(loop, "an-ben")
    await env.sleep(timedelta(minutes=4))
    await loop.flag("an-ben", flagged_first, "this got to me")
    await loop.submit("an-ben", flagged_first, ["anger"])
    flagged_after = await take(loop, "an-cai")
    await env.sleep(timedelta(minutes=3))
    await loop.submit("an-cai", flagged_after, ["neutral"])
    await loop.flag("an-cai", flagged_after, "it stayed with me")
    skipped = await take(loop, "an-ada")
    await env.sleep(timedelta(minutes=2))
    await loop.flag("an-ada", skipped)
    await loop.skip("an-ada", skipped, "too close to home")
    await loop.flush()
    await finish(client, policy, "annotation-exposure")
    await end_wellness(client)


async def record_availability(env: WorkflowEnvironment, exposure: WellnessClient) -> None:
    client = env.client
    policy = make_policy(deployment="record-availability", overlap=1)
    loop = await loop_with(
        client, policy, [item("m1", "where is my parcel"), item("m2", "thanks, that helps")]
    )
    held = await take(loop, "an-ben")
    await env.sleep(timedelta(minutes=3))
    # The annotator's own call (SetAvailability), then the task they hold, which stays theirs.
    await exposure.ensure("an-ben")
    wellness = exposure.handle("an-ben")
    await wellness.execute_update(WellnessWorkflow.set_availability, Availability(available=False))
    assert await take(loop, "an-ben") == held
    await loop.submit("an-ben", held, ["neutral"])
    refused = await loop.next_task("an-ben")
    assert refused.task is None, refused.task
    # HR says they are back (the bridge's signal); the next task is theirs.
    await exposure.availability("an-ben", True)
    while not (await wellness.query(WellnessWorkflow.view)).available:  # noqa: ASYNC110 - a query
        await asyncio.sleep(0.05)
    await env.sleep(timedelta(minutes=1))
    await loop.submit("an-ben", await take(loop, "an-ben"), ["joy"])
    await loop.flush()
    await finish(client, policy, "annotation-availability")
    history = await wellness.fetch_history()
    (HISTORIES / "wellness-availability.json").write_text(history.to_json())
    print(f"recorded wellness-availability: {len(history.events)} events")
    await end_wellness(client)


async def record_reachable(client: Client) -> None:
    policy = make_policy(
        deployment="record-reachable",
        annotators=[
            AnnotatorSpec(id="an-ada", senior=True),
            AnnotatorSpec(id="an-ben"),
            AnnotatorSpec(id="an-new", skills=["emotions", "crisis"]),
        ],
    )
    loop = await loop_with(
        client, policy, [item("r1", "meh"), item("r2", "whatever"), item("r3", "I can't cope")]
    )
    # r3 sampled again for a crisis: only the crisis-trained an-new may take it (overlap 1 now);
    # the crisis then sends an-new on a break, so no other recording has them work.
    crisis = ItemRequest(
        tenant_id="acme",
        conversation_id="c1",
        message_id="r3",
        sources=[Source.CRISIS],
        crisis=True,
    )
    await submit_item(client, policy, crisis, task_queue=TASK_QUEUE)
    while not any(t.item.crisis for t in await loop.tasks()):  # noqa: ASYNC110 - a query
        await asyncio.sleep(0.05)
    # r1: an-ada labels it and the others skip it (under-overlapped); r2: everyone skips it.
    await loop.submit("an-ada", await take(loop, "an-ada"), ["neutral"])
    await loop.skip("an-ada", await take(loop, "an-ada"), "not sure")
    for annotator in ("an-ben", "an-new"):
        for _ in range(2):
            await loop.skip(annotator, await take(loop, annotator), "not sure")
    await loop.submit("an-new", await take(loop, "an-new"), ["fear"])
    await loop.flush()
    await finish(client, policy, "annotation-reachable")
    await end_wellness(client)


async def record_adjudicator_language(client: Client) -> None:
    policy = make_policy(
        deployment="record-adjudicator-language",
        annotators=[
            AnnotatorSpec(id="an-ada", senior=True, languages=["en"]),
            AnnotatorSpec(id="an-dev", senior=True, languages=["de"]),
            AnnotatorSpec(id="an-ben", languages=["en", "de"]),
            AnnotatorSpec(id="an-cai", languages=["de"]),
        ],
    )
    loop = await loop_with(
        client,
        policy,
        [item("g1", "na toll", language="de"), item("g2", "wie auch immer", language="de")],
    )
    await disagree(loop, "an-ben", "an-cai")
    await wait_for(loop, 2)
    # an-ben's client repeats its labels of g1, and an-ben flags it, while it is adjudicated.
    first = "acme/c1/g1/emotion"
    assert (await loop.submit("an-ben", first, ["anger"])).duplicate
    await loop.flag("an-ben", first, "it stayed with me")
    refused = await loop.next_task("an-ada")
    assert refused.task is None, "an-ada reads no German"
    await loop.submit("an-dev", await take(loop, "an-dev"), ["anger"])
    await loop.skip("an-dev", await take(loop, "an-dev"), "cannot decide")
    await loop.flush()
    await finish(client, policy, "annotation-adjudicator-language")
    await end_wellness(client)


async def record_late_correction(client: Client) -> None:
    policy = make_policy(deployment="record-late-correction")
    loop = AnnotationLoop(client, policy.deployment)
    await start_loop(client, policy, task_queue=TASK_QUEUE)
    await submit_texts(client, policy, [item("l1", "I miss her so much")], task_queue=TASK_QUEUE)
    await wait_for(loop, 1)
    for annotator in ("an-ada", "an-ben"):
        await loop.submit(annotator, await take(loop, annotator), ["sadness"])
    correction = ItemRequest(
        tenant_id="acme",
        conversation_id="c1",
        message_id="l1",
        sources=[Source.CORRECTION],
        candidate_labels=["sadness"],
    )
    # Labelled, not measured: the correction joins the gold label; once recorded, it does not.
    await submit_item(client, policy, correction, task_queue=TASK_QUEUE)
    await loop.flush()
    await submit_item(client, policy, correction, task_queue=TASK_QUEUE)
    await loop.flush()
    await finish(client, policy, "annotation-late-correction")
    await end_wellness(client)


async def record_adjudication_rounds(client: Client) -> None:
    policy = make_policy(
        deployment="record-adjudication-rounds",
        annotators=[
            AnnotatorSpec(id="an-ada", senior=True),
            AnnotatorSpec(id="an-dev", senior=True),
            AnnotatorSpec(id="an-ben"),
        ],
        max_rounds=2,
    )
    loop = await loop_with(
        client, policy, [item("r1", "ugh, fine"), item("r2", "whatever you say")]
    )
    await disagree(loop, "an-ada", "an-ben")
    await wait_for(loop, 2)
    # an-dev, the senior who did not label the items, skips one adjudication and settles the
    # other; an-ada, who labelled them, settles the skipped one.
    await loop.skip("an-dev", await take(loop, "an-dev"), "cannot decide")
    await loop.submit("an-ada", await take(loop, "an-ada"), ["joy"])
    await loop.submit("an-dev", await take(loop, "an-dev"), ["anger"])
    await loop.flush()
    await finish(client, policy, "annotation-adjudication-rounds")
    await end_wellness(client)


async def record_skipped_item(client: Client) -> None:
    policy = make_policy(
        deployment="record-skipped-item",
        annotators=[
            AnnotatorSpec(id="an-ada", senior=True),
            AnnotatorSpec(id="an-dev", senior=True),
            AnnotatorSpec(id="an-ben"),
        ],
    )
    loop = await loop_with(
        client, policy, [item("k1", "my mum is in hospital"), item("k2", "fine")]
    )
    # an-ada skips k1; an-dev and an-ben disagree on both items. k1's adjudication goes to
    # an-dev, k2's to an-ada, whose client sends her skip of k1 again meanwhile.
    first = await take(loop, "an-ada")
    await loop.skip("an-ada", first, "too close to home")
    await disagree(loop, "an-dev", "an-ben")
    await wait_for(loop, 2)
    offered = await take(loop, "an-ada")
    await loop.skip("an-ada", first, "too close to home")
    await loop.submit("an-ada", offered, ["joy"])
    await loop.submit("an-dev", await take(loop, "an-dev"), ["fear"])
    await loop.flush()
    await finish(client, policy, "annotation-skipped-item")
    await end_wellness(client)


async def record_policy_reachable(client: Client) -> None:
    policy = make_policy(deployment="record-policy-reachable", overlap=3)
    loop = await loop_with(client, policy, [item("p1", "so glad"), item("p2", "thank you")])
    for annotator in ("an-ada", "an-ben"):
        await loop.submit(annotator, await take(loop, annotator), ["joy"])
    # an-cai leaves before labelling: p1 is measured with two labels, p2 asks for two.
    left = policy.model_copy(update={"annotators": policy.annotators[:2]})
    await apply_policy(client, left, task_queue=TASK_QUEUE)
    await loop.flush()
    for annotator in ("an-ada", "an-ben"):
        await loop.submit(annotator, await take(loop, annotator), ["surprise"])
    await loop.flush()
    await finish(client, policy, "annotation-policy-reachable")
    await end_wellness(client)


async def record_stop_keeps_labels(client: Client) -> None:
    policy = make_policy(deployment="record-stop-keeps-labels", batch_size=3)
    loop = await loop_with(
        client,
        policy,
        [item("s1", "I miss her so much"), item("s2", "thank you"), item("s3", "meh")],
    )
    for annotator in ("an-ada", "an-ben"):
        await loop.submit(annotator, await take(loop, annotator), ["sadness"])
    await loop.submit("an-ada", await take(loop, "an-ada"), ["joy"])
    skipped = await take(loop, "an-cai")
    await loop.skip("an-cai", skipped, "not sure")
    await loop.skip("an-cai", skipped, "not sure")
    # s1 waits for its batch, s2 has one of two labels: the stop measures both.
    await finish(client, policy, "annotation-stop-keeps-labels")
    await end_wellness(client)


async def record_lapsed_adjudication(env: WorkflowEnvironment) -> None:
    client = env.client
    policy = make_policy(
        deployment="record-lapsed-adjudication",
        annotators=[AnnotatorSpec(id="an-ada", senior=True), AnnotatorSpec(id="an-ben")],
    )
    loop = await loop_with(
        client, policy, [item("a1", "ugh, fine"), item("a2", "whatever you say")]
    )
    await disagree(loop, "an-ada", "an-ben")
    await wait_for(loop, 2)
    # an-ada, who labelled the item, holds its adjudication past the lease; an-ben's next_task
    # clears the lease; her adjudication is still taken, as nobody else holds it.
    held = await take(loop, "an-ada")
    await env.sleep(timedelta(minutes=31))
    assert (await loop.next_task("an-ben")).task is None
    assert not (await loop.submit("an-ada", held, ["joy"])).duplicate
    await loop.flush()
    await finish(client, policy, "annotation-lapsed-adjudication")
    await end_wellness(client)


async def record_backlog_budget(client: Client) -> None:
    policy = make_policy(deployment="record-backlog-budget", label_map={"sadness": "sadness"})
    await client.start_workflow(
        AnnotationWorkflow.run,
        AnnotationInput(policy=policy, backlog_bytes=3000),
        id=annotation_workflow_id(policy.deployment),
        task_queue=TASK_QUEUE,
    )
    loop = AnnotationLoop(client, policy.deployment)
    texts = [item(f"b{n}", f"I lost my job, day {n}") for n in range(6)]
    crisis = item("b6", "I can't go on", crisis=True, distress=0.9, sources=[Source.CRISIS])
    await submit_texts(client, policy, [*texts, crisis], task_queue=TASK_QUEUE)
    while crisis.item_id not in {t.task_id for t in await loop.tasks()}:  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    report = await loop.report()
    assert report.shed > 0, report
    for annotator in ("an-ada", "an-ben"):
        await loop.submit(annotator, await take(loop, annotator), ["sadness"])
    await loop.flush()
    await finish(client, policy, "annotation-backlog-budget")
    await end_wellness(client)


async def record_departed_holds(client: Client) -> None:
    policy = make_policy(deployment="record-departed-holds", overlap=1)
    loop = await loop_with(client, policy, [item("d1", "thank you"), item("d2", "so glad")])
    held = await take(loop, "an-cai")
    # an-cai leaves the roster holding d1: it is taken back and offered to an-ben at once.
    left = policy.model_copy(update={"annotators": policy.annotators[:2]})
    await apply_policy(client, left, task_queue=TASK_QUEUE)
    offered = await take(loop, "an-ben")
    assert offered == held, (offered, held)
    await loop.submit("an-ben", offered, ["joy"])
    await loop.submit("an-ada", await take(loop, "an-ada"), ["joy"])
    await loop.flush()
    await finish(client, policy, "annotation-departed-holds")
    await end_wellness(client)


async def record_orphaned_adjudication(client: Client) -> None:
    labellers = [AnnotatorSpec(id=a) for a in ("an-ben", "an-cai", "an-dev")]
    policy = make_policy(
        deployment="record-orphaned-adjudication",
        overlap=3,
        annotators=[AnnotatorSpec(id="an-ada", senior=True), *labellers],
    )
    loop = await loop_with(client, policy, [item("o1", "ugh, fine"), item("o2", "whatever")])
    # Two of three agree on each item, alpha is low: both go to an-ada, the one senior.
    for annotator, labels in (
        ("an-ben", "anger joy"),
        ("an-cai", "anger joy"),
        ("an-dev", "joy anger"),
    ):
        for chosen in labels.split():
            await loop.submit(annotator, await take(loop, annotator), [chosen])
    await wait_for(loop, 2)
    await take(loop, "an-ada")
    # She leaves holding one: both adjudications are settled by majority.
    await apply_policy(
        client, policy.model_copy(update={"annotators": labellers}), task_queue=TASK_QUEUE
    )
    while (await loop.report()).gold < 2:  # noqa: ASYNC110 - a query, not an event to wait on
        await asyncio.sleep(0.05)
    await finish(client, policy, "annotation-orphaned-adjudication")
    await end_wellness(client)


SUGGEST_EARLY = ["--dynamic-config-value", "limit.historyCount.suggestContinueAsNew=40"]
"""A dev server that suggests continuing as new after a few dozen history events."""


async def record_flush_while_rolling_over(publisher: EventPublisher, redis: Redis) -> None:
    name = "annotation-flush-while-rolling-over"
    env = await WorkflowEnvironment.start_local(
        data_converter=pydantic_data_converter,
        dev_server_existing_path=str(temporal_cli_path()),
        dev_server_log_level="error",
        dev_server_extra_args=SUGGEST_EARLY,
    )
    client = env.client
    annotation = Annotation(
        gold=GoldLabelStore(redis, deployment="record-flush"),
        wellness=WellnessStateStore(Redis.from_url(UNREACHABLE_REDIS), deployment="record"),
        redactor=Redactor(),
    )
    policy = make_policy(deployment="record-flush-while-rolling-over")
    workflow_id = annotation_workflow_id(policy.deployment)
    loop = AnnotationLoop(client, policy.deployment)

    async def ask(annotator: str) -> None:
        with contextlib.suppress(AnnotationRefusedError):
            await loop.next_task(annotator)

    try:
        with ThreadPoolExecutor(ACTIVITY_THREADS) as pool:
            async with build_worker(
                client,
                provider=LexiconProvider(),
                publisher=publisher,
                task_queue=TASK_QUEUE,
                executor=pool,
                annotation=annotation,
            ):
                first = await client.start_workflow(
                    AnnotationWorkflow.run,
                    AnnotationInput(policy=policy, updates_per_run=60),
                    id=workflow_id,
                    task_queue=TASK_QUEUE,
                )
                for _ in range(40):
                    asking = []
                    for annotator in ("an-ada", "an-ben", "an-cai"):
                        asking.append(asyncio.create_task(ask(annotator)))
                        await asyncio.sleep(0.1)
                    await loop.flush()
                    await asyncio.gather(*asking)
                    found = await _run_with_patch(client, workflow_id, first.result_run_id or "")
                    if found is not None:
                        (HISTORIES / f"{name}.json").write_text(found.to_json())
                        print(f"recorded {name}: {len(found.events)} events")
                        break
                else:
                    raise SystemExit(f"{name}: no flush arrived while the loop waited; run again")
                handle = client.get_workflow_handle_for(AnnotationWorkflow.run, workflow_id)
                await handle.signal(AnnotationWorkflow.stop)
                await handle.result()
    finally:
        await env.shutdown()


async def _run_with_patch(client: Client, workflow_id: str, run_id: str) -> WorkflowHistory | None:
    """The first closed run of the chain from `run_id` that recorded FLUSH_WAIT_PATCH."""
    while run_id:
        history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        last = history.events[-1]
        if not last.HasField("workflow_execution_continued_as_new_event_attributes"):
            return None
        if FLUSH_WAIT_PATCH in patch_markers(history):
            return history
        attributes = last.workflow_execution_continued_as_new_event_attributes
        run_id = attributes.new_execution_run_id
    return None


async def main(names: list[str]) -> None:
    with LocalServices(only={ServiceName.KAFKA, ServiceName.REDIS}, embedded=True) as endpoints:
        assert endpoints.kafka is not None
        assert endpoints.redis is not None
        publisher = EventPublisher.connect(endpoints.kafka, topic="recordings")
        redis = Redis.from_url(endpoints.redis)
        wellness = WellnessStateStore(redis, deployment="record")
        env = await WorkflowEnvironment.start_time_skipping(
            data_converter=pydantic_data_converter,
            test_server_existing_path=str(temporal_test_server_path()),
        )
        exposure = WellnessClient(
            env.client,
            deployment="record",
            policy=WellnessPolicy(),
            task_queue=TASK_QUEUE,
            kinds=dict.fromkeys(ANNOTATORS, WorkerKind.ANNOTATOR),
        )
        annotation = Annotation(
            gold=GoldLabelStore(redis, deployment="record"),
            wellness=wellness,
            redactor=Redactor(),
            exposure=exposure,
        )
        recordings: dict[str, Callable[[], Awaitable[None]]] = {
            "annotation-loop": lambda: record_loop(env.client, wellness),
            "annotation-adjudication": lambda: record_adjudication(env.client),
            "annotation-exposure": lambda: record_exposure(env),
            "annotation-availability": lambda: record_availability(env, exposure),
            "annotation-reachable": lambda: record_reachable(env.client),
            "annotation-adjudicator-language": lambda: record_adjudicator_language(env.client),
            "annotation-late-correction": lambda: record_late_correction(env.client),
            "annotation-adjudication-rounds": lambda: record_adjudication_rounds(env.client),
            "annotation-policy-reachable": lambda: record_policy_reachable(env.client),
            "annotation-stop-keeps-labels": lambda: record_stop_keeps_labels(env.client),
            "annotation-lapsed-adjudication": lambda: record_lapsed_adjudication(env),
            "annotation-backlog-budget": lambda: record_backlog_budget(env.client),
            "annotation-skipped-item": lambda: record_skipped_item(env.client),
            "annotation-departed-holds": lambda: record_departed_holds(env.client),
            "annotation-orphaned-adjudication": lambda: record_orphaned_adjudication(env.client),
            "annotation-flush-while-rolling-over": lambda: record_flush_while_rolling_over(
                publisher, redis
            ),
        }
        unknown = set(names) - set(recordings)
        if unknown:
            raise SystemExit(f"no recording named {', '.join(sorted(unknown))}")
        try:
            with ThreadPoolExecutor(ACTIVITY_THREADS) as pool:
                async with build_worker(
                    env.client,
                    provider=LexiconProvider(),
                    publisher=publisher,
                    task_queue=TASK_QUEUE,
                    executor=pool,
                    annotation=annotation,
                ):
                    for name, record in recordings.items():
                        if not names or name in names:
                            await record()
        finally:
            await env.shutdown()
            publisher.close()
            redis.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
