"""The read queries of the embedded index. Every function filters by the caller's security
allow-list (``store.allowed(access)``); ``None`` means system access (no filter)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, Literal

import orjson

from azul_metastore.errors import InvalidInput
from azul_metastore.index.port import FeatureValueRow, Page, Selector
from azul_metastore.index.sqlite import bodies
from azul_metastore.index.sqlite.compiler import Compiler
from azul_metastore.index.sqlite.terms import ANCESTOR, HASH_KINDS, hash_query, hash_token, is_hex, token, value_token
from azul_metastore.index.timestamps import epoch_ms
from azul_metastore.query.ast import And, Node
from azul_metastore.security import Access

#: documents ``d`` whose postings hold a token (or FTS5 expression), the one parameter
POSTING_MATCH = "d.id IN (SELECT rowid FROM terms WHERE terms MATCH ?)"

if TYPE_CHECKING:
    from azul_metastore.index.sqlite.store import SqliteMetadataStore

SUBMISSION_ACTIONS = ("sourced", "extracted", "mapped", "augmented")


def _in(ids: Sequence[int] | None, column: str = "d.sec_id") -> str:
    if ids is None:
        return "1"
    return f"{column} IN ({','.join(str(int(i)) for i in ids) or 'NULL'})"


def _ms(text: str | None) -> int | None:
    """Milliseconds of a timestamp a caller gave; InvalidInput when it is not ISO 8601."""
    return epoch_ms(text) if text else None


def _tag_lookup(store: SqliteMetadataStore, access: Access):
    allowed = store.allowed(access)

    def lookup(kind: str, tag: str) -> list[tuple[str, ...]]:
        column = "sha256" if kind == "entity_tag" else "feature_name, feature_value"
        rows = store._db().execute(
            f"SELECT DISTINCT {column} FROM annotations WHERE type = ? AND tag = ? AND"
            f" (state IS NULL OR state != 'disabled') AND {_in(allowed, 'sec_id')} LIMIT 10000",
            (kind, tag),
        ).fetchall()
        return [tuple(r) for r in rows]

    return lookup


def _base(store: SqliteMetadataStore, query: Node | None, access: Access,
          require_submission: bool) -> tuple[str, list[object]]:
    """WHERE clause over ``binaries b`` for visible binaries matching ``query``."""
    allowed = store.allowed(access)
    compiler = Compiler(store._db(), allowed, _tag_lookup(store, access))
    clauses: list[str] = []
    params: list[object] = []
    if require_submission:
        clauses.append(f"EXISTS (SELECT 1 FROM docs d WHERE d.binary_id = b.id AND d.source_name IS NOT NULL"
                       f" AND {_in(allowed)})")
    else:
        # always: a bare term (a hash or its prefix) matches columns of the binary itself, which
        # say nothing of who may see it
        clauses.append(f"EXISTS (SELECT 1 FROM docs d WHERE d.binary_id = b.id AND {_in(allowed)})")
    if query is not None:
        compiled = compiler.binary_predicate(query)
        clauses.append(f"({compiled.sql})")
        params += compiled.params
    return " AND ".join(clauses) or "1", params


def _stream_find(store: SqliteMetadataStore, query: Node, access: Access, ascending: bool, limit: int,
                 require_submission: bool) -> list[str]:
    """Relevance order is "newest matching documents first": walk the matching documents in that
    order and stop at ``limit`` distinct binaries, instead of materialising every match and then
    sorting binaries (a feature value held by 80,000 documents took seconds that way; this takes
    tens of milliseconds). The first clause of a root AND drives the walk; the others filter each
    binary it meets."""
    allowed = store.allowed(access)
    compiler = Compiler(store._db(), allowed, _tag_lookup(store, access))
    children = list(query.children) if isinstance(query, And) else [query]
    driver = compiler.doc_predicate(children[0])
    sql = [f"SELECT b.sha256 FROM docs d JOIN binaries bx ON bx.id = d.binary_id JOIN binaries b ON b.id = d.binary_id"
           f" WHERE ({driver.sql}) AND {_in(allowed)}"]
    params = list(driver.params)
    for child in children[1:]:
        other = compiler.binary_clause(child)  # one clause of the root: all of it on one document
        sql.append(f"AND ({other.sql})")
        params += other.params
    if require_submission:
        sql.append(f"AND EXISTS (SELECT 1 FROM docs s WHERE s.binary_id = b.id AND s.source_name IS NOT NULL"
                   f" AND {_in(allowed, 's.sec_id')})")
    sql.append(f"ORDER BY d.id {'ASC' if ascending else 'DESC'}")
    found: dict[str, None] = {}
    cursor = store._db().execute(" ".join(sql), params)
    for (sha256,) in cursor:
        found.setdefault(sha256)
        if len(found) >= limit:
            break
    cursor.close()
    return list(found)


def find(store: SqliteMetadataStore, query: Node | None, access: Access, sort: str, ascending: bool,
         limit: int, require_submission: bool) -> list[str]:
    if query is not None and sort == "_score":
        return _stream_find(store, query, access, ascending, limit, require_submission)
    where, params = _base(store, query, access, require_submission)
    direction = "ASC" if ascending else "DESC"
    if sort in ("timestamp", "source.timestamp"):
        column = "ts" if sort == "timestamp" else "source_ts"
        order = (f"(SELECT MAX(d.{column}) FROM docs d WHERE d.binary_id = b.id AND {_in(store.allowed(access))})"
                 f" {direction}, b.id {direction}")
    else:
        order = f"b.id {direction}"
    rows = store._db().execute(f"SELECT b.sha256 FROM binaries b WHERE {where} ORDER BY {order} LIMIT ?",
                               [*params, limit]).fetchall()
    return [r[0] for r in rows]


def count(store: SqliteMetadataStore, query: Node | None, access: Access, require_submission: bool) -> int:
    where, params = _base(store, query, access, require_submission)
    return store._db().execute(f"SELECT COUNT(*) FROM binaries b WHERE {where}", params).fetchone()[0]


def list_binaries(store: SqliteMetadataStore, query: Node | None, access: Access, after: str | None,
                  limit: int) -> Page:
    where, params = _base(store, query, access, query is None)
    total = count(store, query, access, query is None) if not after else None
    if after:
        where += " AND b.sha256 > ?"
        params.append(after)
    rows = store._db().execute(f"SELECT b.sha256 FROM binaries b WHERE {where} ORDER BY b.sha256 LIMIT ?",
                               [*params, limit]).fetchall()
    items = [r[0] for r in rows]
    return Page(items, items[-1] if items else None, total)


def lookup_hashes(store: SqliteMetadataStore, hashes: Sequence[str], access: Access) -> dict[str, list[str]]:
    allowed = store.allowed(access)
    out: dict[str, list[str]] = {}
    db = store._db()
    visible = f"EXISTS (SELECT 1 FROM docs v WHERE v.binary_id = b.id AND {_in(allowed, 'v.sec_id')})"
    for value in hashes:
        kind = {32: "md5", 40: "sha1", 64: "sha256", 128: "sha512"}.get(len(value))
        column, key = (kind, value.lower()) if kind else ("ssdeep", value)
        if value.count(":") == 2:
            column, key = "ssdeep", value
        if column is None:
            out[value] = []
            continue
        if column in HASH_KINDS:  # key tokens of any document, then the binary's whole hash (terms.py)
            expression = hash_query(column, key, prefix=False)
            rows = db.execute(
                f"SELECT b.sha256 FROM binaries b WHERE b.id IN (SELECT d.binary_id FROM docs d WHERE {POSTING_MATCH})"
                f" AND b.{column} = ? AND {visible}",
                (expression, key),
            ).fetchall() if expression else []
        else:
            rows = db.execute(f"SELECT b.sha256 FROM binaries b WHERE b.{column} = ? AND {visible}", (key,)).fetchall()
        out[value] = [r[0] for r in rows]
    return out


def only(docs: list[dict[str, Any]], fields: Sequence[str]) -> list[dict[str, Any]]:
    """``docs`` keeping only their top-level ``fields`` (all of them when none are named)."""
    if not fields:
        return docs
    return [{k: doc[k] for k in fields if k in doc} for doc in docs]


def documents(store: SqliteMetadataStore, sha256s: Sequence[str], access: Access, actions: Sequence[str],
              author_name: str | None, newer_than: str | None, limit: int | None) -> list[dict[str, Any]]:
    if not sha256s:
        return []
    allowed = store.allowed(access)
    sql = (f"SELECT d.body FROM docs d JOIN binaries b ON b.id = d.binary_id WHERE"
           f" b.sha256 IN ({','.join('?' * len(sha256s))}) AND {_in(allowed)}")
    params: list[object] = list(sha256s)
    if actions:
        sql += f" AND d.action IN ({','.join('?' * len(actions))})"
        params += list(actions)
    if author_name:
        sql += " AND d.author_name = ?"
        params.append(author_name)
    if newer_than:
        sql += " AND d.ts > ?"
        params.append(_ms(newer_than))
    sql += " ORDER BY d.ts DESC, d.id DESC"
    if limit:
        sql += " LIMIT ?"
        params.append(limit)
    return [bodies.unpack(r[0]) for r in store._db().execute(sql, params)]


def linked(store: SqliteMetadataStore, sha256: str, access: Access, direction: Literal["children", "parents"],
           after: str | None, limit: int) -> Page:
    """One newest link document per related binary, in the related binary's sha256 order."""
    allowed = store.allowed(access)
    db = store._db()
    row = db.execute("SELECT id FROM binaries WHERE sha256 = ?", (sha256,)).fetchone()
    if row is None:
        return Page([], None, 0)
    bid = row[0]
    if direction == "children":
        join, match = "b.id = d.binary_id", "d.parent_id = ?"
    else:
        join, match = "b.id = d.parent_id", "d.binary_id = ? AND d.parent_id IS NOT NULL"
    base = f"FROM docs d JOIN binaries b ON {join} WHERE {match} AND {_in(allowed)}"
    total = None
    if not after:
        total = db.execute(f"SELECT COUNT(DISTINCT b.sha256) {base}", (bid,)).fetchone()[0]
    params: list[object] = [bid]
    page_sql = f"SELECT b.sha256, MAX(d.ts) {base}"
    if after:
        page_sql += " AND b.sha256 > ?"
        params.append(after)
    page_sql += " GROUP BY b.sha256 ORDER BY b.sha256 LIMIT ?"
    params.append(limit)
    related = db.execute(page_sql, params).fetchall()
    items = []
    for other, newest in related:
        body = db.execute(
            f"SELECT d.body {base} AND b.sha256 = ? AND d.ts = ? ORDER BY d.id DESC LIMIT 1", (bid, other, newest)
        ).fetchone()
        items.append(bodies.unpack(body[0]))
    return Page(items, related[-1][0] if related else None, total)


