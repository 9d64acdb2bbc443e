"""Similarity and find-item reads of the OpenSearch index, with the embedded index's answers.

Exactness over approximation: the ``tlsh_vector`` k-NN field ranks by cosine similarity, which is
not the TLSH distance, and Lucene has no Hamming space for ``entropy_vector`` (stored, not
indexed). So TLSH and ssdeep candidates are read by scanning the metadata documents that carry a
hash (one small ``_source`` per document), judged with the same code as the embedded index
(``index/tlsh.py``, ``index/similarity.py``), and only then checked for visibility, nearest first.

A binary's fuzzy hash is the one of its oldest document having one, as ``reads.identities`` and
``reads.fuzzy_hashes`` take it. Every function filters by the caller's access (``visible``).
"""

from __future__ import annotations

import threading
import time
from array import array
from collections import defaultdict
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from azul_metastore.errors import InvalidInput
from azul_metastore.index.opensearch import feature_fields
from azul_metastore.index.opensearch.client import translated
from azul_metastore.index.opensearch.compiler import visible
from azul_metastore.index.opensearch.reads import METADATA, fetch, visible_binaries
from azul_metastore.index.port import SubmissionRow
from azul_metastore.index.similarity import (
    MAX_DOC_FREQ,
    SSDEEP_SCAN,
    entropy_query,
    hamming,
    ssdeep_shares,
    ssdeep_sizes,
    submission_key,
)
from azul_metastore.index.tlsh import PerStore, TlshTable, parse_tlsh
from azul_metastore.security import Access

if TYPE_CHECKING:
    from azul_metastore.index.opensearch.store import OpenSearchMetadataStore

Query = dict[str, Any]
#: sha256s per visibility check (well under the terms query's 65 536 limit)
_CHUNK = 5000


def _iso(text: str | None) -> str | None:
    """A stored timestamp in the embedded index's form (UTC, milliseconds, ``Z``)."""
    if not text:
        return None
    ms = int(datetime.fromisoformat(text).timestamp() * 1000)
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _visible(store: OpenSearchMetadataStore, sha256s: Sequence[str], access: Access) -> set[str]:
    out: set[str] = set()
    for start in range(0, len(sha256s), _CHUNK):
        out |= visible_binaries(store, sha256s[start:start + _CHUNK], access)
    return out


def binary_submissions(store: OpenSearchMetadataStore, sha256s: Sequence[str], access: Access) -> list[SubmissionRow]:
    wanted = list(dict.fromkeys(sha256s))
    out: list[SubmissionRow] = []
    fields = ["sha256", "source", "depth", "filename", "datastreams.label"]
    for start in range(0, len(wanted), _CHUNK):
        query = visible(access, METADATA, {"terms": {"sha256": wanted[start:start + _CHUNK]}},
                        {"exists": {"field": "source.name"}})
        for hit in fetch(store, query, "reading submissions", source=fields, sha256s=wanted[start:start + _CHUNK]):
            doc = hit["_source"]
            source = doc.get("source") or {}
            names = doc.get("filename")
            out.append(SubmissionRow(
                doc["sha256"], source["name"], _iso(source.get("timestamp")), doc.get("depth") or 0,
                source.get("references") or {},
                any(s.get("label") == "content" for s in doc.get("datastreams") or ()),
                (names if isinstance(names, list) else [names]) if names else []))
    return sorted(out, key=submission_key)


def _first_hashes(store: OpenSearchMetadataStore, kind: str, query: Query) -> dict[str, str]:
    """sha256 → the ``kind`` hash of its oldest metadata document matching ``query`` (read from
    doc values: ``store.scan_values``)."""
    first: dict[str, tuple[float, str]] = {}
    for doc in store.scan_values("binary2", query, ["sha256", kind, "timestamp"]):
        value = doc.get(kind)
        if not isinstance(value, str):
            continue
        known = first.get(doc["sha256"])
        stamp = float(doc.get("timestamp") or 0)
        if known is None or stamp < known[0]:
            first[doc["sha256"]] = (stamp, value)
    return {sha: value for sha, (_, value) in first.items()}


