"""Document reads of the OpenSearch index: binaries, their documents, links, statuses, plugins,
annotations. Every function filters by the caller's access (``compiler.security_filter``).

Binaries are found through their parent documents (``binary_info: binary``, which carry the sha256
and ``s-any``) with ``has_child`` on visible metadata documents, so a binary is never seen through a
document the caller may not read.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from opensearchpy import helpers

from azul_metastore.errors import InvalidInput
from azul_metastore.index.opensearch import batching, brief
from azul_metastore.index.opensearch.client import translated
from azul_metastore.index.opensearch.compiler import QueryCompiler, has_child, instant, security_filter, visible
from azul_metastore.index.port import Page, Selector
from azul_metastore.query.ast import And, Node
from azul_metastore.security import Access

if TYPE_CHECKING:
    from azul_metastore.index.opensearch.store import OpenSearchMetadataStore

Query = dict[str, Any]
PARENTS: Query = {"term": {"binary_info": "binary"}}
METADATA: Query = {"term": {"binary_info": "metadata"}}
IDENTITY = ("sha256", "md5", "sha1", "sha512", "ssdeep", "tlsh", "size", "file_format", "file_extension", "mime",
            "magic")
#: most buckets or hits one request returns (OpenSearch's default result window)
WINDOW = 10_000


#: most binaries a search about a few of them is routed by (the routing values go in its URL)
ROUTED = 16


def search(store: OpenSearchMetadataStore, doc_type: str, body: Query, doing: str,
           sha256s: Sequence[str] = ()) -> Query:
    """Search the alias of ``doc_type``; binary2 searches only about ``sha256s`` (documents whose
    ``sha256`` is one of them) go to those binaries' indices alone (``store.binary_indices``),
    and when they are a few, to the shards their routing (the sha256) places them on: a search
    of one shard is answered in one phase, about a millisecond sooner than one of two shards at
    1,000,000 binaries, and a lineage walk makes a dozen. Without aggregations in the answer
    when none of those indices exists yet."""
    send = batch.search if (batch := batching.current()) else store.client.search
    with translated(doing):
        if doc_type == "binary2" and sha256s:
            wanted = sorted({s.lower() for s in sha256s})
            routing = {"routing": ",".join(wanted)} if len(wanted) <= ROUTED else {}
            return send(index=store.binary_indices(wanted), body=body, allow_no_indices=True, **routing)
        return send(index=store.all_binary_indices() if doc_type == "binary2" else store.alias(doc_type), body=body)


def tag_lookup(store: OpenSearchMetadataStore, access: Access):
    """The compiler's look-up of ``binary.tag`` / ``feature.tag`` (≤10 000 visible, enabled tags)."""

    def lookup(kind: str, tag: str) -> list[tuple[str, ...]]:
        fields = ["sha256"] if kind == "entity_tag" else ["feature_name", "feature_value"]
        body = {"size": WINDOW, "_source": fields, "query": {"bool": {
            "filter": [{"term": {"type": kind}}, {"term": {"tag": tag}}, *security_filter(access)],
            "must_not": [{"term": {"state": "disabled"}}]}}}
        hits = search(store, "annotation", body, "looking up tags")["hits"]["hits"]
        return sorted({tuple(h["_source"].get(f) for f in fields) for h in hits})

    return lookup


def binaries_query(store: OpenSearchMetadataStore, query: Node | None, access: Access,
                   require_submission: bool) -> Query:
    """Parent documents of visible binaries matching ``query`` (None = all)."""
    clauses: list[Query] = [PARENTS]
    if require_submission:
        clauses.append(has_child(access, {"exists": {"field": "source.name"}}))
    elif query is None:
        clauses.append(has_child(access))
    if query is not None:
        clauses.append(QueryCompiler(access, tag_lookup(store, access)).binary_query(query))
    return {"bool": {"filter": clauses}}


