"""The connector SDK: write a connector as typed handlers; the runner does delivery.

See docs/connectors.md for a complete connector in about thirty lines.
"""

from connectors.sdk.connector import (
    Connector,
    ConnectorContext,
    ConnectorError,
    Event,
    NoSettings,
    PermanentError,
    RetryableError,
    handles,
)
from connectors.sdk.runner import ConnectorRunner, RunnerSettings, RunnerStats

__all__ = [
    "Connector",
    "ConnectorContext",
    "ConnectorError",
    "ConnectorRunner",
    "Event",
    "NoSettings",
    "PermanentError",
    "RetryableError",
    "RunnerSettings",
    "RunnerStats",
    "handles",
]
