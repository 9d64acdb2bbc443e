"""Purge on the embedded backends: cascades, bytes, replays, resumption after kill -9."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from azul_metastore.app import Services
from azul_metastore.errors import BadRequest
from azul_metastore.lifecycle.jobs import lifecycle
from azul_metastore.lifecycle.journal import Journal
from azul_metastore.lifecycle.purge import PurgeRequest
from azul_metastore.settings import Settings
from tests.support.lineage import docs_of, ingest, refs_of, sha, submission, system

TS1, TS2 = "2024-01-01T00:00:00Z", "2024-02-01T00:00:00Z"


def build(services: Services) -> None:
    """root → a → a1, root → b; "shared" is a child of b and of another submission's "other"."""
    submission(services, "samples", TS1, "root", {"root": ["a", "b"], "a": ["a1"], "b": ["shared"]})
    submission(services, "samples", TS2, "other", {"other": ["shared"]}, refs={"user": "carol"})
    ingest(services)


def test_simulate_counts_and_changes_nothing(services: Services) -> None:
    build(services)
    purger = lifecycle(services).purger()
    assert purger.simulate(PurgeRequest("binary", sha("root"))).events == 2  # sourced + enriched
    assert docs_of(services, "root")
    with pytest.raises(BadRequest, match="nothing to purge"):
        purger.purge(PurgeRequest("binary", "f" * 64), "tester")
    with pytest.raises(BadRequest, match="timestamp"):
        PurgeRequest("submission", "x", "yesterday")


def test_purge_binary_cascades_to_descendants_without_another_parent(services: Services) -> None:
    build(services)
    results = lifecycle(services).purger().purge(PurgeRequest("binary", sha("root")), "tester")
    for gone in ("root", "a", "a1", "b"):
        assert docs_of(services, gone) == [], gone
        assert refs_of(services, gone) == set(), gone
    kept = docs_of(services, "shared")
    assert kept and all((d.get("parent") or {}).get("sha256") != sha("b") for d in kept)
    assert {d["source"]["timestamp"] for d in kept if d.get("source")} == {TS2}
    assert refs_of(services, "shared") == {"samples"}  # still listed by the other submission
    assert docs_of(services, "other")
    assert results.events_purged == 2 * 4 + 1  # 4 binaries x (submission + result) + shared's link from b
    assert results.binaries_purged == 4
    assert not Journal.unfinished(services.settings.purge_path)
    assert list(services.settings.purge_path.glob("*.done.jsonl"))


def test_replay_from_the_start_does_not_resurrect(services: Services, settings: Settings) -> None:
    build(services)
    lifecycle(services).purger().purge(PurgeRequest("binary", sha("root")), "tester")
    settings.ingestor_version_suffix = "replay"  # a new consumer group replays the whole log
    assert ingest(services) > 0
    for gone in ("root", "a", "a1", "b"):
        assert docs_of(services, gone) == [], gone
    assert {(d.get("parent") or {}).get("sha256") for d in docs_of(services, "shared")} == {sha("other"), None}
    # a new submission of the purged binary is new data and is indexed
    submission(services, "samples", "2024-03-01T00:00:00Z", "root", results=False)
    ingest(services)
    assert [d["source"]["timestamp"] for d in docs_of(services, "root")] == ["2024-03-01T00:00:00Z"]


def test_purge_submission_link_and_author(services: Services) -> None:
    build(services)
    purger = lifecycle(services).purger()
    other = next(d for d in docs_of(services, "other") if d["action"] == "sourced")
    res = purger.purge(PurgeRequest("submission", other["track_source_references"], TS2), "tester")
    assert docs_of(services, "other") == []
    assert docs_of(services, "shared")  # still a child of b in the first submission
    # other's submission and result, shared's link from other (results are not per submission)
    assert res.events_purged == 3
    link = next(d for d in docs_of(services, "a1") if d["action"] == "extracted")["track_link"]
    purger.purge(PurgeRequest("link", link), "tester")
    assert docs_of(services, "a1") == [] and docs_of(services, "a")
    purger.purge(PurgeRequest("author", "plugin.peinfo.1"), "tester")
    assert all(d["action"] != "enriched" for d in docs_of(services, "root"))
    deletes = [orjson.loads(r.value) for r in services.event_log.read("delete", 0, 10)]
    assert [d["action"] for d in deletes] == ["submission", "link", "author"]
    assert deletes[0]["entity"]["submission"]["timestamp"] == TS2


