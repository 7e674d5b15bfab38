"""The open work the loop holds stays within a budget, so a backlog never stops it.

Open tasks (each with its prepared item) used to be carried whole over continue-as-new: some
730 bytes of JSON per GoEmotions-length task (995 with one label in and one annotator holding it),
21 kB per task of 20,000 characters (the longest message a conversation takes), 81 kB if every
character takes four bytes of UTF-8. With the rest of the carry, some 1,500 GoEmotions tasks or 100
long ones went past Temporal's 2 MB payload limit and the loop could no longer continue as new.
`python -m tests.annotation.test_backlog` prints the measurements.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

from temporalio.contrib.pydantic import pydantic_data_converter

from tests.annotation import test_backlog_loop as loop_test
from tests.annotation.conftest import make_policy
from warmline.annotation.model import (
    BACKLOG_BYTES,
    INPUT_BYTES_MAX,
    AnnotationCarry,
    AnnotationInput,
    AnnotationWork,
    AnnotatorBatchStat,
    BatchReport,
    ItemKind,
    PreparedItem,
    Source,
    Task,
    json_bytes,
)
from warmline.conversation import MAX_MESSAGE_CHARS
from workflows.annotation import (
    BATCHES_KEPT,
    DONE_KEPT,
    SEEN_KEPT,
    within_input_limit,
)

GOEMOTIONS = Path(__file__).resolve().parents[3] / "shared" / "data" / "goemotions" / "original"
PAYLOAD_LIMIT = 2 * 1024 * 1024
"""Temporal refuses a payload over 2 MB."""
NOW = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)
SAMPLE_TEXTS = (
    "My favourite food is anything I didn't have to cook myself.",
    "Now if he does off himself, everyone will think hes having a laugh screwing with people "
    "instead of actually dead",
    "WHY THE FUCK IS BAYLESS ISOING",
    "I'm so sorry for your loss, that must be incredibly hard.",
)


def goemotions_texts() -> list[str]:
    """GoEmotions train texts when the data set is here, else a few of its rows."""
    path = GOEMOTIONS / "train.tsv"
    if not path.exists():
        return list(SAMPLE_TEXTS)
    lines = path.read_text(encoding="utf-8").splitlines()
    return [line.split("\t")[0] for line in lines if line.strip()]


def item_id(n: int) -> str:
    """An item id as the sampler makes them: tenant, conversation, message, kind."""
    return f"open-door/{uuid.UUID(int=n)}/{uuid.UUID(int=n + 1)}/emotion"


def open_task(n: int, text: str) -> Task:
    """An open task as a sampled, triaged message becomes, one annotator holding it."""
    item = PreparedItem(
        item_id=item_id(n),
        tenant_id="open-door",
        conversation_id=str(uuid.UUID(int=n)),
        message_id=str(uuid.UUID(int=n + 1)),
        text=text,
        redactions=1,
        distress=0.41,
        model_version="goemotions-ekman-v1-3f2a9c1b",
        ai_labels=["sadness", "fear"],
        sources=[Source.LOW_CONFIDENCE, Source.RANDOM],
    )
    return Task(
        task_id=item.item_id,
        item=item,
        required=3,
        created_at=NOW,
        assigned={"an-ben": NOW},
        labels={"an-ada": ["sadness"]},
        exposure={"an-ada": 12.5},
        budget={"an-ada": 240.0},
    )


def carry_bytes(tasks: list[Task]) -> int:
    carry = AnnotationCarry(tasks=tasks)
    return len(pydantic_data_converter.payload_converter.to_payloads([carry])[0].data)


def measurements() -> list[tuple[str, int, int]]:
    """(texts, open tasks, serialized carry bytes) for realistic and longest texts."""
    goemotions = goemotions_texts()
    kinds = {
        "GoEmotions": goemotions,
        f"{MAX_MESSAGE_CHARS:,} ASCII chars": ["x" * MAX_MESSAGE_CHARS],
        f"{MAX_MESSAGE_CHARS:,} 4-byte chars": ["\N{GRINNING FACE}" * MAX_MESSAGE_CHARS],
    }
    rows: list[tuple[str, int, int]] = []
    for name, texts in kinds.items():
        for count in (1, 463, 1500):
            tasks = [open_task(n, texts[n % len(texts)]) for n in range(count)]
            rows.append((name, count, carry_bytes(tasks)))
    return rows


def full_memories() -> AnnotationCarry:
    """Every recent-history memory at its longest, with item ids of the sampler's length."""
    annotators = [f"an-{n}" for n in range(6)]
    return AnnotationCarry(
        seen=[item_id(n) for n in range(SEEN_KEPT)],
        done={
            item_id(n): {a: ["sadness", "grief"] for a in annotators[:3]} for n in range(DONE_KEPT)
        },
        done_distress={item_id(n): 0.41 for n in range(DONE_KEPT)},
        flagged=[f"{item_id(n)}|an-ada" for n in range(DONE_KEPT)],
        worked=[
            AnnotationWork(annotator_id="an-ada", task_id=item_id(n), minutes=3.2, distress=0.41)
            for n in range(DONE_KEPT)
        ],
        skipped=[f"{item_id(n)}|an-ada" for n in range(DONE_KEPT)],
        batches=[
            BatchReport(
                batch=n,
                kind=ItemKind.EMOTION,
                alpha=0.71,
                items=20,
                annotators=6,
                threshold=0.667,
                gold=18,
                adjudicated=2,
                measured_at=NOW,
                per_annotator=[
                    AnnotatorBatchStat(
                        annotator_id=a, items=10, agreed=8, mean_exposure_minutes=37.25
                    )
                    for a in annotators
                ],
            )
            for n in range(BATCHES_KEPT)
        ],
    )


