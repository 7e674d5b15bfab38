"""What importing a module pulls in, seen from a fresh interpreter (this one has loaded it all)."""

from __future__ import annotations

import json
import subprocess
import sys


def loaded_by(module: str, watched: tuple[str, ...]) -> list[str]:
    """Those of `watched` that a fresh interpreter has loaded after `import module`."""
    probe = (
        f"import json, sys, {module}\n"
        f"print(json.dumps([m for m in {watched!r} if m in sys.modules]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    loaded: list[str] = json.loads(result.stdout)
    return loaded
