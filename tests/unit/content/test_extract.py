"""Extraction and unpacking of submissions, including hostile archives: each refusal has its own
reason and leaves nothing for the caller to store."""

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path

import pytest
import pyzipper

from azul_metastore.content.extract import ExtractLimits, extract_archive
from azul_metastore.content.neuter import cart_chunks
from azul_metastore.content.unpack import unpack_upload
from azul_metastore.errors import PayloadTooLarge, UnsupportedContent
from azul_metastore.settings import Settings, load_settings
from tests.unit.content.samples import tar_of, zip_of

FIXTURES = Path(__file__).resolve().parents[3].parent / "shared" / "fixtures" / "content"
FAKE = (FIXTURES / "fake.txt").read_bytes()
LIMITS = ExtractLimits(max_upload_bytes=10_000_000, max_members=5, max_total_bytes=20_000_000, max_ratio=100,
                       max_path_length=60, max_nesting=1)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(data_dir=tmp_path / "data")


def write(tmp_path: Path, data: bytes, name: str = "upload.bin") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def extract(tmp_path: Path, data: bytes, limits: ExtractLimits = LIMITS, passwords: tuple[str, ...] = ()) -> dict:
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    members = extract_archive(write(tmp_path, data), work, limits, passwords)
    return {m.name: m.path.read_bytes() for m in members}


def reason(tmp_path: Path, data: bytes, limits: ExtractLimits = LIMITS, passwords: tuple[str, ...] = ()) -> str:
    with pytest.raises(UnsupportedContent) as err:
        extract(tmp_path, data, limits, passwords)
    return err.value.parameters["reason"]


def aes_zip(files: dict[str, bytes], password: bytes) -> bytes:
    bio = io.BytesIO()
    with pyzipper.AESZipFile(bio, "w", compression=pyzipper.ZIP_DEFLATED, encryption=pyzipper.WZ_AES) as z:
        z.setpassword(password)
        for name, data in files.items():
            z.writestr(name, data)
    return bio.getvalue()


def tar_with(member: tarfile.TarInfo, mode: str = "w") -> bytes:
    bio = io.BytesIO()
    with tarfile.open(fileobj=bio, mode=mode) as t:
        t.addfile(member, io.BytesIO(b"x" * member.size) if member.isreg() else None)
    return bio.getvalue()


# --- the fixtures ------------------------------------------------------------------------------


def test_fixture_archives(tmp_path: Path) -> None:
    assert extract(tmp_path, (FIXTURES / "fake.zip").read_bytes()) == {"fake.txt": FAKE}
    assert extract(tmp_path, (FIXTURES / "fake.tar.gz").read_bytes()) == {"fake.txt": FAKE}
    infected = (FIXTURES / "fake_infected.zip").read_bytes()
    got = extract(tmp_path, infected, passwords=("wrong", "infected"))
    assert got == {"fake.txt": FAKE, "fake_meta.txt": (FIXTURES / "fake_meta.txt").read_bytes()}
    assert reason(tmp_path, infected) == "password_required"
    assert reason(tmp_path, infected, passwords=("nope",)) == "bad_password"


def test_zip_holding_a_cart_is_unwrapped(tmp_path: Path, settings: Settings) -> None:
    files = unpack_upload(FIXTURES / "zipped.cart.zip", tmp_path / "w", settings, extract=True)
    assert [(f.name, f.neutering, f.path.read_bytes()) for f in files] == [("fake.txt", "cart", FAKE)]


def test_unpack_without_extract_unwraps_and_keeps_the_form_name(tmp_path: Path, settings: Settings) -> None:
    files = unpack_upload(FIXTURES / "fake.txt.cart", tmp_path / "w", settings, filename="given.txt")
    assert [(f.name, f.neutering, f.path.read_bytes()) for f in files] == [("given.txt", "cart", FAKE)]
    assert (FIXTURES / "fake.txt.cart").exists()
    files = unpack_upload(FIXTURES / "fake_meta.txt.malpz", tmp_path / "w2", settings, filename=None)
    assert files[0].neutering == "malpz" and files[0].size == len((FIXTURES / "fake_meta.txt").read_bytes())


def test_carted_archive_is_unwrapped_then_extracted(tmp_path: Path, settings: Settings) -> None:
    carted = b"".join(cart_chunks([zip_of({"dir/a.txt": b"alpha", "b.txt": b"beta", "empty": b""})]))
    files = unpack_upload(write(tmp_path, carted), tmp_path / "w", settings, extract=True)
    assert {f.name: f.path.read_bytes() for f in files} == {"dir/a.txt": b"alpha", "b.txt": b"beta"}


