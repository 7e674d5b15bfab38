"""Who may be offered an escalated conversation, and in which order: pure, deterministic logic.

The escalation workflow calls this with a snapshot of the specialists (availability, load, skills)
and gets back the candidates to offer to, best first. Strategies are pluggable by name, as in
Twilio TaskRouter's worker selection; the wellness-aware strategy registers itself the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from warmline.errors import WarmlineError


class SpecialistState(BaseModel):
    """One specialist as routing sees them at the moment of an offer."""

    model_config = ConfigDict(frozen=True)

    id: str
    skills: frozenset[str]
    capacity: int = Field(ge=1)
    active: int = Field(default=0, ge=0)
    """Conversations the specialist owns now."""
    available: bool = True
    crisis_trained: bool = False
    idle_since: datetime | None = None
    """When the specialist last finished or declined work; None if never."""
    offers_received: int = 0
    """Offers made to this specialist so far (round-robin fairness)."""

    @property
    def free_slots(self) -> int:
        return max(0, self.capacity - self.active)


class RoutingRequest(BaseModel):
    """What is being routed: a queue's required skills, and whether it is a crisis."""

    model_config = ConfigDict(frozen=True)

    skills: frozenset[str] = frozenset()
    crisis: bool = False
    exclude: frozenset[str] = frozenset()
    """Specialists already offered this conversation (declined or let the offer expire)."""


Strategy = Callable[[Sequence[SpecialistState]], list[SpecialistState]]
"""Orders eligible specialists, best first. Must be deterministic: it runs inside workflows."""


class UnknownStrategyError(WarmlineError):
    """The configuration names a routing strategy nobody registered."""


def eligible(
    request: RoutingRequest, specialists: Sequence[SpecialistState]
) -> list[SpecialistState]:
    """Specialists who may receive the offer: available, skilled, with a free slot, not excluded;
    crisis-trained for a crisis."""
    return [
        s
        for s in specialists
        if s.available
        and s.free_slots > 0
        and request.skills <= s.skills
        and s.id not in request.exclude
        and (s.crisis_trained or not request.crisis)
    ]


def _idle_key(s: SpecialistState) -> tuple[bool, datetime | None, str]:
    # Never-busy specialists first, then the longest idle; the id breaks ties deterministically.
    return (s.idle_since is not None, s.idle_since, s.id)


def longest_idle(candidates: Sequence[SpecialistState]) -> list[SpecialistState]:
    return sorted(candidates, key=_idle_key)


def least_busy(candidates: Sequence[SpecialistState]) -> list[SpecialistState]:
    return sorted(candidates, key=lambda s: (s.active / s.capacity, *_idle_key(s)))


def round_robin(candidates: Sequence[SpecialistState]) -> list[SpecialistState]:
    return sorted(candidates, key=lambda s: (s.offers_received, s.id))


_STRATEGIES: dict[str, Strategy] = {
    "longest_idle": longest_idle,
    "least_busy": least_busy,
    "round_robin": round_robin,
}


def register_strategy(name: str, strategy: Strategy) -> None:
    """Make a strategy available by name (the hook the wellness-aware strategy uses)."""
    _STRATEGIES[name] = strategy


def strategy_named(name: str) -> Strategy:
    try:
        return _STRATEGIES[name]
    except KeyError:
        known = ", ".join(sorted(_STRATEGIES))
        raise UnknownStrategyError(f"unknown routing strategy {name!r}; known: {known}") from None


def candidates(
    request: RoutingRequest, specialists: Sequence[SpecialistState], strategy: Strategy
) -> list[SpecialistState]:
    """The specialists to offer to, best first."""
    return strategy(eligible(request, specialists))
