"""A write of the embedded index that fails half-way is rolled back whole, and its retry (as the
ingestors retry a batch) stores everything: no cached row id may outlive the rolled-back rows."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from azul_metastore.index.sqlite import SqliteMetadataStore
from azul_metastore.security import Access
from tests.support.index_data import Dataset


def test_a_batch_retried_after_a_failed_write_is_stored_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dataset = Dataset(generated=20)
    store = SqliteMetadataStore(tmp_path / "index.sqlite3", cache_mb=16)
    system = Access.system_access(dataset.policy)

    def disk_full(*args: object) -> None:  # after the binaries, securities and documents were written
        raise sqlite3.OperationalError("database or disk is full (test)")

    monkeypatch.setattr(store, "_write_status", disk_full)
    with pytest.raises(sqlite3.OperationalError):
        store.write(dataset.documents)
    assert store._db().execute("SELECT COUNT(*) FROM binaries").fetchone() == (0,)
    monkeypatch.undo()

    store.write(dataset.documents)
    shas = sorted({d.body["sha256"] for d in dataset.documents if d.doc_type == "binary2" and "sha256" in d.body})
    stored = store.documents(shas, system)
    metadata = {d.id for d in dataset.documents if d.doc_type == "binary2" and "sha256" in d.body}
    assert len(stored) == len(metadata)
    assert store._db().execute(
        "SELECT COUNT(*) FROM docs d WHERE NOT EXISTS (SELECT 1 FROM binaries b WHERE b.id = d.binary_id)"
        " OR NOT EXISTS (SELECT 1 FROM securities s WHERE s.id = d.sec_id)").fetchone() == (0,)
    assert store.count(None, system) == len(shas)
    store.close()
