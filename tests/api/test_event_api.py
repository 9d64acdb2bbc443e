"""The dispatcher-compatible event API over real HTTP."""

from __future__ import annotations

import json

import httpx
import orjson

from azul_metastore.app import Services
from tests.support.dispatcher import parse_events_response
from tests.support.events import binary_event, fixture_event, sha256_of


def post(server: str, model: str, events: object, **params: object) -> httpx.Response:
    return httpx.post(f"{server}/api/v2/event", params={"model": model, **params},
                      content=json.dumps(events), headers={"content-type": "application/json"}, timeout=30)


def test_fixture_events_are_accepted_with_tracking(server: str, services: Services) -> None:
    events = [fixture_event("2bd32_cuckoo.json"), fixture_event("2bd32_vtfilemapper.json")]
    resp = post(server, "binary", events, include_ok="true")
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["total_ok"] == 2 and body["total_failures"] == 0 and body["failures"] == []
    assert all(e["track_source_references"].startswith("virustotal.") for e in body["ok"])
    stored = [json.loads(r.value) for r in services.event_log.read("binary", 0, 10)]
    assert [e["kafka_key"] for e in stored] == [e["kafka_key"] for e in body["ok"]]
    assert stored[1]["track_links"][0].startswith("2bd322c8784fe18426cae39c7a23e8e8330f8510ad4ac6102bdd9bb28c2fba35-")


def test_partial_success_names_index_and_field(server: str, services: Services) -> None:
    naive = binary_event(timestamp="2024-01-01T00:00:00")
    unknown = binary_event()
    unknown["entity"]["colour"] = "red"
    broken_rule = binary_event(action="mapped")
    broken_rule["entity"]["datastreams"] = binary_event()["entity"]["datastreams"]  # mapped may not carry content
    big = binary_event(pad=2 * 1024 * 1024)
    events = [binary_event(), naive, unknown, broken_rule, big, "not an object"]
    resp = post(server, "binary", events)
    assert resp.status_code == 200
    body = resp.json()
    assert body["total_ok"] == 1 and body["total_failures"] == 5
    errors = [f["error"] for f in body["failures"]]
    assert errors[0].startswith("event 1: ") and "timestamp" in errors[0] and "timezone" in errors[0]
    assert errors[1].startswith("event 2: entity.colour")
    assert errors[2].startswith("event 3: ") and "mapped event may not carry" in errors[2]
    assert errors[3].startswith("event 4: ") and "over the limit" in errors[3]
    assert errors[4].startswith("event 5: ")
    assert services.event_log.end_offset("binary") == 1
    assert body["ok"] == []


def test_an_event_over_the_limit_once_tracked_fails_alone(server: str, services: Services) -> None:
    """Tracking adds a link and an author per node of the path: an event under the limit as
    posted can be over it once tracked. It failed the whole batch (422); now it fails alone."""
    limit = services.settings.max_event_bytes
    deep = binary_event(action="extracted", parent=sha256_of("parent"), above=[sha256_of(str(i)) for i in range(20)])
    deep = binary_event(action="extracted", parent=sha256_of("parent"), above=[sha256_of(str(i)) for i in range(20)],
                        pad=limit - 50 - len(orjson.dumps(deep)))
    assert limit - 100 < len(orjson.dumps(deep)) <= limit
    resp = post(server, "binary", [binary_event(), deep, binary_event(author="later")])
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["total_ok"] == 2 and body["total_failures"] == 1
    assert body["failures"][0]["error"].startswith("event 1: ") and "once tracked" in body["failures"][0]["error"]
    assert services.event_log.end_offset("binary") == 2


def test_whole_request_errors(server: str) -> None:
    bad_json = httpx.post(f"{server}/api/v2/event", params={"model": "binary"}, content=b"[{nope")
    assert bad_json.status_code == 400 and "not valid JSON" in bad_json.json()["message"]
    not_array = post(server, "binary", {"a": 1})
    assert not_array.status_code == 400 and "JSON array" in not_array.json()["message"]
    unknown = post(server, "kitten", [])
    assert unknown.status_code == 400 and "accepted: binary, delete" in unknown.json()["message"]
    all_bad = post(server, "binary", [{"x": 1}])
    assert all_bad.status_code == 422
    assert all_bad.json()["detail"]["parameters"]["failures"][0]["error"].startswith("event 0:")


