"""Writers of a version's `metadata.json` at once: `eval --record` reads, changes and rewrites it
under the taxonomy's lock, so a second record made meanwhile is kept.

The interleaving is forced, not hoped for: the second writer starts while the first holds what it
read, and the first goes on only once the second has finished or is waiting for the lock. The
model recorded is a copy of the shipped `ekman` model: nothing is trained.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.triage.rivals import Rival
from warmline.triage import registry
from warmline.triage.evaluate import Evaluation
from warmline.triage.local import LocalModel, default_model_dir

TAXONOMY = "ekman"


def _scores(model: LocalModel, stem: str) -> Evaluation:
    return Evaluation(
        taxonomy=TAXONOMY,
        model_version=model.model_version,
        data_file=f"{stem}.tsv",
        data_sha256=stem * 8,
        rows=1,
        skipped={},
        macro_f1=0.5,
        micro_f1=0.5,
        per_label={},
        measured_at=datetime.now(UTC),
    )


def test_two_records_at_once_keep_both(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The record of `holdout` is made while the record of `test` holds the metadata it read:
    both records stay (the second used to be lost when the first wrote what it had read)."""
    model = LocalModel.load(default_model_dir(TAXONOMY))
    where, _ = registry.publish(tmp_path, model, data={}, metrics={}, command=["tests"])
    rival = Rival(lambda: registry.record(where, "holdout", _scores(model, "holdout")), monkeypatch)
    read = registry.read_metadata

    def read_then_let_the_rival_in(model_dir: Path) -> registry.Metadata | None:
        metadata = read(model_dir)
        if threading.current_thread() is threading.main_thread():
            rival.let_in()
        return metadata

    monkeypatch.setattr(registry, "read_metadata", read_then_let_the_rival_in)
    registry.record(where, "test", _scores(model, "test"))

    assert rival.finished()
    assert rival.errors == []
    written = read(where)
    assert written is not None
    assert sorted(written.metrics) == ["holdout", "test"]
