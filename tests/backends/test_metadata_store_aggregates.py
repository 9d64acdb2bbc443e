"""The MetadataStore behaviour suite, continued: feature values and counts, pivots, statuses,
plugins, annotations, sources, writes and deletes (see ``test_metadata_store.py`` for the data)."""

# ruff: noqa: F811 - pytest fixtures imported from tests/support/index_stores.py are parameters here
from __future__ import annotations

import dataclasses
from collections import Counter

import pytest

from azul_metastore.index.port import MetadataStore, Selector
from azul_metastore.query import parse
from tests.support.gen import as_logged
from tests.support.index_data import A, B, C, D, E, Oracle, annotation, status_event
from tests.support.index_stores import dataset, loaded, store  # noqa: F401 (fixtures)

USERS = ("low", "med", "high", "high_all", "system")


def _all_values(loaded: MetadataStore, access, name: str, **kwargs) -> list[str]:
    values, after = [], None
    while True:
        page = loaded.feature_values(name, access, after=after, limit=7, **kwargs)
        values += [row.value for row in page.items]
        assert all(row.newest and row.newest.endswith("Z") for row in page.items)
        if page.after is None:
            return values
        after = page.after


@pytest.mark.parametrize("user", USERS)
def test_feature_values_and_counts_match_the_oracle(loaded: MetadataStore, dataset, user: str) -> None:
    access = dataset.access(user)
    oracle = Oracle(dataset.documents)
    for name in ("tag", "section", "pe_import", "url"):
        expected = sorted(oracle.feature_values(access, name))
        assert _all_values(loaded, access, name) == expected
        assert _all_values(loaded, access, name, ascending=False) == expected[::-1]
        assert loaded.count_feature_values(name, access) == len(expected)
        assert loaded.count_feature_entities(name, access) == len(oracle.feature_binaries(access, name))
    assert loaded.count_feature_entities("tag", access, value="Malware") == len(
        oracle.feature_binaries(access, "tag", "Malware"))


def test_feature_values_filters(loaded: MetadataStore, dataset) -> None:
    system = dataset.access("system")
    assert _all_values(loaded, system, "tag", term="alwar") == ["Malware", "malware"]
    assert _all_values(loaded, system, "tag", term="MAL", case_insensitive=True) == ["Malware", "malware"]
    assert _all_values(loaded, system, "tag", term="MAL") == []
    assert _all_values(loaded, system, "section", author="pefile") == [".data", ".rsrc", ".text"]
    assert _all_values(loaded, system, "section", author="pefile", author_version="9") == []
    assert loaded.count_feature_values("section", system, author="pefile") == 3
    assert loaded.count_feature_entities("section", system, author="pefile") == 3
    assert _all_values(loaded, dataset.access("low"), "section", author="pefile") == [".rsrc", ".text"]
    page = loaded.feature_values("tag", system, term="mal", case_insensitive=True, limit=1)
    assert [r.value for r in page.items] == ["Malware"] and page.after == "Malware"
    assert page.items[0].newest == "2024-01-06T00:00:00.000Z"
    assert loaded.feature_values("no_such_feature", system).items == []


def test_feature_part_counts(loaded: MetadataStore, dataset) -> None:
    system, med = dataset.access("system"), dataset.access("med")
    assert loaded.count_feature_part_entities("hostname", "evil.example.com", system) == 1
    assert loaded.count_feature_part_entities("port", "8080", system) >= 1
    assert loaded.count_feature_part_entities("filepath_unix", "C:/Windows", system, author="tester") == 1
    assert loaded.count_feature_part_entities("filepath_unix", "C:/Windows/", med, author="tester") == 1
    assert loaded.count_feature_part_entities("filepath_unix", "C:/Win", system, author="tester") == 0
    assert loaded.count_feature_part_entities("filepath_unixr", "x.exe", system, author="tester") == 1
    assert loaded.count_feature_part_entities("filepath_unixr", "Windows/x.exe", med, author="tester") == 1
    assert loaded.count_feature_part_entities("filepath_unixr", "/Windows/x.exe", med, author="tester") == 1
    assert loaded.count_feature_part_entities("filepath_unixr", "/x.exe", med, author="tester") == 1
    assert loaded.count_feature_part_entities("filepath_unixr", "/dows/x.exe", med, author="tester") == 0
    assert loaded.count_feature_part_entities("hostname", "evil.example.com", system, author="pefile") == 0
    assert loaded.count_feature_part_entities("hostname", "nowhere.example", system) == 0


