"""The fine-tuned encoder under the local model: shipped once, run without torch, heads on top."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from warmline.triage import registry
from warmline.triage.encoder import (
    DEFAULT_ENCODER,
    ENCODER_FILE,
    TOKENIZER_FILE,
    Encoder,
    EncoderRef,
    load_encoder,
    shipped_encoders,
)
from warmline.triage.errors import ModelLoadError
from warmline.triage.evaluate import evaluate, label_scores
from warmline.triage.local import MODEL_CARD, TAXONOMIES, LocalModel, default_model_dir
from warmline.triage.training import RECIPES, Split, fit, read_split

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(os.environ.get("WARMLINE_GOEMOTIONS", ROOT.parent / "shared" / "data" / "goemotions"))

# Runs in a fresh interpreter where importing torch fails, as in a default install.
_WITHOUT_TORCH = """
import json, sys
sys.modules["torch"] = None
sys.modules["transformers"] = None
from warmline.triage.local import LocalModel, TAXONOMIES, default_model_dir
out = {}
for taxonomy in TAXONOMIES:
    model = LocalModel.load(default_model_dir(taxonomy))
    scores = model.predict("I am furious, you broke my order again")
    out[taxonomy] = {
        "labels": list(scores),
        "encoder": model.card.encoder.name if model.card.encoder else None,
        "top": max(scores, key=scores.get),
    }
