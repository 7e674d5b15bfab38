"""A model registry on disk: every trained local model kept as a numbered version with its record.

    DIR/<taxonomy>/CURRENT                     the version in use, one line such as `v2`
    DIR/<taxonomy>/<version>/model.json        the model card (`LocalModel.save`)
    DIR/<taxonomy>/<version>/weights.npz
    DIR/<taxonomy>/<version>/metadata.json     `Metadata`: data hashes, metrics, parent, command

A version is written under a hidden name, flushed to the disk (`fsync`) and renamed into place,
then `CURRENT` is replaced atomically the same way, so a reader never sees half a model, nor does
a registry after a crash or a power cut (what a crashed publisher staged is removed by a later
publish, a day on: `ABANDONED_AFTER_S`). Versions are never overwritten; the version
current as a new one is published becomes its parent (in its metadata, by version, and on its
model card, by model version). `warmline/triage/models/` is such a registry.

Every publisher, every writer of `CURRENT` (training, promotion, rollback) and of a version's
`metadata.json` holds the taxonomy's lock (`moving`), so what it reads and what it writes are one
step.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import re
import shutil
import threading
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from warmline.triage.errors import ModelLoadError, RecordConflictError
from warmline.triage.evaluate import Evaluation
from warmline.triage.local import CURRENT, MODEL_CARD, TAXONOMIES, LocalModel, read_pointer

METADATA = "metadata.json"
LOCK = ".moving.lock"
"""In a taxonomy's directory, the file whose `flock` serialises writes of `CURRENT` and of its
versions' metadata."""
_VERSION = re.compile(r"v([1-9][0-9]*)")
_TAKEN = (errno.EEXIST, errno.ENOTEMPTY)
ABANDONED_AFTER_S = 24 * 3600
"""A version's staging directory (`.version.<pid>.<hex>`) untouched this long is what a publisher
that crashed or was killed left behind: the next publish removes it. The age, not the pid, says
so, because a registry on a shared volume is written from other hosts, whose pids mean nothing
here; a live publish touches its staging directory within minutes."""
"""What renaming a directory onto a version another trainer has just written fails with."""


class DataFile(BaseModel):
    """One data file a model was trained or tuned on: its name, hash and how it was used."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    file: str
    sha256: str
    rows: int
    skipped: dict[str, int]
    labels_without_examples: list[str] = []
    """The taxonomy's labels no row of the file carries; for `train`, labels never predicted."""


class Metadata(BaseModel):
    """`metadata.json`: the registry's record of one version."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    format_version: Literal[1] = 1
    version: str
    """The registry's name for it, `v1`, `v2`, ... in the order they were trained."""
    model_version: str
    """The model card's version, which `TriageResult.model_version` carries."""
    taxonomy: str
    parent_version: str | None
    """The version that was current in this registry when this one was published (read under the
    lock, as the model card's `parent_version`, its model version): for one made current, the
    version it replaced; for a candidate, the version it was published beside."""
    created_at: datetime
    command: list[str]
    """The command line that trained it."""
    data: dict[str, DataFile]
    """`train` (what the weights were fit on) and `dev` (where thresholds were tuned)."""
    metrics: dict[str, Evaluation]
    """Per data file, by its stem: `dev` from training, `test` once `eval --record` ran on it."""
    attribution: str


def versions(taxonomy_dir: Path) -> list[str]:
    """The version directories of one taxonomy, oldest first."""
    if not taxonomy_dir.is_dir():
        return []
    found = [
        (int(match.group(1)), entry.name)
        for entry in taxonomy_dir.iterdir()
        if entry.is_dir() and (match := _VERSION.fullmatch(entry.name))
    ]
    return [name for _, name in sorted(found)]


