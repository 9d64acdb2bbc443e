"""Content views of stored bytes (inventory §2.2, §6.9, §7.4): hex view, strings, hex search and
the strings two binaries share.

The bytes are found the way Azul finds them: the index names the (source, label) pairs of documents
the caller may see that hold a datastream with that sha256, and the first pair the blob store has is
read, in ranges. A caller who cannot see any such document gets NotFound, exactly as if the bytes did
not exist, so the answer never reveals that they do.

Strings and hex search read the window in chunks (:data:`CHUNK`), so memory stays bounded however
large ``max_bytes_to_read`` is; the hex view holds its whole window (it is one JSON answer) and is
capped at :data:`MAX_HEX_BYTES` per page, continuing through ``has_more``/``next_offset``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from azul_metastore.blobs.port import BlobStore
from azul_metastore.content import hexview
from azul_metastore.content import strings as content_strings
from azul_metastore.errors import InvalidInput, NotFound
from azul_metastore.index.port import MetadataStore
from azul_metastore.search.models_features import BinaryHexView, BinaryStrings, CommonBinaryStrings
from azul_metastore.security import Access

__all__ = ["CHUNK", "MAX_GROW", "MAX_HEX_BYTES", "Located", "common_strings", "hex_view", "locate", "search_hex",
           "strings"]

CHUNK = 8 * 1024 * 1024
MAX_HEX_BYTES = 10 * 1024 * 1024
#: longest run of string bytes read to keep one string whole; longer ones are split
MAX_GROW = 4 * CHUNK
#: bedrock's SearchResultType values for the encodings the strings finder reports
#: bytes a found string may contain (printable ASCII, tab, and the zero bytes of UTF-16LE)
_STRINGISH = bytes([0x00, 0x09, *range(0x20, 0x7F)])
_ENCODINGS = {content_strings.ASCII: "ASCII", content_strings.UTF16: "UTF-16", "hex": "hex"}


@dataclass(frozen=True)
class Located:
    """Where the bytes of a sha256 are readable for this caller."""

    sha256: str
    source: str
    label: str
    size: int


def locate(index: MetadataStore, blobs: BlobStore, sha256: str, access: Access) -> Located:
    """The first (source, label) holding these bytes that the caller may see and the blob store has.

    Raises NotFound when there is none (absent, or not visible to the caller: the same answer).
    """
    sha256 = sha256.lower()
    for source, label in index.stream_sources(sha256, access):
        if not source or not label:
            continue
        info = blobs.head(source, label, sha256)
        if info is not None:
            return Located(sha256, source, label, info.size)
    raise NotFound(f"no content for {sha256} that you may see", sha256=sha256)


def _read(blobs: BlobStore, where: Located, start: int, stop: int) -> bytes:
    if stop <= start:
        return b""
    return b"".join(blobs.open_range(where.source, where.label, where.sha256, start, stop))


def _window(where: Located, offset: int, max_bytes: int | None) -> tuple[int, int]:
    if offset < 0:
        raise InvalidInput("offset must be 0 or more", offset=offset)
    if max_bytes is not None and max_bytes < 0:
        raise InvalidInput("max_bytes_to_read must be 0 or more", max_bytes_to_read=max_bytes)
    start = min(offset, where.size)
    end = where.size if max_bytes is None else min(where.size, start + max_bytes)
    return start, end


def hex_view(blobs: BlobStore, where: Located, *, offset: int = 0, max_bytes_to_read: int | None = None,
             shortform: bool = False) -> BinaryHexView:
    """16-byte rows from ``offset``; at most MAX_HEX_BYTES per answer (``has_more`` says if more)."""
    start, end = _window(where, offset, max_bytes_to_read)
    end = min(end, start + MAX_HEX_BYTES)
    view = hexview.hex_view(_read(blobs, where, start, end), offset=start, content_length=where.size,
                            shortform=shortform)
    return BinaryHexView.model_validate(view)


def _named(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**s, "encoding": _ENCODINGS.get(s["encoding"], s["encoding"])} for s in found]


def _string_safe_end(data: bytes) -> int:
    """Where ``data`` may be cut without cutting a string: after its last byte that no ASCII or
    UTF-16LE string can contain (0 when every byte could belong to one)."""
    return len(data.rstrip(_STRINGISH))


def _chunked(blobs: BlobStore, where: Located, start: int, end: int, wanted: int,
             scan: Callable[[bytes, int, int], dict[str, Any]],
             safe_end: Callable[[bytes], int] | None = None) -> BinaryStrings:
    """Run ``scan(data, offset, still_wanted)`` over [start, end) a chunk at a time.

    ``scan`` answers a ``BinaryStrings`` dict for one chunk and may leave what could run on past the
    chunk for the next one (its ``next_offset``). ``safe_end`` moves a chunk's end back to where
    nothing can span it, so a string is never cut by a chunk or a page. Scanning stops when enough
    were found or the window is done; ``next_offset`` is where the next page starts.
    """
    found: list[dict[str, Any]] = []
    pos = start
    has_more, next_offset = end < where.size, end
    while pos < end:
        stop = min(end, pos + CHUNK)
        data = _read(blobs, where, pos, stop)
        cut = len(data)
        if safe_end is not None and stop < where.size:
            cut = safe_end(data)
            # a string longer than a chunk: read on (up to MAX_GROW) rather than cut it
            while cut == 0 and stop < end and len(data) < MAX_GROW:
                more = _read(blobs, where, stop, min(end, stop + CHUNK))
                data, stop = data + more, stop + len(more)
                cut = safe_end(data)
        last = stop >= end
        if 0 < cut < len(data):
            data, stop = data[:cut], pos + cut
        page = scan(data, pos, wanted - len(found))
        found += page["strings"]
        if page["has_more"] and page["next_offset"] < stop:
            # full, or something left for the next chunk
            if len(found) >= wanted or last or page["next_offset"] <= pos:
                has_more, next_offset = True, page["next_offset"]
                break
            pos = page["next_offset"]
            continue
        if last:
            if stop < end:  # the window ended inside a string: the next page starts with it
                has_more, next_offset = True, stop
            break
        pos = stop
    return BinaryStrings(strings=_named(found), has_more=has_more, next_offset=next_offset, time_out=False)


def strings(blobs: BlobStore, where: Located, *, min_length: int = 4, max_length: int = 200, offset: int = 0,
            max_bytes_to_read: int = 10 * 1024 * 1024, take_n_strings: int = 1000, filter: str | None = None,
            regex: str | None = None) -> BinaryStrings:
    """ASCII and UTF-16LE strings in the window, longest ones truncated (never dropped).

    Raises BadRequest for an invalid regex or lengths.
    """
    if take_n_strings < 0:
        raise InvalidInput("take_n_strings must be 0 or more", take_n_strings=take_n_strings)
    start, end = _window(where, offset, max_bytes_to_read)

    def scan(data: bytes, at: int, wanted: int) -> dict[str, Any]:
        return content_strings.find_strings(data, offset=at, content_length=where.size, min_length=min_length,
                                            max_length=max_length, take_n_strings=wanted, filter=filter or None,
                                            regex=regex or None)

    if start >= end:
        scan(b"", start, take_n_strings)  # still validates the regex and lengths
    return _chunked(blobs, where, start, end, take_n_strings, scan, _string_safe_end)


def search_hex(blobs: BlobStore, where: Located, hex_filter: str, *, offset: int = 0,
               max_bytes_to_read: int | None = None, take_n_hits: int = 1000) -> BinaryStrings:
    """Offsets of a byte pattern given in hex. ``take_n_hits=0`` answers no hits (Azul: 500).

    Raises BadRequest for a filter that is not hex.
    """
    if take_n_hits < 0:
        raise InvalidInput("take_n_hits must be 0 or more", take_n_hits=take_n_hits)
    start, end = _window(where, offset, max_bytes_to_read)

    def scan(data: bytes, at: int, wanted: int) -> dict[str, Any]:
        return content_strings.search_hex(data, hex_filter, offset=at, content_length=where.size, take_n_hits=wanted)

    if start >= end:
        scan(b"", start, take_n_hits)  # still validates the filter
    return _chunked(blobs, where, start, end, take_n_hits, scan)


def common_strings(blobs: BlobStore, a: Located, b: Located, *, min_length: int = 4, max_length: int = 200,
                   max_bytes_to_read: int = 10 * 1024 * 1024, take_n_strings: int = 5000) -> CommonBinaryStrings:
    """Distinct strings found in the first ``max_bytes_to_read`` bytes of both binaries, sorted."""
    if min_length < 1 or max_length < min_length or max_bytes_to_read < 0 or take_n_strings < 0:
        raise InvalidInput("need 1 <= min_length <= max_length and non-negative max_bytes_to_read/take_n_strings")
    left = _read(blobs, a, 0, min(a.size, max_bytes_to_read))
    right = _read(blobs, b, 0, min(b.size, max_bytes_to_read))
    complete = a.size <= max_bytes_to_read and b.size <= max_bytes_to_read
    found = content_strings.common_strings(left, right, min_length=min_length, max_length=max_length,
                                           take_n_strings=take_n_strings, complete=complete)
    return CommonBinaryStrings.model_validate(found)
