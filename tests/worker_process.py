"""`warmline worker` started as a real process by the tests that check it as it ships."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from pathlib import Path

WARMLINE = Path(sys.executable).parent / "warmline"


def secret_names(path: Path) -> list[str]:
    """Every `${NAME}` referenced in a file."""
    return re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", path.read_text(encoding="utf-8"))


def dummy_secrets(config: Path) -> dict[str, str]:
    """A value for every `${ENV}` secret `config` names, each its own: two people may not share
    a bearer token (`warmline.config.references`), so one dummy for all would be refused."""
    return {name: f"dummy-{name.lower()}" for name in dict.fromkeys(secret_names(config))}


def start_worker(
    args: list[str], *, secrets_in: Path, topic: str
) -> tuple[subprocess.Popen[str], list[str]]:
    """`warmline worker ARGS` once it says it is ready (or has exited), and what it said on
    stderr. Every `${ENV}` secret the configuration `secrets_in` names is set to a dummy."""
    secrets = dummy_secrets(secrets_in)
    process = subprocess.Popen(
        [str(WARMLINE), "worker", *args],
        env={**os.environ, **secrets, "WARMLINE_EVENTS_TOPIC": topic},
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    said: list[str] = []
    for line in process.stderr:
        said.append(line)
        if "worker ready" in line:
            # Keep draining: a full stderr pipe would block the worker's logging.
            threading.Thread(target=lambda: said.extend(process.stderr or []), daemon=True).start()
            break
    return process, said
