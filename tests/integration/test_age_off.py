"""Age-off with a controlled clock on the embedded backends: expired submissions of a 1-day source,
their orphaned children, results, statuses, tags and bytes go; a binary also submitted to a
keep-forever source keeps everything that source holds."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner

from azul_metastore.app import Services
from azul_metastore.cli import main
from azul_metastore.errors import BackendUnavailable
from azul_metastore.index.documents import Document
from azul_metastore.lifecycle.clock import ManualClock
from azul_metastore.lifecycle.jobs import lifecycle
from azul_metastore.models.events import utc_iso
from azul_metastore.settings import Settings, Source
from tests.conftest import TEST_SOURCES
from tests.support.lineage import docs_of, ingest, refs_of, sha, submission, system


def recent(hours: float) -> str:
    return utc_iso(datetime.now(UTC).replace(microsecond=0) - timedelta(hours=hours))


def tag(services: Services, name: str, value: str) -> None:
    body = {"type": "entity_tag", "sha256": sha(name), "tag": value, "owner": "alice", "timestamp": recent(1),
            "security": "OFFICIAL", "encoded_security": {}}
    services.index.write([Document("annotation", f"{sha(name)}.{value}", body)])


def status(services: Services, name: str, when: str) -> None:
    given = docs_of(services, name)[0]
    event = {"model_version": 6, "kafka_key": "tmp", "timestamp": when,
             "author": {"name": "peinfo", "category": "plugin", "version": "1"},
             "entity": {"status": "completed", "input": {
                 "model_version": 6, "kafka_key": "k", "timestamp": when, "author": given["author"],
                 "action": "sourced", "dequeued": f"k.peinfo.1.{name}",
                 "source": {"name": "testing", "timestamp": when, "path": [
                     {"sha256": sha(name), "action": "sourced", "timestamp": when, "author": {"name": "uploader"}}]},
                 "entity": {"sha256": sha(name), "datastreams": [{"label": "content", "sha256": sha(name)}]}}}}
    assert not services.intake.post("status", [event]).failures
    ingest(services, "status")


def populate(services: Services) -> None:
    when = recent(2)
    submission(services, "testing", when, "t-root", {"t-root": ["t-child"], "t-child": ["t-grandchild"]})
    submission(services, "testing", when, "both", {"both": ["both-child"]})
    submission(services, "samples", when, "both", results=False, refs={"user": "carol"})
    ingest(services)
    tag(services, "t-root", "nasty")
    tag(services, "both", "keep-me")
    status(services, "t-root", when)


def test_dry_run_counts_and_deletes_nothing(services: Services) -> None:
    populate(services)
    life = lifecycle(services)
    life.clock = ManualClock(offset=timedelta(days=15))
    report = life.age_off().run(dry_run=True)
    assert report.submissions == {"testing": 5}  # one submission document per binary (results carry none)
    assert report.binaries == {"testing": 5}
    assert report.statuses == 1
    assert any("would delete" in line for line in report.lines())
    assert docs_of(services, "t-root") and services.index.statuses(system(services))


def test_age_off_removes_expired_submissions_and_what_only_they_held(services: Services) -> None:
    populate(services)
    life = lifecycle(services)
    life.clock = ManualClock(offset=timedelta(hours=12))  # the submissions are not a day old yet
    assert life.age_off().run().documents == 0
    life.clock = ManualClock(offset=timedelta(days=15))
    report = life.age_off().run()
    for gone in ("t-root", "t-child", "t-grandchild", "both-child"):
        assert docs_of(services, gone) == [], gone
        assert refs_of(services, gone) == set(), gone
    kept = docs_of(services, "both")
    assert {d["source"]["name"] for d in kept if d.get("source")} == {"samples"}
    assert any(d["action"] == "enriched" for d in kept)  # its results stay with it
    assert refs_of(services, "both") == {"samples"}
    assert services.index.statuses(system(services)) == []
    tags = {t["tag"]: t.get("state") for t in services.index.annotations(system(services), include_disabled=True)}
    assert tags == {"nasty": "disabled", "keep-me": None}
    assert report.tags_disabled == 1 and report.orphans >= 4 and report.streams_deleted >= 5
    # a second pass finds nothing more to do
    again = life.age_off().run()
    assert again.documents == 0 and again.orphans == 0 and again.streams_deleted == 0


class FlakyBlobs:
    """A fake blob store in front of the real one whose first ``failures`` deletes fail, as a blob
    store that times out would."""

    def __init__(self, real, failures: int) -> None:
        self.real, self.failures = real, failures

    def delete(self, *args, **kwargs):
        if self.failures:
            self.failures -= 1
            raise BackendUnavailable("blob store timed out")
        return self.real.delete(*args, **kwargs)

    def __getattr__(self, name: str):
        return getattr(self.real, name)


@pytest.mark.parametrize("failures", [1, 3])
def test_bytes_of_a_pass_that_failed_half_way_go_in_the_next(services: Services, failures: int) -> None:
    """The submissions are deleted, then the blob store fails: the documents that listed the bytes
    are gone, so only the journal still knows about them, and the next pass deletes them."""
    populate(services)
    life = lifecycle(services)
    life.clock = ManualClock(offset=timedelta(days=15))
    real = services.blobs
    services.blobs = FlakyBlobs(real, failures)
    with pytest.raises(BackendUnavailable):
        life.age_off().run()
    assert refs_of(services, "both") == {"samples", "testing"}  # the testing copy outlived its documents
    assert list(services.settings.purge_path.glob("age-off-*.jsonl"))  # the journal says what is left
    services.blobs = real
    life = lifecycle(services)
    life.clock = ManualClock(offset=timedelta(days=15))
    life.age_off().run()
    for gone in ("t-root", "t-child", "t-grandchild", "both-child"):
        assert docs_of(services, gone) == [] and refs_of(services, gone) == set(), gone
    assert refs_of(services, "both") == {"samples"}
    assert not list(services.settings.purge_path.glob("age-off-*.jsonl"))  # done with: removed


def test_expired_events_are_dropped_when_replayed(services: Services, settings: Settings) -> None:
    submission(services, "testing", recent(30), "late", results=False)  # older than the 1-day retention
    ingest(services)
    assert docs_of(services, "late") == []


def test_cli_dry_run(settings: Settings, monkeypatch) -> None:
    monkeypatch.setenv("METASTORE_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("METASTORE_SOURCES", json.dumps(TEST_SOURCES))
    result = CliRunner().invoke(main, ["age-off", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "source testing: would delete 0 submission documents" in result.output


@pytest.mark.parametrize("interval", ["0", "-1"])
def test_cli_loop_refuses_an_interval_below_a_second(settings: Settings, monkeypatch, interval: str) -> None:
    """``--interval -1`` ran thousands of passes a second; it is refused before any pass."""
    monkeypatch.setenv("METASTORE_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("METASTORE_SOURCES", json.dumps(TEST_SOURCES))
    result = CliRunner().invoke(main, ["age-off", "--loop", "--interval", interval])
    assert result.exit_code == 2
    assert "--interval" in result.output and "1<=x" in result.output.replace(" ", "")


def test_cli_loop_with_dry_run_deletes_nothing(settings: Settings) -> None:
    """``age-off --loop --dry-run`` ran real passes: it deleted what it said it would delete."""
    import os
    import signal
    import subprocess
    import sys
    import threading

    from azul_metastore.app import build_services

    # indexed while the source kept everything; the command runs with its 1-day retention
    keeping = build_services(settings.model_copy(update={"sources": {**settings.sources, "testing": Source()}}))
    submission(keeping, "testing", recent(72), "t-old", {"t-old": ["t-old-child"]})
    ingest(keeping)
    keeping.close()
    env = {**os.environ, "METASTORE_DATA_DIR": str(settings.data_dir), "METASTORE_PROMETHEUS_PORT": "0",
           "METASTORE_SOURCES": json.dumps(TEST_SOURCES), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "azul_metastore.cli", "age-off", "--loop", "--dry-run",
                             "--interval", "600"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    watchdog = threading.Timer(120, proc.kill)  # a pass that never reports fails the test, not the run
    watchdog.start()
    try:
        lines = []
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if line.startswith(("binaries left without", "binaries without")):
                break
        assert any(line.startswith("source testing: would delete 2 submission") for line in lines), lines
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        watchdog.cancel()
        proc.stdout.close()
    assert proc.returncode == 0
    after = build_services(settings)
    assert docs_of(after, "t-old") and docs_of(after, "t-old-child")
    after.close()
