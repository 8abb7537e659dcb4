"""Apache Kafka's broker as Maven artifacts, resolved once into a cache outside the work tree.

The pinned version's jars (org.apache.kafka:kafka_2.13 and kafka-tools, with their runtime
dependencies) are copied by `mvn dependency:copy-dependencies` on this package's pom.xml into
``$XDG_CACHE_HOME/vagus/kafka-<version>/libs`` (default ~/.cache). Nothing is downloaded from
anywhere but the Maven repositories Maven is configured with, and nothing is built. A marker
file written last makes an interrupted fetch start again rather than run half a classpath; it
holds a digest of the version and pom.xml, so a changed pom fetches again.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

from stream.errors import BrokerError

KAFKA_VERSION = "4.4.0"
POM = Path(__file__).with_name("pom.xml")
_COMPLETE = ".complete"
#: resolving ~100 jars the first time on a slow link; later runs only check the marker
_FETCH_TIMEOUT_S = 900.0


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "vagus"


def java_missing() -> str | None:
    """One line on what real Kafka needs and this machine lacks, or None when java 17+ is here."""
    java = shutil.which("java")
    if java is None:
        return "real Kafka needs a Java runtime (JDK 17 or newer) on PATH; none found"
    probe = subprocess.run(  # noqa: S603 - the java found on PATH, fixed argument
        [java, "-version"], capture_output=True, text=True, check=False, timeout=60
    )
    words = (probe.stderr + probe.stdout).split('"')
    version = words[1] if len(words) > 1 else ""
    major = version.split(".")[0]
    if not major.isdigit() or int(major) < 17:
        return f"real Kafka needs Java 17 or newer; `java -version` says {version or 'nothing'}"
    return None


def _fingerprint(version: str) -> str:
    return hashlib.sha256(version.encode() + b"\0" + POM.read_bytes()).hexdigest()


def kafka_libs(version: str = KAFKA_VERSION) -> Path:
    """The directory of the broker's jars, fetched with Maven on first use (and again when
    pom.xml changed since)."""
    libs = cache_root() / f"kafka-{version}" / "libs"
    marker = libs / _COMPLETE
    if marker.is_file() and marker.read_text(encoding="utf-8") == _fingerprint(version):
        return libs
    mvn = shutil.which("mvn")
    if mvn is None:
        raise BrokerError("real Kafka is fetched with Maven (mvn) on first use; mvn not found")
    staging = libs.with_name("libs.partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.parent.mkdir(parents=True, exist_ok=True)
    command = [
        mvn, "-q", "-B", "-f", str(POM), "dependency:copy-dependencies",
        f"-Dkafka.version={version}", f"-DoutputDirectory={staging}", "-DincludeScope=runtime",
    ]  # fmt: skip
    try:
        done = subprocess.run(  # noqa: S603 - mvn from PATH, fixed arguments
            command, capture_output=True, text=True, check=False, timeout=_FETCH_TIMEOUT_S
        )
    except subprocess.TimeoutExpired as exc:
        raise BrokerError(f"fetching Kafka {version} with Maven took over {exc.timeout} s") from exc
    if done.returncode != 0 or not any(staging.glob("kafka_2.13-*.jar")):
        tail = (done.stdout + done.stderr).strip().splitlines()[-3:]
        raise BrokerError(f"Maven could not resolve Kafka {version}: {' | '.join(tail)}")
    (staging / _COMPLETE).write_text(_fingerprint(version), encoding="utf-8")
    shutil.rmtree(libs, ignore_errors=True)
    staging.rename(libs)
    return libs
