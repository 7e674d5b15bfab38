"""The local provider: a multi-label emotion classifier trained on GoEmotions, run on the CPU.

A model is a directory with `model.json` (the card: labels, tuned thresholds, feature spec, data
hash, dev metrics, versions) and `weights.npz` (plain numpy arrays, read with pickle disabled), so
loading a model file can never run code. Two classifiers are mixed: logistic regressions over
TF-IDF n-grams (numpy only) and, from format 2 on, logistic heads over the embedding of the shared
fine-tuned encoder (`warmline.triage.encoder`, onnxruntime). Training lives in
`warmline.triage.training`.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import re
import zipfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from warmline.triage.encoder import (
    ENCODER_FILE,
    TOKENIZER_FILE,
    Encoder,
    EncoderRef,
    load_encoder,
    shipped_encoders,
)
from warmline.triage.errors import ModelLoadError
from warmline.triage.lexicon import DISTRESS_WEIGHTS
from warmline.triage.types import (
    GOEMOTIONS_LABELS,
    NEGATIVE_EMOTIONS,
    EmotionScore,
    TriageRequest,
    TriageResult,
)

FORMAT_VERSION = 2
"""Format 2 adds the encoder head (`ModelCard.encoder`); format 1 (TF-IDF only) still loads."""
_READABLE_FORMATS = (1, 2)
DEFAULT_TAXONOMY = "original"
MODEL_CARD = "model.json"
WEIGHTS = "weights.npz"
CURRENT = "CURRENT"
"""In a registry's taxonomy directory, the file naming the version in use (one line, e.g. `v2`)."""

TAXONOMIES: dict[str, tuple[str, ...]] = {
    "original": GOEMOTIONS_LABELS,
    "group": ("ambiguous", "negative", "neutral", "positive"),
    "ekman": ("anger", "disgust", "fear", "joy", "neutral", "sadness", "surprise"),
}
"""The GoEmotions taxonomies, labels in the order of each `labels.txt`."""

# How much each label weighs on distress. The `original` and `ekman` labels reuse the lexicon's
# weights for the negative emotions; the `group` taxonomy only knows "negative" as a whole.
_GROUP_DISTRESS = {"negative": 0.8}
_MIN_SHOWN = 0.05
_VERSION = re.compile(r"v[1-9][0-9]*")
_KNOWN = ", ".join(TAXONOMIES)
_NEUTRAL_LIKE = frozenset(["neutral", "ambiguous"])

_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "`": "'", "\u00b4": "'"})
_ELONGATED = re.compile(r"(\w)\1{2,}")
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?|[\u2600-\u27bf\U0001f300-\U0001faff]|[!?]")

FloatArray = npt.NDArray[np.float32]


