"""Real local services — the Temporal dev server, Apache Kafka (or the embedded broker), Redis.

Tests, development and `warmline demo` run against these; nothing here is a fake.
"""

from warmline.services.base import RunningService, ServiceName
from warmline.services.binaries import (
    gave_up_by_test_server,
    temporal_cli_path,
    temporal_test_server_path,
)
from warmline.services.detached import default_state_dir, start_detached, stop_detached
from warmline.services.kafka import answers_metadata
from warmline.services.local import ALL_SERVICES, Endpoints, LocalServices, parse_only
from warmline.services.temporal import answers_clients

__all__ = [
    "ALL_SERVICES",
    "Endpoints",
    "LocalServices",
    "RunningService",
    "ServiceName",
    "answers_clients",
    "answers_metadata",
    "default_state_dir",
    "gave_up_by_test_server",
    "parse_only",
    "start_detached",
    "stop_detached",
    "temporal_cli_path",
    "temporal_test_server_path",
]
