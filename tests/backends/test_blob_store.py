"""The behaviour suite of the BlobStore port. Every adapter must pass all of it.

The ``blobs`` fixture is parametrized over the adapters; add one by adding a param (marked with
the service it needs, e.g. ``pytest.param("s3", marks=pytest.mark.s3)``) and a branch in
``_build``. Tests use only the port's methods, so they hold every adapter to the same answers.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from azul_metastore.blobs.port import BlobStore
from azul_metastore.errors import InvalidInput, NotFound

S3_BUCKET = "metastore-suite"


def _build(kind: str, root: Path) -> BlobStore:
    if kind == "filesystem":
        from azul_metastore.blobs.filesystem import FileSystemBlobStore

        return FileSystemBlobStore(root)
    if kind == "s3":
        from azul_metastore.blobs.s3 import S3BlobStore, new_client

        # the fixture leaves the connection and this test's key prefix beside the root, so that
        # processes spawned by a test reach the same namespace
        where = json.loads((root / "s3.json").read_text())
        return S3BlobStore(new_client(**where["client"]), S3_BUCKET, where["prefix"])
    raise AssertionError(kind)


def _prepare_s3(request: pytest.FixtureRequest, root: Path) -> None:
    from azul_metastore.blobs.s3 import S3BlobStore, new_client

    endpoint = request.getfixturevalue("s3_endpoint")
    client = {"endpoint_url": endpoint["endpoint_url"], "access_key": endpoint["aws_access_key_id"],
              "secret_key": endpoint["aws_secret_access_key"], "region": endpoint["region_name"]}
    S3BlobStore(new_client(**client), S3_BUCKET, create_bucket=True)
    root.mkdir(parents=True)
    # a fresh key prefix per test: it sees only its own objects
    (root / "s3.json").write_text(json.dumps({"client": client, "prefix": f"test-{uuid.uuid4().hex}"}))


@pytest.fixture(params=["filesystem", pytest.param("s3", marks=pytest.mark.s3)])
def blobs(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BlobStore]:
    if request.param == "s3":
        _prepare_s3(request, tmp_path / "blobs")
    store = _build(request.param, tmp_path / "blobs")
    yield store
    store.close()
    if request.param == "s3":  # leave the shared bucket as the test found it
        from azul_metastore.blobs.s3 import S3BlobStore

        assert isinstance(store, S3BlobStore)
        for item in list(store._list(store.prefix)):
            store.client.delete_object(Bucket=store.bucket, Key=item["Key"])


def put(store: BlobStore, source: str, label: str, data: bytes, expected: str | None = None) -> str:
    writer = store.open_writer(source, label, expected)
    for i in range(0, len(data), 100_000):
        writer.write(data[i:i + 100_000])
    sha256, size = writer.commit()
    assert size == len(data)
    return sha256


def read(store: BlobStore, source: str, label: str, sha256: str, start: int = 0, stop: int | None = None) -> bytes:
    return b"".join(store.open_range(source, label, sha256, start, stop))


def test_put_head_read(blobs: BlobStore) -> None:
    data = os.urandom(1_234_567)
    before = datetime.now(UTC) - timedelta(seconds=2)
    sha = put(blobs, "samples", "content", data)
    assert sha == hashlib.sha256(data).hexdigest()
    info = blobs.head("samples", "content", sha)
    assert info is not None and info.size == len(data)
    assert before <= info.stored_at <= datetime.now(UTC) + timedelta(seconds=2)
    assert read(blobs, "samples", "content", sha) == data
    assert read(blobs, "samples", "content", sha.upper()) == data


def test_ranges(blobs: BlobStore) -> None:
    data = bytes(range(256)) * 10_000
    sha = put(blobs, "samples", "content", data)
    assert read(blobs, "samples", "content", sha, 0, 10) == data[:10]
    assert read(blobs, "samples", "content", sha, 1_000_000, 2_000_001) == data[1_000_000:2_000_001]
    assert read(blobs, "samples", "content", sha, len(data) - 5) == data[-5:]
    assert read(blobs, "samples", "content", sha, len(data) + 10) == b""
    assert read(blobs, "samples", "content", sha, 5, 5) == b""
    with pytest.raises(InvalidInput):
        blobs.open_range("samples", "content", sha, 10, 5)


def test_empty_blob(blobs: BlobStore) -> None:
    sha = put(blobs, "samples", "content", b"")
    assert sha == hashlib.sha256(b"").hexdigest()
    info = blobs.head("samples", "content", sha)
    assert info is not None and info.size == 0
    assert read(blobs, "samples", "content", sha) == b""


def test_missing_is_none_or_not_found(blobs: BlobStore) -> None:
    sha = hashlib.sha256(b"nothing").hexdigest()
    assert blobs.head("samples", "content", sha) is None
    with pytest.raises(NotFound):
        blobs.open_range("samples", "content", sha)
    with pytest.raises(NotFound):
        blobs.delete("samples", "content", sha)
    with pytest.raises(NotFound):
        blobs.copy("samples", "other", "content", sha)


def test_keys_are_per_source_and_label(blobs: BlobStore) -> None:
    sha = put(blobs, "samples", "content", b"abc" * 100)
    assert blobs.head("samples", "text", sha) is None
    assert blobs.head("virustotal", "content", sha) is None


def test_expected_sha256_mismatch_stores_nothing(blobs: BlobStore) -> None:
    data = b"the real bytes"
    wrong = hashlib.sha256(b"other").hexdigest()
    with pytest.raises(InvalidInput) as err:
        put(blobs, "samples", "content", data, expected=wrong)
    assert err.value.parameters["reason"] == "sha256_mismatch"
    assert blobs.head("samples", "content", hashlib.sha256(data).hexdigest()) is None
    assert list(blobs.iter_refs()) == []
    assert put(blobs, "samples", "content", data, expected=hashlib.sha256(data).hexdigest())


def test_abort_stores_nothing(blobs: BlobStore) -> None:
    writer = blobs.open_writer("samples", "content")
    writer.write(b"partial")
    writer.abort()
    writer.abort()
    assert list(blobs.iter_refs()) == []


def test_bad_keys_are_rejected(blobs: BlobStore) -> None:
    # "$" also matches before a final newline: "samples\n" made a folder of that name
    for source, label in [("../etc", "content"), ("a/b", "content"), ("samples", ".."), ("", "content"),
                          ("samples\n", "content"), ("samples", "content\n")]:
        with pytest.raises(InvalidInput):
            blobs.open_writer(source, label)
    for sha in ("not-a-hash", "a" * 64 + "\n"):
        with pytest.raises(InvalidInput):
            blobs.head("samples", "content", sha)


def test_copy_shares_bytes_and_delete_keeps_them_while_referenced(blobs: BlobStore) -> None:
    data = os.urandom(50_000)
    sha = put(blobs, "samples", "content", data)
    info = blobs.copy("samples", "virustotal", "content", sha)
    assert info.size == len(data)
    assert read(blobs, "virustotal", "content", sha) == data
    assert blobs.delete("samples", "content", sha) is True
    assert blobs.head("samples", "content", sha) is None
    assert read(blobs, "virustotal", "content", sha) == data
    assert blobs.delete("virustotal", "content", sha) is True
    assert list(blobs.iter_refs(sha256=sha)) == []
    with pytest.raises(NotFound):
        blobs.open_range("virustotal", "content", sha)


def test_same_bytes_under_two_labels(blobs: BlobStore) -> None:
    data = b"shared" * 1000
    sha = put(blobs, "samples", "content", data)
    assert put(blobs, "samples", "text", data) == sha
    blobs.delete("samples", "content", sha)
    assert read(blobs, "samples", "text", sha) == data


def test_delete_if_older_than(blobs: BlobStore) -> None:
    sha = put(blobs, "samples", "content", b"age me")
    stored = blobs.head("samples", "content", sha)
    assert stored is not None
    assert blobs.delete("samples", "content", sha, if_older_than=stored.stored_at - timedelta(hours=1)) is False
    assert blobs.head("samples", "content", sha) is not None
    assert blobs.delete("samples", "content", sha, if_older_than=datetime.now(UTC) + timedelta(seconds=5)) is True
    assert blobs.head("samples", "content", sha) is None


def test_restore_refreshes_stored_time(blobs: BlobStore) -> None:
    sha = put(blobs, "samples", "content", b"again")
    first = blobs.head("samples", "content", sha)
    time.sleep(0.05)
    put(blobs, "samples", "content", b"again")
    second = blobs.head("samples", "content", sha)
    assert first is not None and second is not None and second.stored_at > first.stored_at


def test_iter_refs(blobs: BlobStore) -> None:
    a = put(blobs, "samples", "content", b"a" * 10)
    b = put(blobs, "samples", "text", b"b" * 10)
    blobs.copy("samples", "testing", "content", a)
    refs = {(r.source, r.label, r.sha256) for r in blobs.iter_refs()}
    assert refs == {("samples", "content", a), ("samples", "text", b), ("testing", "content", a)}
    assert {(r.source, r.label) for r in blobs.iter_refs(sha256=a)} == {("samples", "content"),
                                                                        ("testing", "content")}
    assert {r.sha256 for r in blobs.iter_refs(source="testing")} == {a}
    assert list(blobs.iter_refs(source="nobody")) == []
    assert all(r.stored_at.tzinfo is not None for r in blobs.iter_refs())


def _hammer(root: str, kind: str, seed: int, rounds: int) -> None:
    store = _build(kind, Path(root))
    data = b"contended bytes" * 1000
    sha = hashlib.sha256(data).hexdigest()
    source = f"proc{seed}"
    for _ in range(rounds):
        writer = store.open_writer(source, "content")
        writer.write(data)
        writer.commit()
        assert b"".join(store.open_range(source, "content", sha)) == data
        store.delete(source, "content", sha)


def test_concurrent_processes_never_lose_referenced_bytes(blobs: BlobStore, tmp_path: Path,
                                                          request: pytest.FixtureRequest) -> None:
    """Several processes store and delete the same bytes at once; a live reference always reads."""
    kind = request.node.callspec.params["blobs"]
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_hammer, args=(str(tmp_path / "blobs"), kind, i, 40)) for i in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    assert list(blobs.iter_refs()) == []