def lineage_below(store: SqliteMetadataStore, parents: Sequence[str], through: Sequence[str], access: Access,
                  limit: int, fields: Sequence[str]) -> list[dict[str, Any]]:
    """Link documents by parent, and by their ``ancestor`` tokens, which may also match a binary
    sharing the first 16 digits: each is checked against the document's own ancestors."""
    named = sorted({s.lower() for s in parents})
    paths = sorted({s.lower() for s in through if is_hex(s.lower())})
    if not (named or paths) or limit < 1:
        return []
    chosen, params = [], []
    if named:
        chosen.append("SELECT x.id FROM docs x JOIN binaries px ON px.id = x.parent_id"
                      f" WHERE px.sha256 IN ({','.join('?' * len(named))})")
        params += named
    if paths:
        chosen.append("SELECT rowid FROM terms WHERE terms MATCH ?")
        params.append(" OR ".join(t for s in paths if (t := hash_token(ANCESTOR, s))))
    sql = (f"SELECT p.sha256, d.body FROM docs d JOIN binaries p ON p.id = d.parent_id"
           f" JOIN binaries b ON b.id = d.binary_id WHERE d.id IN ({' UNION '.join(chosen)})"
           f" AND {_in(store.allowed(access))} ORDER BY p.sha256, b.sha256, d.ts DESC, d.id DESC")
    by_parent, by_path = set(named), set(paths)
    out: list[dict[str, Any]] = []
    for parent, body in store._db().execute(sql, params):
        doc = bodies.unpack(body)
        if parent in by_parent or by_path.intersection(doc.get("ancestors") or ()):
            out.append(doc)
            if len(out) == limit:
                break
    return only(out, fields)


