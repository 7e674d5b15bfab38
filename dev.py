#!/usr/bin/env python3
"""Everyday tasks with nothing but Python 3.11+: set up, run the main job, run the checks.

    python3 dev.py demo    set up .venv and run the main job, `warmline demo` (arguments pass on)
    python3 dev.py test    set up .venv and system services, then lint, type check and test
    python3 dev.py lint    ruff and mypy only

Only the standard library is used here, because this script is what installs everything else.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = Path(os.environ.get("WARMLINE_VENV", ROOT / ".venv"))
# Every version the set-up installs, so that a fresh machine and CI get what the suite last passed
# with; a new release of a linter or a client library cannot turn CI red on its own.
CONSTRAINTS = ROOT / "constraints.txt"
BIN = VENV / "bin"
TYPED_PACKAGES = ["warmline", "workflows", "activities", "connectors", "bench", "tests"]
# Debian packages the test suite needs: the real Redis server and Java 17+ with Maven for Kafka.
SYSTEM_TOOLS = {"redis-server": "redis-server", "java": "openjdk-17-jre-headless", "mvn": "maven"}
MIN_JAVA_RELEASE = 17


def run(*args: str | Path, env: dict[str, str] | None = None) -> None:
    printable = " ".join(str(a) for a in args)
    print(f"+ {printable}", flush=True)
    completed = subprocess.run([str(a) for a in args], cwd=ROOT, env=env, check=False)
    if completed.returncode != 0:
        sys.exit(completed.returncode)


def has_pip(python: Path) -> bool:
    """Whether `python` runs and has pip: a venv whose creation failed at ensurepip (Debian
    without python3-venv) has an interpreter but no pip, and every later set-up would fail at
    `pip install` in it rather than make it again."""
    try:
        completed = subprocess.run(
            [str(python), "-m", "pip", "--version"], capture_output=True, timeout=120, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return completed.returncode == 0


def ensure_venv() -> None:
    if not has_pip(BIN / "python"):
        # `--clear`: what a failed creation left (an interpreter without pip) is made again.
        try:
            subprocess.run([sys.executable, "-m", "venv", "--clear", str(VENV)], check=True)
        except subprocess.CalledProcessError:
            # Debian splits venv out of the interpreter package.
            apt_install(["python3-venv"])
            run(sys.executable, "-m", "venv", "--clear", VENV)
    stamp = VENV / ".warmline-installed"
    inputs = (ROOT / "pyproject.toml").read_bytes() + CONSTRAINTS.read_bytes()
    digest = hashlib.sha256(inputs).hexdigest()
    if not stamp.exists() or stamp.read_text() != digest:
        run(BIN / "python", "-m", "pip", "install", "--quiet", "--upgrade", "pip")
        run(BIN / "python", "-m", "pip", "install", "--quiet", "-e", ".[dev]", "-c", CONSTRAINTS)
        stamp.write_text(digest)


def ensure_node_packages() -> None:
    """`npm ci` for the TypeScript reference connector, whose tests run it under Node."""
    package = ROOT / "connectors" / "examples" / "ts-connector"
    stamp = package / "node_modules" / ".warmline-installed"
    digest = hashlib.sha256((package / "package-lock.json").read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text() == digest:
        return
    npm = shutil.which("npm")
    if shutil.which("node") is None or npm is None:
        message = f"Node 20+ with npm is needed for {package.relative_to(ROOT)} and its tests"
        if os.environ.get("CI"):
            sys.exit(f"missing node/npm: {message}")
        print(f"warning: {message}; its tests will fail", file=sys.stderr)
        return
    print(f"+ npm ci --silent  (in {package.relative_to(ROOT)})", flush=True)
    if subprocess.run([npm, "ci", "--silent"], cwd=package, check=False).returncode != 0:
        sys.exit(f"npm ci failed in {package.relative_to(ROOT)}")
    stamp.write_text(digest)


def apt_install(packages: list[str]) -> None:
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        sys.exit(f"missing system packages {packages}; install them (e.g. apt-get install ...)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    run("apt-get", "update", "-qq", env=env)
    run("apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages, env=env)


def java_release(java: str) -> int | None:
    """The feature release (8, 11, 17, ...) `java -version` names, None when it names none.

    As `warmline.services.kafka.java_release` reads it: dev.py runs before the package and its
    virtual environment exist, so it cannot import it."""
    try:
        completed = subprocess.run(
            [java, "-version"], capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    found = re.search(r'version "(?:1\.)?(\d+)', completed.stderr + completed.stdout)
    return int(found.group(1)) if found else None


def missing_system_packages() -> list[str]:
    """The Debian packages of SYSTEM_TOOLS to install: a tool not on PATH, or a Java older than
    Kafka's 17 (Ubuntu 22.04's default is 11), which would fail only once the broker starts."""
    missing = [pkg for tool, pkg in SYSTEM_TOOLS.items() if shutil.which(tool) is None]
    java = shutil.which("java")
    release = java_release(java) if java else None
    if release is not None and release < MIN_JAVA_RELEASE:
        missing.append(SYSTEM_TOOLS["java"])
    return missing


def ensure_system_tools() -> None:
    missing = missing_system_packages()
    if missing:
        apt_install(missing)


def lint() -> None:
    run(BIN / "ruff", "check", ".")
    run(BIN / "ruff", "format", "--check", ".")
    run(BIN / "mypy", "--strict", *TYPED_PACKAGES)


def main(argv: list[str]) -> None:
    task = argv[0] if argv else "test"
    extra = argv[1:]
    if task == "demo":
        ensure_venv()
        run(BIN / "warmline", "demo", *extra)
    elif task == "lint":
        ensure_venv()
        lint()
    elif task == "test":
        ensure_venv()
        ensure_system_tools()
        ensure_node_packages()
        lint()
        # Two pytest-xdist workers, each with its own set of services: the suite spends about half
        # its time waiting on them, so two workers on CI's two cores halve its wall time. A file's
        # tests stay on one worker, in order, and its module fixtures start once. `-n 0` after
        # `dev.py test` runs them in this process. The slowest tests are in every run's log: the
        # suite must stay well under 15 minutes in CI.
        run(BIN / "pytest", "-n", "2", "--dist", "loadfile", "--durations=15", *extra)
    else:
        sys.exit(f"unknown task {task!r}; use demo, test or lint")


if __name__ == "__main__":
    main(sys.argv[1:])
