"""Undo neutering on upload: CaRT and MALPZ, recognised by their headers.

CaRT is unwrapped as a stream (ARC4 then zlib, both incremental), so an upload of any size passes
through in bounded memory; zlib knows where the payload ends, so the footer needs no look-ahead.
MALPZ is a zlib-compressed JSON document with the payload hex-encoded inside, which cannot be
parsed before it is complete: it is buffered, and ``malpz_max_bytes`` caps how much we accept.

Every problem raises :class:`~azul_metastore.errors.UnsupportedContent` whose ``reason`` names it
(``truncated_cart``, ``corrupt_cart``, ``cart_private_key``, ``truncated_malpz``, ``corrupt_malpz``,
``malpz_version``, ``malpz_too_large``, ``too_large``).
"""

from __future__ import annotations

import binascii
import hashlib
import json
import struct
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from Crypto.Cipher import ARC4

from azul_metastore.errors import UnsupportedContent

__all__ = ["Unwrapped", "detect", "unneuter", "unwrap_cart", "unwrap_malpz"]

NeuterFormat = Literal["cart", "malpz"]

CART_HEADER = struct.Struct("<4shQ16sQ")  # magic, version, reserved, ARC4 key, optional header length
CART_FOOTER = struct.Struct("<4sQQQ")  # magic, reserved, optional footer position, optional footer length
MALPZ_HEADER = b"\xf0\xf0.malpz_v0003\x00\x0f\x0f"
_MALPZ_PREFIX = b"\xf0\xf0.malpz_v"
#: how much we need to see before deciding what an upload is
SNIFF_BYTES = max(CART_HEADER.size, len(MALPZ_HEADER))
#: largest piece of output produced per decompression step (bounds memory on zlib bombs)
_OUT_STEP = 1024 * 1024


def detect(head: bytes) -> NeuterFormat | None:
    """``"cart"``, ``"malpz"`` or None for the first bytes of an upload (≥ ``SNIFF_BYTES`` if any)."""
    if len(head) >= CART_HEADER.size:
        magic, version, reserved, _, _ = CART_HEADER.unpack_from(head)
        if magic == b"CART" and version == 1 and reserved == 0:
            return "cart"
    if head.startswith(_MALPZ_PREFIX):
        return "malpz"
    return None


@dataclass
class Unwrapped:
    """An upload with its neutering removed: ``chunks`` yields the original bytes, once."""

    format: NeuterFormat | None
    chunks: Iterator[bytes]
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str | None:
        """The original file name the neutering carried (CaRT ``name``, MALPZ ``filename`` feature)."""
        name = self.metadata.get("name")
        if isinstance(name, str) and name:
            return name
        meta = self.metadata.get("meta")
        features = meta.get("features") if isinstance(meta, dict) else None
        fname = features.get("filename") if isinstance(features, dict) else None  # metadata is the uploader's
        if isinstance(fname, list) and fname and isinstance(fname[0], str):
            return fname[0]
        return None


def _peek(chunks: Iterable[bytes], need: int) -> tuple[bytes, Iterator[bytes]]:
    it = iter(chunks)
    head = b""
    for chunk in it:
        head += chunk
        if len(head) >= need:
            break
    return head, it