def stream_sources(store: SqliteMetadataStore, stream_sha256: str, access: Access,
                   limit: int | None) -> list[tuple[str, str]]:
    allowed = store.allowed(access)
    rows = store._db().execute(
        f"SELECT d.body FROM docs d WHERE d.id IN (SELECT rowid FROM terms WHERE terms MATCH ?) AND {_in(allowed)}"
        f" AND d.source_name IS NOT NULL ORDER BY d.ts DESC LIMIT ?",
        (value_token("datastreams.sha256", stream_sha256), -1 if limit is None else limit),  # -1: no limit
    ).fetchall()
    pairs: list[tuple[str, str]] = []
    for (body,) in rows:
        doc = bodies.unpack(body)
        for stream in doc.get("datastreams") or ():
            pair = ((doc.get("source") or {}).get("name"), stream.get("label"))
            if stream.get("sha256") == stream_sha256 and pair not in pairs:
                pairs.append(pair)
    return pairs


def identities(store: SqliteMetadataStore, sha256s: Sequence[str]) -> dict[str, dict[str, Any]]:
    if not sha256s:
        return {}
    cols = ("sha256", "md5", "sha1", "sha512", "ssdeep", "tlsh", "size", "file_format", "file_extension", "mime",
            "magic")
    rows = store._db().execute(
        f"SELECT {', '.join(cols)} FROM binaries WHERE sha256 IN ({','.join('?' * len(sha256s))})", list(sha256s)
    ).fetchall()
    return {r[0]: dict(zip(cols, r, strict=True)) for r in rows}


