"""Apache Kafka's jars, resolved once from Maven Central with the machine's Maven into a cache."""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path

from warmline.services.base import ServiceSetupError

# The newest 4.x on Maven Central when this was written (4.5.0 is not published).
KAFKA_VERSION = "4.4.0"
# The broker logs through SLF4J; log4j2 is the binding Kafka's own distribution ships.
_LOG4J_VERSION = "2.24.3"
_SLF4J_VERSION = "2.0.17"
_POM_TEMPLATE = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>io.warmline</groupId>
  <artifactId>kafka-runtime</artifactId>
  <version>1</version>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId>
      <version>{kafka}</version>
    </dependency>
    <dependency>
      <groupId>org.slf4j</groupId><artifactId>slf4j-api</artifactId>
      <version>{slf4j}</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j2-impl</artifactId>
      <version>{log4j}</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId><artifactId>log4j-core</artifactId>
      <version>{log4j}</version>
    </dependency>
  </dependencies>
</project>
"""
_COMPLETE_MARKER = ".complete"
_RESOLVE_LOCK = ".resolve.lock"
_STAGING_PREFIX = ".resolving-"
# The plugin named in full, not by its `dependency:` prefix: resolving a prefix reads the plugin
# group's metadata first, and when that fails (no network) Maven says only "No plugin found for
# prefix 'dependency'", never what it could not fetch from where. 2.8 is the version Maven 3.8
# (Debian's) picks for the prefix, so a ~/.m2 it filled already holds it.
_COPY_DEPENDENCIES = "org.apache.maven.plugins:maven-dependency-plugin:2.8:copy-dependencies"
# The same plugin's list of the jars' paths in the local Maven repository, read when one of them
# turns out damaged.
_BUILD_CLASSPATH = "org.apache.maven.plugins:maven-dependency-plugin:2.8:build-classpath"
_MAVEN_CENTRAL = "https://repo.maven.apache.org/maven2"
_ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")


def cache_dir() -> Path:
    """Where downloaded artefacts live: $WARMLINE_CACHE_DIR, else ~/.cache/warmline."""
    configured = os.environ.get("WARMLINE_CACHE_DIR")
    return Path(configured) if configured else Path.home() / ".cache" / "warmline"


def kafka_classpath() -> str:
    """The broker's classpath, resolving the jars with Maven on first use."""
    lib = cache_dir() / "kafka" / KAFKA_VERSION / "lib"
    if not _usable(lib):
        lib.parent.mkdir(parents=True, exist_ok=True)
        with _resolving(lib.parent):
            # Another process (the other pytest-xdist worker, a second `services up`) may have
            # resolved them while this one waited; replacing its directory would pull the jars
            # from under the broker it is starting.
            if not _usable(lib):
                _resolve(lib)
    return f"{lib}/*"


def _usable(lib: Path) -> bool:
    """Whether `lib` holds a finished resolution whose jars all open as archives.

    The marker alone was trusted for ever: a jar cut short after it was written (a cache filled
    by a warmline that did not yet refuse bad checksums, a disk error) failed every broker start
    with a Java stack trace. Reading each jar's directory costs milliseconds; checking every
    entry's CRC is left to the resolution."""
    if not (lib / _COMPLETE_MARKER).exists():
        return False
    jars = list(lib.glob("*.jar"))
    return bool(jars) and not _damaged(jars, thorough=False)


def _damaged(jars: Iterable[Path], *, thorough: bool) -> list[Path]:
    """The jars that do not open as zip archives or, when `thorough`, fail an entry's CRC."""
    damaged = []
    for jar in jars:
        try:
            with zipfile.ZipFile(jar) as archive:
                if thorough and archive.testzip() is not None:
                    damaged.append(jar)
        except (OSError, EOFError, zipfile.BadZipFile, zlib.error):
            damaged.append(jar)
    return damaged


def _sweep_staging(version_dir: Path) -> None:
    """Remove what resolutions killed mid-way (SIGKILL, a power cut) left: with the lock held,
    no staging directory is in use, and each can hold most of the jars."""
    for leftover in version_dir.glob(f"{_STAGING_PREFIX}*"):
        shutil.rmtree(leftover, ignore_errors=True)


