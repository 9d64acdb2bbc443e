"""Strings in a window of a binary, shaped as Azul's ``BinaryStrings`` / ``CommonBinaryStrings``
(inventory §6.9), for the ``/api/v0/binaries/.../strings`` routes.

Two encodings are found, as in Azul: ASCII runs (space to ``~`` and tab) and UTF-16LE runs of the
same characters each followed by a zero byte. One deliberate difference (inventory §11 item 38):
a string longer than ``max_length`` is not dropped but truncated to ``max_length`` characters; its
``length`` keeps the real length, so ``length > len(string)`` flags the truncation without adding a
field (azul-client validates ``SearchResult`` strictly).

The caller reads a window (``offset``, at most ``max_bytes_to_read``) from the blob store and passes
its bytes and the file's total length. A string running over the end of a window that is not the end
of the file is left for the next page, so no string is cut in two by paging.
"""

from __future__ import annotations

import re
import time
from typing import Any

import regex as _regex

from azul_metastore.errors import BadRequest

__all__ = ["REGEX_SECONDS", "common_strings", "find_strings", "search_hex"]

#: how long a caller's regular expression may run over one page of strings: it comes from the
#: caller, and Python's ``re`` cannot be stopped (``(a{1,2})+b`` took a minute on 40 characters),
#: so patterns run in the ``regex`` module, which can
REGEX_SECONDS = 5.0

ASCII, UTF16 = "ascii", "utf-16le"
_PRINTABLE = rb"[\t\x20-\x7e]"


def _patterns(min_length: int) -> list[tuple[str, re.Pattern[bytes], int]]:
    n = max(1, min_length)
    return [(ASCII, re.compile(_PRINTABLE + b"{%d,}" % n), 1),
            (UTF16, re.compile(b"(?:" + _PRINTABLE + b"\x00){%d,}" % n), 2)]


def _scan(data: bytes, min_length: int) -> list[tuple[int, int, str, str]]:
    """Every string as ``(start, end, encoding, text)`` sorted by start (window-relative)."""
    if min_length > len(data):  # none can be that long (and re refuses repeats past 2**32)
        return []
    found = []
    for enc, pattern, width in _patterns(min_length):
        for m in pattern.finditer(data):
            raw = m.group()
            text = raw.decode("ascii") if width == 1 else raw[::2].decode("ascii")
            found.append((m.start(), m.end(), enc, text))
    found.sort(key=lambda f: (f[0], f[2]))
    return found


def find_strings(data: bytes, *, offset: int = 0, content_length: int | None = None, min_length: int = 4,
                 max_length: int = 200, take_n_strings: int = 1000, filter: str | None = None,
                 regex: str | None = None) -> dict[str, Any]:
    """``BinaryStrings`` for ``data``, the bytes of the file from ``offset``.

    Raises BadRequest for an invalid regex or lengths.
    """
    if min_length < 1 or max_length < min_length:
        raise BadRequest("need 1 <= min_length <= max_length", min_length=min_length, max_length=max_length)
    try:
        rx = _regex.compile(regex) if regex else None
    except (_regex.error, OverflowError, RecursionError, ValueError) as exc:
        raise BadRequest(f"invalid regex {regex!r}: {exc}") from exc
    deadline = time.monotonic() + REGEX_SECONDS
    total = content_length if content_length is not None else offset + len(data)
    window_end = offset + len(data)
    needle = filter.lower() if filter else None
    results: list[dict[str, Any]] = []
    next_offset = window_end
    has_more = window_end < total
    for start, end, enc, text in _scan(data, min_length):
        if end == len(data) and window_end < total and start > 0:
            next_offset, has_more = offset + start, True  # may continue past the window: next page
            break
        if needle is not None and needle not in text.lower():
            continue
        if rx is not None:
            try:
                matched = rx.search(text, timeout=max(deadline - time.monotonic(), 0.001))
            except TimeoutError:
                # a pattern that backtracks without end ((a+)+b): what was found so far, and
                # ``time_out``; the next page starts at this string
                return {"strings": results, "has_more": True, "next_offset": offset + start, "time_out": True}
            if not matched:
                continue
        if len(results) >= take_n_strings:
            next_offset, has_more = offset + start, True
            break
        results.append({"string": text[:max_length], "offset": offset + start, "length": len(text), "encoding": enc})
    return {"strings": results, "has_more": has_more, "next_offset": next_offset, "time_out": False}


def common_strings(a: bytes, b: bytes, *, min_length: int = 4, max_length: int = 200, take_n_strings: int = 5000,
                   complete: bool = True) -> dict[str, Any]:
    """``CommonBinaryStrings``: distinct strings present in both windows, sorted.

    ``complete`` says whether both windows were the whole files; ``incomplete`` is also set when
    more than ``take_n_strings`` strings were in common.
    """
    left = {t[:max_length] for _, _, _, t in _scan(a, min_length)}
    right = {t[:max_length] for _, _, _, t in _scan(b, min_length)}
    both = sorted(left & right)
    return {"strings": both[:take_n_strings], "incomplete": (not complete) or len(both) > take_n_strings}


def _show(pattern: bytes) -> str:
    return "".join(chr(c) if 0x20 <= c < 0x7F and c != 0x5C else f"\\x{c:02x}" for c in pattern)


def search_hex(data: bytes, hex_filter: str, *, offset: int = 0, content_length: int | None = None,
               take_n_hits: int = 1000) -> dict[str, Any]:
    """Occurrences of a byte pattern given as hex (optional ``0x``), as ``BinaryStrings`` with
    encoding ``hex``. ``take_n_hits=0`` answers no hits (Azul answered 500)."""
    text = re.sub(r"\s+", "", hex_filter or "")
    text = text[2:] if text.lower().startswith("0x") else text
    try:
        pattern = bytes.fromhex(text)
    except ValueError as exc:
        raise BadRequest(f"{hex_filter!r} is not hex (e.g. '4d5a' or '0x4d5a')") from exc
    if not pattern:
        raise BadRequest("the hex filter is empty")
    total = content_length if content_length is not None else offset + len(data)
    window_end = offset + len(data)
    # a match starting in the last len-1 bytes of a window may run on into the next: leave it for then
    limit = len(data) if window_end >= total else max(len(data) - len(pattern) + 1, 0)
    hits: list[dict[str, Any]] = []
    pos = data.find(pattern)
    while pos != -1 and pos < limit:
        if len(hits) >= take_n_hits:
            return {"strings": hits, "has_more": True, "next_offset": offset + pos, "time_out": False}
        hits.append({"string": _show(pattern), "offset": offset + pos, "length": len(pattern), "encoding": "hex"})
        pos = data.find(pattern, pos + 1)
    return {"strings": hits, "has_more": window_end < total, "next_offset": offset + limit, "time_out": False}
