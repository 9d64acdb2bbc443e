"""Shannon entropy per block (bits per byte, 0-8): the ``info.entropy.blocks`` list that entropy
similarity (inventory §4.5) is built from. numpy counts bytes, so this runs at memory speed."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

__all__ = ["block_size_for", "entropy", "entropy_blocks"]


def entropy(data: bytes) -> float:
    if not data:
        return 0.0
    counts = np.bincount(np.frombuffer(data, dtype=np.uint8), minlength=256)
    p = counts[counts > 0] / len(data)
    return float(-(p * np.log2(p)).sum())


def block_size_for(size: int, max_blocks: int = 1000, minimum: int = 256) -> int:
    """A block size giving at most ``max_blocks`` blocks (similarity needs at least 40)."""
    return max(minimum, math.ceil(size / max_blocks)) if size else minimum


def entropy_blocks(chunks: Iterable[bytes], block_size: int = 1024) -> dict[str, Any]:
    """``{"overall", "block_size", "blocks"}`` for a stream; the last block may be short."""
    if block_size < 1:
        raise ValueError("block_size must be positive")
    total = np.zeros(256, dtype=np.int64)
    blocks: list[float] = []
    carry = b""
    for chunk in chunks:
        buf = carry + chunk if carry else chunk
        whole = len(buf) - len(buf) % block_size
        if whole:
            arr = np.frombuffer(buf, dtype=np.uint8, count=whole).reshape(-1, block_size)
            blocks.extend(_rows(arr))
            total += np.bincount(arr.ravel(), minlength=256)
        carry = bytes(buf[whole:])
    if carry:
        blocks.append(round(entropy(carry), 4))
        total += np.bincount(np.frombuffer(carry, dtype=np.uint8), minlength=256)
    n = int(total.sum())
    p = total[total > 0] / n if n else np.array([])
    overall = float(-(p * np.log2(p)).sum()) if n else 0.0
    return {"overall": round(overall, 4), "block_size": block_size, "blocks": blocks}


def _rows(arr: np.ndarray) -> list[float]:
    # per-row histograms in one pass: offset each row's values into its own 256-bin range
    rows, width = arr.shape
    idx = arr.astype(np.int64) + (np.arange(rows, dtype=np.int64) * 256)[:, None]
    counts = np.bincount(idx.ravel(), minlength=rows * 256).reshape(rows, 256)
    p = counts / width
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * np.log2(p), 0.0)
    return [round(float(v), 4) for v in -terms.sum(axis=1)]
