"""How the embedded index stores binary2 metadata documents: compressed bodies and hashed keys.

Measured on the target machine (bench/ingest.py, profiles of the write path): document bodies
are ~7.3 KB of JSON, mostly the features list, and a million of them made a ~9 GB index whose
page writes dominated the commit of every ingest batch. zstd at level 1 shrinks a body 4.4x for
~21 µs of CPU spent outside the write lock (decompression ~11 µs), where zlib took 58 µs for a
worse ratio. A trained dictionary would shrink bodies further (6.9x) but ties every stored row to
a dictionary that must be versioned forever; not worth it yet.

Document ids are ~160-character strings; a unique index on them is a B-tree of long random keys
touched at random by every insert. Rows are found by their binary and a 64-bit xxh3 of the id
instead (``doc_key``, not unique: a collision is resolved by comparing the stored ``doc_id``). The
binary comes first in that index so that a new binary's documents are appended to it (binary ids
grow) rather than written to a random page of it, which the key alone did for every document.

Everything that reads a body goes through :func:`unpack` (Python) or the ``doc(body)`` SQL
function (``json_extract(doc(d.body), ...)``), registered on every connection by :func:`register`.
"""

from __future__ import annotations

import sqlite3
import threading
from typing import Any

import orjson
import xxhash
import zstandard

_local = threading.local()


def _codecs() -> tuple[zstandard.ZstdCompressor, zstandard.ZstdDecompressor]:
    # zstd contexts are not safe for simultaneous use by several threads: one pair per thread
    pair = getattr(_local, "pair", None)
    if pair is None:
        pair = _local.pair = (zstandard.ZstdCompressor(level=1), zstandard.ZstdDecompressor())
    return pair


def pack(body: dict[str, Any]) -> bytes:
    """The stored form of a document body."""
    return _codecs()[0].compress(orjson.dumps(body))


def pack_text(text: str | bytes) -> bytes:
    """The stored form of a body already serialised as JSON (used by the migration)."""
    return _codecs()[0].compress(text.encode() if isinstance(text, str) else text)


def unpack_text(stored: bytes | None) -> str | None:
    """The JSON text of a stored body (the ``doc()`` SQL function; NULL stays NULL, as aggregates
    over no rows evaluate their bare columns on a NULL row)."""
    if stored is None:
        return None
    return _codecs()[1].decompress(stored).decode()


def unpack(stored: bytes) -> dict[str, Any]:
    """The document body of a stored row."""
    return orjson.loads(_codecs()[1].decompress(stored))


def doc_key(doc_id: str) -> int:
    """The 64-bit (signed, as SQLite integers are) key a document row is found by."""
    return xxhash.xxh3_64_intdigest(doc_id.encode()) - (1 << 63)


def register(db: sqlite3.Connection) -> None:
    """Make ``doc(body)``, ``pack_json(text)`` and ``doc_key(id)`` callable from SQL on ``db``."""
    db.create_function("doc", 1, unpack_text, deterministic=True)
    db.create_function("pack_json", 1, pack_text, deterministic=True)
    db.create_function("doc_key", 1, doc_key, deterministic=True)
