"""The embedded metadata index adapter (SQLite). See ``schema.py`` for the shape and its reasons.

Concurrency: one writer at a time, in ``BEGIN IMMEDIATE``, queued on the writer lock of
``sqlite_file.py`` (threads and processes alike). Readers use WAL snapshots and never block
writers. Each thread has its own connection.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any, Literal

import orjson

import azul_metastore.index.sqlite.reads_binaries as reads_binaries
from azul_metastore.errors import InvalidQuery
from azul_metastore.index import timestamps
from azul_metastore.index.documents import Document
from azul_metastore.index.numbers import as_number
from azul_metastore.index.port import Page, PivotResult, ReferenceGroup, Selector, SortKey, StatusCount
from azul_metastore.index.sqlite import bodies, lifecycle, listing, reads, reads_features
from azul_metastore.index.sqlite.schema import migrate
from azul_metastore.index.sqlite.terms import TermCache, searchable, tokens_and_values
from azul_metastore.query.ast import Node
from azul_metastore.security import Access, visible_ids
from azul_metastore.sqlite_file import SqliteFile

#: WAL pages (4 KiB) written between automatic checkpoints
WAL_CHECKPOINT_PAGES = 50_000
#: how many sha256 → binary id mappings are remembered
CACHE_LIMIT = 1_000_000


def epoch_ms(text: str | None) -> int | None:
    """``timestamps.epoch_ms``, with no time giving None (a document without one)."""
    return timestamps.epoch_ms(text) if text else None


def _has_value(body: bytes, field: str, value: str) -> bool:
    return any(f == field and v == value for f, v in searchable(bodies.unpack(body)))


def _has_prefix(body: bytes, field: str, prefix: str) -> bool:
    return any(f == field and v.startswith(prefix) for f, v in searchable(bodies.unpack(body)))


def _has_field(body: bytes, field: str) -> bool:
    return any(f == field for f, _ in searchable(bodies.unpack(body)))


def _doc_tokens(body: bytes) -> str:
    """The FTS5 token text of a stored body (the schema migrations rebuild postings with it)."""
    return tokens_and_values(bodies.unpack(body))[0]


class SqliteMetadataStore:
    """The MetadataStore port on one SQLite file."""

    #: a read is a call into SQLite in this process (``MetadataStore.round_trips``)
    round_trips = False

    def __init__(self, path: Path, cache_mb: int = 1024) -> None:
        self.path = Path(path)
        self.cache_mb = cache_mb
        self._file = SqliteFile(self.path, "index", self._setup)
        self._binary_ids: dict[str, int] = {}
        # binary id -> identity fields already written (a later document may add ones the first lacked)
        self._identified: dict[int, frozenset[str]] = {}
        self._sec_ids: dict[str, int] = {}
        self._sec_rows: list[tuple[int, str]] = []
        self._terms = TermCache()
        with self._file.exclusive() as db:
            migrate(db)
        self._vals_generation = -1  # unknown: the first write lists its whole batch

    # --- plumbing ------------------------------------------------------------------------------

    def _setup(self, db: sqlite3.Connection) -> None:
        # checkpoint every ~200 MB of WAL rather than every 4 MB: an ingest batch rewrites the
        # same index pages many times over, and each checkpoint pays an fsync (measured: the
        # commit of a batch took a third less at 200,000 documents)
        db.execute(f"PRAGMA wal_autocheckpoint={WAL_CHECKPOINT_PAGES}")
        db.execute(f"PRAGMA cache_size=-{self.cache_mb * 1024}")
        db.execute("PRAGMA mmap_size=8589934592")
        db.execute("PRAGMA temp_store=MEMORY")
        bodies.register(db)
        db.create_function("has_value", 3, _has_value, deterministic=True)
        db.create_function("has_field", 2, _has_field, deterministic=True)
        db.create_function("has_prefix", 3, _has_prefix, deterministic=True)
        db.create_function("as_number", 1, as_number, deterministic=True)
        db.create_function("doc_tokens", 1, _doc_tokens, deterministic=True)

    def _db(self) -> sqlite3.Connection:
        return self._file.connection()

    def _write(self) -> AbstractContextManager[sqlite3.Connection]:
        return self._file.write()

    def close(self) -> None:
        self._file.close(reopen=True)

    # --- securities ----------------------------------------------------------------------------

    def _sec_id(self, db: sqlite3.Connection, security: str, encoded: dict[str, Any] | None) -> int:
        sid = self._sec_ids.get(security)
        if sid is None:
            row = db.execute(
                "INSERT INTO securities (security, encoded) VALUES (?, ?)"
                " ON CONFLICT (security) DO UPDATE SET security = security RETURNING id",
                (security, orjson.dumps(encoded or {}).decode()),
            ).fetchone()
            sid = self._sec_ids[security] = row[0]
        return sid

    def allowed(self, access: Access) -> list[int] | None:
        """The security ids ``access`` may see (None: everything, for system access)."""
        if access.system:
            return None
        db = self._db()
        (count,) = db.execute("SELECT COUNT(*) FROM securities").fetchone()
        if count != len(self._sec_rows):
            self._sec_rows = [(r[0], r[1]) for r in db.execute("SELECT id, security FROM securities")]
        return sorted(visible_ids(access, self._sec_rows))

    # --- writes --------------------------------------------------------------------------------

    def write(self, documents: Sequence[Document]) -> None:
        if not documents:
            return
        binary_docs = [d for d in documents if d.doc_type == "binary2"]
        # the CPU work (serialising, tokens) happens before taking the write lock, so several
        # ingestor processes overlap everything but the SQL itself
        prepared = {
            d.id: (bodies.pack(d.body), *self._terms.prepare(d.body))
            for d in binary_docs
            if d.body.get("binary_info", {}).get("name") == "metadata"
        }
        try:
            with self._write() as db:
                if binary_docs:
                    self._write_binary(db, binary_docs, prepared)
                for doc in documents:
                    if doc.doc_type == "status":
                        self._write_status(db, doc)
                    elif doc.doc_type == "plugin":
                        self._write_plugin(db, doc)
                    elif doc.doc_type == "annotation":
                        self._write_annotation(db, doc)
        except BaseException:
            self._forget_ids()
            raise
        for doc in binary_docs:
            if doc.id in prepared:
                self._terms.listed(doc.body["security"], prepared[doc.id][2])

    def _forget_ids(self) -> None:
        """Drop the cached row ids: after a rolled-back write, some of them name rows that were never
        committed (the retry of the batch would point its documents at them)."""
        self._binary_ids.clear()
        self._identified.clear()
        self._sec_ids.clear()

    def _binary_ids_for(self, db: sqlite3.Connection, sha256s: set[str],
                        identified_by: Mapping[str, dict[str, Any]]) -> None:
        """Make sure every sha256 has a binaries row and a cached id, in a few statements.

        A new binary's row is inserted with the identification of its document in
        ``identified_by`` (inserting it bare, then updating it, cost a second B-tree write)."""
        missing = [s for s in sha256s if s not in self._binary_ids]
        if not missing:
            return
        if len(self._binary_ids) + len(missing) >= CACHE_LIMIT:
            self._binary_ids.clear()
        for start in range(0, len(missing), 500):
            chunk = missing[start:start + 500]
            for bid, sha in db.execute(
                f"SELECT id, sha256 FROM binaries WHERE sha256 IN ({','.join('?' * len(chunk))})", chunk
            ):
                self._binary_ids[sha] = bid
        new = [s for s in missing if s not in self._binary_ids]
        if new:
            # rowids are assigned by us: we hold the only write transaction (BEGIN IMMEDIATE)
            (top,) = db.execute("SELECT COALESCE(MAX(id), 0) FROM binaries").fetchone()
            rows = []
            for bid, sha in enumerate(new, start=top + 1):
                body = identified_by.get(sha, {})
                rows.append((bid, sha, *(body.get(k) for k in self._IDENTITY)))
                if body:
                    self._identity_row(bid, body)  # remembers what the row now holds
            db.executemany(f"INSERT INTO binaries (id, sha256, {', '.join(self._IDENTITY)})"
                           f" VALUES ({', '.join('?' * (2 + len(self._IDENTITY)))})", rows)
            self._binary_ids.update((row[1], row[0]) for row in rows)

    def _binary_id(self, db: sqlite3.Connection, sha256: str) -> int:
        bid = self._binary_ids.get(sha256)
        if bid is None:
            row = db.execute(
                "INSERT INTO binaries (sha256) VALUES (?) ON CONFLICT (sha256) DO UPDATE SET sha256 = sha256"
                " RETURNING id",
                (sha256,),
            ).fetchone()
            bid = row[0]
            if len(self._binary_ids) >= CACHE_LIMIT:
                self._binary_ids.clear()
            self._binary_ids[sha256] = bid
        return bid

    _IDENTITY = ("md5", "sha1", "sha512", "ssdeep", "tlsh", "size", "file_format", "file_extension", "mime", "magic")

    def _identity_row(self, bid: int, body: dict[str, Any]) -> tuple[Any, ...] | None:
        """Identification to fill in on the binary when the document brings fields this process has not
        written for it yet (COALESCE keeps the first value of each field)."""
        have = frozenset(k for k in self._IDENTITY if body.get(k) is not None)
        known = self._identified.get(bid, frozenset())
        if have <= known:
            return None
        if len(self._identified) >= CACHE_LIMIT:
            self._identified.clear()
        self._identified[bid] = known | have
        return (*(body.get(k) for k in self._IDENTITY), bid)

    def _write_binary(self, db: sqlite3.Connection, docs: list[Document],
                      prepared: dict[str, tuple[bytes, str, set[tuple[str, str]]]]) -> None:
        # one write per id: a later document in the batch replaces an earlier one with the same id
        by_id: dict[str, Document] = {}
        wanted: set[str] = set()
        identified_by: dict[str, dict[str, Any]] = {}
        for doc in docs:
            if doc.body.get("binary_info", {}).get("name") == "metadata":
                by_id[doc.id] = doc
                wanted.add(doc.body["sha256"])
                identified_by.setdefault(doc.body["sha256"], doc.body)
                parent = doc.body.get("parent")
                if parent and parent.get("sha256"):
                    wanted.add(parent["sha256"])
            else:
                wanted.add(doc.id)
        self._binary_ids_for(db, wanted, identified_by)
        metadata = list(by_id.values())
        if not metadata:
            return
        pruned = listing.generation(db)
        if pruned != self._vals_generation:
            # a prune (here or in another process) removed rows this cache may say are listed
            self._terms.forget()
            self._vals_generation = pruned
            for doc in metadata:
                packed, text, _ = prepared[doc.id]
                prepared[doc.id] = (packed, text, tokens_and_values(doc.body)[1])
        (next_rowid,) = db.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM docs").fetchone()
        new_rows: list[tuple[Any, ...]] = []
        identities: list[tuple[Any, ...]] = []
        existing: dict[str, tuple[int, bytes, int]] = {}
        keys = {d.id: bodies.doc_key(d.id) for d in metadata}
        # rows are found by (binary, key): one index probe per document
        pairs = [(self._binary_id(db, d.body["sha256"]), keys[d.id]) for d in metadata]
        for start in range(0, len(pairs), 500):
            chunk = pairs[start:start + 500]
            for rowid, doc_id, body, old_sid in db.execute(
                f"WITH k (b, k) AS (VALUES {','.join(['(?, ?)'] * len(chunk))}) SELECT d.id, d.doc_id, d.body,"
                " d.sec_id FROM k JOIN docs d ON d.binary_id = k.b AND d.doc_key = k.k",
                [x for pair in chunk for x in pair],
            ):
                if doc_id in keys:  # not a 64-bit collision with another document
                    existing[doc_id] = (rowid, body, old_sid)
        inserts, updates, fts = [], [], []
        vals: set[tuple[str, str, str, int]] = set()
        unheld: set[tuple[str, str, int]] = set()  # what rewritten documents no longer hold
        for doc in metadata:
            body = doc.body
            bid = self._binary_id(db, body["sha256"])
            identity = self._identity_row(bid, body)
            if identity:
                identities.append(identity)
            sid = self._sec_id(db, body["security"], body.get("encoded_security"))
            author = body.get("author") or {}
            source = body.get("source") or {}
            parent = body.get("parent")
            parent_id = self._binary_id(db, parent["sha256"]) if parent and parent.get("sha256") else None
            text, tokens, unlisted = prepared[doc.id]
            row = (bid, sid, body["action"], author.get("category"), author.get("name"), author.get("version"),
                   epoch_ms(body.get("timestamp")) or 0, source.get("name"), epoch_ms(source.get("timestamp")),
                   body.get("depth"), body.get("track_source_references"), body.get("track_link"),
                   body.get("track_author"), body.get("parent_track_author"), parent_id, text)
            old = existing.get(doc.id)
            if old is not None:
                rowid, old_body, old_sid = old
                old_tokens, old_pairs = tokens_and_values(bodies.unpack(old_body))
                fts.append(("delete", rowid, old_tokens))
                dropped = old_pairs if old_sid != sid else old_pairs - {
                    (f, v) for f, v in searchable(body) if (f, v) in old_pairs}
                unheld.update((f, v, old_sid) for f, v in dropped)
                updates.append((*row, rowid))
            else:
                rowid = next_rowid
                next_rowid += 1
                new_rows.append((rowid, keys[doc.id], doc.id, *row))
            inserts.append((rowid, tokens))
            vals.update((field, value.lower(), value, sid) for field, value in unlisted)
        if identities:
            sets = ", ".join(f"{k} = COALESCE({k}, ?)" for k in self._IDENTITY)
            db.executemany(f"UPDATE binaries SET {sets} WHERE id = ?", identities)
        if new_rows:
            db.executemany(
                "INSERT INTO docs (id, doc_key, doc_id, binary_id, sec_id, action, author_category, author_name,"
                " author_version, ts, source_name, source_ts, depth, tsr, track_link, track_author,"
                " parent_track_author, parent_id, body) VALUES (" + ", ".join("?" * 19) + ")",
                new_rows,
            )
        if fts:
            db.executemany("INSERT INTO terms (terms, rowid, t) VALUES (?, ?, ?)", fts)
        if updates:
            db.executemany(
                "UPDATE docs SET binary_id = ?, sec_id = ?, action = ?, author_category = ?, author_name = ?,"
                " author_version = ?, ts = ?, source_name = ?, source_ts = ?, depth = ?, tsr = ?, track_link = ?,"
                " track_author = ?, parent_track_author = ?, parent_id = ?, body = ? WHERE id = ?",
                updates,
            )
        db.executemany("INSERT INTO terms (rowid, t) VALUES (?, ?)", inserts)
        if vals:
            db.executemany("INSERT OR IGNORE INTO vals (field, lvalue, value, sec_id) VALUES (?, ?, ?, ?)", vals)
        if unheld:
            listing.prune(db, unheld)

    def _write_status(self, db: sqlite3.Connection, doc: Document) -> None:
        body = doc.body
        entity = body.get("entity") or {}
        sha256 = (((entity.get("input") or {}).get("entity")) or {}).get("sha256")
        db.execute(
            "INSERT INTO statuses (id, sha256, author, author_name, status, ts, partition, sec_id, body)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET sha256 = excluded.sha256,"
            " author = excluded.author, author_name = excluded.author_name, status = excluded.status,"
            " ts = excluded.ts, partition = excluded.partition, sec_id = excluded.sec_id, body = excluded.body",
            (doc.id, sha256, (body.get("encoded") or {}).get("author"), (body.get("author") or {}).get("name"),
             entity.get("status"), epoch_ms(body.get("timestamp")) or 0, doc.partition,
             self._sec_id(db, body["security"], body.get("encoded_security")), orjson.dumps(body).decode()),
        )

    def _write_plugin(self, db: sqlite3.Connection, doc: Document) -> None:
        body = doc.body
        entity = body.get("entity") or {}
        db.execute(
            "INSERT INTO plugins (id, name, version, ts, sec_id, body) VALUES (?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (id) DO UPDATE SET name = excluded.name, version = excluded.version, ts = excluded.ts,"
            " sec_id = excluded.sec_id, body = excluded.body",
            (doc.id, entity.get("name"), entity.get("version"), epoch_ms(body.get("timestamp")) or 0,
             self._sec_id(db, body["security"], body.get("encoded_security")), orjson.dumps(body).decode()),
        )

    def _write_annotation(self, db: sqlite3.Connection, doc: Document) -> None:
        body = doc.body
        db.execute(
            "INSERT INTO annotations (id, type, sha256, feature_name, feature_value, tag, owner, ts, state, sec_id,"
            " body) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET ts = excluded.ts,"
            " state = excluded.state, sec_id = excluded.sec_id, body = excluded.body",
            (doc.id, body["type"], body.get("sha256"), body.get("feature_name"), body.get("feature_value"),
             body.get("tag"), body.get("owner"), epoch_ms(body.get("timestamp")) or 0, body.get("state"),
             self._sec_id(db, body["security"], body.get("encoded_security")), orjson.dumps(body).decode()),
        )

    # --- deletes -------------------------------------------------------------------------------

    def delete(self, selector: Selector) -> list[dict[str, Any]]:
        where, params = reads.selector_sql(selector)
        with self._write() as db:
            rows = db.execute(
                f"SELECT d.id, d.doc_id, d.body, b.sha256, d.sec_id FROM docs d JOIN binaries b ON b.id = d.binary_id"
                f" WHERE {where}", params,
            ).fetchall()
            gone = []
            unheld: set[tuple[str, str, int]] = set()
            for rowid, doc_id, body, sha256, sid in rows:
                parsed = bodies.unpack(body)
                tokens, pairs = tokens_and_values(parsed)
                unheld.update((f, v, sid) for f, v in pairs)
                db.execute("INSERT INTO terms (terms, rowid, t) VALUES ('delete', ?, ?)", (rowid, tokens))
                gone.append({"id": doc_id, "sha256": sha256, "source": (parsed.get("source") or {}).get("name"),
                             "datastreams": parsed.get("datastreams") or [], "action": parsed.get("action")})
            db.executemany("DELETE FROM docs WHERE id = ?", [(r[0],) for r in rows])
            listing.prune(db, unheld)
        return gone

    def delete_orphans(self) -> list[str]:
        """Binaries without any sourced/extracted/mapped document lose all their documents."""
        with self._write() as db:
            orphans = db.execute(
                "SELECT b.id, b.sha256 FROM binaries b WHERE NOT EXISTS (SELECT 1 FROM docs d WHERE"
                " d.binary_id = b.id AND d.action IN ('sourced', 'extracted', 'mapped'))"
            ).fetchall()
            unheld: set[tuple[str, str, int]] = set()
            for bid, _ in orphans:
                for rowid, body, sid in db.execute("SELECT id, body, sec_id FROM docs WHERE binary_id = ?",
                                                   (bid,)).fetchall():
                    tokens, pairs = tokens_and_values(bodies.unpack(body))
                    unheld.update((f, v, sid) for f, v in pairs)
                    db.execute("INSERT INTO terms (terms, rowid, t) VALUES ('delete', ?, ?)", (rowid, tokens))
                db.execute("DELETE FROM docs WHERE binary_id = ?", (bid,))
                db.execute("DELETE FROM binaries WHERE id = ?", (bid,))
            listing.prune(db, unheld)
            self._binary_ids.clear()
            self._identified.clear()
        return [sha for _, sha in orphans]

    def delete_statuses_before(self, timestamp: str) -> int:
        with self._write() as db:
            return db.execute("DELETE FROM statuses WHERE ts < ?", (epoch_ms(timestamp),)).rowcount

    # --- lifecycle primitives (SQL in lifecycle.py) --------------------------------------------

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

    # --- reads (SQL in reads.py) ---------------------------------------------------------------

    def find(self, query: Node | None, access: Access, *, sort: SortKey = "_score", ascending: bool = False,
             limit: int = 100, require_submission: bool = True) -> list[str]:
        with _query_limits():
            return reads.find(self, query, access, sort, ascending, limit, require_submission)

    def count(self, query: Node | None, access: Access, *, require_submission: bool = True) -> int:
        with _query_limits():
            return reads.count(self, query, access, require_submission)

    def list_binaries(self, query: Node | None, access: Access, after: str | None, limit: int) -> Page:
        with _query_limits():
            return reads.list_binaries(self, query, access, after, limit)

    def lookup_hashes(self, hashes: Sequence[str], access: Access) -> dict[str, list[str]]:
        return reads.lookup_hashes(self, hashes, access)

    def documents(self, sha256s: Sequence[str], access: Access, *, actions: Sequence[str] = (),
                  author_name: str | None = None, newer_than: str | None = None,
                  limit: int | None = None, fields: Sequence[str] = ()) -> list[dict[str, Any]]:
        return reads.only(reads.documents(self, sha256s, access, actions, author_name, newer_than, limit), fields)

    def linked(self, sha256: str, access: Access, direction: Literal["children", "parents"],
               after: str | None, limit: int) -> Page:
        return reads.linked(self, sha256, access, direction, after, limit)

    def lineage_below(self, parents: Sequence[str], through: Sequence[str], access: Access, limit: int,
                      fields: Sequence[str] = ()) -> list[dict[str, Any]]:
        return reads.lineage_below(self, parents, through, access, limit, fields)

    def linked_many(self, sha256s: Sequence[str], access: Access, direction: Literal["children", "parents"],
                    per_binary: int, fields: Sequence[str] = ()) -> dict[str, list[dict[str, Any]]]:
        # one indexed look-up each costs well under a millisecond here: no need to batch the SQL
        pages = {sha: reads.only(reads.linked(self, sha, access, direction, None, per_binary).items, fields)
                 for sha in sha256s}
        return {sha: items for sha, items in pages.items() if items}

    def stream_sources(self, stream_sha256: str, access: Access, limit: int | None = 10) -> list[tuple[str, str]]:
        return reads.stream_sources(self, stream_sha256, access, limit)

    def identities(self, sha256s: Sequence[str]) -> dict[str, dict[str, Any]]:
        return reads.identities(self, sha256s)

    def feature_values(self, name: str, access: Access, *, term: str | None = None, case_insensitive: bool = False,
                       ascending: bool = True, after: str | None = None, limit: int = 500,
                       author: str | None = None, author_version: str | None = None) -> Page:
        return reads.feature_values(self, name, access, term, case_insensitive, ascending, after, limit, author,
                                    author_version)

    def count_feature_values(self, name: str, access: Access, *, author: str | None = None,
                             author_version: str | None = None) -> int:
        return reads.count_feature_values(self, name, access, author, author_version)

    def count_feature_entities(self, name: str, access: Access, *, value: str | None = None,
                               author: str | None = None, author_version: str | None = None) -> int:
        return reads.count_feature_entities(self, name, access, value, author, author_version)

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

    def disable_annotations(self, *, kind: str, tag: str, sha256: str | None = None, feature: str | None = None,
                            value: str | None = None) -> int:
        where = ["type = ?", "tag = ?", "(state IS NULL OR state != 'disabled')"]
        params: list[object] = [kind, tag]
        for column, v in (("sha256", sha256), ("feature_name", feature), ("feature_value", value)):
            if v is not None:
                where.append(f"{column} = ?")
                params.append(v)
        with self._write() as db:
            return db.execute(
                f"UPDATE annotations SET state = 'disabled', body = json_set(body, '$.state', 'disabled')"
                f" WHERE {' AND '.join(where)}", params,
            ).rowcount

    # --- aggregating reads for features, plugins and sources (SQL in reads_features.py) --------

    def count_feature_part_entities(self, part: str, value: str, access: Access, *, author: str | None = None,
                                    author_version: str | None = None) -> int:
        return reads_features.count_feature_part_entities(self, part, value, access, author, author_version)

    def pivot(self, pairs: Sequence[tuple[str, str]], access: Access, *, names: Sequence[str] | None = None,
              max_binaries: int = 10_000, size: int = 10, min_count: int = 2) -> PivotResult:
        return reads_features.pivot(self, pairs, access, names, max_binaries, size, min_count)

    def status_counts(self, access: Access, *, since: str | None = None,
                      statuses: Sequence[str] = ()) -> list[StatusCount]:
        return reads_features.status_counts(self, access, since, statuses)

    def count_authored(self, name: str, version: str | None, access: Access) -> int:
        return reads_features.count_authored(self, name, version, access)

    def source_summary(self, source: str, access: Access) -> tuple[str | None, int]:
        return reads_features.source_summary(self, source, access)

    def source_references(self, source: str, access: Access, *, grouped: bool = False, term: str | None = None,
                          limit: int = 100) -> list[ReferenceGroup]:
        return reads_features.source_references(self, source, access, grouped, term, limit)

    def source_submissions(self, source: str, access: Access, *, track_source_references: str | None = None,
                           timestamp: str | None = None, limit: int = 100) -> list[ReferenceGroup]:
        return reads_features.source_submissions(self, source, access, track_source_references, timestamp, limit)

    # --- reads for the binaries read API (SQL in reads_binaries.py) ----------------------------

    def document_stats(self, sha256: str, access: Access, *, author_name: str | None = None,
                       newer_than: str | None = None) -> tuple[int, str | None]:
        return reads_binaries.document_stats(self, sha256, access, author_name, newer_than)

    def visible_binaries(self, sha256s: Sequence[str], access: Access) -> set[str]:
        return reads_binaries.visible_binaries(self, sha256s, access)

    def binary_submissions(self, sha256s: Sequence[str], access: Access) -> list[reads_binaries.SubmissionRow]:
        return reads_binaries.binary_submissions(self, sha256s, access)

    def feature_names(self, access: Access) -> list[str]:
        return reads_binaries.feature_names(self, access)

    def similar_tlsh(self, tlsh: str, access: Access, limit: int) -> list[tuple[str, int]]:
        return reads_binaries.similar_tlsh(self, tlsh, access, limit)

    def ssdeep_candidates(self, ssdeep: str, access: Access, limit: int) -> list[tuple[str, str]]:
        return reads_binaries.ssdeep_candidates(self, ssdeep, access, limit)

    def similar_entropy(self, vector: Sequence[int], access: Access, limit: int,
                        exclude: str | None = None) -> list[tuple[str, int]]:
        return reads_binaries.similar_entropy(self, vector, access, limit, exclude)

    def feature_overlaps(self, pairs: Sequence[tuple[str, str]], access: Access, *, author_name: str | None = None,
                         exclude: str | None = None, min_count: int = 1, limit: int = 1000) -> dict[str, int]:
        return reads_binaries.feature_overlaps(self, pairs, access, author_name, exclude, min_count, limit)

    def gather(self, *reads: Callable[[], Any]) -> list[Any]:
        """In turn: a read here is a call into SQLite in this process, with no round trip to overlap."""
        return [read() for read in reads]

    def refresh(self) -> None:
        """Committed writes are already searchable in SQLite; nothing to wait for."""


#: what SQLite says of a statement past its compile-time limits (expression depth, parser stack,
#: variables, compound terms); the parser's limits keep queries within them with a margin
_TOO_COMPLEX = ("too large", "stack overflow", "too many")


@contextmanager
def _query_limits() -> Iterator[None]:
    """A query SQLite cannot compile is the caller's to simplify (400), not an internal error."""
    try:
        yield
    except sqlite3.OperationalError as exc:
        if not any(text in str(exc) for text in _TOO_COMPLEX):
            raise
        raise InvalidQuery(f"the query is too complex for the embedded index ({exc}); use fewer terms or"
                           " less nesting", column=1) from exc
