"""Ingestion end to end on the embedded backends: event log → ingestor → index."""

from __future__ import annotations

import json

import httpx
import orjson
import pytest
from prometheus_client import REGISTRY

from azul_metastore.app import Services, build_ingestor
from azul_metastore.errors import BackendUnavailable
from azul_metastore.events.port import Message
from azul_metastore.security import Access
from tests.support.events import binary_event, fixture_event


def system(services: Services) -> Access:
    return Access.system_access(services.security)


def ingest_all(services: Services, model: str = "binary") -> int:
    ingestor = build_ingestor(services, model)
    total = 0
    while count := ingestor.run_once(wait=0):
        total += count
    return total


def doc_ids(services: Services, sha256: str) -> set[str]:
    docs = services.index.documents([sha256], system(services))
    return {(d["action"], d["author"]["name"], d.get("depth")) for d in docs}


def test_fixture_events_are_indexed(services: Services) -> None:
    result = services.intake.post("binary", [fixture_event("2bd32_cuckoo.json"),
                                             fixture_event("2bd32_vtfilemapper.json")])
    assert not result.failures
    assert ingest_all(services) == 2
    sha = "2bd322c8784fe18426cae39c7a23e8e8330f8510ad4ac6102bdd9bb28c2fba35"
    docs = services.index.documents([sha], system(services))
    by_action = {d["action"]: d for d in docs}
    assert set(by_action) == {"augmented", "mapped"}
    vt = by_action["mapped"]
    assert vt["track_link"].startswith(f"{sha}-1633582504.{sha}.")
    assert "av_signature" in vt["features_map"]
    assert by_action["augmented"]["datastreams"] and all(
        s["label"] != "content" for s in by_action["augmented"]["datastreams"])
    assert services.index.lookup_hashes(["f2f76d16e17c971eecd77f1597f88e2b"], system(services)) == {
        "f2f76d16e17c971eecd77f1597f88e2b": [sha]}


def test_replay_is_idempotent_and_new_versions_replace(services: Services) -> None:
    sha = "a" * 64
    events = [binary_event(sha256=sha), binary_event(sha256=sha, action="enriched", author="p", version="1")]
    services.intake.post("binary", events)
    ingest_all(services)
    first = services.index.documents([sha], system(services))
    services.intake.post("binary", events)  # the same events again
    ingest_all(services)
    assert services.index.documents([sha], system(services)) == first
    newer = binary_event(sha256=sha, action="enriched", author="p", version="2",
                         timestamp="2024-02-01T00:00:00+00:00",
                         features=[{"name": "f1", "type": "string", "value": "v2"}])
    services.intake.post("binary", [newer])
    ingest_all(services)
    docs = services.index.documents([sha], system(services), actions=["enriched"])
    assert len(docs) == 1 and docs[0]["author"]["version"] == "2"
    assert docs[0]["features_map"] == {"f1": ["v2"]}
    other_security = binary_event(sha256=sha, action="enriched", author="p", version="2", security="SECRET")
    services.intake.post("binary", [other_security])
    ingest_all(services)
    assert len(services.index.documents([sha], system(services), actions=["enriched"])) == 2


def test_rejected_events_go_to_the_dead_letter_topic(services: Services) -> None:
    unknown_source = binary_event(source="nowhere")
    services.intake.post("binary", [unknown_source, binary_event()])
    services.event_log.append("binary", [Message("junk", b"{not json")])
    assert ingest_all(services) == 3
    dead = [orjson.loads(r.value) for r in services.event_log.read("dead-letter", 0, 10)]
    assert {d["reason"] for d in dead} == {"unknown_source", "bad_json"}
    assert all(d["error"] for d in dead)
    assert any("nowhere" in d["error"] for d in dead)


def test_malformed_events_are_dead_lettered_and_the_rest_indexed(services: Services) -> None:
    """Records that are JSON but not events (written to the log by something other than intake)
    and an event whose timestamp leaves the range of dates once in UTC go to the dead letters;
    the good event beside them is indexed and the batch committed, so the ingestor keeps going."""
    good = binary_event()
    out_of_range = binary_event(sha256="b" * 64)
    out_of_range["timestamp"] = "0001-01-01T00:00:00+01:00"
    out_of_range["source"]["timestamp"] = "9999-12-31T23:59:59-01:00"
    # as intake would have stamped it (intake itself refuses the timestamp, see test_event_api)
    out_of_range.update(track_source_references="samples.x", track_authors=["tester.1"])
    services.event_log.append("binary", [Message("k", orjson.dumps(v)) for v in (
        [1, 2], {"author": "x"}, {"source": "x", "author": {"name": 5}}, out_of_range)])
    assert not services.intake.post("binary", [good]).failures
    assert ingest_all(services) == 5
    dead = [orjson.loads(r.value) for r in services.event_log.read("dead-letter", 0, 10)]
    assert sorted(d["reason"] for d in dead) == ["bad_shape", "bad_shape", "bad_shape", "bad_value"]
    assert any("must be a JSON object" in d["error"] for d in dead)
    assert any("out of range" in d["error"] for d in dead)
    assert services.index.documents([good["entity"]["sha256"]], system(services))
    assert build_ingestor(services, "binary").run_once(wait=0) == 0  # committed: nothing comes back


