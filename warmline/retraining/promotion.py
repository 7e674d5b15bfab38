"""Moving a registry's `CURRENT`: promotion, rollback, and the shadow pointer, with a history.

Every move is appended to `DIR/<taxonomy>/HISTORY.jsonl` (one `HistoryEntry` a line: what, from
which version to which, who and why), so a rollback can find the version that was current before
and an auditor can read how the serving model came to be. Moves hold the taxonomy's lock
(`registry.moving`, which `warmline triage train` holds too), so a check and the move it justifies
are one step: a rollback and a promotion (or a training) that race each other are recorded in the
order they happened, each from the version the other left.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from warmline.errors import WarmlineError
from warmline.triage import registry
from warmline.triage.errors import ModelLoadError
from warmline.triage.local import CURRENT, read_pointer

HISTORY = "HISTORY.jsonl"
SHADOW = "SHADOW"
"""In a taxonomy's directory, the version scoring traffic in shadow (absent: none)."""
LOCK = registry.LOCK
moving = registry.moving
"""The taxonomy's lock, shared with the registry's own writers (`train`, `eval --record`)."""


class RollbackError(WarmlineError):
    """A rollback the registry cannot do: no such version, nothing to go back to."""


class Action(StrEnum):
    PROMOTED = "promoted"
    REJECTED = "rejected"
    ROLLED_BACK = "rolled_back"
    SHADOW_STARTED = "shadow_started"


class HistoryEntry(BaseModel):
    """One line of `HISTORY.jsonl`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    at: datetime
    action: Action
    from_version: str | None
    """What `CURRENT` named before (for a rejection or shadow: what stayed current)."""
    to_version: str
    """The version promoted, rejected, rolled back to, or put in shadow."""
    actor: str
    """Who: `retraining:<round id>` for the workflow, the operator's name for a rollback."""
    reason: str


def history(registry_dir: Path, taxonomy: str) -> list[HistoryEntry]:
    """The taxonomy's history, oldest first."""
    path = registry_dir / taxonomy / HISTORY
    if not path.is_file():
        return []
    entries: list[HistoryEntry] = []
    for number, raw in enumerate(path.read_bytes().splitlines(), start=1):
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise RollbackError(
                f"{path}:{number}: byte {exc.start} is not UTF-8 text; the registry writes "
                f"{HISTORY} as UTF-8 JSON lines, so this one was damaged: restore it from a "
                "backup, or roll back with --to VERSION, which does not read it"
            ) from None
        if not line.strip():
            continue
        try:
            entries.append(HistoryEntry.model_validate_json(line))
        except ValidationError as exc:
            raise RollbackError(
                f"{path}:{number}: not a history entry: {exc.errors()[0]['msg']}"
            ) from exc
    return entries


def append(registry_dir: Path, taxonomy: str, entry: HistoryEntry) -> None:
    path = registry_dir / taxonomy / HISTORY
    # One write of one line with O_APPEND: concurrent writers never interleave within a line.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, (entry.model_dump_json() + "\n").encode("utf-8"))
        # A retried promotion reads this line to know it was done: it must outlive a crash.
        os.fsync(fd)
    finally:
        os.close(fd)


def current(registry_dir: Path, taxonomy: str) -> str | None:
    return registry.current(registry_dir / taxonomy)


_MOVES = (Action.PROMOTED, Action.ROLLED_BACK)
"""The actions that move `CURRENT`."""


def promotion_by(
    registry_dir: Path, taxonomy: str, version: str, actor: str
) -> HistoryEntry | None:
    """The promotion of `version` that `actor` recorded, if any (an earlier attempt's)."""
    return _promotion_in(history(registry_dir, taxonomy), version, actor)


def _promotion_in(entries: list[HistoryEntry], version: str, actor: str) -> HistoryEntry | None:
    for entry in reversed(entries):
        if entry.action is Action.PROMOTED and entry.to_version == version and entry.actor == actor:
            return entry
    return None


