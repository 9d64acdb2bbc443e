"""Aggregating reads of the embedded index for the feature, plugin and source endpoints: counts by
enriched part, pivots, status counts per plugin, and source submission groups.

OpenSearch answers these with aggregations; here they are GROUP BY queries over the few columns of
``docs`` and ``statuses`` plus ``json_extract`` on the stored body. Grouped queries rely on SQLite's
documented "bare column" rule: in a query with exactly one ``max()`` aggregate, other bare columns
come from the row holding the maximum, which gives each group's newest references in one pass.

Every function filters by the caller's security allow-list (``store.allowed(access)``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING

import orjson

from azul_metastore.errors import InvalidInput
from azul_metastore.index.port import PivotResult, ReferenceGroup, StatusCount
from azul_metastore.index.sqlite.reads import POSTING_MATCH, _author_clause, _in, _iso, _ms
from azul_metastore.index.sqlite.terms import token
from azul_metastore.security import Access

if TYPE_CHECKING:
    from azul_metastore.index.sqlite.store import SqliteMetadataStore

#: FTS5 MATCH expressions are OR-ed over at most this many tokens at once
_MAX_TOKENS = 5000
#: binary ids per IN (...) list
_CHUNK = 900

#: enriched parts that match a whole path tree, and the stored part they read (inventory §6.5)
_TREE_PARTS = {"filepath_unix": "filepath", "filepath_unixr": "filepath"}


def _part_values(store: SqliteMetadataStore, part: str, value: str, allowed: list[int] | None) -> list[str]:
    """The stored values of ``features.enriched.<part>`` that the (part, value) query matches."""
    if part not in _TREE_PARTS:
        return [value]
    field = f"features.enriched.{_TREE_PARTS[part]}"
    trimmed = value.rstrip("/") or value
    if part == "filepath_unix":
        match, arg = "substr(value, 1, ?) = ?", [len(trimmed) + 1, trimmed + "/"]
    else:
        tail = "/" + trimmed.lstrip("/")
        match, arg = "substr(value, -?) = ?", [len(tail), tail]
    rows = store._db().execute(
        f"SELECT DISTINCT value FROM vals WHERE field = ? AND {_in(allowed, 'sec_id')}"
        f" AND (value = ? OR {match}) LIMIT ?",
        [field, trimmed, *arg, _MAX_TOKENS + 1],
    ).fetchall()
    return [r[0] for r in rows]


def count_feature_part_entities(store: SqliteMetadataStore, part: str, value: str, access: Access,
                                author: str | None, version: str | None) -> int:
    allowed = store.allowed(access)
    field = f"features.enriched.{_TREE_PARTS.get(part, part)}"
    values = _part_values(store, part, value, allowed)
    if not values:
        return 0
    if len(values) > _MAX_TOKENS:
        raise InvalidInput(f"{part} {value!r} matches more than {_MAX_TOKENS} paths; give a longer path")
    author_sql, params = _author_clause(author, version)
    if len(values) == 1:
        # the token matches case-insensitively; the body re-check makes the match exact
        match = "d.id IN (SELECT rowid FROM terms WHERE terms MATCH ?) AND has_value(d.body, ?, ?)"
        head: list[object] = [token(field, values[0]), field, values[0]]
    else:
        match = "d.id IN (SELECT rowid FROM terms WHERE terms MATCH ?)"
        head = [" OR ".join(sorted({token(field, v) for v in values}))]
    return store._db().execute(
        f"SELECT COUNT(DISTINCT d.binary_id) FROM docs d WHERE {match} AND {_in(allowed)}{author_sql}",
        [*head, *params],
    ).fetchone()[0]


def _binaries_with(store: SqliteMetadataStore, name: str, value: str, allowed: list[int] | None) -> set[int]:
    field = f"features_map.{name}"
    rows = store._db().execute(
        f"SELECT DISTINCT d.binary_id FROM docs d WHERE d.id IN (SELECT rowid FROM terms WHERE terms MATCH ?)"
        f" AND {_in(allowed)} AND has_value(d.body, ?, ?)",
        (token(field, value), field, value),
    ).fetchall()
    return {r[0] for r in rows}


def pivot(store: SqliteMetadataStore, pairs: Sequence[tuple[str, str]], access: Access,
          names: Sequence[str] | None, max_binaries: int, size: int, min_count: int) -> PivotResult:
    allowed = store.allowed(access)
    if not pairs:
        return PivotResult({})
    # the rarest value first keeps the intersection small
    sets = sorted((_binaries_with(store, n, v, allowed) for n, v in pairs), key=len)
    found = set.intersection(*sets) if sets else set()
    chosen = sorted(found)[:max_binaries]
    wanted = set(names) if names is not None else None
    tally: Counter[tuple[str, str]] = Counter()
    db = store._db()
    for start in range(0, len(chosen), _CHUNK):
        chunk = chosen[start:start + _CHUNK]
        rows = db.execute(
            f"SELECT fm.key, v.value, COUNT(*) FROM docs d, json_each(doc(d.body), '$.features_map') fm,"
            f" json_each(fm.value) v WHERE d.binary_id IN ({','.join('?' * len(chunk))}) AND {_in(allowed)}"
            f" GROUP BY fm.key, v.value",
            chunk,
        )
        for name, value, n in rows:
            if wanted is None or name in wanted:
                tally[(name, value if isinstance(value, str) else str(value))] += n
    counts: dict[str, list[tuple[str, int]]] = {}
    for (name, value), n in tally.items():
        if n >= min_count:
            counts.setdefault(name, []).append((value, n))
    for values in counts.values():
        values.sort(key=lambda vc: (-vc[1], vc[0]))
        del values[size:]
    return PivotResult(counts, incomplete=len(found) > max_binaries, binaries=len(chosen))


def status_counts(store: SqliteMetadataStore, access: Access, since: str | None,
                  statuses: Sequence[str]) -> list[StatusCount]:
    allowed = store.allowed(access)
    sql = (f"SELECT json_extract(body, '$.author.name'), json_extract(body, '$.author.category'),"
           f" json_extract(body, '$.author.version'), status, COUNT(*), MAX(ts) FROM statuses"
           f" WHERE {_in(allowed, 'sec_id')}")
    params: list[object] = []
    if since:
        sql += " AND ts >= ?"
        params.append(_ms(since))
    if statuses:
        sql += f" AND status IN ({','.join('?' * len(statuses))})"
        params += list(statuses)
    sql += " GROUP BY author, status"
    return [StatusCount(name, category, None if version is None else str(version), status, n, _iso(newest))
            for name, category, version, status, n, newest in store._db().execute(sql, params)
            if name is not None and status is not None]


def count_authored(store: SqliteMetadataStore, name: str, version: str | None, access: Access) -> int:
    allowed = store.allowed(access)
    author_sql, params = _author_clause(name, version)
    return store._db().execute(
        f"SELECT COUNT(DISTINCT d.binary_id) FROM docs d WHERE 1{author_sql} AND {_in(allowed)}", params,
    ).fetchone()[0]


def source_summary(store: SqliteMetadataStore, source: str, access: Access) -> tuple[str | None, int]:
    allowed = store.allowed(access)
    row = store._db().execute(
        f"SELECT MAX(d.source_ts), json_extract(doc(d.body), '$.source.timestamp'), COUNT(DISTINCT d.binary_id)"
        f" FROM docs d WHERE d.source_name = ? AND d.depth = 0 AND {_in(allowed)}",
        (source,),
    ).fetchone()
    if row is None or row[0] is None:
        return None, 0
    return row[1], row[2]


_TERM = ("EXISTS (SELECT 1 FROM json_each(doc(d.body), '$.source.references') r"
         " WHERE instr(lower(CAST(r.value AS TEXT)), ?) > 0)")


def _groups(store: SqliteMetadataStore, key_sql: str, extra: str, params: list[object], group_sql: str,
            limit: int, access: Access, source: str) -> list[ReferenceGroup]:
    allowed = store.allowed(access)
    rows = store._db().execute(
        f"SELECT {key_sql}, MAX(d.source_ts), json_extract(doc(d.body), '$.source.timestamp'),"
        f" json_extract(doc(d.body), '$.source.references'), COUNT(DISTINCT d.binary_id)"
        f" FROM docs d WHERE d.source_name = ? AND d.depth = 0 AND {_in(allowed)}{extra}"
        f" GROUP BY {group_sql} ORDER BY MAX(d.source_ts) DESC LIMIT ?",
        [source, *params, limit],
    ).fetchall()
    out = []
    for key, _, timestamp, references, n in rows:
        if key is None:
            continue
        values = orjson.loads(references) if references else {}
        out.append(ReferenceGroup(str(key), timestamp, n, {k: str(v) for k, v in values.items()}))
    return out


def source_references(store: SqliteMetadataStore, source: str, access: Access, grouped: bool, term: str | None,
                      limit: int) -> list[ReferenceGroup]:
    key = "json_extract(doc(d.body), '$.track_source_references_grouped')" if grouped else "d.tsr"
    extra, params = "", []
    if term:
        # both sides folded as SQLite's lower() and OpenSearch's case_insensitive fold: ASCII only
        # (Python's lower() of the term alone made "ÉLODIE" miss "Élodie")
        extra, params = f" AND {_TERM}", [term.translate(_ASCII_LOWER)]
    return _groups(store, key, extra, params, key, limit, access, source)


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def source_submissions(store: SqliteMetadataStore, source: str, access: Access, tsr: str | None,
                       timestamp: str | None, limit: int) -> list[ReferenceGroup]:
    extra, params = "", []
    if tsr:  # a key token (terms.py): the posting list finds the rows, the column decides
        extra += f" AND {POSTING_MATCH} AND d.tsr = ?"
        params += [token("track_source_references", tsr), tsr]
    if timestamp:
        extra += " AND d.source_ts = ?"
        params.append(_ms(timestamp))
    return _groups(store, "d.tsr", extra, params, "d.tsr, d.source_ts", limit, access, source)
