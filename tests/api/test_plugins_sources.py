"""Plugin, source and statistics endpoints over real HTTP, as users holding different labels."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.events import binary_event
from tests.support.multiuser import (  # noqa: F401 - fixtures
    as_user,
    multi_server,
    multi_services,
    now_text,
    plugin_event,
    post_events,
    status_event,
)

LOW, MED = "LOW TLP:CLEAR", "MEDIUM REL:APPLE"


def data(resp: Any) -> Any:
    assert resp.status_code == 200, resp.text
    return resp.json()["data"]


def get(server: str, user: str, path: str, **params: Any) -> Any:
    with as_user(server, user) as client:
        return data(client.get(f"/api/v0{path}", params=params))


def status(server: str, user: str, path: str, method: str = "GET") -> int:
    with as_user(server, user) as client:
        return client.request(method, f"/api/v0{path}").status_code


# --- plugins -----------------------------------------------------------------------------------------


@pytest.fixture
def plugin_server(multi_server: str) -> str:  # noqa: F811
    post_events(multi_server, "plugin", [
        plugin_event("p", "1", timestamp="2024-01-01T00:00:00Z",
                     features=[{"name": "f1", "desc": "first", "type": "string"}]),
        plugin_event("p", "2", timestamp="2024-02-01T00:00:00Z",
                     features=[{"name": "f1", "desc": "first", "type": "string"}],
                     config={"is_processing_download_events": "true", "filter_max_content_size": "1000"}),
        # another author category: Azul never counted its statuses (§11 item 16)
        plugin_event("fetcher", "7", category="loader", security=MED),
    ])
    binaries = [binary_event(sha256=c * 64, security=LOW) for c in "ab"] + [binary_event(sha256="c" * 64,
                                                                                           security=MED)]
    post_events(multi_server, "binary", [*binaries,
                                         binary_event(sha256="a" * 64, action="enriched", author="p", version="2",
                                                      security=LOW)])
    old = now_text(-30)
    post_events(multi_server, "status", [
        status_event("p", "2", binaries[0], "completed", security=LOW),
        status_event("p", "2", binaries[1], "error-exception", security=LOW),
        status_event("p", "2", binaries[2], "completed-empty", security=MED),
        status_event("p", "2", binaries[0], "completed", security=LOW, timestamp=old),
        status_event("fetcher", "7", binaries[2], "completed", category="loader", security=MED),
        status_event("fetcher", "7", binaries[2], "error-timeout", category="loader", security=MED),
    ])
    return multi_server


def test_empty_plugin_list_is_an_empty_list(multi_server: str) -> None:  # noqa: F811
    # azul-client raises on Azul's 404 here; an empty list lets it show "no plugins"
    assert get(multi_server, "low", "/plugins") == []
    assert get(multi_server, "low", "/plugins/status") == []
    assert status(multi_server, "low", "/plugins/download") == 404


def test_plugins_newest_version_first(plugin_server: str) -> None:
    low = get(plugin_server, "low", "/plugins")
    assert [(p["versions"], p["newest_version"]["name"]) for p in low] == [(["2", "1"], "p")]
    newest = low[0]["newest_version"]
    assert set(newest) == {"category", "name", "version", "contact", "last_completion", "stats", "description",
                           "features", "config", "security"}
    assert newest["version"] == "2" and newest["features"] == [
        {"name": "f1", "desc": "first", "tags": None, "type": "string"}]
    assert newest["config"]["is_processing_download_events"] == "true" and newest["security"] == "LOW"
    med = get(plugin_server, "med", "/plugins")
    assert [p["newest_version"]["name"] for p in med] == ["fetcher", "p"]


def test_status_summary_counts_only_visible_statuses_for_every_category(plugin_server: str) -> None:
    low = {p["newest_version"]["name"]: p for p in get(plugin_server, "low", "/plugins/status")}
    assert set(low) == {"p"}
    assert (low["p"]["success_count"], low["p"]["error_count"]) == (1, 1)  # the month-old success is not counted
    assert low["p"]["last_completion"] and low["p"]["newest_version"]["last_completion"] == low["p"]["last_completion"]
    med = {p["newest_version"]["name"]: p for p in get(plugin_server, "med", "/plugins/status")}
    assert (med["p"]["success_count"], med["p"]["error_count"]) == (2, 1)
    assert (med["fetcher"]["success_count"], med["fetcher"]["error_count"]) == (1, 1)
    assert med["fetcher"]["last_completion"] is not None


def test_plugin_detail(plugin_server: str) -> None:
    low = get(plugin_server, "low", "/plugins/p/versions/2")
    assert low["num_entities"] == 1 and low["plugin"]["version"] == "2"
    groups = {g["status"]: g for g in low["status"]}
    assert set(groups) == {"completed", "error-exception"}
    assert groups["completed"]["num_items"] == 1
    item = groups["completed"]["items"][0]
    assert item["entity"]["input"] == {"entity": {"sha256": "a" * 64}} and item["author"]["name"] == "p"
    assert set(item) == {"timestamp", "author", "entity", "completed", "security"}
    med = get(plugin_server, "med", "/plugins/p/versions/2")
    assert {g["status"] for g in med["status"]} == {"completed", "error-exception", "completed-empty"}
    assert status(plugin_server, "low", "/plugins/p/versions/9") == 404
    assert status(plugin_server, "low", "/plugins/fetcher/versions/7") == 404  # not visible to low


def test_download_plugins(plugin_server: str) -> None:
    assert get(plugin_server, "low", "/plugins/download") == [
        {"security": "LOW", "category": "plugin", "name": "p", "version": "2", "stream": None}]


# --- sources and statistics ------------------------------------------------------------------------


@pytest.fixture
def source_server(multi_server: str) -> str:  # noqa: F811
    post_events(multi_server, "binary", [
        binary_event(sha256="a" * 64, security=LOW, references={"user": "bob"}, timestamp="2024-01-01T00:00:00Z"),
        binary_event(sha256="b" * 64, security=LOW, references={"user": "bob"}, timestamp="2024-01-01T00:00:00Z"),
        binary_event(sha256="c" * 64, security=LOW, references={"user": "Carol"}, timestamp="2024-01-02T00:00:00Z"),
        binary_event(sha256="d" * 64, security=MED, references={"user": "dave"}, timestamp="2024-01-03T00:00:00Z"),
        binary_event(sha256="e" * 64, security=LOW, source="virustotal", references={"user": "vt"}),
    ])
    return multi_server


def test_source_list_and_existence(source_server: str) -> None:
    everything = get(source_server, "low", "/sources")
    assert set(everything) == {"samples", "virustotal", "testing"}
    samples = everything["samples"]
    assert samples["references"] == [{"name": "user", "required": True, "description": "who submitted",
                                      "highlight": False, "priority": True}]
    assert samples["partition_unit"] == "year" and "kafka_config_full" in samples
    assert everything["testing"]["expire_events_ms"] == 86_400_000
    with as_user(source_server, "low") as client:
        assert client.head("/api/v0/sources/samples").status_code == 200
        assert client.head("/api/v0/sources/nowhere").status_code == 404


def test_source_detail_counts_visible_direct_submissions(source_server: str) -> None:
    assert get(source_server, "low", "/sources/samples") == {
        "name": "samples", "newest": "2024-01-02T00:00:00Z", "num_entities": 3}
    assert get(source_server, "med", "/sources/samples") == {
        "name": "samples", "newest": "2024-01-03T00:00:00Z", "num_entities": 4}
    assert get(source_server, "low", "/sources/testing") == {"name": "testing", "newest": None, "num_entities": 0}
    assert status(source_server, "low", "/sources/nowhere") == 404


def test_references_by_access_and_term(source_server: str) -> None:
    low = get(source_server, "low", "/sources/samples/references", term="")["items"]
    assert [(r["values"], r["num_entities"]) for r in low] == [({"user": "Carol"}, 1), ({"user": "bob"}, 2)]
    assert set(low[0]) == {"track_source_references", "timestamp", "num_entities", "num_entities_min", "values"}
    assert low[0]["timestamp"] == "2024-01-02T00:00:00Z" and low[0]["num_entities_min"] is False
    med = get(source_server, "med", "/sources/samples/references")["items"]
    assert [r["values"]["user"] for r in med] == ["dave", "Carol", "bob"]
    assert [r["values"]["user"] for r in get(source_server, "med", "/sources/samples/references",
                                             term="CAR")["items"]] == ["Carol"]
    assert get(source_server, "low", "/sources/samples/references", term="dave")["items"] == []
    grouped = get(source_server, "low", "/sources/samples/references/grouped")["items"]
    assert [g["track_source_references_grouped"] for g in grouped] == [r["track_source_references"] for r in low]
    assert status(source_server, "low", "/sources/nowhere/references") == 404


def test_submissions(source_server: str) -> None:
    low = get(source_server, "low", "/sources/samples/submissions")["items"]
    assert [(s["values"]["user"], s["timestamp"], s["num_entities"]) for s in low] == [
        ("Carol", "2024-01-02T00:00:00Z", 1), ("bob", "2024-01-01T00:00:00Z", 2)]
    bob = low[1]["track_source_references"]
    one = get(source_server, "low", "/sources/samples/submissions", track_source_references=bob,
              timestamp="2024-01-01T00:00:00Z")["items"]
    assert [s["num_entities"] for s in one] == [2]
    assert get(source_server, "low", "/sources/samples/submissions", timestamp="2023-01-01T00:00:00Z")["items"] == []


def test_statistics_count_what_the_caller_sees(source_server: str) -> None:
    assert get(source_server, "low", "/statistics") == {"binary_count": 4}
    assert get(source_server, "med", "/statistics") == {"binary_count": 5}
    with as_user(source_server, "med") as client:
        filtered = client.get("/api/v0/statistics", params={"x": "MEDIUM"}).json()["data"]
        readonly = client.get("/api/v0/readonly")
    assert filtered == {"binary_count": 4}
    assert readonly.status_code == 200 and readonly.json() is False


def test_unauthenticated_callers_are_refused(source_server: str) -> None:
    import httpx

    assert httpx.get(f"{source_server}/api/v0/statistics").status_code == 401
    assert httpx.get(f"{source_server}/api/v0/plugins").status_code == 401
