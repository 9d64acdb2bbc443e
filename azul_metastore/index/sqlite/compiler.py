"""Compile a parsed query (``azul_metastore.query.ast``) to SQL over the embedded index.

The cross-document rules of the query language map directly onto SQL:

* the root ``And`` becomes one ``binary IN (docs matching child)`` per child, so each child may be
  satisfied by a different document of the binary;
* every other node is evaluated on a single document row ``d`` (joined to its binary ``bx``), and
  the binary matches if any *visible* document matches.

Fields are either columns (``action``, ``source.name``, ``size``...), identification of the binary
(hashes, file type), or token fields (feature values and the other list fields in ``terms.py``)
looked up through the FTS5 posting lists. Prefix and numeric comparisons on token fields first
expand to the matching distinct values (``vals``), bounded by ``MAX_EXPANSION``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import orjson

from azul_metastore.errors import BadRequest, InvalidInput
from azul_metastore.index.sqlite.terms import (
    HASH_KINDS,
    HASH_VALUE_FIELDS,
    TRACKING_FIELDS,
    hash_query,
    is_hex,
    is_token_field,
    token,
    value_token,
)
from azul_metastore.query.ast import And, DocAnd, Match, Node, Not, Or, Range, Term, keys

#: most distinct values a prefix or numeric comparison on a token field may expand to
MAX_EXPANSION = 2000

#: fields stored as columns of ``docs`` (d) with their SQL and kind
DOC_COLUMNS: dict[str, tuple[str, str]] = {
    "action": ("d.action", "text"),
    "author.name": ("d.author_name", "text"),
    "author.category": ("d.author_category", "text"),
    "author.version": ("d.author_version", "text"),
    "source.name": ("d.source_name", "text"),
    "depth": ("d.depth", "number"),
    "track_source_references": ("d.tsr", "text"),
    "track_link": ("d.track_link", "text"),
    "track_author": ("d.track_author", "text"),
    "parent_track_author": ("d.parent_track_author", "text"),
    "timestamp": ("d.ts", "time"),
    "source.timestamp": ("d.source_ts", "time"),
    "num_feature_values": ("json_extract(doc(d.body), '$.num_feature_values')", "number"),
    "num_feature_names": ("json_extract(doc(d.body), '$.num_feature_names')", "number"),
}

#: identification columns of ``binaries`` (bx)
BINARY_COLUMNS: dict[str, str] = {
    "sha256": "text",
    "md5": "text",
    "sha1": "text",
    "sha512": "text",
    "ssdeep": "text",
    "tlsh": "text",
    "size": "number",
    "file_format": "text",
    "file_extension": "text",
    "mime": "text",
    "magic": "text",
}

_HASH_BY_LENGTH = {32: "md5", 40: "sha1", 64: "sha256", 128: "sha512"}
_OPS = {":>": ">", ":<": "<", ":>=": ">=", ":<=": "<="}


def known_fields() -> list[str]:
    return sorted([*DOC_COLUMNS, *BINARY_COLUMNS, "parent.sha256", "security", "binary.tag", "feature.tag",
                   "features_map.<feature>", "features.enriched.<part>", "source.references.<key>", "filename",
                   "datastreams.label", "datastreams.sha256", "datastreams.file_format", "datastreams.mime",
                   "source.encoded_references.value", "source.encoded_references.key_value", "features.name"])


@dataclass
class Compiled:
    sql: str
    params: list[object] = field(default_factory=list)


class Compiler:
    """Turns one query into a predicate over ``binaries b`` for a given allow-list of securities.

    ``db`` is consulted while compiling, to expand prefixes and tags into concrete tokens.
    """

    def __init__(self, db: sqlite3.Connection, sec_ids: Sequence[int] | None,
                 tag_lookup: Callable[[str, str], list[tuple[str, ...]]]) -> None:
        self.db = db
        self.sec_ids = sec_ids
        self.tag_lookup = tag_lookup

    # --- entry points --------------------------------------------------------------------------

    def binary_predicate(self, node: Node) -> Compiled:
        """SQL over ``b`` (binaries) that is true for binaries matching ``node``."""
        if isinstance(node, And):
            # only the root AND spans documents: a parenthesised AND below it is one clause
            return _joined([self.binary_clause(child) for child in node.children], "AND")
        return self.binary_clause(node)

    def binary_clause(self, node: Node) -> Compiled:
        """One clause of the root: true for binaries with a visible document matching all of it."""
        if isinstance(node, Term):
            return self._term(node, "b")
        doc = self.doc_predicate(node)
        return Compiled(
            "b.id IN (SELECT d.binary_id FROM docs d JOIN binaries bx ON bx.id = d.binary_id"
            f" WHERE ({doc.sql}){self.security_clause()})",
            doc.params,
        )

    def security_clause(self, alias: str = "d") -> str:
        if self.sec_ids is None:
            return ""
        return f" AND {alias}.sec_id IN ({','.join(str(int(i)) for i in self.sec_ids) or 'NULL'})"

    # --- one document --------------------------------------------------------------------------

    def doc_predicate(self, node: Node) -> Compiled:
        if isinstance(node, And | DocAnd):
            return _joined([self.doc_predicate(c) for c in node.children], "AND")
        if isinstance(node, Or):
            return _joined([self.doc_predicate(c) for c in node.children], "OR")
        if isinstance(node, Not):
            inner = self.doc_predicate(node.child)
            present = [self._exists(k) for k in sorted(keys(node.child)) if k not in ("binary.tag", "feature.tag")]
            # one clause per field: joined balanced, as a chain of hundreds is too deep for SQLite
            return _joined([*present, Compiled(f"NOT ({inner.sql})", inner.params)], "AND")
        if isinstance(node, Term):
            return self._term(node, "bx")
        if isinstance(node, Range):
            return self._range(node)
        if isinstance(node, Match):
            return self._match(node)
        raise BadRequest(f"unsupported query node {type(node).__name__}")

    # --- leaves --------------------------------------------------------------------------------

    def _term(self, node: Term, alias: str) -> Compiled:
        """A bare term: prefix of a hash (by length), file format, magic, or mime."""
        value = node.value
        ors: list[str] = []
        params: list[object] = []
        lowered = value.lower()
        kind = _HASH_BY_LENGTH.get(len(value))
        if kind == "sha256":
            ors.append(f"{alias}.sha256 = ?")
            params.append(lowered)
        elif kind and is_hex(lowered):
            ors.append(self._hash_match(alias, kind, prefix=False, docs=True))
            params += self._hash_params(kind, lowered, prefix=False)
        if value.count(":") == 2:
            ors.append(f"{alias}.ssdeep = ?")
            params.append(value)
        for column in ("file_format", "magic") + (("mime",) if "/" in value else ()):
            ors.append(f"({alias}.{column} >= ? AND {alias}.{column} < ?)")
            params += [value, value + "\U0010ffff"]
        if (node.is_prefix or not kind) and is_hex(lowered):
            ors.append(f"({alias}.sha256 >= ? AND {alias}.sha256 < ?)")
            params += [lowered, lowered + "g"]
            for other in HASH_KINDS:
                ors.append(self._hash_match(alias, other, prefix=True, docs=True))
                params += self._hash_params(other, lowered, prefix=True)
        return Compiled(" OR ".join(ors), params)

    @staticmethod
    def _hash_match(alias: str, kind: str, *, prefix: bool, docs: bool) -> str:
        """A ``kind`` hash (md5, sha1, sha512) equal to the parameter (or starting with it): the key
        tokens (terms.py) find the documents, the binary's column holds the whole hash. ``docs``:
        any document of binary ``alias`` carries it, rather than document ``d`` itself."""
        postings = "SELECT rowid FROM terms WHERE terms MATCH ?"
        if docs:
            found = f"{alias}.id IN (SELECT dh.binary_id FROM docs dh WHERE dh.id IN ({postings}))"
        else:
            found = f"d.id IN ({postings})"
        check = f"{alias}.{kind} >= ? AND {alias}.{kind} < ?" if prefix else f"{alias}.{kind} = ?"
        return f"({found} AND {check})"

    @staticmethod
    def _hash_params(kind: str, text: str, *, prefix: bool) -> list[object]:
        return [hash_query(kind, text, prefix), *((text, text + "g") if prefix else (text,))]

    def _match(self, node: Match) -> Compiled:
        key = node.key
        if node.exists:
            return self._exists(key)
        if key == "binary.tag":
            shas = [row[0] for row in self.tag_lookup("entity_tag", str(node.value))]
            if not shas:
                raise BadRequest(f"no binaries are tagged {node.value!r}")
            return Compiled(f"bx.sha256 IN ({','.join('?' * len(shas))})", list(shas))
        if key == "feature.tag":
            pairs = self.tag_lookup("fv_tag", str(node.value))
            if not pairs:
                raise BadRequest(f"no feature values are tagged {node.value!r}")
            return self._tokens([token(f"features_map.{f}", v) for f, v in pairs])
        if node.op in _OPS:
            return self._compare(key, _OPS[node.op], node.value)
        case_sensitive = node.quoting == "double" or node.op == ":="
        value = node.value
        if key in DOC_COLUMNS or key in BINARY_COLUMNS or key in ("parent.sha256", "security"):
            return self._column_match(key, value, case_sensitive, node.is_prefix)
        if is_token_field(key):
            text = value if isinstance(value, str) else str(value)
            hash_kind = HASH_VALUE_FIELDS.get(key)
            if node.is_prefix:
                if hash_kind:  # raw hash tokens, not listed in vals (terms.py)
                    compiled = self._tokens([f"{hash_kind}{text.lower()}*"] if is_hex(text.lower()) else [])
                else:
                    compiled = self._tokens(self._expand(key, "prefix", text, case_sensitive))
                if case_sensitive:
                    # tokens ignore case: re-check the exact-case prefix on the document itself
                    compiled.sql += " AND has_prefix(d.body, ?, ?)"
                    compiled.params += [key, text]
                return compiled
            compiled = self._tokens([value_token(key, text)])
            if case_sensitive and (hash_kind or self._other_casings(key, text)):
                # tokens ignore case; only when the field holds this value in another casing too does a
                # matching document need its exact value re-checked (parsing JSON is the slow part);
                # values of a hash field are not listed, so those are always re-checked
                # a substring test on the unpacked JSON rules out most documents before parsing
                compiled.sql += " AND instr(doc(d.body), ?) > 0 AND has_value(d.body, ?, ?)"
                compiled.params += [orjson.dumps(text).decode(), key, text]
            return compiled
        raise InvalidInput(f"unknown field {key!r}; searchable fields: {', '.join(known_fields())}", field=key)

    def _column(self, key: str) -> tuple[str, str]:
        if key in DOC_COLUMNS:
            return DOC_COLUMNS[key]
        if key in BINARY_COLUMNS:
            return f"bx.{key}", BINARY_COLUMNS[key]
        raise InvalidInput(f"field {key!r} cannot be compared as a number", field=key)

    def _column_match(self, key: str, value: object, case_sensitive: bool, prefix: bool) -> Compiled:
        if key == "parent.sha256":
            sub = self._column_match("sha256", value, case_sensitive, prefix)
            return Compiled(f"d.parent_id IN (SELECT bx.id FROM binaries bx WHERE {sub.sql})", sub.params)
        if key == "security":
            if prefix:
                return Compiled("d.sec_id IN (SELECT id FROM securities WHERE security LIKE ? ESCAPE '\\')",
                                [_like_escape(str(value)) + "%"])
            return Compiled("d.sec_id IN (SELECT id FROM securities WHERE security = ?)", [value])
        sql, kind = self._column(key)
        if kind in ("number", "time") and not isinstance(value, str):
            return Compiled(f"{sql} = ?", [value])
        if kind in ("number", "time") and prefix:
            return Compiled("0")  # a number has no text to take a prefix of (as on OpenSearch)
        text = str(value)
        if key in HASH_KINDS:  # hashes ignore case
            text = text.lower()
            if not is_hex(text):
                return Compiled("0")
            return Compiled(self._hash_match("bx", key, prefix=prefix, docs=False),
                            self._hash_params(key, text, prefix=prefix))
        if key in TRACKING_FIELDS and not prefix:
            # a key token (the posting list finds the documents), then the column for the exact case
            check = Compiled(f"{sql} = ?", [text]) if case_sensitive else Compiled(f"{sql} = ? COLLATE NOCASE", [text])
            return Compiled(f"d.id IN (SELECT rowid FROM terms WHERE terms MATCH ?) AND {check.sql}",
                            [token(key, text), *check.params])
        if key == "sha256":
            text, case_sensitive = text.lower(), True
        if prefix:
            if case_sensitive:
                return Compiled(f"({sql} >= ? AND {sql} < ?)", [text, text + "\U0010ffff"])
            return Compiled(f"{sql} LIKE ? ESCAPE '\\'", [_like_escape(text) + "%"])
        if case_sensitive:
            return Compiled(f"{sql} = ?", [text])
        return Compiled(f"{sql} = ? COLLATE NOCASE", [text])

    def _compare(self, key: str, op: str, value: object) -> Compiled:
        if is_token_field(key):
            return self._tokens(self._expand(key, op, value, True))
        sql, kind = self._column(key)
        if kind == "text":
            raise InvalidInput(f"field {key!r} holds text; compare it with ':' rather than '{op}'", field=key)
        return Compiled(f"{sql} {op} ?", [value])

    def _range(self, node: Range) -> Compiled:
        low_op = ">=" if node.low_inclusive else ">"
        high_op = "<=" if node.high_inclusive else "<"
        if is_token_field(node.key):  # one expansion of both bounds: only the values within count
            return self._tokens(self._expand(node.key, low_op, node.low, True, also=(high_op, node.high)))
        sql, kind = self._column(node.key)
        if kind == "text":
            raise InvalidInput(f"field {node.key!r} holds text; ranges need a numeric field", field=node.key)
        return Compiled(f"{sql} {low_op} ? AND {sql} {high_op} ?", [node.low, node.high])

    def _exists(self, key: str) -> Compiled:
        if key in DOC_COLUMNS or key in BINARY_COLUMNS:
            sql, _ = self._column(key)
            return Compiled(f"{sql} IS NOT NULL")
        if key == "parent.sha256":
            return Compiled("d.parent_id IS NOT NULL")
        if key == "security":
            return Compiled("1")
        if is_token_field(key):
            return Compiled("has_field(d.body, ?)", [key])
        raise InvalidInput(f"unknown field {key!r}; searchable fields: {', '.join(known_fields())}", field=key)

    # --- tokens --------------------------------------------------------------------------------

    def _other_casings(self, key: str, text: str) -> bool:
        """Whether any document holds ``key`` = ``text`` in a different letter case (``vals`` knows)."""
        rows = self.db.execute(
            "SELECT 1 FROM vals WHERE field = ? AND lvalue = ? AND value != ? LIMIT 1", (key, text.lower(), text)
        ).fetchone()
        return rows is not None

    def _tokens(self, tokens: list[str]) -> Compiled:
        if not tokens:
            return Compiled("0")
        expression = " OR ".join(tokens)
        return Compiled("d.id IN (SELECT rowid FROM terms WHERE terms MATCH ?)", [expression])

    def _expand(self, key: str, op: str, value: object, case_sensitive: bool,
                also: tuple[str, object] | None = None) -> list[str]:
        """Distinct values of a token field that satisfy a prefix or a numeric comparison, among
        the values the caller may see: the limit's error must not count values of documents it
        cannot (it said how many values a hidden feature held)."""
        if op == "prefix":
            text = str(value)
            sql = "SELECT DISTINCT value FROM vals v WHERE field = ? AND lvalue >= ? AND lvalue < ?"
            params: list[object] = [key, text.lower(), text.lower() + "\U0010ffff"]
            if case_sensitive:
                sql += " AND substr(value, 1, ?) = ?"
                params += [len(text), text]
        else:
            sql = f"SELECT DISTINCT value FROM vals v WHERE field = ? AND as_number(value) {op} ?"
            params = [key, value]
            if also is not None:  # the other bound of a range
                sql += f" AND as_number(value) {also[0]} ?"
                params.append(also[1])
        sql += self.security_clause("v")
        rows = self.db.execute(sql + f" LIMIT {MAX_EXPANSION + 1}", params).fetchall()
        if len(rows) > MAX_EXPANSION:
            what = f"{key}{op}{value}" + (f" and {also[0]}{also[1]}" if also else "")
            raise BadRequest(f"{what} matches more than {MAX_EXPANSION} distinct values; be more specific"
                             f" (a range such as {key}:[1 TO 3] expands only the values within it)")
        return sorted({token(key, r[0]) for r in rows})


#: most operands one ``a OP b OP c`` chain of the compiled SQL joins flat
_FLAT = 8


def _joined(parts: list[Compiled], op: str) -> Compiled:
    """``parts`` joined by ``op``, as a balanced tree of parenthesised halves past :data:`_FLAT`.

    SQLite parses a chain ``a OR b OR c ...`` into an expression tree as deep as the chain is long,
    and refuses one deeper than 1,000 ("Expression tree is too large"): a query of a few hundred
    hashes or values answered 500. Halves keep the depth logarithmic."""
    if len(parts) <= _FLAT:
        return Compiled(f" {op} ".join(f"({p.sql})" for p in parts), [x for p in parts for x in p.params])
    middle = len(parts) // 2
    return _joined([_joined(parts[:middle], op), _joined(parts[middle:], op)], op)


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
