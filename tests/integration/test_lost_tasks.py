"""Lost-task processing: tasks handed out through ``active`` are retried through the plugin's retry
lane when they never finish, a bounded number of times, once each however many processes run; and
a real azul-runner plugin killed mid-task gets its work back."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from azul_metastore.app import Services, build_services
from azul_metastore.events import topics
from azul_metastore.events.dispatch import ConsumerFilters
from azul_metastore.lifecycle.clock import ManualClock
from azul_metastore.lifecycle.jobs import lifecycle
from azul_metastore.lifecycle.lost_tasks import LOST_PREFIX, task_key
from azul_metastore.lifecycle.task_state import DONE, FAILED, LOST, RETRIED
from azul_metastore.settings import Settings, load_settings
from tests.compat.conftest import compat_python  # noqa: F401 - fixture
from tests.conftest import TEST_SOURCES
from tests.support.events import binary_event
from tests.support.lineage import ingest, store, system
from tests.support.server import running_server

ROOT = Path(__file__).parents[2]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(data_dir=tmp_path / "data", sources=TEST_SOURCES, auth_open=True,
                         lost_task_timeout_seconds=2, retry_backoff_seconds=0, retry_max_attempts=2)


@pytest.fixture
def services(settings: Settings) -> Iterator[Services]:
    svc = build_services(settings)
    yield svc
    svc.close()


def take(services: Services, plugin: str = "p", count: int = 10) -> list[dict[str, Any]]:
    lanes = services.dispatch.binary_topics(plugin, False, False, False, True)
    return services.dispatch.get_events("binary", plugin, "1", count, 0, True, ConsumerFilters(), lanes).events


def report(services: Services, event: dict[str, Any], status: str, plugin: str = "p", error: str = "") -> None:
    status_event = {"model_version": 6, "kafka_key": "tmp", "timestamp": event["timestamp"],
                    "author": {"name": plugin, "category": "plugin", "version": "1"},
                    "entity": {"status": status, "input": event, **({"error": error} if error else {})}}
    assert not services.intake.post("status", [status_event]).failures


def statuses(services: Services) -> list[dict[str, Any]]:
    return [orjson.loads(r.value) for r in services.event_log.read(topics.STATUS, 0, 10_000)]


def later(services: Services, seconds: float) -> None:
    life = lifecycle(services)
    clock = life.clock if isinstance(life.clock, ManualClock) else ManualClock()
    clock.advance(timedelta(seconds=seconds))
    life.clock = clock


def test_a_lost_task_is_retried_then_completes(services: Services) -> None:
    services.intake.post("binary", [binary_event()])
    assert len(take(services)) == 1
    lost = lifecycle(services).lost_tasks()
    assert lost.run_once().retried == 0  # not due yet
    later(services, 5)
    lost = lifecycle(services).lost_tasks()
    assert lost.run_once().retried == 1
    assert lost.run_once().retried == 0  # never twice
    (retry,) = take(services)
    assert retry["retries"] == 1 and retry["flags"]["retry"] is True
    assert services.event_log.end_offset(topics.retry_lane("p")) == 1
    report(services, retry, "completed")
    assert lost.run_once().retried == 0
    task = lifecycle(services).state.task(task_key(retry["dequeued"], "p"))
    assert (task.state, task.attempt) == (DONE, 1)


def test_a_task_that_is_always_lost_ends_after_the_maximum(services: Services) -> None:
    services.intake.post("binary", [binary_event()])
    runs = 0
    while take(services):
        runs += 1
        later(services, 10 * runs)
        lifecycle(services).lost_tasks().run_once()
        assert runs < 10, "endless retries"
    assert runs == 3  # the first run and retry_max_attempts (2) retries
    ends = [s for s in statuses(services) if s["entity"]["status"] == "error-network"]
    assert len(ends) == 1 and ends[0]["entity"]["error"] == f"{LOST_PREFIX}{events_dequeued(services)[-1]}"
    assert lifecycle(services).lost_tasks().run_once().retried == 0
    # the lost status replaces the dequeued document of the last run
    ingest(services, "status")
    docs = services.index.statuses(system(services), statuses=["error-network"])
    assert len(docs) == 1
    failures = lifecycle(services).state.tasks("p", states=(LOST,))
    assert [t.summary()["attempts"] for t in failures] == [3]


def events_dequeued(services: Services) -> list[str]:
    return [s["entity"]["input"]["dequeued"] for s in statuses(services) if s["entity"]["status"] == "dequeued"]


def test_transient_errors_are_retried_permanent_ones_are_not(services: Services) -> None:
    services.intake.post("binary", [binary_event(sha256="a" * 64), binary_event(sha256="b" * 64)])
    one, two = take(services)
    report(services, one, "error-timeout", error="took too long")
    report(services, two, "error-exception", error="bug")
    lost = lifecycle(services).lost_tasks()
    assert lost.run_once().retried == 1
    (retry,) = take(services)
    assert retry["entity"]["sha256"] == one["entity"]["sha256"]
    failed = lifecycle(services).state.tasks("p", states=(FAILED,))
    assert [(t.sha256, t.status, t.error) for t in failed] == [("b" * 64, "error-exception", "bug")]
    assert lost.retry_failures("p", "error-exception") == 1
    assert lost.retry_failures("p", "error-exception") == 0
    (again,) = take(services)
    assert again["entity"]["sha256"] == "b" * 64 and again["retries"] == 1


CONCURRENT = """
import sys
from azul_metastore.app import build_services
from azul_metastore.lifecycle.jobs import lifecycle
from azul_metastore.settings import load_settings
from tests.compat.conftest import compat_python  # noqa: F401 - fixture
from tests.conftest import TEST_SOURCES
services = build_services(load_settings(data_dir=sys.argv[1], sources=TEST_SOURCES, lost_task_timeout_seconds=1,
                                        retry_backoff_seconds=0, retry_max_attempts=2))
