"""Keeping the ``vals`` listing true when documents go away or change.

``vals`` lists each distinct (field, value) per security once, written by ingest with ``INSERT OR
IGNORE`` and never counted per document (a count would be one more random B-tree write per pair
and document, the cost ``terms.TermCache`` exists to avoid). So a deleted or rewritten document
cannot simply take its rows with it: another document of the same security may hold the same value.
After the documents are gone (in the same transaction), each (field, value, security) they held is
checked against the FTS5 postings of the documents left, and the rows nobody holds any more are
removed. Purge and age-off then no longer leave values in feature listings, counts and
``/binaries/model`` that no document holds.

Ingestors cache which pairs ``vals`` already lists (``TermCache``), possibly in other processes.
Every removal bumps the ``vals_pruned`` counter in the same transaction; a writer reads it under
its write lock and, when it moved, forgets its cache and lists the whole batch's pairs, so a value
a purge removed is listed again by the next document that holds it.
"""

from __future__ import annotations

import sqlite3

from azul_metastore.index.sqlite import bodies
from azul_metastore.index.sqlite.terms import searchable, token

__all__ = ["generation", "prune"]

_HELD = "SELECT d.id, d.body FROM terms t JOIN docs d ON d.id = t.rowid WHERE t.terms MATCH ? AND d.sec_id = ?"


def generation(db: sqlite3.Connection) -> int:
    """How many prunes removed rows so far (read under the write lock)."""
    row = db.execute("SELECT value FROM counters WHERE name = 'vals_pruned'").fetchone()
    return row[0] if row else 0


def prune(db: sqlite3.Connection, removed: set[tuple[str, str, int]]) -> int:
    """Remove the ``vals`` rows among ``removed`` that no remaining document holds; return how many.

    The listed rows of all of them in a few statements, then one posting-list probe per distinct
    (field, lower-cased value, security) listed: it stops at the first document of that security
    holding the token (about 50 µs each; a binary's documents hold about 200 such values).
    Letter-case variants share a token, so when ``vals`` lists several spellings of a value that is
    still held, the holders' bodies say which spellings are left.
    """
    groups = sorted({(field, value.lower(), sid) for field, value, sid in removed})
    listings: dict[tuple[str, str, int], set[str]] = {}
    for start in range(0, len(groups), 300):
        chunk = groups[start:start + 300]
        for field, lvalue, sid, value in db.execute(
            f"WITH g (f, l, s) AS (VALUES {','.join(['(?, ?, ?)'] * len(chunk))}) SELECT v.field, v.lvalue,"
            " v.sec_id, v.value FROM g JOIN vals v ON v.field = g.f AND v.lvalue = g.l AND v.sec_id = g.s",
            [x for group in chunk for x in group],
        ):
            listings.setdefault((field, lvalue, sid), set()).add(value)
    gone: list[tuple[str, str, str, int]] = []
    for (field, lvalue, sid), listed in listings.items():
        left = _spellings_held(db, field, lvalue, sid, listed)
        gone.extend((field, lvalue, v, sid) for v in listed - left)
    if gone:
        db.executemany("DELETE FROM vals WHERE field = ? AND lvalue = ? AND value = ? AND sec_id = ?", gone)
        db.execute("UPDATE counters SET value = value + 1 WHERE name = 'vals_pruned'")
    return len(gone)


def _spellings_held(db: sqlite3.Connection, field: str, lvalue: str, sid: int, listed: set[str]) -> set[str]:
    """Which of the ``listed`` spellings documents of security ``sid`` still hold."""
    cursor = db.execute(_HELD, (token(field, lvalue), sid))
    if len(listed) == 1:
        return listed if cursor.fetchone() else set()
    held: set[str] = set()
    for _, body in cursor:
        held |= {v for f, v in searchable(bodies.unpack(body)) if f == field and v in listed}
        if held == listed:
            break
    return held
