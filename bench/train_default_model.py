"""Reproduce the local triage model shipped with warmline, and time it per message.

    .venv/bin/python bench/train_default_model.py [--data /work/shared/data/goemotions] [--out DIR]

Trains on the full GoEmotions `original` train split, tunes thresholds on dev, writes the model
directory (by default the one inside the package) and prints its dev scores and latency.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from warmline.triage.local import DEFAULT_MODEL, LocalModel, LocalProvider
from warmline.triage.training import read_split, train
from warmline.triage.types import TriageRequest

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(
    os.environ.get(
        "WARMLINE_GOEMOTIONS",
        Path(__file__).resolve().parents[1].parent / "shared" / "data" / "goemotions",
    )
)
OUT = ROOT / "warmline" / "triage" / "models" / DEFAULT_MODEL


def latency_ms(model: LocalModel, texts: list[str]) -> tuple[float, float]:
    """p50 and p99 of one `LocalProvider.triage` call, in milliseconds."""
    provider = LocalProvider(model)
    times: list[float] = []
    for number, text in enumerate(texts):
        request = TriageRequest(
            tenant_id="bench", conversation_id="bench", message_id=str(number), text=text
        )
        start = time.perf_counter()
        provider.triage(request)
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return times[len(times) // 2], times[min(len(times) - 1, int(len(times) * 0.99))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA, help="GoEmotions folder")
    parser.add_argument("--out", type=Path, default=OUT, help="model directory to write")
    args = parser.parse_args()
    folder = args.data / "original"
    start = time.perf_counter()
    model = train(folder / "train.tsv", folder / "dev.tsv", "original")
    model.save(args.out)
    loaded = LocalModel.load(args.out)
    metrics = loaded.card.dev_metrics
    size = sum(p.stat().st_size for p in args.out.iterdir()) / 1e6
    print(f"{loaded.model_version}: trained in {time.perf_counter() - start:.0f}s, {size:.1f} MB")
    print(f"dev macro-F1 {metrics.macro_f1:.4f}, micro-F1 {metrics.micro_f1:.4f}")
    print(
        f"skipped rows: train {loaded.card.data.train_skipped}, dev {loaded.card.data.dev_skipped}"
    )
    texts = read_split(folder / "dev.tsv", len(loaded.labels)).texts
    p50, p99 = latency_ms(loaded, texts)
    print(f"triage latency over {len(texts)} dev messages: p50 {p50:.3f} ms, p99 {p99:.3f} ms")


if __name__ == "__main__":
    main()