def test_a_neutered_member_counts_towards_the_archives_limits_once_unwrapped(tmp_path: Path) -> None:
    """A ZIP of a small CaRT of zeros: the archive is within every limit, its member unwrapped is
    not. Refused, not stored at 200 times the upload's size."""
    carted = b"".join(cart_chunks(b"\0" * (1 << 20) for _ in range(8)))  # 8 MiB of zeros, a few KB carted
    upload = write(tmp_path, zip_of({"bomb.cart": carted}))
    small = load_settings(data_dir=tmp_path / "data", extract_max_total_bytes=4 << 20, extract_max_ratio=1000)
    with pytest.raises(UnsupportedContent) as err:
        unpack_upload(upload, tmp_path / "w1", small, extract=True)
    assert err.value.parameters["reason"] == "total_size_exceeded" and "bomb.cart" in err.value.message
    steep = load_settings(data_dir=tmp_path / "data", extract_max_total_bytes=64 << 20, extract_max_ratio=100)
    with pytest.raises(UnsupportedContent) as err:
        unpack_upload(upload, tmp_path / "w2", steep, extract=True)
    assert err.value.parameters["reason"] == "ratio_exceeded"
    roomy = load_settings(data_dir=tmp_path / "data", extract_max_total_bytes=64 << 20, extract_max_ratio=10_000)
    (member,) = unpack_upload(upload, tmp_path / "w3", roomy, extract=True)
    assert member.size == 8 << 20 and member.neutering == "cart"


def test_a_neutered_archive_stops_unwrapping_at_the_extraction_limit(tmp_path: Path) -> None:
    """extract_max_upload_bytes holds for the archive once unwrapped: a small CaRT of 8 MiB stops
    at the 1 MiB limit, where it used to be written out whole (up to upload_max_bytes) first."""
    carted = b"".join(cart_chunks(b"\0" * (1 << 20) for _ in range(8)))
    upload = write(tmp_path, carted, "bomb.zip.cart")
    small = load_settings(data_dir=tmp_path / "data", extract_max_upload_bytes=1 << 20)
    with pytest.raises(UnsupportedContent) as err:
        unpack_upload(upload, tmp_path / "w", small, extract=True)
    assert err.value.parameters["reason"] == "archive_too_large" and "once unwrapped" in err.value.message
    written = sum(f.stat().st_size for f in (tmp_path / "w").iterdir())
    assert written <= (1 << 20) + (1 << 16), written
    # without extract the same upload is one file, limited by upload_max_bytes only: past it, 413
    (file,) = unpack_upload(upload, tmp_path / "w2", small)
    assert file.size == 8 << 20
    tight = load_settings(data_dir=tmp_path / "data", upload_max_bytes=4 << 20)
    for extract_it in (False, True):
        with pytest.raises(PayloadTooLarge) as too_large:
            unpack_upload(upload, tmp_path / f"w3{extract_it}", tight, extract=extract_it)
        assert too_large.value.status_code == 413 and too_large.value.parameters["reason"] == "too_large"


def test_malpz_metadata_of_the_wrong_shape_leaves_the_name_unknown(tmp_path: Path, settings: Settings) -> None:
    import malpz

    for meta in ({"features": []}, {"features": "x"}, {"features": {"filename": "not a list"}}):
        upload = write(tmp_path, malpz.wrap(b"hello world", "OFFICIAL", meta), "up.malpz")
        (file,) = unpack_upload(upload, tmp_path / "w", settings)
        assert (file.name, file.neutering, file.path.read_bytes()) == (None, "malpz", b"hello world"), meta


def test_a_zip_method_python_cannot_read_is_named_not_taken_for_a_password(tmp_path: Path) -> None:
    import struct

    raw = bytearray(zip_of({"a.txt": b"hello world"}))
    raw[8:10] = struct.pack("<H", 9)  # Deflate64, in the local header and the central directory
    central = raw.find(b"PK\x01\x02")
    raw[central + 10:central + 12] = struct.pack("<H", 9)
    assert reason(tmp_path, bytes(raw)) == "unsupported_method"


# --- formats -----------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["w", "w:gz", "w:bz2", "w:xz"])
def test_tar_flavours(tmp_path: Path, mode: str) -> None:
    assert extract(tmp_path, tar_of({"a/b.txt": b"bee", "c": b"sea"}, mode)) == {"a/b.txt": b"bee", "c": b"sea"}


