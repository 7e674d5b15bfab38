"""Kafka 4 runs on Java 17+: an older `java` on PATH is named at once, and `dev.py` installs 17."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

import dev
from tests.worker_process import WARMLINE

# What Java 11 says about its version, and about a class built for Java 17.
_JAVA_11 = """#!/bin/sh
if [ "$1" = "-version" ]; then
  echo 'openjdk version "11.0.22" 2024-01-16' >&2
  exit 0
fi
echo 'Error: LinkageError occurred while loading main class kafka.tools.StorageTool' >&2
echo '	java.lang.UnsupportedClassVersionError: kafka/tools/StorageTool has been compiled by a \
more recent version of the Java Runtime (class file version 61.0), this version of the Java \
Runtime only recognizes class file versions up to 55.0' >&2
exit 1
"""


def _java_11_first_on_path(tmp_path: Path) -> str:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    java = bin_dir / "java"
    java.write_text(_JAVA_11)
    java.chmod(0o755)
    return f"{bin_dir}{os.pathsep}{os.environ['PATH']}"


def test_an_older_java_is_named_in_one_line(tmp_path: Path) -> None:
    """Before, the storage format failed with Java's UnsupportedClassVersionError, twice (the
    port-race retry), in an error that did not say which Java was needed."""
    path = _java_11_first_on_path(tmp_path)
    up = subprocess.run(
        [str(WARMLINE), "services", "up", "--only", "kafka", "--state-dir", str(tmp_path / "s")],
        cwd=tmp_path,
        env={**os.environ, "PATH": path},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert up.returncode == 1, up.stderr
    assert up.stderr.startswith(
        f"error: Apache Kafka needs Java 17+, but {tmp_path / 'bin' / 'java'} is Java 11: "
    ), up.stderr
    assert len(up.stderr.splitlines()) == 1, up.stderr
    assert "UnsupportedClassVersionError" not in up.stderr


def test_dev_py_installs_java_17_over_an_older_java(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`python3 dev.py test` on a machine whose `java` is 11 (Ubuntu 22.04's default): before,
    it counted Java as present and every Kafka start of the suite failed."""
    monkeypatch.setenv("PATH", _java_11_first_on_path(tmp_path))
    installed: list[list[str]] = []
    monkeypatch.setattr(dev, "apt_install", installed.append)
    dev.ensure_system_tools()
    assert any("openjdk-17-jre-headless" in packages for packages in installed), installed
