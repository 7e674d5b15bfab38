"""Training the local triage model on GoEmotions-format data (scikit-learn, CPU only).

`train()` reads the train and dev splits, learns TF-IDF word and character n-gram features and one
logistic regression per label, tunes each label's decision threshold on dev only, and returns a
`LocalModel` ready to `save`. Rows that cannot be used are skipped and counted with their reason in
the model card (`data.train_skipped`, `data.dev_skipped`, `data.skipped_examples`).
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from warmline.triage.errors import TrainingDataError
from warmline.triage.local import (
    FORMAT_VERSION,
    TAXONOMIES,
    DataSummary,
    DevMetrics,
    FeatureSpec,
    FloatArray,
    LocalModel,
    ModelCard,
)

ATTRIBUTION = (
    "Trained on GoEmotions (Demszky et al., 'GoEmotions: A Dataset of Fine-Grained Emotions', "
    "ACL 2020), released by Google under CC BY 4.0; group and ekman taxonomies from the "
    "GoEmotions-pytorch replication."
)
_SHOWN_EXAMPLES = 10
_THRESHOLDS = np.round(np.arange(0.02, 0.96, 0.01), 2)
# A label never seen in training: a strongly negative bias so the model never predicts it.
_UNSEEN_BIAS = -8.0

BoolArray = npt.NDArray[np.bool_]


@dataclass
class Split:
    """The usable rows of one TSV file and an account of the rows that were skipped."""

    path: Path
    sha256: str
    texts: list[str] = field(default_factory=list)
    targets: list[list[int]] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)

    def skip(self, line: int, reason: str) -> None:
        self.skipped[reason] += 1
        if len(self.examples) < _SHOWN_EXAMPLES:
            self.examples.append(f"{self.path.name}:{line}: {reason}")

    def matrix(self, n_labels: int) -> BoolArray:
        """The targets as a rows x labels boolean matrix."""
        y = np.zeros((len(self.targets), n_labels), dtype=np.bool_)
        for row, labels in enumerate(self.targets):
            y[row, labels] = True
        return y


def read_split(path: Path, n_labels: int) -> Split:
    """Read `text<TAB>label indices<TAB>id` rows, skipping and counting the malformed ones."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise TrainingDataError(f"{path}: cannot read the data file: {exc}") from exc
    split = Split(path=path, sha256=hashlib.sha256(raw).hexdigest())
    for number, line in enumerate(raw.split(b"\n"), start=1):
        if not line.strip():
            continue
        try:
            decoded = line.decode("utf-8").rstrip("\r")
        except UnicodeDecodeError:
            split.skip(number, "invalid_utf8")
            continue
        columns = decoded.split("\t")
        if len(columns) != 3:
            split.skip(number, "wrong_column_count")
            continue
        text, label_text, _ = columns
        if not text.strip():
            split.skip(number, "empty_text")
            continue
        try:
            labels = sorted({int(part) for part in label_text.split(",")})
        except ValueError:
            split.skip(number, "label_not_an_integer")
            continue
        if any(label < 0 or label >= n_labels for label in labels):
            split.skip(number, "label_out_of_range")
            continue
        split.texts.append(text)
        split.targets.append(labels)
    if not split.texts:
        raise TrainingDataError(
            f"{path}: no usable row (skipped: {dict(split.skipped) or 'none'}); expected "
            "text<TAB>comma-separated label indices<TAB>id"
        )
    return split


def check_labels(train_path: Path, taxonomy: str) -> tuple[str, ...]:
    """The taxonomy's labels, checked against a `labels.txt` beside the train file if present."""
    if taxonomy not in TAXONOMIES:
        raise TrainingDataError(f"unknown taxonomy {taxonomy!r}; known: {', '.join(TAXONOMIES)}")
    labels = TAXONOMIES[taxonomy]
    beside = train_path.parent / "labels.txt"
    if beside.is_file():
        found = tuple(beside.read_text(encoding="utf-8").split())
        if found != labels:
            raise TrainingDataError(
                f"{beside}: labels {found} are not the {taxonomy!r} taxonomy {labels}; "
                "pass the taxonomy that matches the data"
            )
    return labels


def f1_scores(truth: BoolArray, predicted: BoolArray) -> tuple[float, float, list[float]]:
    """Macro F1 (every label; one never true nor predicted scores 0), micro F1, F1 per label."""
    tp = (truth & predicted).sum(axis=0).astype(np.float64)
    fp = (~truth & predicted).sum(axis=0).astype(np.float64)
    fn = (truth & ~predicted).sum(axis=0).astype(np.float64)
    denominator = 2 * tp + fp + fn
    per_label = np.divide(2 * tp, denominator, out=np.zeros_like(tp), where=denominator > 0)
    total = 2 * tp.sum() + fp.sum() + fn.sum()
    micro = float(2 * tp.sum() / total) if total else 0.0
    return float(per_label.mean()), micro, [float(f) for f in per_label]