@contextlib.contextmanager
def _resolving(version_dir: Path) -> Iterator[None]:
    """One resolution at a time per Kafka version, across processes."""
    with (version_dir / _RESOLVE_LOCK).open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _maven_errors(output: str) -> str:
    """Maven's own error lines from its output, without the help text that follows them (or the
    output's tail when it printed none)."""
    errors = []
    for line in _ANSI_ESCAPE.sub("", output).splitlines():
        if not line.startswith("[ERROR]"):
            continue
        text = line.removeprefix("[ERROR]").strip()
        if not text:
            break
        errors.append(text.removesuffix(" -> [Help 1]"))
    return "\n".join(errors) or output[-2000:].strip()


def _resolve(lib: Path) -> None:
    mvn = shutil.which("mvn")
    if mvn is None:
        raise ServiceSetupError(
            "Apache Kafka needs Maven to resolve its jars: install it (apt-get install maven), "
            "or use the embedded broker (`warmline services up --embedded`)"
        )
    print(f"resolving Apache Kafka {KAFKA_VERSION} jars into {lib} ...", file=sys.stderr)
    _sweep_staging(lib.parent)
    with tempfile.TemporaryDirectory(prefix=_STAGING_PREFIX, dir=lib.parent) as scratch:
        staging = Path(scratch) / "lib"
        sources = _copy_jars(mvn, Path(scratch), staging)
        damaged = _damaged(sorted(staging.glob("*.jar")), thorough=True)
        if damaged:
            # Maven verifies checksums only while downloading, so a jar its local repository
            # already holds damaged is copied as it is, run after run. Removed there, it is
            # downloaded again, checksum and all.
            for jar in damaged:
                print(
                    f"{jar.name} is damaged in the local Maven repository "
                    f"({sources.get(jar.name, 'not found')}); fetching it again ...",
                    file=sys.stderr,
                )
                if jar.name in sources:
                    sources[jar.name].unlink(missing_ok=True)
            shutil.rmtree(staging)
            _copy_jars(mvn, Path(scratch), staging)
            damaged = _damaged(sorted(staging.glob("*.jar")), thorough=True)
        if damaged:
            raise ServiceSetupError(
                f"Apache Kafka {KAFKA_VERSION}'s jars {', '.join(j.name for j in damaged)} are "
                "still damaged after fetching them again; remove them from the local Maven "
                "repository (~/.m2/repository unless settings.xml names another) and try again"
            )
        (staging / _COMPLETE_MARKER).touch()
        if lib.exists():
            shutil.rmtree(lib)
        staging.rename(lib)


def _copy_jars(mvn: str, scratch: Path, staging: Path) -> dict[str, Path]:
    """Have Maven copy Kafka's runtime jars into `staging`; returns where each came from in the
    local Maven repository, by file name."""
    pom = _POM_TEMPLATE.format(kafka=KAFKA_VERSION, slf4j=_SLF4J_VERSION, log4j=_LOG4J_VERSION)
    (scratch / "pom.xml").write_text(pom)
    classpath = scratch / "classpath.txt"
    completed = subprocess.run(
        [
            mvn,
            "-q",
            "-B",
            "-Dstyle.color=never",
            # A download whose checksum does not match (cut short, garbled by a proxy) fails
            # here and is fetched again next time; Maven's default only warns and keeps it,
            # and the broker would later fail on it with a Java stack trace.
            "--strict-checksums",
            _COPY_DEPENDENCIES,
            _BUILD_CLASSPATH,
            f"-DoutputDirectory={staging}",
            f"-Dmdep.outputFile={classpath}",
            "-DincludeScope=runtime",
        ],
        cwd=scratch,
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        raise ServiceSetupError(
            f"Maven could not fetch Apache Kafka {KAFKA_VERSION}'s jars (from {_MAVEN_CENTRAL}"
            f" unless ~/.m2/settings.xml names a mirror):\n"
            f"{_maven_errors(completed.stdout + completed.stderr)}"
        )
    entries = classpath.read_text().split(os.pathsep) if classpath.exists() else []
    return {Path(entry).name: Path(entry) for entry in entries if entry.strip()}