def find(store: OpenSearchMetadataStore, query: Node | None, access: Access, sort: str, ascending: bool,
         limit: int, require_submission: bool) -> list[str]:
    direction = "asc" if ascending else "desc"
    # filters score every binary the same: a _score sort is a sha256 sort, best first in the order
    # binary2 indices are sorted in (``BINARY_SORT``), as a sort against it is the slow one
    ties = "desc" if ascending else "asc"
    if sort not in ("timestamp", "source.timestamp") and query is not None and not isinstance(query, And):
        return _find_by_documents(store, query, access, ties, limit, require_submission)
    parents = binaries_query(store, query, access, require_submission)
    if sort not in ("timestamp", "source.timestamp"):
        body = {"size": limit, "_source": ["sha256"], "query": parents,
                "sort": [{"_score": direction}, {"sha256": ties}]}
        return [h["_source"]["sha256"] for h in search(store, "binary2", body, "finding binaries")["hits"]["hits"]]
    # newest visible document per binary: children aggregation ordered by its max timestamp
    body = {"size": 0, "query": parents, "aggs": {"kids": {"children": {"type": "metadata"}, "aggs": {
        "seen": {"filter": visible(access), "aggs": {"bins": {
            "terms": {"field": "sha256", "size": limit, "shard_size": max(limit * 2, 100),
                      "order": [{"newest": direction}, {"_key": direction}]},
            "aggs": {"newest": {"max": {"field": sort}}}}}}}}}}
    answer = search(store, "binary2", body, "finding binaries")
    return [b["key"] for b in answer["aggregations"]["kids"]["seen"]["bins"]["buckets"]]


#: fewest binaries one search of :func:`_find_by_documents` asks for
FIND_PAGE = 100


def _find_by_documents(store: OpenSearchMetadataStore, query: Node, access: Access, direction: str, limit: int,
                       require_submission: bool) -> list[str]:
    """:func:`find` for a query one document must satisfy (any root but AND), in sha256 order: the
    visible metadata documents matching it, collapsed to one hit per binary, then (with
    ``require_submission``) only binaries with a visible submission, page after page until
    ``limit`` are found.

    The same binaries as the parent/child join, without it: ``has_child`` visits every parent
    document of the index (200 ms a search at 1,000,000 binaries) where this visits the documents
    that match. On indices sorted by sha256 (template 20261128), a plain sort in the index's order
    that stops early in each segment, duplicates dropped here, took as long as the collapse at
    1,000,000 binaries: the first few hundred matches of each of ~70 segments are about as many
    documents as a feature value has."""
    clause = visible(access, METADATA, QueryCompiler(access, tag_lookup(store, access)).doc_query(query))
    found: list[str] = []
    after: str | None = None
    page = max(limit, FIND_PAGE)
    while len(found) < limit:
        filters = [clause]
        if after is not None:
            filters.append({"range": {"sha256": {"lt" if direction == "desc" else "gt": after}}})
        body = {"size": page, "_source": False, "stored_fields": "_none_", "docvalue_fields": ["sha256"],
                "collapse": {"field": "sha256"},
                "sort": [{"sha256": direction}], "query": {"bool": {"filter": filters}}}
        hits = search(store, "binary2", body, "finding binaries")["hits"]["hits"]
        shas = [hit["fields"]["sha256"][0] for hit in hits]
        if require_submission and shas:
            submitted = visible_binaries(store, shas, access, {"exists": {"field": "source.name"}})
            found += [sha for sha in shas if sha in submitted]
        else:
            found += shas
        if len(hits) < page:
            break
        after = shas[-1]
    return found[:limit]


def count(store: OpenSearchMetadataStore, query: Node | None, access: Access, require_submission: bool) -> int:
    with translated("counting binaries"):
        return int(store.client.count(index=store.all_binary_indices(),
                                      body={"query": binaries_query(store, query, access, require_submission)})
                   ["count"])


def list_binaries(store: OpenSearchMetadataStore, query: Node | None, access: Access, after: str | None,
                  limit: int) -> Page:
    parents = binaries_query(store, query, access, query is None)
    total = None if after else count(store, query, access, query is None)
    if after:
        parents["bool"]["filter"].append({"range": {"sha256": {"gt": after}}})
    body = {"size": limit, "_source": ["sha256"], "query": parents, "sort": [{"sha256": "asc"}]}
    items = [h["_source"]["sha256"] for h in search(store, "binary2", body, "listing binaries")["hits"]["hits"]]
    return Page(items, items[-1] if items else None, total)