def current(taxonomy_dir: Path | Traversable) -> str | None:
    """The version `CURRENT` names, or None in an empty registry.

    An empty `CURRENT` beside versions (a crash or a full disk while it was written, or an
    operator's truncation) is a `ModelLoadError`, not an empty registry: read as "no current
    model", a retraining round would promote its candidate unjudged and `train` would publish a
    version with no parent over the model that was serving."""
    pointer = taxonomy_dir / CURRENT
    if not pointer.is_file():
        return None
    version = read_pointer(pointer)
    if version:
        return version
    if not isinstance(taxonomy_dir, Path):
        return None
    known = versions(taxonomy_dir)
    if known:
        raise ModelLoadError(
            f"{pointer}: is empty, and names no version although versions are beside it "
            f"({', '.join(known)}); point it at a complete version with `warmline triage "
            f"rollback --registry {taxonomy_dir.parent} --taxonomy {taxonomy_dir.name} --to "
            "VERSION`"
        )
    return None


def read_metadata(model_dir: Path | Traversable) -> Metadata | None:
    """The version's `metadata.json`, or None for a model directory outside a registry."""
    source = model_dir / METADATA
    if not source.is_file():
        return None
    try:
        text = source.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ModelLoadError(
            f"{source}: byte {exc.start} is not UTF-8 text; the registry writes {METADATA} as "
            "UTF-8 JSON, so this one was damaged or replaced: restore it from a backup"
        ) from None
    except OSError as exc:
        raise ModelLoadError(
            f"{source}: cannot read the registry metadata: {exc.strerror or exc}"
        ) from None
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ModelLoadError(
            f"{source}:{exc.lineno}:{exc.colno}: invalid registry metadata: not JSON: {exc.msg}; "
            "restore it from a backup"
        ) from None
    try:
        return Metadata.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['msg']}"
            for err in exc.errors()[:5]
        )
        raise ModelLoadError(f"{source}: invalid registry metadata: {problems}") from exc


def parent_of(root: Path, taxonomy: str) -> tuple[str | None, str | None]:
    """The current version of `taxonomy` in `root` and its model version, if there is one."""
    taxonomy_dir = root / taxonomy
    version = current(taxonomy_dir)
    if version is None:
        return None, None
    card = taxonomy_dir / version / MODEL_CARD
    known = ", ".join(versions(taxonomy_dir)) or "none"
    repair = (
        f"point {CURRENT} at a complete version with `warmline triage rollback --registry {root} "
        f"--taxonomy {taxonomy} --to VERSION` (versions: {known}), or delete it to train a "
        "version with no parent"
    )
    if not (taxonomy_dir / version).is_dir():
        raise ModelLoadError(
            f"{taxonomy_dir / CURRENT}: names {version}, and there is no {version} directory "
            f"beside it; {repair}"
        )
    try:
        model_version = json.loads(card.read_text(encoding="utf-8"))["model_version"]
    except json.JSONDecodeError as exc:
        raise ModelLoadError(
            f"{card}:{exc.lineno}:{exc.colno}: the current version's model card is not JSON "
            f"({exc.msg}); {repair}"
        ) from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise ModelLoadError(
            f"{card}: cannot read the current version's model card ({reason}); {repair}"
        ) from exc
    return version, str(model_version)


class _Held(threading.local):
    """The taxonomy directories this thread holds the lock of (`locked` nests)."""

    def __init__(self) -> None:
        self.dirs: set[str] = set()


_held = _Held()


