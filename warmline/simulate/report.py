"""What a simulation produced (`Run`) and shows: the event timeline, each expectation's result and
the failed steps."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from warmline.config.durations import format_duration
from warmline.config.yamlsource import SourceDocument
from warmline.events import DomainEvent, EventType
from warmline.simulate.scenario import Expectation, Scenario, WellnessCheck
from warmline.wellness.view import WorkerWellness

DATA_SHOWN = 90
"""Characters of an event's data shown in the timeline table."""


@dataclass(frozen=True)
class StepError:
    index: int
    """From 0, into the scenario's `steps`; reports number steps from 1 (`number`)."""
    at: timedelta
    kind: str
    message: str

    @property
    def number(self) -> int:
        """The step's number as reports show it, text and `--json` alike: the first is 1."""
        return self.index + 1


@dataclass
class Run:
    """What a simulation produced: the events with their offsets, the steps that failed and the
    wellness views read for the scenario's `wellness` expectations (by expectation index)."""

    events: list[tuple[timedelta, DomainEvent]] = field(default_factory=list)
    step_errors: list[StepError] = field(default_factory=list)
    views: dict[int, WorkerWellness] = field(default_factory=dict)


@dataclass(frozen=True)
class Result:
    expectation: Expectation
    passed: bool
    detail: str
    exposure_minutes: float | None = None
    """For a wellness expectation whose view was read, the exposure it held, unrounded (the
    detail rounds it to a tenth of a minute)."""


@dataclass(frozen=True)
class Report:
    scenario: Scenario
    run: Run
    results: list[Result]
    document: SourceDocument | None = None
    """The scenario's file, for the positions of failed steps and expectations."""

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.results) and not self.run.step_errors

    def step_location(self, error: StepError) -> str | None:
        """`FILE:LINE:COL` of the failed step's action."""
        return self._location(("steps", error.index, error.kind))

    def expectation_location(self, index: int) -> str | None:
        """`FILE:LINE:COL` of the expectation's kind (`event:`, `not_event:`, `wellness:`)."""
        expectation = self.scenario.expect[index]
        kind = (
            "wellness"
            if expectation.wellness is not None
            else "not_event"
            if expectation.negated
            else "event"
        )
        return self._location(("expect", index, kind))

    def _location(self, loc: tuple[str | int, ...]) -> str | None:
        if self.document is None:
            return None
        line, column = self.document.locate(loc, at_key=True)
        return f"{self.document.path}:{line}:{column}"

    def failures(self) -> list[str]:
        """One `FILE:LINE:COL: message` per failed step and expectation, in the file's order:
        what the scenario asked for and what happened instead. An `expect:` written above the
        `steps:` comes first."""
        found: list[tuple[tuple[int, int, int], str]] = []
        for error in self.run.step_errors:
            label = step_label(error.index, error.at, error.kind)
            where = self.step_location(error) or self.scenario.metadata.name
            place = self._place(("steps", error.index, error.kind), error.index)
            found.append((place, f"{where}: steps[{error.index}]: step {label}: {error.message}"))
        for index, result in enumerate(self.results):
            if result.passed:
                continue
            where = self.expectation_location(index) or self.scenario.metadata.name
            line = (
                f"{where}: expect[{index}]: expected {result.expectation.describe()}; "
                f"{result.detail}"
            )
            found.append((self._place(("expect", index), len(self.scenario.steps) + index), line))
        return [line for _, line in sorted(found)]

    def _place(self, loc: tuple[str | int, ...], order: int) -> tuple[int, int, int]:
        """Where `loc` is in the file (line, column), for sorting; without the file, `order`."""
        if self.document is None:
            return (0, 0, order)
        line, column = self.document.locate(loc, at_key=True)
        return (line, column, order)

    def as_json(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario.metadata.name,
            "passed": self.passed,
            "timeline": [
                {
                    "type": event.type.value,
                    "offset_s": _offset_s(offset),
                    "subject": event.subject,
                    "data": event.data,
                }
                for offset, event in self.run.events
            ],
            "expectations": [
                _result_json(r, self.expectation_location(index))
                for index, r in enumerate(self.results)
            ],
            "step_errors": [
                {
                    "step": e.number,
                    "at_s": _offset_s(e.at),
                    "kind": e.kind,
                    "error": e.message,
                    **_located(self.step_location(e)),
                }
                for e in self.run.step_errors
            ],
        }

    def render(self, console: Console) -> None:
        name = self.scenario.metadata.name
        table = Table(title=f"scenario {name}: timeline", title_justify="left", expand=False)
        table.add_column("offset", justify="right", no_wrap=True)
        table.add_column("event", no_wrap=True)
        table.add_column("subject", no_wrap=True)
        table.add_column("data", overflow="fold")
        for offset, event in self.run.events:
            table.add_row(
                f"{_offset_s(offset):g}s", _short(event.type.value), event.subject, _data(event)
            )
        console.print(table)
        for error in self.run.step_errors:
            label = step_label(error.index, error.at, error.kind)
            console.print(Text(f"✗ step {label}: {error.message}", style="red"))
        for result in self.results:
            mark, style = ("✓", "green") if result.passed else ("✗", "red")
            line = f"{mark} {result.expectation.describe()}: {result.detail}"
            console.print(Text(line, style=style))
        verdict = "passed" if self.passed else "FAILED"
        where = f" ({self.document.path})" if self.document is not None else ""
        console.print(Text(f"scenario {name}{where} {verdict}", style="bold"))


