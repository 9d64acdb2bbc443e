"""The embedded index's ``vals`` listing after deletes and rewrites (index/sqlite/listing.py)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from azul_metastore.index.documents import Document
from azul_metastore.index.port import Selector
from azul_metastore.index.sqlite import SqliteMetadataStore
from azul_metastore.security import Access
from tests.support.index_data import Dataset

SYSTEM = Access.system_access()


def _tagged(dataset: Dataset) -> list[Document]:
    """Two metadata documents of different binaries and one security, each with a ``tag`` feature."""
    docs = [d for d in dataset.documents if d.doc_type == "binary2" and d.body["binary_info"]["name"] == "metadata"]
    first = docs[0]
    second = next(d for d in docs if d.body["sha256"] != first.body["sha256"])
    return [_with_tags(first, ["shared", "Mixed"]), _with_tags(dataclasses.replace(
        second, body={**second.body, "security": first.body["security"],
                      "encoded_security": first.body["encoded_security"]}), ["shared", "mixed"])]


def _with_tags(doc: Document, tags: list[str]) -> Document:
    features = [f for f in doc.body.get("features") or () if f.get("name") != "tag"]
    features += [{"name": "tag", "value": t, "type": "string"} for t in tags]
    return dataclasses.replace(doc, body={**doc.body, "features": features,
                                          "features_map": {**(doc.body.get("features_map") or {}), "tag": tags}})


def _tags(store: SqliteMetadataStore) -> list[str]:
    return [row.value for row in store.feature_values("tag", SYSTEM).items]


def test_a_value_another_document_holds_stays_and_letter_cases_are_told_apart(tmp_path: Path) -> None:
    store = SqliteMetadataStore(tmp_path / "index.sqlite3", cache_mb=16)
    first, second = _tagged(Dataset())
    store.write([first, second])
    assert _tags(store) == ["Mixed", "mixed", "shared"]
    store.delete(Selector(sha256=first.body["sha256"]))
    assert _tags(store) == ["mixed", "shared"]
    assert store.count_feature_values("tag", SYSTEM) == 2


def test_a_writer_in_another_process_lists_a_value_again_after_a_prune(tmp_path: Path) -> None:
    """The ingestor's cache says 'shared' is listed; a purge elsewhere removed the row since."""
    path = tmp_path / "index.sqlite3"
    ingestor, purger = SqliteMetadataStore(path, cache_mb=16), SqliteMetadataStore(path, cache_mb=16)
    first, second = _tagged(Dataset())
    ingestor.write([first])
    ingestor.write([first])  # now cached as listed
    purger.delete(Selector(sha256=first.body["sha256"]))
    assert _tags(ingestor) == []
    ingestor.write([second])
    assert _tags(ingestor) == ["mixed", "shared"]
    assert purger.count_feature_values("tag", SYSTEM) == 2
