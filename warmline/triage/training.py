"""Training the local triage model on GoEmotions-format data (scikit-learn, CPU only).

`train()` reads the train and dev splits, learns TF-IDF word and character n-gram features and one
logistic regression per label, then one logistic head per label over the shipped fine-tuned
encoder's embedding (the encoder itself stays frozen: fine-tuning it is the offline
`bench/finetune_encoder.py`), picks on dev how to mix the two and each label's decision
threshold, and returns a `LocalModel` ready to `save`. Rows that cannot be used are skipped and
counted with their reason in the model card (`data.train_skipped`, `data.dev_skipped`,
`data.skipped_examples`); labels no training row carries, which the model can never predict, are
listed in `data.train_labels_without_examples`.
"""

from __future__ import annotations

import codecs
import hashlib
import importlib.util
import json
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from warmline.errors import Diagnostic
from warmline.triage.encoder import (
    DEFAULT_ENCODER,
    Encoder,
    EncoderRef,
    check_encoder_name,
    load_encoder,
)
from warmline.triage.errors import TrainingDataError
from warmline.triage.evaluate import f1_scores
from warmline.triage.local import (
    FORMAT_VERSION,
    TAXONOMIES,
    DataSummary,
    DevMetrics,
    EncoderHead,
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
_KEPT_PROBLEMS = 1000
THRESHOLD_WINDOW = 2
_THRESHOLDS = np.round(np.arange(0.02, 0.96, 0.01), 2)
# A label never seen in training: a strongly negative bias so the model never predicts it.
_UNSEEN_BIAS = -8.0

BoolArray = npt.NDArray[np.bool_]
_LABEL_INDEX = re.compile(r"\s*-?[0-9]+\s*")
"""A label index as the TSV writes it (ASCII digits; a sign only so -1 is named out of range)."""


@dataclass
class Split:
    """The usable rows of one TSV file and an account of the rows that were skipped."""

    path: Path
    sha256: str
    texts: list[str] = field(default_factory=list)
    targets: list[list[int]] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)
    problems: list[Diagnostic] = field(default_factory=list)
    """The first `_KEPT_PROBLEMS` skipped rows, each at its FILE:LINE:COL with the reason."""

    def skip(self, line: int, column: int, reason: str, detail: str) -> None:
        self.skipped[reason] += 1
        if len(self.problems) < _KEPT_PROBLEMS:
            self.problems.append(Diagnostic(self.path, line, column, f"{reason}: {detail}"))

    @property
    def rows_read(self) -> int:
        """Rows in the file that were not blank: used plus skipped."""
        return len(self.texts) + sum(self.skipped.values())

    @property
    def examples(self) -> list[str]:
        """The first few skipped rows as `FILE:LINE:COL: reason: detail`, file name only."""
        return [
            Diagnostic(Path(p.path.name), p.line, p.column, p.message).render()
            for p in self.problems[:_SHOWN_EXAMPLES]
        ]

    def summary(self) -> str:
        """`N of M rows skipped in FILE (reason: count, ...)`, or that none was."""
        total = sum(self.skipped.values())
        if not total:
            return f"{self.path}: all {len(self.texts)} rows used"
        reasons = ", ".join(f"{reason}: {n}" for reason, n in sorted(self.skipped.items()))
        return f"{self.path}: {total} of {self.rows_read} rows skipped ({reasons})"

    def labels_without_examples(self, labels: Sequence[str]) -> list[str]:
        """The labels, in taxonomy order, that no row of this split carries."""
        seen = {label for row in self.targets for label in row}
        return [name for index, name in enumerate(labels) if index not in seen]

    def matrix(self, n_labels: int) -> BoolArray:
        """The targets as a rows x labels boolean matrix."""
        y = np.zeros((len(self.targets), n_labels), dtype=np.bool_)
        for row, labels in enumerate(self.targets):
            y[row, labels] = True
        return y


