"""The local provider: training on GoEmotions, the model directory format, and triage with it."""

from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from warmline.config.loader import load_config
from warmline.config.model import LocalProvider as LocalProviderConfig
from warmline.runtime import build_provider
from warmline.triage import provider as providers
from warmline.triage.errors import ModelLoadError, TrainingDataError
from warmline.triage.evaluate import f1_scores
from warmline.triage.local import (
    MODEL_CARD,
    TAXONOMIES,
    WEIGHTS,
    FeatureSpec,
    LocalModel,
    LocalProvider,
    default_model_dir,
)
from warmline.triage.provider import triage
from warmline.triage.training import (
    TfidfSettings,
    out_of_fold_probabilities,
    read_split,
    train,
)
from warmline.triage.types import GOEMOTIONS_LABELS, RiskFlag, TriageRequest, TriageResult

ROOT = Path(__file__).resolve().parents[2]
# The data set lives beside the repository (../shared), never in it; CI clones it the same way.
DATA = Path(os.environ.get("WARMLINE_GOEMOTIONS", ROOT.parent / "shared" / "data" / "goemotions"))
TRAIN_ROWS = 4000
DEV_ROWS = 1500


@pytest.fixture(scope="module", autouse=True)
def _goemotions_is_there() -> None:
    """A missing data set is a failure that says where it was looked for, never a skip."""
    assert (DATA / "original" / "train.tsv").is_file(), (
        f"GoEmotions not found at {DATA}; put shared/ beside the repository or set "
        "WARMLINE_GOEMOTIONS"
    )


# Rows no model should learn from, each with the reason `read_split` must give.
MALFORMED = [
    (b"only one column", "wrong_column_count"),
    (b"too\tmany\tcolumns\there", "wrong_column_count"),
    (b"a perfectly fine sentence\t28\tx1", "label_out_of_range"),
    (b"a negative label\t-1\tx2", "label_out_of_range"),
    (b"   \t27\tx3", "empty_text"),
    (b"caf\xe9 latin-1 is not utf-8\t27\tx4", "invalid_utf8"),
    (b"labels must be numbers\tjoy\tx5", "label_not_an_integer"),
]


def _head(path: Path, rows: int) -> list[bytes]:
    with path.open("rb") as source:
        return [source.readline().rstrip(b"\n") for _ in range(rows)]


