"""Apache Kafka's jars, resolved once from Maven Central with the machine's Maven into a cache."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from warmline.errors import ServiceError

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


def cache_dir() -> Path:
    """Where downloaded artefacts live: $WARMLINE_CACHE_DIR, else ~/.cache/warmline."""
    configured = os.environ.get("WARMLINE_CACHE_DIR")
    return Path(configured) if configured else Path.home() / ".cache" / "warmline"


def kafka_classpath() -> str:
    """The broker's classpath, resolving the jars with Maven on first use."""
    lib = cache_dir() / "kafka" / KAFKA_VERSION / "lib"
    if not (lib / _COMPLETE_MARKER).exists():
        _resolve(lib)
    return f"{lib}/*"


def _resolve(lib: Path) -> None:
    mvn = shutil.which("mvn")
    if mvn is None:
        raise ServiceError(
            "Apache Kafka needs Maven to resolve its jars: install it (apt-get install maven), "
            "or use the embedded broker (`warmline services up --embedded`)"
        )
    print(f"resolving Apache Kafka {KAFKA_VERSION} jars into {lib} ...", file=sys.stderr)
    lib.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=lib.parent) as scratch:
        staging = Path(scratch) / "lib"
        pom = _POM_TEMPLATE.format(kafka=KAFKA_VERSION, slf4j=_SLF4J_VERSION, log4j=_LOG4J_VERSION)
        (Path(scratch) / "pom.xml").write_text(pom)
        completed = subprocess.run(
            [
                mvn,
                "-q",
                "-B",
                "dependency:copy-dependencies",
                f"-DoutputDirectory={staging}",
                "-DincludeScope=runtime",
            ],
            cwd=scratch,
            capture_output=True,
            text=True,
            check=False,
        )
        if completed.returncode != 0:
            raise ServiceError(
                f"Maven could not resolve Apache Kafka {KAFKA_VERSION}:\n"
                f"{completed.stdout[-2000:]}{completed.stderr[-2000:]}"
            )
        (staging / _COMPLETE_MARKER).touch()
        if lib.exists():
            shutil.rmtree(lib)
        staging.rename(lib)
