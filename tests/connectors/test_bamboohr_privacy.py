"""What the BambooHR connector writes to its log about HR's rows: which row and why, not the row."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest

from connectors.bamboohr import BambooHRConnector, BambooHRSettings
from connectors.sdk.connector import ConnectorContext
from tests.connectors.fakes import BAMBOOHR_KEY, FakeBambooHR

SHIFTS = "customWarmlineShifts"


async def test_an_unreadable_shift_row_is_logged_by_id_and_field_not_by_its_values(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An HR admin's own field of the shift table (a note on the absence) and the refused values
    stay out of the WARNING line; the row id, the employee and the wrong field are in it."""
    now = datetime.now(UTC).replace(microsecond=0)
    with FakeBambooHR() as fake:
        readable = fake.add_shift("101", now, now + timedelta(hours=8))
        with fake.lock:
            fake.rows[SHIFTS].append(
                {
                    "id": "77",
                    "employeeId": "102",
                    "customStartsAt": "after her chemotherapy appointment",
                    "customEndsAt": (now + timedelta(hours=8)).isoformat(),
                    "customQueues": "",
                    "customAbsenceNote": "back from sick leave (depression)",
                }
            )
        settings = BambooHRSettings.model_validate(
            {
                "subdomain": fake.subdomain,
                "base_url": fake.url,
                "employees": {"w-ana": "101", "w-ben": "102"},
                "timeout_seconds": 5.0,
            }
        )
        connector = BambooHRConnector(
            settings, ConnectorContext(name="hr", secrets={"api_key": BAMBOOHR_KEY})
        )
        await connector.start()
        try:
            with caplog.at_level(logging.WARNING, logger="connectors.bamboohr"):
                events = await connector.fetch_shifts(now=now)
        finally:
            await connector.stop()

    assert [e.data["shift_id"] for e in events] == [f"bamboohr-{readable}"]
    skipped = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert len(skipped) == 1, caplog.text
    line = skipped[0]
    assert "depression" not in line
    assert "sick leave" not in line
    assert "chemotherapy" not in line
    assert "row 77 (employee 102)" in line
    assert "customStartsAt" in line
