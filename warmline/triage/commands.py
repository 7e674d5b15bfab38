"""`warmline triage train` and `warmline triage eval`: the local model's command line.

Bad input never ends in a traceback: every problem is printed as FILE:LINE:COL: message (or FILE:
message when no line is to blame) and the command exits with status 2. A training or evaluation
file with malformed rows is refused, each row named, unless `--skip-bad-rows` says to go on
without them; then how many were skipped, and why, is printed and kept in the model's metadata.
"""

from __future__ import annotations

import math
import os
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from warmline.triage.evaluate import Evaluation
    from warmline.triage.training import Split

triage_app = typer.Typer(
    help="Train and evaluate the local triage model (GoEmotions taxonomies).",
    no_args_is_help=True,
)

EXIT_INVALID = 2
_SHOWN_PROBLEMS = 20


class Taxonomy(StrEnum):
    """The GoEmotions label sets a local model can be trained on."""

    ORIGINAL = "original"
    GROUP = "group"
    EKMAN = "ekman"


class _RefusedError(Exception):
    """Input the command cannot use; the lines are printed to stderr and the exit status is 2."""

    def __init__(self, *lines: str) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines


C_RANGE = (1e-8, 1e8)
"""Inverse regularisation strengths outside this are all penalty or none: the fit learns nothing
or overfits, and at the extremes the solver does not finish (on 3,000 rows `--c 1e-300` ran past
four minutes, `1e-12` finished in under one). Useful values are around 0.01 to 100."""


def _positive(value: float | None) -> float | None:
    """Refuse a regularisation strength scikit-learn would refuse only after reading the data,
    or one the solver would not finish with."""
    if value is None:
        return None
    if not (value > 0 and math.isfinite(value)):
        raise typer.BadParameter(f"{value} is not a finite number greater than 0")
    low, high = C_RANGE
    if not low <= value <= high:
        raise typer.BadParameter(
            f"{value:g} is outside {low:g} to {high:g}, where the fit is all penalty or none "
            "(useful values lie around 0.01 to 100)"
        )
    return value


_DATA_HELP = "GoEmotions-format TSV: text<TAB>comma-separated label indices<TAB>id."
_SKIP_HELP = "Go on without malformed rows (counted by reason and recorded) instead of refusing."


@triage_app.command("train")
def train_command(
    data: Annotated[Path, typer.Option("--data", help=f"Training split. {_DATA_HELP}")],
    taxonomy: Annotated[Taxonomy, typer.Option(help="The label set of the data.")],
    out: Annotated[Path, typer.Option(help="Registry directory; a new version is added to it.")],
    dev: Annotated[
        Path | None,
        typer.Option(help="Split to tune thresholds on; default: dev.tsv beside --data."),
    ] = None,
    skip_bad_rows: Annotated[bool, typer.Option(help=_SKIP_HELP)] = False,
    c: Annotated[
        float | None,
        typer.Option(
            callback=_positive,
            help="Inverse regularisation strength (1e-8 to 1e8); default per taxonomy.",
        ),
    ] = None,
    max_features: Annotated[
        int | None, typer.Option(min=1, help="Vocabulary size cap; default per taxonomy.")
    ] = None,
    encoder: Annotated[
        Path | None,
        typer.Option(
            help="Encoder directory from bench/finetune_encoder.py (copied into the model); "
            "default: the encoder shipped with warmline."
        ),
    ] = None,
) -> None:
    """Train a model on --data, tune its thresholds on --dev, add it to the registry at --out."""
    try:
        _train(
            data,
            taxonomy.value,
            out,
            dev,
            skip_bad_rows=skip_bad_rows,
            c=c,
            cap=max_features,
            encoder_dir=encoder,
        )
    except _RefusedError as refused:
        for line in refused.lines:
            typer.echo(line, err=True)
        raise typer.Exit(EXIT_INVALID) from None


