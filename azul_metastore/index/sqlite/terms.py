"""Which (field, value) pairs of a binary2 document are searchable, and their FTS5 tokens.

A token is the 64-bit xxh3 of ``field NUL lower(value)`` in hex: fixed width, no tokenizer
surprises, and case-insensitive matching for free (the query language's default). Exact-case
matches are re-checked against the stored document. Hashes are the exception: a document's md5,
sha1 and sha512 (key tokens) and datastream sha256s (HASH_VALUE_FIELDS) are kept as hex behind
their kind, so that a prefix of one is an FTS5 prefix query; both are explained below.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import xxhash

#: longest value indexed, as OpenSearch's ``ignore_above`` on the Azul mapping
MAX_VALUE_CHARS = 8000


def too_long(value: str) -> bool:
    """Whether OpenSearch's ``ignore_above`` leaves ``value`` out: it counts UTF-16 units (Java
    string length), so a character beyond the BMP (most emoji) counts twice. Encoded only when
    the value could be that long."""
    n = len(value)
    return n > MAX_VALUE_CHARS // 2 and (n > MAX_VALUE_CHARS or len(value.encode("utf-16-le")) > 2 * MAX_VALUE_CHARS)

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


# --- key tokens -----------------------------------------------------------------------------------
# Values that are looked up, never listed: a binary's md5, sha1 and sha512, a document's tracking
# ids. Each is (nearly) unique, so a B-tree index on one is touched at a random page by every
# insert: at 600,000 documents the three hash indexes and the two tracking ones were 43 % of the
# pages an ingest batch wrote (its WAL frames counted by the table or index owning each page). As
# FTS5 tokens they cost a few bytes of a sorted segment instead.
#
# A hash token is the hash's kind and its first 16 hex digits (``md5d41d8cd98f00b204``): a prefix
# of a hash is then an FTS5 prefix query, and the kinds cannot collide with each other or with the
# 16-hex-digit value tokens. Whole hashes made the postings write 0.4 more pages per document
# (sha512 alone is 128 digits); 64 bits tell binaries apart, and a match is checked against the
# binary's full hash (``binaries``), which a false match sharing the first 16 digits fails.

#: hash fields of a document that are key tokens, with the token prefix of each
HASH_KINDS = ("md5", "sha1", "sha512")
#: hex digits of a hash kept in its token
HASH_TOKEN_DIGITS = 16
#: document fields that are key tokens (hashed, as value tokens are)
TRACKING_FIELDS = ("track_source_references", "track_link")
#: the token prefix of the binaries a child's path passed through (``ancestors``), kept as a hash
#: token is: a walk looks documents up by them (``lineage_below``), nothing lists them
ANCESTOR = "ancestor"
_HEX = frozenset("0123456789abcdef")


def is_hex(text: str) -> bool:
    """Whether ``text`` is non-empty lower-case hexadecimal."""
    return bool(text) and _HEX.issuperset(text)


def hash_token(kind: str, hex_digest: str) -> str | None:
    """The key token of a hash, or None if the text is not hexadecimal."""
    text = hex_digest.lower()
    return f"{kind}{text[:HASH_TOKEN_DIGITS]}" if is_hex(text) else None


def hash_query(kind: str, hex_text: str, prefix: bool) -> str | None:
    """The FTS5 expression for documents whose ``kind`` hash is ``hex_text`` (or starts with it, if
    ``prefix``); None if the text is not hexadecimal. It also finds hashes that only share the first
    16 digits: check the full hash as well."""
    token_ = hash_token(kind, hex_text)
    if token_ is None:
        return None
    return f"{token_}*" if prefix and len(hex_text) < HASH_TOKEN_DIGITS else token_


#: token fields whose values are hashes, with their token prefix. Their tokens keep the whole value
#: (``stream`` + hex) so that a prefix is an FTS5 prefix query, and they are not listed in ``vals``:
#: nearly every value is new, so listing it was a random B-tree insert per document (at 600,000
#: documents, most of the 0.6 pages per document that ``vals`` wrote); prefixes used the listing.
HASH_VALUE_FIELDS = {"datastreams.sha256": "stream"}
#: the bits of a term-cache entry that is never to be listed (every security's bit set)
_NEVER_LISTED = -1


def value_token(field: str, value: str) -> str:
    """The token of one searchable (field, value): hashed, or raw for a hash in HASH_VALUE_FIELDS."""
    kind = HASH_VALUE_FIELDS.get(field)
    if kind is not None:
        text = value.lower()
        if is_hex(text):
            return f"{kind}{text}"
    return token(field, value)


def key_tokens(doc: Mapping[str, Any]) -> list[str]:
    """The key tokens of a metadata document (see above); they are not listed in ``vals``."""
    out = []
    for kind in HASH_KINDS:
        value = doc.get(kind)
        if value:
            tok = hash_token(kind, str(value))
            if tok:
                out.append(tok)
    for field in TRACKING_FIELDS:
        value = doc.get(field)
        if value:
            out.append(token(field, value))
    for sha256 in doc.get("ancestors") or ():
        tok = hash_token(ANCESTOR, sha256)
        if tok:
            out.append(tok)
    return out


# Field names built once per feature name, so each is one string object whose hash is computed once.
_FEATURE_FIELDS: dict[str, str] = {}
_FEATURE_FIELDS_LIMIT = 100_000


def _feature_field(name: str) -> str:
    field = _FEATURE_FIELDS.get(name)
    if field is None:
        if len(_FEATURE_FIELDS) >= _FEATURE_FIELDS_LIMIT:
            _FEATURE_FIELDS.clear()
        field = _FEATURE_FIELDS[name] = f"features_map.{name}"
    return field


_ENRICHED_FIELDS: dict[str, str] = {}
_CONTAINERS = frozenset({dict, list})


def searchable_groups(doc: Mapping[str, Any]) -> list[tuple[str, Iterable[Any]]]:
    """Every searchable field of a metadata document with its values (not yet text, duplicates possible).

    Grouped by field because the ingest path looks values up per field (:class:`TermCache`); use
    :func:`searchable` for the (field, text) pairs. Built as a list, not yielded: this runs for
    every document ingested, and a generator's resumptions cost more than the appends.
    """
    groups: list[tuple[str, Iterable[Any]]] = []
    append = groups.append
    features_map = doc.get("features_map")
    if features_map:
        fields = _FEATURE_FIELDS
        for name, values in features_map.items():
            append((fields.get(name) or _feature_field(name), values))
        append(("features.name", features_map.keys()))
    enriched_fields = _ENRICHED_FIELDS
    for feature in doc.get("features") or ():
        if feature.get("type") in ENRICHED_TYPES:
            for part, v in (feature.get("enriched") or {}).items():
                if v is not None and v.__class__ not in _CONTAINERS:
                    field = enriched_fields.get(part)
                    if field is None:
                        field = enriched_fields.setdefault(part, f"features.enriched.{part}")
                    append((field, (v,)))
    filenames = doc.get("filename")
    if filenames:
        append(("filename", filenames))
    for stream in doc.get("datastreams") or ():
        for key in ("label", "sha256", "file_format", "mime"):
            v = stream.get(key)
            if v:
                append((f"datastreams.{key}", (v,)))
    source = doc.get("source")
    if source:
        references = source.get("encoded_references")
        if references:
            append(("source.encoded_references.value", [ref.get("value", "") for ref in references]))
            append(("source.encoded_references.key_value", [ref.get("key_value", "") for ref in references]))
        for key, v in (source.get("references") or {}).items():
            append((f"source.references.{key}", (v,)))
    return groups


def searchable(doc: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """Every (field, value) of a metadata document that queries can match (duplicates possible)."""
    for field, values in searchable_groups(doc):
        for v in values:
            yield field, v if isinstance(v, str) else str(v)


def tokens_and_values(doc: Mapping[str, Any]) -> tuple[str, set[tuple[str, str]]]:
    """The token text for FTS5 and the distinct (field, value) pairs of a document that ``vals`` lists."""
    pairs = {(f, v) for f, v in searchable(doc) if not too_long(v)}
    tokens = {value_token(f, v) for f, v in pairs}.union(key_tokens(doc))
    return " ".join(tokens), {(f, v) for f, v in pairs if f not in HASH_VALUE_FIELDS}


class TermCache:
    """The tokens of values this process has seen, and which of them the ``vals`` table already lists.

    Feature values repeat heavily across binaries (the same hosts, paths, signatures), so most of a
    document's (field, value) pairs were tokenised before and are already listed in ``vals`` for
    its security. One dictionary probe per pair answers both questions, before the write lock is
    taken. Before, a token cache and a separate set of listed (field, value, security) triples cost
    two probes of two large tables per pair, the second inside the write lock, where it was the
    largest single cost of the binary ingest path (with garbage collection between batches, this
    took ``bench.ingest`` at 200,000 events from 2,574 to 4,218 events/s). Entries are kept per
    field, then per value: no (field, value) tuple is built or hashed for a value seen before.

    A pair is marked as listed only by :meth:`listed`, called after the transaction that inserted
    it committed: a rolled-back batch leaves the cache as it was, so its retry inserts the rows.
    Securities are one bit each in the entry (the first 62 seen; later ones are simply never
    cached as listed, and ``INSERT OR IGNORE`` keeps them correct). Bounded; cleared when full.
    """

    def __init__(self, limit: int = 500_000) -> None:
        self.limit = limit
        self._fields: dict[str, dict[str, tuple[str, int]]] = {}
        self._count = 0
        self._bits: dict[str, int] = {}

    def _bit(self, security: str) -> int:
        bit = self._bits.get(security)
        if bit is None:
            bit = self._bits[security] = 1 << len(self._bits) if len(self._bits) < 62 else 0
        return bit

    def prepare(self, doc: Mapping[str, Any]) -> tuple[str, set[tuple[str, str]]]:
        """The token text of ``doc`` for FTS5 and its (field, value) pairs ``vals`` may still lack."""
        fields = self._fields
        if self._count >= self.limit:
            fields.clear()
            self._count = 0
        bit = self._bit(doc.get("security") or "")
        tokens: set[str] = set()
        unlisted: set[tuple[str, str]] = set()
        for field, values in searchable_groups(doc):
            entries = fields.get(field)
            if entries is None:
                entries = fields[field] = {}
            for value in values:
                if value.__class__ is not str:
                    value = str(value)
                entry = entries.get(value)
                if entry is None:
                    if too_long(value):
                        continue
                    entry = entries[value] = (
                        value_token(field, value), _NEVER_LISTED if field in HASH_VALUE_FIELDS else 0)
                    self._count += 1
                tokens.add(entry[0])
                if not entry[1] & bit and entry[1] != _NEVER_LISTED:
                    unlisted.add((field, value))
        tokens.update(key_tokens(doc))
        return " ".join(tokens), unlisted

    def forget(self) -> None:
        """Drop what is known to be listed (``vals`` rows were removed: listing.py)."""
        self._fields.clear()
        self._count = 0

    def listed(self, security: str, pairs: set[tuple[str, str]]) -> None:
        """Remember that ``vals`` now lists ``pairs`` for ``security`` (call after the commit)."""
        bit = self._bit(security)
        fields = self._fields
        for field, value in pairs:
            entries = fields.get(field)
            entry = entries.get(value) if entries is not None else None
            if entry is not None:
                entries[value] = (entry[0], entry[1] | bit)


def is_token_field(field: str) -> bool:
    return (
        field in TOKEN_FIELDS
        or field.startswith("features_map.")
        or field.startswith("features.enriched.")
        or field.startswith("source.references.")
    )