def test_pivot(loaded: MetadataStore, dataset) -> None:
    system, low = dataset.access("system"), dataset.access("low")
    result = loaded.pivot([("count", "5")], system, names=["section", "tag"], min_count=1)
    assert result.counts == {"section": [(".text", 1)], "tag": [("Malware", 1)]} and result.binaries == 1
    both = loaded.pivot([("tag", "Malware"), ("section", ".text")], system, names=["section"], min_count=1)
    assert both.counts == {"section": [(".text", 2), (".rsrc", 1)]} and both.binaries == 2
    assert loaded.pivot([("tag", "Malware"), ("section", ".text")], low, names=["section"],
                        min_count=1).counts == {"section": [(".text", 1)]}
    assert loaded.pivot([("tag", "Malware")], system, names=["section"], min_count=2).counts == {
        "section": [(".text", 2)]}
    capped = loaded.pivot([("tag", "Malware")], system, names=["tag"], max_binaries=1, min_count=1)
    assert capped.incomplete and capped.binaries == 1
    everything = loaded.pivot([("count", "5")], system, min_count=1)
    assert set(everything.counts) == {"tag", "count", "url", "path", "section"}
    assert loaded.pivot([], system).counts == {}


def test_statuses_and_plugins(loaded: MetadataStore, dataset) -> None:
    system, low = dataset.access("system"), dataset.access("low")
    assert [s["entity"]["status"] for s in loaded.statuses(system, sha256=A)] == ["error-exception", "completed"]
    assert [s["author"]["name"] for s in loaded.statuses(system, sha256=A, author="yara.plugin.1")] == ["yara"]
    assert [s["entity"]["status"] for s in loaded.statuses(system, sha256=A, since="2024-02-01T00:00:00Z")] == [
        "error-exception"]
    assert len(loaded.statuses(system, sha256=A, statuses=["completed"])) == 1
    assert len(loaded.statuses(system, sha256=B)) == 1 and loaded.statuses(low, sha256=B) == []
    assert len(loaded.statuses(system, limit=3)) == 3
    plugins = loaded.plugins(system)
    assert [p["entity"]["name"] for p in plugins] == sorted(p["entity"]["name"] for p in plugins)
    expected = {(d.body["entity"]["name"], d.body["entity"]["version"]) for d in dataset.generated
                if d.doc_type == "plugin"}
    assert {(p["entity"]["name"], p["entity"]["version"]) for p in plugins} == expected


@pytest.mark.parametrize("user", ["low", "system"])
def test_status_counts_match_the_oracle(loaded: MetadataStore, dataset, user: str) -> None:
    access = dataset.access(user)
    from azul_metastore.security import EncodedSecurity

    wanted: Counter = Counter()
    for doc in dataset.documents:
        if doc.doc_type == "status" and access.can_see(EncodedSecurity.from_dict(doc.body["encoded_security"])):
            a = doc.body["author"]
            wanted[(a["name"], a.get("category"), a.get("version"), doc.body["entity"]["status"])] += 1
    counts = loaded.status_counts(access)
    assert {(c.name, c.category, c.version, c.status): c.count for c in counts} == dict(wanted)
    recent = loaded.status_counts(access, since="2024-03-01T00:00:00Z", statuses=["completed", "error-exception"])
    assert all(c.newest >= "2024-03-01" for c in recent)


def test_count_authored(loaded: MetadataStore, dataset) -> None:
    for user in ("low", "system"):
        access = dataset.access(user)
        expected = {b["sha256"] for b in Oracle(dataset.documents).metadata(access) if b["author"]["name"] == "pefile"}
        assert loaded.count_authored("pefile", None, access) == len(expected)
    assert loaded.count_authored("pefile", "1", dataset.access("system")) == 3
    assert loaded.count_authored("nobody", None, dataset.access("system")) == 0


