"""Binary read endpoints (``/api/v0/binaries...``) over real HTTP, as users holding different labels:
find, paging, summaries, lineage, similarity, statuses. Nobody sees a document, count or link they
may not see; hidden binaries answer 404, never 403."""

from __future__ import annotations

import hashlib
import json
import random
import time
from typing import Any

import pytest
import tlsh

from azul_metastore.app import Services
from azul_metastore.content import fuzzy
from tests.support.events import binary_event
from tests.support.gen import as_logged
from tests.support.multiuser import (  # noqa: F401 - fixtures
    as_user,
    multi_server,
    multi_services,
    now_text,
    plugin_event,
    post_events,
    status_event,
)

LOW, MED, MOD1 = "LOW TLP:CLEAR", "MEDIUM REL:APPLE", "MEDIUM MOD1 REL:APPLE"
A, B, C, D, E = (c * 64 for c in "abcde")
_rng = random.Random(5)
BLOB = bytes(_rng.getrandbits(8) for _ in range(20_000))
NEAR = BLOB[:15_000] + bytes(_rng.getrandbits(8) for _ in range(5_000))
TLSH_A, TLSH_B, TLSH_D = tlsh.hash(BLOB), tlsh.hash(NEAR), tlsh.hash(BLOB[::-1])


def fv(name: str, value: str, type_: str = "string") -> dict[str, str]:
    return {"name": name, "type": type_, "value": value}


def event(sha256: str, security: str, *, tlsh_: str | None = None, ssdeep: str | None = None,
          **kwargs: Any) -> dict[str, Any]:
    ev = binary_event(sha256=sha256, security=security, **kwargs)
    ev["entity"]["md5"] = hashlib.md5(sha256.encode()).hexdigest()
    if tlsh_:
        ev["entity"]["tlsh"] = tlsh_
    if ssdeep:
        ev["entity"]["ssdeep"] = ssdeep
    return ev


SHARED = [fv(f"s{i}", f"v{i}") for i in range(6)]


@pytest.fixture
def server(multi_server: str) -> str:  # noqa: F811
    post_events(multi_server, "binary", [
        event(A, LOW, tlsh_=TLSH_A, ssdeep=fuzzy.hash_bytes(BLOB), features=[fv("f1", "alpha")],
              timestamp="2024-01-01T00:00:00+00:00"),
        event(B, MED, tlsh_=TLSH_B, ssdeep=fuzzy.hash_bytes(NEAR), features=[fv("f1", "beta")],
              timestamp="2024-01-02T00:00:00+00:00"),
        event(C, MOD1, features=[fv("f1", "secret")], source="virustotal"),
        event(D, LOW, tlsh_=TLSH_D, action="extracted", author="unzip", parent=A, features=[]),
        event(E, MED, action="extracted", author="unzip", parent=A, features=[]),
        event(A, LOW, action="enriched", author="p", features=[fv("url", "http://evil.com/a/b", "uri"),
                                                                fv("path", "C:\\dir\\file.exe", "filepath"),
                                                                fv("f1", "alpha"), *SHARED]),
        event(A, MED, action="enriched", author="p", features=[fv("f2", "medium-only")]),
        event(B, MED, action="enriched", author="p", features=SHARED),
        event(D, LOW, action="enriched", author="p", features=SHARED[:5]),
    ])
    binary_a = binary_event(sha256=A, security=LOW)
    post_events(multi_server, "status", [
        status_event("p", "1", binary_a, "completed", security=LOW),
        status_event("q", "1", binary_a, "heartbeat", security=LOW, timestamp=now_text(-1)),
        status_event("r", "1", binary_a, "error-exception", security=MED),
    ])
    post_events(multi_server, "plugin", [plugin_event("p", "1", config={"filter_max_content_size": "5"})])
    return multi_server


def call(server: str, user: str, method: str, path: str, **kwargs: Any) -> Any:
    with as_user(server, user) as client:
        return client.request(method, f"/api/v0{path}", **kwargs)


def data(resp: Any) -> Any:
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert set(body) == {"data", "meta"}
    return body["data"]


def get(server: str, user: str, path: str, **params: Any) -> Any:
    return data(call(server, user, "GET", path, params=params))


