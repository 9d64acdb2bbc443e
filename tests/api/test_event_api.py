"""The dispatcher-compatible event API over real HTTP."""

from __future__ import annotations

import json

import httpx

from azul_metastore.app import Services
from tests.support.dispatcher import parse_events_response
from tests.support.events import binary_event, fixture_event


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
