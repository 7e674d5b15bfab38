"""The held-out slice never shares a text with the candidate's training rows: gold labels of two
items with the same text (two conversations' "thank you") land on the same side."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from pathlib import Path

from tests.retraining.conftest import TAXONOMY
from warmline.annotation.gold import GoldLabel
from warmline.retraining.data import assemble, held_out
from warmline.retraining.settings import CRISIS_LABELS, RetrainingSettings

FRACTION = 0.5


def _ids(*, held: bool, count: int) -> list[str]:
    """Item ids whose hash puts them on the held-out side (or the training side)."""
    found = (f"item-{n}" for n in itertools.count())
    return list(itertools.islice((i for i in found if held_out(i, FRACTION) is held), count))


def _gold(item_id: str, text: str, label: str) -> GoldLabel:
    return GoldLabel(
        item_id=item_id,
        text=text,
        labels=[label],
        taxonomy=TAXONOMY,
        source="random",
        created_at=datetime(2026, 11, 1, tzinfo=UTC),
    )


def test_the_same_text_is_never_trained_on_and_held_out(
    slices: dict[str, Path], tmp_path: Path
) -> None:
    settings = RetrainingSettings(
        deployment="test-holdout-leak",
        taxonomy=TAXONOMY,
        registry=tmp_path / "registry",
        dev_data=slices["dev"],
        holdout_fraction=FRACTION,
        crisis_labels=CRISIS_LABELS[TAXONOMY],
    )
    trained, held = _ids(held=False, count=2), _ids(held=True, count=2)
    gold = [
        # First seen on the training side: its twin with a held-out id is trained on too.
        _gold(trained[0], "thank you so much", "positive"),
        _gold(held[0], "thank you so much ", "positive"),
        # First seen on the held-out side: its twin with a training id is held out too.
        _gold(held[1], "I can't stop crying", "negative"),
        _gold(trained[1], "I can't stop crying", "negative"),
    ]

    data = assemble(settings, gold)

    train_texts = {t.strip() for t in data.train.texts}
    holdout_texts = {t.strip() for t in data.holdout.texts}
    assert train_texts & holdout_texts == set()
    assert train_texts == {"thank you so much"}
    assert holdout_texts == {"I can't stop crying"}
    assert (data.gold.trained, data.gold.held_out, data.gold.skipped) == (2, 2, {})
    # A text seen once keeps the side its item id hashes to, round after round.
    alone = assemble(settings, [_gold(held[0], "thank you so much ", "positive")])
    assert [t.strip() for t in alone.holdout.texts] == ["thank you so much"]