total = 0
for _ in range(5):
    total += lifecycle(services).lost_tasks().run_once().retried
print(total)
"""


@pytest.mark.slow
def test_two_processes_never_retry_one_task_twice(services: Services, settings: Settings) -> None:
    services.intake.post("binary", [binary_event(sha256=f"{i:064x}") for i in range(60)])
    assert len(take(services, count=60)) == 60
    time.sleep(2.2)
    procs = [subprocess.Popen([sys.executable, "-c", CONCURRENT, str(settings.data_dir)], cwd=ROOT,
                              stdout=subprocess.PIPE, text=True) for _ in range(2)]
    totals = [int(p.communicate(timeout=120)[0]) for p in procs]
    assert sum(totals) == 60
    lane = services.event_log.read(topics.retry_lane("p"), 0, 1000)
    assert len(lane) == 60 and len({orjson.loads(r.value)["entity"]["sha256"] for r in lane}) == 60


PLUGIN = textwrap.dedent('''
    """Takes work through active; hangs, dies or completes as LIFECYCLE_PLUGIN_MODE says."""
    import os, signal, time
    from azul_runner import BinaryPlugin, cmdline_run

    class AzulPluginFlaky(BinaryPlugin):
        """A plugin that hangs, dies or completes."""
        VERSION = "1.0"

        def execute(self, job):
            mode = os.environ["LIFECYCLE_PLUGIN_MODE"]
            with open(os.environ["LIFECYCLE_PLUGIN_MARK"], "a") as f:
                f.write(mode + "\\n")
            if mode == "hang":
                time.sleep(600)
            if mode == "die":
                os.killpg(os.getpgrp(), signal.SIGKILL)
            self.add_feature_values("malformed", ["no"])

    class AzulPluginDoomed(AzulPluginFlaky):
        """A plugin that always dies (its own consumer group)."""

    if __name__ == "__main__":
        cmdline_run(plugin=AzulPluginDoomed if os.environ["LIFECYCLE_PLUGIN_MODE"] == "die" else AzulPluginFlaky)
''')


class Plugin:
    def __init__(self, python: str, url: str, tmp: Path, mode: str) -> None:
        script = tmp / "flaky.py"
        script.write_text(PLUGIN)
        self.mark = tmp / f"mark-{mode}.txt"
        env = {**os.environ, "LIFECYCLE_PLUGIN_MODE": mode, "LIFECYCLE_PLUGIN_MARK": str(self.mark),
               "PLUGIN_HEARTBEAT_INTERVAL": "30"}
        self.log = open(tmp / f"plugin-{mode}.log", "ab")  # noqa: SIM115
        self.proc = subprocess.Popen([python, str(script), "--server", url], cwd=tmp, env=env,
                                     stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)

    def runs(self) -> int:
        return len(self.mark.read_text().splitlines()) if self.mark.exists() else 0

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self.log.close()


def wait_for(check, timeout: float = 60.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


@pytest.mark.compat
@pytest.mark.slow
def test_azul_runner_plugin_killed_mid_task_gets_it_again(services: Services, compat_python: str,  # noqa: F811
                                                          tmp_path: Path) -> None:
    sha = store(services, "samples", "runner-input")
    event = binary_event(sha256=sha)
    event["entity"]["datastreams"][0]["size"] = len(b"content of runner-input\n")
    assert not services.intake.post("binary", [event]).failures
    state = lifecycle(services).state
    with running_server(services) as url:
        hang = Plugin(compat_python, url, tmp_path, "hang")
        try:
            wait_for(lambda: hang.runs() == 1, what="the plugin to start its task")
        finally:
            hang.kill()
        (dequeued,) = events_dequeued(services)
        time.sleep(2.1)
        assert lifecycle(services).lost_tasks().run_once().retried == 1
        ok = Plugin(compat_python, url, tmp_path, "ok")
        try:
            wait_for(lambda: any(s["entity"]["status"].startswith("completed") for s in statuses(services)),
                     what="the retried task to complete")
        finally:
            ok.kill()
        lifecycle(services).lost_tasks().run_once()
        assert state.task(task_key(dequeued, "Flaky")).state == RETRIED
        done = [s for s in statuses(services) if s["entity"]["status"].startswith("completed")]
        assert done[0]["entity"]["input"]["retries"] == 1
        assert state.task(task_key(done[0]["entity"]["input"]["dequeued"], "Flaky")).state == DONE

        # a plugin that always dies (another consumer group, so it takes the same event): retried
        # twice, then ended as lost; nothing more is handed out
        for attempt in range(3):
            die = Plugin(compat_python, url, tmp_path, "die")
            try:
                wait_for(lambda d=die: d.proc.poll() is not None, what=f"run {attempt + 1} to die")
            finally:
                die.kill()
            time.sleep(2.1)
            outcome = lifecycle(services).lost_tasks().run_once()
            assert (outcome.retried, outcome.lost) == ((1, 0) if attempt < 2 else (0, 1))
        assert die.runs() == 3
        lost = [s for s in statuses(services) if (s["entity"].get("error") or "").startswith(LOST_PREFIX)]
        assert len(lost) == 1 and lost[0]["author"]["name"] == "Doomed"
        assert lost[0]["entity"]["input"]["entity"]["sha256"] == sha
        assert services.event_log.end_offset(topics.retry_lane("Doomed")) == 2
        assert [t.summary()["attempts"] for t in state.tasks("Doomed", states=(LOST,))] == [3]


def test_a_status_claiming_thousands_of_retries_neither_stops_the_passes_nor_the_tasks_behind_it(
        services: Services) -> None:
    """2 ** 5000 seconds of back-off is no float: every pass failed on that record, and the tasks
    published after it were never tracked."""
    services.intake.post("binary", [binary_event(), binary_event(sha256="d" * 64)])
    first, second = take(services)
    report(services, {**first, "retries": 5000}, "dequeued")
    report(services, {**first, "retries": 5000}, "error-network")
    later(services, 5)
    lost = lifecycle(services).lost_tasks()
    lost.run_once()
    tracked = lifecycle(services).state.task(task_key(second["dequeued"], "p"))
    assert tracked is not None and tracked.state == RETRIED
    claimed = lifecycle(services).state.task(task_key(first["dequeued"], "p"))
    assert claimed is not None and claimed.attempt == 1000