def test_annotations(loaded: MetadataStore, dataset) -> None:
    system, low = dataset.access("system"), dataset.access("low")
    assert {a["owner"] for a in loaded.annotations(system, kind="entity_tag", tag="apt-x")} == {"alice", "bob"}
    assert [a["sha256"] for a in loaded.annotations(low, kind="entity_tag")] == [A]
    assert [a["feature_value"] for a in loaded.annotations(system, kind="fv_tag", feature="tag")] == ["Malware"]
    assert loaded.annotations(system, sha256=C) == []
    # a page of binaries reads its tags at once, still filtered by access
    assert sorted(a["sha256"] for a in loaded.annotations(system, kind="entity_tag", sha256s=[A, B, C])) == [A, B]
    assert [a["sha256"] for a in loaded.annotations(low, kind="entity_tag", sha256s=[A, B, C])] == [A]
    assert loaded.annotations(system, kind="entity_tag", sha256s=[C]) == []
    assert loaded.annotations(system, kind="entity_tag", sha256s=[]) == []


@pytest.mark.parametrize("user", ["low", "med", "system"])
def test_sources_match_the_oracle(loaded: MetadataStore, dataset, user: str) -> None:
    access = dataset.access(user)
    for source in ("samples", "virustotal", "incidents"):
        direct = [b for b in Oracle(dataset.documents).metadata(access)
                  if (b.get("source") or {}).get("name") == source and b.get("depth") == 0]
        newest, count = loaded.source_summary(source, access)
        assert count == len({b["sha256"] for b in direct})
        assert newest == (max(b["source"]["timestamp"] for b in direct) if direct else None)
        groups = loaded.source_references(source, access, limit=1000)
        by_key: dict[str, set[str]] = {}
        for b in direct:
            by_key.setdefault(b["track_source_references"], set()).add(b["sha256"])
        assert {g.key: g.num_entities for g in groups} == {k: len(v) for k, v in by_key.items()}
        stamps = [g.timestamp for g in groups]
        assert stamps == sorted(stamps, reverse=True)
        grouped = loaded.source_references(source, access, grouped=True, limit=1000)
        assert sum(g.num_entities for g in grouped) >= len({b["sha256"] for b in direct}) > 0 or not direct
        subs = loaded.source_submissions(source, access, limit=1000)
        pairs = {(b["track_source_references"], b["source"]["timestamp"]) for b in direct}
        assert sorted((g.key, g.timestamp) for g in subs) == sorted(pairs)


def test_source_filters(loaded: MetadataStore, dataset) -> None:
    system = dataset.access("system")
    found = loaded.source_references("samples", system, term="ALIC")
    assert found and all("alic" in " ".join(g.values.values()).lower() for g in found)
    alice = [g for g in found if g.timestamp == "2024-01-01T00:00:00Z"]
    assert len(alice) == 1 and alice[0].values == {"user": "alice"} and alice[0].num_entities == 1
    tsr = alice[0].key
    subs = loaded.source_submissions("samples", system, track_source_references=tsr)
    assert [(g.key, g.timestamp, g.num_entities) for g in subs] == [(tsr, "2024-01-01T00:00:00Z", 1)]
    assert loaded.source_submissions("samples", system, timestamp="2024-01-05T00:00:00Z")[0].values == {
        "user": "carol"}
    assert loaded.source_summary("nowhere", system) == (None, 0)


# --- writes and deletes (each test gets an empty store) ---------------------------------------


def test_write_replaces_by_id_and_is_searchable(store: MetadataStore, dataset) -> None:
    system = dataset.access("system")
    store.write(dataset.catalogue)
    store.write(dataset.catalogue)
    assert store.count(None, system) == 5
    assert len(store.documents([A], system)) == 2
    newer = [d for d in dataset.binary({**_raw_enriched(), "timestamp": "2024-05-01T00:00:00+00:00"})]
    store.write(newer)
    docs = store.documents([A], system, actions=["enriched"])
    assert len(docs) == 1 and docs[0]["timestamp"].startswith("2024-05-01")
    new_feature = dataset.binary({**_raw_enriched(), "entity": {**_raw_enriched()["entity"], "features": [
        {"name": "brand_new_feature", "type": "string", "value": "Fresh"}]}})
    store.write(new_feature)
    assert store.find(parse("features_map.brand_new_feature:fresh"), system) == [A]


def _raw_enriched() -> dict:
    from tests.support.index_data import catalogue_events

    return catalogue_events()[1]