def promote(
    registry_dir: Path,
    taxonomy: str,
    version: str,
    *,
    actor: str,
    reason: str,
    replacing: str | None = None,
) -> str | None:
    """Make `version` current; returns the version it replaced. Repeating it (a retried step)
    moves nothing: once `actor` promoted `version`, an operator's rollback made since stands.

    `replacing` is the version the caller expects to replace (the one the candidate was judged
    against). It is recorded when an earlier attempt moved `CURRENT` but died before writing the
    history line, so the promotion is still recorded, with what it replaced.
    """
    with moving(registry_dir, taxonomy):
        entries = history(registry_dir, taxonomy)
        done = _promotion_in(entries, version, actor)
        if done is not None:
            # An earlier attempt may have died before ending the candidate's shadow.
            clear_shadow(registry_dir, taxonomy, version)
            return done.from_version
        if any(e.from_version == version and e.action in _MOVES for e in entries):
            # It was current and was moved away from (a rollback after an attempt that died
            # before recording its promotion): putting it back would undo that move.
            return replacing
        before = current(registry_dir, taxonomy)
        if before == version:
            recorded = next((e for e in reversed(entries) if e.action in _MOVES), None)
            if recorded is not None and recorded.to_version == version:
                # Made current by someone else's recorded move (`rollback --to`).
                clear_shadow(registry_dir, taxonomy, version)
                return recorded.from_version
            # An earlier attempt moved CURRENT and died before writing the line.
            before = replacing
        else:
            _check_promotable(registry_dir, taxonomy, version, before)
            registry.set_current(registry_dir, taxonomy, version)
        append(
            registry_dir,
            taxonomy,
            HistoryEntry(
                at=datetime.now(UTC),
                action=Action.PROMOTED,
                from_version=before,
                to_version=version,
                actor=actor,
                reason=reason,
            ),
        )
        clear_shadow(registry_dir, taxonomy, version)
        return before


def _check_promotable(registry_dir: Path, taxonomy: str, version: str, now: str | None) -> None:
    """Load `version` as the workers would before `CURRENT` names it. A candidate damaged since
    it was scored (its files changed during a day in shadow, a disk error) would be recorded and
    announced as promoted while every worker refused to load it and kept the old model, and a
    worker starting afresh could serve nothing: it is a `ModelLoadError`, its shadow ends."""
    try:
        registry.check_version(registry_dir, taxonomy, version)
    except ModelLoadError as error:
        clear_shadow(registry_dir, taxonomy, version)
        raise ModelLoadError(
            f"{version} is not promoted, {registry_dir / taxonomy / CURRENT} still names "
            f"{now or 'no version'}: {error}"
        ) from None


def note(
    registry_dir: Path, taxonomy: str, action: Action, version: str, *, actor: str, reason: str
) -> None:
    """Record a rejection or a shadow start (the current version does not change)."""
    with moving(registry_dir, taxonomy):
        if action is Action.REJECTED:
            clear_shadow(registry_dir, taxonomy, version)
        done = any(
            e.action is action and e.to_version == version and e.actor == actor
            for e in history(registry_dir, taxonomy)
        )
        if not done:
            append(
                registry_dir,
                taxonomy,
                HistoryEntry(
                    at=datetime.now(UTC),
                    action=action,
                    from_version=current(registry_dir, taxonomy),
                    to_version=version,
                    actor=actor,
                    reason=reason,
                ),
            )


def previous(registry_dir: Path, taxonomy: str) -> str | None:
    """The version that was current before the current one was promoted, or its parent."""
    now = current(registry_dir, taxonomy)
    if now is None:
        return None
    for entry in reversed(history(registry_dir, taxonomy)):
        if entry.action is Action.PROMOTED and entry.to_version == now:
            return entry.from_version
    metadata = registry.read_metadata(registry_dir / taxonomy / now)
    return metadata.parent_version if metadata is not None else None


