"""The Redis view of each worker's wellness state, kept current by the wellness workflow.

Routing and annotation assignment read it to decide who may be offered intense work. Like the live
view it is a fast copy, never the source of truth: the workflow rewrites a worker's whole state
after every change, and a worker with no state in Redis is treated as fresh (no exposure, not on
break), so a lost view can only make routing less careful until the next change, never stall it.

Key: `<prefix>:<deployment>:<worker>` (string): the JSON of `WorkerWellness`.

Writes are versioned: the workflow gives every view it writes a `version` above the last, and a
view whose version is below the stored one's is dropped (a compare-and-set in one Lua script). An
activity attempt that timed out keeps running in its thread; without this, its late write could
replace the newer view a later sync wrote, and routing would read an old state (not on a break,
under budget) until the next change.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field
from redis import Redis

DEFAULT_PREFIX = "warmline:wellness"


class WorkerWellness(BaseModel):
    """One worker's wellness state as routing and assignment see it."""

    model_config = ConfigDict(frozen=True)

    worker_id: str
    exposure_minutes: float = Field(default=0.0, ge=0.0)
    """Intensity-weighted minutes in the current shift."""
    budget_minutes: float | None = None
    """The shift's exposure budget; None when no policy applies."""
    budget_pace: float = Field(default=0.0, ge=0.0)
    """Weighted minutes per minute of shift at which the budget lasts exactly one shift."""
    shift_ends_at: datetime | None = None
    """When the current shift ends; None between shifts."""
    on_break: bool = False
    break_until: datetime | None = None
    over_budget: bool = False
    rotated_off_intense: bool = False
    """Off intense queues (budget reached, or the cooldown after it is still running)."""
    rotation_until: datetime | None = None
    consecutive_crisis: int = Field(default=0, ge=0)
    crisis_blocked: bool = False
    """No crisis offers until a non-crisis conversation or a new shift (the cap on consecutive
    crisis conversations was reached; a break does not lift it)."""
    updated_at: datetime | None = None
    kind: str = "specialist"
    """`specialist` or `annotator`."""
    in_shift: bool = False
    available: bool = True
    """The worker's (or HR's) last word on their availability; True until anyone said otherwise,
    and in views written before the field existed. The annotation loop hands no new task to an
    annotator who is unavailable (a specialist's offers follow the roster's availability)."""
    exposure_by_queue: dict[str, float] = Field(default_factory=dict)
    """This shift's weighted minutes per queue (`annotation` for annotation tasks)."""
    breaks_taken: int = 0
    budget_breaches: int = 0
    checkins_requested: int = 0
    checkins_submitted: int = 0
    """Every check-in the worker sent this shift, asked for or not."""
    checkins_answered: int | None = None
    """The check-ins sent while one was asked for; None in views written before the field
    existed."""
    checkin_pending: bool = False
    version: int = Field(default=0, ge=0)
    """Orders the workflow's writes: above every earlier view of the worker's (microseconds of
    workflow time, at least one more than the last), so a view written late never replaces a
    newer one. 0 in views written before the field existed, and by hand: such a write is never
    dropped."""

    @property
    def may_take_intense(self) -> bool:
        """Whether an offer from an intense queue (or an intense annotation item) may reach them."""
        return not (self.on_break or self.over_budget or self.rotated_off_intense)

    @property
    def may_take_crisis(self) -> bool:
        """Whether a crisis offer may reach them (intense, and under the consecutive-crisis cap)."""
        return self.may_take_intense and not self.crisis_blocked

    @property
    def may_take_any(self) -> bool:
        """Whether any new offer may reach them (a break stops all new offers)."""
        return not self.on_break


_WRITE_UNLESS_OLDER = """
local stored = redis.call('GET', KEYS[1])
local version = tonumber(ARGV[2])
if stored and version > 0 then
    local ok, decoded = pcall(cjson.decode, stored)
    if ok and type(decoded) == 'table' and type(decoded['version']) == 'number'
        and decoded['version'] > version then
        return 0
    end
end
redis.call('SET', KEYS[1], ARGV[1])
return 1
"""
"""Sets the view unless the stored one has a higher version; an unversioned write (version 0)
always lands. Returns 1 when written, 0 when dropped."""


class WellnessStateStore:
    """Reads and writes the wellness view of one deployment's workers."""

    def __init__(self, client: Redis, *, deployment: str, prefix: str = DEFAULT_PREFIX) -> None:
        self._client = client
        self._prefix = f"{prefix}:{deployment}:"
        self._write_unless_older = client.register_script(_WRITE_UNLESS_OLDER)

    @classmethod
    def connect(
        cls, url: str, *, deployment: str, prefix: str = DEFAULT_PREFIX
    ) -> WellnessStateStore:
        return cls(Redis.from_url(url), deployment=deployment, prefix=prefix)

    def key(self, worker_id: str) -> str:
        return self._prefix + worker_id

    def write(self, state: WorkerWellness) -> bool:
        """Stores the view unless a newer one (higher `version`) is stored; whether it was."""
        written = self._write_unless_older(
            keys=[self.key(state.worker_id)], args=[state.model_dump_json(), state.version]
        )
        return bool(written)

    def read(self, worker_ids: Iterable[str]) -> dict[str, WorkerWellness]:
        """Each worker's state; a worker with nothing stored gets a fresh default state."""
        ids = list(worker_ids)
        if not ids:
            return {}
        stored = self._client.mget([self.key(worker_id) for worker_id in ids])
        return {
            worker_id: (
                WorkerWellness.model_validate_json(raw)
                if raw is not None
                else WorkerWellness(worker_id=worker_id)
            )
            for worker_id, raw in zip(ids, stored, strict=True)
        }

    def close(self) -> None:
        self._client.close()