class FeatureSpec(BaseModel):
    """How text becomes features; training and inference read text through the same `analyze`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    word_ngrams: tuple[int, int] = (1, 2)
    char_ngrams: tuple[int, int] = (2, 5)
    """Character n-grams inside each word padded with spaces (scikit-learn's `char_wb`)."""
    sublinear_tf: bool = True

    @staticmethod
    def words(text: str) -> list[str]:
        """The words of one text as the features see them: lower case, elongations shortened."""
        plain = _ELONGATED.sub(r"\1\1", text.lower().translate(_APOSTROPHES))
        words: list[str] = _WORD.findall(plain)
        return words

    def analyze(self, text: str) -> list[str]:
        """The feature strings of one text, repeated as often as they occur."""
        words = self.words(text)
        features: list[str] = []
        low, high = self.word_ngrams
        for n in range(low, high + 1):
            features.extend("w:" + " ".join(words[i : i + n]) for i in range(len(words) - n + 1))
        low, high = self.char_ngrams
        for word in words:
            padded = f" {word} "
            for n in range(low, min(high, len(padded)) + 1):
                features.extend("c:" + padded[i : i + n] for i in range(len(padded) - n + 1))
        return features


class DevMetrics(BaseModel):
    """Scores on the dev split with the tuned thresholds (optimistic: thresholds came from it)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    macro_f1: float
    micro_f1: float
    per_label_f1: dict[str, float]
    rows: int


class DataSummary(BaseModel):
    """What the model was trained on: the file's hash and how many rows were used or skipped."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    train_file: str
    train_sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    dev_file: str
    dev_sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    train_rows: int
    train_skipped: dict[str, int]
    dev_rows: int
    dev_skipped: dict[str, int]
    skipped_examples: list[str]
    """The first few skipped rows of each file as `FILE:LINE: reason`."""
    train_labels_without_examples: list[str] = []
    """Labels no training row carries: the model never predicts them (empty for older cards)."""


class ModelCard(BaseModel):
    """`model.json`: everything about a model except its numbers."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    format_version: Literal[1, 2]
    model_version: str
    parent_version: str | None
    """The model version of the parent: in a registry, the version that was current when this one
    was published (`registry.publish` sets it); until then, the one training began from."""
    created_at: datetime
    taxonomy: str
    labels: list[str]
    thresholds: list[Annotated[float, Field(gt=0.0, lt=1.0)]]
    features: FeatureSpec
    vocabulary_size: int
    weights_sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")] | None = None
    """Hash of `weights.npz`, written by `save`; None for a model not saved yet."""
    encoder: EncoderRef | None = None
    """The encoder whose embedding the second classifier reads; None for a TF-IDF-only model."""
    data: DataSummary
    dev_metrics: DevMetrics
    trainer: dict[str, Any]
    """Classifier and its settings, for the record."""
    attribution: str


@dataclass(frozen=True)
class EncoderHead:
    """One logistic output per label over the encoder's embedding (standardisation folded in)."""

    encoder: Encoder
    weights: FloatArray
    """dimensions x labels"""
    bias: FloatArray


class LocalModel:
    """One-vs-rest logistic classifiers, one output per label: over TF-IDF features, mixed with
    heads over the fine-tuned encoder's embedding when the card names an encoder.

    `predict` returns *calibrated* scores: each label's probability is mapped piecewise-linearly so
    that its tuned threshold lands on 0.5. A score of 0.5 or more therefore means "the model says
    this emotion is present", for every label alike, which is what rules like
    `emotion("grief") > 0.5` expect.
    """

    def __init__(
        self,
        card: ModelCard,
        vocabulary: Sequence[str],
        idf: FloatArray,
        weights: FloatArray,
        bias: FloatArray,
        head: EncoderHead | None = None,
    ) -> None:
        if (head is None) != (card.encoder is None) or (
            head is not None and head.weights.shape != (head.encoder.dimensions, len(card.labels))
        ):
            raise ModelLoadError(
                f"model {card.model_version}: the card's encoder and the encoder head do not "
                "match; retrain the model"
            )
        if weights.shape != (len(vocabulary), len(card.labels)) or idf.shape != (len(vocabulary),):
            raise ModelLoadError(
                f"model {card.model_version}: weights {weights.shape} and idf {idf.shape} do not "
                f"fit {len(vocabulary)} features x {len(card.labels)} labels; retrain the model"
            )
        self.card = card
        self.vocabulary = list(vocabulary)
        self._index = {feature: i for i, feature in enumerate(self.vocabulary)}
        self._idf = idf.astype(np.float32)
        self._weights = weights.astype(np.float32)
        self._bias = bias.astype(np.float32)
        self._thresholds = np.asarray(card.thresholds, dtype=np.float32)
        self.head = head

    @property
    def labels(self) -> list[str]:
        return self.card.labels

    @property
    def model_version(self) -> str:
        return self.card.model_version

    def coverage(self, text: str) -> float:
        """The share of the message's distinct words the model knows as word features (0..1)."""
        words = {"w:" + word for word in self.card.features.words(text)}
        return sum(1 for w in words if w in self._index) / len(words) if words else 0.0

    def probabilities(self, text: str) -> FloatArray:
        """The probability of every label, in `labels` order (the two classifiers mixed)."""
        tfidf = self.tfidf_probabilities(text)
        if self.head is None or self.card.encoder is None:
            return tfidf
        mix = self.card.encoder.mix
        encoded = self.head_probabilities(self.head.encoder.embed(text)[None, :])[0]
        result: FloatArray = (mix * encoded + (1.0 - mix) * tfidf).astype(np.float32)
        return result

    def head_probabilities(self, embeddings: FloatArray) -> FloatArray:
        """The encoder head's probabilities for rows of embeddings."""
        if self.head is None:
            raise ModelLoadError(f"model {self.model_version} has no encoder head")
        logits = embeddings @ self.head.weights + self.head.bias
        result: FloatArray = (1.0 / (1.0 + np.exp(-logits))).astype(np.float32)
        return result

    def tfidf_probabilities(self, text: str) -> FloatArray:
        """The TF-IDF classifier's logistic probability of every label."""
        counts = Counter(
            self._index[f] for f in self.card.features.analyze(text) if f in self._index
        )
        logits = self._bias.copy()
        if counts:
            index = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
            tf = np.fromiter(counts.values(), dtype=np.float32, count=len(counts))
            if self.card.features.sublinear_tf:
                tf = (1.0 + np.log(tf)).astype(np.float32)
            values = tf * self._idf[index]
            norm = float(np.sqrt(np.dot(values, values)))
            logits += (values / norm) @ self._weights[index]
        result: FloatArray = (1.0 / (1.0 + np.exp(-logits))).astype(np.float32)
        return result

    def calibrate(self, probabilities: FloatArray) -> FloatArray:
        """Map each probability so that its label's threshold becomes 0.5."""
        t = self._thresholds
        below = 0.5 * probabilities / t
        above = 0.5 + 0.5 * (probabilities - t) / (1.0 - t)
        result: FloatArray = np.clip(np.where(probabilities < t, below, above), 0.0, 1.0)
        return result

    def predict(self, text: str) -> dict[str, float]:
        """Calibrated score per label (0.5 = the label's tuned decision threshold)."""
        scores = self.calibrate(self.probabilities(text))
        return {label: float(s) for label, s in zip(self.labels, scores, strict=True)}

    def save(self, directory: Path) -> None:
        """Write `weights.npz` and `model.json` (the card records the weights' hash); an encoder
        that does not ship with warmline is copied beside them."""
        directory.mkdir(parents=True, exist_ok=True)
        buffer = io.BytesIO()
        arrays: dict[str, npt.NDArray[Any]] = {
            "vocabulary": np.frombuffer("\n".join(self.vocabulary).encode("utf-8"), dtype=np.uint8),
            "idf": self._idf,
            "weights": self._weights.astype(np.float16),
            "bias": self._bias,
        }
        if self.head is not None:
            arrays["head_weights"] = self.head.weights
            arrays["head_bias"] = self.head.bias
            if not _is_shipped(self.head.encoder):
                for name in (ENCODER_FILE, TOKENIZER_FILE):
                    (directory / name).write_bytes(
                        (self.head.encoder.directory / name).read_bytes()
                    )
        np.savez_compressed(buffer, allow_pickle=False, **arrays)
        data = buffer.getvalue()
        self.card = self.card.model_copy(
            update={"weights_sha256": hashlib.sha256(data).hexdigest()}
        )
        (directory / WEIGHTS).write_bytes(data)
        self._write_card(directory)

    def record_parent(self, directory: Path, parent_version: str | None) -> None:
        """Name `parent_version` (a model version, None for none) as this model's parent, in its
        card and in the `model.json` saved in `directory`. The registry calls it as it publishes
        the model: the parent is what is current then, which may no longer be what was current
        when training began (another version published meanwhile, or a rollback)."""
        self.card = self.card.model_copy(update={"parent_version": parent_version})
        self._write_card(directory)

    def _write_card(self, directory: Path) -> None:
        (directory / MODEL_CARD).write_text(
            json.dumps(self.card.model_dump(mode="json"), indent=2, ensure_ascii=False) + "\n",
            encoding="utf-8",
        )

    @classmethod
    def load(cls, directory: Path | Traversable) -> LocalModel:
        """Read a model directory; anything missing, corrupt or incompatible is a ModelLoadError."""
        where = str(directory)
        if not directory.is_dir():
            raise ModelLoadError(
                f"{where}: no model directory here; train one with `warmline triage train` "
                "or omit model_path to use the model shipped with warmline"
            )
        card_file, weights_file = directory / MODEL_CARD, directory / WEIGHTS
        for part in (card_file, weights_file):
            if not part.is_file():
                raise ModelLoadError(
                    f"{where}: {part.name} is missing; a model directory holds {MODEL_CARD} and "
                    f"{WEIGHTS} written together by LocalModel.save"
                )
        card = _read_card(card_file, where)
        data = weights_file.read_bytes()
        if hashlib.sha256(data).hexdigest() != card.weights_sha256:
            raise ModelLoadError(
                f"{where}: {WEIGHTS} does not match the sha256 recorded in {MODEL_CARD}; the files "
                "come from different models or were damaged; copy the whole directory again"
            )
        arrays = _read_weights(data, where, with_head=card.encoder is not None)
        head = None
        if card.encoder is not None:
            encoder = load_encoder(card.encoder.name, directory)
            if encoder.sha256 != card.encoder.sha256:
                raise ModelLoadError(
                    f"{where}: encoder {card.encoder.name!r} is not the file the heads were "
                    f"trained on (sha256 {encoder.sha256[:12]}, card {card.encoder.sha256[:12]}); "
                    "retrain the model on this encoder"
                )
            head = EncoderHead(encoder, arrays["head_weights"], arrays["head_bias"])
        vocabulary = bytes(arrays["vocabulary"]).decode("utf-8").split("\n")
        if len(card.labels) != len(card.thresholds) or len(vocabulary) != card.vocabulary_size:
            raise ModelLoadError(
                f"{where}: {MODEL_CARD} lists {len(card.labels)} labels, {len(card.thresholds)} "
                f"thresholds and {card.vocabulary_size} features, {WEIGHTS} has "
                f"{len(vocabulary)}; retrain the model"
            )
        return cls(card, vocabulary, arrays["idf"], arrays["weights"], arrays["bias"], head)


def _read_card(card_file: Traversable, where: str) -> ModelCard:
    try:
        raw = json.loads(card_file.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise ModelLoadError(
            f"{card_file}: {MODEL_CARD} is not valid JSON: byte {exc.start} is not UTF-8; "
            "copy the whole model directory again, or retrain"
        ) from None
    except json.JSONDecodeError as exc:
        raise ModelLoadError(
            f"{card_file}:{exc.lineno}:{exc.colno}: {MODEL_CARD} is not valid JSON: {exc.msg}; "
            "copy the whole model directory again, or retrain"
        ) from None
    if not isinstance(raw, dict):
        raise ModelLoadError(f"{where}: {MODEL_CARD} is not a JSON object")
    version = raw.get("format_version")
    if version not in _READABLE_FORMATS:
        raise ModelLoadError(
            f"{where}: model format {version!r}, this warmline reads format {FORMAT_VERSION}; "
            "retrain the model with this version or upgrade warmline"
        )
    try:
        return ModelCard.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['msg']}"
            for err in exc.errors()[:5]
        )
        raise ModelLoadError(f"{where}: {MODEL_CARD} is invalid: {problems}") from exc


