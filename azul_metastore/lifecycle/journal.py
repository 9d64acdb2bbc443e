"""The purge journal: what a purge decided to delete, written down before it deletes it, so a purge
killed half-way can be run again and finish the job. Age-off keeps one too (``prefix`` ``age-off``):
the bytes of the documents a pass deleted, until it has dealt with them.

One JSON-lines file per purge request under ``settings.purge_path``, named after a digest of the
request (running the same purge again finds it). Each line is appended and fsynced before the
action it describes; a line cut short by a crash is ignored on reading (its action had not started).
Finished journals are renamed ``*.done.jsonl`` and kept as the record of what went.

Only one process works on a journal at a time: it holds an exclusive ``flock`` on the file while
it runs (a second one gets :class:`~azul_metastore.errors.Conflict`).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import orjson

from azul_metastore.errors import Conflict

__all__ = ["Journal", "request_key"]


def request_key(kind: str, value: str, timestamp: str | None) -> str:
    text = f"{kind}\x00{value}\x00{timestamp or ''}"
    return hashlib.sha256(text.encode()).hexdigest()[:24]


class Journal:
    """An open, locked journal. Use :meth:`open` and close it (or use it as a context manager)."""

    def __init__(self, path: Path, handle: IO[bytes], entries: list[dict[str, Any]]) -> None:
        self.path = path
        self._handle = handle
        self.entries = entries

    @classmethod
    def open(cls, folder: Path, key: str, prefix: str = "purge") -> Journal:
        """Open (creating if needed) the unfinished journal of request ``key`` and lock it."""
        if not folder.parent.exists():
            raise FileNotFoundError(f"the purge folder's parent {folder.parent} does not exist")
        folder.mkdir(exist_ok=True)
        path = folder / f"{prefix}-{key}.jsonl"
        handle = open(path, "a+b")  # noqa: SIM115 - held for the journal's lifetime
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise Conflict(f"another {prefix} (journal {path.name}) is already running; wait for it to finish"
                           ) from None
        handle.seek(0)
        entries = list(_parse(handle.read()))
        handle.seek(0, os.SEEK_END)
        return cls(path, handle, entries)

    @staticmethod
    def unfinished(folder: Path) -> list[Path]:
        """Journals of purges that started and did not finish."""
        if not folder.exists():
            return []
        return sorted(p for p in folder.glob("purge-*.jsonl") if not p.name.endswith(".done.jsonl"))

    @property
    def started(self) -> dict[str, Any] | None:
        return next((e for e in self.entries if e.get("type") == "start"), None)

    def has(self, entry_type: str) -> bool:
        return any(e.get("type") == entry_type for e in self.entries)

    def of_type(self, entry_type: str) -> Iterator[dict[str, Any]]:
        return (e for e in self.entries if e.get("type") == entry_type)

    def append(self, entry: dict[str, Any]) -> None:
        """Write one entry durably (fsync) before the caller acts on it."""
        self._handle.write(orjson.dumps(entry) + b"\n")
        self._handle.flush()
        os.fsync(self._handle.fileno())
        self.entries.append(entry)

    def finish(self) -> Path:
        """Mark the journal done (renamed, kept) and release it."""
        self.append({"type": "done"})
        done = self.path.with_name(f"{self.path.stem}-{self.started_stamp()}.done.jsonl")
        os.replace(self.path, done)
        self.close()
        return done

    def discard(self) -> None:
        """Remove the journal: everything it recorded is done, and nothing needs keeping."""
        self.path.unlink(missing_ok=True)
        self.close()

    def started_stamp(self) -> str:
        start = self.started or {}
        return "".join(c for c in str(start.get("purge_time", "")) if c.isalnum())

    def close(self) -> None:
        if not self._handle.closed:
            fcntl.flock(self._handle.fileno(), fcntl.LOCK_UN)
            self._handle.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _parse(data: bytes) -> Iterator[dict[str, Any]]:
    for line in data.splitlines():
        try:
            entry = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue  # the tail of a write cut short by a crash
        if isinstance(entry, dict):
            yield entry


def read_entries(path: Path) -> list[dict[str, Any]]:
    """The entries of a journal without locking it (for listing)."""
    return list(_parse(path.read_bytes()))
