"""Identification: hashes agree with the reference libraries, file types follow the mapping."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
import tlsh

from azul_metastore.content import fuzzy
from azul_metastore.content.identify import Identifier, identify_bytes
from tests.unit.content.samples import SAMPLES

FIXTURES = Path(__file__).resolve().parents[3].parent / "shared" / "fixtures" / "content"


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_file_format_mapping(name: str) -> None:
    data, fmt, ext = SAMPLES[name]
    ident = identify_bytes(data)
    assert (ident.file_format, ident.file_extension) == (fmt, ext), ident.magic


def test_hashes_match_reference_libraries_across_chunkings() -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)
    whole = identify_bytes(data)
    ident = Identifier()
    for i in range(0, len(data), 65_537):
        ident.update(data[i:i + 65_537])
    chunked = ident.finish()
    assert whole == chunked
    assert whole.sha256 == hashlib.sha256(data).hexdigest() and whole.sha512 == hashlib.sha512(data).hexdigest()
    assert whole.sha1 == hashlib.sha1(data).hexdigest() and whole.md5 == hashlib.md5(data).hexdigest()
    assert whole.tlsh == tlsh.hash(data) and whole.size == len(data)
    assert whole.ssdeep == fuzzy.hash_bytes(data)


def test_small_and_empty_inputs() -> None:
    empty = identify_bytes(b"")
    assert empty.size == 0 and empty.tlsh is None and empty.ssdeep == "3::" and empty.file_format == "unknown"
    assert identify_bytes(b"x" * 10).tlsh is None


def test_fuzzy_compare() -> None:
    base = os.urandom(50_000)
    a, b = fuzzy.hash_bytes(base), fuzzy.hash_bytes(base[:45_000] + os.urandom(5_000))
    assert fuzzy.compare(a, a) == 100
    assert 0 < fuzzy.compare(a, b) < 100


def test_fixtures_are_identified() -> None:
    assert identify_bytes((FIXTURES / "fake.txt").read_bytes()).file_format == "text/plain"
    assert identify_bytes((FIXTURES / "fake.txt.cart").read_bytes()).file_format == "archive/cart"
    assert identify_bytes((FIXTURES / "fake.txt.malpz").read_bytes()).file_format == "archive/malpz"
    assert identify_bytes((FIXTURES / "fake.tar.gz").read_bytes()).file_format == "archive/gzip"
    assert identify_bytes((FIXTURES / "fake_infected.zip").read_bytes()).file_format == "archive/zip"
    datastream = identify_bytes(b"hello world, plain text\n").datastream("text")
    assert datastream.label == "text" and datastream.identify_version == 1
