"""Aggregating reads of the OpenSearch index: feature values and counts, pivots, status counts,
source submission groups. Every function filters by the caller's access.

Distinct counts use ``cardinality`` with the largest precision threshold (40 000): below it the
count is exact for practical purposes, above it within a fraction of a percent, which is what Azul
shows too. Ordered groupings use ``terms`` aggregations; a binary's documents share one shard
(routing = sha256), so per-binary numbers are exact on any number of shards.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from azul_metastore.index.opensearch import feature_fields
from azul_metastore.index.opensearch.compiler import instant, visible
from azul_metastore.index.opensearch.reads import METADATA, WINDOW, _sha256s, search
from azul_metastore.index.port import FeatureValueRow, Page, PivotResult, ReferenceGroup, StatusCount
from azul_metastore.security import Access

if TYPE_CHECKING:
    from azul_metastore.index.opensearch.store import OpenSearchMetadataStore

Query = dict[str, Any]
PRECISION = 40_000
_TREE_PARTS = {"filepath_unix": "filepath", "filepath_unixr": "filepath"}


def _iso(ms: float) -> str:
    ts = datetime.fromtimestamp(ms / 1000, UTC)
    return ts.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _author(author: str | None, version: str | None) -> list[Query]:
    out: list[Query] = []
    if author:
        out.append({"term": {"author.name": author}})
    if version:
        out.append({"term": {"author.version": version}})
    return out


def _wildcard_literal(text: str) -> str:
    """``text`` matched literally in a wildcard pattern (its escape character first)."""
    return text.replace("\\", "\\\\").replace("*", "\\*").replace("?", "\\?")


def _distinct_binaries(store: OpenSearchMetadataStore, query: Query, doing: str) -> int:
    body = {"size": 0, "query": query,
            "aggs": {"n": {"cardinality": {"field": "sha256", "precision_threshold": PRECISION}}}}
    return int(search(store, "binary2", body, doing)["aggregations"]["n"]["value"])


def feature_values(store: OpenSearchMetadataStore, name: str, access: Access, term: str | None,
                   case_insensitive: bool, ascending: bool, after: str | None, limit: int, author: str | None,
                   version: str | None) -> Page:
    """Distinct visible values of ``features_map.<name>`` with their newest document time.

    A document lists several values, so the ``term`` filter is applied to the values themselves
    (in the pages of a composite aggregation), not to the documents.
    """
    field = feature_fields.keyword(name)
    query = visible(access, METADATA, {"exists": {"field": field}}, *_author(author, version))
    needle = (term.lower() if case_insensitive else term) if term else None
    rows: list[FeatureValueRow] = []
    cursor = after if after else None
    last = None
    while len(rows) < limit:
        composite: Query = {"size": max(limit, 500) if needle else limit,
                            "sources": [{"v": {"terms": {"field": field, "order": "asc" if ascending else "desc"}}}]}
        if cursor is not None:
            composite["after"] = {"v": cursor}
        body = {"size": 0, "query": query,
                "aggs": {"c": {"composite": composite, "aggs": {"newest": {"max": {"field": "timestamp"}}}}}}
        agg = search(store, "binary2", body, "listing feature values")["aggregations"]["c"]
        for bucket in agg["buckets"]:
            value = bucket["key"]["v"]
            last = cursor = value
            if needle and needle not in (value.lower() if case_insensitive else value):
                continue
            rows.append(FeatureValueRow(value, _iso(bucket["newest"]["value"])))
            if len(rows) >= limit:
                break
        if len(agg["buckets"]) < composite["size"]:
            break
    more = len(rows) >= limit
    return Page(rows, last if more else None, None)


def count_feature_values(store: OpenSearchMetadataStore, name: str, access: Access, author: str | None,
                         version: str | None) -> int:
    field = feature_fields.keyword(name)
    body = {"size": 0, "query": visible(access, METADATA, *_author(author, version)),
            "aggs": {"n": {"cardinality": {"field": field, "precision_threshold": PRECISION}}}}
    return int(search(store, "binary2", body, "counting feature values")["aggregations"]["n"]["value"])


def count_feature_entities(store: OpenSearchMetadataStore, name: str, access: Access, value: str | None,
                           author: str | None, version: str | None) -> int:
    field = feature_fields.keyword(name)
    match = {"term": {field: value}} if value is not None else {"exists": {"field": field}}
    return _distinct_binaries(store, visible(access, METADATA, match, *_author(author, version)),
                              "counting binaries with a feature")


def count_feature_part_entities(store: OpenSearchMetadataStore, part: str, value: str, access: Access,
                                author: str | None, version: str | None) -> int:
    field = f"features.enriched.{_TREE_PARTS.get(part, part)}"
    if part in _TREE_PARTS:
        trimmed = value.rstrip("/") or value
        below = ({"prefix": {field: trimmed + "/"}} if part == "filepath_unix"
                 else {"wildcard": {field: "*/" + _wildcard_literal(trimmed.lstrip("/"))}})
        match: Query = {"bool": {"should": [{"term": {field: trimmed}}, below], "minimum_should_match": 1}}
    else:
        match = {"term": {field: value}}
    return _distinct_binaries(store, visible(access, METADATA, match, *_author(author, version)),
                              "counting binaries with a feature part")


def _feature_names(store: OpenSearchMetadataStore, query: Query) -> list[str]:
    body = {"size": 0, "query": query, "aggs": {"n": {"terms": {"field": "features.name", "size": WINDOW}}}}
    return [b["key"] for b in search(store, "binary2", body, "listing feature names")["aggregations"]["n"]["buckets"]]


def pivot(store: OpenSearchMetadataStore, pairs: Sequence[tuple[str, str]], access: Access,
          names: Sequence[str] | None, max_binaries: int, size: int, min_count: int) -> PivotResult:
    if not pairs:
        return PivotResult({})
    found: set[str] | None = None
    for name, value in pairs:
        having = set(_sha256s(store, visible(access, METADATA, {"term": {feature_fields.keyword(name): value}}),
                              "pivoting on feature values"))
        found = having if found is None else found & having
    assert found is not None
    chosen = sorted(found)[:max_binaries]
    counts: dict[str, list[tuple[str, int]]] = {}
    for start in range(0, len(chosen), 1000):
        query = visible(access, METADATA, {"terms": {"sha256": chosen[start:start + 1000]}})
        wanted = list(names) if names is not None else _feature_names(store, query)
        aggs = {f"f{i}": {"terms": {"field": feature_fields.keyword(n), "size": WINDOW, "min_doc_count": 1}}
                for i, n in enumerate(wanted)}
        for offset in range(0, len(aggs), 100):
            part = dict(list(aggs.items())[offset:offset + 100])
            answer = search(store, "binary2", {"size": 0, "query": query, "aggs": part}, "pivoting")["aggregations"]
            for key, agg in answer.items():
                name = wanted[int(key[1:])]
                merged = dict(counts.get(name, []))
                for bucket in agg["buckets"]:
                    merged[bucket["key"]] = merged.get(bucket["key"], 0) + bucket["doc_count"]
                counts[name] = list(merged.items())
    result: dict[str, list[tuple[str, int]]] = {}
    for name, values in counts.items():
        kept = sorted(((v, n) for v, n in values if n >= min_count), key=lambda vc: (-vc[1], vc[0]))[:size]
        if kept:
            result[name] = kept
    return PivotResult(result, incomplete=len(found) > max_binaries, binaries=len(chosen))


def status_counts(store: OpenSearchMetadataStore, access: Access, since: str | None,
                  statuses: Sequence[str]) -> list[StatusCount]:
    clauses: list[Query] = []
    if since:
        clauses.append({"range": {"timestamp": instant(gte=since)}})
    if statuses:
        clauses.append({"terms": {"entity.status": list(statuses)}})
    out: list[StatusCount] = []
    after = None
    while True:
        composite: Query = {"size": 1000, "sources": [
            {"name": {"terms": {"field": "author.name"}}},
            {"category": {"terms": {"field": "author.category", "missing_bucket": True}}},
            {"version": {"terms": {"field": "author.version", "missing_bucket": True}}},
            {"status": {"terms": {"field": "entity.status"}}}]}
        if after:
            composite["after"] = after
        body = {"size": 0, "query": visible(access, *clauses),
                "aggs": {"c": {"composite": composite, "aggs": {"newest": {"max": {"field": "timestamp"}}}}}}
        agg = search(store, "status", body, "counting statuses")["aggregations"]["c"]
        for b in agg["buckets"]:
            k = b["key"]
            out.append(StatusCount(k["name"], k["category"], k["version"], k["status"], b["doc_count"],
                                   _iso(b["newest"]["value"])))
        after = agg.get("after_key")
        if not agg["buckets"] or not after:
            return out


def count_authored(store: OpenSearchMetadataStore, name: str, version: str | None, access: Access) -> int:
    return _distinct_binaries(store, visible(access, METADATA, *_author(name, version)), "counting plugin results")


def _direct(access: Access, source: str, *clauses: Query) -> Query:
    return visible(access, METADATA, {"term": {"source.name": source}}, {"term": {"depth": 0}}, *clauses)


_NEWEST = {"top_hits": {"size": 1, "sort": [{"source.timestamp": "desc"}],
                        "_source": ["source.timestamp", "source.references"]}}


def _group(key: str, bucket: Query) -> ReferenceGroup:
    top = bucket["top"]["hits"]["hits"][0]["_source"].get("source") or {}
    values = {k: str(v) for k, v in (top.get("references") or {}).items()}
    return ReferenceGroup(key, top.get("timestamp"), int(bucket["n"]["value"]), values)


def source_summary(store: OpenSearchMetadataStore, source: str, access: Access) -> tuple[str | None, int]:
    body = {"size": 1, "query": _direct(access, source), "sort": [{"source.timestamp": "desc"}],
            "_source": ["source.timestamp"],
            "aggs": {"n": {"cardinality": {"field": "sha256", "precision_threshold": PRECISION}}}}
    answer = search(store, "binary2", body, "summarising a source")
    hits = answer["hits"]["hits"]
    if not hits:
        return None, 0
    return hits[0]["_source"]["source"]["timestamp"], int(answer["aggregations"]["n"]["value"])


def source_references(store: OpenSearchMetadataStore, source: str, access: Access, grouped: bool,
                      term: str | None, limit: int) -> list[ReferenceGroup]:
    field = "track_source_references_grouped" if grouped else "track_source_references"
    clauses: list[Query] = []
    if term:
        pattern = "*" + term.replace("\\", "\\\\").replace("*", "\\*").replace("?", "\\?") + "*"
        clauses.append({"wildcard": {"source.encoded_references.value": {"value": pattern,
                                                                          "case_insensitive": True}}})
    body = {"size": 0, "query": _direct(access, source, *clauses), "aggs": {"g": {
        "terms": {"field": field, "size": limit, "shard_size": max(limit * 5, 100),
                  "order": [{"newest": "desc"}, {"_key": "asc"}]},
        "aggs": {"newest": {"max": {"field": "source.timestamp"}}, "top": _NEWEST,
                 "n": {"cardinality": {"field": "sha256", "precision_threshold": PRECISION}}}}}}
    buckets = search(store, "binary2", body, "grouping source references")["aggregations"]["g"]["buckets"]
    return [_group(b["key"], b) for b in buckets]


def source_submissions(store: OpenSearchMetadataStore, source: str, access: Access, tsr: str | None,
                       timestamp: str | None, limit: int) -> list[ReferenceGroup]:
    """Groups of (references, source timestamp): bucketed by timestamp, newest first, then by
    references, so the group's newest timestamp is its own."""
    clauses: list[Query] = []
    if tsr:
        clauses.append({"term": {"track_source_references": tsr}})
    if timestamp:
        clauses.append({"range": {"source.timestamp": instant(gte=timestamp, lte=timestamp)}})
    body = {"size": 0, "query": _direct(access, source, *clauses), "aggs": {"t": {
        "terms": {"field": "source.timestamp", "size": limit, "order": {"_key": "desc"}},
        "aggs": {"g": {"terms": {"field": "track_source_references", "size": limit, "order": {"_key": "asc"}},
                       "aggs": {"top": _NEWEST,
                                "n": {"cardinality": {"field": "sha256", "precision_threshold": PRECISION}}}}}}}}
    out: list[ReferenceGroup] = []
    for bucket in search(store, "binary2", body, "grouping submissions")["aggregations"]["t"]["buckets"]:
        out.extend(_group(g["key"], g) for g in bucket["g"]["buckets"])
    return out[:limit]
