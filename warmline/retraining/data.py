"""The rows of one round: base data plus gold labels for training, and the held-out slice.

A gold label lands on one side for good: its item id's hash decides whether it is held out, so
the same label is never trained on in one round and scored on in the next; gold labels with the
same text follow the first of them, so no text is both trained on and scored on. Every gold label
read is accounted for: trained on, held out, or skipped with its reason (`GoldAccount`).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from warmline.annotation.gold import GoldLabel
from warmline.retraining.settings import RetrainingSettings
from warmline.triage.local import TAXONOMIES
from warmline.triage.training import Split, read_split


class GoldAccount(BaseModel):
    """What became of the gold labels a round read: every one is in exactly one count."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    read: int
    """Gold labels read from the store (positions 0 up to the round's end)."""
    trained: int
    held_out: int
    skipped: dict[str, int]
    """By reason: `duplicate_item` (an item seen earlier in the stream), `other_taxonomy`,
    `unknown_label` (not a label of the taxonomy), `no_label`, `empty_text`, `in_holdout_data`
    (its text is a row of `holdout_data`: it is scored on, never trained on) and `in_base_data`
    (its text is already a training row of `base_data`)."""


@dataclass
class RoundData:
    """The splits one round trains, tunes and scores on, and the account of the gold labels."""

    train: Split
    dev: Split
    holdout: Split
    gold: GoldAccount


def held_out(item_id: str, fraction: float) -> bool:
    """Whether a gold label belongs to the held-out slice: a stable function of its item id."""
    digest = hashlib.sha256(item_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < fraction


def _combine(name: str, base: Split | None, rows: list[tuple[str, list[int]]], tag: str) -> Split:
    """A split of `base`'s rows (if any) followed by `rows`; its hash covers both."""
    digest = hashlib.sha256((base.sha256 if base else "").encode())
    for text, labels in rows:
        digest.update(f"{text}\t{','.join(map(str, labels))}\n".encode())
    digest.update(tag.encode())
    split = Split(path=Path(name), sha256=digest.hexdigest())
    if base is not None:
        split.texts.extend(base.texts)
        split.targets.extend(base.targets)
        split.skipped.update(base.skipped)
        split.problems.extend(base.problems)
    for text, labels in rows:
        split.texts.append(text)
        split.targets.append(labels)
    return split


def assemble(settings: RetrainingSettings, gold: list[GoldLabel]) -> RoundData:
    """Read the data files and sort the gold labels into training and held-out rows."""
    labels = TAXONOMIES[settings.taxonomy]
    n = len(labels)
    index = {label: i for i, label in enumerate(labels)}
    base = read_split(settings.base_data, n) if settings.base_data is not None else None
    holdout_file = (
        read_split(settings.holdout_data, n) if settings.holdout_data is not None else None
    )
    base_texts = {t.strip() for t in base.texts} if base is not None else set()
    holdout_texts = {t.strip() for t in holdout_file.texts} if holdout_file else set()
    skipped: Counter[str] = Counter()
    seen: set[str] = set()
    # Per text (stripped), whether it is held out: decided by its first gold label's item id.
    # Two items with the same text (two conversations' "thank you") would otherwise hash apart,
    # and the candidate would be scored on a row it was trained on.
    sides: dict[str, bool] = {}
    train_rows: list[tuple[str, list[int]]] = []
    holdout_rows: list[tuple[str, list[int]]] = []
    for label in gold:
        if label.item_id in seen:
            skipped["duplicate_item"] += 1
            continue
        seen.add(label.item_id)
        if label.taxonomy != settings.taxonomy:
            skipped["other_taxonomy"] += 1
        elif any(name not in index for name in label.labels):
            skipped["unknown_label"] += 1
        elif not label.labels:
            skipped["no_label"] += 1
        elif not label.text.strip():
            skipped["empty_text"] += 1
        elif label.text.strip() in holdout_texts:
            # Training on a row of the held-out slice would flatter the candidate.
            skipped["in_holdout_data"] += 1
        elif label.text.strip() in base_texts:
            skipped["in_base_data"] += 1
        else:
            row = (label.text, sorted({index[name] for name in label.labels}))
            text = label.text.strip()
            if text not in sides:
                sides[text] = held_out(label.item_id, settings.holdout_fraction)
            (holdout_rows if sides[text] else train_rows).append(row)
    base_name = settings.base_data.name if settings.base_data is not None else "no-base"
    holdout_name = settings.holdout_data.name if settings.holdout_data is not None else "no-file"
    return RoundData(
        train=_combine(f"{base_name}+gold{len(gold)}", base, train_rows, "train"),
        dev=read_split(settings.dev_data, n),
        holdout=_combine(f"{holdout_name}+gold{len(gold)}", holdout_file, holdout_rows, "holdout"),
        gold=GoldAccount(
            read=len(gold),
            trained=len(train_rows),
            held_out=len(holdout_rows),
            skipped=dict(skipped),
        ),
    )