def _chain(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    if first:
        yield first
    yield from rest


def _capped(chunks: Iterator[bytes], max_bytes: int | None) -> Iterator[bytes]:
    total = 0
    for chunk in chunks:
        total += len(chunk)
        if max_bytes is not None and total > max_bytes:
            raise UnsupportedContent(f"unwrapped content is larger than the limit of {max_bytes} bytes",
                                     reason="too_large", limit=max_bytes)
        yield chunk


def unneuter(chunks: Iterable[bytes], *, malpz_max_bytes: int, max_bytes: int | None = None) -> Unwrapped:
    """Recognise CaRT or MALPZ by the first bytes and unwrap; anything else passes through untouched.

    CaRT metadata is parsed before this returns (so ``name`` is known); the payload is decoded as
    ``chunks`` is consumed, and errors in it surface there. ``max_bytes`` bounds the unwrapped size.
    """
    head, rest = _peek(chunks, SNIFF_BYTES)
    fmt = detect(head)
    source = _chain(head, rest)
    if fmt == "cart":
        meta, payload = unwrap_cart(source)
        return Unwrapped("cart", _capped(payload, max_bytes), meta)
    if fmt == "malpz":
        data, meta = unwrap_malpz(source, malpz_max_bytes)
        return Unwrapped("malpz", _capped(iter([data] if data else []), max_bytes), meta)
    return Unwrapped(None, source)


# --- CaRT ------------------------------------------------------------------------------------


def unwrap_cart(chunks: Iterable[bytes]) -> tuple[dict[str, Any], Iterator[bytes]]:
    """Parse a CaRT header now and return ``(optional header, payload iterator)``."""
    it = iter(chunks)
    buf = bytearray()
    for chunk in it:
        buf += chunk
        if len(buf) >= CART_HEADER.size:
            break
    if len(buf) < CART_HEADER.size:
        raise UnsupportedContent("CaRT file is truncated (incomplete header)", reason="truncated_cart")
    magic, version, reserved, key, opt_len = CART_HEADER.unpack_from(buf)
    if magic != b"CART" or version != 1 or reserved != 0:
        raise UnsupportedContent("not a CaRT v1 file", reason="corrupt_cart")
    if key == b"\0" * 16:
        raise UnsupportedContent("CaRT file was packed with a private ARC4 key and cannot be unpacked",
                                 reason="cart_private_key")
    if opt_len > 1024 * 1024:
        raise UnsupportedContent("CaRT optional header is implausibly large", reason="corrupt_cart")
    need = CART_HEADER.size + opt_len
    for chunk in it:
        if len(buf) >= need:
            it = _chain(bytes(chunk), it)
            break
        buf += chunk
    if len(buf) < need:
        raise UnsupportedContent("CaRT file is truncated (incomplete optional header)", reason="truncated_cart")
    header: dict[str, Any] = {}
    if opt_len:
        try:
            header = json.loads(ARC4.new(key).decrypt(bytes(buf[CART_HEADER.size:need])))
        except ValueError as exc:
            raise UnsupportedContent("CaRT optional header does not decrypt", reason="corrupt_cart") from exc
        if not isinstance(header, dict):
            raise UnsupportedContent("CaRT optional header is not an object", reason="corrupt_cart")
    rest = bytes(buf[need:])
    return header, _cart_payload(key, _chain(rest, it))


def _cart_payload(key: bytes, chunks: Iterator[bytes]) -> Iterator[bytes]:
    cipher = ARC4.new(key)
    inflater = zlib.decompressobj()
    tail = bytearray()  # raw bytes after the zlib stream: optional footer + mandatory footer
    for chunk in chunks:
        if inflater.eof:
            tail += chunk
            continue
        pending = cipher.decrypt(chunk)
        while pending:
            try:
                out = inflater.decompress(pending, _OUT_STEP)
            except zlib.error as exc:
                raise UnsupportedContent("CaRT payload does not decompress", reason="corrupt_cart") from exc
            if out:
                yield out
            if inflater.eof:
                tail += chunk[len(chunk) - len(inflater.unused_data):] if inflater.unused_data else b""
                break
            pending = inflater.unconsumed_tail
        if len(tail) > 2 * 1024 * 1024:
            raise UnsupportedContent("CaRT footer is implausibly large", reason="corrupt_cart")
    if not inflater.eof:
        raise UnsupportedContent("CaRT file is truncated (payload ends early)", reason="truncated_cart")
    if len(tail) < CART_FOOTER.size:
        raise UnsupportedContent("CaRT file is truncated (no footer)", reason="truncated_cart")
    magic, reserved, _, opt_len = CART_FOOTER.unpack_from(tail, len(tail) - CART_FOOTER.size)
    if magic != b"TRAC" or reserved != 0 or opt_len != len(tail) - CART_FOOTER.size:
        raise UnsupportedContent("CaRT footer is invalid", reason="corrupt_cart")


# --- MALPZ -----------------------------------------------------------------------------------


def unwrap_malpz(chunks: Iterable[bytes], max_bytes: int) -> tuple[bytes, dict[str, Any]]:
    """Unwrap a MALPZ v0003 file into ``(payload, metadata)``; the payload may be ≤ ``max_bytes``.

    The decompressed JSON holds the payload as hex (twice its size), so decompression stops as
    soon as the document could no longer hold a payload within the limit.
    """
    it = iter(chunks)
    head, it = _peek(it, len(MALPZ_HEADER))
    if not head.startswith(_MALPZ_PREFIX) or len(head) < len(MALPZ_HEADER):
        raise UnsupportedContent("MALPZ file is truncated (incomplete header)", reason="truncated_malpz")
    if head[: len(MALPZ_HEADER)] != MALPZ_HEADER:
        raise UnsupportedContent("only MALPZ version 0003 is supported", reason="malpz_version")
    doc_limit = 2 * max_bytes + 1024 * 1024  # hex payload plus generous room for metadata
    inflater = zlib.decompressobj()
    doc = bytearray()
    for chunk in _chain(head[len(MALPZ_HEADER):], it):
        pending = chunk
        while pending and not inflater.eof:
            try:
                doc += inflater.decompress(pending, _OUT_STEP)
            except zlib.error as exc:
                raise UnsupportedContent("MALPZ payload does not decompress", reason="corrupt_malpz") from exc
            if len(doc) > doc_limit:
                raise UnsupportedContent(
                    f"MALPZ content is larger than malpz_max_bytes ({max_bytes} bytes); MALPZ must be held in "
                    "memory, so larger files must be uploaded raw or as CaRT",
                    reason="malpz_too_large", limit=max_bytes)
            pending = inflater.unconsumed_tail
    if not inflater.eof:
        raise UnsupportedContent("MALPZ file is truncated (payload ends early)", reason="truncated_malpz")
    try:
        maldict = json.loads(bytes(doc))
        data = binascii.unhexlify(maldict.pop("data"))
    except (ValueError, KeyError, TypeError, AttributeError, binascii.Error) as exc:
        raise UnsupportedContent("MALPZ document is not valid", reason="corrupt_malpz") from exc
    if len(data) > max_bytes:
        raise UnsupportedContent(f"MALPZ content is larger than malpz_max_bytes ({max_bytes} bytes)",
                                 reason="malpz_too_large", limit=max_bytes)
    md5 = maldict.get("md5sum")
    if md5 is not None and md5 != hashlib.md5(data).hexdigest():
        raise UnsupportedContent("MALPZ md5sum does not match its content", reason="corrupt_malpz")
    return data, maldict
