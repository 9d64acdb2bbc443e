"""Downloads over real HTTP (inventory §2.2, §7.4-7.5): formats unwrapped with the real tools,
visibility (404, never 403), bulk archives, raw streams with safe types only, and the audit trail."""

from __future__ import annotations

import io
import logging
import subprocess
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.submissions import CONTENT, FAKE_SHA256, Env, serve, sha256, submit, unwrap

MED = "MEDIUM REL:APPLE"
PNG = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d49444154789c63f8cf"
                    "c0f01f0005000201ffa6f1a3c40000000049454e44ae426082")
REPORT = b"MZ\x90\x00" * 64


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    with serve(tmp_path_factory.mktemp("downloads")) as e:
        yield e


@pytest.fixture(scope="module")
def stored(env: Env) -> dict[str, str]:
    """fake.txt for everybody; a binary only MEDIUM users see; an executable with a text, an image and
    an executable stream."""
    out = {}
    assert submit(env, "low", CONTENT / "fake.txt.cart", filename="fake.txt").status_code == 200
    resp = submit(env, "med", b"medium eyes only" * 8, fields={"security": MED})
    out["hidden"] = resp.json()[0]["sha256"]
    resp = submit(env, "low", b"MZ\x90\x00" + bytes(range(256)) * 8, filename="tool.exe",
                  streams=[("text", b"decompiled text\n" * 4), ("screenshot", PNG), ("report", REPORT)])
    assert resp.status_code == 200, resp.text
    out["exe"] = resp.json()[0]["sha256"]
    return out


@pytest.mark.parametrize("fmt", ["cart", "malpz", "zip"])
def test_every_format_unwraps_to_the_stored_bytes(env: Env, stored: dict[str, str], fmt: str, tmp_path: Path) -> None:
    with env.client("low") as client:
        resp = client.get(f"/api/v0/binaries/{FAKE_SHA256}/content", params={"format": fmt})
    assert resp.status_code == 200
    assert resp.headers["content-disposition"].startswith(f'attachment; filename="{FAKE_SHA256}.')
    assert resp.headers["x-content-type-options"] == "nosniff"
    files = unwrap(fmt, resp.content, tmp_path)
    assert [sha256(b) for b in files.values()] == [FAKE_SHA256]
    if fmt == "zip":
        assert list(files) == [FAKE_SHA256]


def test_the_default_is_cart_with_no_name_or_digests(env: Env, stored: dict[str, str]) -> None:
    with env.client("low") as client:
        body = client.get(f"/api/v0/binaries/{FAKE_SHA256}/content").content
    assert body[:4] == b"CART" and b"fake.txt" not in body
    assert body[-28:-24] == b"TRAC" and int.from_bytes(body[-8:], "little") == 0  # no optional footer


def test_plain_and_unknown_formats_are_refused(env: Env, stored: dict[str, str]) -> None:
    with env.client("low") as client:
        plain = client.get(f"/api/v0/binaries/{FAKE_SHA256}/content", params={"format": "plain"})
        bogus = client.get(f"/api/v0/binaries/{FAKE_SHA256}/content", params={"format": "rar"})
    assert plain.status_code == 400 and "plain downloads are disabled" in plain.json()["message"]
    assert bogus.status_code == 422
    assert all(f"'{name}'" in bogus.json()["message"] for name in ("cart", "malpz", "zip", "plain"))


def test_plain_downloads_where_the_setting_allows(tmp_path: Path) -> None:
    with serve(tmp_path, download_allow_plain=True) as plain_env:
        submit(plain_env, "low", CONTENT / "fake.txt", filename="fake.txt")
        with plain_env.client("low") as client:
            resp = client.get(f"/api/v0/binaries/{FAKE_SHA256}/content", params={"format": "plain"})
    assert resp.status_code == 200 and resp.content == (CONTENT / "fake.txt").read_bytes()


def test_content_is_404_for_absent_and_for_hidden_binaries(env: Env, stored: dict[str, str]) -> None:
    hidden = stored["hidden"]
    with env.client("low") as low, env.client("med") as med:
        assert low.head(f"/api/v0/binaries/{FAKE_SHA256}/content").status_code == 200
        assert med.head(f"/api/v0/binaries/{hidden}/content").status_code == 200
        for sha in (hidden, "f" * 64):
            assert low.head(f"/api/v0/binaries/{sha}/content").status_code == 404
            assert low.get(f"/api/v0/binaries/{sha}/content").status_code == 404
        assert low.get("/api/v0/binaries/not-a-hash/content").status_code == 422


def test_content_is_gone_when_the_bytes_are_gone(env: Env) -> None:
    resp = submit(env, "low", b"bytes that will vanish" * 4)
    sha = resp.json()[0]["sha256"]
    with env.client("low") as client:
        assert client.head(f"/api/v0/binaries/{sha}/content").status_code == 200
        env.svc.blobs.delete("samples", "content", sha)
        assert client.head(f"/api/v0/binaries/{sha}/content").status_code == 404
        assert client.get(f"/api/v0/binaries/{sha}/content").status_code == 404


def test_an_alternate_stream_is_downloadable_by_its_own_hash(env: Env, stored: dict[str, str]) -> None:
    with env.client("low") as client:
        resp = client.get(f"/api/v0/binaries/{sha256(PNG)}/content", params={"format": "malpz"})
    assert resp.status_code == 200
    assert unwrap("malpz", resp.content, Path())["malpz"] == PNG