def _parse_labels(
    split: Split, number: int, decoded: str, label_text: str, n_labels: int
) -> list[int] | None:
    """The row's label indices, or None after recording why they cannot be used."""
    column = decoded.index("\t") + 2
    labels: set[int] = set()
    for part in label_text.split(","):
        # Not bare `int()`: it reads "1_0" as 10 and "٣" as 3, a silently different label.
        if _LABEL_INDEX.fullmatch(part) is None:
            shown = repr(part) if part else "nothing"
            split.skip(
                number,
                column,
                "label_not_an_integer",
                f"found {shown} where a label index was expected (comma-separated integers)",
            )
            return None
        label = int(part)
        if not 0 <= label < n_labels:
            split.skip(
                number,
                column,
                "label_out_of_range",
                f"label {label} is outside 0..{n_labels - 1} ({n_labels} labels in the taxonomy)",
            )
            return None
        labels.add(label)
        column += len(part) + 1
    return sorted(labels)


def _column_of(line: bytes, offset: int) -> int:
    """The 1-based column, in characters as an editor counts them, of the byte at `offset` in
    `line`, whose bytes before it are UTF-8 (those of a multibyte character count once)."""
    return len(line[:offset].decode("utf-8", errors="replace")) + 1


def read_split(path: Path, n_labels: int) -> Split:
    """Read `text<TAB>label indices<TAB>id` rows, skipping and counting the malformed ones.

    Every skipped row (a repeated id included: `duplicate_id`) is counted under its reason and
    the first ones are kept as diagnostics at FILE:LINE:COL; the caller decides whether any
    skipped row is fatal (`warmline triage train` refuses them unless told to skip).
    """
    try:
        raw = path.read_bytes()
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise TrainingDataError(f"{path}: cannot read the data file: {reason}") from exc
    split = Split(path=path, sha256=hashlib.sha256(raw).hexdigest())
    # Editors on Windows save "UTF-8 with BOM": the mark is no part of the first row's text.
    # The sha256 stays that of the file's bytes, as `sha256sum` reports it.
    body = raw.removeprefix(codecs.BOM_UTF8)
    first_line_of: dict[str, int] = {}
    for number, line in enumerate(body.split(b"\n"), start=1):
        if not line.rstrip(b"\r"):
            # Only a truly empty line is no row; one of spaces or tabs is a malformed row.
            continue
        try:
            decoded = line.decode("utf-8").rstrip("\r")
        except UnicodeDecodeError as exc:
            bad = f"byte {line[exc.start]:#04x} is not UTF-8"
            split.skip(number, _column_of(line, exc.start), "invalid_utf8", bad)
            continue
        columns = decoded.split("\t")
        if len(columns) != 3:
            where = len(decoded) + 1 if len(columns) < 3 else len("\t".join(columns[:3])) + 1
            split.skip(
                number,
                where,
                "wrong_column_count",
                f"{len(columns)} tab-separated column(s), expected 3 (text, labels, id)",
            )
            continue
        text, label_text, row_id = columns
        if not text.strip():
            split.skip(number, 1, "empty_text", "the text column is empty")
            continue
        labels = _parse_labels(split, number, decoded, label_text, n_labels)
        if labels is None:
            continue
        row_id = row_id.strip()
        if row_id in first_line_of:
            # The same comment twice counts double in training and scoring; one of the two
            # may also carry the wrong labels. An empty id names no comment, so it is not checked.
            split.skip(
                number,
                len(text) + len(label_text) + 3,
                "duplicate_id",
                f"id {row_id!r} is already on line {first_line_of[row_id]}",
            )
            continue
        if row_id:
            first_line_of[row_id] = number
        split.texts.append(text)
        split.targets.append(labels)
    if not split.texts:
        # Every row is bad: show where, as a partly bad file does, so the format can be fixed.
        shown = [problem.render() for problem in split.problems[:_SHOWN_EXAMPLES]]
        hidden = sum(split.skipped.values()) - len(shown)
        raise TrainingDataError(
            "\n".join(
                [
                    *shown,
                    *([f"... and {hidden} more"] if hidden > 0 else []),
                    f"{path}: no usable row (skipped: {dict(split.skipped) or 'none'}); expected "
                    "text<TAB>comma-separated label indices<TAB>id",
                ]
            )
        )
    return split


