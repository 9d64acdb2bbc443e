"""Hashes as FTS5 key tokens (index/sqlite/terms.py) keep only 16 hex digits: two binaries whose
hashes share them are told apart by the full hash each binary row keeps."""

from __future__ import annotations

from pathlib import Path

from azul_metastore.index.sqlite import SqliteMetadataStore
from azul_metastore.index.sqlite.terms import HASH_TOKEN_DIGITS, hash_token
from azul_metastore.query.parser import parse
from tests.support.events import binary_event
from tests.support.gen import as_logged
from tests.support.index_data import Dataset, sha

SHARED = "0123456789abcdef"  # the digits a token keeps
FIRST, SECOND = SHARED + "0" * 16, SHARED + "1" * 16


def test_hashes_sharing_the_token_digits_are_told_apart(tmp_path: Path) -> None:
    dataset = Dataset(generated=0)
    docs = []
    for name, md5 in (("first", FIRST), ("second", SECOND)):
        event = binary_event(sha256=sha(name))
        event["entity"]["md5"] = md5.upper()
        docs += dataset.encoder.encode_binary(as_logged("binary", event)).documents
    store = SqliteMetadataStore(tmp_path / "index.sqlite3", cache_mb=16)
    store.write(docs)
    system = dataset.access("system")
    assert hash_token("md5", FIRST) == hash_token("md5", SECOND) == "md5" + SHARED[:HASH_TOKEN_DIGITS]

    def found(text: str) -> set[str]:
        return set(store.find(parse(text), system, limit=100))

    assert found(f"md5:{FIRST}") == {sha("first")}
    assert found(f"md5:{SECOND.upper()}") == {sha("second")}
    assert found(f"md5:{SHARED}*") == {sha("first"), sha("second")}
    assert found(f"md5:{SHARED}1*") == {sha("second")}
    assert found(f"md5:{SHARED[:4]}*") == {sha("first"), sha("second")}
    assert found(FIRST) == {sha("first")}
    assert found(f"{SHARED}0*") == {sha("first")}
    assert found(f"md5:{SHARED}") == set()  # a prefix matches only as one
    assert store.lookup_hashes([FIRST, SECOND], system) == {FIRST: [sha("first")], SECOND: [sha("second")]}
    store.close()


def test_paths_through_binaries_sharing_the_token_digits_are_told_apart(tmp_path: Path) -> None:
    """The ``ancestor`` tokens of two parents whose sha256s share the digits a token keeps are one
    token: the links below each are told apart by the ancestors the document keeps."""
    dataset = Dataset(generated=0)
    parents = {name: SHARED + name[0] * 48 for name in ("aaa", "bbb")}
    events = []
    for name, parent in parents.items():
        events.append(binary_event(sha256=sha(f"child-{name}"), action="extracted", parent=parent, author="unzip"))
        events.append(binary_event(sha256=sha(f"grandchild-{name}"), action="extracted",
                                   parent=sha(f"child-{name}"), author="unzip", above=[parent]))
    store = SqliteMetadataStore(tmp_path / "index.sqlite3", cache_mb=16)
    store.write([doc for event in events for doc in dataset.binary(event)])
    system = dataset.access("system")
    assert hash_token("ancestor", parents["aaa"]) == hash_token("ancestor", parents["bbb"])
    below = {(doc["sha256"], doc["parent"]["sha256"]) for doc in store.lineage_below((), [parents["aaa"]], system, 100)}
    assert below == {(sha("child-aaa"), parents["aaa"]), (sha("grandchild-aaa"), sha("child-aaa"))}
    store.close()
