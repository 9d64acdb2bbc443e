"""The aggregating MetadataStore reads behind the feature, plugin and source endpoints, held to one
answer on every index adapter: counts by enriched part, pivots, status counts, authored counts and
source submission groups, each filtered by the caller's access."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from azul_metastore.app import Services, build_services
from azul_metastore.events.intake import event_json
from azul_metastore.index.port import MetadataStore
from azul_metastore.security import Access
from tests.support.events import binary_event
from tests.support.multiuser import multiuser_settings, plugin_event, status_event
from tests.support.security import user_access

LOW, MED = "LOW TLP:CLEAR", "MEDIUM REL:APPLE"
A, B, C = "a" * 64, "b" * 64, "c" * 64


def fv(name: str, value: str, type_: str = "string") -> dict[str, str]:
    return {"name": name, "type": type_, "value": value}


@pytest.fixture(params=["sqlite", pytest.param("opensearch", marks=pytest.mark.opensearch)])
def services(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Services]:
    extra: dict[str, Any] = {}
    if request.param == "opensearch":
        extra = {"index_backend": "opensearch", "opensearch_url": request.getfixturevalue("opensearch_url"),
                 "partition": f"t{uuid.uuid4().hex[:10]}"}
    svc = build_services(multiuser_settings(tmp_path, **extra))
    events = {
        "binary": [
            binary_event(sha256=A, security=LOW, references={"user": "bob"}, timestamp="2024-01-01T00:00:00Z",
                         features=[fv("f1", "alpha"), fv("url", "http://evil.com/a", "uri"),
                                   fv("path", "C:\\dir\\file.exe", "filepath")]),
            binary_event(sha256=B, security=MED, references={"user": "Bob"}, timestamp="2024-01-02T00:00:00Z",
                         features=[fv("f1", "alpha"), fv("f1", "beta"), fv("path", "C:\\dir\\sub\\x.dll", "filepath")]),
            binary_event(sha256=C, security=LOW, references={"user": "carol"}, timestamp="2024-01-03T00:00:00Z",
                         features=[fv("f1", "beta")]),
            binary_event(sha256=A, action="enriched", author="p", version="2", security=LOW,
                         features=[fv("f1", "alpha"), fv("f2", "z")]),
        ],
        "plugin": [plugin_event("p", "2")],
        "status": [status_event("p", "2", binary_event(sha256=A), "completed", security=LOW),
                   status_event("p", "2", binary_event(sha256=B), "completed", security=MED),
                   status_event("p", "2", binary_event(sha256=C), "error-exception", security=LOW),
                   status_event("q", "1", binary_event(sha256=C), "completed", category="loader", security=LOW,
                                timestamp="2024-01-01T00:00:00Z")],
    }
    indexer = svc.indexer()
    for model, batch in events.items():
        result = svc.intake.post(model, batch)
        assert not result.failures
        indexer.index(model, [event_json(e) for e in result.accepted])
    svc.index.refresh()
    yield svc
    svc.close()
    if request.param == "opensearch":  # the partition goes with the test (eleven indices each)
        from azul_metastore.index.opensearch.client import new_client

        admin = new_client(extra["opensearch_url"])
        partition = extra["partition"]
        admin.indices.delete(index=f"azul.o.{partition}.*,azul.x.{partition}.*", ignore_unavailable=True,
                             allow_no_indices=True, expand_wildcards="all")
        admin.indices.delete_index_template(name=f"azul.{partition}.*", ignore=404)
        admin.close()


def users(svc: Services) -> tuple[MetadataStore, Access, Access]:
    return svc.index, user_access("low", svc.security), user_access("med", svc.security)


def test_part_counts(services: Services) -> None:
    index, low, med = users(services)
    assert index.count_feature_part_entities("hostname", "evil.com", low) == 1
    assert index.count_feature_part_entities("hostname", "nowhere.com", med) == 0
    assert index.count_feature_part_entities("filepath_unix", "C:/dir", low) == 1
    assert index.count_feature_part_entities("filepath_unix", "C:/dir", med) == 2
    assert index.count_feature_part_entities("filepath_unix", "C:/di", med) == 0  # whole path segments only
    assert index.count_feature_part_entities("filepath_unixr", "x.dll", med) == 1
    assert index.count_feature_part_entities("filepath_unixr", "x.dll", low) == 0


def test_pivot(services: Services) -> None:
    index, low, med = users(services)
    found = index.pivot([("f1", "alpha")], med, names=["f1", "f2"])
    assert found.counts["f1"][0] == ("alpha", 3) and found.binaries == 2 and not found.incomplete
    assert index.pivot([("f1", "alpha")], low, names=["f1"]).counts == {"f1": [("alpha", 2)]}
    assert index.pivot([("f1", "alpha"), ("f1", "beta")], low).binaries == 0
    assert index.pivot([("f1", "alpha"), ("f1", "beta")], med).binaries == 1
    assert index.pivot([("f1", "alpha")], med, max_binaries=1).incomplete


def test_status_counts_and_authored(services: Services) -> None:
    index, low, med = users(services)
    counts = {(r.name, r.category, r.version, r.status): r.count for r in index.status_counts(low)}
    assert counts == {("p", "plugin", "2", "completed"): 1, ("p", "plugin", "2", "error-exception"): 1,
                      ("q", "loader", "1", "completed"): 1}
    recent = index.status_counts(med, since="2024-06-01T00:00:00Z", statuses=["completed"])
    assert {(r.name, r.count) for r in recent} == {("p", 2)}
    newest = next(r.newest for r in recent)
    assert newest and datetime.fromisoformat(newest) > datetime(2024, 6, 1, tzinfo=UTC)
    assert index.count_authored("p", "2", low) == 1
    assert index.count_authored("p", "9", low) == 0


def test_source_groups(services: Services) -> None:
    index, low, med = users(services)
    assert index.source_summary("samples", low) == ("2024-01-03T00:00:00Z", 2)
    assert index.source_summary("samples", med) == ("2024-01-03T00:00:00Z", 3)
    assert index.source_summary("virustotal", med) == (None, 0)
    groups = index.source_references("samples", med)
    assert [(g.values, g.num_entities, g.timestamp) for g in groups] == [
        ({"user": "carol"}, 1, "2024-01-03T00:00:00Z"), ({"user": "Bob"}, 1, "2024-01-02T00:00:00Z"),
        ({"user": "bob"}, 1, "2024-01-01T00:00:00Z")]
    assert [g.values["user"] for g in index.source_references("samples", low, term="BO")] == ["bob"]
    assert [g.values["user"] for g in index.source_references("samples", med, grouped=True, limit=2)] == [
        "carol", "Bob"]
    subs = index.source_submissions("samples", low, timestamp="2024-01-01T00:00:00Z")
    assert [(g.key, g.num_entities) for g in subs] == [(groups[2].key, 1)]
    assert index.source_submissions("samples", low, track_source_references=groups[1].key) == []
