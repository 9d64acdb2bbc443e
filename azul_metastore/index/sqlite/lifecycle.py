"""The lifecycle primitives of the embedded index: what age-off and purge read before they delete,
and the purge tombstones that keep a replay of the event log from writing purged documents back.

Reads here are unfiltered (lifecycle jobs run with system access). Writes go through the store's
single-writer transaction (``store._write``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from azul_metastore.index.port import Selector
from azul_metastore.index.sqlite import bodies
from azul_metastore.index.sqlite.reads import selector_sql
from azul_metastore.index.timestamps import epoch_ms, to_utc_text

if TYPE_CHECKING:
    from azul_metastore.index.sqlite.store import SqliteMetadataStore

#: bound parameters per statement, well under SQLite's default limit of 32,766
CHUNK = 5000


def _chunks(values: Sequence[str]) -> list[list[str]]:
    return [list(values[i:i + CHUNK]) for i in range(0, len(values), CHUNK)]


def _shape(doc_id: str, sha256: str, body: bytes) -> dict[str, Any]:
    parsed = bodies.unpack(body)
    return {"id": doc_id, "sha256": sha256, "source": (parsed.get("source") or {}).get("name"),
            "datastreams": parsed.get("datastreams") or [], "action": parsed.get("action"),
            "parent": (parsed.get("parent") or {}).get("sha256")}


def select(store: SqliteMetadataStore, selector: Selector, limit: int | None) -> list[dict[str, Any]]:
    where, params = selector_sql(selector)
    sql = (f"SELECT d.doc_id, b.sha256, d.body FROM docs d JOIN binaries b ON b.id = d.binary_id WHERE {where}"
           f" ORDER BY d.id")
    if limit:
        sql += " LIMIT ?"
        params = [*params, limit]
    return [_shape(*row) for row in store._db().execute(sql, params)]


def count_selected(store: SqliteMetadataStore, selector: Selector) -> tuple[int, int]:
    where, params = selector_sql(selector)
    row = store._db().execute(
        f"SELECT COUNT(*), COUNT(DISTINCT d.binary_id) FROM docs d JOIN binaries b ON b.id = d.binary_id"
        f" WHERE {where}", params,
    ).fetchone()
    return int(row[0]), int(row[1])


def child_links(store: SqliteMetadataStore, parent_sha256s: Sequence[str]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    db = store._db()
    for chunk in _chunks(parent_sha256s):
        out += [_shape(*row) for row in db.execute(
            f"SELECT d.doc_id, c.sha256, d.body FROM binaries p JOIN docs d ON d.parent_id = p.id"
            f" JOIN binaries c ON c.id = d.binary_id WHERE p.sha256 IN ({','.join('?' * len(chunk))})", chunk,
        )]
    return out


def count_statuses_before(store: SqliteMetadataStore, timestamp: str) -> int:
    return int(store._db().execute("SELECT COUNT(*) FROM statuses WHERE ts < ?",
                                   (epoch_ms(timestamp),)).fetchone()[0])


def delete_statuses_of(store: SqliteMetadataStore, sha256s: Sequence[str], buried_at: str | None) -> list[str]:
    """In one transaction: the tombstones (with ``buried_at``) are written with the deletes or not at all."""
    ms = epoch_ms(to_utc_text(buried_at)) if buried_at else None
    gone: list[str] = []
    with store._write() as db:
        for chunk in _chunks(sha256s):
            ids = [r[0] for r in db.execute(
                f"DELETE FROM statuses WHERE sha256 IN ({','.join('?' * len(chunk))}) RETURNING id", chunk)]
            if ms is not None:
                db.executemany(_BURY, [(i, ms) for i in ids])
            gone += ids
    return gone


#: a tombstone; a second purge of the same id keeps the later time: it buries everything the first did
_BURY = ("INSERT INTO tombstones (doc_id, ts) VALUES (?, ?)"
         " ON CONFLICT (doc_id) DO UPDATE SET ts = MAX(ts, excluded.ts)")


def bury(store: SqliteMetadataStore, ids: Sequence[str], timestamp: str) -> None:
    ms = epoch_ms(to_utc_text(timestamp))
    with store._write() as db:
        db.executemany(_BURY, [(i, ms) for i in ids])


def buried(store: SqliteMetadataStore, ids: Sequence[str]) -> dict[str, str]:
    from datetime import UTC, datetime

    from azul_metastore.models.events import utc_iso

    out: dict[str, str] = {}
    db = store._db()
    for chunk in _chunks(list(ids)):
        for doc_id, ms in db.execute(
            f"SELECT doc_id, ts FROM tombstones WHERE doc_id IN ({','.join('?' * len(chunk))})", chunk
        ):
            out[doc_id] = utc_iso(datetime.fromtimestamp(ms / 1000, UTC))
    return out
