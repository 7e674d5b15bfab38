"""Serving from a registry, and shadow scoring: a candidate reads live traffic without acting.

`RegistryProvider` is the local provider for a model registry: it serves the version `CURRENT`
names and notices within `check_every` seconds when a promotion or rollback moves it, so a new
model serves without a worker restart. While a version is in shadow (`SHADOW` beside `CURRENT`)
it also scores every message with that version and counts, in Redis, how the two readings
compare (`ShadowLog`); only the current model's reading is returned and acted on.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from redis import Redis
from redis.exceptions import RedisError

from warmline.retraining import promotion
from warmline.retraining.rounds import ShadowStats
from warmline.triage.errors import ModelLoadError
from warmline.triage.local import LocalModel, LocalProvider
from warmline.triage.types import TriageRequest, TriageResult

log = logging.getLogger(__name__)

DEFAULT_PREFIX = "warmline:shadow"
SHADOW_PAUSE_S = 30.0
"""After Redis fails to record a shadow result, how long messages are not shadow-scored."""
_FIELDS = (
    "messages",
    "same_top_emotion",
    "same_labels",
    "crisis_labels_current_only",
    "crisis_labels_candidate_only",
    "distress_difference_micro",
)


class ShadowLog:
    """Counters per candidate in a Redis hash `<prefix>:<deployment>:<taxonomy>:<version>`."""

    def __init__(self, client: Redis, *, deployment: str, prefix: str = DEFAULT_PREFIX) -> None:
        self._client = client
        self._prefix = f"{prefix}:{deployment}:"

    def _key(self, taxonomy: str, version: str) -> str:
        return f"{self._prefix}{taxonomy}:{version}"

    def record(
        self,
        taxonomy: str,
        version: str,
        current: TriageResult,
        candidate: TriageResult,
        crisis_labels: Sequence[str],
    ) -> None:
        def present(result: TriageResult) -> set[str]:
            return {e.label for e in result.emotions if e.score >= 0.5}

        now, new = present(current), present(candidate)
        top_now = current.emotions[0].label if current.emotions else None
        top_new = candidate.emotions[0].label if candidate.emotions else None
        crisis_now, crisis_new = bool(now & set(crisis_labels)), bool(new & set(crisis_labels))
        pipe = self._client.pipeline(transaction=True)
        key = self._key(taxonomy, version)
        pipe.hincrby(key, "messages", 1)
        pipe.hincrby(key, "same_top_emotion", int(top_now == top_new))
        pipe.hincrby(key, "same_labels", int(now == new))
        pipe.hincrby(key, "crisis_labels_current_only", int(crisis_now and not crisis_new))
        pipe.hincrby(key, "crisis_labels_candidate_only", int(crisis_new and not crisis_now))
        difference = round((candidate.distress - current.distress) * 1_000_000)
        pipe.hincrby(key, "distress_difference_micro", difference)
        pipe.execute()

    def read(self, taxonomy: str, version: str) -> ShadowStats:
        raw: dict[bytes, bytes] = self._client.hgetall(self._key(taxonomy, version))  # type: ignore[assignment]
        counts = {name: int(raw.get(name.encode(), b"0")) for name in _FIELDS}
        messages = counts["messages"]
        return ShadowStats(
            version=version,
            messages=messages,
            same_top_emotion=counts["same_top_emotion"],
            same_labels=counts["same_labels"],
            crisis_labels_current_only=counts["crisis_labels_current_only"],
            crisis_labels_candidate_only=counts["crisis_labels_candidate_only"],
            mean_distress_difference=(
                round(counts["distress_difference_micro"] / 1_000_000 / messages, 4)
                if messages
                else 0.0
            ),
        )

    def reset(self, taxonomy: str, version: str) -> None:
        self._client.delete(self._key(taxonomy, version))


class RegistryProvider:
    """The local provider of a registry's current version, reloaded when `CURRENT` moves."""

    name = "local"

    def __init__(
        self,
        registry: Path,
        taxonomy: str = "original",
        *,
        shadow_log: ShadowLog | None = None,
        crisis_labels: Sequence[str] = (),
        check_every: float = 2.0,
    ) -> None:
        self._registry = registry
        self._taxonomy = taxonomy
        self._shadow_log = shadow_log
        self._crisis_labels = tuple(crisis_labels)
        self._check_every = check_every
        self._lock = threading.Lock()
        self._checked = float("-inf")
        self._version: str | None = None
        self._shadow_version: str | None = None
        self._shadow_problem: str | None = None
        """Why shadow scoring is off, as last logged (a damaged SHADOW, a candidate not loaded)."""
        self._shadow_paused_until = float("-inf")
        self._provider: LocalProvider | None = None
        self._shadow: tuple[str, LocalProvider] | None = None
        """The version in shadow and its provider, replaced as one (readers take no lock)."""
        self._refresh(force=True)

    @property
    def version(self) -> str | None:
        """The registry version serving now."""
        return self._version

    @property
    def model_version(self) -> str:
        return self._serving().model_version

    @property
    def shadow_paused(self) -> bool:
        """Shadow scoring is paused after Redis failed to record a result."""
        return time.monotonic() < self._shadow_paused_until

    def _serving(self) -> LocalProvider:
        self._refresh()
        if self._provider is None:
            raise ModelLoadError(
                f"{self._registry / self._taxonomy}: no current {self._taxonomy!r} model; train "
                f"one with `warmline triage train --taxonomy {self._taxonomy} --out "
                f"{self._registry}`"
            )
        return self._provider

    def _load(self, version: str) -> LocalProvider:
        return LocalProvider(LocalModel.load(self._registry / self._taxonomy / version))

    def _refresh(self, *, force: bool = False) -> None:
        if not force and time.monotonic() - self._checked < self._check_every:
            return
        with self._lock:
            if not force and time.monotonic() - self._checked < self._check_every:
                return
            self._checked = time.monotonic()
            try:
                current = promotion.current(self._registry, self._taxonomy)
                if current is not None and current != self._version:
                    self._provider = self._load(current)
                    self._version = current
                    log.info("triage model %s/%s now serving", self._taxonomy, current)
            except (ModelLoadError, OSError) as exc:
                # A damaged CURRENT or a version that cannot be read: keep serving the model
                # that works; the operator sees why in the log.
                if force:
                    raise
                log.error("cannot switch from %s: %s", self._version, exc)
            self._refresh_shadow()

    def _refresh_shadow(self) -> None:
        """Follow `SHADOW`. A pointer or candidate that cannot be read means no shadow scoring,
        never a failed triage; a candidate that failed to load is tried again at the next check
        (its files may still be arriving on a shared volume)."""
        try:
            shadow = promotion.shadow_version(self._registry, self._taxonomy)
        except (ModelLoadError, OSError) as exc:
            self._shadow_trouble(f"no shadow scoring: {exc}")
            self._shadow, self._shadow_version = None, None
            return
        if shadow == self._shadow_version:
            return
        self._shadow = None
        if shadow is not None:
            try:
                self._shadow = (shadow, self._load(shadow))
            except (ModelLoadError, OSError) as exc:
                self._shadow_trouble(f"cannot load shadow candidate {shadow}: {exc}")
                return
        self._shadow_problem = None
        self._shadow_version = shadow

    def _shadow_trouble(self, problem: str) -> None:
        """Log a shadow problem once, not at every check while it lasts."""
        if problem != self._shadow_problem:
            log.error("%s", problem)
        self._shadow_problem = problem

    def triage(self, request: TriageRequest) -> TriageResult:
        result = self._serving().triage(request)
        in_shadow = self._shadow
        if in_shadow is not None and self._shadow_log is not None and not self.shadow_paused:
            version, shadow = in_shadow
            reading = shadow.triage(request)
            try:
                self._shadow_log.record(
                    self._taxonomy, version, result, reading, self._crisis_labels
                )
            except RedisError as exc:
                # Shadow scoring must never change what triage answers, nor slow it down for
                # long: after a failure, messages go unscored for a while.
                self._shadow_paused_until = time.monotonic() + SHADOW_PAUSE_S
                log.warning(
                    "shadow results of %s not recorded for %.0f s: %s", version, SHADOW_PAUSE_S, exc
                )
        return result
