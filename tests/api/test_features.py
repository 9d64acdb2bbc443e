"""Feature endpoints (``/api/v0/features...``) over real HTTP, as users holding different labels:
nobody sees a value, count, declared feature or tag they may not see."""

from __future__ import annotations

from typing import Any

import pytest

from azul_metastore.app import Services
from azul_metastore.index.documents import Document
from tests.support.events import binary_event
from tests.support.multiuser import (  # noqa: F401 - fixtures
    as_user,
    multi_server,
    multi_services,
    plugin_event,
    post_events,
)

LOW, MED, MOD1 = "LOW TLP:CLEAR", "MEDIUM REL:APPLE", "MEDIUM MOD1 REL:APPLE"
A, B, C = "a" * 64, "b" * 64, "c" * 64


def fv(name: str, value: str, type_: str = "string") -> dict[str, str]:
    return {"name": name, "type": type_, "value": value}


@pytest.fixture
def server(multi_server: str) -> str:  # noqa: F811
    sourced = [binary_event(sha256=A, security=LOW, features=[fv("f1", "alpha")]),
               binary_event(sha256=B, security=MED, features=[fv("f1", "beta"), fv("f1", "alpha")]),
               binary_event(sha256=C, security=MOD1, features=[fv("f1", "secret")])]
    enriched = [
        binary_event(sha256=A, action="enriched", author="p", version="1", security=LOW,
                     features=[fv("url", "http://evil.com/a/b", "uri"), fv("path", "C:\\dir\\file.exe", "filepath"),
                               fv("f1", "alpha")]),
        binary_event(sha256=B, action="enriched", author="p", version="1", security=MED,
                     features=[fv("url", "https://evil.com/x", "uri"),
                               fv("path", "C:\\dir\\sub\\other.dll", "filepath"),
                               fv("f1", "alpha")]),
    ]
    post_events(multi_server, "binary", sourced + enriched)
    post_events(multi_server, "plugin", [
        plugin_event("p", "1", features=[{"name": "f1", "desc": "first", "type": "string"},
                                         {"name": "url", "desc": "a url", "type": "uri"}],
                     timestamp="2024-01-01T00:00:00Z"),
        plugin_event("p", "2", features=[{"name": "f1", "desc": "first, again", "type": "string"}],
                     timestamp="2024-02-01T00:00:00Z"),
        plugin_event("q", "1", features=[{"name": "hidden", "desc": "secret feature", "type": "string"}],
                     security=MED),
    ])
    return multi_server


def data(resp: Any) -> Any:
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert set(body) == {"data", "meta"}
    return body["data"]


def post(server: str, user: str, path: str, body: Any, **params: Any) -> Any:
    with as_user(server, user) as client:
        return data(client.post(f"/api/v0/features{path}", json=body, params=params))


def get(server: str, user: str, path: str, **params: Any) -> Any:
    with as_user(server, user) as client:
        return data(client.get(f"/api/v0/features{path}", params=params))


def test_value_and_entity_counts_follow_access(server: str) -> None:
    empty = {"author": "", "author_version": "", "skip_count": "false"}
    assert post(server, "low", "/values/counts", {"items": ["f1", "nope"]}, **empty) == {
        "f1": {"name": "f1", "values": 1, "entities": None}, "nope": {"name": "nope", "values": 0, "entities": None}}
    assert post(server, "med", "/values/counts", {"items": ["f1"]}, **empty)["f1"]["values"] == 2
    assert post(server, "high", "/values/counts", {"items": ["f1"]}, **empty)["f1"]["values"] == 3
    assert post(server, "low", "/entities/counts", {"items": ["f1"]}, **empty)["f1"] == {
        "name": "f1", "values": None, "entities": 1}
    assert post(server, "high", "/entities/counts", {"items": ["f1"]})["f1"]["entities"] == 3
    # author filters: only plugin p's documents
    assert post(server, "med", "/entities/counts", {"items": ["f1"]}, author="p", author_version="1")["f1"][
        "entities"] == 2
    assert post(server, "med", "/values/counts", {"items": ["f1"]}, author="p")["f1"]["values"] == 1
    assert post(server, "med", "/values/counts", {"items": ["f1"]}, author="p", author_version="9")["f1"][
        "values"] == 0