def _author_clause(author: str | None, version: str | None) -> tuple[str, list[object]]:
    sql, params = "", []
    if author:
        sql += " AND d.author_name = ?"
        params.append(author)
    if version:
        sql += " AND d.author_version = ?"
        params.append(version)
    return sql, params


def feature_values(store: SqliteMetadataStore, name: str, access: Access, term: str | None, case_insensitive: bool,
                   ascending: bool, after: str | None, limit: int, author: str | None,
                   version: str | None) -> Page:
    """Distinct visible values of ``features_map.<name>``, each with its newest document time."""
    allowed = store.allowed(access)
    db = store._db()
    field = f"features_map.{name}"
    order = "ASC" if ascending else "DESC"
    sql = f"SELECT DISTINCT value FROM vals WHERE field = ? AND {_in(allowed, 'sec_id')}"
    params: list[object] = [field]
    if term:
        sql += " AND instr(lvalue, ?) > 0" if case_insensitive else " AND instr(value, ?) > 0"
        params.append(term.lower() if case_insensitive else term)
    if after is not None and after != "":
        sql += " AND value > ?" if ascending else " AND value < ?"
        params.append(after)
    sql += f" ORDER BY value {order}"
    author_sql, author_params = _author_clause(author, version)
    rows: list[FeatureValueRow] = []
    cursor = db.execute(sql, params)
    last = None
    for (value,) in cursor:
        last = value
        newest = db.execute(
            f"SELECT MAX(d.ts) FROM docs d WHERE d.id IN (SELECT rowid FROM terms WHERE terms MATCH ?)"
            f" AND {_in(allowed)}{author_sql} AND has_value(d.body, ?, ?)",
            [token(field, value), *author_params, field, value],
        ).fetchone()[0]
        if newest is None:
            continue
        rows.append(FeatureValueRow(value, _iso(newest)))
        if len(rows) >= limit:
            break
    cursor.close()
    more = len(rows) >= limit
    return Page(rows, last if more else None, None)


def _iso(ms: int) -> str:
    from datetime import UTC, datetime

    ts = datetime.fromtimestamp(ms / 1000, UTC)
    return ts.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def count_feature_values(store: SqliteMetadataStore, name: str, access: Access, author: str | None,
                         version: str | None) -> int:
    allowed = store.allowed(access)
    if author or version:
        return len(feature_values(store, name, access, None, False, True, None, 10**9, author, version).items)
    return store._db().execute(
        f"SELECT COUNT(DISTINCT value) FROM vals WHERE field = ? AND {_in(allowed, 'sec_id')}",
        (f"features_map.{name}",),
    ).fetchone()[0]


def count_feature_entities(store: SqliteMetadataStore, name: str, access: Access, value: str | None,
                           author: str | None, version: str | None) -> int:
    allowed = store.allowed(access)
    field = f"features_map.{name}"
    author_sql, params = _author_clause(author, version)
    if value is not None:
        match = "d.id IN (SELECT rowid FROM terms WHERE terms MATCH ?) AND has_value(d.body, ?, ?)"
        head: list[object] = [token(field, value), field, value]
    else:
        match = "has_field(d.body, ?)"
        head = [field]
        tokens = [token(field, v) for (v,) in store._db().execute(
            f"SELECT DISTINCT value FROM vals WHERE field = ? AND {_in(allowed, 'sec_id')} LIMIT 5001", (field,))]
        if not tokens:
            return 0
        if len(tokens) <= 5000:
            match = "d.id IN (SELECT rowid FROM terms WHERE terms MATCH ?)"
            head = [" OR ".join(tokens)]
    return store._db().execute(
        f"SELECT COUNT(DISTINCT d.binary_id) FROM docs d WHERE {match} AND {_in(allowed)}{author_sql}",
        [*head, *params],
    ).fetchone()[0]


