"""Compile a parsed query (``azul_metastore.query.ast``) to an OpenSearch query over binary2 parents.

The cross-document rules (inventory §6.1, pitfall 19) map onto the parent/child join:

* the root ``And`` becomes one ``has_child`` per clause, so each clause may be satisfied by a
  different metadata document of the binary;
* every other root is one ``has_child``: all its conditions hold on the same document.

Every ``has_child`` carries the caller's security filter (:func:`security_filter`), so a binary
never matches through a document the caller may not see. OpenSearch's own document-level security
(``apply-opensearch-config``) is an extra layer, never relied on here (DESIGN.md, Security).

Field semantics follow the embedded compiler (``index/sqlite/compiler.py``) so both adapters give
the same answers: ``key:v`` and ``key:'v'`` are case-insensitive, ``key:"v"`` and ``key:=v`` exact,
hashes are lower-cased, a trailing ``*`` is a prefix, and numeric comparisons on
``features_map.<name>`` compare its values that are numbers (``features_num.<name>``,
``index/numbers.py``), not text.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from azul_metastore.errors import BadRequest, InvalidInput
from azul_metastore.index.opensearch import feature_fields
from azul_metastore.index.timestamps import epoch_ms
from azul_metastore.query.ast import And, DocAnd, Match, Node, Not, Or, Range, Term, keys
from azul_metastore.security import Access

Query = dict[str, Any]
TagLookup = Callable[[str, str], list[tuple[str, ...]]]

#: query key -> kind, for fields stored once per document
COLUMNS: dict[str, str] = {
    "action": "text", "author.name": "text", "author.category": "text", "author.version": "text",
    "source.name": "text", "depth": "number", "track_source_references": "text", "track_link": "text",
    "track_author": "text", "parent_track_author": "text", "timestamp": "time", "source.timestamp": "time",
    "num_feature_values": "number", "num_feature_names": "number",
    "sha256": "text", "md5": "text", "sha1": "text", "sha512": "text", "ssdeep": "text", "tlsh": "text",
    "size": "number", "file_format": "text", "file_extension": "text", "mime": "text", "magic": "text",
}
HASHES = ("sha256", "md5", "sha1", "sha512")
#: multi-valued keyword fields (the embedded index's token fields)
TOKEN_FIELDS = ("filename", "datastreams.label", "datastreams.sha256", "datastreams.file_format",
                "datastreams.mime", "source.encoded_references.value", "source.encoded_references.key_value",
                "features.name")
#: enriched parts that are not keywords
ENRICHED_TYPES = {"integer": "number", "float": "number", "port": "number", "datetime": "time"}
_HASH_BY_LENGTH = {32: "md5", 40: "sha1", 64: "sha256", 128: "sha512"}
#: the range of each whole-number field as mapped (templates.py): OpenSearch answers 400 to a bound
#: or value outside it, where the embedded index simply compares
_INT32, _INT64 = (-(2**31), 2**31 - 1), (-(2**63), 2**63 - 1)
_WHOLE: dict[str, tuple[int, int]] = {
    "depth": _INT32, "num_feature_values": _INT32, "num_feature_names": _INT32, "features.enriched.port": _INT32,
    "features.enriched.integer": _INT64, "size": (0, 2**64 - 1)}
_OPS = {":>": "gt", ":<": "lt", ":>=": "gte", ":<=": "lte"}
NONE: Query = {"match_none": {}}


def known_fields() -> list[str]:
    return sorted([*COLUMNS, "parent.sha256", "security", "binary.tag", "feature.tag", "features_map.<feature>",
                   "features.enriched.<part>", "source.references.<key>", *TOKEN_FIELDS])


def security_filter(access: Access) -> list[Query]:
    """Filter clauses that keep the documents ``access`` may see (§8.2, plus the ``x``/``i`` filters).

    The same rule as :meth:`Access.can_see`: an inclusive label held (``s-any`` stands for none),
    every exclusive label held (``terms_set`` against ``num_exclusive``), an enforced marking held
    when the document carries any.
    """
    if access.system:
        return []
    held = sorted(access.safe_labels)
    clauses: list[Query] = [
        {"terms": {"encoded_security.inclusive": held}},
        {"terms_set": {"encoded_security.exclusive": {
            "terms": held, "minimum_should_match_field": "encoded_security.num_exclusive"}}},
    ]
    enforced = sorted(access.enforced_markings)
    if enforced:
        either: list[Query] = [{"bool": {"must_not": [{"terms": {"encoded_security.markings": enforced}}]}}]
        held_enforced = sorted(access.enforced_markings & access.safe_labels)
        if held_enforced:
            either.append({"terms": {"encoded_security.markings": held_enforced}})
        clauses.append({"bool": {"should": either, "minimum_should_match": 1}})
    if access.exclude_safe:
        excluded = sorted(access.exclude_safe)
        clauses.append({"bool": {"must_not": [{"terms": {f"encoded_security.{k}": excluded}}
                                              for k in ("exclusive", "inclusive", "markings")]}})
    clauses.extend({"term": {"encoded_security.inclusive": label}} for label in sorted(access.include_safe))
    return clauses


def instant(**bounds: str) -> Query:
    """Range bounds (``gt=``, ``lte=``...) on a date field at the exact millisecond of each text.

    Given as text, OpenSearch rounds a bound over the precision the text leaves out: ``lte
    2024-01-01T00:00:00Z`` took all of that second and ``lte 2024-01-01`` the whole day, so a
    purge or age-off deleted submissions after its cutoff. The embedded index compares
    milliseconds; so does this."""
    return {**{op: epoch_ms(text) for op, text in bounds.items()}, "format": "epoch_millis"}


def visible(access: Access, *clauses: Query) -> Query:
    """A bool query of ``clauses`` restricted to what ``access`` may see."""
    return {"bool": {"filter": [*clauses, *security_filter(access)]}}


def has_child(access: Access, *clauses: Query) -> Query:
    return {"has_child": {"type": "metadata", "query": visible(access, *clauses)}}


def _number(text: str) -> int | float | None:
    """A query value written as text, as a number when it is one (ASCII digits, finite)."""
    if not text.isascii():
        return None
    try:
        number = int(text) if text.lstrip("-").isdigit() else float(text)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _holds(field: str, value: Any) -> bool:
    """Whether a whole-number field can hold ``value`` at all."""
    low, high = _WHOLE[field]
    return isinstance(value, int | float) and float(value).is_integer() and low <= value <= high


def _bounded(field: str, bounds: dict[str, Any]) -> Query:
    """A range query, its bounds brought within a whole-number field's range: a bound past the far
    end matches nothing, one past the near end is dropped."""
    if field not in _WHOLE:
        return {"range": {field: bounds}}
    low, high = _WHOLE[field]
    kept: dict[str, Any] = {}
    for op, value in bounds.items():
        if not isinstance(value, int | float):
            kept[op] = value
        elif op in ("gt", "gte"):
            if value > high or (op == "gt" and value == high):
                return NONE
            if value >= low:
                kept[op] = value
        elif value < low or (op == "lt" and value == low):
            return NONE
        elif value <= high:
            kept[op] = value
    return {"range": {field: kept}} if kept else {"exists": {"field": field}}


def _all(parts: list[Query]) -> Query:
    return parts[0] if len(parts) == 1 else {"bool": {"filter": parts}}


class QueryCompiler:
    """Turns one query into a query over parent (binary) documents for one caller."""

    def __init__(self, access: Access, tag_lookup: TagLookup) -> None:
        self.access = access
        self.tag_lookup = tag_lookup

    def binary_query(self, node: Node) -> Query:
        """Matches the parent documents of binaries matching ``node``."""
        if isinstance(node, And):
            # only the root AND spans documents: a parenthesised AND below it is one clause
            return _all([has_child(self.access, self.doc_query(child)) for child in node.children])
        return has_child(self.access, self.doc_query(node))

    def doc_query(self, node: Node) -> Query:
        """Matches single metadata documents."""
        if isinstance(node, And | DocAnd):
            return _all([self.doc_query(c) for c in node.children])
        if isinstance(node, Or):
            return {"bool": {"should": [self.doc_query(c) for c in node.children], "minimum_should_match": 1}}
        if isinstance(node, Not):
            present = [self._exists(k) for k in sorted(keys(node.child)) if k not in ("binary.tag", "feature.tag")]
            return {"bool": {"filter": present, "must_not": [self.doc_query(node.child)]}}
        if isinstance(node, Term):
            return self._term(node)
        if isinstance(node, Range):
            return self._range(node)
        if isinstance(node, Match):
            return self._match(node)
        raise BadRequest(f"unsupported query node {type(node).__name__}")

    # --- leaves --------------------------------------------------------------------------------

    def _term(self, node: Term) -> Query:
        """A bare term: a hash (by length, or a hex prefix), or a prefix of file format, magic, mime."""
        value, lowered = node.value, node.value.lower()
        ors: list[Query] = []
        kind = _HASH_BY_LENGTH.get(len(value))
        if kind:
            ors.append({"term": {kind: lowered}})
        if value.count(":") == 2:
            ors.append({"term": {"ssdeep": value}})
        for column in ("file_format", "magic") + (("mime",) if "/" in value else ()):
            ors.append({"prefix": {column: value}})
        if (node.is_prefix or not kind) and lowered and all(c in "0123456789abcdef" for c in lowered):
            ors.extend({"prefix": {column: lowered}} for column in HASHES)
        return {"bool": {"should": ors, "minimum_should_match": 1}}

    def _match(self, node: Match) -> Query:
        key = node.key
        if node.exists:
            return self._exists(key)
        if key == "binary.tag":
            shas = [row[0] for row in self.tag_lookup("entity_tag", str(node.value))]
            if not shas:
                raise BadRequest(f"no binaries are tagged {node.value!r}")
            return {"terms": {"sha256": sorted(set(shas))}}
        if key == "feature.tag":
            pairs = self.tag_lookup("fv_tag", str(node.value))
            if not pairs:
                raise BadRequest(f"no feature values are tagged {node.value!r}")
            return {"bool": {"should": [{"term": {feature_fields.keyword(f): {"value": v, "case_insensitive": True}}}
                                        for f, v in pairs], "minimum_should_match": 1}}
        if node.op in _OPS:
            return self._compare(key, _OPS[node.op], node.value)
        return self._equals(key, node.value, node.case_sensitive, node.is_prefix)

    def _equals(self, key: str, value: Any, case_sensitive: bool, prefix: bool) -> Query:
        if key == "security":
            if prefix:
                return {"prefix": {"security": {"value": str(value), "case_insensitive": True}}}
            return {"term": {"security": str(value)}}
        if key.startswith("source.references."):
            ref = key.removeprefix("source.references.")
            return self._keyword("source.encoded_references.key_value", f"{ref}.{value}", case_sensitive, prefix)
        field, kind = self._field(key)
        if kind in ("number", "time"):
            if isinstance(value, str):
                # text against a number matches only when it is a number, as in SQLite
                number = _number(value)
                if number is None or prefix:
                    return NONE
                value = number
            if field in _WHOLE and not _holds(field, value):
                return NONE
            return {"term": {field: value}}
        text = value if isinstance(value, str) else str(value)
        if key in HASHES or key == "parent.sha256":
            text, case_sensitive = text.lower(), True
        return self._keyword(field, text, case_sensitive, prefix)

    @staticmethod
    def _keyword(field: str, text: str, case_sensitive: bool, prefix: bool) -> Query:
        kind = "prefix" if prefix else "term"
        if case_sensitive:
            return {kind: {field: text}}
        return {kind: {field: {"value": text, "case_insensitive": True}}}

    def _field(self, key: str) -> tuple[str, str]:
        """(OpenSearch field, kind) of a query key; InvalidInput for keys the index does not have."""
        if key in COLUMNS:
            return key, COLUMNS[key]
        if key == "parent.sha256":
            return key, "text"
        if key.startswith("features_map."):
            return feature_fields.keyword(key.removeprefix("features_map.")), "text"
        if key in TOKEN_FIELDS:
            return key, "text"
        if key.startswith("features.enriched."):
            return key, ENRICHED_TYPES.get(key.removeprefix("features.enriched."), "text")
        raise InvalidInput(f"unknown field {key!r}; searchable fields: {', '.join(known_fields())}", field=key)

    def _numeric_field(self, key: str, op: str) -> str | None:
        """The field to compare numbers on; None for text that only the embedded index reads as
        numbers (it compares the values that are numbers; OpenSearch would compare text)."""
        if key.startswith("source.references."):
            return None
        field, kind = self._field(key)
        if key.startswith("features_map."):
            return feature_fields.number(key.removeprefix("features_map."))
        if kind == "text" and (key in COLUMNS or key == "parent.sha256"):
            raise InvalidInput(f"field {key!r} holds text; compare it with ':' rather than '{op}'", field=key)
        return None if kind == "text" else field

    def _compare(self, key: str, op: str, value: Any) -> Query:
        field = self._numeric_field(key, op)
        if field is None:
            return NONE
        return _bounded(field, {op: value})

    def _range(self, node: Range) -> Query:
        field = self._numeric_field(node.key, "range")
        if field is None:
            return NONE
        low = "gte" if node.low_inclusive else "gt"
        high = "lte" if node.high_inclusive else "lt"
        return _bounded(field, {low: node.low, high: node.high})

    def _exists(self, key: str) -> Query:
        if key == "security":
            return {"match_all": {}}
        if key.startswith("source.references."):
            ref = key.removeprefix("source.references.")
            return {"prefix": {"source.encoded_references.key_value": f"{ref}."}}
        field, _ = self._field(key)
        return {"exists": {"field": field}}
