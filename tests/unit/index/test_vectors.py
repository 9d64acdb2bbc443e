"""ssdeep parts, TLSH vectors and entropy vectors (inventory §4.5)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tlsh

from azul_metastore.index.vectors import VectorError, encode_ssdeep, entropy_vector, tlsh_vector
from tests.support.events import AZUL_EVENTS


def test_ssdeep_parts() -> None:
    assert encode_ssdeep("96:abc+/:de") == {"blocksize": 96, "chunk": "abc+/", "dchunk": "de"}
    assert encode_ssdeep("1:1:1") == {"blocksize": 1, "chunk": "1", "dchunk": "1"}


@pytest.mark.parametrize("bad", ["96:abc", "x:abc:def", "1:2:3:4", ""])
def test_ssdeep_rejects(bad: str) -> None:
    with pytest.raises(VectorError):
        encode_ssdeep(bad)


def test_tlsh_known_answer() -> None:
    body = "A1B2C3" + bytes(range(32)).hex().upper()
    vector = tlsh_vector("T1" + body)
    # checksum 0xA1 and L 0xB2 have their nibbles swapped; q 0xC3 splits into 0xC and 0x3
    assert vector == [0x1A - 128, 0x2B - 128, 0xC - 128, 0x3 - 128, *[b - 128 for b in range(32)]]
    assert tlsh_vector(body) == vector  # no prefix is accepted too


def test_tlsh_zero_hash_is_all_minus_128() -> None:
    assert tlsh_vector("T1" + "0" * 70) == [-128] * 36


def test_tlsh_of_real_content() -> None:
    data = bytes((i * 7919) % 251 for i in range(4096))
    digest = tlsh.hash(data)
    vector = tlsh_vector(digest)
    assert vector is not None and len(vector) == 36
    raw = bytes.fromhex(digest[2:])
    assert vector[4:] == [b - 128 for b in raw[3:]]
    assert all(-128 <= v <= 127 for v in vector)


@pytest.mark.parametrize("empty", ["", "NULL", "TNULL"])
def test_tlsh_empty_values_have_no_vector(empty: str) -> None:
    assert tlsh_vector(empty) is None


@pytest.mark.parametrize(
    "bad",
    ["T2" + "0" * 70, "T1" + "0" * 68, "T1" + "0" * 72, "T1" + "G" * 70, "0" * 69],
)
def test_tlsh_rejects(bad: str) -> None:
    with pytest.raises(VectorError):
        tlsh_vector(bad)


def _expected_entropy(blocks: list[float]) -> list[int]:
    """An independent implementation: numpy interpolation and bit strings."""
    points = np.interp(np.linspace(0, 1, 40), np.linspace(0, 1, len(blocks)), blocks)
    out: list[int] = []
    for v in points:
        ones = int(np.floor(min(8.0, max(0.0, float(v))) * 4 + 0.5))
        for byte in int("1" * ones + "0" * (32 - ones), 2).to_bytes(4, "big"):
            out.append(byte - 256 if byte > 127 else byte)
    return out


def test_entropy_sample_fixture() -> None:
    blocks = json.loads((AZUL_EVENTS / "entropy_sample.json").read_text())["entropy"]["blocks"]
    assert len(blocks) == 800
    vector = entropy_vector(blocks)
    assert vector is not None
    assert len(vector) == 160
    assert vector == _expected_entropy(blocks)


def test_entropy_levels() -> None:
    assert entropy_vector([8.0] * 40) == [-1] * 160
    assert entropy_vector([0.0] * 50) == [0] * 160
    assert entropy_vector([4.0] * 40) == [-1, -1, 0, 0] * 40
    # 1.25 -> 5 bits: 0b11111000; clamping keeps out-of-range values at the ends
    assert entropy_vector([1.25] * 40)[:4] == [0b11111000 - 256, 0, 0, 0]
    assert entropy_vector([9.5] * 40) == [-1] * 160
    assert entropy_vector([-1.0] * 40) == [0] * 160


def test_entropy_needs_40_blocks() -> None:
    assert entropy_vector([7.0] * 39) is None


def test_entropy_interpolates() -> None:
    blocks = [i / 10 for i in range(81)]  # a ramp 0..8
    assert entropy_vector(blocks) == _expected_entropy(blocks)
