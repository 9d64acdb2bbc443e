"""Fuzzy-hash and entropy encodings stored beside a binary's metadata (inventory §4.5).

Similarity search needs the hashes in shapes an index can compare: ssdeep split into its parts (so
chunks can be n-gram matched), TLSH unpacked into a 36-dimension signed byte vector (for k-NN), and
the entropy graph resampled to a fixed-length bit vector (for Hamming distance). All of this is pure
arithmetic on strings and floats; invalid hashes raise :class:`VectorError`, which the encoder
turns into a rejection of the event.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from azul_metastore.errors import InvalidInput

__all__ = [
    "ENTROPY_POINTS",
    "ENTROPY_VECTOR_BYTES",
    "TLSH_VECTOR_DIMENSION",
    "VectorError",
    "encode_ssdeep",
    "entropy_vector",
    "tlsh_vector",
]

TLSH_VECTOR_DIMENSION = 36
#: the entropy graph is resampled to this many points, each a 32-bit thermometer code
ENTROPY_POINTS = 40
ENTROPY_VECTOR_BYTES = ENTROPY_POINTS * 4
MAX_ENTROPY = 8.0

#: TLSH values meaning "input too small to hash"; they carry no vector and are not errors
_TLSH_EMPTY = frozenset({"", "NULL", "TNULL"})
_TLSH_BODY_CHARS = 70
_HEX = frozenset("0123456789abcdefABCDEF")


class VectorError(InvalidInput):
    """A fuzzy hash that does not parse; the message names the hash and what is accepted."""


def encode_ssdeep(ssdeep: str) -> dict[str, Any]:
    """``"96:abc:def"`` → ``{"blocksize": 96, "chunk": "abc", "dchunk": "def"}``.

    Raises VectorError unless the value is ``<int>:<chunk>:<double chunk>``.
    """
    parts = ssdeep.split(":")
    if len(parts) != 3:
        raise VectorError(f"ssdeep {ssdeep!r} is not '<blocksize>:<chunk>:<double chunk>'", ssdeep=ssdeep)
    try:
        blocksize = int(parts[0])
    except ValueError:
        raise VectorError(f"ssdeep {ssdeep!r} has a non-integer block size", ssdeep=ssdeep) from None
    return {"blocksize": blocksize, "chunk": parts[1], "dchunk": parts[2]}


# TLSH stores the checksum and L-value bytes with their nibbles swapped; precompute the swap and
# the shift into signed-byte space (OpenSearch byte vectors are Java bytes, -128..127).
_SWAPPED_SIGNED = [(((b & 0x0F) << 4) | (b >> 4)) - 128 for b in range(256)]


def tlsh_vector(tlsh: str) -> list[int] | None:
    """The 36 signed bytes of a TLSH hash: checksum, L-value (nibbles swapped), q1, q2, 32 code bytes.

    Returns None for the "no hash" values (empty, ``NULL``, ``TNULL``). A ``T1`` version prefix is
    stripped; other versions and bodies that are not 70 hex characters raise VectorError.
    """
    if tlsh in _TLSH_EMPTY:
        return None
    body = tlsh
    if body[:1] in ("T", "t"):
        if body[1:2] != "1":
            raise VectorError(
                f"TLSH {tlsh!r} has unsupported version {body[:2]!r}; only version 'T1' (or no prefix) is accepted",
                tlsh=tlsh,
            )
        body = body[2:]
    if len(body) != _TLSH_BODY_CHARS or not _HEX.issuperset(body):
        raise VectorError(
            f"TLSH {tlsh!r} must be 'T1' followed by {_TLSH_BODY_CHARS} hex characters "
            f"(got {len(body)} characters after the prefix)",
            tlsh=tlsh,
        )
    data = bytes.fromhex(body)
    q = data[2]
    return [_SWAPPED_SIGNED[data[0]], _SWAPPED_SIGNED[data[1]], (q >> 4) - 128, (q & 0x0F) - 128] + [
        b - 128 for b in data[3:]
    ]


def _thermometer(ones: int) -> tuple[int, int, int, int]:
    """``ones`` one-bits filled from the most significant bit of the first byte, as signed bytes."""
    out = []
    for i in range(4):
        n = min(8, max(0, ones - 8 * i))
        byte = (0xFF << (8 - n)) & 0xFF
        out.append(byte - 256 if byte > 127 else byte)
    return out[0], out[1], out[2], out[3]


#: value*4 (0..32 quarter steps) → its four thermometer bytes
_THERMOMETER = [_thermometer(n) for n in range(33)]


def resample(values: Sequence[float], points: int = ENTROPY_POINTS) -> list[float]:
    """Linear interpolation of ``values`` (taken as evenly spaced over [0, 1]) at ``points`` positions."""
    n = len(values)
    if n == points:
        return [float(v) for v in values]
    last = n - 1
    out = []
    step = last / (points - 1)
    for i in range(points):
        x = i * step
        j = int(x)
        if j >= last:
            out.append(float(values[last]))
            continue
        frac = x - j
        a = values[j]
        out.append(a + (values[j + 1] - a) * frac)
    return out


def entropy_vector(blocks: Sequence[float]) -> list[int] | None:
    """The entropy graph as 160 signed bytes (1280 bits) for Hamming-distance search.

    Needs at least 40 blocks (None otherwise): resample to 40 points, clamp to [0, 8], round to the
    nearest 0.25, and write each point as a 32-bit thermometer (value*4 one-bits, left to right).
    Rounding to quarters keeps the Hamming distance between two points equal to 4*|difference|.
    """
    if len(blocks) < ENTROPY_POINTS:
        return None
    out: list[int] = []
    table = _THERMOMETER
    for v in resample(blocks):
        if v <= 0.0:
            q = 0
        elif v >= MAX_ENTROPY:
            q = 32
        else:
            q = int(v * 4.0 + 0.5)
        out.extend(table[q])
    return out
