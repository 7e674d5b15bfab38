"""BambooHR: wellness exposure and rotations out as table rows, shift schedules in as events.

The subset of BambooHR's API used, under `{base_url}/api/gateway.php/{subdomain}/v1` (HTTP Basic
auth: the secret `api_key` as user name, `x` as password; `Accept: application/json`, without which
BambooHR answers XML):

- `POST /employees/{employeeId}/tables/{table}` adds a row to an employee's (custom) table:
  - `exposure_table` (default `customWarmlineExposure`) of the `team_employee` record (an HR
    service record of the team), for `wellness.exposure.updated`: at most one team-level row per
    `report_period`, over the workers with a figure in that period (each one's latest), sent
    `report_delay` after the period ends and only when at least `min_group_size` of them have
    exposure (a shift's start reports 0, which would hide nobody): `date` (YYYY-MM-DD, the
    period's start), `customRecordedAt` (its end), `customWorkers`, `customExposureMinutes` (the
    mean), `customBudgetMinutes`,
    `customWarmlineEventId` (an id of the period). No individual's exposure is ever sent;
    without `team_employee`, exposure is not sent at all;
  - `rotation_table` (default `customWarmlineRotation`) of each worker's employee record, for
    `wellness.budget.exceeded`, `wellness.rotation.started` and `wellness.rotation.ended`: `date`,
    `customEvent` (`budget_exceeded`, `rotation_started`, `rotation_ended`), `customQueues`
    (comma-separated), `customUntil`, `customWarmlineEventId` (the fact, not the minutes).
- `GET /employees/{employeeId}/tables/{table}` reads that employee's rows before a row is sent
  again after a failure that may not have been one (a timeout, a 5xx, an answer that did not
  parse): a row whose `customWarmlineEventId` is there already is not added twice.
- `GET /employees/all/tables/{shift_table}` (default `customWarmlineShifts`) reads every
  employee's rows of a custom shift table: `id`, `employeeId`, `customStartsAt`, `customEndsAt`
  (ISO 8601 with a zone) and `customQueues` (comma-separated queue names, empty for all).

One row per period, never one per delivered batch: two rows a batch apart would differ by one
worker's update, and their difference would be that worker's exposure. For the same reason a
period takes no figures once its row is due, so no two rows ever describe one period, and a
stopped connector drops the periods still open (a restarted one takes figures only for periods
not yet due).

Only these figures leave warmline: team-level mean exposure and budgets (suppressed below
`min_group_size`: the deployment's `wellness.min_group_size`, or the connector's own setting when
that is larger), budget breaches, rotation queues and times. Check-ins (moods, notes), breaks and
individual exposure are not sent, and no conversation content ever is. Workers map to
employees through `settings.employees` (worker id → BambooHR employee id); events of a worker not
in it are skipped with a warning, as is a shift row of an employee not in it.

Shifts become `io.warmline.inbound.shift.scheduled.v1` events on the inbound HR topic. A process
publishes a row again only once its content changed since it last published it (a moved shift).
An event's id is derived from the row and its content (`event_id`), so what a restarted process
re-sends carries the same ids, which consumers drop; once this process has published another
version of the row, from the pull's time too: a shift moved back to where it was must not carry
its first version's id, which the bridge's dedupe drops for seven days, leaving warmline with the
moved shift.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import httpx
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    PositiveFloat,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from connectors.http import http_url, parse_body, send
from connectors.sdk.connector import (
    Connector,
    ConnectorContext,
    Event,
    PermanentError,
    handles,
)
from warmline.config.durations import Duration
from warmline.errors import WarmlineError
from warmline.events.catalog import (
    InboundShift,
    WellnessBudgetExceeded,
    WellnessExposureUpdated,
    WellnessRotationEnded,
    WellnessRotationStarted,
)
from warmline.events.envelope import DomainEvent, event_id
from warmline.events.publisher import EventPublisher
from warmline.events.types import INBOUND_HR_TOPIC, EventType

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.bamboohr.com"
ERROR_HEADER = "X-BambooHR-Error-Message"
"""Where BambooHR explains a refusal; its error bodies are often empty."""
_PUBLISHED_MEMORY = 50_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
"""Periods start at multiples of `report_period` since this: `1h` on the hour, `1d` at midnight."""
_REPORT_RETRY = timedelta(minutes=1)
_SUBDOMAIN = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")


class BambooHRSettings(BaseModel):
    """The `settings:` of a `type: bamboohr` connector."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    subdomain: str
    """The company's BambooHR subdomain (`acme` for acme.bamboohr.com)."""
    base_url: str = DEFAULT_BASE_URL
    employees: dict[str, str] = Field(default_factory=dict)
    """Worker id (as in warmline's configuration) → BambooHR employee id."""
    exposure_table: str = "customWarmlineExposure"
    team_employee: str | None = None
    """BambooHR employee id (an HR service record) whose exposure table takes the team's rows;
    exposure is not sent when unset."""
    min_group_size: int | None = Field(default=None, ge=3)
    """A larger minimum group for team rows than the deployment's `wellness.min_group_size`; the
    larger of the two applies, so this can raise the deployment's minimum, never lower it."""
    rotation_table: str = "customWarmlineRotation"
    shift_table: str = "customWarmlineShifts"
    timeout_seconds: PositiveFloat = 10.0
    report_period: Duration = timedelta(hours=1)
    """Team exposure goes out once per period, over the workers with a figure in it; periods
    start at multiples of it since 1970-01-01 UTC (`1h` on the hour, `1d` at midnight UTC)."""
    report_delay: Duration = timedelta(minutes=5)
    """How long after its end a period's row waits for figures still on their way; a figure that
    arrives later is left out rather than sent in a second row for the period."""
    pull_interval: Duration | None = None
    """Pull shifts this often while the connector runs (e.g. `15m`); never when unset."""
    pull_horizon: Duration = timedelta(days=7)
    """Shifts starting further ahead than this are left for a later pull."""
    kafka_bootstrap: str | None = None
    """The broker the pulled shifts are published to; needed with `pull_interval`."""
    inbound_topic: str = INBOUND_HR_TOPIC

    # Each of these was accepted as written and then failed every request or every pull.

    @field_validator("subdomain")
    @classmethod
    def _one_label(cls, subdomain: str) -> str:
        if not _SUBDOMAIN.fullmatch(subdomain):
            label = re.split(r"[./]", subdomain.removeprefix("https://"))[0]
            hint = f": did you mean {label!r}?" if label and _SUBDOMAIN.fullmatch(label) else ""
            raise ValueError(
                f"{subdomain!r} is not a BambooHR subdomain: write only the company's part, "
                f"`acme` for acme.bamboohr.com{hint}"
            )
        return subdomain

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        return http_url(url, credentials="the API key goes in `secrets:` as `api_key`")

    @field_validator("kafka_bootstrap")
    @classmethod
    def _bootstrap(cls, value: str | None) -> str | None:
        from kafka.cluster import collect_hosts

        if value is None:
            return None
        wanted = f"{value!r} is not host:port, comma-separated (e.g. kafka.internal:9092)"
        try:
            servers = collect_hosts(value)
        except ValueError:
            raise ValueError(f"{wanted}: a port is not a number") from None
        for host, port, _ in servers:
            if not host:
                raise ValueError(f"{wanted}: a server has no host")
            if not 0 < port < 2**16:
                raise ValueError(f"{wanted}: port {port} is out of range")
        return value

    @field_validator("inbound_topic")
    @classmethod
    def _topic(cls, topic: str) -> str:
        from kafka.util import ensure_valid_topic_name

        ensure_valid_topic_name(topic)
        return topic

    @model_validator(mode="after")
    def _report_period_is_positive(self) -> BambooHRSettings:
        if self.report_period <= timedelta(0):
            raise ValueError("report_period must be longer than 0s")
        if self.report_delay < timedelta(0):
            raise ValueError("report_delay cannot be negative")
        return self

    @model_validator(mode="after")
    def _pull_needs_a_broker(self) -> BambooHRSettings:
        if self.pull_interval is not None:
            if self.pull_interval <= timedelta(0):
                raise ValueError("pull_interval must be longer than 0s")
            if not self.kafka_bootstrap:
                raise ValueError("pull_interval needs kafka_bootstrap to publish the shifts to")
        return self