def test_value_entities_and_part_counts(server: str) -> None:
    items = {"items": [{"name": "f1", "value": "alpha"}, {"name": "f1", "value": "secret"}]}
    low = post(server, "low", "/values/entities/counts", items)
    assert low == {"f1": {"alpha": {"name": "f1", "value": "alpha", "entities": 1},
                          "secret": {"name": "f1", "value": "secret", "entities": 0}}}
    high = post(server, "high", "/values/entities/counts", items)
    assert high["f1"]["alpha"]["entities"] == 2 and high["f1"]["secret"]["entities"] == 1
    parts = {"items": [{"value": "evil.com", "part": "hostname"}, {"value": "C:/dir", "part": "filepath_unix"},
                       {"value": "other.dll", "part": "filepath_unixr"}, {"value": "https", "part": "scheme"}]}
    low_parts = post(server, "low", "/values/parts/entities/counts", parts)
    assert low_parts["evil.com"]["hostname"] == {"value": "evil.com", "part": "hostname", "entities": 1}
    assert low_parts["C:/dir"]["filepath_unix"]["entities"] == 1
    assert low_parts["other.dll"]["filepath_unixr"]["entities"] == 0
    med_parts = post(server, "med", "/values/parts/entities/counts", parts)
    assert med_parts["evil.com"]["hostname"]["entities"] == 2
    assert med_parts["C:/dir"]["filepath_unix"]["entities"] == 2
    assert med_parts["other.dll"]["filepath_unixr"]["entities"] == 1
    assert med_parts["https"]["scheme"]["entities"] == 1
    with as_user(server, "low") as client:
        bad = client.post("/api/v0/features/values/parts/entities/counts",
                          json={"items": [{"value": "x", "part": "colour"}]})
    assert bad.status_code == 422 and "colour" in bad.json()["message"]


def test_declared_features_merge_by_name_and_hide_unseen_plugins(server: str) -> None:
    low = get(server, "low", "", author="", author_version="")["items"]
    assert [f["name"] for f in low] == ["f1", "url"]
    f1 = low[0]
    assert [(d["author_name"], d["author_version"], d["desc"]) for d in f1["descriptions"]] == [
        ("p", "2", "first, again"), ("p", "1", "first")]
    assert f1["descriptions"][0] == {"author_type": "plugin", "author_name": "p", "author_version": "2",
                                     "timestamp": "2024-02-01T00:00:00Z", "desc": "first, again", "type": "string"}
    assert f1["tags"] == [] and f1["security"] == ["LOW"]
    med = get(server, "med", "")["items"]
    assert [f["name"] for f in med] == ["f1", "hidden", "url"]
    assert [f["name"] for f in get(server, "med", "", author="p", author_version="1")["items"]] == ["f1", "url"]


def test_values_page_through_with_after(server: str) -> None:
    first = post(server, "med", "/feature/f1", {"after": ""}, num_values=1, term="", author="", author_version="")
    assert first["name"] == "f1" and first["type"] == "string" and first["total"] == 2
    assert [v["value"] for v in first["values"]] == ["alpha"] and first["after"] and not first["is_search_complete"]
    value = first["values"][0]
    assert set(value) == {"name", "value", "tags", "newest_processed", "score"}
    assert value["newest_processed"].startswith("2024-01-01")
    second = post(server, "med", "/feature/f1", {"after": first["after"]}, num_values=1)
    assert [v["value"] for v in second["values"]] == ["beta"]
    rest = post(server, "med", "/feature/f1", {"after": second["after"]}, num_values=1) if second["after"] else None
    assert rest is None or rest["values"] == []
    # null after is a first page too (the web UI), descending order, whole set for high
    everything = post(server, "high", "/feature/f1", {"after": None}, sort_asc="false")
    assert [v["value"] for v in everything["values"]] == ["secret", "beta", "alpha"]
    assert everything["is_search_complete"] and everything["after"] is None and everything["total"] == 3
    # low never sees beta or secret, whatever the page
    assert [v["value"] for v in post(server, "low", "/feature/f1", {"after": ""})["values"]] == ["alpha"]


