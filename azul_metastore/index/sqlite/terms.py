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

def token(field: str, value: Any) -> str:
    text = value if isinstance(value, str) else str(value)
    return xxhash.xxh3_64_hexdigest(f"{field}\x00{text.lower()}".encode("utf-8", "surrogatepass"))


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


class TermCache:
    """The tokens of values this process has seen, and which of them the ``vals`` table already lists.

    Feature values repeat heavily across binaries (the same hosts, paths, signatures), so most of a
    document's (field, value) pairs were tokenised before and are already listed in ``vals`` for
    its security. One dictionary probe per pair answers both questions, before the write lock is
    taken. Before, a token cache and a separate set of listed (field, value, security) triples cost
    two probes of two large tables per pair, the second inside the write lock, where it was the
    largest single cost of the binary ingest path (with garbage collection between batches, this
    took ``bench.ingest`` at 200,000 events from 2,574 to 4,218 events/s).

    A pair is marked as listed only by :meth:`listed`, called after the transaction that inserted
    it committed: a rolled-back batch leaves the cache as it was, so its retry inserts the rows.
    Securities are one bit each in the entry (the first 62 seen; later ones are simply never
    cached as listed, and ``INSERT OR IGNORE`` keeps them correct). Bounded; cleared when full.
    """

    def __init__(self, limit: int = 500_000) -> None:
        self.limit = limit
        self._entries: dict[tuple[str, str], tuple[str, int]] = {}
        self._bits: dict[str, int] = {}

    def _bit(self, security: str) -> int:
        bit = self._bits.get(security)
        if bit is None:
            bit = self._bits[security] = 1 << len(self._bits) if len(self._bits) < 62 else 0
        return bit

    def prepare(self, doc: Mapping[str, Any]) -> tuple[str, set[tuple[str, str]]]:
        """The token text of ``doc`` for FTS5 and its (field, value) pairs ``vals`` may still lack."""
        entries = self._entries
        if len(entries) >= self.limit:
            entries.clear()
        bit = self._bit(doc.get("security") or "")
        tokens: set[str] = set()
        unlisted: set[tuple[str, str]] = set()
        for pair in searchable(doc):
            entry = entries.get(pair)
            if entry is None:
                field, value = pair
                if len(value) > MAX_VALUE_CHARS:
                    continue
                entry = entries[pair] = (token(field, value), 0)
            tokens.add(entry[0])
            if not entry[1] & bit:
                unlisted.add(pair)
        return " ".join(tokens), unlisted

    def listed(self, security: str, pairs: set[tuple[str, str]]) -> None:
        """Remember that ``vals`` now lists ``pairs`` for ``security`` (call after the commit)."""
        bit = self._bit(security)
        entries = self._entries
        for pair in pairs:
            entry = entries.get(pair)
            if entry is not None:
                entries[pair] = (entry[0], entry[1] | bit)


def is_token_field(field: str) -> bool:
    return (
        field in TOKEN_FIELDS
        or field.startswith("features_map.")
        or field.startswith("features.enriched.")
        or field.startswith("source.references.")
    )
