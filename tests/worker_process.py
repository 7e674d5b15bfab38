"""`warmline worker` started as a real process by the tests that check it as it ships."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from pathlib import Path

WARMLINE = Path(sys.executable).parent / "warmline"


def dummy_secrets(config: Path) -> dict[str, str]:
    """A value for every `${ENV}` secret `config` names, each its own: two people may not share
    a bearer token (`warmline.config.references`), so one dummy for all would be refused."""
    names = dict.fromkeys(re.findall(r"\$\{([A-Z0-9_]+)\}", config.read_text()))
    return {name: f"dummy-{name.lower()}" for name in names}


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