def rollback(
    registry_dir: Path, taxonomy: str, *, to: str | None, actor: str, reason: str
) -> HistoryEntry:
    """Point `CURRENT` back at `to`, or at the version current before this one."""
    taxonomy_dir = registry_dir / taxonomy
    if not taxonomy_dir.is_dir():
        raise RollbackError(
            f"{taxonomy_dir}: no {taxonomy!r} model in this registry; train one with "
            f"`warmline triage train --taxonomy {taxonomy} --out {registry_dir}`"
        )
    with moving(registry_dir, taxonomy):
        return _rollback(registry_dir, taxonomy, to=to, actor=actor, reason=reason)


def _rollback(
    registry_dir: Path, taxonomy: str, *, to: str | None, actor: str, reason: str
) -> HistoryEntry:
    taxonomy_dir = registry_dir / taxonomy
    known = registry.versions(taxonomy_dir)
    pointer = taxonomy_dir / CURRENT
    # Read as it is, not through `current`: a CURRENT that is missing, empty or names no version
    # beside it is what `--to` repairs.
    named = read_pointer(pointer) if pointer.is_file() else None
    if not known:
        raise RollbackError(
            f"{taxonomy_dir}: no {taxonomy!r} model in this registry; train one with "
            f"`warmline triage train --taxonomy {taxonomy} --out {registry_dir}`"
        )
    if to is None and named is None:
        raise RollbackError(
            f"{taxonomy_dir}: no version is current (there is no {CURRENT} file beside the "
            f"versions {', '.join(known)}); pass --to VERSION to make one current"
        )
    if to is None and named not in known:
        names = f"names {named!r}" if named else "is empty"
        raise RollbackError(
            f"{pointer} is damaged: it {names}, not one of the versions beside it "
            f"({', '.join(known)}); pass --to VERSION to point it at a complete one"
        )
    now = named or None
    target = to if to is not None else previous(registry_dir, taxonomy)
    if target is None:
        raise RollbackError(
            f"{taxonomy_dir}: {now} has no earlier version to go back to; pass --to VERSION "
            f"(versions: {', '.join(known)})"
        )
    if target not in known:
        raise RollbackError(f"{taxonomy_dir}: no version {target!r}; versions: {', '.join(known)}")
    if target == now:
        raise RollbackError(f"{taxonomy_dir}: {target} is already current; nothing to roll back")
    try:
        # What the workers would load: a version they cannot read is refused, CURRENT unchanged.
        registry.check_version(registry_dir, taxonomy, target)
    except ModelLoadError as error:
        left = f"still names {now}" if now is not None else "is left as it was"
        raise RollbackError(f"cannot roll back to {target}, {pointer} {left}: {error}") from None
    registry.set_current(registry_dir, taxonomy, target)
    entry = HistoryEntry(
        at=datetime.now(UTC),
        action=Action.ROLLED_BACK,
        from_version=now,
        to_version=target,
        actor=actor,
        reason=reason,
    )
    append(registry_dir, taxonomy, entry)
    return entry


def shadow_version(registry_dir: Path, taxonomy: str) -> str | None:
    """The version in shadow, or None."""
    pointer = registry_dir / taxonomy / SHADOW
    if not pointer.is_file():
        return None
    return read_pointer(pointer) or None


def start_shadow(registry_dir: Path, taxonomy: str, version: str) -> None:
    # Staged under a name of its own: two threads of one process share a pid.
    registry.replace_text(registry_dir / taxonomy / SHADOW, version + "\n")


def clear_shadow(registry_dir: Path, taxonomy: str, version: str) -> None:
    """End `version`'s shadow (another candidate's shadow is left alone)."""
    if shadow_version(registry_dir, taxonomy) == version:
        (registry_dir / taxonomy / SHADOW).unlink(missing_ok=True)
