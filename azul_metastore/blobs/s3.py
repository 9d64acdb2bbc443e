"""The scale-out blob store: one S3 bucket (AWS S3, SeaweedFS, MinIO ...) through boto3.

Keys under ``prefix`` (empty in production; the tests give each test its own)::

    objects/ab/cd/<sha256>            the bytes, once per sha256
    refs/<source>/<label>/<sha256>    empty marker of a reference; metadata: stored-at (ns), size
    hashes/<sha256>/<source>/<label>  the same reference indexed by sha256 ("who still uses it?")
    locks/<sha256>                    a short-lived lock (conditional create) while references change
    tmp/<uuid>                        uploads whose sha256 was not known in advance

Why this shape:

* The same content addressing as the filesystem adapter, so the two hold the same data and a
  migration is a copy. Age-off of a source lists ``refs/<source>/``; deleting a reference asks
  whether others remain with one listing of ``hashes/<sha256>/`` instead of probing every source.
  Markers are written ``hashes`` first and removed ``refs`` first, so a crash between the two
  can leave an object too many (kept), never a reference without its bytes.
* S3 has no rename, so a mismatched upload is kept invisible instead: when the caller names the
  expected sha256 the multipart upload goes straight to the object key and is only *completed*
  after the bytes verified (aborted otherwise); when it does not, parts go to ``tmp/`` and are
  copied server-side to the object key once the sha256 is known. Uploads smaller than one part
  are held in memory (one part at most) and written with a single PUT after verification.
  Nothing ever holds more than one part in memory.
* Publishing (object + markers) and deleting (markers, then the object if unreferenced) are
  check-then-act sequences, so they take a per-sha256 lock: an object created with
  ``If-None-Match: *`` and removed with ``If-Match`` its ETag (S3 conditional writes). A lock
  whose holder died is broken after ``lock_ttl`` seconds. Reads take no lock.
* ``stored_at`` is the time in the marker's metadata (ns). Listings (``iter_refs`` without a
  sha256) use the marker's ``LastModified`` instead, which S3 gives to the second: fine for
  age-off, and ``delete(if_older_than=...)`` always compares the exact time.
"""

from __future__ import annotations

import contextlib
import hashlib
import random
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from azul_metastore.blobs.port import BlobInfo, BlobRef, check_key
from azul_metastore.errors import BackendUnavailable, InvalidInput, NotFound

__all__ = ["S3BlobStore", "new_client"]

MIN_PART = 5 * 1024 * 1024  # S3's smallest part (all but the last)
READ_CHUNK = 1024 * 1024
_COPY_MAX = 5 * 1024**3  # larger objects must be copied part by part
_COPY_PART = 512 * 1024**2
_MISSING = {"404", "NoSuchKey", "NotFound"}
_TAKEN = {"412", "PreconditionFailed", "409", "ConditionalRequestConflict"}


def new_client(endpoint_url: str, access_key: str = "", secret_key: str = "", region: str = "us-east-1") -> Any:
    """A boto3 S3 client as the adapter expects it (path-style keys suit SeaweedFS and MinIO).

    Empty keys leave credentials to boto3's usual chain (environment, instance role).
    """
    import boto3
    from botocore.config import Config

    config = Config(
        s3={"addressing_style": "path"},
        retries={"mode": "standard", "max_attempts": 5},
        max_pool_connections=32,
        connect_timeout=5,
        read_timeout=120,
    )
    return boto3.client(
        "s3",
        endpoint_url=endpoint_url or None,
        aws_access_key_id=access_key or None,
        aws_secret_access_key=secret_key or None,
        region_name=region,
        config=config,
    )


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


@contextlib.contextmanager
def _s3_errors(what: str) -> Iterator[None]:
    try:
        yield
    except ClientError as exc:
        raise BackendUnavailable(f"S3 could not {what}: {_code(exc)} {exc}") from exc
    except BotoCoreError as exc:
        raise BackendUnavailable(f"S3 could not {what}: {exc}") from exc


