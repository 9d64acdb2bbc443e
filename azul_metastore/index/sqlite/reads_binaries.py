"""Reads of the embedded index for the binaries read API (``azul_metastore/search/``): document
counts, visibility, find-item rows, feature names, and the similarity searches.

Similarity is brute force, which measurement allows at this scale: exact TLSH distance over a
million hashes takes ~0.3 s with numpy (``index/tlsh.py``), so the hashes are kept in memory as a
table and refreshed incrementally (new binaries have larger ids); candidates are then checked for
visibility nearest first, so the security filter costs a few look-ups rather than a pass over every
binary. ssdeep candidates come from the ssdeep index by block-size prefix (the text starts with it).

Every function filters by the caller's security allow-list (``store.allowed(access)``).
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson

from azul_metastore.errors import InvalidInput
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
from azul_metastore.index.sqlite import bodies
from azul_metastore.index.sqlite.reads import _in, _iso, _ms
from azul_metastore.index.sqlite.terms import token
from azul_metastore.index.tlsh import PerStore, TlshTable, parse_tlsh
from azul_metastore.security import Access

if TYPE_CHECKING:
    from azul_metastore.index.sqlite.store import SqliteMetadataStore

_CHUNK = 900


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> list[Sequence[Any]]:
    return [items[i:i + size] for i in range(0, len(items), size)]


def document_stats(store: SqliteMetadataStore, sha256: str, access: Access, author_name: str | None,
                   newer_than: str | None) -> tuple[int, str | None]:
    allowed = store.allowed(access)
    sql = (f"SELECT COUNT(*), MAX(d.ts) FROM docs d WHERE d.binary_id = (SELECT id FROM binaries WHERE sha256 = ?)"
           f" AND {_in(allowed)}")
    params: list[object] = [sha256]
    if author_name:
        sql += " AND d.author_name = ?"
        params.append(author_name)
    if newer_than:
        sql += " AND d.ts > ?"
        params.append(_ms(newer_than))
    count, newest = store._db().execute(sql, params).fetchone()
    return count, (_iso(newest) if newest is not None else None)


def visible_ids(store: SqliteMetadataStore, ids: Sequence[int], access: Access) -> set[int]:
    """Which binary ids have a visible document."""
    allowed = store.allowed(access)
    out: set[int] = set()
    db = store._db()
    for chunk in _chunks(list(ids)):
        rows = db.execute(f"SELECT DISTINCT d.binary_id FROM docs d WHERE d.binary_id IN"
                          f" ({','.join('?' * len(chunk))}) AND {_in(allowed)}", list(chunk)).fetchall()
        out.update(r[0] for r in rows)
    return out


def visible_binaries(store: SqliteMetadataStore, sha256s: Sequence[str], access: Access) -> set[str]:
    allowed = store.allowed(access)
    out: set[str] = set()
    db = store._db()
    for chunk in _chunks(list(dict.fromkeys(sha256s))):
        rows = db.execute(
            f"SELECT b.sha256 FROM binaries b WHERE b.sha256 IN ({','.join('?' * len(chunk))}) AND EXISTS"
            f" (SELECT 1 FROM docs d WHERE d.binary_id = b.id AND {_in(allowed)})", list(chunk)).fetchall()
        out.update(r[0] for r in rows)
    return out


def binary_submissions(store: SqliteMetadataStore, sha256s: Sequence[str], access: Access) -> list[SubmissionRow]:
    allowed = store.allowed(access)
    out: list[SubmissionRow] = []
    db = store._db()
    for chunk in _chunks(list(dict.fromkeys(sha256s))):
        # one unpack and one parse per row: three json_extract calls would unpack the body three times
        rows = db.execute(
            f"SELECT b.sha256, d.source_name, d.source_ts, d.depth, d.body"
            f" FROM docs d JOIN binaries b ON b.id = d.binary_id WHERE b.sha256 IN ({','.join('?' * len(chunk))})"
            f" AND d.source_name IS NOT NULL AND {_in(allowed)}", list(chunk)).fetchall()
        for sha, name, ts, depth, stored in rows:
            body = bodies.unpack(stored)
            content = any(s.get("label") == "content" for s in body.get("datastreams") or ())
            out.append(SubmissionRow(sha, name, _iso(ts) if ts is not None else None, depth or 0,
                                     (body.get("source") or {}).get("references") or {}, content,
                                     body.get("filename") or []))
    return sorted(out, key=submission_key)


def feature_names(store: SqliteMetadataStore, access: Access) -> list[str]:
    allowed = store.allowed(access)
    rows = store._db().execute(
        f"SELECT DISTINCT value FROM vals WHERE field = 'features.name' AND {_in(allowed, 'sec_id')} ORDER BY value"
    ).fetchall()
    return [r[0] for r in rows]


# --- TLSH ----------------------------------------------------------------------------------------


class _TlshCache:
    """Every binary's TLSH as a numpy table, refreshed by binary id (new binaries come last).

    A refresh costs one look-up of the largest binary id, plus reading the new rows. A TLSH filled
    in later on an older row (a binary first known as someone's parent) is picked up by the full
    reload every RELOAD_SECONDS; deleted binaries stay in the table until then, harmlessly, since
    every candidate is checked for visible documents before it is returned.

    Kept in flat buffers (binary ids, packed hashes), not lists of Python objects: a full garbage
    collection visits every element of a list, and a list of 600,000 hash texts made each one take
    over 100 ms, a pause that landed on whatever request was running.
    """

    RELOAD_SECONDS = 600.0

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.ids = np.zeros(0, dtype=np.int64)
        self.raw = bytearray()  # 35 bytes per binary: its packed TLSH
        self.packed = b""  # ``raw`` as of the last table
        self.table = TlshTable(b"", 0)
        self.max_id = 0
        self.loaded_at = time.monotonic()

    def refresh(self, store: SqliteMetadataStore) -> None:
        db = store._db()
        if time.monotonic() - self.loaded_at > self.RELOAD_SECONDS:
            self.__init__()  # type: ignore[misc]
        (top,) = db.execute("SELECT COALESCE(MAX(id), 0) FROM binaries").fetchone()
        if top <= self.max_id:
            return
        rows = db.execute("SELECT id, tlsh FROM binaries WHERE id > ? AND id <= ? AND tlsh IS NOT NULL",
                          (self.max_id, top)).fetchall()
        self.max_id = top
        ids = []
        for bid, text in rows:
            try:
                self.raw += parse_tlsh(text)
            except InvalidInput:
                continue
            ids.append(bid)
        if ids:
            self.ids = np.concatenate([self.ids, np.asarray(ids, dtype=np.int64)])
            self.packed = bytes(self.raw)
            self.table = TlshTable(self.packed, len(self.ids))


_tlsh_cache: PerStore[_TlshCache] = PerStore(_TlshCache)


def similar_tlsh(store: SqliteMetadataStore, tlsh: str, access: Access, limit: int) -> list[tuple[str, int]]:
    """Nearest first, ties by sha256 (as every adapter): candidates are read on past the ``limit``-th
    while they tie with it, so the order of the table never decides which tied binary is kept."""
    query = parse_tlsh(tlsh)
    cache = _tlsh_cache(store)
    with cache.lock:
        cache.refresh(store)
        ids, packed, table = cache.ids, cache.packed, cache.table
    if table.size == 0 or limit <= 0:
        return []
    found = table.distances(query)
    order = np.argsort(found, kind="stable")
    picked: list[tuple[int, int]] = []
    start, step = 0, max(limit * 4, 64)
    while start < len(order):
        if len(picked) >= limit and int(found[order[start]]) > picked[limit - 1][1]:
            break
        window = [int(i) for i in order[start:start + step] if packed[int(i) * 35:(int(i) + 1) * 35] != query]
        seen = visible_ids(store, [int(ids[i]) for i in window], access)
        picked += [(int(ids[i]), int(found[i])) for i in window if int(ids[i]) in seen]
        start += step
        step *= 4
    names = _sha256s(store, [bid for bid, _ in picked])
    ranked = sorted(((names[bid], distance) for bid, distance in picked if bid in names),
                    key=lambda kv: (kv[1], kv[0]))
    return ranked[:limit]


def _sha256s(store: SqliteMetadataStore, ids: Sequence[int]) -> dict[int, str]:
    out: dict[int, str] = {}
    for chunk in _chunks(list(ids)):
        out.update(store._db().execute(f"SELECT id, sha256 FROM binaries WHERE id IN ({','.join('?' * len(chunk))})",
                                       list(chunk)).fetchall())
    return out


# --- ssdeep --------------------------------------------------------------------------------------


def ssdeep_candidates(store: SqliteMetadataStore, ssdeep: str, access: Access, limit: int) -> list[tuple[str, str]]:
    """Block sizes in ``ssdeep_sizes`` order, each read in (ssdeep, sha256) order as every adapter does."""
    db = store._db()
    candidates: list[tuple[int, str, str]] = []
    for size, grams in ssdeep_sizes(ssdeep).items():
        prefix = f"{size}:"
        rows = db.execute("SELECT id, sha256, ssdeep FROM binaries WHERE ssdeep >= ? AND ssdeep < ?"
                          " ORDER BY ssdeep, sha256 LIMIT ?", (prefix, f"{size};", SSDEEP_SCAN)).fetchall()
        for bid, sha, other in rows:
            if other != ssdeep and ssdeep_shares(grams, other):
                candidates.append((bid, sha, other))
    seen = visible_ids(store, [c[0] for c in candidates], access)
    return [(sha, other) for bid, sha, other in candidates if bid in seen][:limit]


# --- entropy -------------------------------------------------------------------------------------

def similar_entropy(store: SqliteMetadataStore, vector: Sequence[int], access: Access, limit: int,
                    exclude: str | None) -> list[tuple[str, int]]:
    """A scan of the documents that carry an entropy vector (only entropy plugins write them)."""
    allowed = store.allowed(access)
    query = entropy_query(vector)
    best: dict[str, int] = {}
    rows = store._db().execute(
        f"SELECT b.sha256, json_extract(doc(d.body), '$.entropy_vector') FROM docs d"
        f" JOIN binaries b ON b.id = d.binary_id WHERE {_in(allowed)}"
        f" AND instr(doc(d.body), '\"entropy_vector\":[') > 0")
    for sha, text in rows:
        if sha == exclude or not text:
            continue
        bits = hamming(query, orjson.loads(text))
        if bits is not None and bits < best.get(sha, 1 << 30):
            best[sha] = bits
    return sorted(best.items(), key=lambda kv: (kv[1], kv[0]))[:limit]


# --- shared feature values -----------------------------------------------------------------------


def feature_overlaps(store: SqliteMetadataStore, pairs: Sequence[tuple[str, str]], access: Access,
                     author_name: str | None, exclude: str | None, min_count: int, limit: int) -> dict[str, int]:
    allowed = store.allowed(access)
    allowed_set = None if allowed is None else set(allowed)
    db = store._db()
    matched: dict[int, set[int]] = defaultdict(set)  # doc rowid -> indexes of the pairs it holds
    for n, (name, value) in enumerate(dict.fromkeys(pairs)):
        rows = db.execute("SELECT rowid FROM terms WHERE terms MATCH ? LIMIT ?",
                          (f'"{token(f"features_map.{name}", value)}"', MAX_DOC_FREQ + 1)).fetchall()
        if len(rows) > MAX_DOC_FREQ:
            continue
        for (rowid,) in rows:
            matched[rowid].add(n)
    per_binary: dict[int, set[int]] = defaultdict(set)
    rowids = list(matched)
    for chunk in _chunks(rowids):
        sql = f"SELECT id, binary_id, author_name, sec_id FROM docs WHERE id IN ({','.join('?' * len(chunk))})"
        for rowid, bid, author, sec in db.execute(sql, list(chunk)):
            if (allowed_set is not None and sec not in allowed_set) or (author_name and author != author_name):
                continue
            per_binary[bid] |= matched[rowid]
    counts = {bid: len(found) for bid, found in per_binary.items() if len(found) >= min_count}
    names = _sha256s(store, list(counts))
    ranked = sorted(((names[bid], n) for bid, n in counts.items() if bid in names and names[bid] != exclude),
                    key=lambda kv: (-kv[1], kv[0]))
    return dict(ranked[:limit])