def test_zip_flavours(tmp_path: Path) -> None:
    assert extract(tmp_path, aes_zip({"x.bin": b"secret"}, b"pw"), passwords=("pw",)) == {"x.bin": b"secret"}
    assert reason(tmp_path, aes_zip({"x.bin": b"secret"}, b"pw"), passwords=("nope",)) == "bad_password"
    assert reason(tmp_path, aes_zip({"x.bin": b"secret"}, b"pw")) == "password_required"


def test_nested_archives_follow_the_nesting_limit(tmp_path: Path) -> None:
    inner = zip_of({"deep.txt": b"deep"})
    outer = zip_of({"inner.zip": inner, "top.txt": b"top"})
    assert extract(tmp_path, outer) == {"inner.zip": inner, "top.txt": b"top"}
    two = ExtractLimits(**{**LIMITS.__dict__, "max_nesting": 2})
    assert extract(tmp_path, outer, two) == {"inner.zip/deep.txt": b"deep", "top.txt": b"top"}


# --- hostile input -----------------------------------------------------------------------------


def test_zip_bomb_by_ratio(tmp_path: Path) -> None:
    assert reason(tmp_path, zip_of({"zeros": b"\0" * 5_000_000})) == "ratio_exceeded"


def test_zip_bomb_by_size(tmp_path: Path) -> None:
    big = ExtractLimits(**{**LIMITS.__dict__, "max_ratio": 10_000, "max_total_bytes": 3_000_000})
    assert reason(tmp_path, zip_of({"zeros": b"\0" * 5_000_000}), big) == "total_size_exceeded"


def test_zip_lying_about_sizes_is_caught(tmp_path: Path) -> None:
    data = bytearray(zip_of({"zeros": b"\0" * 5_000_000}))
    # shrink the declared uncompressed size in the central directory so the pre-check passes
    cd = data.rfind(b"PK\x01\x02")
    data[cd + 24:cd + 28] = (1000).to_bytes(4, "little")
    assert reason(tmp_path, bytes(data)) == "corrupt_archive"


def test_tar_bomb(tmp_path: Path) -> None:
    assert reason(tmp_path, tar_of({"zeros": b"\0" * 5_000_000}, "w:gz")) == "ratio_exceeded"
    roomy = ExtractLimits(**{**LIMITS.__dict__, "max_ratio": 1e6, "max_total_bytes": 1_000_000})
    assert reason(tmp_path, tar_of({"zeros": b"\0" * 5_000_000}, "w:gz"), roomy) == "total_size_exceeded"


def test_too_many_members(tmp_path: Path) -> None:
    files = {f"f{i}": b"x" for i in range(6)}
    assert reason(tmp_path, zip_of(files)) == "too_many_members"
    assert reason(tmp_path, tar_of(files)) == "too_many_members"


@pytest.mark.parametrize("name", ["../evil", "a/../../evil", "/etc/passwd", "C:/windows/evil", "..\\evil"])
def test_traversal(tmp_path: Path, name: str) -> None:
    assert reason(tmp_path, zip_of({name: b"x"})) == "path_traversal"
    assert reason(tmp_path, tar_of({name: b"x"})) == "path_traversal"


def test_path_too_long(tmp_path: Path) -> None:
    assert reason(tmp_path, zip_of({"a" * 61: b"x"})) == "path_too_long"


def test_tar_links_and_specials(tmp_path: Path) -> None:
    sym = tarfile.TarInfo("link")
    sym.type, sym.linkname = tarfile.SYMTYPE, "/etc/passwd"
    hard = tarfile.TarInfo("hard")
    hard.type, hard.linkname = tarfile.LNKTYPE, "other"
    fifo = tarfile.TarInfo("fifo")
    fifo.type = tarfile.FIFOTYPE
    assert reason(tmp_path, tar_with(sym)) == "link_member"
    assert reason(tmp_path, tar_with(hard, "w:gz")) == "link_member"
    assert reason(tmp_path, tar_with(fifo)) == "special_member"


def test_zip_symlink(tmp_path: Path) -> None:
    bio = io.BytesIO()
    with zipfile.ZipFile(bio, "w") as z:
        info = zipfile.ZipInfo("link")
        info.external_attr = (0o120777 << 16)
        z.writestr(info, "/etc/passwd")
    assert reason(tmp_path, bio.getvalue()) == "link_member"


def test_other_refusals(tmp_path: Path) -> None:
    assert reason(tmp_path, b"just some bytes") == "not_an_archive"
    assert reason(tmp_path, zip_of({"empty": b"", "dir/": b""})) == "empty_archive"
    assert reason(tmp_path, zip_of({"a": b"x" * 1000})[:-30]) in ("corrupt_archive", "not_an_archive")
    assert reason(tmp_path, tar_of({"a": bytes(range(256)) * 4000}, "w:gz")[:500]) == "corrupt_archive"
    small = ExtractLimits(**{**LIMITS.__dict__, "max_upload_bytes": 100})
    assert reason(tmp_path, zip_of({"a": b"x" * 1000}), small) == "archive_too_large"