def post(server: str, user: str, path: str, body: Any = None, **params: Any) -> Any:
    return data(call(server, user, "POST", path, json=body, params=params))


# --- find --------------------------------------------------------------------------------------------


def test_find_by_term_follows_access(server: str) -> None:
    def keys(user: str, term: str) -> list[str]:
        return sorted(i["sha256"] for i in post(server, user, "/binaries", {"hashes": []}, term=term)["items"])

    assert keys("low", "features_map.f1:alpha") == [A]
    assert keys("low", "features_map.f1:*") == [A]
    assert keys("med", "features_map.f1:*") == [A, B]
    assert keys("high", "features_map.f1:*") == [A, B, C]
    # a feature the caller sees nowhere is not in their model: 422 as for any unknown field
    assert call(server, "low", "POST", "/binaries", json={"hashes": []},
                params={"term": "features_map.f2:medium-only"}).status_code == 422
    assert keys("med", "features_map.f2:medium-only") == [A]
    # top-level AND spans documents of different plugins
    assert keys("low", 'features_map.f1:alpha AND features_map.url:"http://evil.com/a/b"') == [A]
    found = post(server, "low", "/binaries", {"hashes": []}, term="features_map.f1:alpha", count_entities="true")
    assert found["items_count"] == 1
    item = found["items"][0]
    assert item["key"] == A and item["exists"] and item["has_content"]
    assert item["sources"] == [{"depth": 0, "name": "samples", "timestamp": "2024-01-01T00:00:00.000Z",
                                "references": {"user": "bob"}}]
    assert item["md5"] == hashlib.md5(A.encode()).hexdigest() and item["tlsh"] == TLSH_A
    # GET works too
    assert [i["sha256"] for i in get(server, "low", "/binaries", term="features_map.f1:alpha")["items"]] == [A]


def test_find_by_hashes_keeps_order_and_marks_missing_and_duplicates(server: str) -> None:
    md5_a = hashlib.md5(A.encode()).hexdigest()
    items = post(server, "low", "/binaries", {"hashes": [B, A, "f" * 64, md5_a]})["items"]
    assert [(i["key"], i["exists"]) for i in items] == [(B, False), (A, True), ("f" * 64, False), ("md5", True)]
    assert items[0] == {"key": B, "exists": False, "has_content": False}
    assert items[3]["is_duplicate_find"] is True and items[3]["sha256"] == A
    assert [i["exists"] for i in post(server, "med", "/binaries", {"hashes": [B, A]})["items"]] == [True, True]
    # hashes with a term: both must hold
    both = post(server, "med", "/binaries", {"hashes": [A, B]}, term="features_map.f1:beta")["items"]
    assert [(i["key"], i["exists"]) for i in both] == [(A, False), (B, True)]
    # the clauses of a term's root AND may each hold on another document, with hashes too
    across = "features_map.f1:alpha features_map.f2:medium-only"
    assert [i["sha256"] for i in get(server, "med", "/binaries", term=across)["items"]] == [A]
    narrowed = post(server, "med", "/binaries", {"hashes": [A, B]}, term=across)["items"]
    assert [(i["key"], i["exists"]) for i in narrowed] == [(A, True), (B, False)]


def test_find_errors(server: str) -> None:
    bad = call(server, "low", "POST", "/binaries", json={"hashes": []}, params={"term": 'f1:"open'})
    assert bad.status_code == 400 and bad.json()["detail"]["parameters"]["column"]
    unknown = call(server, "low", "POST", "/binaries", json={"hashes": []}, params={"term": "features_map.nope:x"})
    assert unknown.status_code == 422 and "features_map.nope" in unknown.json()["message"]
    assert call(server, "low", "POST", "/binaries", params={"max_entities": 1001}).status_code == 400
    many = call(server, "low", "POST", "/binaries", json={"hashes": [f"{i:064x}" for i in range(1001)]})
    assert many.status_code == 400 and "at most 1000" in many.json()["message"]
    # as many hashes as accepted, with a term: the OR of them compiles on every index (it was a 500)
    md5s = [hashlib.md5(str(i).encode()).hexdigest() for i in range(999)] + [hashlib.md5(A.encode()).hexdigest()]
    found = post(server, "low", "/binaries", {"hashes": md5s}, term="features_map.f1:alpha")["items"]
    assert [i["key"] for i in found if i["exists"]] == [md5s[-1]]