def _is_shipped(encoder: Encoder) -> bool:
    shipped = shipped_encoders() / encoder.name / ENCODER_FILE
    return str(encoder.directory) == str(shipped_encoders() / encoder.name) and shipped.is_file()


def _read_weights(data: bytes, where: str, *, with_head: bool) -> dict[str, FloatArray]:
    needed: tuple[str, ...] = ("vocabulary", "idf", "weights", "bias")
    if with_head:
        needed += ("head_weights", "head_bias")
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            missing = [name for name in needed if name not in npz.files]
            if missing:
                raise ModelLoadError(f"{where}: {WEIGHTS} lacks arrays {missing}; retrain")
            return {name: np.asarray(npz[name]) for name in needed}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise ModelLoadError(f"{where}: {WEIGHTS} cannot be read as numpy arrays: {exc}") from exc


def shipped_registry() -> Traversable:
    """The registry inside the package: one default model per taxonomy."""
    return resources.files("warmline.triage") / "models"


def read_pointer(pointer: Path | Traversable) -> str:
    """The version a registry's pointer file (`CURRENT`, `SHADOW`) names, stripped; a file that
    is not UTF-8 text is a `ModelLoadError` naming it, not a decoding traceback."""
    try:
        return pointer.read_text(encoding="utf-8").strip()
    except UnicodeDecodeError as exc:
        raise ModelLoadError(
            f"{pointer}: byte {exc.start} is not UTF-8 text; the file holds one version name "
            "such as v1"
        ) from None