def fuzzy_hashes(store: SqliteMetadataStore, kind: Literal["tlsh", "ssdeep"],
                 access: Access) -> Iterator[tuple[str, str]]:
    allowed = store.allowed(access)
    cursor = store._db().execute(
        f"SELECT b.sha256, b.{kind} FROM binaries b WHERE b.{kind} IS NOT NULL AND EXISTS"
        f" (SELECT 1 FROM docs d WHERE d.binary_id = b.id AND {_in(allowed)})"
    )
    yield from cursor


def statuses(store: SqliteMetadataStore, access: Access, sha256: str | None, author: str | None, since: str | None,
             wanted: Sequence[str], limit: int) -> list[dict[str, Any]]:
    allowed = store.allowed(access)
    sql = f"SELECT body FROM statuses WHERE {_in(allowed, 'sec_id')}"
    params: list[object] = []
    if sha256:
        sql += " AND sha256 = ?"
        params.append(sha256)
    if author:
        sql += " AND author = ?"
        params.append(author)
    if since:
        sql += " AND ts >= ?"
        params.append(_ms(since))
    if wanted:
        sql += f" AND status IN ({','.join('?' * len(wanted))})"
        params += list(wanted)
    sql += " ORDER BY ts DESC LIMIT ?"
    params.append(limit)
    return [orjson.loads(r[0]) for r in store._db().execute(sql, params)]


def plugins(store: SqliteMetadataStore, access: Access) -> list[dict[str, Any]]:
    allowed = store.allowed(access)
    rows = store._db().execute(f"SELECT body FROM plugins WHERE {_in(allowed, 'sec_id')} ORDER BY name, ts DESC")
    return [orjson.loads(r[0]) for r in rows]


def annotations(store: SqliteMetadataStore, access: Access, kind: str | None, sha256: str | None, tag: str | None,
                feature: str | None, value: str | None, include_disabled: bool,
                sha256s: Sequence[str] | None = None) -> list[dict[str, Any]]:
    allowed = store.allowed(access)
    sql = f"SELECT body FROM annotations WHERE {_in(allowed, 'sec_id')}"
    params: list[object] = []
    if sha256s is not None:
        sql += f" AND sha256 IN ({','.join('?' * len(sha256s))})"
        params.extend(sha256s)
    for column, v in (("type", kind), ("sha256", sha256), ("tag", tag), ("feature_name", feature),
                      ("feature_value", value)):
        if v is not None:
            sql += f" AND {column} = ?"
            params.append(v)
    if not include_disabled:
        sql += " AND (state IS NULL OR state != 'disabled')"
    return [orjson.loads(r[0]) for r in store._db().execute(sql + " ORDER BY ts DESC", params)]


def selector_sql(selector: Selector) -> tuple[str, list[object]]:
    clauses: list[str] = []
    params: list[object] = []
    # the tracking ids are key tokens (terms.py): the posting list finds the rows, the column decides
    if selector.track_source_references is not None:
        clauses.append(f"{POSTING_MATCH} AND d.tsr = ?")
        params += [token("track_source_references", selector.track_source_references),
                   selector.track_source_references]
    if selector.source_timestamp is not None:
        clauses.append("d.source_ts = ?")
        params.append(_ms(selector.source_timestamp))
    if selector.track_link is not None:
        clauses.append(f"{POSTING_MATCH} AND d.track_link = ?")
        params += [token("track_link", selector.track_link), selector.track_link]
    if selector.track_author is not None:
        clauses.append("(d.track_author = ? OR d.parent_track_author = ?)")
        params += [selector.track_author, selector.track_author]
    if selector.source_name is not None:
        clauses.append("d.source_name = ?")
        params.append(selector.source_name)
    if selector.source_timestamp_before is not None:
        clauses.append("d.source_ts <= ?")
        params.append(_ms(selector.source_timestamp_before))
    if selector.sha256 is not None:
        clauses.append("b.sha256 = ?")
        params.append(selector.sha256)
    if selector.doc_ids:
        # rows are found by (binary, key); a metadata document's id starts with its binary's sha256
        pairs = ",".join(["(?, ?)"] * len(selector.doc_ids))
        marks = ",".join("?" * len(selector.doc_ids))
        clauses.append(f"d.id IN (SELECT dk.id FROM (VALUES {pairs}) k JOIN binaries bk ON bk.sha256 = k.column1"
                       f" JOIN docs dk ON dk.binary_id = bk.id AND dk.doc_key = k.column2) AND d.doc_id IN ({marks})")
        params += [x for i in selector.doc_ids for x in (i.split(".", 1)[0], bodies.doc_key(i))]
        params += list(selector.doc_ids)
    if not clauses:
        raise InvalidInput("a delete needs at least one condition; refusing to delete everything")
    return " AND ".join(clauses), params
