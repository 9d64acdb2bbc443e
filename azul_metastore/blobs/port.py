"""The blob store port: bytes keyed by (source, label, sha256), as the dispatcher's stream API keys them.

A *reference* is one (source, label, sha256) triple; the *object* is the bytes of one sha256. An
adapter keeps one copy of the object however many references point at it, and removes it when the
last reference goes. References carry the time they were (last) stored, which age-off compares.

The port is deliberately narrow (six methods) so that files on disk and an S3 bucket can both
honour every one of them; the behaviour suite in ``tests/backends/test_blob_store.py`` holds every
adapter to the same answers. Adapters raise only our errors (:mod:`azul_metastore.errors`):
``NotFound`` for a missing reference, ``InvalidInput`` for bad keys or a sha256 mismatch,
``BackendUnavailable`` when the storage itself fails.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from azul_metastore.errors import InvalidInput

__all__ = ["BlobInfo", "BlobRef", "BlobStore", "BlobWriter", "check_key"]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def check_key(source: str, label: str, sha256: str | None = None) -> str | None:
    """Validate a key (sources and labels become path segments and object-key prefixes).

    Returns the lower-cased sha256. Raises InvalidInput naming what is accepted.
    """
    for what, value in (("source", source), ("label", label)):
        if not _NAME.fullmatch(value) or ".." in value:  # fullmatch: "$" also matches before a final newline
            raise InvalidInput(f"{what} {value!r} is not valid: use letters, digits, '_', '-' and '.' "
                               "(1-128 characters, starting with a letter or digit)", field=what)
    if sha256 is None:
        return None
    low = sha256.lower()
    if not _SHA256.fullmatch(low):
        raise InvalidInput(f"{sha256!r} is not a sha256 (64 hex digits)", field="sha256")
    return low


@dataclass(frozen=True)
class BlobInfo:
    """What HEAD answers for a reference."""

    size: int
    stored_at: datetime  # timezone-aware UTC; when this reference was last stored or copied


@dataclass(frozen=True)
class BlobRef:
    source: str
    label: str
    sha256: str
    stored_at: datetime


class BlobWriter(Protocol):
    """An in-progress upload. Nothing is visible to readers until :meth:`commit` returns."""

    def write(self, chunk: bytes) -> None: ...

    def commit(self) -> tuple[str, int]:
        """Verify, then publish the object and the reference atomically; returns ``(sha256, size)``.

        Raises InvalidInput (``reason="sha256_mismatch"``) if an expected sha256 was given and the
        bytes differ; nothing is stored then.
        """
        ...

    def abort(self) -> None:
        """Throw the upload away (safe to call after commit or twice)."""
        ...


class BlobStore(Protocol):
    def open_writer(self, source: str, label: str, expected_sha256: str | None = None) -> BlobWriter:
        """Start storing bytes under (source, label); the sha256 is computed while writing."""
        ...

    def head(self, source: str, label: str, sha256: str) -> BlobInfo | None:
        """Size and stored time of a reference, or None if there is no such reference."""
        ...

    def open_range(self, source: str, label: str, sha256: str, start: int = 0,
                   stop: int | None = None) -> Iterator[bytes]:
        """Bytes ``[start, stop)`` of a referenced object (``stop`` None = to the end).

        Raises NotFound immediately (not on first iteration) when the reference is absent.
        """
        ...

    def copy(self, src_source: str, dst_source: str, label: str, sha256: str) -> BlobInfo:
        """Add a reference under ``dst_source`` to bytes stored under ``src_source``; no bytes move."""
        ...

    def delete(self, source: str, label: str, sha256: str, if_older_than: datetime | None = None) -> bool:
        """Remove a reference (and the object once unreferenced). False if the reference is newer
        than ``if_older_than``; raises NotFound if it does not exist."""
        ...

    def iter_refs(self, source: str | None = None, sha256: str | None = None) -> Iterator[BlobRef]:
        """Every reference, optionally only one source's or one sha256's (age-off, purge)."""
        ...

    def close(self) -> None: ...