def check_labels(train_path: Path, taxonomy: str) -> tuple[str, ...]:
    """The taxonomy's labels, checked against a `labels.txt` beside the train file if present."""
    if taxonomy not in TAXONOMIES:
        raise TrainingDataError(f"unknown taxonomy {taxonomy!r}; known: {', '.join(TAXONOMIES)}")
    labels = TAXONOMIES[taxonomy]
    beside = train_path.parent / "labels.txt"
    if beside.is_file():
        try:
            found = tuple(beside.read_bytes().decode("utf-8").split())
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise TrainingDataError(f"{beside}: cannot read the label list: {reason}") from exc
        except UnicodeDecodeError as exc:
            raw = exc.object[: exc.start]
            line = raw.count(b"\n") + 1
            line_start = raw.rfind(b"\n") + 1
            column = _column_of(exc.object[line_start:], exc.start - line_start)
            raise TrainingDataError(
                f"{beside}:{line}:{column}: byte {exc.object[exc.start]:#04x} is not UTF-8; "
                "the label list is one label name a line"
            ) from None
        if found != labels:
            line = next(
                (i for i, (a, b) in enumerate(zip(found, labels, strict=False), 1) if a != b),
                min(len(found), len(labels)) + 1,
            )
            raise TrainingDataError(
                f"{beside}:{line}:1: labels {found} are not the {taxonomy!r} taxonomy {labels}; "
                "pass the taxonomy that matches the data"
            )
    return labels


def tune_thresholds(
    probabilities: FloatArray, truth: BoolArray, window: int = THRESHOLD_WINDOW
) -> list[float]:
    """Per label, the threshold that maximises its F1 on these rows (0.5 without positives).

    F1 is first averaged over `window` neighbouring thresholds on each side, so the choice lands
    on a plateau rather than on a spike a few dev rows made: on rows held out of train this gave
    0.3 to 0.6 points of macro-F1 over the plain maximum for every taxonomy.
    """
    thresholds: list[float] = []
    kernel = np.full(2 * window + 1, 1.0 / (2 * window + 1))
    for label in range(truth.shape[1]):
        positives = truth[:, label]
        if not positives.any():
            thresholds.append(0.5)
            continue
        predicted = probabilities[:, label][:, None] >= _THRESHOLDS[None, :]
        tp = (predicted & positives[:, None]).sum(axis=0)
        f1 = 2 * tp / (predicted.sum(axis=0) + positives.sum())
        if window:
            f1 = np.convolve(f1, kernel, mode="same")
        thresholds.append(float(_THRESHOLDS[int(np.argmax(f1))]))
    return thresholds


@dataclass(frozen=True)
class Recipe:
    """How a taxonomy's default model is trained; `warmline triage train` flags override it."""

    c: float
    max_features: int | None
    min_df: int = 2
    features: FeatureSpec = field(default_factory=FeatureSpec)
    head_c: float = 0.5
    """Inverse regularisation of the encoder heads (features standardised)."""
    encoder: str = DEFAULT_ENCODER
    """The shipped encoder the heads are trained on (`fit` may be given another)."""
    threshold_folds: int = 0
    """With k > 1, thresholds are tuned on dev plus k-fold out-of-fold predictions over train
    instead of on dev alone (k more TF-IDF fits: worth it where dev holds few positives)."""


RECIPES: dict[str, Recipe] = {
    "original": Recipe(c=4.0, max_features=60_000, head_c=0.5),
    "group": Recipe(c=1.0, max_features=None, head_c=0.05),
    "ekman": Recipe(
        c=1.0,
        max_features=60_000,
        head_c=0.002,
        encoder="minilm-l6-goemotions-v2",
        threshold_folds=5,
    ),
}
"""Per taxonomy, the settings that scored best on data held out of train; `ekman`'s encoder head C
was chosen on dev, for its own encoder (see docs/triage.md)."""