def test_statuses_of_purged_binaries_go(services: Services) -> None:
    build(services)
    event = next(d for d in docs_of(services, "a1") if d["action"] == "extracted")
    status = {"model_version": 6, "kafka_key": "tmp", "timestamp": TS1,
              "author": {"name": "peinfo", "category": "plugin", "version": "1"},
              "entity": {"status": "completed", "input": {
                  "model_version": 6, "kafka_key": "k", "timestamp": TS1, "author": event["author"],
                  "action": "extracted", "dequeued": "k.peinfo.1.1",
                  "source": {"name": "samples", "timestamp": TS1, "path": [
                      {"sha256": sha("a"), "action": "extracted", "timestamp": TS1, "author": {"name": "unzip"}},
                      {"sha256": sha("a1"), "action": "extracted", "timestamp": TS1, "author": {"name": "unzip"}}]},
                  "entity": {"sha256": sha("a1"), "datastreams": [
                      {"label": "content", "sha256": sha("a1")}]}}}}
    assert not services.intake.post("status", [status]).failures
    ingest(services, "status")
    assert services.index.statuses(system(services), sha256=sha("a1"))
    lifecycle(services).purger().purge(PurgeRequest("binary", sha("root")), "tester")
    assert services.index.statuses(system(services), sha256=sha("a1")) == []
    services.settings.ingestor_version_suffix = "again"
    ingest(services, "status")
    assert services.index.statuses(system(services), sha256=sha("a1")) == []


PURGE = """
import sys
from azul_metastore.app import build_services
from azul_metastore.lifecycle import purge as purge_module
from azul_metastore.lifecycle.jobs import lifecycle
from azul_metastore.lifecycle.purge import PurgeRequest
from tests.conftest import TEST_SOURCES
from azul_metastore.settings import load_settings

purge_module.PAGE = int(sys.argv[3])
services = build_services(load_settings(data_dir=sys.argv[1], sources=TEST_SOURCES))
print(lifecycle(services).purger().purge(PurgeRequest("binary", sys.argv[2]), "killer").model_dump_json())
"""


@pytest.mark.slow
def test_kill_9_mid_purge_then_run_again(services: Services, settings: Settings) -> None:
    fanout = {"root": [f"c{i}" for i in range(120)]}
    fanout.update({f"c{i}": [f"g{i}"] for i in range(120)})
    submission(services, "samples", TS1, "root", fanout, results=False)
    ingest(services)
    root = Path(__file__).parents[2]
    proc = subprocess.Popen([sys.executable, "-c", PURGE, str(settings.data_dir), sha("root"), "5"], cwd=root,
                            stdout=subprocess.DEVNULL)
    journal = settings.purge_path / f"purge-{PurgeRequest('binary', sha('root')).key}.jsonl"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if journal.exists() and journal.read_bytes().count(b'"type":"docs"') >= 8:
            break
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert journal.exists(), "the purge finished before it could be killed"
    remaining = sum(len(docs_of(services, f"c{i}")) + len(docs_of(services, f"g{i}")) for i in range(120))
    assert 0 < remaining < 240  # half-way
    finish = subprocess.run([sys.executable, "-c", PURGE, str(settings.data_dir), sha("root"), "1000"], cwd=root,
                            capture_output=True, check=True)
    results = orjson.loads(finish.stdout)
    assert results["events_purged"] == 1 + 120 * 2
    assert results["binaries_purged"] == 241
    for name in ["root", *(f"c{i}" for i in range(120)), *(f"g{i}" for i in range(120))]:
        assert docs_of(services, name) == [] and refs_of(services, name) == set(), name
    assert not Journal.unfinished(settings.purge_path)


