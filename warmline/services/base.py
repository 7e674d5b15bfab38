"""What every local service has in common once it is running."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from warmline.errors import ServiceError
from warmline.services.process import ServiceProcess


class ServiceSetupError(ServiceError):
    """A service cannot start on this machine as it is set up (a tool missing, a download that
    failed): unlike a lost port race, trying again at once would only fail the same way, slowly."""


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