def train(
    train_path: Path,
    dev_path: Path,
    taxonomy: str = "original",
    *,
    features: FeatureSpec | None = None,
    max_features: int | None = None,
    min_df: int | None = None,
    c: float | None = None,
    parent_version: str | None = None,
    encoder: Encoder | None = None,
    use_encoder: bool = True,
) -> LocalModel:
    """Train a model on `train_path`, tune its thresholds and measure it on `dev_path`."""
    labels = check_labels(train_path, taxonomy)
    return fit(
        read_split(train_path, len(labels)),
        read_split(dev_path, len(labels)),
        taxonomy,
        features=features,
        max_features=max_features,
        min_df=min_df,
        c=c,
        parent_version=parent_version,
        encoder=encoder,
        use_encoder=use_encoder,
    )


def _check_can_fit(taxonomy: str, encoder: Encoder | None) -> None:
    """Refuse, before any fitting, what would fail only once the model is fitted."""
    if importlib.util.find_spec("sklearn") is None:
        raise TrainingDataError("training needs scikit-learn: pip install 'warmline[train]'")
    if taxonomy not in TAXONOMIES:
        raise TrainingDataError(f"unknown taxonomy {taxonomy!r}; known: {', '.join(TAXONOMIES)}")
    if encoder is not None:
        # The card records the encoder under its directory's name.
        check_encoder_name(encoder.directory)


