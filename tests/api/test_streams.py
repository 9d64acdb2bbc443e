"""The dispatcher-compatible stream API over real HTTP (uvicorn on 127.0.0.1)."""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from azul_metastore.app import Services
from tests.unit.content.samples import pe

FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "content"
PE = pe()


def upload(server: str, source: str, label: str, body: bytes | Iterator[bytes], **params: str) -> httpx.Response:
    return httpx.post(f"{server}/api/v3/stream/{source}/{label}", content=body, params=params, timeout=120)


def test_post_identifies_and_get_returns_bytes(server: str) -> None:
    resp = upload(server, "samples", "content", PE)
    assert resp.status_code == 200, resp.text
    ds = resp.json()
    assert ds["sha256"] == hashlib.sha256(PE).hexdigest()
    assert ds["md5"] == hashlib.md5(PE).hexdigest() and ds["size"] == len(PE)
    assert ds["file_format"] == "executable/windows/pe32" and ds["file_extension"] == "exe"
    assert ds["label"] == "content" and ds["ssdeep"] and ds["tlsh"].startswith("T1")
    assert ds["magic"].startswith("PE32 executable") and ds["identify_version"] == 1
    got = httpx.get(f"{server}/api/v3/stream/samples/content/{ds['sha256']}")
    assert got.status_code == 200 and got.content == PE
    assert got.headers["content-length"] == str(len(PE))


def test_fixture_text_is_identified(server: str) -> None:
    data = (FIXTURES / "fake.txt").read_bytes()
    ds = upload(server, "samples", "text", data).json()
    assert ds["file_format"] == "text/plain" and ds["label"] == "text"


def test_skip_identify_and_expected_sha256(server: str, services: Services) -> None:
    data = b"quick" * 100
    sha = hashlib.sha256(data).hexdigest()
    ds = upload(server, "samples", "content", data, **{"skip-identify": "true", "expected-sha256": sha}).json()
    assert ds["sha256"] == sha and ds["size"] == 500 and ds["md5"] is None and ds["file_format"] is None


def test_expected_sha256_mismatch_stores_nothing(server: str, services: Services) -> None:
    data = b"these bytes" * 50
    resp = upload(server, "samples", "content", data, **{"expected-sha256": "0" * 64})
    assert resp.status_code == 422
    assert resp.json()["detail"]["parameters"]["reason"] == "sha256_mismatch"
    assert list(services.blobs.iter_refs()) == []
    assert list((services.settings.blobs_path / "tmp").iterdir()) == []


def test_bad_label_and_hash_are_422(server: str) -> None:
    assert upload(server, "samples", "kitten", b"x").status_code == 422
    assert httpx.get(f"{server}/api/v3/stream/samples/content/nothex").status_code == 422
    assert upload(server, "bad..source", "content", b"x").status_code == 422


def test_head_and_missing(server: str) -> None:
    data = os.urandom(3000)
    sha = upload(server, "samples", "content", data).json()["sha256"]
    head = httpx.head(f"{server}/api/v3/stream/samples/content/{sha}")
    assert head.status_code == 200 and head.headers["content-length"] == "3000"
    assert httpx.head(f"{server}/api/v3/stream/other/content/{sha}").status_code == 404
    missing = httpx.get(f"{server}/api/v3/stream/samples/content/{'a' * 64}")
    assert missing.status_code == 404 and missing.json()["detail"]["internal"] == "NotFound"