class _S3Writer:
    def __init__(self, store: S3BlobStore, source: str, label: str, expected: str | None) -> None:
        self._store, self._source, self._label, self._expected = store, source, label, expected
        self._sha = hashlib.sha256()
        self._size = 0
        self._buf = bytearray()
        self._key: str | None = None  # where the multipart upload goes
        self._upload_id: str | None = None
        self._parts: list[dict[str, Any]] = []
        self._tmp_written = False
        self._done = False

    def write(self, chunk: bytes) -> None:
        if self._done:
            raise ValueError("writer is closed")
        self._sha.update(chunk)
        self._size += len(chunk)
        self._buf += chunk
        while len(self._buf) >= self._store.part_size:
            part = bytes(self._buf[: self._store.part_size])
            del self._buf[: self._store.part_size]
            self._upload_part(part)

    def _upload_part(self, data: bytes) -> None:
        s3, bucket = self._store.client, self._store.bucket
        with _s3_errors("store an upload part"):
            if self._upload_id is None:
                self._key = (
                    self._store._object_key(self._expected)
                    if self._expected
                    else self._store._key(f"tmp/{uuid.uuid4().hex}")
                )
                self._upload_id = s3.create_multipart_upload(Bucket=bucket, Key=self._key)["UploadId"]
            number = len(self._parts) + 1
            etag = s3.upload_part(Bucket=bucket, Key=self._key, UploadId=self._upload_id, PartNumber=number, Body=data)[
                "ETag"
            ]
        self._parts.append({"ETag": etag, "PartNumber": number})

    def _complete(self) -> None:
        with _s3_errors("complete an upload"):
            self._store.client.complete_multipart_upload(
                Bucket=self._store.bucket,
                Key=self._key,
                UploadId=self._upload_id,
                MultipartUpload={"Parts": self._parts},
            )
        self._upload_id = None

    def commit(self) -> tuple[str, int]:
        if self._done:
            raise ValueError("writer is closed")
        sha256 = self._sha.hexdigest()
        store = self._store
        try:
            if self._expected is not None and sha256 != self._expected:
                raise InvalidInput(
                    f"uploaded bytes have sha256 {sha256}, expected {self._expected}; nothing stored",
                    reason="sha256_mismatch",
                    expected=self._expected,
                    actual=sha256,
                )
            final = store._object_key(sha256)
            if self._upload_id is None:  # one PUT of what is in memory (less than a part)
                data = bytes(self._buf)
                store._publish(
                    self._source,
                    self._label,
                    sha256,
                    self._size,
                    lambda exists: None if exists else store._put(final, data),
                )
            else:
                if self._buf:
                    self._upload_part(bytes(self._buf))
                    self._buf.clear()
                if self._key == final:  # completed under the lock: a delete cannot slip in between
                    store._publish(self._source, self._label, sha256, self._size, lambda exists: self._complete())
                else:
                    self._complete()
                    self._tmp_written = True
                    tmp = self._key or ""
                    store._publish(
                        self._source,
                        self._label,
                        sha256,
                        self._size,
                        lambda exists: None if exists else store._copy_object(tmp, final, self._size),
                    )
        finally:
            self.abort()
        return sha256, self._size

    def abort(self) -> None:
        self._done = True
        self._buf = bytearray()
        s3, bucket = self._store.client, self._store.bucket
        with contextlib.suppress(ClientError, BotoCoreError):
            if self._upload_id is not None:
                upload_id, self._upload_id = self._upload_id, None
                s3.abort_multipart_upload(Bucket=bucket, Key=self._key, UploadId=upload_id)
            if self._tmp_written:
                self._tmp_written = False
                s3.delete_object(Bucket=bucket, Key=self._key)