def _sha256s(store: OpenSearchMetadataStore, query: Query, doing: str) -> list[str]:
    """Distinct sha256s of the metadata documents matching ``query`` (composite pages)."""
    out: list[str] = []
    after = None
    while True:
        composite: Query = {"size": 1000, "sources": [{"sha256": {"terms": {"field": "sha256"}}}]}
        if after:
            composite["after"] = after
        answer = search(store, "binary2", {"size": 0, "query": query, "aggs": {"c": {"composite": composite}}}, doing)
        agg = answer["aggregations"]["c"]
        out.extend(b["key"]["sha256"] for b in agg["buckets"])
        after = agg.get("after_key")
        if not agg["buckets"] or not after:
            return out


def fetch(store: OpenSearchMetadataStore, query: Query, doing: str, *, source: Any = False,
          values: Sequence[str] = (), sha256s: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Every binary2 document matching ``query``: its ``_source`` (``source``: False, True or the
    fields to keep, read from its brief when it holds them: ``brief.request``), the first doc value
    of each of ``values`` (dates as epoch milliseconds) and the names of the named clauses it
    matched, as ``{"_source": ..., "_matched": ..., field: value}``.

    One search when the matches fit in one window, sent only to the indices of ``sha256s`` when
    the query is about those binaries; a scroll over every index otherwise. The reads about a page
    of binaries used to scroll, which costs three round trips to all sixteen binary2 indices: 30-60
    ms each at 200,000 binaries where one routed search takes a few."""
    body: Query = {"size": WINDOW, "query": query, "_source": source, "sort": ["_doc"]}  # no scores to rank
    fields: Sequence[str] = source if isinstance(source, list) else ()
    if fields:
        body.update(brief.request(store.briefs, fields))
    if source is False:
        body["stored_fields"] = "_none_"  # not even _id: half the time of a doc-values read at 1,000,000 binaries
    if values:
        body["docvalue_fields"] = [{"field": f, "format": "epoch_millis"} if f == "timestamp" else f
                                   for f in values]
    hits = search(store, "binary2", body, doing, sha256s)["hits"]["hits"]
    if len(hits) >= WINDOW:
        body.pop("size")
        with translated(doing):
            hits = list(helpers.scan(store.client, index=store.all_binary_indices(), size=5000, scroll="2m",
                                     query=body))
    rows = []
    for hit in hits:
        row = {name: found[0] for name, found in (hit.get("fields") or {}).items() if found}
        row["_source"] = brief.source(hit, fields)
        row["_matched"] = hit.get("matched_queries") or ()
        rows.append(row)
    return rows


_HASH_KINDS = {32: "md5", 40: "sha1", 64: "sha256", 128: "sha512"}


def _hash_term(value: str) -> tuple[str, str]:
    """The field a hash is looked up on (its length names it; ssdeep by its two colons) and its key."""
    kind = _HASH_KINDS.get(len(value))
    if kind and value.count(":") != 2:
        return kind, value.lower()
    return "ssdeep", value


def lookup_hashes(store: OpenSearchMetadataStore, hashes: Sequence[str], access: Access) -> dict[str, list[str]]:
    """A hash identifies bytes, so (as in the embedded index) it matches on any document of the
    binary, and the binary is returned when the caller can see any of its documents.

    One search whatever the number and kinds of hashes: the documents holding any of them, their
    hash fields read from doc values, each hit telling whether the caller can see it (a named
    query). Only binaries whose every matching document is hidden from the caller need a second
    search: whether any other document of theirs is visible. Two searches per hash took 1.5 s for
    12 hashes at 1,000,000 binaries; composite aggregations per kind, 250 ms at 200,000; a
    visibility search after every look-up, a round trip more."""
    wanted: dict[str, set[str]] = {}
    for value in hashes:
        column, key = _hash_term(value)
        wanted.setdefault(column, set()).add(key)
    if not wanted:
        return {}
    holding = {"bool": {"should": [{"terms": {column: sorted(keys)}} for column, keys in sorted(wanted.items())],
                        "minimum_should_match": 1}}
    query = {"bool": {"filter": [METADATA, holding],
                      "should": [{"bool": {"filter": security_filter(access), "_name": _SEEN}}]}}
    having: dict[tuple[str, str], set[str]] = {}
    seen: set[str] = set()
    for row in fetch(store, query, "looking up hashes", values=["sha256", *sorted(wanted)]):
        if _SEEN in row["_matched"]:
            seen.add(row["sha256"])
        for column, keys in wanted.items():
            if row.get(column) in keys:
                having.setdefault((column, row[column]), set()).add(row["sha256"])
    hidden = sorted({sha for shas in having.values() for sha in shas} - seen)
    if hidden:
        seen |= visible_binaries(store, hidden, access)
    return {value: sorted(sha for sha in having.get(_hash_term(value), ()) if sha in seen) for value in hashes}


#: the name of the visibility clause of a look-up, reported in each visible hit's ``matched_queries``
_SEEN = "seen"


def documents(store: OpenSearchMetadataStore, sha256s: Sequence[str], access: Access, actions: Sequence[str],
              author_name: str | None, newer_than: str | None, limit: int | None,
              fields: Sequence[str] = ()) -> list[dict[str, Any]]:
    if not sha256s:
        return []
    clauses: list[Query] = [METADATA, {"terms": {"sha256": [s.lower() for s in sha256s]}}]
    if actions:
        clauses.append({"terms": {"action": list(actions)}})
    if author_name:
        clauses.append({"term": {"author.name": author_name}})
    if newer_than:
        clauses.append({"range": {"timestamp": instant(gt=newer_than)}})
    query = visible(access, *clauses)
    if limit and limit <= WINDOW:
        body = {"size": limit, "query": query, "sort": [{"timestamp": "desc"}], **brief.request(store.briefs, fields)}
        return [brief.source(h, fields)
                for h in search(store, "binary2", body, "reading documents", sha256s)["hits"]["hits"]]
    # newest first by the indexed date (to the millisecond), as the search above sorts: ties keep the
    # index's order there and here, so a binary's documents come in one order whichever read took them
    rows = fetch(store, query, "reading documents", source=list(fields) or True, values=["timestamp"],
                 sha256s=sha256s)
    rows.sort(key=lambda row: int(row.get("timestamp") or 0), reverse=True)
    docs = [row["_source"] for row in rows]
    return docs[:limit] if limit else docs


def linked(store: OpenSearchMetadataStore, sha256: str, access: Access, direction: Literal["children", "parents"],
           after: str | None, limit: int) -> Page:
    """One newest link document per related binary, in the related binary's sha256 order."""
    if direction == "children":
        match, other = {"term": {"parent.sha256": sha256}}, "sha256"
    else:
        match, other = {"bool": {"filter": [{"term": {"sha256": sha256}}, {"exists": {"field": "parent.sha256"}}]}}, \
            "parent.sha256"
    query = visible(access, METADATA, match)
    composite: Query = {"size": limit, "sources": [{"other": {"terms": {"field": other}}}]}
    if after:
        composite["after"] = {"other": after}
    aggs: Query = {"c": {"composite": composite, "aggs": {"top": {"top_hits": {
        "size": 1, "sort": [{"timestamp": "desc"}]}}}}}
    if not after:
        aggs["total"] = {"cardinality": {"field": other, "precision_threshold": 40_000}}
    # a binary's own documents (its links to parents) live in its index; links to it, everywhere
    answer = search(store, "binary2", {"size": 0, "query": query, "aggs": aggs}, "reading links",
                    [sha256] if direction == "parents" else ()).get("aggregations")
    if answer is None:  # no index holds this binary's documents yet
        return Page([], None, None if after else 0)
    buckets = answer["c"]["buckets"]
    items = [brief.document(b["top"]["hits"]["hits"][0]["_source"]) for b in buckets]
    total = None if after else int(answer["total"]["value"])
    return Page(items, buckets[-1]["key"]["other"] if buckets else None, total)


#: link documents one search of :func:`linked_many` reads before it falls back to aggregations
LINK_HITS = 500


def linked_many(store: OpenSearchMetadataStore, sha256s: Sequence[str], access: Access,
                direction: Literal["children", "parents"], per_binary: int,
                fields: Sequence[str] = ()) -> dict[str, list[dict[str, Any]]]:
    """:func:`linked`'s first page for several binaries at once (a lineage walk used to make one
    search per node): each binary's related binaries in sha256 order, the newest link document of
    each.

    First one search of the link documents sorted by (binary, related binary, newest first), grouped
    here; the binaries it did not read to the end (only when more than LINK_HITS documents matched)
    then get a terms aggregation with a top hit per related binary. At 200,000 binaries the sorted
    search takes about 4 ms where the aggregation took 18 and a walk makes a dozen of them."""
    wanted = sorted({s.lower() for s in sha256s})
    if not wanted:
        return {}
    mine, other = _link_fields(direction)
    body = {"size": LINK_HITS, "query": _links_query(access, direction, wanted),
            **brief.request(store.briefs, fields), "sort": [{mine: "asc"}, {other: "asc"}, {"timestamp": "desc"}]}
    hits = search(store, "binary2", body, "reading links", wanted if direction == "parents" else ())["hits"]["hits"]
    found: dict[str, list[dict[str, Any]]] = {}
    last: tuple[str, str] | None = None
    for hit in hits:
        key = (hit["sort"][0], hit["sort"][1])
        if key == last:
            continue  # an older link to the same related binary
        last = key
        page = found.setdefault(key[0], [])
        if len(page) < per_binary:
            page.append(brief.source(hit, fields))
    if len(hits) < LINK_HITS:
        return found
    # truncated: binaries after the last one read completely are read again by aggregation
    unread = [sha for sha in wanted if sha >= hits[-1]["sort"][0]]
    for sha in unread:
        found.pop(sha, None)
    found.update(_linked_many_aggs(store, unread, access, direction, per_binary, fields))
    return found


def lineage_below(store: OpenSearchMetadataStore, parents: Sequence[str], through: Sequence[str], access: Access,
                  limit: int, fields: Sequence[str]) -> list[dict[str, Any]]:
    """One search of every binary2 index (documents are routed by their own sha256s), sorted as
    :func:`linked_many`'s children are, so that ties (equal to the millisecond) fall alike."""
    clauses: list[Query] = []
    if parents:
        clauses.append({"terms": {"parent.sha256": sorted({s.lower() for s in parents})}})
    if through:
        clauses.append({"terms": {"ancestors": sorted({s.lower() for s in through})}})
    if not clauses or limit < 1:
        return []
    query = visible(access, METADATA, {"bool": {"should": clauses, "minimum_should_match": 1}})
    mine, other = _link_fields("children")
    body = {"size": min(limit, WINDOW), "query": query, **brief.request(store.briefs, fields),
            "sort": [{mine: "asc"}, {other: "asc"}, {"timestamp": "desc"}]}
    return [brief.source(hit, fields) for hit in search(store, "binary2", body, "reading links below")["hits"]["hits"]]


def _link_fields(direction: Literal["children", "parents"]) -> tuple[str, str]:
    """(the field naming the binaries asked about, the field naming their related binaries)."""
    return ("parent.sha256", "sha256") if direction == "children" else ("sha256", "parent.sha256")


def _links_query(access: Access, direction: Literal["children", "parents"], wanted: list[str]) -> Query:
    if direction == "children":
        return visible(access, METADATA, {"terms": {"parent.sha256": wanted}})
    return visible(access, METADATA, {"terms": {"sha256": wanted}}, {"exists": {"field": "parent.sha256"}})


def _linked_many_aggs(store: OpenSearchMetadataStore, wanted: list[str], access: Access,
                      direction: Literal["children", "parents"], per_binary: int,
                      fields: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    """:func:`linked_many` by a terms aggregation per binary: its related binaries in sha256 order
    (exact: ordered by key, not by count), the newest link document of each."""
    mine, other = _link_fields(direction)
    aggs: Query = {"b": {"terms": {"field": mine, "size": len(wanted)}, "aggs": {
        "o": {"terms": {"field": other, "size": per_binary, "order": {"_key": "asc"}}, "aggs": {
            "top": {"top_hits": {"size": 1, "sort": [{"timestamp": "desc"}],
                                 **brief.request(store.briefs, fields)}}}}}}}
    body = {"size": 0, "query": _links_query(access, direction, wanted), "aggs": aggs}
    answer = search(store, "binary2", body, "reading links", wanted if direction == "parents" else ())
    found: dict[str, list[dict[str, Any]]] = {}
    for bucket in (answer.get("aggregations") or {}).get("b", {}).get("buckets", ()):
        found[bucket["key"]] = [brief.source(o["top"]["hits"]["hits"][0], fields) for o in bucket["o"]["buckets"]]
    return found


def stream_sources(store: OpenSearchMetadataStore, stream_sha256: str, access: Access,
                   limit: int | None) -> list[tuple[str, str]]:
    query = visible(access, METADATA, {"term": {"datastreams.sha256": stream_sha256}},
                    {"exists": {"field": "source.name"}})
    fields = ["source.name", "datastreams"]
    if limit is None:  # every document: a scroll past one window (order does not matter)
        docs = [row["_source"] for row in fetch(store, query, "finding stream sources", source=fields)]
    else:
        body = {"size": limit, "query": query, "sort": [{"timestamp": "desc"}],
                **brief.request(store.briefs, fields)}
        docs = [brief.source(hit, fields)
                for hit in search(store, "binary2", body, "finding stream sources")["hits"]["hits"]]
    pairs: list[tuple[str, str]] = []
    for doc in docs:
        for stream in doc.get("datastreams") or ():
            pair = ((doc.get("source") or {}).get("name"), stream.get("label"))
            if stream.get("sha256") == stream_sha256 and pair not in pairs:
                pairs.append(pair)
    return pairs


def identities(store: OpenSearchMetadataStore, sha256s: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Identification of each binary, each field from its oldest document that has it (read from
    doc values: ``_source`` would inflate every document's features to pick eleven fields out)."""
    wanted = list(dict.fromkeys(sha256s))
    if not wanted:
        return {}
    out: dict[str, dict[str, Any]] = {}
    query = {"bool": {"filter": [METADATA, {"terms": {"sha256": wanted}}]}}
    rows = fetch(store, query, "reading identities", values=[*IDENTITY, "timestamp"], sha256s=wanted)
    rows.sort(key=lambda row: float(row.get("timestamp") or 0))
    for doc in rows:
        row = out.setdefault(doc["sha256"], dict.fromkeys(IDENTITY))
        row["sha256"] = doc["sha256"]
        for key in IDENTITY:
            if row[key] is None and doc.get(key) is not None:
                row[key] = doc[key]
    return out


def fuzzy_hashes(store: OpenSearchMetadataStore, kind: Literal["tlsh", "ssdeep"],
                 access: Access) -> Iterator[tuple[str, str]]:
    """As the embedded index: the binary's hash (from its oldest document having one), for every
    binary the caller can see through any document."""
    seen = set(_sha256s(store, visible(access, METADATA), "reading fuzzy hashes"))
    query = {"bool": {"filter": [METADATA, {"exists": {"field": kind}}]}}
    first: dict[str, tuple[float, str]] = {}
    for doc in store.scan_values("binary2", query, ["sha256", kind, "timestamp"]):
        if doc["sha256"] in seen and kind in doc:
            known = first.get(doc["sha256"])
            stamp = float(doc.get("timestamp") or 0)
            if known is None or stamp < known[0]:
                first[doc["sha256"]] = (stamp, doc[kind])
    for sha, (_, value) in first.items():
        yield sha, value


def statuses(store: OpenSearchMetadataStore, access: Access, sha256: str | None, author: str | None,
             since: str | None, wanted: Sequence[str], limit: int) -> list[dict[str, Any]]:
    clauses: list[Query] = []
    if sha256:
        clauses.append({"term": {"entity.input.entity.sha256": sha256}})
    if author:
        clauses.append({"term": {"encoded.author": author}})
    if since:
        clauses.append({"range": {"timestamp": instant(gte=since)}})
    if wanted:
        clauses.append({"terms": {"entity.status": list(wanted)}})
    body = {"size": min(limit, WINDOW), "query": visible(access, *clauses), "sort": [{"timestamp": "desc"}]}
    return [h["_source"] for h in search(store, "status", body, "reading statuses")["hits"]["hits"]]


def plugins(store: OpenSearchMetadataStore, access: Access) -> list[dict[str, Any]]:
    body = {"size": WINDOW, "query": visible(access), "sort": [{"entity.name": "asc"}, {"timestamp": "desc"}]}
    return [h["_source"] for h in search(store, "plugin", body, "reading plugins")["hits"]["hits"]]


def annotations(store: OpenSearchMetadataStore, access: Access, kind: str | None, sha256: str | None,
                tag: str | None, feature: str | None, value: str | None,
                include_disabled: bool, sha256s: Sequence[str] | None = None) -> list[dict[str, Any]]:
    clauses = [{"term": {field: v}} for field, v in (("type", kind), ("sha256", sha256), ("tag", tag),
                                                      ("feature_name", feature), ("feature_value", value))
               if v is not None]
    if sha256s is not None:
        clauses.append({"terms": {"sha256": list(sha256s)}})
    query = visible(access, *clauses)
    if not include_disabled:
        query["bool"]["must_not"] = [{"term": {"state": "disabled"}}]
    body = {"size": WINDOW, "query": query, "sort": [{"timestamp": "desc"}]}
    return [h["_source"] for h in search(store, "annotation", body, "reading annotations")["hits"]["hits"]]


def selector_query(selector: Selector) -> Query:
    """Metadata documents a purge or age-off deletes (every given condition must hold)."""
    clauses: list[Query] = []
    if selector.track_source_references is not None:
        clauses.append({"term": {"track_source_references": selector.track_source_references}})
    if selector.source_timestamp is not None:
        at = selector.source_timestamp
        clauses.append({"range": {"source.timestamp": instant(gte=at, lte=at)}})
    if selector.track_link is not None:
        clauses.append({"term": {"track_link": selector.track_link}})
    if selector.track_author is not None:
        clauses.append({"bool": {"should": [{"term": {"track_author": selector.track_author}},
                                            {"term": {"parent_track_author": selector.track_author}}],
                                 "minimum_should_match": 1}})
    if selector.source_name is not None:
        clauses.append({"term": {"source.name": selector.source_name}})
    if selector.source_timestamp_before is not None:
        clauses.append({"range": {"source.timestamp": instant(lte=selector.source_timestamp_before)}})
    if selector.sha256 is not None:
        clauses.append({"term": {"sha256": selector.sha256}})
    if selector.doc_ids:
        clauses.append({"ids": {"values": list(selector.doc_ids)}})
    if not clauses:
        raise InvalidInput("a delete needs at least one condition; refusing to delete everything")
    return {"bool": {"filter": [METADATA, *clauses]}}


def document_stats(store: OpenSearchMetadataStore, sha256: str, access: Access, author_name: str | None,
                   newer_than: str | None) -> tuple[int, str | None]:
    clauses: list[Query] = [METADATA, {"term": {"sha256": sha256}}]
    if author_name:
        clauses.append({"term": {"author.name": author_name}})
    if newer_than:
        clauses.append({"range": {"timestamp": instant(gt=newer_than)}})
    body = {"size": 0, "track_total_hits": True, "query": visible(access, *clauses),
            "aggs": {"newest": {"max": {"field": "timestamp"}}}}
    answer = search(store, "binary2", body, "counting documents", [sha256])
    newest = (answer.get("aggregations") or {}).get("newest", {}).get("value")
    if newest is None:
        return 0, None
    # milliseconds always shown, as the embedded index formats times it computes
    text = datetime.fromtimestamp(newest / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return int(answer["hits"]["total"]["value"]), text


def visible_binaries(store: OpenSearchMetadataStore, sha256s: Sequence[str], access: Access,
                     *clauses: Query) -> set[str]:
    """Which of ``sha256s`` the caller can see through any document (that also matches ``clauses``):
    one search to their indices, collapsed to one hit per binary, so it is exact for up to a window
    of binaries at a time."""
    wanted = sorted({s.lower() for s in sha256s})
    seen: set[str] = set()
    for start in range(0, len(wanted), WINDOW):
        chunk = wanted[start:start + WINDOW]
        body = {"size": len(chunk), "_source": False, "stored_fields": "_none_", "docvalue_fields": ["sha256"],
                "collapse": {"field": "sha256"},
                "query": visible(access, METADATA, {"terms": {"sha256": chunk}}, *clauses)}
        hits = search(store, "binary2", body, "checking binaries", chunk)["hits"]["hits"]
        seen.update(hit["fields"]["sha256"][0] for hit in hits)
    return seen


def feature_names(store: OpenSearchMetadataStore, access: Access) -> list[str]:
    body = {"size": 0, "query": visible(access, METADATA),
            "aggs": {"n": {"terms": {"field": "features.name", "size": 65_536, "order": {"_key": "asc"}}}}}
    return [b["key"] for b in search(store, "binary2", body, "listing feature names")["aggregations"]["n"]["buckets"]]
