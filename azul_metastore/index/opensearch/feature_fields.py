"""OpenSearch field names of feature names: ``features_map.<field>`` and ``features_num.<field>``.

A feature name is any text a plugin chooses; an OpenSearch field name is a path, split at dots. So
``pe`` and ``pe.section`` cannot both be mapped (``pe`` would be a keyword and an object at once),
``a..b`` and ``.a`` are refused outright, the empty name cannot be indexed, and ``*`` in a field
name is a wildcard to ``exists``. The embedded index stores each of these as it is. To give the
same answers, the adapter writes each name as a field name that OpenSearch takes literally:
``%`` becomes ``%25``, ``.`` ``%2E``, ``*`` ``%2A``, and the empty name ``%`` (which no escaped
name can be). Every other name is its own field name, so the fields of ordinary names (all of
Azul's plugins use letters, digits and ``_``) are the ones Azul's mapping has.

Names are escaped wherever the adapter names a feature field (writes, mappings, queries,
aggregations) and unescaped in documents read back, so nothing outside the adapter sees the
escaped form. Documents indexed before this escaping keep their old fields: a name with one of
those characters written then is found by queries only after a reindex (README).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, TypeVar

_SPECIAL = re.compile(r"[%.*]")
_ESCAPES = {"%": "%25", ".": "%2E", "*": "%2A"}
_ESCAPED = re.compile(r"%(25|2E|2A)")
_UNESCAPES = {"25": "%", "2E": ".", "2A": "*"}
#: the field of the empty feature name: a lone ``%`` is never the escape of another name
EMPTY = "%"

V = TypeVar("V")


def field(name: str) -> str:
    """The field name under ``features_map``/``features_num`` of the feature ``name``."""
    if not name:
        return EMPTY
    if _SPECIAL.search(name) is None:
        return name
    return _SPECIAL.sub(lambda m: _ESCAPES[m[0]], name)


def keyword(name: str) -> str:
    """The keyword field of a feature's values."""
    return "features_map." + field(name)


def number(name: str) -> str:
    """The double field of a feature's values that are numbers (``index/numbers.py``)."""
    return "features_num." + field(name)


def name(field_name: str) -> str:
    """The feature name a field under ``features_map`` stands for (:func:`field` reversed)."""
    if "%" not in field_name:
        return field_name
    if field_name == EMPTY:
        return ""
    return _ESCAPED.sub(lambda m: _UNESCAPES[m[1]], field_name)


def fields(values: Mapping[str, V]) -> Mapping[str, V]:
    """A ``features_map`` keyed by field names (the same mapping when no name needs escaping)."""
    joined = "/".join(values)  # three scans in C per document ingested, not a regex per name
    if "." not in joined and "%" not in joined and "*" not in joined and "" not in values:
        return values
    return {field(key): value for key, value in values.items()}


def names(values: Mapping[str, V]) -> Mapping[str, V]:
    """A ``features_map`` read from ``_source`` keyed by feature names again."""
    if "%" not in "/".join(values):
        return values
    return {name(key): value for key, value in values.items()}


def read_back(source: dict[str, Any]) -> dict[str, Any]:
    """A document's ``_source`` with its ``features_map`` keyed by feature names."""
    fmap = source.get("features_map")
    if not fmap:
        return source
    unescaped = names(fmap)
    return source if unescaped is fmap else {**source, "features_map": dict(unescaped)}