def test_delete_by_selector_and_orphans(store: MetadataStore, dataset) -> None:
    system = dataset.access("system")
    store.write(dataset.catalogue)
    gone = store.delete(Selector(sha256=A, track_author="user.tester.1"))
    assert [(g["sha256"], g["source"], g["action"]) for g in gone] == [(A, "samples", "sourced")]
    assert gone[0]["datastreams"][0]["label"] == "content"
    assert store.count(None, system) == 4
    assert store.count(None, system, require_submission=False) == 5
    assert sorted(store.delete_orphans()) == [A]
    assert store.documents([A], system) == []
    assert store.count(None, system, require_submission=False) == 4
    link = store.documents([C], system)[0]["track_link"]
    assert len(store.delete(Selector(track_link=link))) == 1
    assert len(store.delete(Selector(source_name="samples", source_timestamp_before="2024-01-03T12:00:00Z"))) == 1
    assert store.find(None, system, limit=10) != [] and B not in store.find(None, system, limit=10)
    ids = [store.documents([E], system, actions=["enriched"])[0]]
    assert ids and len(store.delete(Selector(sha256=E, source_timestamp="2024-01-06T00:00:00Z"))) == 1
    assert set(store.delete_orphans()) == {B, C, E}
    assert store.find(None, system) == [D]
    with pytest.raises(Exception, match="at least one condition"):
        store.delete(Selector())


def test_delete_statuses_before(store: MetadataStore, dataset) -> None:
    system = dataset.access("system")
    store.write(dataset.statuses)
    extra = dataset.encoder.encode_status(as_logged("status", status_event(D, "completed", "2024-03-20T00:00:00Z",
                                                                          "s4")))
    store.write([extra])
    assert store.delete_statuses_before("2024-03-03T00:00:00Z") == 2
    assert sorted(s["entity"]["input"]["entity"]["sha256"] for s in store.statuses(system)) == sorted([B, D])
    assert store.delete_statuses_before("2024-03-03T00:00:00Z") == 0
    moved = dataset.encoder.encode_status(as_logged("status", status_event(D, "error-exception",
                                                                          "2024-06-01T00:00:00Z", "s4")))
    store.write([moved])
    assert [s["entity"]["status"] for s in store.statuses(system, sha256=D)] == ["error-exception"]


def test_a_write_is_searchable_after_a_refresh_and_a_move_leaves_no_copy(store, dataset) -> None:
    """The port's write contract without the fixture's refreshes: searchable once refreshed; a
    status that changes time bucket between two writes no refresh separates (one ingest batch after
    another) still leaves a single copy, though the first copy was not searchable when it moved."""
    raw, system = store.inner, dataset.access("system")
    first = dataset.encoder.encode_status(as_logged("status", status_event(D, "completed", "2024-03-20T00:00:00Z",
                                                                          "s4")))
    moved = dataset.encoder.encode_status(as_logged("status", status_event(D, "error-exception",
                                                                          "2024-06-01T00:00:00Z", "s4")))
    assert first.id == moved.id and first.partition != moved.partition
    raw.write([first])
    raw.write([moved])
    raw.write(dataset.catalogue)
    raw.refresh()
    assert [s["entity"]["status"] for s in raw.statuses(system, sha256=D)] == ["error-exception"]
    assert raw.count(None, system) == 5


def test_disable_annotations(store: MetadataStore, dataset) -> None:
    system = dataset.access("system")
    store.write(dataset.annotations)
    store.write([annotation(dataset.policy, "entity_tag", "apt-x", "carol", "LOW", sha256=A)])
    assert store.disable_annotations(kind="entity_tag", tag="apt-x", sha256=A) == 2
    assert store.disable_annotations(kind="entity_tag", tag="apt-x", sha256=A) == 0
    assert [a["sha256"] for a in store.annotations(system, kind="entity_tag")] == [B]
    disabled = store.annotations(system, kind="entity_tag", sha256=A, include_disabled=True)
    assert len(disabled) == 2 and {a["state"] for a in disabled} == {"disabled"}
    assert store.disable_annotations(kind="fv_tag", tag="bad", feature="tag", value="Malware") == 1
    store.refresh()
    assert store.annotations(system, kind="fv_tag") == []
    _ = (B, D, E)