def request(text: str) -> TriageRequest:
    return TriageRequest(tenant_id="t", conversation_id="c", message_id="m", text=text)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Slices of the real splits: train, dev (with malformed rows mixed in) and held-out dev."""
    folder = tmp_path_factory.mktemp("goemotions")
    source = DATA / "original"
    (folder / "train.tsv").write_bytes(b"\n".join(_head(source / "train.tsv", TRAIN_ROWS)) + b"\n")
    dev = _head(source / "dev.tsv", 2 * DEV_ROWS)
    (folder / "held-out.tsv").write_bytes(b"\n".join(dev[DEV_ROWS:]) + b"\n")
    dev = dev[:DEV_ROWS]
    for offset, (line, _) in enumerate(MALFORMED):
        dev.insert(100 * (offset + 1), line)
    (folder / "dev.tsv").write_bytes(b"\n".join(dev) + b"\n")
    return folder


@pytest.fixture(scope="module")
def small_model(data_dir: Path) -> LocalModel:
    return train(data_dir / "train.tsv", data_dir / "dev.tsv", "original", max_features=20_000)


@pytest.fixture(scope="module")
def saved(small_model: LocalModel, tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("model") / "small"
    small_model.save(directory)
    return directory


@pytest.fixture(scope="module")
def shipped() -> LocalProvider:
    return LocalProvider()


def _macro_micro(model: LocalModel, path: Path) -> tuple[float, float, float]:
    """The model's macro and micro F1 on a file, read through the numpy inference path, and the
    better macro F1 of two trivial baselines (always "neutral", always every label)."""
    split = read_split(path, len(GOEMOTIONS_LABELS))
    truth = split.matrix(len(GOEMOTIONS_LABELS))
    always_neutral = np.zeros_like(truth)
    always_neutral[:, GOEMOTIONS_LABELS.index("neutral")] = True
    baseline = max(f1_scores(truth, always_neutral)[0], f1_scores(truth, np.ones_like(truth))[0])
    predicted = np.array([list(model.predict(text).values()) for text in split.texts]) >= 0.5
    macro, micro, _ = f1_scores(truth, predicted)
    return macro, micro, baseline


def test_small_model_beats_trivial_baselines_on_unseen_rows(
    small_model: LocalModel, data_dir: Path
) -> None:
    # Dev rows the thresholds were not tuned on, so the comparison is honest.
    macro, _, baseline = _macro_micro(small_model, data_dir / "held-out.tsv")
    assert macro > baseline + 0.15, (macro, baseline)


def test_the_card_metrics_match_numpy_inference(small_model: LocalModel, data_dir: Path) -> None:
    assert list(small_model.predict("").keys()) == list(GOEMOTIONS_LABELS)
    macro, micro, _ = _macro_micro(small_model, data_dir / "dev.tsv")
    assert macro == pytest.approx(small_model.card.dev_metrics.macro_f1, abs=0.01)
    assert micro == pytest.approx(small_model.card.dev_metrics.micro_f1, abs=0.01)
    assert small_model.card.data.train_rows == TRAIN_ROWS
    assert small_model.card.data.dev_rows == DEV_ROWS


def test_thresholds_are_tuned_per_label(small_model: LocalModel) -> None:
    thresholds = small_model.card.thresholds
    assert len(thresholds) == len(GOEMOTIONS_LABELS)
    assert len(set(thresholds)) > 3
    assert all(0.0 < t < 1.0 for t in thresholds)


def test_malformed_rows_are_counted_with_reasons(small_model: LocalModel, data_dir: Path) -> None:
    expected: dict[str, int] = {}
    for _, reason in MALFORMED:
        expected[reason] = expected.get(reason, 0) + 1
    assert small_model.card.data.dev_skipped == expected
    assert small_model.card.data.train_skipped == {}
    examples = small_model.card.data.skipped_examples
    assert len(examples) == len(MALFORMED)
    assert examples[0] == (
        "dev.tsv:101:16: wrong_column_count: 1 tab-separated column(s), expected 3 "
        "(text, labels, id)"
    )
    assert examples[-1].startswith("dev.tsv:701:24: label_not_an_integer: found 'joy'")
    assert read_split(data_dir / "dev.tsv", len(GOEMOTIONS_LABELS)).skipped == expected


def test_a_row_of_blanks_is_counted_and_only_an_empty_line_is_no_row(tmp_path: Path) -> None:
    data = tmp_path / "blanks.tsv"
    data.write_bytes(b"fine\t27\tx1\n\t\t\n   \t \t \n   \r\n\r\n\nalso fine\t27\tx2\n")
    split = read_split(data, len(GOEMOTIONS_LABELS))
    assert split.texts == ["fine", "also fine"]
    assert split.skipped == {"empty_text": 2, "wrong_column_count": 1}
    assert [p.render().split(": ")[0] for p in split.problems] == [
        f"{data}:2:1",
        f"{data}:3:1",
        f"{data}:4:4",
    ]


def test_a_file_with_no_usable_row_is_an_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.tsv"
    bad.write_bytes(b"\n".join(line for line, _ in MALFORMED))
    with pytest.raises(TrainingDataError, match="no usable row") as raised:
        read_split(bad, len(GOEMOTIONS_LABELS))
    assert "wrong_column_count" in str(raised.value)


def test_a_file_with_no_usable_row_says_where_each_row_went_wrong(tmp_path: Path) -> None:
    bad = tmp_path / "bad.tsv"
    bad.write_bytes(b"\n".join([line for line, _ in MALFORMED] * 2))
    with pytest.raises(TrainingDataError) as raised:
        read_split(bad, len(GOEMOTIONS_LABELS))
    lines = str(raised.value).splitlines()
    assert lines[0] == (
        f"{bad}:1:16: wrong_column_count: 1 tab-separated column(s), expected 3 (text, labels, id)"
    )
    assert lines[5].startswith(f"{bad}:6:4: invalid_utf8: byte 0xe9 is not UTF-8")
    assert lines[10] == f"... and {2 * len(MALFORMED) - 10} more"
    assert lines[-1].startswith(f"{bad}: no usable row")


def test_save_and_load_give_identical_predictions(small_model: LocalModel, saved: Path) -> None:
    loaded = LocalModel.load(saved)
    assert loaded.card.model_version == small_model.card.model_version
    assert loaded.card == small_model.card
    for text in [
        "My husband passed away yesterday",
        "thank you so much",
        "WHY IS THIS STILL BROKEN?!",
        "",
        "🙂 ok",
    ]:
        assert loaded.predict(text) == small_model.predict(text)
    card = json.loads((saved / MODEL_CARD).read_text(encoding="utf-8"))
    assert card["format_version"] == 2
    assert card["encoder"]["name"] == "minilm-l6-goemotions-v1"
    assert card["taxonomy"] == "original"
    assert len(card["data"]["train_sha256"]) == 64
    assert "GoEmotions" in card["attribution"]
    with np.load(saved / WEIGHTS, allow_pickle=False) as arrays:
        assert arrays["weights"].dtype == np.float16


def _corrupt_card(field: str, value: object) -> Callable[[Path], None]:
    def corrupt(directory: Path) -> None:
        card = json.loads((directory / MODEL_CARD).read_text(encoding="utf-8"))
        card[field] = value
        (directory / MODEL_CARD).write_text(json.dumps(card), encoding="utf-8")

    return corrupt


def _replace_weights(data: bytes) -> Callable[[Path], None]:
    """Swap in other bytes and record their hash, so the damage is in the arrays themselves."""

    def corrupt(directory: Path) -> None:
        (directory / WEIGHTS).write_bytes(data)
        _corrupt_card("weights_sha256", hashlib.sha256(data).hexdigest())(directory)

    return corrupt


def _pickled_arrays() -> bytes:
    buffer = io.BytesIO()
    objects = np.array([{"a": 1}], dtype=object)
    # Spelled out: a ** dict could also fill savez's allow_pickle flag, so mypy refuses it.
    np.savez(
        buffer,
        vocabulary=objects,
        idf=objects,
        weights=objects,
        bias=objects,
        head_weights=objects,
        head_bias=objects,
    )
    return buffer.getvalue()


def _truncated_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("idf.npy", b"not an npy file")
    return buffer.getvalue()[:40]


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda d: (d / WEIGHTS).unlink(), "weights.npz is missing"),
        (lambda d: (d / MODEL_CARD).write_text("{not json", encoding="utf-8"), "not valid JSON"),
        (_corrupt_card("format_version", 99), "model format 99"),
        (_corrupt_card("labels", "joy"), "model.json is invalid"),
        (_corrupt_card("thresholds", [0.5]), "labels, 1 thresholds"),
        (lambda d: (d / WEIGHTS).write_bytes(b"garbage"), "does not match the sha256"),
        (_replace_weights(b"garbage"), "cannot be read as numpy arrays"),
        (_replace_weights(_truncated_zip()), "cannot be read as numpy arrays"),
        (_replace_weights(_pickled_arrays()), "cannot be read as numpy arrays"),
    ],
    ids=[
        "no-weights",
        "card-not-json",
        "future-format",
        "card-invalid",
        "threshold-count",
        "hash-mismatch",
        "weights-garbage",
        "weights-truncated",
        "weights-pickled",
    ],
)
def test_a_damaged_model_directory_is_a_model_load_error(
    saved: Path, tmp_path: Path, damage: Callable[[Path], None], message: str
) -> None:
    directory = tmp_path / "model"
    directory.mkdir()
    for part in (MODEL_CARD, WEIGHTS):
        (directory / part).write_bytes((saved / part).read_bytes())
    damage(directory)
    with pytest.raises(ModelLoadError, match=message):
        LocalModel.load(directory)


def test_a_missing_model_directory_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="omit model_path"):
        providers.build_provider("local", model_path=tmp_path / "nowhere")


def test_the_shipped_model_reads_grief_and_gratitude(shipped: LocalProvider) -> None:
    grief = triage(shipped, request("My husband passed away yesterday"))
    assert {"grief", "sadness"} & {e.label for e in grief.emotions[:3]}
    assert grief.distress >= 0.5
    assert grief.provider == "local"
    assert grief.model_version.startswith("local:goemotions-original:")

    thanks = triage(shipped, request("thank you so much"))
    assert thanks.emotions[0].label == "gratitude"
    assert thanks.emotions[0].score >= 0.5
    assert "gratitude" in thanks.rationale
    assert thanks.distress < 0.2 < grief.distress
    for result in (grief, thanks):
        scores = [e.score for e in result.emotions]
        assert scores == sorted(scores, reverse=True)


def test_the_shipped_model_is_small_and_documented() -> None:
    directory = default_model_dir()
    size = sum(len((directory / part).read_bytes()) for part in (MODEL_CARD, WEIGHTS))
    assert size < 8_000_000
    card = LocalModel.load(directory).card
    assert card.taxonomy == "original"
    assert card.labels == list(GOEMOTIONS_LABELS)
    assert card.data.train_rows > 43_000
    assert card.dev_metrics.macro_f1 > 0.45
    assert "CC BY 4.0" in card.attribution


def test_unknown_words_lower_confidence(shipped: LocalProvider) -> None:
    result = shipped.triage(request("xqzvk brrtl"))
    assert result.confidence <= 0.1
    assert "letter patterns only" in result.rationale
    assert shipped.triage(request("I am so angry right now")).confidence >= 0.5


def test_the_crisis_screen_still_runs_on_top(shipped: LocalProvider) -> None:
    result: TriageResult = triage(shipped, request("i just want to kill myself"))
    assert RiskFlag.SUICIDAL_IDEATION in result.risk_flags
    assert result.crisis
    assert result.distress >= 0.9


def test_build_provider_from_configuration(saved: Path, small_model: LocalModel) -> None:
    own = build_provider(LocalProviderConfig(type="local", model_path=saved))
    assert own.name == "local"
    assert own.model_version == small_model.model_version

    example = load_config(
        ROOT / "examples" / "peer-support" / "warmline.yaml",
        resolve_secrets=False,
    )
    default = build_provider(example.triage.provider)
    assert isinstance(default, LocalProvider)
    assert default.model_version == LocalModel.load(default_model_dir()).model_version
    assert default.triage(request("thank you so much")).emotions[0].label == "gratitude"


def test_a_group_model_reads_distress_from_negative(tmp_path: Path) -> None:
    source = DATA / "group"
    (tmp_path / "labels.txt").write_bytes((source / "labels.txt").read_bytes())
    (tmp_path / "train.tsv").write_bytes(b"\n".join(_head(source / "train.tsv", 3000)) + b"\n")
    (tmp_path / "dev.tsv").write_bytes(b"\n".join(_head(source / "dev.tsv", 1000)) + b"\n")
    with pytest.raises(TrainingDataError, match="not the 'ekman' taxonomy"):
        train(tmp_path / "train.tsv", tmp_path / "dev.tsv", "ekman")

    model = train(tmp_path / "train.tsv", tmp_path / "dev.tsv", "group", max_features=10_000)
    assert model.labels == list(TAXONOMIES["group"])
    provider = LocalProvider(model)
    upset = provider.triage(request("I hate this so much, it is awful and I am furious"))
    pleased = provider.triage(request("thank you, this is wonderful, I love it"))
    assert upset.emotions[0].label == "negative"
    assert pleased.emotions[0].label == "positive"
    assert upset.distress > 0.4 > pleased.distress


def test_out_of_fold_probabilities_come_from_models_that_never_saw_the_row() -> None:
    """Each row's only clue is a word no other row has: a model that saw the row separates the
    labels, so out-of-fold scores that did would too (thresholds tuned on them would be wrong)."""
    rng = np.random.default_rng(0)
    truth = rng.random((600, 1)) < 0.5
    texts = [f"a message about word{rng.integers(10**9)}" for _ in truth]
    embeddings = rng.normal(size=(600, 16)).astype(np.float32)
    settings = TfidfSettings(FeatureSpec(), c=10.0, max_features=None, min_df=1)
    vectorizer, weights, bias = settings.fit(texts, truth)
    seen = 1.0 / (1.0 + np.exp(-(vectorizer.transform(texts) @ weights + bias)[:, 0]))
    held = out_of_fold_probabilities(texts, truth, 5, settings, embeddings, 10.0, 0.5)[:, 0]

    def gap(scores: np.ndarray) -> float:
        return float(scores[truth[:, 0]].mean() - scores[~truth[:, 0]].mean())

    assert gap(seen) > 0.3
    assert abs(gap(held)) < 0.1