def test_an_open_task_of_realistic_size_and_the_carry_of_a_backlog() -> None:
    sizes = {(name, count): size for name, count, size in measurements()}
    per_task = sizes[("GoEmotions", 463)] / 463
    assert 500 < per_task < 2000, per_task
    # Unbounded, 1,500 open GoEmotions tasks or 100 long ones are past the payload limit.
    assert sizes[(f"{MAX_MESSAGE_CHARS:,} ASCII chars", 463)] > PAYLOAD_LIMIT
    assert BACKLOG_BYTES + 100_000 < PAYLOAD_LIMIT
    assert (BACKLOG_BYTES, INPUT_BYTES_MAX) == (loop_test.BUDGET, loop_test.INPUT_LIMIT)


def test_a_continue_as_new_input_is_kept_under_the_limit_with_full_memories() -> None:
    """The open work within its budget and every memory at its longest: the input is over
    2 MB, so the oldest halves of the memories go until it fits; the open work stays whole."""
    long_text = "x" * MAX_MESSAGE_CHARS
    per_task = json_bytes(open_task(0, long_text))
    tasks = [open_task(n, long_text) for n in range(BACKLOG_BYTES // per_task)]
    carry = full_memories().model_copy(update={"tasks": tasks, "shed": 7})
    params = AnnotationInput(policy=make_policy(), carry=carry)
    assert json_bytes(params) > PAYLOAD_LIMIT

    trimmed = within_input_limit(params)

    assert json_bytes(trimmed) <= INPUT_BYTES_MAX < PAYLOAD_LIMIT
    kept = trimmed.carry
    assert kept is not None
    assert kept.tasks == tasks
    assert kept.batches == carry.batches
    assert kept.shed == 7
    assert kept.seen
    assert kept.seen[-1] == carry.seen[-1], "the newest memories are kept"
    assert list(kept.done)[-1] == list(carry.done)[-1]
    assert len(kept.seen) < len(carry.seen)
    # Within the limit already: nothing is let go.
    small = AnnotationInput(
        policy=make_policy(), carry=AnnotationCarry(seen=[item_id(n) for n in range(SEEN_KEPT)])
    )
    assert within_input_limit(small) == small


if __name__ == "__main__":
    for name, count, size in measurements():
        print(
            f"{name:>24}: {count:>5} open tasks, carry {size:>12,} bytes, {size / count:,.0f} each"
        )
    carry = full_memories()
    print(f"recent-history memories at their longest: {json_bytes(carry):,} bytes")