def test_lifecycle_primitives(store: MetadataStore, dataset) -> None:
    if not hasattr(store, "bury"):
        pytest.skip("this adapter has no lifecycle primitives yet")
    store.write([*dataset.catalogue, *dataset.statuses])
    selected = store.select(Selector(source_name="samples"))
    assert [(s["sha256"], s["action"]) for s in selected] == [(A, "sourced"), (B, "sourced"), (C, "extracted"),
                                                             (D, "sourced")]
    assert selected[2]["parent"] == A and selected[0]["parent"] is None
    assert [s["sha256"] for s in store.select(Selector(source_name="samples"), limit=2)] == [A, B]
    assert store.count_selected(Selector(source_name="samples")) == (4, 4)
    assert store.count_selected(Selector(sha256=A)) == (2, 1)
    assert [(c["sha256"], c["parent"]) for c in store.child_links([A, B])] == [(C, A)]
    assert store.count_statuses_before("2024-03-01T00:00:00Z") == 1
    of_a = sorted(d.id for d in dataset.statuses if d.body["entity"]["input"]["entity"]["sha256"] == A)
    assert len(of_a) == 2 and sorted(store.delete_statuses_of([A])) == of_a
    assert [s["entity"]["input"]["entity"]["sha256"] for s in store.statuses(dataset.access("system"))] == [B]
    store.bury(["x1", "x2"], "2024-05-01T00:00:00+00:00")
    store.bury(["x1"], "2024-04-01T00:00:00Z")
    store.bury(["x2"], "2024-06-01T00:00:00Z")
    assert store.buried(["x1", "x2", "x3"]) == {"x1": "2024-05-01T00:00:00Z", "x2": "2024-06-01T00:00:00Z"}
    # a purge's delete buries what it deletes, in the same step
    of_b = sorted(d.id for d in dataset.statuses if d.body["entity"]["input"]["entity"]["sha256"] == B)
    assert of_b and sorted(store.delete_statuses_of([B], buried_at="2024-07-01T00:00:00Z")) == of_b
    assert store.buried(of_b) == dict.fromkeys(of_b, "2024-07-01T00:00:00Z")
    assert store.statuses(dataset.access("system")) == []


def test_values_of_deleted_documents_are_no_longer_listed(store: MetadataStore, dataset) -> None:
    """A purge or age-off removes a value from feature listings, counts and feature names once no
    document the caller may see holds it; values other documents still hold stay listed."""
    store.write(dataset.documents)
    gone = {g["sha256"] for g in store.delete(Selector(sha256=A))} | {g["sha256"] for g in store.delete(
        Selector(sha256=C))}
    assert gone == {A, C}
    left = Oracle([d for d in dataset.documents if d.doc_type != "binary2" or d.body.get("sha256") not in gone])
    for user in USERS:
        access = dataset.access(user)
        for name in ("tag", "section", "pe_import", "url"):
            expected = sorted(left.feature_values(access, name))
            assert _all_values(store, access, name) == expected, (user, name)
            assert store.count_feature_values(name, access) == len(expected), (user, name)
        names = {name for body in left.metadata(access) for name in body.get("features_map") or {}}
        assert sorted(store.feature_names(access)) == sorted(names), user


def test_values_a_rewritten_document_no_longer_holds_are_no_longer_listed(store: MetadataStore, dataset) -> None:
    system = dataset.access("system")
    first = next(d for d in dataset.documents if d.doc_type == "binary2"
                 and (d.body.get("features_map") or {}).get("tag"))
    store.write([first])
    before = set(_all_values(store, system, "tag"))
    assert before
    body = {**first.body, "features_map": {**first.body["features_map"], "tag": ["rewritten"]},
            "features": [f for f in first.body.get("features") or () if f.get("name") != "tag"]
            + [{"name": "tag", "value": "rewritten", "type": "string"}]}
    store.write([dataclasses.replace(first, body=body)])
    assert _all_values(store, system, "tag") == ["rewritten"]
    assert store.count_feature_values("tag", system) == 1


def _submitted_at(dataset, timestamp: str) -> list:
    from tests.support.events import binary_event

    return dataset.encoder.encode_binary(as_logged("binary", binary_event(timestamp=timestamp))).documents