def test_a_malpz_of_an_alternate_stream_carries_the_security_of_the_documents_holding_it(env: Env) -> None:
    """A stream has no documents of its own: its MALPZ was labelled with the default security (LOW)
    although only MEDIUM users may see it."""
    import malpz

    report = b"a report only medium users see\n" * 40
    resp = submit(env, "med", b"MZ binary with a medium report" * 10, fields={"security": MED},
                  streams=[("report", report)])
    assert resp.status_code == 200, resp.text
    with env.client("med") as client:
        single = client.get(f"/api/v0/binaries/{sha256(report)}/content", params={"format": "malpz"})
        bulk = client.post("/api/v0/binaries/content/bulk", params={"format": "malpz"},
                           json={"binaries": [sha256(report)]})
    assert single.status_code == 200 and malpz.unwrap(single.content)["classification"] == MED
    assert bulk.status_code == 200
    with zipfile.ZipFile(io.BytesIO(bulk.content)) as archive:
        (entry,) = archive.namelist()
        assert malpz.unwrap(archive.read(entry))["classification"] == MED
    with env.client("low") as client:
        assert client.head(f"/api/v0/binaries/{sha256(report)}/content").status_code == 404


# --- bulk ------------------------------------------------------------------------------------------


def test_bulk_is_an_aes_zip_of_the_visible_binaries_named_as_given(env: Env, stored: dict[str, str],
                                                                    tmp_path: Path) -> None:
    names = [FAKE_SHA256.upper(), stored["exe"], stored["hidden"], "e" * 64]
    with env.client("low") as client:
        resp = client.post("/api/v0/binaries/content/bulk", json={"binaries": names})
    assert resp.status_code == 200 and resp.headers["content-type"] == "application/zip"
    files = unwrap("zip", resp.content, tmp_path)
    assert sorted(files) == sorted([FAKE_SHA256.upper(), stored["exe"]])
    assert sha256(files[FAKE_SHA256.upper()]) == FAKE_SHA256
    with pytest.raises(subprocess.CalledProcessError):  # 7z cannot open it without the password
        unwrap("zip", resp.content, tmp_path / "nopass", password="")


def test_bulk_can_hold_cart_or_malpz_files(env: Env, stored: dict[str, str], tmp_path: Path) -> None:
    with env.client("low") as client:
        resp = client.post("/api/v0/binaries/content/bulk", params={"format": "cart"}, json={"binaries": [FAKE_SHA256]})
    (name, inner), = unwrap("zip", resp.content, tmp_path, password="").items()
    assert name == f"{FAKE_SHA256}.cart"
    assert [sha256(b) for b in unwrap("cart", inner, tmp_path / "c").values()] == [FAKE_SHA256]


def test_bulk_refusals(env: Env, stored: dict[str, str]) -> None:
    with env.client("low") as client:
        none = client.post("/api/v0/binaries/content/bulk", json={"binaries": [stored["hidden"]]})
        bad = client.post("/api/v0/binaries/content/bulk", json={"binaries": ["abc"]})
        empty = client.post("/api/v0/binaries/content/bulk", json={"binaries": []})
        plain = client.post("/api/v0/binaries/content/bulk", params={"format": "plain"},
                            json={"binaries": [FAKE_SHA256]})
    assert none.status_code == 404 and bad.status_code == 422 and empty.status_code == 422
    assert plain.status_code == 400


# --- raw streams ----------------------------------------------------------------------------------


def test_safe_streams_are_served_raw_and_unsafe_ones_refused(env: Env, stored: dict[str, str]) -> None:
    exe = stored["exe"]
    text = sha256(b"decompiled text\n" * 4)
    with env.client("low") as client:
        resp = client.get(f"/api/v0/binaries/{exe}/content/{text}")
        assert resp.status_code == 200 and resp.content == b"decompiled text\n" * 4
        assert resp.headers["content-type"].startswith("text/plain")
        assert resp.headers["x-content-type-options"] == "nosniff"
        image = client.get(f"/api/v0/binaries/{exe}/content/{sha256(PNG)}")
        assert image.status_code == 200 and image.headers["content-type"] == "image/png"
        assert image.content == PNG
        # the binary itself is text: served as text/plain
        fake = client.get(f"/api/v0/binaries/{FAKE_SHA256}/content/{FAKE_SHA256}")
        assert fake.status_code == 200 and fake.headers["content-type"].startswith("text/plain")
        unsafe = client.get(f"/api/v0/binaries/{exe}/content/{sha256(REPORT)}")
        assert unsafe.status_code == 400 and "not allowed for direct download" in unsafe.json()["message"]
        assert client.get(f"/api/v0/binaries/{exe}/content/{exe}").status_code == 400
        assert client.get(f"/api/v0/binaries/{exe}/content/{'d' * 64}").status_code == 404
        assert client.get(f"/api/v0/binaries/{stored['hidden']}/content/{stored['hidden']}").status_code == 404


def test_uploads_and_downloads_are_audited(env: Env, stored: dict[str, str], caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="azul_metastore.audit"):
        submit(env, "low", b"audited bytes" * 4, filename="audited.bin")
        with env.client("low") as client:
            client.get(f"/api/v0/binaries/{FAKE_SHA256}/content", params={"format": "zip"})
    lines = [r.getMessage() for r in caplog.records if r.name == "azul_metastore.audit"]
    upload = next(line for line in lines if line.startswith('event="binary_submit"'))
    assert 'user="low"' in upload and 'filename="audited.bin"' in upload and "user" in upload
    assert 'source="samples"' in upload and "bob" in upload
    download = next(line for line in lines if line.startswith('event="binary_download"'))
    assert f'sha256="{FAKE_SHA256}"' in download and 'format="zip"' in download and 'user="low"' in download