@contextmanager
def locked(taxonomy_dir: Path) -> Iterator[None]:
    """Hold the lock of the taxonomy whose directory this is (see `moving`)."""
    key = str(taxonomy_dir.resolve())
    if key in _held.dirs:
        yield
        return
    fd = os.open(taxonomy_dir / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        _held.dirs.add(key)
        try:
            yield
        finally:
            _held.dirs.discard(key)
    finally:
        os.close(fd)


def moving(root: Path, taxonomy: str) -> AbstractContextManager[None]:
    """Hold the taxonomy's lock while reading what is current and moving it: one training,
    promotion, rollback or metadata record at a time, across processes (an operator's rollback
    beside the workers and a `train`) and threads. It nests within a thread. The lock is an
    `flock` on `LOCK`, released when the process dies, so a crash never leaves it locked."""
    return locked(root / taxonomy)


def publish(
    root: Path,
    model: LocalModel,
    *,
    data: dict[str, DataFile],
    metrics: dict[str, Evaluation],
    command: list[str],
    make_current: bool = True,
) -> tuple[Path, Metadata]:
    """Add `model` to the registry at `root` as a new version and make it current (unless
    `make_current` is False: a retraining candidate waits for its promotion)."""
    taxonomy = model.card.taxonomy
    if taxonomy not in TAXONOMIES:
        raise ModelLoadError(f"cannot register a model of unknown taxonomy {taxonomy!r}")
    taxonomy_dir = root / taxonomy
    taxonomy_dir.mkdir(parents=True, exist_ok=True)
    # A name of its own: two publishers in one process (threads) share a pid.
    staging = _staging(taxonomy_dir / ".version")
    try:
        staging.mkdir()
        model.save(staging)
        with moving(root, taxonomy):
            _sweep_abandoned(taxonomy_dir)
            # The parent is read under the lock, where it cannot change before the version is in
            # (and, made current, has replaced it): a version published or a rollback made since
            # training began is the parent, in the metadata and on the model card alike, and a
            # rollback waiting for the lock rolls back from this version, not over it.
            parent, parent_model = parent_of(root, taxonomy)
            if model.card.parent_version != parent_model:
                model.record_parent(staging, parent_model)
            while True:
                existing = versions(taxonomy_dir)
                number = int(existing[-1][1:]) + 1 if existing else 1
                version = f"v{number}"
                metadata = Metadata(
                    version=version,
                    model_version=model.model_version,
                    taxonomy=taxonomy,
                    parent_version=parent,
                    created_at=datetime.now(UTC),
                    command=command,
                    data=data,
                    metrics=metrics,
                    attribution=model.card.attribution,
                )
                _write_json(staging / METADATA, metadata)
                # On disk before the name: after a crash the version is complete or absent.
                _sync_tree(staging)
                try:
                    # A rename onto a directory with files in it fails, so two trainers never
                    # share a version: the one that lost the number takes the next.
                    staging.rename(taxonomy_dir / version)
                except OSError as error:
                    if error.errno in _TAKEN and version in versions(taxonomy_dir):
                        continue
                    raise
                break
            _fsync(taxonomy_dir)
            if make_current:
                _point(taxonomy_dir, version)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return taxonomy_dir / version, metadata


def set_current(root: Path, taxonomy: str, version: str) -> None:
    """Point the taxonomy's `CURRENT` at an existing version, atomically (promotion, rollback)."""
    taxonomy_dir = root / taxonomy
    if version not in versions(taxonomy_dir):
        known = ", ".join(versions(taxonomy_dir)) or "none"
        raise ModelLoadError(f"{taxonomy_dir}: no version {version!r} (versions: {known})")
    with moving(root, taxonomy):
        _point(taxonomy_dir, version)


def registry_root(path: Path, taxonomy: str) -> Path:
    """The registry a command's `--registry` names: `path` itself, or its parent when `path` is
    the taxonomy's own directory in a registry (as `eval --model` accepts). A file, or another
    taxonomy's directory, is a `ModelLoadError` saying what to pass instead."""
    if path.exists() and not path.is_dir():
        raise ModelLoadError(
            f"{path}: is a file, and a registry is a directory (the --out of "
            "`warmline triage train`)"
        )
    if path.name in TAXONOMIES and _holds_versions(path) and not _holds_versions(path / taxonomy):
        if path.name == taxonomy:
            return path.parent
        raise ModelLoadError(
            f"{path}: is the {path.name!r} taxonomy's directory in a registry; pass the registry "
            f"directory (the parent), e.g. {path.parent}"
        )
    return path


def _holds_versions(taxonomy_dir: Path) -> bool:
    return (taxonomy_dir / CURRENT).is_file() or bool(versions(taxonomy_dir))


def check_version(root: Path, taxonomy: str, version: str) -> None:
    """Load the version as `eval` and the workers would; a version with files missing or damaged,
    or of another taxonomy, is a `ModelLoadError` naming the problem (before `CURRENT` moves)."""
    model = LocalModel.load(root / taxonomy / version)
    if model.card.taxonomy != taxonomy:
        raise ModelLoadError(
            f"{root / taxonomy / version}: the model is for the {model.card.taxonomy!r} "
            f"taxonomy, not {taxonomy!r}"
        )


def record(
    model_dir: Path, key: str, evaluation: Evaluation, *, replace: bool = False
) -> Evaluation | None:
    """Store `evaluation` in the version's metadata under `key` (the data file's stem); returns
    the record it replaced, if any. A record of another data file (another sha256) under the same
    key is replaced only with `replace` (see `check_record`)."""
    # Read, check and rewrite under the taxonomy's lock: two records at once keep both.
    with locked(model_dir.parent):
        metadata = _recordable(model_dir)
        if evaluation.model_version != metadata.model_version:
            raise ModelLoadError(
                f"{model_dir}: the evaluation is of {evaluation.model_version}, the metadata of "
                f"{metadata.model_version}"
            )
        earlier = check_record(model_dir, key, evaluation.data_sha256, replace=replace)
        updated = metadata.model_copy(update={"metrics": {**metadata.metrics, key: evaluation}})
        _write_json(model_dir / METADATA, updated)
    return earlier


def check_record(
    model_dir: Path, key: str, data_sha256: str, *, replace: bool = False
) -> Evaluation | None:
    """The record under `key` that recording scores of the file with `data_sha256` would
    replace, or None; a `RecordConflictError` when that record is of another file and `replace`
    is False (the earlier figures, such as training's `dev`, would be lost unnoticed)."""
    earlier = _recordable(model_dir).metrics.get(key)
    if earlier is not None and earlier.data_sha256 != data_sha256 and not replace:
        raise RecordConflictError(
            f"{model_dir / METADATA}: {key!r} already records another file, "
            f"{earlier.data_file} ({describe(earlier)}), and this one has sha256 "
            f"{data_sha256[:12]}; pass --replace to overwrite that record, or rename the file "
            "to record it under another name"
        )
    return earlier


def describe(evaluation: Evaluation) -> str:
    """`N rows, sha256 0123456789ab…`: enough to tell two records apart."""
    return f"{evaluation.rows} rows, sha256 {evaluation.data_sha256[:12]}…"


def _recordable(model_dir: Path) -> Metadata:
    metadata = read_metadata(model_dir)
    if metadata is None:
        raise ModelLoadError(
            f"{model_dir}: not a registry version (no {METADATA}); only models trained with "
            "`warmline triage train` can record metrics"
        )
    return metadata


def _sweep_abandoned(taxonomy_dir: Path) -> None:
    """Remove the staging directories publishers that died mid-way left (`ABANDONED_AFTER_S`):
    each holds most of a model, and nothing else ever would."""
    now = datetime.now(UTC).timestamp()
    for leftover in taxonomy_dir.glob(".version.*"):
        try:
            stale = now - leftover.stat().st_mtime > ABANDONED_AFTER_S
        except OSError:
            continue
        if stale and leftover.is_dir():
            shutil.rmtree(leftover, ignore_errors=True)


def _staging(target: Path) -> Path:
    """A hidden name beside `target` that no other writer uses, process or thread."""
    return target.with_name(f".{target.name.lstrip('.')}.{os.getpid()}.{uuid.uuid4().hex}")


def _point(taxonomy_dir: Path, version: str) -> None:
    replace_text(taxonomy_dir / CURRENT, version + "\n")


def _write_json(target: Path, metadata: Metadata) -> None:
    replace_text(
        target, json.dumps(metadata.model_dump(mode="json"), indent=2, ensure_ascii=False) + "\n"
    )


def replace_text(target: Path, text: str) -> None:
    """Write `text` to a staging file and rename it over `target`: readers see all or nothing,
    and after a crash (a power cut) the old text or the new, never an empty file: the staging
    file reaches the disk before the rename, the rename before this returns."""
    staging = _staging(target)
    try:
        staging.write_text(text, encoding="utf-8")
        _fsync(staging)
        staging.replace(target)
    except BaseException:
        staging.unlink(missing_ok=True)
        raise
    _fsync(target.parent)


def _fsync(path: Path) -> None:
    """Flush a file's data, or a directory's entries (a rename into it), to the disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _sync_tree(directory: Path) -> None:
    """Flush every file of a staged version directory, then the directory itself."""
    for entry in directory.iterdir():
        if entry.is_file():
            _fsync(entry)
    _fsync(directory)