@pytest.mark.parametrize("cutoff", ["2024-01-01T00:00:00Z", "2024-01-01T00:00:00.499Z", "2024-01-01"])
def test_date_bounds_are_exact_to_the_millisecond(store: MetadataStore, dataset, cutoff: str) -> None:
    """A cutoff given without a fraction (as age-off's own cutoffs are) takes nothing after it:
    OpenSearch rounds a bound given as text up over what the text leaves out."""
    docs = _submitted_at(dataset, "2024-01-01T00:00:00.500Z")
    store.write(docs)
    sha256, system = docs[-1].body["sha256"], dataset.access("system")
    before = Selector(source_name="samples", source_timestamp_before=cutoff)
    assert store.count_selected(before)[0] == 0
    assert store.select(before, None) == []
    assert store.delete(before) == []
    at = Selector(source_name="samples", source_timestamp="2024-01-01T00:00:00Z")
    assert store.count_selected(at)[0] == 0
    assert store.document_stats(sha256, system, newer_than="2024-01-01T00:00:00Z")[0] == 1
    assert store.document_stats(sha256, system, newer_than="2024-01-01T00:00:00.500Z")[0] == 0
    assert store.count_selected(Selector(source_name="samples", source_timestamp="2024-01-01T00:00:00.5Z"))[0] == 1
    assert len(store.delete(Selector(source_name="samples", source_timestamp_before="2024-01-01T00:00:00.500Z"))) == 1


def test_a_status_bucket_is_dropped_only_when_its_period_ended(store, dataset) -> None:
    """A status written but not refreshed yet (an ingestor during the age-off pass) is kept: the
    bucket it went to is judged by its period, not by the newest status a search finds in it."""
    raw, system = store.inner, dataset.access("system")
    early = dataset.encoder.encode_status(as_logged("status", status_event(B, "completed", "2024-03-04T00:00:00Z",
                                                                          "early")))
    late = dataset.encoder.encode_status(as_logged("status", status_event(D, "completed", "2024-03-06T00:00:00Z",
                                                                         "late")))
    assert early.partition == late.partition
    raw.write([early])
    raw.refresh()
    raw.write([late])
    assert raw.delete_statuses_before("2024-03-05T00:00:00Z") == 1
    raw.refresh()
    assert [s["entity"]["input"]["entity"]["sha256"] for s in raw.statuses(system)] == [D]
    assert raw.delete_statuses_before("2024-03-11T00:00:00Z") == 1
    raw.refresh()
    assert raw.statuses(system) == []


@pytest.mark.parametrize(("count", "listed"), [(4000, True), (4001, False)])
def test_values_longer_than_opensearch_indexes_are_not_searchable_anywhere(store: MetadataStore, dataset,
                                                                          count: int, listed: bool) -> None:
    """8,000 UTF-16 units, as OpenSearch's ignore_above counts: an emoji counts twice."""
    system = dataset.access("system")
    first = next(d for d in dataset.documents if d.doc_type == "binary2" and d.body.get("features_map"))
    value = "\U0001f600" * count
    body = {**first.body, "features_map": {"emoji": [value]},
            "features": [{"name": "emoji", "value": value, "type": "string"}]}
    store.write([dataclasses.replace(first, body=body)])
    assert bool(_all_values(store, system, "emoji")) is listed
    assert bool(store.find(parse(f"features_map.emoji:{value[:10]}*"), system)) is listed


def test_a_path_part_is_matched_literally(store: MetadataStore, dataset) -> None:
    """Wildcard characters and the escape character of a path are plain characters."""
    from tests.support.events import binary_event
    from tests.support.index_data import feat

    event = binary_event(features=[feat("path", "/tmp/we\\ird", "filepath"), feat("path", "/tmp/a*b", "filepath")])
    store.write(dataset.encoder.encode_binary(as_logged("binary", event)).documents)
    system = dataset.access("system")
    for value, found in (("we\\ird", 1), ("/tmp/we\\ird", 1), ("a*b", 1), ("a*", 0), ("w?\\ird", 0)):
        assert store.count_feature_part_entities("filepath_unixr", value, system) == found, value


def test_a_reference_term_folds_ascii_case_on_both_sides(store: MetadataStore, dataset) -> None:
    """As OpenSearch's case_insensitive: 'ÉLODIE' finds 'Élodie', 'élodie' does not (É is not ASCII)."""
    from tests.support.events import binary_event

    event = binary_event(references={"user": "Élodie"})
    store.write(dataset.encoder.encode_binary(as_logged("binary", event)).documents)
    system = dataset.access("system")
    for term, found in (("ÉLODIE", ["Élodie"]), ("LODIE", ["Élodie"]), ("élodie", [])):
        assert [g.values["user"] for g in store.source_references("samples", system, term=term)] == found, term
