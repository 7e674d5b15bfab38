"""Moving a registry's `CURRENT`: promotion, rollback, and the shadow pointer, with a history.

Every move is appended to `DIR/<taxonomy>/HISTORY.jsonl` (one `HistoryEntry` a line: what, from
which version to which, who and why), so a rollback can find the version that was current before
and an auditor can read how the serving model came to be.
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
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
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
    finally:
        os.close(fd)


def current(registry_dir: Path, taxonomy: str) -> str | None:
    return registry.current(registry_dir / taxonomy)


def promote(
    registry_dir: Path, taxonomy: str, version: str, *, actor: str, reason: str
) -> str | None:
    """Make `version` current; returns the version it replaced. Repeating it changes nothing."""
    before = current(registry_dir, taxonomy)
    if before == version:
        return _replaced(registry_dir, taxonomy, version)
    registry.set_current(registry_dir, taxonomy, version)
    clear_shadow(registry_dir, taxonomy, version)
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
    return before


def _replaced(registry_dir: Path, taxonomy: str, version: str) -> str | None:
    """The version the last promotion of `version` replaced (for a repeated promotion)."""
    for entry in reversed(history(registry_dir, taxonomy)):
        if entry.action is Action.PROMOTED and entry.to_version == version:
            return entry.from_version
    return None


def note(
    registry_dir: Path, taxonomy: str, action: Action, version: str, *, actor: str, reason: str
) -> None:
    """Record a rejection or a shadow start (the current version does not change)."""
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
    known = registry.versions(taxonomy_dir)
    now = current(registry_dir, taxonomy)
    if not known or now is None:
        raise RollbackError(
            f"{taxonomy_dir}: no {taxonomy!r} model in this registry; train one with "
            f"`warmline triage train --taxonomy {taxonomy} --out {registry_dir}`"
        )
    if now not in known and to is None:
        raise RollbackError(
            f"{taxonomy_dir / CURRENT} is damaged: it names {now!r}, not one of the versions "
            f"beside it ({', '.join(known)}); pass --to VERSION to point it at a complete one"
        )
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
        raise RollbackError(
            f"cannot roll back to {target}, {taxonomy_dir / CURRENT} still names {now}: {error}"
        ) from None
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
    taxonomy_dir = registry_dir / taxonomy
    staging = taxonomy_dir / f".{SHADOW}.{os.getpid()}"
    staging.write_text(version + "\n", encoding="utf-8")
    staging.replace(taxonomy_dir / SHADOW)


def clear_shadow(registry_dir: Path, taxonomy: str, version: str) -> None:
    """End `version`'s shadow (another candidate's shadow is left alone)."""
    if shadow_version(registry_dir, taxonomy) == version:
        (registry_dir / taxonomy / SHADOW).unlink(missing_ok=True)