def test_value_search_terms(server: str) -> None:
    found = post(server, "high", "/feature/f1", {"after": ""}, term="ET")
    assert found["values"] == []
    found = post(server, "high", "/feature/f1", {"after": ""}, term="ET", case_insensitive="true")
    assert [(v["value"], v["score"]) for v in found["values"]] == [("beta", 1), ("secret", 1)]
    assert found["total"] == 2 and not found["is_total_approx"]
    assert post(server, "med", "/feature/f1", {"after": ""}, term="secret")["values"] == []
    with as_user(server, "low") as client:
        no_body = client.post("/api/v0/features/feature/f1")
    assert no_body.status_code == 200 and [v["value"] for v in no_body.json()["data"]["values"]] == ["alpha"]


def test_pivot_counts_values_of_binaries_sharing_a_value(server: str) -> None:
    body = {"feature_values": [{"feature_name": "f1", "feature_value": "alpha"}]}
    med = post(server, "med", "/pivot", body)
    by_name = {f["feature_name"]: f for f in med["feature_value_counts"]}
    # A and B both carry f1=alpha on two documents each; url values differ, so none reaches two documents
    assert by_name["f1"]["values_and_counts"] == [{"feature_value": "alpha", "entity_count": "4"}]
    assert by_name["f1"]["feature_description"] == "first, again"  # the newest registration's
    assert "url" not in by_name and not med["incomplete_query"] and med["reason"] == ""
    low = post(server, "low", "/pivot", body)
    assert {f["feature_name"]: f["values_and_counts"] for f in low["feature_value_counts"]} == {
        "f1": [{"feature_value": "alpha", "entity_count": "2"}]}
    none = post(server, "high", "/pivot", {"feature_values": [{"feature_name": "f1", "feature_value": "nope"}]})
    assert none == {"feature_value_counts": [], "incomplete_query": False, "reason": "No matches found"}
    with as_user(server, "low") as client:
        assert client.post("/api/v0/features/pivot", json={"feature_values": []}).status_code == 422


def _tag(services: Services, tag: str, feature: str, value: str, security: str, state: str | None = None) -> None:
    body = {"type": "fv_tag", "feature_name": feature, "feature_value": value, "tag": tag, "owner": "alice",
            "timestamp": "2024-03-01T00:00:00Z", "security": security,
            "encoded_security": services.encoder.security.encoded(security), "pivot": f"{feature}.{value}"}
    if state:
        body["state"] = state
    services.index.write([Document("annotation", f"alice.fv_tag.{tag}.{feature}.{value}", body)])


def test_feature_value_tags_are_read_by_access(server: str, multi_services: Services) -> None:  # noqa: F811
    _tag(multi_services, "bad", "f1", "alpha", "LOW")
    _tag(multi_services, "bad", "f1", "beta", "MEDIUM REL:APPLE")
    _tag(multi_services, "old", "f1", "alpha", "LOW", state="disabled")
    assert get(server, "low", "/all/tags") == {"tags": [{"tag": "bad", "num_feature_values": 1}], "num_tags": 1}
    assert get(server, "med", "/all/tags")["tags"] == [{"tag": "bad", "num_feature_values": 2}]
    items = get(server, "low", "/tags/bad")["items"]
    assert items == [{"feature_name": "f1", "feature_value": "alpha", "tag": "bad", "type": "fv_tag",
                      "owner": "alice", "timestamp": "2024-03-01T00:00:00Z", "security": "LOW"}]
    assert len(get(server, "med", "/tags/bad")["items"]) == 2
    assert get(server, "low", "/tags/old")["items"] == []
    values = post(server, "med", "/feature/f1", {"after": ""})["values"]
    assert {v["value"]: [t["tag"] for t in v["tags"]] for v in values} == {"alpha": ["bad"], "beta": ["bad"]}


def test_envelope_and_x_filter(server: str) -> None:
    with as_user(server, "med") as client:
        resp = client.post("/api/v0/features/values/counts", json={"items": ["f1"]}, params={"x": "MEDIUM"})
    body = resp.json()
    assert body["data"]["f1"]["values"] == 1 and body["meta"]["sec_filter"] == "OR"
    assert resp.headers["x-azul-security"] == body["meta"]["security"]
