"""Estimate the local triage models' test-split scores on rows held out of train, and time them.

    .venv/bin/python -m bench.train_default_model [--data /work/shared/data/goemotions]
        [--taxonomy original --taxonomy group --taxonomy ekman] [--holdout 5000] [--json]
        [--encoder DIR] [--no-encoder]

The GoEmotions test split is withheld from this repository's data folder, so this benchmark holds
`--holdout` random rows (seed 0) out of train, trains each taxonomy's default recipe on the rest,
tunes thresholds on dev as `warmline triage train` does, and scores the held-out rows one message
at a time through `warmline triage eval`'s path, with a bootstrap interval over its decisions on
those rows (how far a test split of the same size could land from the figure). The encoder (the
shipped one, or `--encoder DIR` from `bench/finetune_encoder.py`) must have been fine-tuned with
the same `--holdout`, so the held-out rows are unseen by every part of the model. Nothing is
written into the package; the shipped models themselves are trained with

    warmline triage train --data ../shared/data/goemotions/TAXONOMY/train.tsv \\
        --taxonomy TAXONOMY --out warmline/triage/models
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from bench.common import macro_f1_interval
from warmline.triage.encoder import Encoder
from warmline.triage.evaluate import evaluate
from warmline.triage.local import TAXONOMIES
from warmline.triage.training import Split, check_labels, fit, read_split

DATA = Path(
    os.environ.get(
        "WARMLINE_GOEMOTIONS",
        Path(__file__).resolve().parents[1].parent / "shared" / "data" / "goemotions",
    )
)


def subset(split: Split, rows: np.ndarray) -> Split:
    """The same split restricted to `rows` (its hash stays the file's: it names the source)."""
    return replace(
        split,
        texts=[split.texts[i] for i in rows],
        targets=[split.targets[i] for i in rows],
    )


def measure(
    data: Path, taxonomy: str, holdout: int, encoder: Encoder | None, use_encoder: bool
) -> dict[str, object]:
    folder = data / taxonomy
    labels = check_labels(folder / "train.tsv", taxonomy)
    train = read_split(folder / "train.tsv", len(labels))
    dev = read_split(folder / "dev.tsv", len(labels))
    order = np.random.default_rng(0).permutation(len(train.texts))
    held, kept = order[:holdout], order[holdout:]
    start = time.perf_counter()
    model = fit(subset(train, kept), dev, taxonomy, encoder=encoder, use_encoder=use_encoder)
    seconds = time.perf_counter() - start
    held_out = subset(train, held)
    report = evaluate(
        model,
        held_out.texts,
        held_out.matrix(len(labels)),
        data_file=f"train.tsv[{holdout} held out]",
        data_sha256=train.sha256,
    )
    assert report.latency_ms is not None
    assert report.decisions is not None
    low, high = macro_f1_interval(held_out.matrix(len(labels)), report.decisions)
    return {
        "taxonomy": taxonomy,
        "trained_on": len(kept),
        "train_seconds": round(seconds, 1),
        "dev_macro_f1": model.card.dev_metrics.macro_f1,
        "encoder": model.card.encoder.name if model.card.encoder else None,
        "mix": model.card.encoder.mix if model.card.encoder else None,
        "held_out_rows": holdout,
        "held_out_macro_f1": report.macro_f1,
        "held_out_macro_f1_ci95": [low, high],
        "held_out_micro_f1": report.micro_f1,
        "p50_ms": report.latency_ms.p50,
        "p99_ms": report.latency_ms.p99,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA, help="GoEmotions folder")
    parser.add_argument("--taxonomy", action="append", choices=list(TAXONOMIES))
    parser.add_argument("--holdout", type=int, default=5000, help="train rows to hold out")
    parser.add_argument("--json", action="store_true", help="print one JSON object per line")
    parser.add_argument("--encoder", type=Path, help="encoder directory; default: the shipped one")
    parser.add_argument("--no-encoder", action="store_true", help="TF-IDF classifier only")
    args = parser.parse_args()
    encoder = Encoder(args.encoder) if args.encoder else None
    for taxonomy in args.taxonomy or list(TAXONOMIES):
        row = measure(args.data, taxonomy, args.holdout, encoder, not args.no_encoder)
        if args.json:
            print(json.dumps(row))
        else:
            print(
                f"{taxonomy:<8} held-out macro-F1 {row['held_out_macro_f1']:.4f} "
                f"(95 % interval over the rows {row['held_out_macro_f1_ci95']}) "
                f"(micro {row['held_out_micro_f1']:.4f}, dev {row['dev_macro_f1']:.4f}, "
                f"encoder mix {row['mix']}), "
                f"p50 {row['p50_ms']:.3f} ms, p99 {row['p99_ms']:.3f} ms, "
                f"trained on {row['trained_on']} rows in {row['train_seconds']:.0f} s"
            )


if __name__ == "__main__":
    main()