def test_find_all_pages_until_empty_and_ignores_unknown_params(server: str) -> None:
    def walk(user: str) -> tuple[list[str], int]:
        after, seen, total = None, [], None
        for _ in range(10):
            page = post(server, user, "/binaries/all", {"after": after}, num_binaries=2, numodels_restapi=5)
            total = page["total"] if total is None else total
            if not page["items"]:
                assert page["after"] is None
                return seen, total
            assert page["after"]
            seen += [i["sha256"] for i in page["items"]]
            after = page["after"]
        raise AssertionError("no last page")

    assert walk("low") == ([A, D], 2)
    assert walk("high") == ([A, B, C, D, E], 5)
    assert call(server, "low", "POST", "/binaries/all", json={"after": "not json"}).status_code == 422
    assert post(server, "med", "/binaries/all", term="features_map.f1:beta")["items"] == [{"sha256": B}]


def test_family_pages_hide_links_the_caller_may_not_see(server: str) -> None:
    low = post(server, "low", "/binaries/all/children", {"after": None}, family_sha256=A)
    assert [i["sha256"] for i in low["items"]] == [D] and low["total"] == 1
    assert low["items"][0]["author_name"] == "unzip"
    med = post(server, "med", "/binaries/all/children", family_sha256=A)
    assert [i["sha256"] for i in med["items"]] == [D, E] and med["total"] == 2
    parents = post(server, "low", "/binaries/all/parents", family_sha256=D)
    assert [i["sha256"] for i in parents["items"]] == [A]
    assert post(server, "low", "/binaries/all/parents", family_sha256=E)["items"] == []


def test_model_and_autocomplete(server: str) -> None:
    low = get(server, "low", "/binaries/model")["keys"]
    assert low["binary.tag"] == low["feature.tag"] == "keyword" and low["size"] == "unsigned_long"
    assert "features_map.f1" in low and "features_map.f2" not in low and "security" not in low
    assert "features_map.f2" in get(server, "med", "/binaries/model")["keys"]
    assert get(server, "low", "/binaries/autocomplete", term="", offset=-1) == {"type": "Initial"}
    assert get(server, "low", "/binaries/autocomplete", term="size:", offset=4)["type"] == "FieldValue"


# --- summary -----------------------------------------------------------------------------------------


def test_head_and_summary_answer_404_for_hidden_binaries(server: str) -> None:
    assert call(server, "low", "HEAD", f"/binaries/{A}").status_code == 200
    assert call(server, "low", "HEAD", f"/binaries/{B}").status_code == 404
    assert call(server, "low", "GET", f"/binaries/{B}").status_code == 404
    assert call(server, "med", "HEAD", f"/binaries/{B}").status_code == 200
    assert call(server, "low", "HEAD", f"/binaries/{'9' * 64}").status_code == 404


