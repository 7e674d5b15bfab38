"""A registry survives a crash or a power cut: a version's files and `CURRENT` reach the disk
before the names that make them visible; and `train --out` given a taxonomy's directory adds to
that registry rather than a registry nested in it that no worker serves from.

The versions published are copies of the shipped `ekman` model, except the one `train` fits on a
small slice of the real ekman split.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from tests.triage.test_commands import DATA, _head
from warmline.cli import app
from warmline.triage import registry
from warmline.triage.local import CURRENT, MODEL_CARD, WEIGHTS, LocalModel, default_model_dir

TAXONOMY = "ekman"


@pytest.fixture(scope="module")
def model() -> LocalModel:
    return LocalModel.load(default_model_dir(TAXONOMY))


def run(*args: str | Path) -> Result:
    return CliRunner().invoke(app, ["triage", *[str(a) for a in args]])


def test_a_version_and_current_reach_the_disk_before_their_names(
    model: LocalModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without the flushes, a power cut right after a rename can leave `v1/weights.npz` or
    `CURRENT` empty on ext4 or XFS: a registry naming a model no worker can load."""
    steps: list[tuple[str, str, str]] = []
    fsync, rename, replace = os.fsync, os.rename, os.replace

    def watched_fsync(fd: int) -> None:
        steps.append(("fsync", str(Path(f"/proc/self/fd/{fd}").readlink()), ""))
        fsync(fd)

    def watched_rename(src: str | Path, dst: str | Path) -> None:
        steps.append(("rename", str(src), str(dst)))
        rename(src, dst)

    def watched_replace(src: str | Path, dst: str | Path) -> None:
        steps.append(("rename", str(src), str(dst)))
        replace(src, dst)

    monkeypatch.setattr(os, "fsync", watched_fsync)
    monkeypatch.setattr(os, "rename", watched_rename)
    monkeypatch.setattr(os, "replace", watched_replace)
    root = tmp_path.resolve() / "reg"
    taxonomy_dir = root / TAXONOMY

    registry.publish(root, model, data={}, metrics={}, command=["test"])

    def flushed(path: Path) -> int:
        """The position of the first flush of `path`, or fail."""
        for position, (step, where, _) in enumerate(steps):
            if step == "fsync" and where == str(path):
                return position
        raise AssertionError(f"{path} was never flushed; steps: {steps}")

    [(into_place, staging)] = [
        (n, Path(src))
        for n, (step, src, dst) in enumerate(steps)
        if dst == str(taxonomy_dir / "v1")
    ]
    for part in (MODEL_CARD, WEIGHTS, registry.METADATA):
        assert flushed(staging / part) < into_place, part
    assert flushed(staging) < into_place
    assert max(n for n, s in enumerate(steps) if s[:2] == ("fsync", str(taxonomy_dir))) > into_place

    [(pointed, pointer_staging)] = [
        (n, Path(src))
        for n, (step, src, dst) in enumerate(steps)
        if dst == str(taxonomy_dir / CURRENT)
    ]
    assert into_place < flushed(pointer_staging) < pointed
    assert steps[-1] == ("fsync", str(taxonomy_dir), "")
    assert registry.current(taxonomy_dir) == "v1"


@pytest.fixture
def a_registry(model: LocalModel, tmp_path: Path) -> Path:
    root = tmp_path / "reg"
    registry.publish(root, model, data={}, metrics={}, command=["test"])
    return root


@pytest.fixture(scope="module")
def split(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """train.tsv and dev.tsv: small slices of one taxonomy's real splits."""
    folder = tmp_path_factory.mktemp("split")
    for name, rows in (("train.tsv", 400), ("dev.tsv", 200)):
        (folder / name).write_bytes(_head(DATA / TAXONOMY / name, 0, rows))
    return folder


def test_train_into_another_taxonomys_directory_is_refused_before_training(
    a_registry: Path, split: Path
) -> None:
    wrong = a_registry / "ekman"
    group = DATA / "group"
    data, dev = split.parent / "group-train.tsv", split.parent / "group-dev.tsv"
    data.write_bytes(_head(group / "train.tsv", 0, 400))
    dev.write_bytes(_head(group / "dev.tsv", 0, 200))

    result = run("train", "--data", data, "--taxonomy", "group", "--out", wrong, "--dev", dev)

    assert result.exit_code == 2, result.output
    assert result.stderr == (
        f"{wrong}: is the 'ekman' taxonomy's directory in a registry; pass the registry "
        f"directory (the parent), e.g. {a_registry}\n"
    )
    assert not (wrong / "group").exists()


def test_train_into_the_taxonomys_own_directory_adds_a_version_there(
    a_registry: Path, split: Path
) -> None:
    taxonomy_dir = a_registry / TAXONOMY

    result = run(
        "train", "--data", split / "train.tsv", "--taxonomy", TAXONOMY, "--out", taxonomy_dir
    )

    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"{taxonomy_dir / 'v2'}: ")
    assert not (taxonomy_dir / TAXONOMY).exists()
    assert registry.versions(taxonomy_dir) == ["v1", "v2"]
    assert registry.current(taxonomy_dir) == "v2"


def test_a_publish_removes_what_a_crashed_publisher_staged_a_day_before(
    model: LocalModel, tmp_path: Path
) -> None:
    """A publisher killed mid-way leaves a hidden `.version.*` directory holding most of a model;
    before, nothing ever removed it. One a day old goes with the next publish; a fresh one (a
    publish under way, maybe on another host sharing the volume) stays."""
    root = tmp_path / "reg"
    taxonomy_dir = root / TAXONOMY
    taxonomy_dir.mkdir(parents=True)
    crashed = taxonomy_dir / ".version.4242.0123456789abcdef"
    model.save(crashed)
    day_old = crashed.stat().st_mtime - registry.ABANDONED_AFTER_S - 60
    os.utime(crashed, (day_old, day_old))
    under_way = taxonomy_dir / ".version.4343.fedcba9876543210"
    model.save(under_way)

    registry.publish(root, model, data={}, metrics={}, command=["test"])

    assert not crashed.exists()
    assert under_way.is_dir()
    assert registry.versions(taxonomy_dir) == ["v1"]
