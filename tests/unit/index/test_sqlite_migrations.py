"""The embedded index upgrades a database written by an older metastore without changing any answer.

Schema 2 stored document bodies as JSON text under a unique text id; schema 3 compresses them and
keys rows by a hash of the id; schema 4 moves md5, sha1, sha512 and the tracking ids from B-tree
indexes into FTS5 key tokens and keys rows by (binary, hash of the id). Each test writes the
suite's dataset, rewrites the file into an older layout (as that released version left it: its
indexes, and postings without key tokens), reopens it, and compares every read.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from azul_metastore.index.sqlite import SqliteMetadataStore
from azul_metastore.index.sqlite.bodies import doc_key, register, unpack
from azul_metastore.index.sqlite.schema import _DOC_COLUMNS, SCHEMA_VERSION
from azul_metastore.index.sqlite.terms import hash_token, searchable, token
from azul_metastore.query.parser import parse
from azul_metastore.security import Access
from tests.support.index_data import A, C, Dataset

SYSTEM = Access.system_access()

# what schemas 2 and 3 had that schema 4 dropped: B-tree indexes, and postings without key tokens
OLD_INDEXES = [
    "CREATE INDEX binaries_md5 ON binaries (md5) WHERE md5 IS NOT NULL",
    "CREATE INDEX binaries_sha1 ON binaries (sha1) WHERE sha1 IS NOT NULL",
    "CREATE INDEX binaries_sha512 ON binaries (sha512) WHERE sha512 IS NOT NULL",
    "INSERT INTO terms (terms) VALUES ('delete-all')",
    "INSERT INTO terms (rowid, t) SELECT id, value_tokens(body) FROM docs",
    # schemas 2-4 listed datastream sha256s (one row stands for them here)
    "INSERT INTO vals (field, lvalue, value, sec_id) VALUES ('datastreams.sha256', 'ab', 'ab', 1)",
    # schemas 2-5 had no counters (the prune of ``vals``, listing.py, came with 6)
    "DROP TABLE counters",
]

SCHEMA_2 = [
    *OLD_INDEXES,
    """CREATE TABLE docs_v2 (
        id INTEGER PRIMARY KEY, doc_id TEXT NOT NULL UNIQUE, binary_id INTEGER NOT NULL,
        sec_id INTEGER NOT NULL, action TEXT NOT NULL, author_category TEXT, author_name TEXT,
        author_version TEXT, ts INTEGER NOT NULL, source_name TEXT, source_ts INTEGER, depth INTEGER,
        tsr TEXT, track_link TEXT, track_author TEXT, parent_track_author TEXT, parent_id INTEGER,
        body TEXT NOT NULL)""",
    f"INSERT INTO docs_v2 (id, doc_id, {_DOC_COLUMNS}, body) SELECT id, doc_id, {_DOC_COLUMNS}, doc(body) FROM docs",
    "DROP TABLE docs",
    "ALTER TABLE docs_v2 RENAME TO docs",
    "CREATE INDEX docs_binary ON docs (binary_id, ts)",
    "CREATE INDEX docs_parent ON docs (parent_id, binary_id) WHERE parent_id IS NOT NULL",
    "CREATE INDEX docs_source ON docs (source_name, source_ts) WHERE source_name IS NOT NULL",
    "CREATE INDEX docs_tsr ON docs (tsr) WHERE tsr IS NOT NULL",
    "CREATE INDEX docs_link ON docs (track_link) WHERE track_link IS NOT NULL",
    "PRAGMA user_version = 2",
]

SCHEMA_3 = [
    *OLD_INDEXES,
    "DROP INDEX docs_key",
    "CREATE INDEX docs_key ON docs (doc_key)",
    "CREATE INDEX docs_tsr ON docs (tsr) WHERE tsr IS NOT NULL",
    "CREATE INDEX docs_link ON docs (track_link) WHERE track_link IS NOT NULL",
    "PRAGMA user_version = 3",
]


def _md5s(dataset: Dataset) -> list[str]:
    return sorted({d.body["md5"] for d in dataset.documents if d.doc_type == "binary2" and d.body.get("md5")})


def _stream(dataset: Dataset) -> str:
    return next(ds["sha256"] for d in dataset.documents if d.doc_type == "binary2"
                for ds in d.body.get("datastreams") or () if d.body.get("source"))


def _tsr(dataset: Dataset) -> str:
    return next(d.body["track_source_references"] for d in dataset.documents
                if d.doc_type == "binary2" and d.body.get("track_source_references"))


def _value_tokens(body: bytes) -> str:
    return " ".join({token(f, v) for f, v in searchable(unpack(body))})


def _answers(store: SqliteMetadataStore, dataset: Dataset) -> dict[str, object]:
    shas = sorted({d.body["sha256"] for d in dataset.documents if d.doc_type == "binary2" and "sha256" in d.body})
    return {
        "documents": store.documents(shas, SYSTEM),
        "find": store.find(parse("features_map.tag:malware"), SYSTEM, limit=1000),
        "children": store.linked(A, SYSTEM, "children", None, 100).items,
        "count": store.count(None, SYSTEM),
        "values": store.feature_values("tag", SYSTEM).items,
        "hashes": store.lookup_hashes(_md5s(dataset), SYSTEM),
        "md5 prefix": store.find(parse(" OR ".join(f"md5:{m[:6]}*" for m in _md5s(dataset))), SYSTEM,
                                 limit=1000),
        "bare md5": store.find(parse(_md5s(dataset)[0]), SYSTEM, limit=1000),
        "tracking": store.find(parse(f'track_source_references:"{_tsr(dataset)}"'), SYSTEM, limit=1000),
        "stream prefix": store.find(parse(f"datastreams.sha256:{_stream(dataset)[:10]}*"), SYSTEM, limit=1000),
        "stream sources": store.stream_sources(_stream(dataset), SYSTEM),
    }


@pytest.fixture(scope="module")
def dataset() -> Dataset:
    return Dataset(generated=60)


@pytest.mark.parametrize(("version", "statements"), [(2, SCHEMA_2), (3, SCHEMA_3)])
def test_an_older_index_migrates_to_the_same_answers(tmp_path: Path, dataset: Dataset, version: int,
                                                     statements: list[str]) -> None:
    path = tmp_path / "index.sqlite3"
    store = SqliteMetadataStore(path, cache_mb=16)
    store.write(dataset.documents)
    before = _answers(store, dataset)
    store.close()

    db = sqlite3.connect(path, isolation_level=None)
    register(db)
    db.create_function("value_tokens", 1, _value_tokens)
    key_token = hash_token("md5", _md5s(dataset)[0])
    assert db.execute("SELECT COUNT(*) FROM terms WHERE terms MATCH ?", (key_token,)).fetchone()[0] > 0
    for statement in statements:
        db.execute(statement)
    assert db.execute("PRAGMA user_version").fetchone() == (version,)
    # the old layout answers hash look-ups only through its B-tree indexes: the postings lack key tokens
    assert db.execute("SELECT COUNT(*) FROM terms WHERE terms MATCH ?", (key_token,)).fetchone() == (0,)
    db.close()

    store = SqliteMetadataStore(path, cache_mb=16)
    db = store._db()
    assert db.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
    assert db.execute("SELECT DISTINCT typeof(body) FROM docs").fetchall() == [("blob",)]
    wrong_keys = [i for i, k in db.execute("SELECT doc_id, doc_key FROM docs") if doc_key(i) != k]
    assert wrong_keys == []
    indexes = {r[0] for r in db.execute("SELECT name FROM sqlite_schema WHERE type = 'index'")}
    assert not indexes & {"binaries_md5", "binaries_sha1", "binaries_sha512", "docs_tsr", "docs_link"}
    assert _answers(store, dataset) == before
    assert all(before[k] for k in ("documents", "find", "children", "md5 prefix", "bare md5", "tracking",
                                   "stream prefix", "stream sources"))
    assert db.execute("SELECT COUNT(*) FROM vals WHERE field = 'datastreams.sha256'").fetchone() == (0,)
    assert all(before["hashes"].values())

    # writing the same documents again replaces rows instead of adding a second copy
    (rows,) = db.execute("SELECT COUNT(*) FROM docs").fetchone()
    store.write(dataset.documents)
    assert db.execute("SELECT COUNT(*) FROM docs").fetchone() == (rows,)
    assert _answers(store, dataset) == before
    assert db.execute("SELECT COUNT(*) FROM vals WHERE field = 'datastreams.sha256'").fetchone() == (0,)
    store.close()


def test_a_hash_collision_between_document_ids_keeps_both(tmp_path: Path, dataset: Dataset,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Two ids with one 64-bit key are told apart by the stored id (forced here by a constant key)."""
    from azul_metastore.index.sqlite import bodies
    from azul_metastore.index.sqlite import store as store_module

    monkeypatch.setattr(bodies, "doc_key", lambda doc_id: 42)
    index = store_module.SqliteMetadataStore(tmp_path / "index.sqlite3", cache_mb=16)
    docs = [d for d in dataset.documents if d.doc_type == "binary2"]
    index.write(docs)
    index.write(docs)
    metadata = {d.id for d in docs if d.body.get("binary_info", {}).get("name") == "metadata"}
    stored = [r[0] for r in index._db().execute("SELECT doc_id FROM docs")]
    assert sorted(stored) == sorted(metadata)
    assert {d["sha256"] for d in index.documents([C], SYSTEM)} == {C}
    index.close()