def test_summary_sections(server: str) -> None:
    low = get(server, "low", f"/binaries/{A}")
    assert low["documents"]["count"] == 2 and low["security"] == [LOW]
    assert [s["source"] for s in low["sources"]] == ["samples"]
    assert [s["name"] for s in low["sources"][0]["direct"]] == ["samples"]
    assert [c["sha256"] for c in low["children"]] == [D]
    assert low["children"][0]["track_link"] and low["children"][0]["author"]["name"] == "unzip"
    names = [(f["name"], f["value"]) for f in low["features"]]
    assert ("f1", "alpha") in names and ("f2", "medium-only") not in names
    f1 = next(f for f in low["features"] if f["name"] == "f1")
    assert len(f1["instances"]) == 2  # sourced and enriched both reported it
    path = next(f for f in low["features"] if f["name"] == "path")
    assert path["parts"]["filepath_unix"] == ["C:", "C:/dir", "C:/dir/file.exe"]
    assert path["parts"]["filepath_unixr"] == ["file.exe", "dir/file.exe", "C:/dir/file.exe"]
    url = next(f for f in low["features"] if f["name"] == "url")
    assert url["parts"]["hostname"] == "evil.com"
    assert [s["label"] for s in low["streams"]] == [["content"]]
    assert {i["key"] for i in low["instances"]} == {f"{A}.user.tester.sourced", f"{A}.plugin.p.enriched"}
    assert [d["id"] for d in low["diagnostics"]] == ["large"]
    med = get(server, "med", f"/binaries/{A}")
    assert med["documents"]["count"] == 3 and med["security"][0] in (LOW, MED) and len(med["security"]) == 2
    assert [c["sha256"] for c in med["children"]] == [D, E]
    assert ("f2", "medium-only") in [(f["name"], f["value"]) for f in med["features"]]
    child = get(server, "low", f"/binaries/{D}", detail=["parents", "documents"])
    assert [p["sha256"] for p in child["parents"]] == [A] and child["features"] == [] and child["sources"] == []
    few = get(server, "med", f"/binaries/{A}", bucket_size=1)
    assert "many_buckets_children" in [d["id"] for d in few["diagnostics"]] and len(few["children"]) == 1
    only_p = get(server, "low", f"/binaries/{A}", author="p")
    assert only_p["documents"]["count"] == 1 and only_p["sources"] == []
    assert call(server, "low", "GET", f"/binaries/{A}", params={"detail": "colour"}).status_code == 422


def test_new_events_statuses_and_tags(server: str, multi_services: Services) -> None:  # noqa: F811
    assert get(server, "low", f"/binaries/{A}/new", timestamp="2023-01-01T00:00:00Z")["count"] == 2
    assert get(server, "low", f"/binaries/{A}/new", timestamp="2030-01-01T00:00:00Z") == {"count": 0, "newest": None}
    events = get(server, "low", f"/binaries/{A}/events")
    assert events["total_docs"] == 2 and {d["action"] for d in events["items"]} == {"sourced", "enriched"}
    assert get(server, "med", f"/binaries/{A}/events", event_type="enriched")["total_docs"] == 2
    assert call(server, "low", "GET", f"/binaries/{B}/events").status_code == 404
    low = get(server, "low", f"/binaries/{A}/statuses")["items"]
    assert [(s["author"]["name"], s["entity"]["status"], s["completed"]) for s in low] == [
        ("p", "completed", 1), ("q", "heartbeat-lost", 0)]
    assert "r" in [s["author"]["name"] for s in get(server, "med", f"/binaries/{A}/statuses")["items"]]
    assert call(server, "low", "GET", f"/binaries/{D}/statuses").status_code == 404
    assert get(server, "low", f"/binaries/{A}/tags") == {"items": []}
    assert get(server, "low", "/binaries/tags") == {"tags": [], "num_tags": 0, "num_tags_approx": False}
    for sha, security in ((A, LOW), (B, MED)):
        resp = call(server, "high", "POST", f"/binaries/{sha}/tags/bad", json={"security": security})
        assert resp.status_code == 200, resp.text
    assert [t["tag"] for t in get(server, "low", f"/binaries/{A}/tags")["items"]] == ["bad"]
    assert get(server, "low", "/binaries/tags")["tags"] == [{"tag": "bad", "num_entities": 1,
                                                           "num_entities_approx": False}]
    assert get(server, "med", "/binaries/tags")["tags"][0]["num_entities"] == 2
    assert [i["sha256"] for i in post(server, "low", "/binaries", term="binary.tag:bad")["items"]] == [A]


# --- lineage -----------------------------------------------------------------------------------------


def test_nearby_walks_links_the_caller_may_see(server: str) -> None:
    low = get(server, "low", f"/binaries/{D}/nearby")
    assert low["id_focus"] == D
    pairs = {(link["child"], link["parent"]) for link in low["links"]}
    assert (D, A) in pairs and (A, None) in pairs and (E, A) not in pairs
    source = next(link for link in low["links"] if link["parent"] is None)
    assert source["source"]["name"] == "samples" and source["child_node"]["sha256"] == A
    med = get(server, "med", f"/binaries/{D}/nearby", include_cousins="yes")
    assert (E, A) in {(link["child"], link["parent"]) for link in med["links"]}
    assert (E, A) not in {(link["child"], link["parent"])
                          for link in get(server, "med", f"/binaries/{D}/nearby", include_cousins="no")["links"]}


