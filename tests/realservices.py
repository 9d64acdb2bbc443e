"""pytest plugin: real OpenSearch, Kafka and SeaweedFS (S3) servers for the tests that need them.

Fixtures (all session-scoped; each starts its server on first use and stops it at the end of the
run, unless the server was already answering before the run, in which case it is left running):

- ``opensearch_url`` -> ``"http://127.0.0.1:9200"``;
- ``opensearch_secure_url`` -> a dict for the node with the security plugin (see
  ``services/opensearch_security.py``: url, users, JWT secret and claim names);
- ``kafka_bootstrap`` -> ``"127.0.0.1:9092"``;
- ``s3_endpoint`` -> ``{"endpoint_url", "aws_access_key_id", "aws_secret_access_key", "region_name"}``,
  ready for ``boto3.client("s3", **s3_endpoint)``.

Start-up overlaps the collection's end: as soon as the selected tests are known, every server they
need starts in a background thread, so OpenSearch, Kafka and SeaweedFS boot in parallel rather
than one after another at each first use. ``SERVICES_KEEP=1`` leaves servers this run started
running afterwards (the next run then finds them up and starts in no time).
"""

from __future__ import annotations

import os
import threading
from typing import Any

import pytest

from services.manager import ServiceError, StartResult, _mb, get, stop_many

# Fixture name -> service name.
FIXTURES = {
    "opensearch_url": "opensearch",
    "opensearch_secure_url": "opensearch-secure",
    "kafka_bootstrap": "kafka",
    "s3_endpoint": "s3",
}


class _Starter:
    """Starts one service at most once per run, in the background or on demand, and remembers how."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.result: StartResult | None = None
        self.error: BaseException | None = None
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def begin(self) -> None:
        with self._lock:
            if self._thread is None and self.result is None and self.error is None:
                self._thread = threading.Thread(target=self._run, name=f"start-{self.name}", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        try:
            self.result = get(self.name).start()
        except BaseException as exc:  # reported to every test that asks for the service
            self.error = exc

    def wait(self) -> StartResult:
        self.begin()
        assert self._thread is not None
        self._thread.join()
        if self.error is not None:
            raise ServiceError(f"{self.name} is not available: {self.error}") from self.error
        assert self.result is not None
        return self.result


_STARTERS: dict[str, _Starter] = {}


def _starter(name: str) -> _Starter:
    if name not in _STARTERS:
        _STARTERS[name] = _Starter(name)
    return _STARTERS[name]


def _needed(item: pytest.Item) -> set[str]:
    """The services a test's fixtures (direct or indirect) will ask for.

    Markers only select tests (``-m "not kafka"``); the fixtures say which server is needed, so a
    test marked ``opensearch`` that uses only ``opensearch_secure_url`` does not boot the plain node.
    """
    return {service for fixture, service in FIXTURES.items() if fixture in getattr(item, "fixturenames", ())}


def pytest_collection_finish(session: pytest.Session) -> None:
    """Begin starting every server the selected tests need, all at once."""
    if session.config.option.collectonly:
        return
    needed: set[str] = set()
    for item in session.items:
        needed |= _needed(item)
    for name in sorted(needed):
        _starter(name).begin()


def _client_info(name: str) -> Any:
    starter = _starter(name)
    try:
        starter.wait()
    except ServiceError as exc:
        pytest.fail(str(exc), pytrace=False)
    return get(name).client_info()


@pytest.fixture(scope="session")
def opensearch_url() -> str:
    """Base URL of a plain OpenSearch 2.19 node (no security plugin), e.g. ``http://127.0.0.1:9200``."""
    return _client_info("opensearch")


@pytest.fixture(scope="session")
def opensearch_secure_url() -> dict[str, Any]:
    """Connection details of an OpenSearch node with the security plugin (users, JWT settings)."""
    return _client_info("opensearch-secure")


@pytest.fixture(scope="session")
def kafka_bootstrap() -> str:
    """``bootstrap.servers`` of a one-node KRaft Kafka, e.g. ``127.0.0.1:9092``."""
    return _client_info("kafka")


@pytest.fixture(scope="session")
def s3_endpoint() -> dict[str, str]:
    """boto3 client keyword arguments for the SeaweedFS S3 gateway (fixed access key)."""
    return _client_info("s3")


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Stop what this run started; leave alone what was up before it (or everything if SERVICES_KEEP=1)."""
    keep = os.environ.get("SERVICES_KEEP") == "1"
    ours = []
    for name, starter in _STARTERS.items():
        if starter._thread is not None:
            starter._thread.join()
        if starter.result is not None and not starter.result.already_running and not keep:
            ours.append(name)
    stop_many(ours)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Say in the run's output which servers ran, how long they took to start and their memory."""
    if not _STARTERS:
        return
    terminalreporter.section("real services")
    for name, starter in sorted(_STARTERS.items()):
        if starter.error is not None:
            terminalreporter.write_line(f"{name}: FAILED to start: {starter.error}")
        elif starter.result is None:
            terminalreporter.write_line(f"{name}: not started")
        elif starter.result.already_running:
            terminalreporter.write_line(f"{name}: was already running; left running")
        else:
            r = starter.result
            terminalreporter.write_line(
                f"{name}: started in {r.seconds:.1f}s (pid {r.pid}, RSS at ready {_mb(r.rss)}) -> "
                f"{get(name).client_info()}"
            )
