"""Storing a stream of bytes: identify and write in one pass, publish only when both succeed.

Used by the stream API (``POST /api/v3/stream/...``) and by submissions, so bytes enter the store
one way only and are identified exactly once, as they arrive.
"""

from __future__ import annotations

from collections.abc import Iterable

from azul_metastore.blobs.port import BlobStore, BlobWriter
from azul_metastore.content.identify import Identifier
from azul_metastore.errors import PayloadTooLarge
from azul_metastore.models.events import DataLabel, Datastream

__all__ = ["StreamSink", "store_chunks"]


class StreamSink:
    """Feed chunks with :meth:`write`; :meth:`commit` stores them and returns the ``Datastream``.

    With ``identify=False`` only sha256 and size are filled in (the dispatcher's ``skip-identify``).
    ``max_bytes`` aborts the upload with PayloadTooLarge as soon as it is exceeded. Any error
    leaves nothing stored; call :meth:`abort` if you stop early yourself.
    """

    def __init__(self, blobs: BlobStore, source: str, label: DataLabel | str, *, identify: bool = True,
                 expected_sha256: str | None = None, max_bytes: int | None = None) -> None:
        self._label = DataLabel(label)
        self._writer: BlobWriter = blobs.open_writer(source, self._label.value, expected_sha256)
        self._ident = Identifier() if identify else None
        self._max = max_bytes
        self._size = 0

    def write(self, chunk: bytes) -> None:
        self._size += len(chunk)
        if self._max is not None and self._size > self._max:
            self.abort()
            raise PayloadTooLarge(f"upload is larger than the limit of {self._max} bytes", limit=self._max)
        try:
            if self._ident is not None:
                self._ident.update(chunk)
            self._writer.write(chunk)
        except BaseException:
            self.abort()
            raise

    def commit(self) -> Datastream:
        try:
            identity = self._ident.finish() if self._ident is not None else None
            sha256, size = self._writer.commit()
        except BaseException:
            self.abort()
            raise
        if identity is None:
            return Datastream(label=self._label, sha256=sha256, size=size)
        return identity.datastream(self._label)

    def abort(self) -> None:
        self._writer.abort()


def store_chunks(blobs: BlobStore, source: str, label: DataLabel | str, chunks: Iterable[bytes], *,
                 identify: bool = True, expected_sha256: str | None = None,
                 max_bytes: int | None = None) -> Datastream:
    """Store a whole stream (see :class:`StreamSink`); returns its ``Datastream``."""
    sink = StreamSink(blobs, source, label, identify=identify, expected_sha256=expected_sha256,
                      max_bytes=max_bytes)
    try:
        for chunk in chunks:
            sink.write(chunk)
    except BaseException:
        sink.abort()
        raise
    return sink.commit()