def test_ten_thousand_children_page_fast(multi_server: str, multi_services: Services) -> None:  # noqa: F811
    parent = "9" * 64
    events = [binary_event(sha256=parent, security=LOW)]
    events += [binary_event(sha256=hashlib.sha256(b"%d" % i).hexdigest(), action="extracted", author="unzip",
                            parent=parent, security=LOW, features=[]) for i in range(10_000)]
    docs = []
    for ev in events:
        docs += multi_services.encoder.encode_binary(as_logged("binary", ev)).documents
    multi_services.index.write(docs)
    started = time.perf_counter()
    page = post(multi_server, "low", "/binaries/all/children", family_sha256=parent)
    assert len(page["items"]) == 50 and page["total"] == 10_000
    summary = get(multi_server, "low", f"/binaries/{parent}")
    assert len(summary["children"]) == 100 and "many_buckets_children" in [d["id"] for d in summary["diagnostics"]]
    assert time.perf_counter() - started < 2.0
    second = post(multi_server, "low", "/binaries/all/children", {"after": page["after"]}, family_sha256=parent)
    assert second["items"][0]["sha256"] > page["items"][-1]["sha256"] and second.get("total") is None


# --- similarity --------------------------------------------------------------------------------------


def test_tlsh_reports_the_real_distance(server: str) -> None:
    med = get(server, "med", "/binaries/similar/tlsh", tlsh=TLSH_A)["matches"]
    assert [m["sha256"] for m in med] == sorted([B, D], key=lambda s: tlsh.diff(TLSH_A, TLSH_B if s == B else TLSH_D))
    assert {m["sha256"]: m["score"] for m in med} == {B: tlsh.diff(TLSH_A, TLSH_B), D: tlsh.diff(TLSH_A, TLSH_D)}
    low = get(server, "low", "/binaries/similar/tlsh", tlsh=TLSH_B, max_matches=5)["matches"]
    assert next(m["sha256"] for m in low) == A and B not in [m["sha256"] for m in low]
    bad = call(server, "low", "GET", "/binaries/similar/tlsh", params={"tlsh": "T2" + "0" * 70})
    assert bad.status_code == 422


def test_ssdeep_scores_with_libfuzzy(server: str) -> None:
    ssdeep_a = fuzzy.hash_bytes(BLOB)
    med = get(server, "med", "/binaries/similar/ssdeep", ssdeep=fuzzy.hash_bytes(NEAR))["matches"]
    assert med == [{"sha256": A, "score": fuzzy.compare(fuzzy.hash_bytes(NEAR), ssdeep_a)}]
    assert get(server, "low", "/binaries/similar/ssdeep", ssdeep=ssdeep_a)["matches"] == []
    assert call(server, "low", "GET", "/binaries/similar/ssdeep", params={"ssdeep": "nope"}).status_code == 422


def test_similar_features_and_entropy(server: str) -> None:
    low = get(server, "low", f"/binaries/{A}/similar/features")
    assert low["status"] == "complete" and low["num_feature_values"] == 9
    assert [(m["sha256"], m["score_sum"], m["contributions"]) for m in low["matches"]] == [(D, 5, [["p", 5]])]
    med = get(server, "med", f"/binaries/{A}/similar/features")
    assert [m["sha256"] for m in med["matches"]] == [B, D]
    assert call(server, "low", "GET", f"/binaries/{B}/similar/features").status_code == 404
    entropy = post(server, "low", f"/binaries/{A}/similar/entropy", [1.0] * 50)
    assert entropy == {"matches": []}


def test_x_filter_hides_documents(server: str) -> None:
    hidden = call(server, "med", "GET", f"/binaries/{B}", params={"x": "MEDIUM"})
    assert hidden.status_code == 404
    body = json.loads(call(server, "med", "GET", f"/binaries/{A}", params={"x": "MEDIUM"}).text)
    assert body["data"]["documents"]["count"] == 2 and body["meta"]["sec_filter"] == "OR"