def evaluate(scenario: Scenario, run: Run, document: SourceDocument | None = None) -> Report:
    return Report(
        scenario,
        run,
        [
            _check_wellness(e, e.wellness, run.views.get(index))
            if e.wellness is not None
            else _check(e, e.type, run.events)
            for index, e in enumerate(scenario.expect)
        ],
        document,
    )


def _check_wellness(
    expectation: Expectation, check: WellnessCheck, view: WorkerWellness | None
) -> Result:
    if view is None:
        return Result(expectation, passed=False, detail="the view was never read")
    found = {
        "in_shift": view.in_shift,
        "on_break": view.on_break,
        "over_budget": view.over_budget,
        "rotated_off": view.rotated_off_intense,
        "crisis_blocked": view.crisis_blocked,
        "checkin_pending": view.checkin_pending,
        "breaks_taken": view.breaks_taken,
    }
    wrong = [
        f"{name} is {found[name]}"
        for name, wanted in check.wanted().items()
        if name in found and found[name] != wanted
    ]
    exposure = view.exposure_minutes
    low, high = check.exposure_at_least, check.exposure_below
    if low is not None and exposure < low:
        wrong.append(f"exposure is {_minutes(exposure, low)}, below {low:g}")
    if high is not None and exposure >= high:
        wrong.append(f"exposure is {_minutes(exposure, high)}, not below {high:g}")
    passed = not wrong
    detail = "; ".join(wrong) if wrong else f"exposure {_minutes(exposure)} min"
    return Result(expectation, passed=passed, detail=detail, exposure_minutes=exposure)


def _minutes(exposure: float, bound: float | None = None) -> str:
    """Exposure to a tenth of a minute (it comes from real times, milliseconds included), or to
    six significant digits where the tenth would look equal to the bound it missed."""
    shown = round(exposure, 1)
    if bound is not None and shown == bound:
        return f"{exposure:g}"
    return f"{shown:g}"


def _check(
    expectation: Expectation,
    wanted: EventType | None,
    events: list[tuple[timedelta, DomainEvent]],
) -> Result:
    if wanted is None:
        raise ValueError("an event expectation has an event type")
    of_type = [(o, e) for o, e in events if e.type == wanted]
    matching = [
        (offset, event)
        for offset, event in of_type
        if (expectation.subject is None or event.subject == expectation.subject)
        and _contains(event.data, expectation.data)
    ]
    in_time = [
        (o, e)
        for o, e in matching
        if expectation.within is None or _offset_s(o) <= expectation.within.total_seconds()
    ]
    if expectation.negated:
        if not in_time:
            return Result(expectation, passed=True, detail="no such event")
        offset, _ = in_time[0]
        return Result(expectation, passed=False, detail=f"happened at {_offset_s(offset):g}s")
    if in_time:
        offset, _ = in_time[0]
        return Result(expectation, passed=True, detail=f"at {_offset_s(offset):g}s")
    if matching:
        late = _offset_s(matching[0][0])
        return Result(expectation, passed=False, detail=f"happened only at {late:g}s, too late")
    if of_type:
        seen = "; ".join(f"{e.subject} {_compact(e.data)}" for _, e in of_type[:3])
        return Result(
            expectation, passed=False, detail=f"no {_short(wanted.value)} matched: {seen}"
        )
    return Result(expectation, passed=False, detail=f"no {_short(wanted.value)} event at all")


def _result_json(result: Result, location: str | None) -> dict[str, Any]:
    shown: dict[str, Any] = {
        "expect": _expect_json(result.expectation),
        "passed": result.passed,
        "detail": result.detail,
    }
    if result.exposure_minutes is not None:
        shown["exposure_minutes"] = result.exposure_minutes
    return shown | _located(location)


def _located(location: str | None) -> dict[str, str]:
    """`location` for a report that knows the scenario's file."""
    return {} if location is None else {"location": location}


def _expect_json(expectation: Expectation) -> dict[str, Any]:
    """The expectation as written: no `data` when it asks for none, `within` as a duration."""
    if expectation.wellness is not None:
        check = expectation.wellness
        return {
            "wellness": {"worker": check.worker, "at": format_duration(check.at), **check.wanted()}
        }
    shown = expectation.model_dump(mode="json", exclude_none=True, exclude={"within", "data"})
    if expectation.data:
        shown["data"] = expectation.data
    if expectation.within is not None:
        shown["within"] = format_duration(expectation.within)
    return shown


def _contains(data: Any, wanted: Any) -> bool:
    """`wanted` is a subset of `data`: mappings recursively, everything else by equality."""
    if isinstance(wanted, dict):
        return isinstance(data, dict) and all(
            key in data and _contains(data[key], value) for key, value in wanted.items()
        )
    return bool(data == wanted)


def _offset_s(offset: timedelta) -> int:
    """Whole seconds: a step's own work adds milliseconds of real time, which rounding hides."""
    return round(offset.total_seconds())


def _short(event_type: str) -> str:
    return event_type.removeprefix("io.warmline.").removesuffix(".v1")


def step_label(index: int, at: timedelta, kind: str) -> str:
    """How a step is named in a report: its number (from 1, as in `--json`), moment and kind."""
    return f"{index + 1} (at {_offset_s(at):g}s, {kind})"


def _compact(data: dict[str, Any]) -> str:
    shown = {
        key: value
        for key, value in data.items()
        if not isinstance(value, dict)
        and not (isinstance(value, list) and any(isinstance(v, dict) for v in value))
    }
    return ", ".join(f"{key}={value}" for key, value in shown.items())


def _data(event: DomainEvent) -> str:
    text = _compact(event.data)
    return text if len(text) <= DATA_SHOWN else text[: DATA_SHOWN - 1] + "…"