class S3BlobStore:
    """The S3 blob store adapter; safe for many threads and processes sharing one bucket.

    Parameters:
        client: a boto3 S3 client (see :func:`new_client`).
        bucket: the bucket, which must exist (``create_bucket=True`` creates it if it does not).
        prefix: a key prefix, to share a bucket with other data.
        part_size: bytes per multipart part (S3 accepts 5 MiB-5 GiB); also the largest upload sent
            as one PUT.
        lock_ttl: seconds after which a lock left by a dead process is broken.
    """

    def __init__(
        self,
        client: Any,
        bucket: str,
        prefix: str = "",
        *,
        part_size: int = 16 * 1024**2,
        lock_ttl: float = 60.0,
        lock_wait: float = 120.0,
        create_bucket: bool = False,
    ) -> None:
        if part_size < MIN_PART:
            raise ValueError(f"part_size must be at least {MIN_PART} bytes (S3's minimum part)")
        self.client, self.bucket = client, bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.part_size, self.lock_ttl, self.lock_wait = part_size, lock_ttl, lock_wait
        if create_bucket:
            with _s3_errors(f"create bucket {bucket}"):
                try:
                    client.head_bucket(Bucket=bucket)
                except ClientError as exc:
                    if _code(exc) not in _MISSING | {"NoSuchBucket"}:
                        raise
                    client.create_bucket(Bucket=bucket)

    # --- keys and small helpers ------------------------------------------------------------------

    def _key(self, rest: str) -> str:
        return self.prefix + rest

    def _object_key(self, sha256: str) -> str:
        return self._key(f"objects/{sha256[:2]}/{sha256[2:4]}/{sha256}")

    def _ref_key(self, source: str, label: str, sha256: str) -> str:
        return self._key(f"refs/{source}/{label}/{sha256}")

    def _hash_key(self, sha256: str, source: str, label: str) -> str:
        return self._key(f"hashes/{sha256}/{source}/{label}")

    def _head(self, key: str) -> dict[str, Any] | None:
        try:
            return self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if _code(exc) in _MISSING:
                return None
            raise

    def _put(self, key: str, data: bytes, **extra: Any) -> dict[str, Any]:
        return self.client.put_object(Bucket=self.bucket, Key=key, Body=data, **extra)

    def _list(self, prefix: str) -> Iterator[dict[str, Any]]:
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
        for page in pages:
            yield from page.get("Contents", ())

    @staticmethod
    def _info(head: dict[str, Any]) -> BlobInfo:
        meta = head.get("Metadata", {})
        stored = (
            datetime.fromtimestamp(int(meta["stored-at"]) / 1e9, tz=UTC)
            if "stored-at" in meta
            else head["LastModified"].astimezone(UTC)
        )
        return BlobInfo(size=int(meta.get("size", head.get("ContentLength", 0))), stored_at=stored)

    def _copy_object(self, src: str, dst: str, size: int) -> None:
        """Server-side copy; above 5 GiB S3 needs it part by part."""
        s3, source = self.client, {"Bucket": self.bucket, "Key": src}
        if size <= _COPY_MAX:
            s3.copy_object(Bucket=self.bucket, Key=dst, CopySource=source)
            return
        upload_id = s3.create_multipart_upload(Bucket=self.bucket, Key=dst)["UploadId"]
        try:
            parts = []
            for number, start in enumerate(range(0, size, _COPY_PART), 1):
                span = f"bytes={start}-{min(start + _COPY_PART, size) - 1}"
                result = s3.upload_part_copy(
                    Bucket=self.bucket,
                    Key=dst,
                    UploadId=upload_id,
                    PartNumber=number,
                    CopySource=source,
                    CopySourceRange=span,
                )
                parts.append({"ETag": result["CopyPartResult"]["ETag"], "PartNumber": number})
            s3.complete_multipart_upload(
                Bucket=self.bucket, Key=dst, UploadId=upload_id, MultipartUpload={"Parts": parts}
            )
        except BaseException:
            with contextlib.suppress(ClientError, BotoCoreError):
                s3.abort_multipart_upload(Bucket=self.bucket, Key=dst, UploadId=upload_id)
            raise

    # --- the per-sha256 lock ---------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self, sha256: str) -> Iterator[None]:
        key = self._key(f"locks/{sha256}")
        deadline = time.monotonic() + self.lock_wait
        next_stale_check = time.monotonic() + 1.0
        delay = 0.005
        while True:
            try:
                etag = self._put(key, uuid.uuid4().bytes, IfNoneMatch="*")["ETag"]
                break
            except ClientError as exc:
                if _code(exc) not in _TAKEN:
                    raise
            now = time.monotonic()
            if now > next_stale_check:
                self._break_stale(key)
                next_stale_check = now + 1.0
            if now > deadline:
                raise BackendUnavailable(f"blob {sha256} stayed locked for over {self.lock_wait:.0f} s")
            time.sleep(delay * random.uniform(0.5, 1.5))
            delay = min(delay * 2, 0.1)
        try:
            yield
        finally:
            with contextlib.suppress(ClientError, BotoCoreError):
                self.client.delete_object(Bucket=self.bucket, Key=key, IfMatch=etag)

    def _break_stale(self, key: str) -> None:
        head = self._head(key)
        if head is None:
            return
        server_now = parsedate_to_datetime(head["ResponseMetadata"]["HTTPHeaders"]["date"])
        if (server_now - head["LastModified"]).total_seconds() > self.lock_ttl:
            with contextlib.suppress(ClientError):  # someone else broke or renewed it first
                self.client.delete_object(Bucket=self.bucket, Key=key, IfMatch=head["ETag"])

    def _publish(self, source: str, label: str, sha256: str, size: int, write_object: Callable[[bool], None]) -> None:
        with _s3_errors(f"store {sha256}"), self._locked(sha256):
            write_object(self._head(self._object_key(sha256)) is not None)
            self._put_ref(source, label, sha256, size)

    def _put_ref(self, source: str, label: str, sha256: str, size: int) -> BlobInfo:
        stored_ns = time.time_ns()
        self._put(self._hash_key(sha256, source, label), b"")
        self._put(self._ref_key(source, label, sha256), b"", Metadata={"stored-at": str(stored_ns), "size": str(size)})
        return BlobInfo(size=size, stored_at=datetime.fromtimestamp(stored_ns / 1e9, tz=UTC))

    # --- the port --------------------------------------------------------------------------------

    def open_writer(self, source: str, label: str, expected_sha256: str | None = None) -> _S3Writer:
        check_key(source, label)
        expected = check_key(source, label, expected_sha256) if expected_sha256 else None
        return _S3Writer(self, source, label, expected)

    def head(self, source: str, label: str, sha256: str) -> BlobInfo | None:
        sha256 = check_key(source, label, sha256) or ""
        with _s3_errors(f"look up {sha256}"):
            ref = self._head(self._ref_key(source, label, sha256))
        return None if ref is None else self._info(ref)

    def open_range(
        self, source: str, label: str, sha256: str, start: int = 0, stop: int | None = None
    ) -> Iterator[bytes]:
        sha256 = check_key(source, label, sha256) or ""
        if start < 0 or (stop is not None and stop < start):
            raise InvalidInput(f"invalid byte range [{start}, {stop})", field="range")
        with _s3_errors(f"read {sha256}"):
            ref = self._head(self._ref_key(source, label, sha256))
            if ref is None:
                raise NotFound(f"no {label} stream {sha256} in source {source}")
            if start >= self._info(ref).size or stop == start:
                return iter(())
            last = "" if stop is None else str(stop - 1)
            extra = {} if start == 0 and stop is None else {"Range": f"bytes={start}-{last}"}
            try:
                body = self.client.get_object(Bucket=self.bucket, Key=self._object_key(sha256), **extra)["Body"]
            except ClientError as exc:
                if _code(exc) in _MISSING:
                    raise NotFound(f"no {label} stream {sha256} in source {source}") from exc
                if _code(exc) == "InvalidRange":
                    return iter(())
                raise
        return self._stream(body)

    @staticmethod
    def _stream(body: Any) -> Iterator[bytes]:
        try:
            with _s3_errors("stream an object"):
                yield from body.iter_chunks(READ_CHUNK)
        finally:
            body.close()

    def copy(self, src_source: str, dst_source: str, label: str, sha256: str) -> BlobInfo:
        check_key(dst_source, label)
        sha256 = check_key(src_source, label, sha256) or ""
        with _s3_errors(f"copy {sha256}"), self._locked(sha256):
            ref = self._head(self._ref_key(src_source, label, sha256))
            if ref is None or self._head(self._object_key(sha256)) is None:
                raise NotFound(f"no {label} stream {sha256} in source {src_source}")
            return self._put_ref(dst_source, label, sha256, self._info(ref).size)

    def delete(self, source: str, label: str, sha256: str, if_older_than: datetime | None = None) -> bool:
        sha256 = check_key(source, label, sha256) or ""
        with _s3_errors(f"delete {sha256}"), self._locked(sha256):
            ref = self._head(self._ref_key(source, label, sha256))
            if ref is None:
                raise NotFound(f"no {label} stream {sha256} in source {source}")
            if if_older_than is not None and self._info(ref).stored_at >= if_older_than:
                return False
            self.client.delete_object(Bucket=self.bucket, Key=self._ref_key(source, label, sha256))
            self.client.delete_object(Bucket=self.bucket, Key=self._hash_key(sha256, source, label))
            others = self.client.list_objects_v2(Bucket=self.bucket, Prefix=self._key(f"hashes/{sha256}/"), MaxKeys=1)
            if not others.get("KeyCount"):
                self.client.delete_object(Bucket=self.bucket, Key=self._object_key(sha256))
        return True

    def iter_refs(self, source: str | None = None, sha256: str | None = None) -> Iterator[BlobRef]:
        if source is not None:
            check_key(source, "content")
        with _s3_errors("list references"):
            if sha256 is not None:
                sha256 = sha256.lower()
                base = self._key(f"hashes/{sha256}/")
                for item in self._list(base if source is None else f"{base}{source}/"):
                    src, _, label = item["Key"][len(base) :].partition("/")
                    ref = self._head(self._ref_key(src, label, sha256))
                    if ref is not None:
                        yield BlobRef(src, label, sha256, self._info(ref).stored_at)
                return
            base = self._key("refs/")
            for item in self._list(base if source is None else f"{base}{source}/"):
                parts = item["Key"][len(base) :].split("/")
                if len(parts) == 3:
                    yield BlobRef(parts[0], parts[1], parts[2], item["LastModified"].astimezone(UTC))

    def close(self) -> None:
        pass
