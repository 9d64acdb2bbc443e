"""Neutering both ways: the fixtures made by other tools unwrap; what we make opens with other tools."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from azul_metastore.content.neuter import DownloadFormat, cart_chunks, malpz_chunks, neuter, zip_chunks
from azul_metastore.content.unneuter import unneuter
from azul_metastore.errors import BadRequest, UnsupportedContent
from azul_metastore.settings import load_settings

FIXTURES = Path(__file__).resolve().parents[3].parent / "shared" / "fixtures" / "content"
BIN = Path(sys.executable).parent
DATA = os.urandom(1_500_000) + b"compressible " * 50_000


def chunked(data: bytes, size: int = 65_536) -> list[bytes]:
    return [data[i:i + size] for i in range(0, len(data), size)]


def unwrap(data: bytes, max_bytes: int = 10**8):  # type: ignore[no-untyped-def]
    u = unneuter(chunked(data, 7), malpz_max_bytes=max_bytes)
    return u, b"".join(u.chunks)


@pytest.mark.parametrize(("wrapped", "plain", "fmt", "name"), [
    ("fake.txt.cart", "fake.txt", "cart", "fake.txt"),
    ("fake.txt.malpz", "fake.txt", "malpz", None),
    ("fake_meta.txt.malpz", "fake_meta.txt", "malpz", "fake_meta.txt"),
    ("fake.txt", "fake.txt", None, None),
])
def test_fixtures_unwrap(wrapped: str, plain: str, fmt: str | None, name: str | None) -> None:
    u, body = unwrap((FIXTURES / wrapped).read_bytes())
    assert (u.format, u.name) == (fmt, name)
    assert body == (FIXTURES / plain).read_bytes()


def test_cart_we_write_opens_with_the_cart_tool(tmp_path: Path) -> None:
    out = tmp_path / "sample.cart"
    out.write_bytes(b"".join(cart_chunks(chunked(DATA), name="evil.exe", digests=True)))
    subprocess.run([str(BIN / "cart"), "-d", str(out)], check=True, cwd=tmp_path)
    assert (tmp_path / "evil.exe").read_bytes() == DATA
    u, body = unwrap(b"".join(cart_chunks(chunked(DATA))))
    assert u.format == "cart" and u.name is None and body == DATA


def test_malpz_we_write_opens_with_the_malpz_tool(tmp_path: Path) -> None:
    out = tmp_path / "sample.malpz"
    out.write_bytes(b"".join(malpz_chunks(chunked(DATA), classification="OFFICIAL")))
    done = subprocess.run([str(BIN / "malpz"), str(out)], check=True, cwd=tmp_path, capture_output=True, text=True)
    assert "un-malpzed" in done.stdout
    assert (tmp_path / "sample").read_bytes() == DATA
    listing = subprocess.run([str(BIN / "malpz"), "-l", str(out)], check=True, capture_output=True, text=True)
    assert "OFFICIAL" in listing.stdout


def test_aes_zip_opens_with_7z_and_not_with_info_zip(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path)
    dl = neuter(iter(chunked(DATA)), DownloadFormat.zip, settings=settings, name="sample.bin")
    archive = tmp_path / "sample.zip"
    archive.write_bytes(b"".join(dl.chunks))
    assert dl.media_type == "application/zip"
    subprocess.run(["7z", "x", "-pinfected", f"-o{tmp_path / 'x'}", str(archive)], check=True, capture_output=True)
    assert (tmp_path / "x" / "sample.bin").read_bytes() == DATA
    wrong = subprocess.run(["7z", "x", "-pnope", f"-o{tmp_path / 'y'}", str(archive)], capture_output=True)
    assert wrong.returncode != 0
    # Info-ZIP unzip 6.0 has no WinZip AES support: it must refuse rather than produce wrong bytes
    unz = subprocess.run(["unzip", "-P", "infected", "-d", str(tmp_path / "u"), str(archive)],
                         capture_output=True, text=True)
    assert unz.returncode != 0 and "unsupported compression method 99" in unz.stdout + unz.stderr


def test_unzip_opens_the_zipcrypto_fixture(tmp_path: Path) -> None:
    subprocess.run(["unzip", "-P", "infected", "-d", str(tmp_path), str(FIXTURES / "fake_infected.zip")],
                   check=True, capture_output=True)
    assert (tmp_path / "fake.txt").read_bytes() == (FIXTURES / "fake.txt").read_bytes()


def test_plain_zip_with_several_entries_opens_with_unzip(tmp_path: Path) -> None:
    archive = tmp_path / "bulk.zip"
    archive.write_bytes(b"".join(zip_chunks([("a.bin", chunked(DATA)), ("b.txt", [b"hello"])], password=None)))
    subprocess.run(["unzip", "-d", str(tmp_path / "u"), str(archive)], check=True, capture_output=True)
    assert (tmp_path / "u" / "a.bin").read_bytes() == DATA
    assert (tmp_path / "u" / "b.txt").read_bytes() == b"hello"


def test_plain_download_needs_the_setting(tmp_path: Path) -> None:
    with pytest.raises(BadRequest):
        neuter([b"x"], "plain", settings=load_settings(data_dir=tmp_path), name="x")
    allowed = neuter([b"x"], "plain", settings=load_settings(data_dir=tmp_path, download_allow_plain=True), name="x")
    assert b"".join(allowed.chunks) == b"x"
    malpz = neuter([b"x"], "malpz", settings=load_settings(data_dir=tmp_path), name="x", classification="OFFICIAL")
    assert unwrap(b"".join(malpz.chunks))[1] == b"x"


@pytest.mark.parametrize(("data", "reason"), [
    (b"".join(cart_chunks(chunked(DATA)))[:5000], "truncated_cart"),
    (b"".join(cart_chunks(chunked(DATA)))[:-10], "truncated_cart"),
    (b"".join(cart_chunks(chunked(DATA)))[:30], None),  # too short to be CaRT: passes through as raw
    (b"".join(cart_chunks([b"x"]))[:-28] + b"XXXX" + b"\0" * 24, "corrupt_cart"),
    (b"".join(cart_chunks([b"x"], key=b"\0" * 16)), "cart_private_key"),
    (b"".join(malpz_chunks(chunked(DATA), classification="X"))[:3000], "truncated_malpz"),
    (b"\xf0\xf0.malpz_v0003\x00\x0f\x0fnot zlib at all", "corrupt_malpz"),
    (b"\xf0\xf0.malpz_v0002\x00\x0f\x0f", "malpz_version"),
])
def test_broken_neutering_is_rejected_with_a_reason(data: bytes, reason: str | None) -> None:
    if reason is None:
        assert unwrap(data)[0].format is None
        return
    with pytest.raises(UnsupportedContent) as err:
        unwrap(data)
    assert err.value.parameters["reason"] == reason


def test_malpz_cap_is_enforced() -> None:
    wrapped = b"".join(malpz_chunks(chunked(b"\0" * 3_000_000), classification="X"))
    with pytest.raises(UnsupportedContent) as err:
        unwrap(wrapped, max_bytes=1_000_000)
    assert err.value.parameters["reason"] == "malpz_too_large" and "malpz_max_bytes" in err.value.message