print(json.dumps(out))
"""


def test_shipped_models_load_and_predict_without_torch() -> None:
    result = subprocess.run(
        [sys.executable, "-c", _WITHOUT_TORCH],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    for taxonomy, labels in TAXONOMIES.items():
        assert found[taxonomy]["labels"] == list(labels)
        assert found[taxonomy]["encoder"] == RECIPES[taxonomy].encoder
    assert found["ekman"]["top"] == "anger"
    assert found["group"]["top"] == "negative"
    assert found["original"]["top"] in {"anger", "annoyance"}


def test_each_shipped_model_reads_its_recipes_encoder() -> None:
    for taxonomy in TAXONOMIES:
        ref = LocalModel.load(default_model_dir(taxonomy)).card.encoder
        assert ref is not None
        assert ref.name == RECIPES[taxonomy].encoder
        assert ref.sha256 == load_encoder(ref.name).sha256
    # original and group share the first encoder; a model process loads each encoder once.
    assert RECIPES["original"].encoder == RECIPES["group"].encoder == DEFAULT_ENCODER
    assert load_encoder(DEFAULT_ENCODER) is load_encoder(DEFAULT_ENCODER)
    for name in {recipe.encoder for recipe in RECIPES.values()}:
        folder = shipped_encoders() / name
        size = len((folder / ENCODER_FILE).read_bytes())
        assert size < 30_000_000, "the int8 encoder should stay small"
        info = json.loads((folder / "encoder.json").read_text(encoding="utf-8"))
        assert "Apache-2.0" in info["base"]
        assert info["holdout"] == 5000, "the held-out estimate needs those rows kept out"


def test_the_embedding_is_deterministic_and_length_independent_in_shape() -> None:
    encoder = load_encoder(DEFAULT_ENCODER)
    short, long = encoder.embed("ok"), encoder.embed("word " * 500)
    assert short.shape == long.shape == (encoder.dimensions,)
    assert np.array_equal(encoder.embed("ok"), short)
    rows = encoder.embed_many(["ok", "thanks", "ok"])
    assert np.array_equal(rows[0], rows[2])
    assert np.array_equal(rows[0], short)


def _slice(split: Split, rows: int) -> Split:
    return replace(split, texts=split.texts[:rows], targets=split.targets[:rows])


@pytest.fixture(scope="module")
def small() -> tuple[LocalModel, Split]:
    """Heads fit on a few hundred rows, as the retraining workflow does with gold labels."""
    folder = DATA / "ekman"
    train_split = _slice(read_split(folder / "train.tsv", 7), 600)
    dev_split = _slice(read_split(folder / "dev.tsv", 7), 300)
    return fit(train_split, dev_split, "ekman"), dev_split


def test_fit_trains_heads_on_the_recipes_shipped_encoder(small: tuple[LocalModel, Split]) -> None:
    model, _ = small
    ref = model.card.encoder
    assert ref is not None
    assert ref.name == RECIPES["ekman"].encoder != DEFAULT_ENCODER
    assert ref.sha256 == load_encoder(ref.name).sha256
    assert 0.0 <= ref.mix <= 1.0
    assert model.card.format_version == 2
    assert model.card.trainer["encoder_head"]["encoder"] == RECIPES["ekman"].encoder
    assert model.labels == list(TAXONOMIES["ekman"])
    # ekman's rare labels get thresholds tuned on out-of-fold train predictions as well as dev.
    assert model.card.trainer["threshold_folds"] == 5
    # The fine-tuned encoder carries most of the skill even with 600 rows.
    assert model.card.dev_metrics.macro_f1 > 0.45


def test_a_model_round_trips_through_the_registry(
    small: tuple[LocalModel, Split], tmp_path: Path
) -> None:
    model, dev_split = small
    scores = evaluate(
        model,
        dev_split.texts,
        dev_split.matrix(7),
        data_file="dev.tsv",
        data_sha256=dev_split.sha256,
    )
    data = {"dev": registry.DataFile(file="dev.tsv", sha256=dev_split.sha256, rows=300, skipped={})}
    where, metadata = registry.publish(
        tmp_path, model, data=data, metrics={"dev": scores}, command=["test"]
    )
    assert metadata.version == "v1"
    assert not (where / ENCODER_FILE).exists(), "the shipped encoder is referenced, not copied"
    loaded = LocalModel.load(where)
    assert loaded.card == model.card
    for text in ["thank you so much", "I am scared", ""]:
        assert loaded.predict(text) == model.predict(text)
    saved = registry.read_metadata(where)
    assert saved is not None
    assert saved.metrics["dev"].macro_f1 == scores.macro_f1
    # The decisions scored stay with the evaluation that made them, never in what is recorded.
    assert scores.decisions is not None
    assert scores.decisions.shape == (len(dev_split.texts), 7)
    assert round(label_scores(dev_split.matrix(7), scores.decisions)[0], 4) == scores.macro_f1
    assert saved.metrics["dev"].decisions is None


def test_a_model_on_another_encoder_carries_its_copy(
    small: tuple[LocalModel, Split], tmp_path: Path
) -> None:
    model, _ = small
    own = tmp_path / "my-encoder"
    own.mkdir()
    shipped = shipped_encoders() / RECIPES["ekman"].encoder
    for name in (ENCODER_FILE, TOKENIZER_FILE):
        (own / name).write_bytes((shipped / name).read_bytes())
    assert model.head is not None
    moved = LocalModel(
        model.card,
        model.vocabulary,
        model._idf,
        model._weights,
        model._bias,
        replace(model.head, encoder=Encoder(own)),
    )
    moved.save(tmp_path / "model")
    assert (tmp_path / "model" / ENCODER_FILE).is_file()
    assert LocalModel.load(tmp_path / "model").predict("yay") == model.predict("yay")


def test_heads_refuse_an_encoder_they_were_not_trained_on(
    small: tuple[LocalModel, Split], tmp_path: Path
) -> None:
    model, _ = small
    model.save(tmp_path / "model")
    card = json.loads((tmp_path / "model" / MODEL_CARD).read_text(encoding="utf-8"))
    card["encoder"]["sha256"] = "0" * 64
    (tmp_path / "model" / MODEL_CARD).write_text(json.dumps(card), encoding="utf-8")
    with pytest.raises(ModelLoadError, match="not the file the heads were trained on"):
        LocalModel.load(tmp_path / "model")
    card["encoder"]["name"] = "no-such-encoder"
    (tmp_path / "model" / MODEL_CARD).write_text(json.dumps(card), encoding="utf-8")
    with pytest.raises(ModelLoadError, match="neither in the model directory nor shipped"):
        LocalModel.load(tmp_path / "model")


def test_train_command_takes_a_fine_tuned_encoder(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from warmline.cli import app

    own = tmp_path / "finetuned"
    own.mkdir()
    shipped = shipped_encoders() / DEFAULT_ENCODER
    for name in (ENCODER_FILE, TOKENIZER_FILE):
        (own / name).write_bytes((shipped / name).read_bytes())
    source = DATA / "ekman"
    for split, rows in (("train", 400), ("dev", 200)):
        lines = (source / f"{split}.tsv").read_bytes().split(b"\n")[:rows]
        (tmp_path / f"{split}.tsv").write_bytes(b"\n".join(lines) + b"\n")
    out = tmp_path / "registry"
    args = ["triage", "train", "--data", str(tmp_path / "train.tsv"), "--taxonomy", "ekman"]
    result = CliRunner().invoke(app, [*args, "--out", str(out), "--encoder", str(own)])
    assert result.exit_code == 0, result.output
    version = out / "ekman" / "v1"
    assert (version / ENCODER_FILE).is_file()
    metadata = registry.read_metadata(version)
    assert metadata is not None
    assert metadata.command[-2:] == ["--encoder", str(own)]
    model = LocalModel.load(version)
    assert model.head is not None
    assert str(model.head.encoder.directory) == str(version)


def _encoder_copy(folder: Path) -> Path:
    """`folder` holding the shipped encoder's files (linked, not copied: 23 MB)."""
    folder.mkdir(parents=True)
    shipped = Path(str(shipped_encoders() / DEFAULT_ENCODER))
    for name in (ENCODER_FILE, TOKENIZER_FILE):
        (folder / name).symlink_to(shipped / name)
    return folder