def test_events_still_in_the_log_when_a_submission_is_purged_stay_purged(services: Services) -> None:
    """The ingestor lags: when the purge runs, only the root's submission is indexed; the rest of
    the submission (the root's result, the child's extraction and result) is still in the log.
    Indexed afterwards, none of it comes back, and a later submission of the same root does."""
    submission(services, "samples", TS1, "root", {"root": ["child"]})
    first = services.event_log.read("binary", 0, 1)[0]
    assert services.indexer().index("binary", [orjson.loads(first.value)]).written
    (root,) = docs_of(services, "root")
    lifecycle(services).purger().purge(
        PurgeRequest("submission", root["track_source_references"], TS1), "tester")
    ingest(services)  # the ingestor catches up: every event is older than the purge
    for name in ("root", "child"):
        # the submission and the extraction stay purged; the delayed results name no submission
        # (tombstones.py) and go with the binaries left without one at the next age-off
        assert [d["action"] for d in docs_of(services, name)] == ["enriched"], name
    assert sorted(services.index.delete_orphans()) == sorted([sha("root"), sha("child")])
    submission(services, "samples", "2099-01-01T00:00:00Z", "root", results=False)
    ingest(services)
    assert [d["action"] for d in docs_of(services, "root")] == ["sourced"]



def test_an_authors_results_still_in_the_log_stay_purged(services: Services) -> None:
    """peinfo's output is purged while its results for a later submission wait in the log."""
    build(services)
    submission(services, "samples", TS2, "late", refs={"user": "dave"})  # not indexed yet
    lifecycle(services).purger().purge(PurgeRequest("author", "plugin.peinfo.1"), "tester")
    ingest(services)
    assert [d["action"] for d in docs_of(services, "late")] == ["sourced"]  # its submission, no result
    assert not [d for name in ("root", "a", "other") for d in docs_of(services, name)
                if d["author"]["name"] == "peinfo"]


def test_an_author_purge_buries_what_its_selector_takes_through_the_parent_link(services: Services) -> None:
    """The author selector also takes a binary another plugin extracted from one the author
    extracted (its link names the author as the parent's); the rule buried only the author's own
    documents, so that one came back from the log after the purge."""
    from tests.support.lineage import _event, _node, store

    build(services)
    refs = {"user": "dave"}
    root = _node("late", "sourced", TS2)
    inner = _node("late-inner", "extracted", TS2, "unzip", "plugin")
    carved = _node("late-carved", "extracted", TS2, "carver", "plugin")
    streams = {n: [{"label": "content", "sha256": store(services, "samples", n), "size": 20}]
               for n in ("late", "late-inner", "late-carved")}
    uploader = {"name": "uploader", "category": "user"}
    events = [_event([root], "samples", TS2, refs, "sourced", streams["late"], uploader),
              _event([root, inner], "samples", TS2, refs, "extracted", streams["late-inner"], inner["author"]),
              _event([root, inner, carved], "samples", TS2, refs, "extracted", streams["late-carved"],
                     carved["author"])]
    for event in events:
        for node in event["source"]["path"]:
            node["author"] = {k: v for k, v in node["author"].items() if v}
    assert not services.intake.post("binary", events).failures  # in the log, not indexed yet
    purger = lifecycle(services).purger()
    purger.purge(PurgeRequest("author", "plugin.unzip.1"), "tester")
    ingest(services)
    assert purger.simulate(PurgeRequest("author", "plugin.unzip.1")).events == 0
    assert docs_of(services, "late") and docs_of(services, "late-carved") == []
