"""Who may be offered an escalated conversation, and in which order: pure, deterministic logic.

The escalation workflow calls this with a snapshot of the specialists (availability, load, skills)
and gets back the candidates to offer to, best first. Strategies are pluggable by name, as in
Twilio TaskRouter's worker selection. The wellness-aware strategy also brings its own eligibility
rule (an `Admission`): breaks, budgets, rotation and the consecutive-crisis cap, read from each
worker's wellness view.
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
    on_break: bool = False
    """From the wellness view: on a break (no new offers under the wellness-aware strategy)."""
    over_budget: bool = False
    """Past this shift's exposure budget: no intense offers under the wellness-aware strategy."""
    rotated_off_intense: bool = False
    crisis_blocked: bool = False
    """At the cap on consecutive crisis conversations: no crisis offers."""
    exposure_minutes: float = 0.0
    """Intensity-weighted minutes in the current shift."""
    projected_exposure: float | None = None
    """Exposure at the shift's end if the rest of it went at the budget's pace; None unknown."""
    shift_ends_at: datetime | None = None
    """When the specialist's shift ends, from the wellness view; None unknown."""
    held_for_crisis: bool = False
    """The next crisis would be offered to them: ordinary work goes to others first
    (`hold_crisis_responder`; the wellness-aware strategy honours it)."""

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
    intense: bool = False
    """The queue is intense (the crisis lane always counts as intense)."""


Strategy = Callable[[Sequence[SpecialistState]], list[SpecialistState]]
"""Orders eligible specialists, best first. Must be deterministic: it runs inside workflows."""
Admission = Callable[[RoutingRequest, SpecialistState], bool]
"""A strategy's own eligibility rule on top of `eligible` (the wellness-aware strategy has one)."""


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


def not_on_break(admits: Admission | None) -> Admission:
    """`admits` with a break stopping every new offer, whatever the strategy: the classic ones
    admit everyone eligible, and "I need a break now" must take effect under them too."""

    def admitted(request: RoutingRequest, s: SpecialistState) -> bool:
        return not s.on_break and (admits is None or admits(request, s))

    return admitted


def wellness_admits(request: RoutingRequest, s: SpecialistState) -> bool:
    """Nobody on a break gets an offer; nobody over budget or rotated off intense queues gets one
    from an intense queue or the crisis lane; nobody at the consecutive-crisis cap gets a crisis."""
    if s.on_break:
        return False
    if (request.intense or request.crisis) and (s.over_budget or s.rotated_off_intense):
        return False
    return not (request.crisis and s.crisis_blocked)


def wellness_aware(candidates: Sequence[SpecialistState]) -> list[SpecialistState]:
    """The lowest exposure first, then TaskRouter's longest idle: with nobody exposed yet it ranks
    exactly as `longest_idle` does.

    Exposure is the shift's *outlook* when the roster supplies one (`projected_exposure`: what
    the person has absorbed plus the budget's pace over the rest of their shift). Ranking by
    exposure alone hands everything to whoever just started: by the evening the late shift has
    carried the morning's backlog and the whole evening too, and the day's highest exposure is
    theirs. The outlook spreads the work so that shifts *end* level. Whoever the roster holds
    for the next crisis (`held_for_crisis`, see `hold_crisis_responder`) comes after everyone
    else: that needs the whole team, busy people included, and the strategy sees only the
    eligible."""
    return sorted(
        candidates, key=lambda s: (s.held_for_crisis, round(_outlook(s), 3), *_idle_key(s))
    )


def _outlook(s: SpecialistState) -> float:
    return s.exposure_minutes if s.projected_exposure is None else s.projected_exposure


IN_PROGRESS_EXPOSURE = 60.0
"""Weighted minutes counted for each conversation a specialist holds or has been offered, until
its real exposure is recorded when it ends: about a 25-minute conversation at the high weight."""


def count_work_in_hand(team: Sequence[SpecialistState]) -> list[SpecialistState]:
    """Count the conversations a specialist is in the middle of on their outlook.

    Exposure is recorded when a conversation ends, so someone who took a panicked customer two
    minutes ago looks as fresh as someone idle, and with room for a second conversation gets it
    first: two intense conversations at once, the day's highest exposure by the evening. Each
    conversation in hand (`active`) counts `IN_PROGRESS_EXPOSURE` weighted minutes until then.
    """
    return [
        s.model_copy(update={"projected_exposure": _outlook(s) + IN_PROGRESS_EXPOSURE * s.active})
        if s.active
        else s
        for s in team
    ]


