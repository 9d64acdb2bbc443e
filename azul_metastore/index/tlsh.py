"""Exact TLSH distance, vectorised with numpy, shared by the index adapters.

Azul ranked TLSH neighbours by the cosine similarity of a 36-dimension byte vector (a k-NN
approximation that is not the TLSH distance, inventory §6.7); this project reports the real TLSH
distance (``tlsh.diff`` with the length difference included). At a million hashes a brute-force
scan is cheap enough (about 0.2 s on these machines) that no approximation is needed: each hash
is split into its header (checksum, L-value, Q ratios) and its 32 body bytes, and the distance to
one query is a handful of table look-ups per hash.

Rules (TLSH ``totalDiff``, len_diff on): L-value difference d (mod 256): 0 → 0, 1 → 1, else 12·d;
each Q ratio difference d (mod 16): ≤1 → d, else 12·(d-1); +1 when the checksums differ; plus the
body distance, per 2-bit bucket pair |a-b|, with 3 counted as 6.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

import numpy as np

from azul_metastore.errors import InvalidInput

T = TypeVar("T")

__all__ = ["TlshTable", "distances", "parse_tlsh"]

_BODY_BYTES = 32
_HEX_CHARS = 70


def _byte_pair_table() -> np.ndarray:
    """Body distance of every pair of bytes (four 2-bit buckets each)."""
    a = np.arange(256, dtype=np.int16)[:, None]
    b = np.arange(256, dtype=np.int16)[None, :]
    total = np.zeros((256, 256), dtype=np.int16)
    for shift in (0, 2, 4, 6):
        d = np.abs(((a >> shift) & 3) - ((b >> shift) & 3))
        total += np.where(d == 3, 6, d)
    return total.astype(np.uint8)


_PAIRS = _byte_pair_table()


def _mod_diff(x: np.ndarray | int, y: np.ndarray | int, r: int) -> np.ndarray:
    d = np.abs(np.asarray(x, dtype=np.int32) - np.asarray(y, dtype=np.int32))
    return np.minimum(d, r - d)


def parse_tlsh(text: str) -> bytes:
    """The 35 bytes of a TLSH hash (``T1`` prefix optional); InvalidInput for anything else."""
    body = text.strip()
    if body[:1] in ("T", "t"):
        if body[1:2] != "1":
            raise InvalidInput(f"TLSH {text!r} has unsupported version {body[:2]!r}; only 'T1' is accepted",
                               tlsh=text)
        body = body[2:]
    if len(body) != _HEX_CHARS:
        raise InvalidInput(f"TLSH {text!r} must be 'T1' followed by {_HEX_CHARS} hex characters", tlsh=text)
    try:
        return bytes.fromhex(body)
    except ValueError:
        raise InvalidInput(f"TLSH {text!r} is not hexadecimal", tlsh=text) from None


class TlshTable:
    """Many TLSH hashes as columns: checksum, L-value, Q1, Q2 and the (N, 32) body."""

    __slots__ = ("body", "checksum", "lvalue", "q1", "q2", "size")

    def __init__(self, raw: bytes, count: int) -> None:
        """``raw`` is ``count`` hashes of 35 bytes each, concatenated."""
        rows = np.frombuffer(raw, dtype=np.uint8).reshape(count, 35) if count else np.zeros((0, 35), np.uint8)
        self.size = count
        self.checksum = rows[:, 0].copy()
        lv = rows[:, 1].astype(np.int32)
        self.lvalue = ((lv & 0x0F) << 4) | (lv >> 4)  # stored with its nibbles swapped
        self.q1 = (rows[:, 2] >> 4).astype(np.int32)
        self.q2 = (rows[:, 2] & 0x0F).astype(np.int32)
        self.body = np.ascontiguousarray(rows[:, 3:])

    @classmethod
    def from_texts(cls, texts: Sequence[str]) -> tuple[TlshTable, list[int]]:
        """A table of the valid hashes among ``texts`` and the positions they came from."""
        raw = bytearray()
        kept = []
        for i, text in enumerate(texts):
            try:
                raw += parse_tlsh(text)
            except InvalidInput:
                continue
            kept.append(i)
        return cls(bytes(raw), len(kept)), kept

    def distances(self, query: bytes) -> np.ndarray:
        """TLSH distance (``tlsh.diff``) from ``query`` (35 bytes) to every hash of the table."""
        if self.size == 0:
            return np.zeros(0, dtype=np.int32)
        q = np.frombuffer(query, dtype=np.uint8)
        ql = ((int(q[1]) & 0x0F) << 4) | (int(q[1]) >> 4)
        ld = _mod_diff(self.lvalue, ql, 256)
        total = np.where(ld <= 1, ld, ld * 12).astype(np.int32)
        for column, mine in ((self.q1, int(q[2]) >> 4), (self.q2, int(q[2]) & 0x0F)):
            d = _mod_diff(column, mine, 16)
            total += np.where(d <= 1, d, (d - 1) * 12)
        total += (self.checksum != q[0]).astype(np.int32)
        body = np.zeros(self.size, dtype=np.int32)
        for j in range(_BODY_BYTES):
            body += _PAIRS[q[3 + j]][self.body[:, j]]
        return total + body


def distances(query: str, hashes: Sequence[str]) -> list[int | None]:
    """TLSH distance from ``query`` to each of ``hashes`` (None where a hash does not parse)."""
    table, kept = TlshTable.from_texts(hashes)
    found = table.distances(parse_tlsh(query))
    out: list[int | None] = [None] * len(hashes)
    for position, value in zip(kept, found.tolist(), strict=True):
        out[position] = int(value)
    return out


class PerStore(Generic[T]):
    """One object per metadata store, made on first use and weakly held (a closed store's object,
    such as its TLSH hash table, goes with it). Both index adapters keep their TLSH caches so."""

    def __init__(self, factory: Callable[[], T]) -> None:
        self._factory = factory
        self._objects: weakref.WeakKeyDictionary[Any, T] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def __call__(self, store: Any) -> T:
        with self._lock:
            made = self._objects.get(store)
            if made is None:
                made = self._objects[store] = self._factory()
        return made