class _TlshCache:
    """Every binary's TLSH (of its oldest metadata document having one) as a numpy table, kept up
    to date by sequence number, as the embedded index keeps its table by binary id.

    A refresh reads only what was indexed since the last one: in each shard of each binary2 index
    whose highest sequence number moved (one stats request), the documents with a ``_seq_no`` above
    the highest seen there (all of a shard not seen before). Sequence numbers are per shard: marks
    kept per index missed, until the next full reload, what reached a shard whose numbers ran
    behind another's. A document that became searchable after a later one of its shard (two bulks
    at once) can be missed; that,
    and deleted binaries (which stay in the table harmlessly: every candidate is checked for
    visible documents before it is returned), are set right by the full reload every
    RELOAD_SECONDS. Scanning every hash per query instead took most of a second at 50,000 binaries.

    Kept in flat buffers (sha256 digests, packed hashes, timestamps), not lists of Python objects:
    each full garbage collection visits every element of a list, and lists of 600,000 strings
    made every one take 130 ms, a pause that landed on whatever request was running.
    """

    RELOAD_SECONDS = 600.0

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        self.marks: dict[tuple[str, int], int] = {}  # (index, shard) -> highest _seq_no read
        self.position: dict[str, int] = {}  # str -> int only: a dict the collector does not track
        self.stamps = array("d")
        self.digests = bytearray()  # 32 bytes per binary; only appended to (a reset makes a new one)
        self.raw = bytearray()  # 35 bytes per binary: its packed TLSH
        self.packed = b""  # ``raw`` as of the last table
        self.table = TlshTable(b"", 0)
        self.loaded_at = time.monotonic()

    def refresh(self, store: OpenSearchMetadataStore) -> None:
        if time.monotonic() - self.loaded_at > self.RELOAD_SECONDS:
            self.reset()
        changed = False
        for (index, shard), mark in self._moved(store).items():
            query = {"bool": {"filter": [METADATA, {"exists": {"field": "tlsh"}},
                                         {"range": {"_seq_no": {"gt": mark}}}]}}
            for doc in store.scan_values("binary2", query, ["sha256", "tlsh", "timestamp"], seq_no=True,
                                         index=index, preference=f"_shards:{shard}"):
                self.marks[(index, shard)] = max(self.marks.get((index, shard), -1), int(doc["_seq_no"]))
                changed = self._add(doc) or changed
        if changed:
            self.packed = bytes(self.raw)
            self.table = TlshTable(self.packed, len(self.stamps))

    def _moved(self, store: OpenSearchMetadataStore) -> dict[tuple[str, int], int]:
        """(index, shard) -> the highest sequence number read there, for the shards written since."""
        with translated("reading binary2 shard statistics"):
            stats = store.client.indices.stats(index=store.alias("binary2"), metric="docs", level="shards")
        moved = {}
        for index, about in (stats.get("indices") or {}).items():
            for shard, copies in (about.get("shards") or {}).items():
                highest = max(int(c.get("seq_no", {}).get("max_seq_no", -1)) for c in copies)
                mark = self.marks.get((index, int(shard)), -1)
                if highest > mark:
                    moved[(index, int(shard))] = mark
        return moved

    def _add(self, doc: dict[str, Any]) -> bool:
        """Take a document's hash into the table; whether the table changed."""
        sha, text, stamp = doc["sha256"], doc.get("tlsh"), float(doc.get("timestamp") or 0)
        at = self.position.get(sha)
        if not isinstance(text, str) or (at is not None and stamp >= self.stamps[at]):
            return False
        try:
            packed = parse_tlsh(text)
        except InvalidInput:
            return False
        if at is None:
            self.position[sha] = len(self.stamps)
            self.stamps.append(stamp)
            self.digests += bytes.fromhex(sha)
            self.raw += packed
        else:  # an older document of a known binary: its hash is the binary's
            self.stamps[at] = stamp
            self.raw[at * 35:(at + 1) * 35] = packed
        return True


_tlsh_cache: PerStore[_TlshCache] = PerStore(_TlshCache)


def similar_tlsh(store: OpenSearchMetadataStore, tlsh: str, access: Access, limit: int) -> list[tuple[str, int]]:
    """Exact distances to every stored hash (cached table), then visibility checks nearest first;
    ties by sha256."""
    query = parse_tlsh(tlsh)
    if limit <= 0:
        return []
    cache = _tlsh_cache(store)
    with cache.lock:
        cache.refresh(store)
        table, packed, digests = cache.table, cache.packed, cache.digests  # digests are only appended to
    distances = table.distances(query)
    order = np.argsort(distances, kind="stable")

    def ranked(count: int) -> list[tuple[int, str]]:
        """The first ``count`` (or more) of every (distance, sha256) in order, the query's own hash
        left out: a prefix of the distance order, widened to whole ties, then sorted."""
        end = min(count, len(order))
        while True:
            while 0 < end < len(order) and distances[order[end]] == distances[order[end - 1]]:
                end += 1
            out = sorted((int(distances[p]), digests[p * 32:(p + 1) * 32].hex()) for p in order[:end].tolist()
                         if packed[p * 35:(p + 1) * 35] != query)
            if len(out) >= count or end >= len(order):
                return out
            end = min(len(order), end * 2)

    picked: list[tuple[str, int]] = []
    start, step = 0, max(limit * 4, 64)
    while len(picked) < limit:
        window = ranked(start + step)[start:start + step]
        if not window:
            break
        seen = _visible(store, [sha for _, sha in window], access)
        picked += [(sha, distance) for distance, sha in window if sha in seen]
        start += step
        step *= 4
    return picked[:limit]


