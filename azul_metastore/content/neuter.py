"""Neutering for downloads: CaRT (the default), MALPZ, AES-256 ZIP, and plain bytes only by setting.

Every format is produced as a generator of chunks from a generator of chunks, so a download never
holds the file in memory:

* CaRT: the mandatory header, an optional header (``name`` only when asked), the payload through
  zlib (fastest level, as the ``cart`` tool uses) and ARC4, then the footer. Like Azul we put no
  digests in it by default; pass ``digests=True`` to add md5/sha1/sha256/length as ``cart`` does.
* MALPZ: the ``malpz`` library builds the whole document in memory, but the format itself streams:
  JSON key order is free, so we write ``classification`` (and ``meta``) first, then the hex payload
  as it arrives, and ``md5sum`` last, all through one zlib stream. ``malpz.unwrap`` reads it.
* ZIP: WinZip AES-256 (pyzipper) with the configured password, written to an unseekable sink so
  entries use data descriptors and stream. Note Info-ZIP ``unzip`` 6.0 cannot read AES entries
  ("unsupported compression method 99"); 7-Zip, WinZip, macOS Archive Utility and pyzipper can.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import pyzipper
from Crypto.Cipher import ARC4

from azul_metastore.content.unneuter import CART_FOOTER, CART_HEADER, MALPZ_HEADER
from azul_metastore.errors import BadRequest
from azul_metastore.settings import Settings

__all__ = ["DownloadFormat", "NeuteredDownload", "cart_chunks", "malpz_chunks", "neuter", "zip_chunks"]

#: CaRT's published default key: the first eight digits of pi, twice. Anyone can unpack with it;
#: the point of CaRT is that antivirus and careless double-clicks cannot.
CART_DEFAULT_KEY = bytes([3, 1, 4, 1, 5, 9, 2, 6]) * 2


class DownloadFormat(StrEnum):
    cart = "cart"
    malpz = "malpz"
    zip = "zip"
    plain = "plain"


def cart_chunks(chunks: Iterable[bytes], *, name: str | None = None, digests: bool = False,
                key: bytes = CART_DEFAULT_KEY) -> Iterator[bytes]:
    """CaRT-pack a stream of chunks. ``name`` goes in the optional header when given."""
    header_meta: dict[str, Any] = {"name": name} if name else {}
    opt_header = b""
    if header_meta:
        text = json.dumps(header_meta, separators=(",", ":"), sort_keys=True).encode()
        opt_header = ARC4.new(key).encrypt(text)
    first = CART_HEADER.pack(b"CART", 1, 0, key, len(opt_header)) + opt_header
    pos = len(first)
    yield first
    hashers = [hashlib.md5(), hashlib.sha1(), hashlib.sha256()] if digests else []
    length = 0
    cipher = ARC4.new(key)
    deflater = zlib.compressobj(zlib.Z_BEST_SPEED)
    for chunk in chunks:
        length += len(chunk)
        for h in hashers:
            h.update(chunk)
        out = deflater.compress(chunk)
        if out:
            pos += len(out)
            yield cipher.encrypt(out)
    out = deflater.flush()
    pos += len(out)
    tail = cipher.encrypt(out) if out else b""
    opt_footer = b""
    if digests:
        footer_meta = {"md5": hashers[0].hexdigest(), "sha1": hashers[1].hexdigest(),
                       "sha256": hashers[2].hexdigest(), "length": str(length)}
        text = json.dumps(footer_meta, separators=(",", ":"), sort_keys=True).encode()
        opt_footer = ARC4.new(key).encrypt(text)
    yield tail + opt_footer + CART_FOOTER.pack(b"TRAC", 0, pos, len(opt_footer))


def malpz_chunks(chunks: Iterable[bytes], *, classification: str,
                 meta: dict[str, Any] | None = None) -> Iterator[bytes]:
    """MALPZ-wrap a stream of chunks without holding it (see the module docstring)."""
    head: dict[str, Any] = {"classification": classification}
    if meta is not None:
        head["meta"] = meta
    # ensure_ascii keeps the document ASCII, which malpz.unwrap requires
    prefix = json.dumps(head)[:-1] + ', "data": "'
    deflater = zlib.compressobj(zlib.Z_BEST_SPEED)
    md5 = hashlib.md5()
    yield MALPZ_HEADER + deflater.compress(prefix.encode("ascii"))
    for chunk in chunks:
        md5.update(chunk)
        out = deflater.compress(chunk.hex().encode("ascii"))
        if out:
            yield out
    suffix = f'", "md5sum": "{md5.hexdigest()}"}}'.encode("ascii")
    yield deflater.compress(suffix) + deflater.flush()


class _Sink:
    """A write-only, unseekable file for zipfile: it then streams with data descriptors."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def write(self, data: bytes) -> int:
        self._parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def drain(self) -> bytes:
        out = b"".join(self._parts)
        self._parts.clear()
        return out


def zip_chunks(entries: Iterable[tuple[str, Iterable[bytes]]], *, password: str | None,
               compresslevel: int = 1) -> Iterator[bytes]:
    """A ZIP of ``(name, chunks)`` entries, AES-256 encrypted when ``password`` is set.

    Deflate level 1 keeps pace with the network; samples are often packed already.
    """
    sink = _Sink()
    if password:
        zf: pyzipper.ZipFile = pyzipper.AESZipFile(sink, "w", compression=pyzipper.ZIP_DEFLATED,
                                                   compresslevel=compresslevel, encryption=pyzipper.WZ_AES)
        zf.setpassword(password.encode())
        zf.setencryption(pyzipper.WZ_AES, nbits=256)
    else:
        zf = pyzipper.ZipFile(sink, "w", compression=pyzipper.ZIP_DEFLATED, compresslevel=compresslevel)
    with zf:
        for name, chunks in entries:
            with zf.open(name, "w", force_zip64=True) as member:
                for chunk in chunks:
                    member.write(chunk)
                    out = sink.drain()
                    if out:
                        yield out
            out = sink.drain()
            if out:
                yield out
    yield sink.drain()


@dataclass
class NeuteredDownload:
    """What a download route needs: the body, its media type and the file name suffix to offer."""

    chunks: Iterator[bytes]
    media_type: str
    suffix: str


def neuter(chunks: Iterable[bytes], fmt: DownloadFormat | str, *, settings: Settings, name: str,
           classification: str = "") -> NeuteredDownload:
    """Wrap a download in the requested format; raises BadRequest for ``plain`` unless allowed.

    ``name`` names the ZIP entry (and nothing else: CaRT downloads carry no name, as in Azul);
    ``classification`` is the MALPZ classification field (the binary's security string).
    """
    fmt = DownloadFormat(fmt)
    if fmt is DownloadFormat.cart:
        return NeuteredDownload(cart_chunks(chunks), "application/octet-stream", ".cart")
    if fmt is DownloadFormat.malpz:
        return NeuteredDownload(malpz_chunks(chunks, classification=classification),
                                "application/octet-stream", ".malpz")
    if fmt is DownloadFormat.zip:
        password = settings.download_zip_password.get_secret_value()
        return NeuteredDownload(zip_chunks([(name, chunks)], password=password), "application/zip", ".zip")
    if not settings.download_allow_plain:
        raise BadRequest("plain downloads are disabled on this server; ask for cart, malpz or zip",
                         reason="plain_download_disabled")
    return NeuteredDownload(iter(chunks), "application/octet-stream", "")