def test_the_newest_event_wins_by_instant_not_by_text(services: Services) -> None:
    """Two results of one plugin for one binary in one batch: the later instant is kept, whatever
    zone each was written in and however many fraction digits it has."""
    sha = "c" * 64

    def result(timestamp: str, value: str) -> dict:
        return binary_event(sha256=sha, action="enriched", author="p", version="1", timestamp=timestamp,
                            features=[{"name": "f1", "type": "string", "value": value}])

    for older, newer in (("2024-01-01T20:00:00+10:00", "2024-01-01T11:00:00Z"),
                         ("2024-01-02T12:00:00Z", "2024-01-02T12:00:00.500000Z")):
        assert not services.intake.post("binary", [result(newer, "NEW"), result(older, "OLD")]).failures
        assert ingest_all(services) == 2
        docs = services.index.documents([sha], system(services), actions=["enriched"])
        assert [d["features_map"] for d in docs] == [{"f1": ["NEW"]}], (older, newer)
    base = {"model_version": 6, "kafka_key": "tmp",
            "author": {"name": "p", "version": "1", "category": "plugin"}}
    assert not services.intake.post("plugin", [
        {**base, "timestamp": ts, "entity": {"name": "p", "version": "1", "category": "plugin", "description": d}}
        for ts, d in (("2024-03-01T11:00:00Z", "NEW"), ("2024-03-01T20:00:00+10:00", "OLD"))]).failures
    assert ingest_all(services, "plugin") == 2
    assert [p["entity"].get("description") for p in services.index.plugins(system(services))] == ["NEW"]


def test_events_older_than_retention_are_dropped(services: Services) -> None:
    old = binary_event(source="testing", timestamp="2020-01-01T00:00:00+00:00")
    services.intake.post("binary", [old])
    ingest_all(services)
    assert services.index.count(None, system(services)) == 0


