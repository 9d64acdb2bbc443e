"""Backend-neutral pieces of the similarity reads (ssdeep candidates, entropy Hamming distance,
result ordering), shared by the SQLite and OpenSearch adapters.

Both adapters must give the same answers for the same documents; keeping the arithmetic and the
tie-breaking rules here means each adapter only decides how to fetch rows, never how to judge them.
TLSH distance lives in ``index/tlsh.py`` for the same reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import orjson

from azul_metastore.errors import InvalidInput
from azul_metastore.index.port import SubmissionRow

__all__ = [
    "MAX_DOC_FREQ",
    "SSDEEP_SCAN",
    "entropy_query",
    "hamming",
    "normal_tlsh",
    "ssdeep_shares",
    "ssdeep_sizes",
    "submission_key",
]

#: ssdeep rows read per block size before giving up on finding more candidates
SSDEEP_SCAN = 200_000
#: a feature value on more documents than this says little about similarity (more_like_this's max_doc_freq)
MAX_DOC_FREQ = 20_000

_POPCOUNT = np.array([bin(i).count("1") for i in range(256)], dtype=np.int32)


def normal_tlsh(tlsh: str) -> str:
    """A TLSH hash without its ``T1`` prefix, upper case: equal hashes compare equal as text."""
    text = tlsh.strip().upper()
    return text[2:] if text.startswith("T1") else text


def _grams(text: str, n: int = 7) -> set[str]:
    return {text[i:i + n] for i in range(len(text) - n + 1)}


def split_ssdeep(ssdeep: str) -> tuple[int, str, str]:
    parts = ssdeep.split(":")
    if len(parts) != 3 or not parts[0].isdigit():
        raise InvalidInput(f"ssdeep {ssdeep!r} is not '<blocksize>:<chunk>:<double chunk>'", ssdeep=ssdeep)
    return int(parts[0]), parts[1], parts[2]


def ssdeep_sizes(ssdeep: str) -> dict[int, set[str]]:
    """Block size → the 7-grams a stored hash of that block size must share to be scored.

    compare() scores chunks of equal block size, so b pairs chunk with chunk and dchunk with
    dchunk, 2b pairs our dchunk with their chunk, b/2 our chunk with their dchunk. Sizes without
    grams are left out (nothing could match).
    """
    block, chunk, dchunk = split_ssdeep(ssdeep)
    sizes = {block: (_grams(chunk) | _grams(dchunk)), block * 2: _grams(dchunk)}
    if block % 2 == 0:
        sizes[block // 2] = _grams(chunk)
    return {size: grams for size, grams in sizes.items() if grams}


def ssdeep_shares(grams: set[str], other: str) -> bool:
    """Whether a stored ssdeep shares one of ``grams`` in its chunk or double chunk."""
    _, c1, c2 = other.split(":", 2) if other.count(":") >= 2 else (0, "", "")
    return not grams.isdisjoint(_grams(c1) | _grams(c2))


def entropy_query(vector: Sequence[int]) -> np.ndarray:
    """An entropy vector (signed bytes) as unsigned bytes, ready for :func:`hamming`."""
    return np.asarray(vector, dtype=np.int16).astype(np.uint8)


def hamming(query: np.ndarray, other: Any) -> int | None:
    """Differing bits between ``query`` and a stored vector; None when it is no vector of that length."""
    if not isinstance(other, list):
        return None
    values = np.asarray(other, dtype=np.int16).astype(np.uint8)
    if values.shape != query.shape:
        return None
    return int(_POPCOUNT[np.bitwise_xor(query, values)].sum())


def submission_key(row: SubmissionRow) -> tuple[Any, ...]:
    """A total order of submission rows, so every adapter lists them alike (filenames are merged
    in row order by the find route)."""
    return (row.sha256, row.source, row.timestamp or "", row.depth,
            orjson.dumps(row.references, option=orjson.OPT_SORT_KEYS, default=str), row.has_content,
            row.filenames)
