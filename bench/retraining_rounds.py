"""Retraining rounds offline: does macro-F1 on a held-out slice rise as gold labels arrive?

    .venv/bin/python bench/retraining_rounds.py [--data /work/shared/data/goemotions]
        [--taxonomy original] [--base 2000] [--gold 2000 --gold 4000 --gold 8000] [--json]

A stand-in for the annotation loop: the first `--base` rows of train are the base data the first
model (v1) is trained on; the rows after them play the gold labels, `--gold` at a time (each round
sees all labels so far). Thresholds are tuned on the first half of dev; the second half is the
held-out slice both the current model and the candidate are scored on. Each round runs
`warmline.retraining.rounds.retrain_once`, the same steps `RetrainingWorkflow` runs (without the
events and shadow), and applies the promotion rule. Everything is written to a temporary
directory.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from warmline.annotation.gold import GoldLabel
from warmline.retraining.rounds import retrain_once
from warmline.retraining.settings import CRISIS_LABELS, RetrainingSettings
from warmline.triage import registry
from warmline.triage.local import TAXONOMIES
from warmline.triage.training import train

DATA = Path(
    os.environ.get(
        "WARMLINE_GOEMOTIONS",
        Path(__file__).resolve().parents[1].parent / "shared" / "data" / "goemotions",
    )
)


def gold_from(rows: list[str], taxonomy: str) -> list[GoldLabel]:
    names = TAXONOMIES[taxonomy]
    labels = []
    for row in rows:
        text, indices, item = row.split("\t")
        labels.append(
            GoldLabel(
                item_id=item,
                text=text,
                labels=[names[int(i)] for i in indices.split(",")],
                taxonomy=taxonomy,
                source="random",
                created_at=datetime.now(UTC),
            )
        )
    return labels


def run(
    data: Path, taxonomy: str, base: int, gold: list[int], where: Path
) -> list[dict[str, object]]:
    train_rows = (data / taxonomy / "train.tsv").read_text(encoding="utf-8").splitlines()
    dev_rows = (data / taxonomy / "dev.tsv").read_text(encoding="utf-8").splitlines()
    half = len(dev_rows) // 2
    files = {"base": train_rows[:base], "dev": dev_rows[:half], "holdout": dev_rows[half:]}
    for name, rows in files.items():
        (where / f"{name}.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    root = where / "registry"
    model = train(where / "base.tsv", where / "dev.tsv", taxonomy)
    registry.publish(root, model, data={}, metrics={}, command=["bench", "base"])
    settings = RetrainingSettings(
        deployment="bench",
        taxonomy=taxonomy,
        registry=root,
        base_data=where / "base.tsv",
        dev_data=where / "dev.tsv",
        holdout_data=where / "holdout.tsv",
        holdout_fraction=0.0,
        crisis_labels=CRISIS_LABELS[taxonomy],
    )
    results: list[dict[str, object]] = []
    for number, count in enumerate(gold, start=1):
        labels = gold_from(train_rows[base : base + count], taxonomy)
        start = time.perf_counter()
        decision = retrain_once(settings, labels, round_id=f"bench/round-{number}")
        results.append(
            {
                "round": number,
                "gold_labels": count,
                "seconds": round(time.perf_counter() - start, 1),
                "outcome": decision.outcome,
                "macro_f1_before": decision.macro_f1_before,
                "macro_f1_after": decision.macro_f1_after,
                "crisis_recall_before": decision.crisis_recall_before,
                "crisis_recall_after": decision.crisis_recall_after,
                "holdout_rows": decision.holdout_rows,
                "reason": decision.reason,
            }
        )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--taxonomy", choices=sorted(TAXONOMIES), default="original")
    parser.add_argument("--base", type=int, default=2000)
    parser.add_argument("--gold", type=int, action="append")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as where:
        results = run(
            args.data, args.taxonomy, args.base, args.gold or [2000, 4000, 8000], Path(where)
        )
    if args.json:
        print(json.dumps(results, indent=2))
        return
    for r in results:
        print(
            f"round {r['round']}: {r['gold_labels']} gold labels, {r['outcome']} "
            f"in {r['seconds']} s; macro-F1 {r['macro_f1_before']} -> {r['macro_f1_after']}, "
            f"crisis recall {r['crisis_recall_before']} -> {r['crisis_recall_after']} "
            f"({r['holdout_rows']} held-out rows)"
        )


if __name__ == "__main__":
    main()