def resolve_model_dir(path: Traversable, taxonomy: str = DEFAULT_TAXONOMY) -> Traversable:
    """The model directory `path` names: a model itself, a taxonomy's directory in a registry
    (its `CURRENT` version) or a registry root (the `taxonomy` directory's current version)."""
    if (path / MODEL_CARD).is_file():
        return path
    pointer = path / CURRENT
    if pointer.is_file():
        version = read_pointer(pointer)
        if not _VERSION.fullmatch(version):
            raise ModelLoadError(
                f"{pointer}: {version!r} is not a version name like v1; point it at one of the "
                "version directories beside it"
            )
        if not (path / version).is_dir():
            # Not "no model directory here": the registry is there, its pointer is what is wrong.
            found = sorted(
                (e.name for e in path.iterdir() if e.is_dir() and _VERSION.fullmatch(e.name)),
                key=lambda name: int(name[1:]),
            )
            raise ModelLoadError(
                f"{pointer}: names {version}, and there is no {version} directory beside it "
                f"(versions: {', '.join(found) or 'none'}); point it at a complete version with "
                "`warmline triage rollback --to VERSION`"
            )
        return path / version
    if (path / taxonomy / CURRENT).is_file():
        return resolve_model_dir(path / taxonomy, taxonomy)
    others = [name for name in TAXONOMIES if (path / name / CURRENT).is_file()]
    if others:
        raise ModelLoadError(
            f"{path}: this registry has no {taxonomy!r} model, only {', '.join(others)}; train "
            f"one with `warmline triage train --taxonomy {taxonomy} --out {path}`"
        )
    return path