def test_passive_and_active_fetch(server: str, services: Services) -> None:
    post(server, "binary", [binary_event(author=f"a{i}") for i in range(3)])
    resp = httpx.get(f"{server}/api/v2/event/binary/passive",
                     params={"name": "ingest", "version": "1", "count": 2, "deadline": 1}, timeout=30)
    info, events = parse_events_response(resp)
    assert info["fetched"] == 2 and len(events) == 2 and "dequeued" not in events[0]
    resp = httpx.get(f"{server}/api/v2/event/binary/active",
                     params={"name": "plug", "version": "2", "count": 10, "deadline": 1}, timeout=30)
    info, events = parse_events_response(resp)
    assert len(events) == 3
    assert events[0]["dequeued"].startswith(f"{events[0]['kafka_key']}.plug.2.")
    statuses = [json.loads(r.value) for r in services.event_log.read("status", 0, 10)]
    assert [s["entity"]["status"] for s in statuses] == ["dequeued"] * 3
    assert {s["entity"]["input"]["dequeued"] for s in statuses} == {e["dequeued"] for e in events}
    # the same consumer group has nothing left
    resp = httpx.get(f"{server}/api/v2/event/binary/active",
                     params={"name": "plug", "version": "2", "count": 10, "deadline": 0}, timeout=30)
    assert parse_events_response(resp)[1] == []


def test_filters_report_what_they_dropped(server: str) -> None:
    post(server, "binary", [binary_event(), binary_event(action="enriched", author="p")])
    resp = httpx.get(f"{server}/api/v2/event/binary/passive",
                     params={"name": "f", "count": 10, "deadline": 1, "r-action": "sourced"}, timeout=30)
    info, events = parse_events_response(resp)
    assert [e["action"] for e in events] == ["sourced"]
    assert info["filtered"] == 1 and info["filters"] == {"r-action": 1}


def test_one_bad_event_fails_alone(server: str, services: Services) -> None:
    """An event whose fields cannot be read (a legacy event that does not upgrade, a timestamp that
    leaves the range of dates once in UTC) is a failure of its own: the others are published."""
    bad_version = binary_event(author="b1")
    bad_version["model_version"] = "six"
    bad_path = binary_event(author="b2")
    bad_path.pop("model_version")  # a legacy event: upgraded before it is validated
    bad_path["source"]["path"] = 5
    early = binary_event(author="b3", timestamp="0001-01-01T00:00:00+01:00")
    late = binary_event(author="b4")
    late["source"]["timestamp"] = "9999-12-31T23:59:59-01:00"
    # legacy enriched events with content and other streams, whose source or path is not an object
    # or list, made the upgrade raise AttributeError/KeyError: 500 for the whole batch
    odd_legacy = []
    for source in ("a-string", {"name": "s", "path": {"not": "a list"}}):
        legacy = binary_event(action="augmented", author="b5")
        legacy.pop("model_version")
        legacy["action"] = "enriched"
        legacy["source"] = source
        odd_legacy.append(legacy)
    resp = post(server, "binary", [binary_event(), bad_version, bad_path, early, late, *odd_legacy])
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["total_ok"] == 1 and body["total_failures"] == 6
    errors = [f["error"] for f in body["failures"]]
    assert [e.split(":")[0] for e in errors] == ["event 1", "event 2", "event 3", "event 4", "event 5", "event 6"]
    assert errors[0].startswith("event 1: model_version: ") and errors[1].startswith("event 2: source.path: ")
    assert all("out of range" in e for e in errors[2:4])
    assert services.event_log.end_offset("binary") == 1


def test_plugin_instances_asking_at_once_get_different_events(server: str, services: Services) -> None:
    """Instances of one plugin share its consumer group: two asking at once never get the same event."""
    import threading

    from azul_metastore.events.dispatch import ConsumerFilters

    services.intake.post("binary", [binary_event(author=f"u{i}") for i in range(200)])
    seen: list[str] = []
    lock = threading.Lock()

    def instance() -> None:
        while True:
            got = services.dispatch.get_events("binary", "p", "1", 5, 0, False, ConsumerFilters())
            if not got.info["fetched"]:
                return
            with lock:
                seen.extend(e["kafka_key"] for e in got.events)

    threads = [threading.Thread(target=instance) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(seen) == 200 and len(set(seen)) == 200


def test_records_that_are_not_events_do_not_stop_delivery(server: str, services: Services) -> None:
    """Something other than intake wrote junk to the topic: it is skipped and counted, and the
    events behind it are delivered."""
    from azul_metastore.events.port import Message

    services.event_log.append("binary", [Message("a", b"{not json"), Message("b", b"[1]"),
                                         Message("c", json.dumps({"action": "sourced", "author": "x",
                                                                  "source": "y"}).encode())])
    post(server, "binary", [binary_event(), binary_event(author="other")])
    resp = httpx.get(f"{server}/api/v2/event/binary/passive",
                     params={"name": "f", "count": 10, "deadline": 1, "d-self": "true"}, timeout=30)
    assert resp.status_code == 200, resp.text
    info, events = parse_events_response(resp)
    assert len(events) == 2 and info["filters"] == {"unreadable": 3}