def test_an_encoder_is_named_after_its_resolved_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    own = _encoder_copy(tmp_path / "finetuned")
    monkeypatch.chdir(own)
    assert Encoder(Path()).name == "finetuned"
    assert Encoder(Path("../finetuned/")).name == "finetuned"


def test_a_model_card_refuses_an_encoder_name_that_is_not_one() -> None:
    good = {"sha256": "0" * 64, "dimensions": 384, "mix": 0.5}
    assert EncoderRef(name="minilm-l6-custom-v1", **good).name == "minilm-l6-custom-v1"
    for name in ("", "My Encoder", "Fine_Tuned", "enc/../x", ".hidden"):
        with pytest.raises(ValidationError):
            EncoderRef(name=name, **good)


@pytest.mark.parametrize(("folder", "shown"), [("Fine_Tuned", "Fine_Tuned"), ("_", "_")])
def test_train_refuses_an_encoder_directory_name_before_fitting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, folder: str, shown: str
) -> None:
    """`--encoder .` inside a folder whose name no model card can carry: one line, exit 2, and
    no fit (it used to fit the whole model and then end in a ValidationError traceback)."""
    from typer.testing import CliRunner

    from warmline.cli import app

    source = DATA / "ekman"
    for split, rows in (("train", 60), ("dev", 30)):
        lines = (source / f"{split}.tsv").read_bytes().split(b"\n")[:rows]
        (tmp_path / f"{split}.tsv").write_bytes(b"\n".join(lines) + b"\n")
    monkeypatch.chdir(_encoder_copy(tmp_path / folder))

    def never(*_: object, **__: object) -> None:
        raise AssertionError("fit ran")

    monkeypatch.setattr("warmline.triage.training.fit", never)
    args = ["triage", "train", "--data", str(tmp_path / "train.tsv"), "--taxonomy", "ekman"]
    result = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "registry"), "--encoder", "."])
    assert result.exit_code == 2, result.output
    assert result.stderr.splitlines() == [
        f".: the encoder is named after its directory, and {shown!r} is not an encoder name; "
        "copy or rename the directory to lower-case letters, digits, '.' and '-', starting with "
        "a letter or digit (e.g. minilm-l6-custom-v1)"
    ]
    assert not (tmp_path / "registry" / "ekman").exists()
