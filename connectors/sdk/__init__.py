"""The connector SDK: write a connector as typed handlers; the runner (`connectors.sdk.runner`)
does delivery.

See docs/connectors.md for a complete connector in about thirty lines.
"""

from connectors.sdk.connector import (
    Connector,
    ConnectorContext,
    ConnectorError,
    Event,
    InvalidSecretError,
    NoSettings,
    PermanentError,
    RetryableError,
    handles,
)

__all__ = [
    "Connector",
    "ConnectorContext",
    "ConnectorError",
    "Event",
    "InvalidSecretError",
    "NoSettings",
    "PermanentError",
    "RetryableError",
    "handles",
]
