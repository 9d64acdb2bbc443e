"""The embedded index upgrades a database written by an older metastore without changing any answer.

Schema 2 stored document bodies as JSON text under a unique text id; schema 3 compresses them and
keys rows by a hash of the id. The test writes the suite's dataset, rewrites the file into the
schema-2 layout (as the released version left it), reopens it, and compares every read.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from azul_metastore.index.sqlite import SqliteMetadataStore
from azul_metastore.index.sqlite.bodies import doc_key, register
from azul_metastore.index.sqlite.schema import _DOC_COLUMNS, SCHEMA_VERSION
from azul_metastore.query.parser import parse
from azul_metastore.security import Access
from tests.support.index_data import A, C, Dataset

SYSTEM = Access.system_access()

SCHEMA_2_DOCS = [
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


def _answers(store: SqliteMetadataStore, dataset: Dataset) -> dict[str, object]:
    shas = sorted({d.body["sha256"] for d in dataset.documents if d.doc_type == "binary2" and "sha256" in d.body})
    return {
        "documents": store.documents(shas, SYSTEM),
        "find": store.find(parse("features_map.tag:malware"), SYSTEM, limit=1000),
        "children": store.linked(A, SYSTEM, "children", None, 100).items,
        "count": store.count(None, SYSTEM),
        "values": store.feature_values("tag", SYSTEM).items,
    }


@pytest.fixture(scope="module")
def dataset() -> Dataset:
    return Dataset(generated=60)


def test_a_schema_2_index_migrates_to_the_same_answers(tmp_path: Path, dataset: Dataset) -> None:
    path = tmp_path / "index.sqlite3"
    store = SqliteMetadataStore(path, cache_mb=16)
    store.write(dataset.documents)
    before = _answers(store, dataset)
    store.close()

    db = sqlite3.connect(path, isolation_level=None)
    register(db)
    for statement in SCHEMA_2_DOCS:
        db.execute(statement)
    assert db.execute("SELECT typeof(body) FROM docs LIMIT 1").fetchone() == ("text",)
    db.close()

    store = SqliteMetadataStore(path, cache_mb=16)
    db = store._db()
    assert db.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
    assert db.execute("SELECT DISTINCT typeof(body) FROM docs").fetchall() == [("blob",)]
    wrong_keys = [i for i, k in db.execute("SELECT doc_id, doc_key FROM docs") if doc_key(i) != k]
    assert wrong_keys == []
    assert _answers(store, dataset) == before
    assert before["documents"] and before["find"] and before["children"]

    # writing the same documents again replaces rows instead of adding a second copy
    (rows,) = db.execute("SELECT COUNT(*) FROM docs").fetchone()
    store.write(dataset.documents)
    assert db.execute("SELECT COUNT(*) FROM docs").fetchone() == (rows,)
    assert _answers(store, dataset) == before
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
