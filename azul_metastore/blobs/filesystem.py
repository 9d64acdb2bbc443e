"""The blob store as content-addressed files on a local (or shared POSIX) filesystem.

Layout under ``root``::

    objects/ab/cd/<sha256>                      the bytes, once per sha256 (read-only file)
    refs/<source>/<label>/ab/cd/<sha256>         empty marker; its mtime is the reference's stored time
    locks/ab                                     flock files, one per first sha256 byte
    tmp/                                         uploads in flight (same filesystem, so rename is atomic)

Why this shape:

* Two levels of 256-way sharding give 65,536 leaf directories: ten million objects is ~150 entries
  per directory, well inside what ext4/xfs look up quickly.
* References are marker files rather than rows in a SQLite table: they are created, touched and
  removed atomically by the kernel from any number of processes with no writer to serialise on,
  they live beside the bytes (one backup, one ``rsync``), and age-off of one source is a walk of
  ``refs/<source>/`` only. The cost is an inode per reference; with ~1-3 references per object
  that is the same order as the objects themselves.
* An object is removed when its last reference is. "Is there another reference?" looks at each
  (source, label) directory, a few hundred ``stat`` calls at most and only on delete. That check,
  reference creation and object publication take the same per-shard ``flock``, so a concurrent
  upload of the same bytes cannot lose its object to a delete in another process.
* Writes go to ``tmp/``, are hashed as they are written, fsynced, verified, then renamed into
  place; the object directory is fsynced so a crash leaves either the whole object or nothing.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from azul_metastore.blobs.port import BlobInfo, BlobRef, check_key
from azul_metastore.errors import BackendUnavailable, InvalidInput, NotFound

__all__ = ["FileSystemBlobStore"]

READ_CHUNK = 1024 * 1024


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _mtime(st: os.stat_result) -> datetime:
    return datetime.fromtimestamp(st.st_mtime_ns / 1e9, tz=UTC)


class _FileWriter:
    def __init__(self, store: FileSystemBlobStore, source: str, label: str, expected: str | None) -> None:
        self._store = store
        self._source, self._label, self._expected = source, label, expected
        fd, name = tempfile.mkstemp(dir=store.root / "tmp", prefix="up-")
        self._file = os.fdopen(fd, "wb", buffering=0)
        self._path = Path(name)
        self._sha = hashlib.sha256()
        self._size = 0
        self._done = False

    def write(self, chunk: bytes) -> None:
        if self._done:
            raise ValueError("writer is closed")
        self._sha.update(chunk)
        self._size += len(chunk)
        view = memoryview(chunk)
        while view:
            n = self._file.write(view)
            view = view[n:]

    def commit(self) -> tuple[str, int]:
        if self._done:
            raise ValueError("writer is closed")
        sha256 = self._sha.hexdigest()
        try:
            if self._expected is not None and sha256 != self._expected:
                raise InvalidInput(f"uploaded bytes have sha256 {sha256}, expected {self._expected}; nothing stored",
                                   reason="sha256_mismatch", expected=self._expected, actual=sha256)
            os.fsync(self._file.fileno())
            self._file.close()
            os.chmod(self._path, 0o444)
            self._store._publish(self._source, self._label, sha256, self._path)
        finally:
            self.abort()
        return sha256, self._size

    def abort(self) -> None:
        if not self._file.closed:
            self._file.close()
        self._done = True
        with contextlib.suppress(FileNotFoundError):
            self._path.unlink()


class FileSystemBlobStore:
    """The embedded blob store adapter; safe for several processes sharing ``root``."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        for sub in ("objects", "refs", "locks", "tmp"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)

    # --- paths and locks ---------------------------------------------------------------------

    def _object(self, sha256: str) -> Path:
        return self.root / "objects" / sha256[:2] / sha256[2:4] / sha256

    def _ref(self, source: str, label: str, sha256: str) -> Path:
        return self.root / "refs" / source / label / sha256[:2] / sha256[2:4] / sha256

    @contextlib.contextmanager
    def _locked(self, sha256: str) -> Iterator[None]:
        fd = os.open(self.root / "locks" / sha256[:2], os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock

    @staticmethod
    def _touch_ref(path: Path) -> None:
        # Markers are not fsynced: a crash can lose a just-made reference (the uploader saw no
        # answer and retries) but never leaves a reference without its object.
        try:
            path.touch()  # sets mtime to now when it exists, creates it when not
        except FileNotFoundError:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch()

    def _publish(self, source: str, label: str, sha256: str, tmp: Path) -> None:
        obj = self._object(sha256)
        try:
            with self._locked(sha256):
                if not obj.exists():
                    obj.parent.mkdir(parents=True, exist_ok=True)
                    os.rename(tmp, obj)
                    _fsync_dir(obj.parent)
                self._touch_ref(self._ref(source, label, sha256))
        except OSError as exc:
            raise BackendUnavailable(f"blob store could not store {sha256}: {exc}") from exc

    def _other_refs(self, sha256: str) -> bool:
        refs = self.root / "refs"
        tail = Path(sha256[:2]) / sha256[2:4] / sha256
        with os.scandir(refs) as sources:
            source_dirs = [e.path for e in sources if e.is_dir()]
        for source in source_dirs:
            with os.scandir(source) as labels:
                if any(os.path.exists(os.path.join(label.path, tail)) for label in labels):
                    return True
        return False

    # --- the port ------------------------------------------------------------------------------

    def open_writer(self, source: str, label: str, expected_sha256: str | None = None) -> _FileWriter:
        check_key(source, label)
        expected = check_key(source, label, expected_sha256) if expected_sha256 else None
        return _FileWriter(self, source, label, expected)

    def head(self, source: str, label: str, sha256: str) -> BlobInfo | None:
        sha256 = check_key(source, label, sha256) or ""
        try:
            ref = self._ref(source, label, sha256).stat()
            size = self._object(sha256).stat().st_size
        except FileNotFoundError:
            return None
        return BlobInfo(size=size, stored_at=_mtime(ref))

    def open_range(self, source: str, label: str, sha256: str, start: int = 0,
                   stop: int | None = None) -> Iterator[bytes]:
        sha256 = check_key(source, label, sha256) or ""
        if start < 0 or (stop is not None and stop < start):
            raise InvalidInput(f"invalid byte range [{start}, {stop})", field="range")
        if not self._ref(source, label, sha256).exists() or not self._object(sha256).exists():
            raise NotFound(f"no {label} stream {sha256} in source {source}")
        return self._read(self._object(sha256), start, stop)

    @staticmethod
    def _read(path: Path, start: int, stop: int | None) -> Iterator[bytes]:
        # opened on first iteration so an unconsumed iterator holds no file descriptor
        with open(path, "rb") as f:
            f.seek(start)
            remaining = None if stop is None else stop - start
            while remaining is None or remaining > 0:
                chunk = f.read(READ_CHUNK if remaining is None else min(READ_CHUNK, remaining))
                if not chunk:
                    return
                if remaining is not None:
                    remaining -= len(chunk)
                yield chunk

    def copy(self, src_source: str, dst_source: str, label: str, sha256: str) -> BlobInfo:
        check_key(dst_source, label)
        sha256 = check_key(src_source, label, sha256) or ""
        with self._locked(sha256):
            if not self._ref(src_source, label, sha256).exists() or not self._object(sha256).exists():
                raise NotFound(f"no {label} stream {sha256} in source {src_source}")
            self._touch_ref(self._ref(dst_source, label, sha256))
        info = self.head(dst_source, label, sha256)
        assert info is not None
        return info

    def delete(self, source: str, label: str, sha256: str, if_older_than: datetime | None = None) -> bool:
        sha256 = check_key(source, label, sha256) or ""
        ref = self._ref(source, label, sha256)
        with self._locked(sha256):
            try:
                stored = _mtime(ref.stat())
            except FileNotFoundError as exc:
                raise NotFound(f"no {label} stream {sha256} in source {source}") from exc
            if if_older_than is not None and stored >= if_older_than:
                return False
            ref.unlink()
            if not self._other_refs(sha256):
                with contextlib.suppress(FileNotFoundError):
                    self._object(sha256).unlink()
        return True

    def iter_refs(self, source: str | None = None, sha256: str | None = None) -> Iterator[BlobRef]:
        refs = self.root / "refs"
        if source is None:
            with os.scandir(refs) as entries:
                sources = sorted(e.name for e in entries if e.is_dir())
        else:
            check_key(source, "content")
            sources = [source]
        if sha256 is not None:
            sha256 = sha256.lower()
        for src in sources:
            sdir = refs / src
            if not sdir.is_dir():
                continue
            with os.scandir(sdir) as entries:
                labels = sorted(e.name for e in entries if e.is_dir())
            for label in labels:
                if sha256 is not None:
                    path = self._ref(src, label, sha256)
                    with contextlib.suppress(FileNotFoundError):
                        yield BlobRef(src, label, sha256, _mtime(path.stat()))
                    continue
                for dirpath, _dirs, files in os.walk(sdir / label):
                    for name in files:
                        with contextlib.suppress(FileNotFoundError):
                            st = os.stat(os.path.join(dirpath, name))
                            yield BlobRef(src, label, name, _mtime(st))

    def close(self) -> None:
        pass