class _ShiftRow(BaseModel):
    """One row of the shift table as BambooHR returns it (every value a string)."""

    model_config = ConfigDict(extra="ignore")

    id: str
    employee_id: str = Field(alias="employeeId")
    starts_at: AwareDatetime = Field(alias="customStartsAt")
    ends_at: AwareDatetime = Field(alias="customEndsAt")
    queues: str | None = Field(default=None, alias="customQueues")


_ROWS = TypeAdapter(list[dict[str, Any]])


class BambooHRConnector(Connector):
    """Wellness figures to BambooHR tables, shifts from BambooHR (see the module docstring)."""

    type_name: ClassVar[str] = "bamboohr"
    Settings: ClassVar[type[BaseModel]] = BambooHRSettings
    required_secrets: ClassVar[tuple[str, ...]] = ("api_key",)
    settings: BambooHRSettings

    def __init__(self, settings: BaseModel, context: ConnectorContext) -> None:
        super().__init__(settings, context)
        self._key = self.header_secret("api_key")
        asked = self.settings.min_group_size
        if asked is not None and asked < context.min_group_size:
            log.warning(
                "%s: settings.min_group_size %s is below wellness.min_group_size %d, which applies",
                context.name,
                asked,
                context.min_group_size,
            )
        self._workers = {employee: worker for worker, employee in self.settings.employees.items()}
        self._client: httpx.AsyncClient | None = None
        self._publisher: EventPublisher | None = None
        self._puller: asyncio.Task[None] | None = None
        self._reporter: asyncio.Task[None] | None = None
        self._periods: dict[datetime, dict[str, Event[WellnessExposureUpdated]]] = {}
        """Per period not yet sent (by its start), each worker's latest exposure event in it."""
        self._open_from = self._first_open(datetime.now(UTC))
        """The start of the earliest period still taking figures; `report_exposure` moves it."""
        self._published: dict[str, str] = {}
        """The content (`_content`) this process last published for each shift, by shift id,
        least recently published first."""

    @property
    def min_group_size(self) -> int:
        """The fewest workers a team row may describe: the deployment's `wellness.min_group_size`
        or `settings.min_group_size`, whichever is larger."""
        return max(self.context.min_group_size, self.settings.min_group_size or 0)

    @property
    def api(self) -> str:
        return f"/api/gateway.php/{self.settings.subdomain}/v1"

    async def start(self) -> None:
        self._client = httpx.AsyncClient(
            base_url=self.settings.base_url,
            auth=httpx.BasicAuth(self._key, "x"),
            headers={"Accept": "application/json"},
            timeout=self.settings.timeout_seconds,
        )
        if self.settings.pull_interval is not None and self.settings.kafka_bootstrap:
            self._publisher = await asyncio.to_thread(
                EventPublisher.connect,
                self.settings.kafka_bootstrap,
                topic=self.settings.inbound_topic,
            )
            self._puller = asyncio.create_task(self._pull_every(self.settings.pull_interval))
        if self.settings.team_employee is not None:
            # Periods already due may have had their row from a process before this one.
            self._open_from = self._first_open(datetime.now(UTC))
            self._reporter = asyncio.create_task(self._report_every())

    async def stop(self) -> None:
        if self._reporter is not None:
            self._reporter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reporter
            self._reporter = None
        # Sending an open period's row now could pair it with a later process's for the period.
        self._periods.clear()
        if self._puller is not None:
            self._puller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._puller
            self._puller = None
        if self._publisher is not None:
            await asyncio.to_thread(self._publisher.close)
            self._publisher = None
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            raise RuntimeError("BambooHRConnector: start() first")
        return self._client

    # --- wellness out ----------------------------------------------------------------------------

    @handles(EventType.WELLNESS_EXPOSURE_UPDATED, batch=True)
    async def on_exposure(self, events: list[Event[WellnessExposureUpdated]]) -> None:
        """Keep each worker's latest figure per period; `report_exposure` sends the rows."""
        if self.settings.team_employee is None:
            return
        late = 0
        for event in events:
            start = self._period_of(event.time)
            if start < self._open_from:
                late += 1
                continue
            figures = self._periods.setdefault(start, {})
            known = figures.get(event.subject)
            if known is None or (event.time, event.id) >= (known.time, known.id):
                figures[event.subject] = event
        if late:
            log.info(
                "%s: %d exposure figure(s) left out: their period's row was due already",
                self.context.name,
                late,
            )

    async def report_exposure(self, *, now: datetime | None = None) -> list[dict[str, str]]:
        """Send the row of every period `report_delay` past its end; return the rows sent.

        A period's row covers the workers with a figure in it and goes out only when they are at
        least `min_group_size`; either way the period takes no more figures. A row BambooHR
        refuses is logged and dropped; one it cannot take now (`RetryableError`) stays for the
        next call, which sends the same row under the same id unless BambooHR stored it after
        all (a timeout whose answer was lost).
        """
        current = now or datetime.now(UTC)
        # Closed before the first await, so no figure joins a period while its row is sent.
        self._open_from = max(self._open_from, self._first_open(current))
        team = self.settings.team_employee
        sent: list[dict[str, str]] = []
        for start in sorted(s for s in self._periods if s < self._open_from):
            row = self._team_row(start, self._periods[start])
            if row is not None and team is not None:
                try:
                    await self._add_once(team, self.settings.exposure_table, row)
                    sent.append(row)
                except PermanentError as error:
                    # Sending it again would be refused again; the next period has its own row.
                    log.error("%s: team exposure not recorded: %s", self.context.name, error)
            del self._periods[start]
        return sent

    def _team_row(
        self, start: datetime, figures: dict[str, Event[WellnessExposureUpdated]]
    ) -> dict[str, str] | None:
        data = [e.data for e in figures.values()]
        # A shift's start reports 0: two such figures beside one worker's would make the mean
        # that worker's exposure over three.
        working = sum(d.exposure_minutes > 0 for d in data)
        if working < self.min_group_size:
            log.info(
                "%s: exposure from %s not sent: %d worker(s) with exposure, fewer than "
                "min_group_size %d",
                self.context.name,
                start.isoformat(),
                working,
                self.min_group_size,
            )
            return None
        return {
            "date": start.date().isoformat(),
            "customRecordedAt": (start + self.settings.report_period).isoformat(),
            "customWorkers": str(len(data)),
            "customExposureMinutes": _minutes(sum(d.exposure_minutes for d in data) / len(data)),
            "customBudgetMinutes": _minutes(sum(d.budget_minutes for d in data) / len(data)),
            "customWarmlineEventId": event_id(
                f"bamboohr/{self.settings.subdomain}",
                f"exposure/{self.settings.team_employee}/{start.isoformat()}",
            ),
        }

    def _period_of(self, moment: datetime) -> datetime:
        period = self.settings.report_period
        return _EPOCH + (moment - _EPOCH) // period * period

    def _first_open(self, now: datetime) -> datetime:
        """The start of the earliest period whose row is not due at `now`."""
        s = self.settings
        return self._period_of(now - s.report_period - s.report_delay) + s.report_period

    async def _report_every(self) -> None:
        retry_at: datetime | None = None
        while True:
            now = datetime.now(UTC)
            s = self.settings
            wake = self._first_open(now) + s.report_period + s.report_delay
            if retry_at is not None:
                wake = min(wake, retry_at)
            await asyncio.sleep(max(0.0, (wake - now).total_seconds()))
            retry_at = None
            try:
                sent = await self.report_exposure()
                if sent:
                    log.info("%s: %d team exposure row(s) sent", self.context.name, len(sent))
            except WarmlineError as error:
                retry_at = datetime.now(UTC) + _REPORT_RETRY
                log.warning(
                    "%s: team exposure not sent, again in %s: %s",
                    self.context.name,
                    _REPORT_RETRY,
                    error,
                )
            # The loop outlives any one failure; the next period's row must still go out.
            except Exception:
                retry_at = datetime.now(UTC) + _REPORT_RETRY
                log.exception("%s: team exposure report failed unexpectedly", self.context.name)

    @handles(
        EventType.WELLNESS_BUDGET_EXCEEDED,
        EventType.WELLNESS_ROTATION_STARTED,
        EventType.WELLNESS_ROTATION_ENDED,
    )
    async def on_rotation(
        self,
        event: Event[WellnessBudgetExceeded | WellnessRotationStarted | WellnessRotationEnded],
    ) -> None:
        """A row in the rotation table: budget exceeded, rotated off queues, back on them."""
        row = {"date": event.time.date().isoformat(), "customWarmlineEventId": event.id}
        data = event.data
        if isinstance(data, WellnessBudgetExceeded):
            # The fact of the breach, not the person's minutes.
            row |= {"customEvent": "budget_exceeded"}
        elif isinstance(data, WellnessRotationStarted):
            row |= {
                "customEvent": "rotation_started",
                "customQueues": ",".join(data.off_queues),
                "customUntil": data.until.isoformat(),
            }
        else:
            row |= {"customEvent": "rotation_ended", "customQueues": ",".join(data.queues)}
        await self._add_row(event.subject, self.settings.rotation_table, row)

    async def _add_row(self, worker: str, table: str, row: dict[str, str]) -> None:
        employee = self.settings.employees.get(worker)
        if employee is None:
            log.warning(
                "%s: worker %s has no BambooHR employee id in settings.employees; skipped",
                self.context.name,
                worker,
            )
            return
        await self._add_once(employee, table, row)

    async def _add_once(self, employee: str, table: str, row: dict[str, str]) -> None:
        """POST the row, unless an earlier POST of it that failed without a refusal (its answer
        lost) stored it after all: then it is among the employee's rows already."""
        url = f"{self.api}/employees/{employee}/tables/{table}"
        marker = row["customWarmlineEventId"]
        in_doubt = self.context.in_doubt
        mark = f"row:{employee}:{table}:{marker}"
        if await in_doubt.holds(mark):
            what = f"read the {table} rows of employee {employee}"
            response = await send(self.client, "GET", url, what=what, error_header=ERROR_HEADER)
            stored = parse_body(response, _ROWS, what)
            if any(r.get("customWarmlineEventId") == marker for r in stored):
                log.info(
                    "%s: the %s row %s is stored already (an earlier answer was lost)",
                    self.context.name,
                    table,
                    marker,
                )
                await in_doubt.clear(mark)
                return
        # Marked before the POST and cleared once answered: a POST that failed without a refusal
        # leaves the mark in Redis, so the next attempt, in this process or another, reads first.
        await in_doubt.mark(mark)
        await send(
            self.client,
            "POST",
            url,
            what=f"add a {table} row for employee {employee}",
            error_header=ERROR_HEADER,
            json=row,
        )
        await in_doubt.clear(mark)

    # --- shifts in -------------------------------------------------------------------------------

    async def fetch_shifts(self, *, now: datetime | None = None) -> list[DomainEvent]:
        """The shift table's current and coming shifts (within `pull_horizon`) as events."""
        current = now or datetime.now(UTC)
        table = self.settings.shift_table
        what = f"read the {table} table"
        response = await send(
            self.client,
            "GET",
            f"{self.api}/employees/all/tables/{table}",
            what=what,
            error_header=ERROR_HEADER,
        )
        events: list[DomainEvent] = []
        for raw in parse_body(response, _ROWS, what):
            try:
                row = _ShiftRow.model_validate(raw)
            except ValidationError as error:
                log.warning(
                    "%s: %s row %s (employee %s) skipped: %s",
                    self.context.name,
                    table,
                    _printed(raw.get("id")),
                    _printed(raw.get("employeeId")),
                    _unreadable_fields(error),
                )
                continue
            worker = self._workers.get(row.employee_id)
            if worker is None or row.ends_at <= current:
                continue
            if row.starts_at > current + self.settings.pull_horizon:
                continue
            events.append(self._shift_event(row, worker, current))
        return events

    async def pull_shifts(self, *, now: datetime | None = None) -> list[DomainEvent]:
        """Fetch the shifts and publish those this process has not published as they are now
        (new, or changed since); return those."""
        if self._publisher is None:
            if not self.settings.kafka_bootstrap:
                raise RuntimeError("pull_shifts needs settings.kafka_bootstrap")
            self._publisher = await asyncio.to_thread(
                EventPublisher.connect,
                self.settings.kafka_bootstrap,
                topic=self.settings.inbound_topic,
            )
        fresh = [
            e
            for e in await self.fetch_shifts(now=now)
            if self._published.get(e.data["shift_id"]) != _content(e.data)
        ]
        if fresh:
            await asyncio.to_thread(self._publisher.publish, fresh)
        for event in fresh:
            shift_id = event.data["shift_id"]
            self._published.pop(shift_id, None)
            self._published[shift_id] = _content(event.data)
        while len(self._published) > _PUBLISHED_MEMORY:
            del self._published[next(iter(self._published))]
        return fresh

    async def _pull_every(self, interval: timedelta) -> None:
        while True:
            try:
                published = await self.pull_shifts()
                if published:
                    log.info("%s: %d shift(s) published", self.context.name, len(published))
            except WarmlineError as error:
                log.warning(
                    "%s: shift pull failed, next in %s: %s", self.context.name, interval, error
                )
            # The loop outlives any one failure; the next pull may well succeed.
            except Exception:
                log.exception("%s: shift pull failed unexpectedly", self.context.name)
            await asyncio.sleep(interval.total_seconds())

    def _shift_event(self, row: _ShiftRow, worker: str, now: datetime) -> DomainEvent:
        queues = [q.strip() for q in (row.queues or "").split(",") if q.strip()]
        data = InboundShift(
            worker_id=worker,
            shift_id=f"bamboohr-{row.id}",
            starts_at=row.starts_at,
            ends_at=row.ends_at,
            queues=queues,
        )
        shape = data.model_dump(mode="json")
        content = f"{row.starts_at.isoformat()}|{row.ends_at.isoformat()}|{','.join(queues)}"
        step = f"shift/{row.id}/{content}"
        known = self._published.get(data.shift_id)
        if known is not None and known != _content(shape):
            # Changed since this process published it: the content may be an earlier version's
            # (a shift moved back), whose event consumers would drop as a duplicate.
            step += f"/{now.isoformat()}"
        return DomainEvent(
            id=event_id(f"bamboohr/{self.settings.subdomain}", step),
            type=EventType.INBOUND_SHIFT_SCHEDULED,
            source=f"/connectors/bamboohr/{self.context.name}",
            subject=worker,
            time=now,
            data=shape,
        )


def _content(shift: dict[str, Any]) -> str:
    """What a shift event says about its shift (its times and queues), to tell a change."""
    return f"{shift['starts_at']}|{shift['ends_at']}|{','.join(shift['queues'])}"


def _minutes(value: float) -> str:
    return f"{value:.1f}"


def _printed(value: object) -> str:
    """A row's id or employee id for a log line: short, on one line."""
    text = " ".join(str(value).split()) if value is not None else "(none)"
    return text[:64]


def _unreadable_fields(error: ValidationError) -> str:
    """Which fields of a shift row are wrong and why, without their values.

    The row is HR's: the table may hold fields an HR admin added (a reason for leave, a note),
    and pydantic's own message quotes the values it refused, so neither goes into the log.
    """
    return "; ".join(
        f"{'.'.join(str(part) for part in problem['loc']) or 'row'}: {problem['msg']}"
        for problem in error.errors(include_input=False, include_url=False)
    )