def _sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_ingest_counters_count_each_outcome_once_per_written_batch(services: Services,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Azul's counters (inventory §1.2), added to once a batch is written; a failed write counts nothing."""
    fresh = binary_event(author="counted", action="enriched", version="1")
    plugin = "counted-1"
    aged = binary_event(author="aged", source="testing", timestamp="2020-01-01T00:00:00+00:00")
    unknown = binary_event(author="lost", source="nowhere")
    before = {
        "success": _sample("azul_ingest_total", type="binary", status="success", plugin=plugin),
        "duplicate": _sample("azul_ingest_duplicates_total", type="binary", plugin=plugin),
        "aged": _sample("azul_ingest_drop_already_aged_off_total", plugin="aged-1"),
        "rejected": _sample("azul_ingest_total", type="binary", status="unknown_source", plugin="lost-1"),
    }
    services.intake.post("binary", [fresh, aged, unknown])
    ingestor = build_ingestor(services, "binary")

    def failing_write(docs: object) -> None:
        raise BackendUnavailable("index down (test)")

    monkeypatch.setattr(ingestor.indexer.store, "write", failing_write)
    with pytest.raises(BackendUnavailable):
        ingestor.run_once(wait=0)
    assert _sample("azul_ingest_total", type="binary", status="success", plugin=plugin) == before["success"]
    monkeypatch.undo()
    while ingestor.run_once(wait=0):  # the batch comes again and is written
        pass
    services.intake.post("binary", [fresh])  # the same event again: a duplicate (dedupe cache)
    while ingestor.run_once(wait=0):
        pass
    after = {
        "success": _sample("azul_ingest_total", type="binary", status="success", plugin=plugin),
        "duplicate": _sample("azul_ingest_duplicates_total", type="binary", plugin=plugin),
        "aged": _sample("azul_ingest_drop_already_aged_off_total", plugin="aged-1"),
        "rejected": _sample("azul_ingest_total", type="binary", status="unknown_source", plugin="lost-1"),
    }
    assert {k: after[k] - before[k] for k in after} == {"success": 1, "duplicate": 1, "aged": 1, "rejected": 1}


def test_crash_between_indexing_and_commit_redelivers(services: Services) -> None:
    events = [binary_event(author=f"u{i}") for i in range(5)]
    services.intake.post("binary", events)
    crashed = build_ingestor(services, "binary")
    batch = services.event_log.fetch(crashed.group, crashed.topics, 100, 0, consumer=crashed.consumer)
    crashed.indexer.index("binary", [orjson.loads(r.value) for r in batch.records])
    # ... the process dies here, before committing; a new ingestor process takes over
    before = services.index.count(None, system(services))
    assert ingest_all(services) == 5
    assert services.index.count(None, system(services)) == before == 5


def test_plugin_status_and_download_ingestors(services: Services) -> None:
    base = {"model_version": 6, "kafka_key": "tmp", "timestamp": "2024-01-01T00:00:00Z",
            "author": {"name": "p", "version": "1", "category": "plugin"}}
    services.intake.post("plugin", [{**base, "entity": {"name": "p", "version": "1", "category": "plugin"}}])
    event = binary_event()
    event["dequeued"] = "k.p.1.1"
    services.intake.post("status", [{**base, "entity": {"input": event, "status": "completed"}}])
    services.intake.post("download", [{**base, "action": "requested", "entity": {"hash": "c" * 64},
                                       "source": {"name": "samples", "timestamp": "2024-01-01T00:00:00Z",
                                                  "path": []}}])
    for model in ("plugin", "status", "download"):
        assert ingest_all(services, model) == 1
    access = system(services)
    assert [p["entity"]["name"] for p in services.index.plugins(access)] == ["p"]
    assert {s["entity"]["status"] for s in services.index.statuses(access)} == {"completed", "download-requested"}


def test_refresh_indexes_before_answering(server: str, services: Services) -> None:
    event = binary_event(sha256="d" * 64)
    resp = httpx.post(f"{server}/api/v2/event", params={"model": "binary", "refresh": "true"},
                      content=json.dumps([event]))
    assert resp.json()["total_ok"] == 1
    assert services.index.documents(["d" * 64], system(services))


@pytest.mark.opensearch
def test_events_the_index_refuses_are_dead_lettered_and_the_rest_indexed(tmp_path, opensearch_url: str) -> None:
    """OpenSearch refusing a batch (here: new feature names over the mapping's field limit) used
    to stop the ingestor for good, retrying the same batch; now the refused event is isolated."""
    import uuid

    from azul_metastore.app import build_services
    from azul_metastore.index.opensearch.client import new_client
    from azul_metastore.settings import load_settings
    from tests.conftest import TEST_SOURCES
    from tests.support.index_data import feat
    from tests.support.partitions import drop_partition

    partition = f"t{uuid.uuid4().hex[:12]}"
    services = build_services(load_settings(
        data_dir=tmp_path / "data", sources=TEST_SOURCES, auth_open=True, index_backend="opensearch",
        opensearch_url=opensearch_url, partition=partition, opensearch_binary_indices="single"))
    admin = new_client(opensearch_url)
    try:
        first = binary_event(features=[feat("tag", "one")])
        services.intake.post("binary", [first])
        assert ingest_all(services) == 1
        admin.indices.put_settings(index=f"azul.*.{partition}.binary2*",
                                   body={"index.mapping.total_fields.limit": 1})
        refused = binary_event(sha256="c" * 64, features=[feat("brand_new_name", "x")])
        kept = [binary_event(sha256=f"{i:064x}", features=[feat("tag", str(i))]) for i in range(5)]
        services.intake.post("binary", [*kept[:2], refused, *kept[2:]])
        assert ingest_all(services) == 6
        dead = [orjson.loads(r.value) for r in services.event_log.read("dead-letter", 0, 10)]
        assert [d["reason"] for d in dead] == ["index_refused"]
        assert "Limit of total fields" in dead[0]["error"] and dead[0]["event"]["entity"]["sha256"] == "c" * 64
        services.index.refresh()
        for event in kept:
            assert services.index.documents([event["entity"]["sha256"]], system(services))
        assert build_ingestor(services, "binary").run_once(wait=0) == 0
    finally:
        services.close()
        admin.close()
        drop_partition(opensearch_url, partition)


def test_dead_letters_of_huge_records_are_bounded(services: Services) -> None:
    """A record of several MB that intake would never have taken (written to the log by something
    else) is dead-lettered by its start, its topic and offset: a dead letter holding all of it was
    larger than Kafka takes, and writing it failed the batch for ever."""
    from azul_metastore.ingest.ingestor import DEAD_LETTER_OVERHEAD

    limit = services.settings.max_event_bytes
    huge_json = orjson.dumps({"pad": "x" * (limit + 10)})
    services.event_log.append("binary", [Message("a", b"\x00" * (3 * limit)), Message("b", huge_json)])
    assert not services.intake.post("binary", [binary_event()]).failures
    assert ingest_all(services) == 3
    letters = services.event_log.read("dead-letter", 0, 10)
    assert len(letters) == 2
    for letter in letters:
        assert len(letter.value) < limit + DEAD_LETTER_OVERHEAD
    dead = [orjson.loads(letter.value) for letter in letters]
    assert [(d["offset"], d["raw_bytes"]) for d in dead] == [(0, 3 * limit), (1, len(huge_json))]
    assert all("event" not in d and d["raw"] for d in dead)


def test_a_dead_letter_whose_event_grows_when_written_back_keeps_the_record_start() -> None:
    """A record intake never wrote (``1E5`` comes back as ``100000.0``) must not make a dead letter
    larger than the log takes."""
    from azul_metastore.events.port import Record
    from azul_metastore.ingest.ingestor import DEAD_LETTER_OVERHEAD, dead_letter

    limit = 100_000
    value = b"[" + b",".join([b"1E5"] * (limit // 4 - 1)) + b"]"
    assert len(value) <= limit
    letter = dead_letter(Record("binary", 7, "k", value, 0), "bad_shape", "not an object", limit)
    body = orjson.loads(letter.value)
    assert len(letter.value) < limit + DEAD_LETTER_OVERHEAD // 2
    assert "event" not in body and body["raw_bytes"] == len(value) and body["offset"] == 7
    small = dead_letter(Record("binary", 8, "k", b'{"a": 1}', 0), "bad_shape", "x", limit)
    assert orjson.loads(small.value)["event"] == {"a": 1}


def test_feature_numbers_no_index_holds_are_stored_as_text_and_indexing_goes_on(services: Services) -> None:
    """An integer feature past 64 bits made the encoder raise TypeError: with refresh a 500, and
    the binary ingestor died on the event, indexing nothing after it. Such values (and floats that
    are not finite) are stored without their typed part, searchable by their text, as any value
    that does not parse for its type."""
    from azul_metastore.query import parse

    huge = "1180591620717411303424"
    odd = binary_event(sha256="e" * 64, features=[{"name": "big", "type": "integer", "value": huge},
                                                  {"name": "ratio", "type": "float", "value": "inf"},
                                                  {"name": "nan", "type": "float", "value": "nan"}])
    services.intake.post("binary", [odd, binary_event(sha256="f" * 64)])
    assert ingest_all(services) == 2
    access = system(services)
    assert services.index.find(parse(f"features_map.big:{huge}"), access) == ["e" * 64]
    assert services.index.find(parse("features_map.ratio:inf"), access) == ["e" * 64]
    assert services.index.documents(["f" * 64], access)
    assert list(services.event_log.read("dead-letter", 0, 10)) == []


def test_an_event_the_encoder_cannot_handle_is_dead_lettered_and_the_rest_indexed(services: Services) -> None:
    """An exception the indexer did not foresee (here raised by a fault-injecting wrapper, a fake of
    our own making for a bug that has no input yet) stopped the ingestor for good; the batch is
    halved until the event is alone, which is dead-lettered as ``index_error``."""
    events = [binary_event(sha256=f"{i:064x}") for i in range(5)]
    services.intake.post("binary", events)
    ingestor = build_ingestor(services, "binary")
    real = ingestor.indexer

    class FaultyIndexer:  # a fake: injects the failure of one event into the real indexer
        def index(self, model: str, batch: list[dict]):
            if any(e["entity"]["sha256"] == events[2]["entity"]["sha256"] for e in batch):
                raise TypeError("Integer exceeds 64-bit range")
            return real.index(model, batch)

    ingestor.indexer = FaultyIndexer()  # type: ignore[assignment]
    assert ingestor.run_once(wait=0) == 5
    dead = [orjson.loads(r.value) for r in services.event_log.read("dead-letter", 0, 10)]
    assert [(d["reason"], d["event"]["entity"]["sha256"]) for d in dead] == [
        ("index_error", events[2]["entity"]["sha256"])]
    assert "TypeError" in dead[0]["error"]
    access = system(services)
    assert len(services.index.documents([e["entity"]["sha256"] for e in events], access)) == 4
