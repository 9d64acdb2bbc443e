"""Identification in one streaming pass: hashes, fuzzy hashes, size, magic, mime and Azul file type.

Bytes are identified once, when they enter the store, so this sits on the upload path and has to
keep up with it (target ≥60 MB/s with everything on, on a 2-core machine). Single-threaded, the
six hashes cost ~15 ms per MB (ssdeep ~7, TLSH ~5, md5+sha1+sha256+sha512 ~4), i.e. ~64 MB/s
with nothing else running. hashlib, py-tlsh and libfuzzy (through ctypes) all release the GIL on
large buffers, so each ≥1 MiB batch is split in two: ssdeep runs on a shared helper thread while the
calling thread does TLSH and the cryptographic hashes. That roughly halves the wall time.

Usage::

    ident = Identifier()
    for chunk in chunks:
        ident.update(chunk)
    identity = ident.finish()          # Identity(sha256=..., file_format=..., ...)
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass

import magic as libmagic
import tlsh

from azul_metastore.content.formats import IDENTIFY_VERSION, file_format
from azul_metastore.content.fuzzy import FuzzyHash
from azul_metastore.models.events import DataLabel, Datastream

__all__ = ["Identifier", "Identity", "identify_bytes", "identify_chunks"]

#: how many leading bytes libmagic and the code heuristics look at
HEAD_BYTES = 256 * 1024
#: hashing work is batched to this size so the two-thread split pays for its hand-off
_BATCH = 1024 * 1024

_helper = ThreadPoolExecutor(max_workers=2, thread_name_prefix="identify")
_local = threading.local()


def _magic_pair() -> tuple[libmagic.Magic, libmagic.Magic]:
    # libmagic handles are not thread-safe: one pair per thread
    pair = getattr(_local, "magic", None)
    if pair is None:
        pair = (libmagic.Magic(), libmagic.Magic(mime=True))
        _local.magic = pair
    return pair


def describe(head: bytes) -> tuple[str, str]:
    """libmagic's description and mime type of the first bytes of a file."""
    desc, mime = _magic_pair()
    if not head:
        return "empty", "application/x-empty"
    return desc.from_buffer(head), mime.from_buffer(head)


@dataclass(frozen=True)
class Identity:
    """Everything identification knows about a byte string (the Azul ``FileInfo`` fields)."""

    sha256: str
    sha512: str
    sha1: str
    md5: str
    ssdeep: str
    tlsh: str | None
    size: int
    file_format: str
    file_extension: str | None
    mime: str
    magic: str

    def datastream(self, label: DataLabel | str) -> Datastream:
        """The wire ``Datastream`` for these bytes stored under ``label``."""
        return Datastream(label=DataLabel(label), identify_version=IDENTIFY_VERSION, **asdict(self))


class Identifier:
    """Streaming identification; feed any chunk sizes with :meth:`update`, then :meth:`finish` once."""

    def __init__(self) -> None:
        self._crypto = [hashlib.md5(), hashlib.sha1(), hashlib.sha256(), hashlib.sha512()]
        self._tlsh = tlsh.Tlsh()
        self._fuzzy = FuzzyHash()
        self._head = bytearray()
        self._pending: list[bytes] = []
        self._pending_len = 0
        self._size = 0
        self._done = False

    def update(self, chunk: bytes) -> None:
        if self._done:
            raise ValueError("finish() was already called")
        if not chunk:
            return
        chunk = bytes(chunk)
        self._size += len(chunk)
        if len(self._head) < HEAD_BYTES:
            self._head += chunk[: HEAD_BYTES - len(self._head)]
        self._pending.append(chunk)
        self._pending_len += len(chunk)
        if self._pending_len >= _BATCH:
            self._flush()

    def _flush(self) -> None:
        if not self._pending:
            return
        data = self._pending[0] if len(self._pending) == 1 else b"".join(self._pending)
        self._pending.clear()
        self._pending_len = 0
        if len(data) < 64 * 1024:
            self._hash_helper_share(data)
            self._hash_rest(data)
            return
        helper = _helper.submit(self._hash_helper_share, data)
        try:
            self._hash_rest(data)
        finally:
            helper.result()

    def _hash_helper_share(self, data: bytes) -> None:
        # ssdeep alone: ~7 ms/MB on random bytes, ~12 on executables (more context triggers)
        self._fuzzy.update(data)

    def _hash_rest(self, data: bytes) -> None:
        # TLSH ~5-6 ms/MB plus md5/sha1/sha256/sha512 ~4: the closest balance on executables
        self._tlsh.update(data)
        for h in self._crypto:
            h.update(data)

    def finish(self) -> Identity:
        self._flush()
        self._done = True
        md5, sha1, sha256, sha512 = (h.hexdigest() for h in self._crypto)
        head = bytes(self._head)
        desc, mime = describe(head)
        fmt, ext = file_format(desc, head)
        return Identity(
            sha256=sha256,
            sha512=sha512,
            sha1=sha1,
            md5=md5,
            ssdeep=self._fuzzy.digest(),
            tlsh=self._tlsh_digest(),
            size=self._size,
            file_format=fmt,
            file_extension=ext,
            mime=mime,
            magic=desc,
        )

    def _tlsh_digest(self) -> str | None:
        # TLSH needs ≥50 bytes with some variety; below that there is no hash, not an error
        try:
            self._tlsh.final()
            digest = self._tlsh.hexdigest()
        except ValueError:
            return None
        return None if not digest or digest == "TNULL" else digest


def identify_chunks(chunks: Iterable[bytes]) -> Identity:
    ident = Identifier()
    for chunk in chunks:
        ident.update(chunk)
    return ident.finish()


def identify_bytes(data: bytes) -> Identity:
    ident = Identifier()
    ident.update(data)
    return ident.finish()
