"""bench/feedback_loop.py run tiny on the real services: the loop's structure, not its curve."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bench.feedback_loop import (
    QUICK,
    BenchError,
    Options,
    SimulatedAnnotator,
    main,
    parse,
    quick_options,
    run,
)
from warmline.api.v1 import annotator_pb2 as pb
from warmline.services import Endpoints

LABELS = ("anger", "disgust", "fear", "joy", "neutral", "sadness", "surprise")
REPORT_KEYS = {
    "options",
    "rows",
    "row_sources",
    "initial_version",
    "initial_macro_f1",
    "final_macro_f1",
    "gold_labels",
    "annotator_error",
    "rounds",
    "seconds",
}


def annotator(noise: float, truth: dict[str, tuple[str, ...]]) -> SimulatedAnnotator:
    return SimulatedAnnotator("an-sim-1", "token", noise, 0, truth, LABELS)


def test_a_noiseless_annotator_answers_the_truth_and_a_noisy_one_never_does() -> None:
    truth = {"t1": ("joy", "surprise"), "t2": ("sadness",)}
    task = pb.AnnotationTask(task_id="t1", kind="label")
    assert annotator(0.0, truth).choose(task) == ["joy", "surprise"]
    noisy = annotator(1.0, truth)
    for task_id, labels in truth.items():
        answer = noisy.choose(pb.AnnotationTask(task_id=task_id, kind="label"))
        assert not set(answer) & set(labels)
        assert set(answer) <= set(LABELS)
    assert noisy.wrong == noisy.answered == 2


def test_the_same_task_gets_the_same_answer() -> None:
    truth: dict[str, tuple[str, ...]] = {f"t{i}": ("joy",) for i in range(50)}
    first, second = annotator(0.5, truth), annotator(0.5, truth)
    tasks = [pb.AnnotationTask(task_id=t, kind="label") for t in truth]
    answers = [first.choose(t) for t in tasks]
    assert answers == [second.choose(t) for t in tasks]
    # Half the labels replaced, give or take: the rate is applied, not ignored.
    assert 10 < sum(a != ["joy"] for a in answers) < 40


def test_quick_sets_small_slices_unless_told_otherwise() -> None:
    options, _ = parse(["--quick", "--rounds", "3", "--noise", "0.1,0.2,0.3"])
    assert options.rounds == 3
    assert options.per_round == QUICK["per_round"]
    assert options.noise == (0.1, 0.2, 0.3)
    assert options.noise_of(2) == 0.3


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"overlap": 6}, "--overlap"),
        ({"noise": (0.1, 0.2)}, "--noise takes one rate or one per annotator"),
        ({"noise": (1.5,)}, "between 0 and 1"),
        ({"rounds": 0}, "--rounds"),
    ],
)
def test_bad_options_are_refused_with_a_reason(changes: dict[str, object], message: str) -> None:
    with pytest.raises(BenchError, match=message):
        replace(Options(), **changes).check()  # type: ignore[arg-type]  # fields by name


def test_bad_options_exit_2_without_a_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--annotators", "2", "--overlap", "3"]) == 2
    assert capsys.readouterr().err.startswith("error: --overlap")


async def test_the_loop_closes_on_real_services(services: Endpoints) -> None:
    assert services.temporal is not None
    assert services.kafka is not None
    assert services.redis is not None
    options = quick_options(noise=(0.0,), annotators=3, overlap=2, taxonomy="group")
    report = await run(options, services.temporal, services.kafka, services.redis)

    assert set(report.as_json()) == REPORT_KEYS
    assert report.rows == {"base": 300, "tune": 300, "traffic": 80, "holdout": 300}
    assert [r.round for r in report.rounds] == [1, 2]
    total = 0
    for result in report.rounds:
        assert result.traffic == QUICK["per_round"]
        assert 0 < result.sampled <= result.traffic
        assert sum(result.sources.values()) >= result.sampled
        # Every sampled item became exactly one gold label: labelled by two, agreed, recorded once.
        assert result.gold_new == result.sampled
        total += result.gold_new
        assert result.gold_total == total
        assert result.labels_submitted >= options.overlap * result.gold_new
        # Noiseless annotators: every gold label is the row's truth.
        assert result.gold_exact == 1.0
        # The round read every gold label so far, each counted once.
        assert result.gold_trained + sum(result.gold_skipped.values()) == total
        assert result.outcome in {"promoted", "rejected"}
        assert result.holdout_rows == 300
        assert result.macro_f1_before is not None
        assert result.macro_f1_after is not None
        assert result.candidate_version == f"v{result.round + 1}"
    assert report.gold_labels == total
    assert report.initial_macro_f1 == report.rounds[0].macro_f1_before
    assert report.annotator_error == {"an-sim-1": 0.0, "an-sim-2": 0.0, "an-sim-3": 0.0}
