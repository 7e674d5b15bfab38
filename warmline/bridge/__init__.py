"""The inbound bridge: customer messages and HR records from Kafka to Temporal (docs/bridge.md)."""

from warmline.bridge.inbound import (
    DEDUPE_SCOPE,
    MAX_RECORD_BYTES,
    BridgeSettings,
    BridgeStats,
    InboundBridge,
)
from warmline.bridge.shifts import ShiftStore

__all__ = [
    "DEDUPE_SCOPE",
    "MAX_RECORD_BYTES",
    "BridgeSettings",
    "BridgeStats",
    "InboundBridge",
    "ShiftStore",
]