def test_broken_cart_inside_zip_rejects_the_whole_upload(tmp_path: Path, settings: Settings) -> None:
    good = b"".join(cart_chunks([b"fine"]))
    bad = b"".join(cart_chunks([b"y" * 100_000]))[:60]
    with pytest.raises(UnsupportedContent) as err:
        unpack_upload(write(tmp_path, zip_of({"good.cart": good, "bad.cart": bad})), tmp_path / "w", settings,
                      extract=True)
    assert err.value.parameters["reason"] == "truncated_cart"


def _gz_tar_with_header(tmp_path: Path, kind: bytes, size: int) -> Path:
    """A .tar.gz whose first header is of ``kind`` with ``size`` bytes of 'a' behind it, then a file:
    written in chunks, so the test itself never holds the header's bytes."""
    import gzip

    header = tarfile.TarInfo("././@LongLink")
    header.type, header.size = kind, size
    path = tmp_path / "crafted.tar.gz"
    with gzip.open(path, "wb", compresslevel=1) as out:
        out.write(header.tobuf(format=tarfile.GNU_FORMAT))
        chunk = b"a" * (1024 * 1024)
        for start in range(0, size, len(chunk)):
            out.write(chunk[:size - start])
        out.write(b"\0" * (-size % tarfile.BLOCKSIZE))
        out.write(tar_of({"after": b"x"}))
    return path


@pytest.mark.parametrize(("kind", "expected"), [(tarfile.GNUTYPE_LONGNAME, "path_too_long"),
                                                (tarfile.GNUTYPE_LONGLINK, "path_too_long"),
                                                (tarfile.XHDTYPE, "header_too_large"),
                                                (tarfile.XGLTYPE, "header_too_large")])
def test_a_huge_extended_tar_header_is_refused_before_it_is_read(tmp_path: Path, kind: bytes, expected: str) -> None:
    """tarfile reads such headers whole (twice), so a gzip of a few hundred KB took gigabytes."""
    import tracemalloc

    path = _gz_tar_with_header(tmp_path, kind, 48 * 1024 * 1024)
    assert path.stat().st_size < 1024 * 1024
    (tmp_path / "work").mkdir()
    tracemalloc.start()
    try:
        with pytest.raises(UnsupportedContent) as caught:
            extract_archive(path, tmp_path / "work", LIMITS)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert caught.value.parameters["reason"] == expected
    assert peak < 8 * 1024 * 1024


def test_tar_long_names_within_the_header_bound_meet_the_path_limit(tmp_path: Path) -> None:
    assert reason(tmp_path, tar_of({"a" * 61: b"x"})) == "path_too_long"
    assert reason(tmp_path, tar_of({"a" * 200: b"x"}, "w:gz")) == "path_too_long"
    roomy = ExtractLimits(**{**LIMITS.__dict__, "max_path_length": 300})
    assert extract(tmp_path, tar_of({"a" * 200: b"x"}), roomy) == {"a" * 200: b"x"}


def test_a_gnu_sparse_tar_member_is_refused(tmp_path: Path) -> None:
    sparse = tarfile.TarInfo("holes")
    sparse.type, sparse.size = tarfile.GNUTYPE_SPARSE, 0
    data = sparse.tobuf(format=tarfile.GNU_FORMAT) + b"\0" * 1024
    assert reason(tmp_path, data) == "special_member"


# --- hostile and damaged ZIPs ----------------------------------------------------------------------


def _lzma_corrupt() -> bytes:
    bio = io.BytesIO()
    with zipfile.ZipFile(bio, "w", compression=zipfile.ZIP_LZMA) as z:
        z.writestr("a.txt", b"hello " * 2000)
    data = bytearray(bio.getvalue())
    start = 30 + len("a.txt") + 4 + 5 + 10  # local header, name, LZMA properties, into the stream
    for i in range(start, start + 40):
        data[i] ^= 0x5A
    return bytes(data)


def _empty_name() -> bytes:
    bio = io.BytesIO()
    with zipfile.ZipFile(bio, "w") as z:
        z.writestr(zipfile.ZipInfo(""), b"data")
    return bio.getvalue()


def _aes_unknown_strength() -> bytes:
    data = bytearray(aes_zip({"a.txt": b"hello world" * 100}, b"infected"))
    at = 0
    while (at := data.find(b"\x01\x99\x07\x00", at)) >= 0:  # the AES extra field: its strength byte
        data[at + 8] = 0x7E
        at += 1
    return bytes(data)