def fit(
    train_split: Split,
    dev_split: Split,
    taxonomy: str,
    *,
    features: FeatureSpec | None = None,
    max_features: int | None = None,
    min_df: int | None = None,
    c: float | None = None,
    parent_version: str | None = None,
    encoder: Encoder | None = None,
    use_encoder: bool = True,
) -> LocalModel:
    """Train on rows already read; settings left as None come from the taxonomy's `Recipe`.

    With `use_encoder` (the default) the model also gets heads over `encoder`'s embedding (the
    recipe's shipped encoder when None); only the heads are trained, so a few thousand rows take
    seconds.
    """
    _check_can_fit(taxonomy, encoder if use_encoder else None)
    labels = TAXONOMIES[taxonomy]
    recipe = RECIPES[taxonomy]
    spec = features if features is not None else recipe.features
    c = c if c is not None else recipe.c
    max_features = max_features if max_features is not None else recipe.max_features
    min_df = min_df if min_df is not None else recipe.min_df
    train_path, dev_path = train_split.path, dev_split.path

    tfidf = TfidfSettings(spec, c, max_features, min_df)
    y_train = train_split.matrix(len(labels))
    try:
        vectorizer, weights, bias = tfidf.fit(train_split.texts, y_train)
    except TrainingDataError as error:
        raise TrainingDataError(f"{train_path}: {error}") from None
    vocabulary = [""] * len(vectorizer.vocabulary_)
    for feature, index in vectorizer.vocabulary_.items():
        vocabulary[index] = feature

    y_dev = dev_split.matrix(len(labels))
    dev_probabilities = _logistic(vectorizer.transform(dev_split.texts) @ weights + bias)
    head: EncoderHead | None = None
    encoder_ref: EncoderRef | None = None
    trainer: dict[str, Any] = {
        "classifier": "one-vs-rest LogisticRegression (liblinear)",
        "c": c,
        "max_features": max_features,
        "min_df": min_df,
        "idf": "smooth",
        "threshold_window": THRESHOLD_WINDOW,
    }
    mix = 0.0
    train_embeddings: FloatArray | None = None
    if use_encoder:
        encoder = encoder if encoder is not None else load_encoder(recipe.encoder)
        train_embeddings = encoder.embed_many(train_split.texts)
        head_weights, head_bias = _fit_head(train_embeddings, y_train, recipe.head_c)
        head = EncoderHead(encoder, head_weights, head_bias)
        head_dev = _head_probabilities(head, encoder.embed_many(dev_split.texts))
        mix = _choose_mix(head_dev, dev_probabilities, y_dev)
        dev_probabilities = mix * head_dev + (1.0 - mix) * dev_probabilities
        encoder_ref = EncoderRef(
            name=encoder.name, sha256=encoder.sha256, dimensions=encoder.dimensions, mix=mix
        )
        trainer["encoder_head"] = {
            "classifier": "one-vs-rest LogisticRegression (lbfgs), standardised embedding",
            "c": recipe.head_c,
            "encoder": encoder.name,
            "mix": mix,
        }
    tuned_on, tuned_truth = dev_probabilities, y_dev
    if recipe.threshold_folds > 1 and len(train_split.texts) >= recipe.threshold_folds:
        out_of_fold = out_of_fold_probabilities(
            train_split.texts,
            y_train,
            recipe.threshold_folds,
            tfidf,
            train_embeddings,
            recipe.head_c,
            mix,
        )
        tuned_on = np.concatenate([out_of_fold, dev_probabilities])
        tuned_truth = np.concatenate([y_train, y_dev])
        trainer["threshold_folds"] = recipe.threshold_folds
    thresholds = tune_thresholds(tuned_on, tuned_truth)
    macro, micro, per_label = f1_scores(
        y_dev, dev_probabilities >= np.asarray(thresholds, dtype=np.float32)
    )

    fingerprint = json.dumps(
        [
            train_split.sha256,
            dev_split.sha256,
            taxonomy,
            spec.model_dump(mode="json"),
            trainer,
            encoder_ref.sha256 if encoder_ref else None,
        ],
        sort_keys=True,
    )
    digest = hashlib.sha256(fingerprint.encode()).hexdigest()[:12]
    card = ModelCard(
        format_version=FORMAT_VERSION if encoder_ref else 1,
        model_version=f"local:goemotions-{taxonomy}:{digest}",
        parent_version=parent_version,
        created_at=datetime.now(UTC),
        taxonomy=taxonomy,
        labels=list(labels),
        thresholds=thresholds,
        features=spec,
        vocabulary_size=len(vocabulary),
        encoder=encoder_ref,
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
            train_labels_without_examples=train_split.labels_without_examples(labels),
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
    return LocalModel(card, vocabulary, idf, weights, bias, head)


def _fit_head(embeddings: FloatArray, truth: BoolArray, c: float) -> tuple[FloatArray, FloatArray]:
    """One L2-regularised logistic regression per label over the standardised embedding (the
    objective of scikit-learn's `LogisticRegression(C=c)`), all labels solved as one L-BFGS
    problem, then folded back into weights and bias over the raw embedding."""
    from scipy.optimize import minimize
    from threadpoolctl import threadpool_limits

    x = embeddings.astype(np.float64)
    mean = x.mean(axis=0)
    scale = x.std(axis=0) + 1e-6
    standard = (x - mean) / scale
    rows, dims = standard.shape
    y = truth.astype(np.float64)
    seen: BoolArray = np.asarray(truth.any(axis=0) & ~truth.all(axis=0), dtype=np.bool_)

    def loss(flat: npt.NDArray[np.float64]) -> tuple[float, npt.NDArray[np.float64]]:
        w = flat[: dims * y.shape[1]].reshape(dims, y.shape[1])
        b = flat[dims * y.shape[1] :]
        z = standard @ w + b
        # log(1 + e^z) - y z, computed without overflow.
        value = float((np.logaddexp(0.0, z) - y * z).sum() + 0.5 * (w * w).sum() / c)
        error = 1.0 / (1.0 + np.exp(-z)) - y
        grad_w = standard.T @ error + w / c
        return value / rows, np.concatenate([grad_w.ravel(), error.sum(axis=0)]) / rows

    start = np.zeros(dims * y.shape[1] + y.shape[1])
    # The matrices are small: BLAS threads only spin against each other and the other workers.
    with threadpool_limits(1):
        solution = minimize(loss, start, jac=True, method="L-BFGS-B", options={"maxiter": 300})
    w = solution.x[: dims * y.shape[1]].reshape(dims, y.shape[1]) / scale[:, None]
    b = solution.x[dims * y.shape[1] :] - mean @ w
    weights = np.where(seen[None, :], w, 0.0).astype(np.float32)
    bias = np.where(seen, b, _UNSEEN_BIAS).astype(np.float32)
    return weights, bias


def _logistic(logits: npt.NDArray[np.floating[Any]]) -> FloatArray:
    result: FloatArray = (1.0 / (1.0 + np.exp(-logits))).astype(np.float32)
    return result


@dataclass(frozen=True)
class TfidfSettings:
    """The TF-IDF classifier's settings, so the main fit and the cross-validation folds agree."""

    spec: FeatureSpec
    c: float
    max_features: int | None
    min_df: int

    def fit(self, texts: list[str], truth: BoolArray) -> tuple[Any, FloatArray, FloatArray]:
        """The fitted vectorizer, weights (rounded to the float16 that ships) and biases."""
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression

        vectorizer = TfidfVectorizer(
            analyzer=self.spec.analyze,
            min_df=self.min_df,
            max_features=self.max_features,
            sublinear_tf=self.spec.sublinear_tf,
            dtype=np.float32,
        )
        try:
            x = vectorizer.fit_transform(texts)
        except ValueError as error:
            # scikit-learn's words for "no word or n-gram is in min_df rows": too little text.
            raise TrainingDataError(
                f"too little text to train on: {len(texts)} row(s), and a word or character "
                f"n-gram must appear in at least {self.min_df} of them ({error})"
            ) from None
        weights = np.zeros((x.shape[1], truth.shape[1]), dtype=np.float32)
        bias = np.full(truth.shape[1], _UNSEEN_BIAS, dtype=np.float32)
        for label in range(truth.shape[1]):
            column = truth[:, label]
            if column.all() or not column.any():
                continue
            classifier = LogisticRegression(C=self.c, solver="liblinear", max_iter=200)
            classifier.fit(x, column)
            weights[:, label] = classifier.coef_[0]
            bias[label] = classifier.intercept_[0]
        # Shipped weights are float16; tune and measure with exactly the numbers that ship.
        return vectorizer, weights.astype(np.float16).astype(np.float32), bias


def out_of_fold_probabilities(
    texts: list[str],
    truth: BoolArray,
    folds: int,
    tfidf: TfidfSettings,
    embeddings: FloatArray | None,
    head_c: float,
    mix: float,
) -> FloatArray:
    """Every train row's mixed probabilities from models fit on the other folds (TF-IDF and
    encoder head refit per fold, the mix fixed), so thresholds can be tuned on far more rows
    than dev holds: the rare labels' thresholds then stop following a few dozen dev rows."""
    order = np.random.default_rng(0).permutation(len(texts))
    result = np.zeros(truth.shape, dtype=np.float32)
    for part in np.array_split(order, folds):
        rest = np.setdiff1d(order, part)
        vectorizer, weights, bias = tfidf.fit([texts[i] for i in rest], truth[rest])
        held = _logistic(vectorizer.transform([texts[i] for i in part]) @ weights + bias)
        if embeddings is not None and mix > 0.0:
            head_weights, head_bias = _fit_head(embeddings[rest], truth[rest], head_c)
            encoded = _logistic(embeddings[part] @ head_weights + head_bias)
            held = mix * encoded + (1.0 - mix) * held
        result[part] = held
    return result


def _head_probabilities(head: EncoderHead, embeddings: FloatArray) -> FloatArray:
    result: FloatArray = (1.0 / (1.0 + np.exp(-(embeddings @ head.weights + head.bias)))).astype(
        np.float32
    )
    return result


_MIXES = np.round(np.arange(0.0, 1.01, 0.1), 1)


def _choose_mix(encoded: FloatArray, tfidf: FloatArray, truth: BoolArray) -> float:
    """The weight of the encoder head's probability that maximises dev macro-F1, thresholds
    tuned for each candidate (the TF-IDF classifier catches rare words the encoder blurs)."""
    best, best_f1 = 1.0, -1.0
    for mix in _MIXES:
        mixed = mix * encoded + (1.0 - mix) * tfidf
        thresholds = np.asarray(tune_thresholds(mixed, truth), dtype=np.float32)
        macro = f1_scores(truth, mixed >= thresholds)[0]
        if macro > best_f1:
            best, best_f1 = float(mix), macro
    return best
