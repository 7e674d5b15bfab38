"""What every local service has in common once it is running."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from warmline.services.process import ServiceProcess


class ServiceName(StrEnum):
    """The services warmline runs against."""

    TEMPORAL = "temporal"
    KAFKA = "kafka"
    REDIS = "redis"


@dataclass
class RunningService:
    """A started, ready service: its name, the address clients use, and its process."""

    name: ServiceName
    address: str
    process: ServiceProcess
