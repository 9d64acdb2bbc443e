"""Which (field, value) pairs of a binary2 document are searchable, and their FTS5 tokens.

A token is the 64-bit xxh3 of ``field NUL lower(value)`` in hex: fixed width, no tokenizer
surprises, and case-insensitive matching for free (the query language's default). Exact-case
matches are re-checked against the stored document.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import xxhash

#: longest value indexed, as OpenSearch's ``ignore_above`` on the Azul mapping
MAX_VALUE_CHARS = 8000

#: document fields that are searchable through tokens, besides ``features_map.<name>``
TOKEN_FIELDS = (
    "filename",
    "datastreams.label",
    "datastreams.sha256",
    "datastreams.file_format",
    "datastreams.mime",
    "source.encoded_references.value",
    "source.encoded_references.key_value",
    "features.name",
)


#: feature types whose ``enriched`` parts are searchable (others only repeat the value itself)
ENRICHED_TYPES = frozenset({"uri", "filepath", "binary"})

_TOKENS: dict[tuple[str, str], str] = {}
_TOKEN_CACHE_LIMIT = 500_000


def token(field: str, value: Any) -> str:
    text = value if isinstance(value, str) else str(value)
    key = (field, text)
    cached = _TOKENS.get(key)
    if cached is None:
        cached = xxhash.xxh3_64_hexdigest(f"{field}\x00{text.lower()}".encode("utf-8", "surrogatepass"))
        if len(_TOKENS) >= _TOKEN_CACHE_LIMIT:
            _TOKENS.clear()
        _TOKENS[key] = cached
    return cached


def searchable(doc: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """Every (field, value) of a metadata document that queries can match (duplicates possible)."""
    for name, values in (doc.get("features_map") or {}).items():
        field = f"features_map.{name}"
        for v in values:
            yield field, v if isinstance(v, str) else str(v)
    for name in doc.get("features_map") or ():
        yield "features.name", name
    for feature in doc.get("features") or ():
        if feature.get("type") in ENRICHED_TYPES:
            for part, v in (feature.get("enriched") or {}).items():
                if v is not None and not isinstance(v, dict | list):
                    yield f"features.enriched.{part}", v if isinstance(v, str) else str(v)
    for name in doc.get("filename") or ():
        yield "filename", name
    for stream in doc.get("datastreams") or ():
        for key in ("label", "sha256", "file_format", "mime"):
            v = stream.get(key)
            if v:
                yield f"datastreams.{key}", v
    source = doc.get("source") or {}
    for ref in source.get("encoded_references") or ():
        yield "source.encoded_references.value", str(ref.get("value", ""))
        yield "source.encoded_references.key_value", str(ref.get("key_value", ""))
    for key, v in (source.get("references") or {}).items():
        yield f"source.references.{key}", str(v)


def tokens_and_values(doc: Mapping[str, Any]) -> tuple[str, set[tuple[str, str]]]:
    """The token text for FTS5 and the distinct (field, value) pairs of a document."""
    pairs = {(f, v) for f, v in searchable(doc) if len(v) <= MAX_VALUE_CHARS}
    return " ".join({token(f, v) for f, v in pairs}), pairs


def is_token_field(field: str) -> bool:
    return (
        field in TOKEN_FIELDS
        or field.startswith("features_map.")
        or field.startswith("features.enriched.")
        or field.startswith("source.references.")
    )