@triage_app.command("eval")
def eval_command(
    data: Annotated[Path, typer.Option("--data", help=f"Labelled split. {_DATA_HELP}")],
    taxonomy: Annotated[Taxonomy, typer.Option(help="The label set of the data.")],
    model: Annotated[
        Path | None,
        typer.Option(
            help="A model directory, a registry or one taxonomy's directory in it (its current "
            "version); default: the model shipped for the taxonomy."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    skip_bad_rows: Annotated[bool, typer.Option(help=_SKIP_HELP)] = False,
    record: Annotated[
        bool,
        typer.Option(
            help="Store the scores in the model version's metadata.json under the file's stem "
            "(test for test.tsv); another file's scores under that name need --replace."
        ),
    ] = False,
    replace: Annotated[
        bool,
        typer.Option(
            help="With --record: overwrite a record of a different data file under the same name."
        ),
    ] = False,
) -> None:
    """Score a model on --data: macro/micro F1, per-label precision/recall/F1, latency p50/p99."""
    try:
        report = _eval(
            data,
            taxonomy.value,
            model,
            skip_bad_rows=skip_bad_rows,
            record=record,
            replace=replace,
        )
    except _RefusedError as refused:
        for line in refused.lines:
            typer.echo(line, err=True)
        raise typer.Exit(EXIT_INVALID) from None
    from warmline.triage.evaluate import render

    typer.echo(report.model_dump_json(indent=2) if as_json else render(report))


def _train(
    data: Path,
    taxonomy: str,
    out: Path,
    dev: Path | None,
    *,
    skip_bad_rows: bool,
    c: float | None,
    cap: int | None,
    encoder_dir: Path | None = None,
) -> None:
    from warmline.triage import registry
    from warmline.triage.encoder import Encoder, check_encoder_name
    from warmline.triage.errors import TriageError
    from warmline.triage.evaluate import evaluate
    from warmline.triage.training import fit

    dev_path = dev if dev is not None else data.parent / "dev.tsv"
    _check_registry_dir(out)
    root = _registry_of_out(out, taxonomy)
    try:
        if encoder_dir is not None:
            check_encoder_name(encoder_dir)
        train_split, labels = _read(data, taxonomy, skip_bad_rows=skip_bad_rows)
        dev_split, _ = _read(dev_path, taxonomy, skip_bad_rows=skip_bad_rows)
        _, parent_model = registry.parent_of(root, taxonomy)
        model = fit(
            train_split,
            dev_split,
            taxonomy,
            c=c,
            max_features=cap,
            parent_version=parent_model,
            encoder=Encoder(encoder_dir) if encoder_dir is not None else None,
        )
    except TriageError as error:
        raise _RefusedError(str(error)) from None
    dev_scores = evaluate(
        model,
        dev_split.texts,
        dev_split.matrix(len(labels)),
        data_file=dev_path.name,
        data_sha256=dev_split.sha256,
        skipped=dict(dev_split.skipped),
    )
    files = {
        "train": registry.DataFile(
            file=data.name,
            sha256=train_split.sha256,
            rows=len(train_split.texts),
            skipped=dict(train_split.skipped),
            labels_without_examples=model.card.data.train_labels_without_examples,
        ),
        "dev": registry.DataFile(
            file=dev_path.name,
            sha256=dev_split.sha256,
            rows=len(dev_split.texts),
            skipped=dict(dev_split.skipped),
            labels_without_examples=dev_split.labels_without_examples(labels),
        ),
    }
    command = ["warmline", "triage", "train", "--data", str(data), "--taxonomy", taxonomy]
    command += ["--out", str(out), "--dev", str(dev_path)]
    command += ["--skip-bad-rows"] if skip_bad_rows else []
    command += ["--c", str(c)] if c is not None else []
    command += ["--max-features", str(cap)] if cap is not None else []
    command += ["--encoder", str(encoder_dir)] if encoder_dir is not None else []
    try:
        where, metadata = registry.publish(
            root, model, data=files, metrics={"dev": dev_scores}, command=command
        )
    except TriageError as error:
        # CURRENT damaged while the model trained: nothing was added.
        raise _RefusedError(str(error)) from None
    except OSError as error:
        raise _RefusedError(f"{out}: cannot write the model: {error.strerror or error}") from None
    latency = dev_scores.latency_ms
    typer.echo(f"{where}: {metadata.model_version} (parent {metadata.parent_version or 'none'})")
    typer.echo(
        f"trained on {len(train_split.texts)} rows, thresholds tuned on {len(dev_split.texts)}"
    )
    typer.echo(f"dev macro-F1 {dev_scores.macro_f1:.4f}, micro-F1 {dev_scores.micro_f1:.4f}")
    if latency is not None:
        typer.echo(f"latency p50 {latency.p50:.3f} ms, p99 {latency.p99:.3f} ms per message")
    unseen = model.card.data.train_labels_without_examples
    if unseen:
        typer.echo(
            f"warning: {len(unseen)} of {len(labels)} {taxonomy} labels have no example in "
            f"{data} and will never be predicted: {', '.join(unseen)}; train on data that "
            f"carries them before serving {metadata.version}",
            err=True,
        )


def _check_registry_dir(out: Path) -> None:
    """Refuse an --out no model can be written to before training, not after."""
    if out.exists() and not out.is_dir():
        raise _RefusedError(f"{out}: --out must be a registry directory, and this is a file")
    existing = next(folder for folder in (out, *out.absolute().parents) if folder.exists())
    if not existing.is_dir():
        raise _RefusedError(f"{out}: --out cannot be created, {existing} is a file")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise _RefusedError(f"{out}: --out cannot be created, {existing} is not writable")


def _registry_of_out(out: Path, taxonomy: str) -> Path:
    """The registry `--out` names: itself, or its parent when it is the taxonomy's own directory
    in a registry (as `eval --model` and `rollback --registry` accept), rather than a registry
    nested in it that no worker serves from; another taxonomy's directory is refused."""
    from warmline.triage import registry
    from warmline.triage.errors import TriageError

    if not out.is_dir():
        return out
    try:
        return registry.registry_root(out, taxonomy)
    except TriageError as error:
        raise _RefusedError(str(error)) from None


def _eval(
    data: Path,
    taxonomy: str,
    model_path: Path | None,
    *,
    skip_bad_rows: bool,
    record: bool,
    replace: bool = False,
) -> Evaluation:
    from warmline.triage import registry
    from warmline.triage.errors import TriageError
    from warmline.triage.evaluate import evaluate
    from warmline.triage.local import LocalModel, default_model_dir, resolve_model_dir

    _check_eval_options(model_path, record=record, replace=replace)
    try:
        directory = (
            default_model_dir(taxonomy)
            if model_path is None
            else resolve_model_dir(model_path, taxonomy)
        )
        model = LocalModel.load(directory)
    except TriageError as error:
        raise _RefusedError(str(error)) from None
    if model.card.taxonomy != taxonomy:
        raise _RefusedError(
            f"{directory}: this model is for the {model.card.taxonomy!r} taxonomy, the data is "
            f"{taxonomy!r}; pass --model for a {taxonomy} model"
        )
    record_in: Path | None = None
    if record:
        if not isinstance(directory, Path):
            raise _RefusedError(f"{directory}: --record needs a model directory on disk")
        record_in = directory
    try:
        split, labels = _read(data, taxonomy, skip_bad_rows=skip_bad_rows)
        if record_in is not None:
            # Before the (long) evaluation: a record it would wrongly replace is refused now.
            registry.check_record(record_in, data.stem, split.sha256, replace=replace)
    except TriageError as error:
        raise _RefusedError(str(error)) from None
    report = evaluate(
        model,
        split.texts,
        split.matrix(len(labels)),
        data_file=data.name,
        data_sha256=split.sha256,
        skipped=dict(split.skipped),
    )
    if record_in is not None:
        _record(record_in, data.stem, report, replace=replace)
    return report


def _check_eval_options(model_path: Path | None, *, record: bool, replace: bool) -> None:
    if replace and not record:
        raise _RefusedError("--replace only applies with --record")
    if model_path is not None and not model_path.is_dir():
        raise _RefusedError(
            f"{model_path}: --model must be a model or registry directory written by "
            "`warmline triage train`; leave --model out to use the model shipped with warmline"
        )


def _record(directory: Path, key: str, report: Evaluation, *, replace: bool) -> None:
    """Store the scores in the version's metadata.json; say where on stderr, and what they
    replaced (stdout stays the report, valid JSON with --json)."""
    from warmline.triage import registry
    from warmline.triage.errors import TriageError

    try:
        earlier = registry.record(directory, key, report, replace=replace)
    except TriageError as error:
        raise _RefusedError(str(error)) from None
    except OSError as error:
        reason = error.strerror or str(error)
        raise _RefusedError(f"{directory}: cannot record the scores: {reason}") from None
    where = f"recorded as {key!r} in {directory / registry.METADATA}"
    if earlier is not None:
        same = "the same file" if earlier.data_sha256 == report.data_sha256 else "another file"
        where += (
            f", replacing a record of {same}, {earlier.data_file} ({registry.describe(earlier)})"
        )
    typer.echo(where, err=True)


def _read(path: Path, taxonomy: str, *, skip_bad_rows: bool) -> tuple[Split, tuple[str, ...]]:
    """Read one split; malformed rows are refused, or skipped and reported with `skip_bad_rows`."""
    from warmline.triage.training import check_labels, read_split

    if path.is_dir():
        raise _RefusedError(f"{path}: is a directory; give the TSV file in it, e.g. train.tsv")
    if not path.is_file():
        raise _RefusedError(f"{path}: no such data file")
    labels = check_labels(path, taxonomy)
    split = read_split(path, len(labels))
    if not split.skipped:
        return split, labels
    total = sum(split.skipped.values())
    shown = [problem.render() for problem in split.problems[:_SHOWN_PROBLEMS]]
    if total > len(shown):
        shown.append(f"... and {total - len(shown)} more")
    if not skip_bad_rows:
        raise _RefusedError(
            *shown,
            f"{split.summary()}; fix them, or pass --skip-bad-rows to go on without them",
        )
    for line in [*shown, split.summary()]:
        typer.echo(line, err=True)
    return split, labels