@pytest.mark.parametrize("make", [_lzma_corrupt, _empty_name, _aes_unknown_strength])
def test_damaged_zips_are_refused_as_corrupt(tmp_path: Path, make) -> None:
    """zipfile and pyzipper raise LZMAError, IndexError, KeyError or struct.error on such input:
    each answered 500."""
    assert reason(tmp_path, make(), passwords=("infected",)) == "corrupt_archive"


def test_mutated_archives_are_refused_with_a_reason_never_a_crash(tmp_path: Path, settings: Settings) -> None:
    """Seeded mutations of real archives (bytes changed, cut or removed) are either extracted or
    refused with an UnsupportedContent reason."""
    import random
    import shutil

    seeds = [(FIXTURES / name).read_bytes() for name in ("fake.zip", "fake_infected.zip", "fake.tar.gz")]
    seeds += [aes_zip({"a.txt": b"hello world" * 100}, b"infected"), tar_of({"d/a.txt": b"x" * 3000}, "w:xz")]
    rng = random.Random(7)
    reasons: set[str] = set()
    for i in range(400):
        data = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 4)):
            at = rng.randrange(len(data))
            roll = rng.random()
            if roll < 0.6:
                data[at] = rng.randrange(256)
            elif roll < 0.8:
                del data[at:at + rng.randint(1, 20)]
            else:
                data = data[:at] or bytearray(b"x")
        work = tmp_path / f"m{i}"
        try:
            unpack_upload(write(tmp_path, bytes(data)), work, settings, extract=True, passwords=["infected"])
        except UnsupportedContent as exc:
            reasons.add(exc.parameters["reason"])
        shutil.rmtree(work, ignore_errors=True)
    assert "corrupt_archive" in reasons


def test_a_wrong_zipcrypto_password_that_passes_the_check_byte_does_not_hide_the_right_one(tmp_path: Path) -> None:
    """ZipCrypto checks one byte of a password: 1 wrong password in 256 passes it, and a stored
    member then reads without error until its CRC. A probe of one byte took the first such
    password, and the right one behind it was never tried."""
    import random
    import subprocess

    payload = random.Random(3).randbytes(20_000)
    (tmp_path / "payload.bin").write_bytes(payload)
    subprocess.run(["zip", "-q", "-0", "-P", "infected", "stored.zip", "payload.bin"], cwd=tmp_path, check=True)
    stored = (tmp_path / "stored.zip").read_bytes()
    with pyzipper.AESZipFile(io.BytesIO(stored)) as zf:
        first = zf.infolist()[0]
        passing = None
        for n in range(100_000):
            try:
                with zf.open(first, pwd=f"wrong{n}".encode()) as probe:
                    probe.read(1)
            except RuntimeError:
                continue
            passing = f"wrong{n}"
            break
    assert passing is not None
    assert extract(tmp_path, stored, passwords=(passing, "infected")) == {"payload.bin": payload}
    assert reason(tmp_path, stored, passwords=(passing,)) == "bad_password"


def test_damaged_tars_are_refused_not_stored_changed_or_cut(tmp_path: Path) -> None:
    """tarfile never checks gzip's CRC, and takes a damaged header for the end of the archive: a
    flipped bit inside a .tar.gz was stored as changed bytes, and the members behind a damaged
    header were silently dropped."""
    rng = __import__("random").Random(11)
    files = {"a.txt": rng.randbytes(4000), "b.txt": rng.randbytes(4000)}
    plain = tar_of(files, "w")
    assert extract(tmp_path, plain) == files
    large = {**files, "c.bin": rng.randbytes(1_500_000)}  # bzip2's blocks are 900 KB: damage past the first
    for mode in ("w:gz", "w:bz2", "w:xz"):
        packed = bytearray(tar_of(large, mode))
        packed[len(packed) * 3 // 4] ^= 0x01
        limits = ExtractLimits(**{**LIMITS.__dict__, "max_ratio": 1000})
        assert reason(tmp_path, bytes(packed), limits) == "corrupt_archive", mode
    damaged = bytearray(plain)
    damaged[512 + 4096 + 100] ^= 0xFF  # inside the second member's header
    assert reason(tmp_path, bytes(damaged)) == "corrupt_archive"
    assert reason(tmp_path, plain[:512 + 4096 + 300]) == "corrupt_archive"  # cut inside that header
    gz = tar_of(files, "w:gz")
    assert reason(tmp_path, gz[:-6]) == "corrupt_archive"  # the gzip trailer cut short