def _prefixed(store: OpenSearchMetadataStore, prefix: str) -> Iterator[tuple[str, str]]:
    """(sha256, ssdeep) of binaries whose ssdeep starts with ``prefix``, in (ssdeep, sha256) order."""
    hashes = _first_hashes(store, "ssdeep", {"bool": {"filter": [METADATA, {"prefix": {"ssdeep": prefix}}]}})
    rows = sorted((value, sha) for sha, value in hashes.items())
    for value, sha in rows[:SSDEEP_SCAN]:
        yield sha, value


def ssdeep_candidates(store: OpenSearchMetadataStore, ssdeep: str, access: Access,
                      limit: int) -> list[tuple[str, str]]:
    candidates: list[tuple[str, str]] = []
    for size, grams in ssdeep_sizes(ssdeep).items():
        for sha, other in _prefixed(store, f"{size}:"):
            if other != ssdeep and ssdeep_shares(grams, other):
                candidates.append((sha, other))
    seen = _visible(store, [sha for sha, _ in candidates], access)
    return [(sha, other) for sha, other in candidates if sha in seen][:limit]


def similar_entropy(store: OpenSearchMetadataStore, vector: Sequence[int], access: Access, limit: int,
                    exclude: str | None) -> list[tuple[str, int]]:
    """A scan of the visible metadata documents: ``entropy_vector`` is not indexed, so documents
    without one cannot be filtered out server-side (their ``_source`` comes back empty)."""
    query = entropy_query(vector)
    best: dict[str, int] = {}
    for hit in store.scan("binary2", visible(access, METADATA), ["sha256", "entropy_vector"]):
        doc = hit["_source"]
        sha = doc.get("sha256")
        if sha == exclude or "entropy_vector" not in doc:
            continue
        bits = hamming(query, doc["entropy_vector"])
        if bits is not None and bits < best.get(sha, 1 << 30):
            best[sha] = bits
    return sorted(best.items(), key=lambda kv: (kv[1], kv[0]))[:limit]


def _pair_clause(name: str, value: str) -> Query:
    # case-insensitive, as the embedded index's feature tokens (lower-cased values)
    return {"term": {feature_fields.keyword(name): {"value": value, "case_insensitive": True}}}


def _informative(store: OpenSearchMetadataStore, pairs: list[tuple[str, str]]) -> list[int]:
    """Indexes of the pairs on at most MAX_DOC_FREQ metadata documents (any security, as the
    embedded index counts its posting lists)."""
    lines: list[Query] = []
    for name, value in pairs:
        lines += [{}, {"size": 0, "track_total_hits": MAX_DOC_FREQ + 1,
                       "query": {"bool": {"filter": [METADATA, _pair_clause(name, value)]}}}]
    keep: list[int] = []
    for start in range(0, len(lines), 400):
        with translated("counting feature values"):
            answers = store.client.msearch(index=store.alias("binary2"), body=lines[start:start + 400])["responses"]
        for offset, answer in enumerate(answers):
            if "error" in answer:
                continue  # e.g. a name never mapped: no document has it
            if answer["hits"]["total"]["value"] <= MAX_DOC_FREQ:
                keep.append(start // 2 + offset)
    return keep


def feature_overlaps(store: OpenSearchMetadataStore, pairs: Sequence[tuple[str, str]], access: Access,
                     author_name: str | None, exclude: str | None, min_count: int, limit: int) -> dict[str, int]:
    distinct = list(dict.fromkeys(pairs))
    keep = _informative(store, distinct)
    if not keep:
        return {}
    per_binary: dict[str, set[int]] = defaultdict(set)
    for start in range(0, len(keep), 500):
        shoulds = [{"bool": {"filter": [_pair_clause(*distinct[n])], "_name": str(n)}} for n in keep[start:start + 500]]
        clauses: list[Query] = [METADATA, {"bool": {"should": shoulds, "minimum_should_match": 1}}]
        if author_name:
            clauses.append({"term": {"author.name": author_name}})
        for hit in store.scan("binary2", visible(access, *clauses), ["sha256"]):
            per_binary[hit["_source"]["sha256"]].update(int(n) for n in hit.get("matched_queries") or ())
    counts = {sha: len(found) for sha, found in per_binary.items() if len(found) >= min_count and sha != exclude}
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return dict(ranked[:limit])