def hold_crisis_responder(
    team: Sequence[SpecialistState], strategy: Strategy, admits: Admission | None = None
) -> list[SpecialistState]:
    """Hold back, for ordinary work, the person the next crisis would be offered to.

    A crisis weighs most of a shift's budget, so the day's highest exposure is mostly a crisis
    on top of whatever ordinary work its specialist took before it. Crisis lines keep someone
    on call for that: here it is whoever the strategy would offer a crisis to now (free,
    crisis-trained, admitted), and ordinary work goes to anyone else first. They still take it
    when nobody else can, so nobody is paged because of the hold; once they take a crisis, or
    someone else becomes the better choice, the hold moves on. The roster applies this to
    ordinary work only, and only the wellness-aware strategy reads `held_for_crisis`.
    """
    responders = candidates(RoutingRequest(crisis=True, intense=True), team, strategy, admits)
    if not responders:
        return list(team)
    held = responders[0].id
    return [s.model_copy(update={"held_for_crisis": True}) if s.id == held else s for s in team]


CRISIS_COVER_RESERVE = 80.0
"""Weighted minutes added to the outlook of the evening's crisis cover for ordinary work."""
THIN_CRISIS_COVER = 2
"""Crisis cover this thin or thinner, until a person's shift ends, makes them evening cover."""


def reserve_crisis_cover(team: Sequence[SpecialistState]) -> list[SpecialistState]:
    """Rank the evening's crisis cover as if more exposed, for ordinary work (rosters recorded
    before `hold_crisis_responder` replaced it, which replay it as they ran).

    A crisis-trained person is evening cover when, by the end of their shift, at most
    `THIN_CRISIS_COVER` crisis-trained people (themselves included) are still on: whoever works
    the day's last hours. Late crises can go to nobody else, so ordinary work that others can
    take goes to them first (`CRISIS_COVER_RESERVE` weighted minutes on the outlook): the cover
    reaches the evening fresh enough to take a crisis without being rotated off or paged past.
    `team` is everyone on the roster, busy or not (busy people still cover later); people
    without an outlook (`projected_exposure`) are left as they are. The roster applies this to
    ordinary work only: a crisis is ranked by the plain outlook, which already sends the day's
    early crises to whoever goes home sooner.
    """
    ends = [s.shift_ends_at for s in team if s.crisis_trained and s.shift_ends_at is not None]

    def reserved(s: SpecialistState) -> SpecialistState:
        end, outlook = s.shift_ends_at, s.projected_exposure
        if not s.crisis_trained or end is None or outlook is None:
            return s
        if sum(1 for other in ends if other >= end) > THIN_CRISIS_COVER:
            return s
        return s.model_copy(update={"projected_exposure": outlook + CRISIS_COVER_RESERVE})

    return [reserved(s) for s in team]


_STRATEGIES: dict[str, Strategy] = {
    "longest_idle": longest_idle,
    "least_busy": least_busy,
    "round_robin": round_robin,
    "wellness_aware": wellness_aware,
}
_ADMISSIONS: dict[str, Admission] = {"wellness_aware": wellness_admits}


def register_strategy(name: str, strategy: Strategy, *, admits: Admission | None = None) -> None:
    """Make a strategy available by name, with its own eligibility rule if it has one."""
    _STRATEGIES[name] = strategy
    if admits is not None:
        _ADMISSIONS[name] = admits


def admission_named(name: str) -> Admission | None:
    """The named strategy's own eligibility rule; None for the classic strategies."""
    return _ADMISSIONS.get(name)


def strategy_named(name: str) -> Strategy:
    try:
        return _STRATEGIES[name]
    except KeyError:
        known = ", ".join(sorted(_STRATEGIES))
        raise UnknownStrategyError(f"unknown routing strategy {name!r}; known: {known}") from None


def candidates(
    request: RoutingRequest,
    specialists: Sequence[SpecialistState],
    strategy: Strategy,
    admits: Admission | None = None,
) -> list[SpecialistState]:
    """The specialists to offer to, best first."""
    allowed = eligible(request, specialists)
    if admits is not None:
        allowed = [s for s in allowed if admits(request, s)]
    return strategy(allowed)