def tune_thresholds(probabilities: FloatArray, truth: BoolArray) -> list[float]:
    """Per label, the threshold that maximises its F1 on these rows (0.5 without positives)."""
    thresholds: list[float] = []
    for label in range(truth.shape[1]):
        positives = truth[:, label]
        if not positives.any():
            thresholds.append(0.5)
            continue
        predicted = probabilities[:, label][:, None] >= _THRESHOLDS[None, :]
        tp = (predicted & positives[:, None]).sum(axis=0)
        f1 = 2 * tp / (predicted.sum(axis=0) + positives.sum())
        thresholds.append(float(_THRESHOLDS[int(np.argmax(f1))]))
    return thresholds


def train(
    train_path: Path,
    dev_path: Path,
    taxonomy: str = "original",
    *,
    features: FeatureSpec | None = None,
    max_features: int = 60_000,
    min_df: int = 2,
    c: float = 4.0,
    parent_version: str | None = None,
) -> LocalModel:
    """Train a model on `train_path`, tune its thresholds and measure it on `dev_path`."""
    try:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
    except ImportError as exc:
        raise TrainingDataError(
            "training needs scikit-learn: pip install 'warmline[train]'"
        ) from exc

    labels = check_labels(train_path, taxonomy)
    spec = features if features is not None else FeatureSpec()
    train_split = read_split(train_path, len(labels))
    dev_split = read_split(dev_path, len(labels))

    vectorizer = TfidfVectorizer(
        analyzer=spec.analyze,
        min_df=min_df,
        max_features=max_features,
        sublinear_tf=spec.sublinear_tf,
        dtype=np.float32,
    )
    x_train = vectorizer.fit_transform(train_split.texts)
    y_train = train_split.matrix(len(labels))
    vocabulary = [""] * len(vectorizer.vocabulary_)
    for feature, index in vectorizer.vocabulary_.items():
        vocabulary[index] = feature

    weights = np.zeros((len(vocabulary), len(labels)), dtype=np.float32)
    bias = np.full(len(labels), _UNSEEN_BIAS, dtype=np.float32)
    for label in range(len(labels)):
        column = y_train[:, label]
        if column.all() or not column.any():
            continue
        classifier = LogisticRegression(C=c, solver="liblinear", max_iter=200)
        classifier.fit(x_train, column)
        weights[:, label] = classifier.coef_[0]
        bias[label] = classifier.intercept_[0]
    # Shipped weights are float16; tune and measure with exactly the numbers that ship.
    weights = weights.astype(np.float16).astype(np.float32)

    x_dev = vectorizer.transform(dev_split.texts)
    y_dev = dev_split.matrix(len(labels))
    dev_probabilities = 1.0 / (1.0 + np.exp(-(x_dev @ weights + bias)))
    thresholds = tune_thresholds(dev_probabilities, y_dev)
    macro, micro, per_label = f1_scores(
        y_dev, dev_probabilities >= np.asarray(thresholds, dtype=np.float32)
    )

    trainer: dict[str, Any] = {
        "classifier": "one-vs-rest LogisticRegression (liblinear)",
        "c": c,
        "max_features": max_features,
        "min_df": min_df,
        "idf": "smooth",
    }
    recipe = json.dumps(
        [train_split.sha256, dev_split.sha256, taxonomy, spec.model_dump(mode="json"), trainer],
        sort_keys=True,
    )
    digest = hashlib.sha256(recipe.encode()).hexdigest()[:12]
    card = ModelCard(
        format_version=FORMAT_VERSION,
        model_version=f"local:goemotions-{taxonomy}:{digest}",
        parent_version=parent_version,
        created_at=datetime.now(UTC),
        taxonomy=taxonomy,
        labels=list(labels),
        thresholds=thresholds,
        features=spec,
        vocabulary_size=len(vocabulary),
        data=DataSummary(
            train_file=train_path.name,
            train_sha256=train_split.sha256,
            dev_file=dev_path.name,
            dev_sha256=dev_split.sha256,
            train_rows=len(train_split.texts),
            train_skipped=dict(train_split.skipped),
            dev_rows=len(dev_split.texts),
            dev_skipped=dict(dev_split.skipped),
            skipped_examples=train_split.examples + dev_split.examples,
        ),
        dev_metrics=DevMetrics(
            macro_f1=round(macro, 4),
            micro_f1=round(micro, 4),
            per_label_f1={label: round(f, 4) for label, f in zip(labels, per_label, strict=True)},
            rows=len(dev_split.texts),
        ),
        trainer=trainer,
        attribution=ATTRIBUTION,
    )
    idf = np.asarray(vectorizer.idf_, dtype=np.float32)
    return LocalModel(card, vocabulary, idf, weights, bias)
