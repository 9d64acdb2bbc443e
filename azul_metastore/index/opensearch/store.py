"""The scale-out metadata index adapter (OpenSearch 2.19). Same behaviour as the SQLite adapter,
proven by ``tests/backends/test_metadata_store.py``; reads live in ``reads.py``, ``reads_aggs.py`` and
``reads_similar.py``.

Writes are plain bulk requests: acknowledged means durable (translog ``request`` durability), and
searchable from the next refresh (``refresh_interval`` in ``templates.py``, or ``refresh()`` by a
caller that reads its own write), as in Azul; a refresh per bulk capped ingest at a few hundred
events/s (issue #10). Deletes still refresh: they are rare, and the lifecycle step after one reads
what is left. Every read filters by the
caller's :class:`~azul_metastore.security.Access` itself (``compiler.security_filter``); the DLS
roles of ``apply-opensearch-config`` are a second line only.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

import orjson
from opensearchpy import OpenSearch, helpers

from azul_metastore.errors import BackendUnavailable, InvalidInput
from azul_metastore.index.documents import Document
from azul_metastore.index.numbers import numeric_view
from azul_metastore.index.opensearch import (
    batching,
    brief,
    feature_fields,
    lifecycle,
    reads,
    reads_aggs,
    reads_similar,
)
from azul_metastore.index.opensearch.client import translated
from azul_metastore.index.opensearch.compiler import instant
from azul_metastore.index.opensearch.templates import DOC_TYPES, BinaryLayout, IndexNames, Templates
from azul_metastore.index.port import (
    Page,
    PivotResult,
    ReferenceGroup,
    Selector,
    SortKey,
    StatusCount,
    SubmissionRow,
)
from azul_metastore.index.timestamps import epoch_ms, partition_end
from azul_metastore.query.ast import Node
from azul_metastore.security import ANY, Access

log = logging.getLogger(__name__)

#: index operations per bulk request
BULK_CHUNK = 2000
#: reads of one ``gather`` in flight at once (each mostly waits on the node)
GATHER_THREADS = 8
#: marks the gather pool's threads: a read running there that gathers runs its reads in turn
_pool_thread = threading.local()
#: actions whose documents keep a binary alive (§11 item 9)
KEEPING_ACTIONS = ("sourced", "extracted", "mapped")


def _op(doc: Document, body: dict[str, Any]) -> str:
    """The bulk operation of a document: ``create`` for binary parents (see ``_bulk``)."""
    if doc.doc_type == "binary2" and (body.get("binary_info") or {}).get("name") == "binary":
        return "create"
    return "index"


class OpenSearchMetadataStore:
    """The MetadataStore port on one OpenSearch partition (``azul.{partition}.*``).

    ``open_labels`` are the safe labels of ``security_minimum_required_access``: documents needing
    no more than those (plus enforced TLPs) go to the open indices, the rest to the DLS-protected
    shut ones (§4.1). ``enforced`` are the safe labels of enforced TLPs.
    """

    #: every read is a request to the node (``MetadataStore.round_trips``)
    round_trips = True

    def __init__(self, client: OpenSearch, partition: str, *, shards: int = 1, replicas: int = 0,
                 open_labels: frozenset[str] = frozenset(), enforced: frozenset[str] = frozenset(),
                 initialise: bool = True, binary_layout: BinaryLayout = "hex") -> None:
        self.client = client
        self.names = IndexNames(partition, binary_layout)
        self.templates = Templates(client, self.names, shards, replicas)
        self.open_labels = frozenset(open_labels) | {ANY}
        self.enforced = frozenset(enforced)
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()
        self._briefless: frozenset[str] | None = None
        self._shut_binaries = False
        if initialise:
            self.templates.initialise()

    def _old_indices(self) -> frozenset[str]:
        """The binary2 indices without briefs (``brief.py``), asked once: an index made later comes
        from this version's template, which has them."""
        if self._briefless is None:
            self._briefless = frozenset(self.templates.briefless())
        return self._briefless

    @property
    def briefs(self) -> bool:
        """Whether every metadata document of the partition has a brief to read few fields from."""
        return not self._old_indices()

    def alias(self, doc_type: str) -> str:
        return self.names.alias(doc_type)

    def binary_indices(self, sha256s: Sequence[str]) -> str:
        return self.names.binaries(sha256s)

    def all_binary_indices(self) -> str:
        """Where a read of binary2 documents not named by sha256 goes: the shut indices, which hold
        every one of them (``_placed``), once one exists; before that the alias, so that the answer
        keeps its shape (an aggregation over no index at all answers none).

        Why: the alias also names the open binary2 index, made only to carry it and always empty.
        Its shards cost every search shard requests and a share of the merge of the answers: the
        unrouted searches of a find by hashes and of lineage walks, replayed at 210,010 binaries, took
        4.5 ms p50 (7.2 at p90) through the alias and 4.1 (6.5) on the shut index alone."""
        pattern = self.names.shut("binary2") + "*"
        if not self._shut_binaries:
            with translated("listing binary2 indices"):
                self._shut_binaries = bool(self.client.indices.exists(index=pattern, allow_no_indices=False))
        return pattern if self._shut_binaries else self.alias("binary2")

    # --- writes --------------------------------------------------------------------------------

    def _placed(self, doc: Document) -> str:
        """The index a document goes to (§4.1 ``wrap_docs``)."""
        if doc.doc_type == "binary2":
            return self.names.binary(doc.partition or doc.id)
        encoded = doc.body.get("encoded_security") or {}
        labels = set(encoded.get("exclusive") or ()) | set(encoded.get("inclusive") or ())
        labels |= set(encoded.get("markings") or ()) & self.enforced
        ext = doc.partition if doc.doc_type == "status" else None
        if labels <= self.open_labels:
            return self.names.open(doc.doc_type, ext)
        return self.names.shut(doc.doc_type, ext)

    def write(self, documents: Sequence[Document]) -> None:
        if not documents:
            return
        planned: dict[tuple[str, str], tuple[Document, dict[str, Any]]] = {}
        parents: set[str] = set()
        features: set[str] = set()
        for doc in documents:
            body, index = doc.body, self._placed(doc)
            if doc.doc_type == "binary2":
                if (body.get("binary_info") or {}).get("name") == "binary":
                    parents.add(doc.id)
                    body = {**body, "sha256": doc.id}
                else:
                    if body.get("features_map"):
                        fmap = feature_fields.fields(body["features_map"])
                        features.update(fmap)
                        body = {**body, "features_map": fmap, "features_num": numeric_view(fmap)}
                    if index not in self._old_indices():
                        body = {**body, brief.FIELD: brief.of(body)}
            planned[(index, doc.id)] = (doc, body)
        # A metadata document is only found through its binary's parent document, which the
        # ingest dedupe cache may have skipped: always (re)write the parent beside it.
        for doc, body in list(planned.values()):
            if doc.doc_type == "binary2" and body["sha256"] not in parents:
                sha = body["sha256"]
                parents.add(sha)
                parent = Document("binary2", sha, {}, routing=sha, partition=doc.partition)
                planned[(self._placed(parent), sha)] = (parent, {
                    "binary_info": {"name": "binary"}, "security": ANY, "sha256": sha,
                    "encoded_security": {"exclusive": [ANY], "inclusive": [ANY], "markings": [],
                                         "num_exclusive": 1}})
        if features:
            self.templates.add_features(features)
        items = [(index, doc, body) for (index, _), (doc, body) in planned.items()]
        for start in range(0, len(items), BULK_CHUNK):
            self._bulk(items[start:start + BULK_CHUNK], retry=True)
        self._drop_moved(items)

    def _bulk(self, items: list[tuple[str, Document, dict[str, Any]]], retry: bool) -> None:
        """One bulk request. Binary parent documents are ``create``d, everything else indexed.

        Why: a parent's body never changes (its id is the sha256), and ``write`` sends one beside
        every metadata document. Reindexing an existing parent would parse, index and later merge
        away a copy for nothing; ``create`` makes it a lookup by id that answers 409, ignored here.
        """
        lines = []
        for index, doc, body in items:
            action: dict[str, Any] = {"_index": index, "_id": doc.id}
            if doc.routing:
                action["routing"] = doc.routing
            lines.append(orjson.dumps({_op(doc, body): action}))
            lines.append(orjson.dumps(body))
        with translated("writing documents"):
            result = self.client.bulk(body=b"\n".join(lines) + b"\n")
        if not result.get("errors"):
            return
        failed = [(item, err) for item, answer in zip(items, result["items"], strict=True)
                  if (err := next(iter(answer.values())).get("error"))
                  and not (err.get("type") == "version_conflict_engine_exception" and "create" in answer)]
        if not failed:
            return
        if retry and any(err.get("type") == "strict_dynamic_mapping_exception" for _, err in failed):
            # a feature name the mapping does not know yet: map every name of the batch, retry once
            names = {n for _, _, body in items for n in body.get("features_map") or ()}
            self.templates.features.clear()
            self.templates.add_features(names)
            self._bulk([item for item, _ in failed], retry=False)
            return
        reasons = "; ".join(f"{item[1].id}: {err.get('type')}: {err.get('reason')}" for item, err in failed[:5])
        if all(err.get("type", "").endswith("_exception") and "mapper" in err.get("type", "") for _, err in failed):
            raise InvalidInput(f"OpenSearch refused {len(failed)} documents: {reasons}")
        raise BackendUnavailable(f"OpenSearch refused {len(failed)} of {len(items)} documents: {reasons}")

    def _drop_moved(self, items: list[tuple[str, Document, dict[str, Any]]]) -> None:
        """Status, plugin and annotation ids are unique across indices, as in the embedded index: a
        document that changed time bucket or open/shut index leaves no stale copy behind.

        The copies are looked up by id (mget) in the type's other indices, not searched for: a copy
        an earlier batch wrote may not be searchable yet, but a read by id sees it. The stale copy
        goes without a refresh, like the write that replaces it."""
        for doc_type in ("status", "plugin", "annotation"):
            wanted = [(index, doc.id) for index, doc, _ in items if doc.doc_type == doc_type]
            if not wanted:
                continue
            with translated(f"listing {doc_type} indices"):
                indices = sorted(self.client.indices.get_alias(name=self.alias(doc_type)))
            probes = [{"_index": other, "_id": doc_id, "_source": False}
                      for index, doc_id in wanted for other in indices if other != index]
            stale: list[dict[str, Any]] = []
            for start in range(0, len(probes), 5000):
                with translated(f"looking for moved {doc_type} documents"):
                    answer = self.client.mget(body={"docs": probes[start:start + 5000]})
                stale += [d for d in answer["docs"] if d.get("found")]
            if stale:
                self._delete_hits(stale, refresh=False)

    # --- deletes -------------------------------------------------------------------------------

    def scan(self, doc_type: str, query: dict[str, Any], source: Any = True) -> Iterator[dict[str, Any]]:
        """Every hit of ``query`` (unordered, scroll), with ``_index``, ``_id``, ``_routing``, ``_source``."""
        with translated(f"reading {doc_type} documents"):
            yield from helpers.scan(self.client, index=self.alias(doc_type), size=1000, scroll="2m",
                                    query={"query": query, "_source": source})

    def scan_values(self, doc_type: str, query: dict[str, Any], fields: Sequence[str],
                    seq_no: bool = False, index: str | None = None,
                    preference: str | None = None) -> Iterator[dict[str, Any]]:
        """Every hit of ``query`` (unordered) as {field: its first doc value}, fields it lacks left out;
        dates as epoch milliseconds; with ``seq_no`` also its ``_index`` and ``_seq_no``. ``index``
        (default: the alias of ``doc_type``) and ``preference`` (e.g. ``_shards:0``) narrow the scan.

        For scans over many documents that need a few keyword or date fields (the fuzzy-hash
        reads): doc values are read column by column, where ``_source`` filtering inflates every
        document's whole stored source (kilobytes of features each) to pick three fields out."""
        wanted = [{"field": f, "format": "epoch_millis"} if f == "timestamp" else f for f in fields]
        body = {"query": query, "_source": False, "stored_fields": "_none_", "docvalue_fields": wanted,
                "seq_no_primary_term": seq_no}
        with translated(f"reading {doc_type} documents"):
            narrowed = {"preference": preference} if preference else {}
            for hit in helpers.scan(self.client, index=index or self.alias(doc_type), size=5000, scroll="2m",
                                    query=body, **narrowed):
                row = {name: values[0] for name, values in (hit.get("fields") or {}).items() if values}
                if seq_no:
                    row["_index"], row["_seq_no"] = hit["_index"], hit["_seq_no"]
                yield row

    def _delete_hits(self, hits: list[dict[str, Any]], refresh: bool = True) -> None:
        for start in range(0, len(hits), BULK_CHUNK):
            lines = []
            for hit in hits[start:start + BULK_CHUNK]:
                action = {"_index": hit["_index"], "_id": hit["_id"]}
                if hit.get("_routing"):
                    action["routing"] = hit["_routing"]
                lines.append(orjson.dumps({"delete": action}))
            with translated("deleting documents"):
                self.client.bulk(body=b"\n".join(lines) + b"\n", refresh="true" if refresh else "false")

    def delete(self, selector: Selector) -> list[dict[str, Any]]:
        query = reads.selector_query(selector)
        hits = list(self.scan("binary2", query, ["sha256", "source.name", "datastreams", "action"]))
        gone = [{"id": h["_id"], "sha256": h["_source"].get("sha256"),
                 "source": (h["_source"].get("source") or {}).get("name"),
                 "datastreams": h["_source"].get("datastreams") or [], "action": h["_source"].get("action")}
                for h in hits]
        self._delete_hits(hits)
        return gone

    def delete_orphans(self) -> list[str]:
        """Binaries without any sourced/extracted/mapped document lose all their documents."""
        query = {"bool": {"filter": [{"term": {"binary_info": "binary"}}], "must_not": [
            {"has_child": {"type": "metadata", "query": {"terms": {"action": list(KEEPING_ACTIONS)}}}}]}}
        orphans = sorted({h["_source"]["sha256"] for h in self.scan("binary2", query, ["sha256"])})
        for start in range(0, len(orphans), 1000):
            with translated("deleting orphaned binaries"):
                self.client.delete_by_query(index=self.alias("binary2"), refresh=True, conflicts="proceed",
                                            body={"query": {"terms": {"sha256": orphans[start:start + 1000]}}})
        return orphans

    def delete_statuses_before(self, timestamp: str) -> int:
        """Drop whole time-bucket indices whose period ended by ``timestamp`` (cheap, no tombstones);
        delete documents one by one only in the buckets that straddle it.

        A bucket is judged by the period its name says, not by the newest status a search finds
        in it: a status written but not yet refreshed is not found, and the index went with it."""
        body = {"size": 0, "aggs": {"indices": {"terms": {"field": "_index", "size": 10_000}}}}
        with translated("reading status indices"):
            buckets = self.client.search(index=self.alias("status"), body=body)["aggregations"]["indices"]["buckets"]
        deleted = 0
        base = {self.names.open("status"), self.names.shut("status")}
        prefixes = (self.names.open("status") + ".", self.names.shut("status") + ".")
        straddling = []
        cutoff = epoch_ms(timestamp)
        for bucket in buckets:
            index = bucket["key"]
            key = next((index[len(p):] for p in prefixes if index.startswith(p)), None)
            end = partition_end(key) if key and index not in base else None
            if end is not None and end.timestamp() * 1000 <= cutoff:
                with translated(f"dropping status index {index}"):
                    self.client.indices.delete(index=index)
                deleted += bucket["doc_count"]
            else:
                straddling.append(index)
        if straddling:
            with translated("deleting old statuses"):
                answer = self.client.delete_by_query(
                    index=",".join(straddling), refresh=True, conflicts="proceed",
                    body={"query": {"range": {"timestamp": instant(lt=timestamp)}}})
            deleted += answer.get("deleted", 0)
        return deleted

    def disable_annotations(self, *, kind: str, tag: str, sha256: str | None = None, feature: str | None = None,
                            value: str | None = None) -> int:
        clauses: list[dict[str, Any]] = [{"term": {"type": kind}}, {"term": {"tag": tag}}]
        for field, v in (("sha256", sha256), ("feature_name", feature), ("feature_value", value)):
            if v is not None:
                clauses.append({"term": {field: v}})
        body = {"query": {"bool": {"filter": clauses, "must_not": [{"term": {"state": "disabled"}}]}},
                "script": {"source": "ctx._source.state = 'disabled'", "lang": "painless"}}
        with translated("disabling annotations"):
            answer = self.client.update_by_query(index=self.alias("annotation"), body=body, refresh=True,
                                                 conflicts="proceed")
        return int(answer.get("updated", 0))

    # --- lifecycle primitives (in lifecycle.py) -------------------------------------------------

    def select(self, selector: Selector, limit: int | None = None) -> list[dict[str, Any]]:
        return lifecycle.select(self, selector, limit)

    def count_selected(self, selector: Selector) -> tuple[int, int]:
        return lifecycle.count_selected(self, selector)

    def child_links(self, parent_sha256s: Sequence[str]) -> list[dict[str, Any]]:
        return lifecycle.child_links(self, parent_sha256s)

    def count_statuses_before(self, timestamp: str) -> int:
        return lifecycle.count_statuses_before(self, timestamp)

    def delete_statuses_of(self, sha256s: Sequence[str], buried_at: str | None = None) -> list[str]:
        return lifecycle.delete_statuses_of(self, sha256s, buried_at)

    def bury(self, ids: Sequence[str], timestamp: str) -> None:
        lifecycle.bury(self, ids, timestamp)

    def buried(self, ids: Sequence[str]) -> dict[str, str]:
        return lifecycle.buried(self, ids)

    # --- reads (in reads.py and reads_aggs.py) -------------------------------------------------

    def find(self, query: Node | None, access: Access, *, sort: SortKey = "_score", ascending: bool = False,
             limit: int = 100, require_submission: bool = True) -> list[str]:
        return reads.find(self, query, access, sort, ascending, limit, require_submission)

    def count(self, query: Node | None, access: Access, *, require_submission: bool = True) -> int:
        return reads.count(self, query, access, require_submission)

    def list_binaries(self, query: Node | None, access: Access, after: str | None, limit: int) -> Page:
        return reads.list_binaries(self, query, access, after, limit)

    def lookup_hashes(self, hashes: Sequence[str], access: Access) -> dict[str, list[str]]:
        return reads.lookup_hashes(self, hashes, access)

    def documents(self, sha256s: Sequence[str], access: Access, *, actions: Sequence[str] = (),
                  author_name: str | None = None, newer_than: str | None = None,
                  limit: int | None = None, fields: Sequence[str] = ()) -> list[dict[str, Any]]:
        return reads.documents(self, sha256s, access, actions, author_name, newer_than, limit, fields)

    def document_stats(self, sha256: str, access: Access, *, author_name: str | None = None,
                       newer_than: str | None = None) -> tuple[int, str | None]:
        return reads.document_stats(self, sha256, access, author_name, newer_than)

    def visible_binaries(self, sha256s: Sequence[str], access: Access) -> set[str]:
        return reads.visible_binaries(self, sha256s, access)

    def feature_names(self, access: Access) -> list[str]:
        return reads.feature_names(self, access)

    def linked(self, sha256: str, access: Access, direction: Literal["children", "parents"],
               after: str | None, limit: int) -> Page:
        return reads.linked(self, sha256, access, direction, after, limit)

    def lineage_below(self, parents: Sequence[str], through: Sequence[str], access: Access, limit: int,
                      fields: Sequence[str] = ()) -> list[dict[str, Any]]:
        return reads.lineage_below(self, parents, through, access, limit, fields)

    def linked_many(self, sha256s: Sequence[str], access: Access, direction: Literal["children", "parents"],
                    per_binary: int, fields: Sequence[str] = ()) -> dict[str, list[dict[str, Any]]]:
        return reads.linked_many(self, sha256s, access, direction, per_binary, fields)

    def stream_sources(self, stream_sha256: str, access: Access, limit: int | None = 10) -> list[tuple[str, str]]:
        return reads.stream_sources(self, stream_sha256, access, limit)

    def identities(self, sha256s: Sequence[str]) -> dict[str, dict[str, Any]]:
        return reads.identities(self, sha256s)

    def fuzzy_hashes(self, kind: Literal["tlsh", "ssdeep"], access: Access) -> Iterator[tuple[str, str]]:
        return reads.fuzzy_hashes(self, kind, access)

    def statuses(self, access: Access, *, sha256: str | None = None, author: str | None = None,
                 since: str | None = None, statuses: Sequence[str] = (), limit: int = 10_000) -> list[dict[str, Any]]:
        return reads.statuses(self, access, sha256, author, since, statuses, limit)

    def plugins(self, access: Access) -> list[dict[str, Any]]:
        return reads.plugins(self, access)

    def annotations(self, access: Access, *, kind: str | None = None, sha256: str | None = None,
                    tag: str | None = None, feature: str | None = None, value: str | None = None,
                    include_disabled: bool = False, sha256s: Sequence[str] | None = None) -> list[dict[str, Any]]:
        return reads.annotations(self, access, kind, sha256, tag, feature, value, include_disabled, sha256s)

    def feature_values(self, name: str, access: Access, *, term: str | None = None, case_insensitive: bool = False,
                       ascending: bool = True, after: str | None = None, limit: int = 500,
                       author: str | None = None, author_version: str | None = None) -> Page:
        return reads_aggs.feature_values(self, name, access, term, case_insensitive, ascending, after, limit,
                                         author, author_version)

    def count_feature_values(self, name: str, access: Access, *, author: str | None = None,
                             author_version: str | None = None) -> int:
        return reads_aggs.count_feature_values(self, name, access, author, author_version)

    def count_feature_entities(self, name: str, access: Access, *, value: str | None = None,
                               author: str | None = None, author_version: str | None = None) -> int:
        return reads_aggs.count_feature_entities(self, name, access, value, author, author_version)

    def count_feature_part_entities(self, part: str, value: str, access: Access, *, author: str | None = None,
                                    author_version: str | None = None) -> int:
        return reads_aggs.count_feature_part_entities(self, part, value, access, author, author_version)

    def pivot(self, pairs: Sequence[tuple[str, str]], access: Access, *, names: Sequence[str] | None = None,
              max_binaries: int = 10_000, size: int = 10, min_count: int = 2) -> PivotResult:
        return reads_aggs.pivot(self, pairs, access, names, max_binaries, size, min_count)

    def status_counts(self, access: Access, *, since: str | None = None,
                      statuses: Sequence[str] = ()) -> list[StatusCount]:
        return reads_aggs.status_counts(self, access, since, statuses)

    def count_authored(self, name: str, version: str | None, access: Access) -> int:
        return reads_aggs.count_authored(self, name, version, access)

    def source_summary(self, source: str, access: Access) -> tuple[str | None, int]:
        return reads_aggs.source_summary(self, source, access)

    def source_references(self, source: str, access: Access, *, grouped: bool = False, term: str | None = None,
                          limit: int = 100) -> list[ReferenceGroup]:
        return reads_aggs.source_references(self, source, access, grouped, term, limit)

    def source_submissions(self, source: str, access: Access, *, track_source_references: str | None = None,
                           timestamp: str | None = None, limit: int = 100) -> list[ReferenceGroup]:
        return reads_aggs.source_submissions(self, source, access, track_source_references, timestamp, limit)

    # --- similarity and find items (in reads_similar.py) ----------------------------------------

    def binary_submissions(self, sha256s: Sequence[str], access: Access) -> list[SubmissionRow]:
        return reads_similar.binary_submissions(self, sha256s, access)

    def similar_tlsh(self, tlsh: str, access: Access, limit: int) -> list[tuple[str, int]]:
        return reads_similar.similar_tlsh(self, tlsh, access, limit)

    def ssdeep_candidates(self, ssdeep: str, access: Access, limit: int) -> list[tuple[str, str]]:
        return reads_similar.ssdeep_candidates(self, ssdeep, access, limit)

    def similar_entropy(self, vector: Sequence[int], access: Access, limit: int,
                        exclude: str | None = None) -> list[tuple[str, int]]:
        return reads_similar.similar_entropy(self, vector, access, limit, exclude)

    def feature_overlaps(self, pairs: Sequence[tuple[str, str]], access: Access, *, author_name: str | None = None,
                         exclude: str | None = None, min_count: int = 1, limit: int = 1000) -> dict[str, int]:
        return reads_similar.feature_overlaps(self, pairs, access, author_name, exclude, min_count, limit)

    # --- plumbing ------------------------------------------------------------------------------

    def gather(self, *reads: Callable[[], Any]) -> list[Any]:
        """The reads at once: all but the first on a thread pool, the first on this thread, their
        searches sent together as one ``_msearch`` (``batching``). Inside a pool thread or a batch
        the reads run in turn, so nested gathers cannot exhaust the pool."""
        if len(reads) < 2 or getattr(_pool_thread, "inside", False) or batching.current() is not None:
            return [read() for read in reads]
        batch = batching.SearchBatch(self.client, len(reads))
        reads = tuple(batching.run_in(batch, read) for read in reads)
        futures = [self._executor().submit(read) for read in reads[1:]]
        answers: list[Any] = []
        error: BaseException | None = None
        for answer in (reads[0], *(future.result for future in futures)):
            try:
                answers.append(answer())
            except Exception as exc:  # every read ends before the first error (in order) is raised
                error = error or exc
        if error is not None:
            raise error
        return answers

    def _executor(self) -> ThreadPoolExecutor:
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(GATHER_THREADS, thread_name_prefix="opensearch-read",
                                                initializer=_mark_pool_thread)
            return self._pool

    def refresh(self) -> None:
        with translated("refreshing"):
            self.client.indices.refresh(index=",".join(self.alias(d) for d in DOC_TYPES))

    def close(self) -> None:
        with self._pool_lock:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
                self._pool = None
        self.client.close()


def _mark_pool_thread() -> None:
    _pool_thread.inside = True