def test_range_requests(server: str) -> None:
    data = bytes(range(256)) * 64
    sha = upload(server, "samples", "content", data).json()["sha256"]
    url = f"{server}/api/v3/stream/samples/content/{sha}"
    part = httpx.get(url, headers={"Range": "bytes=10-19"})
    assert part.status_code == 206 and part.content == data[10:20]
    assert part.headers["content-range"] == f"bytes 10-19/{len(data)}"
    tail = httpx.get(url, headers={"Range": "bytes=-5"})
    assert tail.status_code == 206 and tail.content == data[-5:]
    rest = httpx.get(url, headers={"Range": "bytes=16000-"})
    assert rest.status_code == 206 and rest.content == data[16000:]
    past_end = httpx.get(url, headers={"Range": "bytes=10-999999"})
    assert past_end.status_code == 206 and past_end.content == data[10:]
    assert httpx.get(url, headers={"Range": "bytes=99999-"}).status_code == 416
    assert httpx.get(url, headers={"Range": "bytes=0-1,5-6"}).status_code == 200
    # positions of any length (Python's int() refuses over 4,300 digits; that answered 500)
    huge = "9" * 5000
    whole = httpx.get(url, headers={"Range": f"bytes=10-{huge}"})
    assert whole.status_code == 206 and whole.content == data[10:]
    assert httpx.get(url, headers={"Range": f"bytes=-{huge}"}).content == data
    assert httpx.get(url, headers={"Range": f"bytes={huge}-"}).status_code == 416
    assert httpx.get(url, headers={"Range": f"bytes={'0' * 5000}5-9"}).content == data[5:10]


def test_patch_copies_between_sources(server: str) -> None:
    data = b"copy me" * 10
    sha = upload(server, "samples", "content", data).json()["sha256"]
    resp = httpx.patch(f"{server}/api/v3/stream/samples/virustotal/content/{sha}")
    assert resp.status_code == 200 and resp.json()["size"] == len(data)
    assert httpx.get(f"{server}/api/v3/stream/virustotal/content/{sha}").content == data
    assert httpx.patch(f"{server}/api/v3/stream/nobody/virustotal/content/{sha}").status_code == 404


def test_delete_if_older_than(server: str) -> None:
    sha = upload(server, "samples", "content", b"old news" * 10).json()["sha256"]
    url = f"{server}/api/v3/stream/samples/content/{sha}"
    kept = httpx.delete(url, params={"ifOlderThan": int(time.time()) - 3600})
    assert kept.status_code == 200 and kept.json() == {"deleted": False}
    assert httpx.head(url).status_code == 200
    gone = httpx.delete(url, params={"ifOlderThan": int(time.time()) + 60})
    assert gone.json() == {"deleted": True}
    assert httpx.head(url).status_code == 404
    assert httpx.delete(url).status_code == 404


def _rss_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(field)


@pytest.mark.slow
def test_one_gib_upload_and_download_in_bounded_memory(server: str, services: Services) -> None:
    """1 GiB through the API both ways; server and client share this process, so its peak RSS
    bounds what both hold. The kernel's high-water mark is reset first (clear_refs 5)."""
    total, block = 1024**3, os.urandom(1024 * 1024)

    def body() -> Iterator[bytes]:
        for i in range(total // len(block)):
            yield i.to_bytes(8, "little") + block[8:]

    expected = hashlib.sha256()
    for chunk in body():
        expected.update(chunk)
    peak = [0]
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], _rss_kib("VmRSS"))
            time.sleep(0.05)

    Path("/proc/self/clear_refs").write_text("5")
    baseline = _rss_kib("VmRSS")
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        started = time.monotonic()
        resp = upload(server, "samples", "content", body(), **{"skip-identify": "false"})
        up_s = time.monotonic() - started
        assert resp.status_code == 200, resp.text
        ds = resp.json()
        assert ds["size"] == total and ds["sha256"] == expected.hexdigest()
        got, size = hashlib.sha256(), 0
        started = time.monotonic()
        with httpx.stream("GET", f"{server}/api/v3/stream/samples/content/{ds['sha256']}", timeout=300) as r:
            assert r.status_code == 200
            for chunk in r.iter_bytes():
                got.update(chunk)
                size += len(chunk)
        down_s = time.monotonic() - started
        assert size == total and got.hexdigest() == ds["sha256"]
    finally:
        stop.set()
        sampler.join()
    growth_mib = (max(peak[0], _rss_kib("VmHWM")) - baseline) / 1024
    print(f"\n1 GiB: upload {total / up_s / 1e6:.0f} MB/s (identified), download {total / down_s / 1e6:.0f} MB/s, "
          f"peak RSS growth {growth_mib:.1f} MiB")
    assert growth_mib < 100
    assert services.blobs.delete("samples", "content", ds["sha256"])