def default_model_dir(taxonomy: str = DEFAULT_TAXONOMY) -> Traversable:
    """The current version of the model shipped inside the package for `taxonomy`."""
    if taxonomy not in TAXONOMIES:
        raise ModelLoadError(f"no model ships for taxonomy {taxonomy!r}; known: {_KNOWN}")
    return resolve_model_dir(shipped_registry() / taxonomy, taxonomy)


def _distress_weight(label: str) -> float:
    if label in NEGATIVE_EMOTIONS:
        return DISTRESS_WEIGHTS.get(label, 0.5)
    return _GROUP_DISTRESS.get(label, 0.0)


class LocalProvider:
    """Triage with a `LocalModel`; the crisis screen is applied on top by `triage()`."""

    name = "local"

    def __init__(self, model: LocalModel | None = None) -> None:
        self._model = model if model is not None else LocalModel.load(default_model_dir())
        self._distress = np.asarray(
            [_distress_weight(label) for label in self._model.labels], dtype=np.float32
        )

    @classmethod
    def from_path(cls, path: Path | None) -> LocalProvider:
        """The model at `path` (a model, or a registry's current `original` model), or the
        shipped default when `path` is None."""
        directory = default_model_dir() if path is None else resolve_model_dir(path)
        return cls(LocalModel.load(directory))

    @property
    def model(self) -> LocalModel:
        return self._model

    @property
    def model_version(self) -> str:
        return self._model.model_version

    def triage(self, request: TriageRequest) -> TriageResult:
        model = self._model
        scores = model.calibrate(model.probabilities(request.text))
        order = sorted(range(len(scores)), key=lambda i: (-float(scores[i]), model.labels[i]))
        emotions = [
            EmotionScore(label=model.labels[i], score=round(float(scores[i]), 4))
            for i in order
            if scores[i] >= _MIN_SHOWN or i == order[0]
        ]
        distress = 1.0 - math.prod(
            1.0 - float(w * s) for w, s in zip(self._distress, scores, strict=True)
        )
        present = [e for e in emotions if e.score >= 0.5]
        coverage = model.coverage(request.text)
        if coverage == 0.0:
            confidence = 0.1
            rationale = "No word of the message is known to the model; letter patterns only."
        else:
            # How far the best label sits past its threshold, discounted for unknown words.
            confidence = min(0.99, emotions[0].score * (0.5 + 0.5 * coverage))
            shown = present[:3] if present else emotions[:1]
            named = ", ".join(f"{e.label} {e.score:.2f}" for e in shown)
            if not present:
                rationale = f"No emotion clears its threshold; strongest is {named}."
            elif all(e.label in _NEUTRAL_LIKE for e in present):
                rationale = f"Model reads no emotion ({named})."
            else:
                rationale = f"Model reads {named}."
            if coverage < 0.5:
                rationale += f" Only {coverage:.0%} of the words are known to the model."
        return TriageResult(
            emotions=emotions,
            distress=round(min(1.0, max(0.0, distress)), 4),
            confidence=round(confidence, 4),
            rationale=rationale,
            model_version=model.model_version,
            provider=self.name,
        )
