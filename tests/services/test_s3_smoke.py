"""S3 smoke test: SeaweedFS as services/ starts it serves put, ranged get, list and delete."""

from __future__ import annotations

import uuid

import boto3
import pytest
from botocore.exceptions import ClientError

pytestmark = pytest.mark.s3


def test_put_range_list_delete(s3_endpoint: dict[str, str]) -> None:
    s3 = boto3.client("s3", **s3_endpoint)
    bucket = f"smoke-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    body = bytes(range(256)) * 4096  # 1 MiB
    s3.put_object(Bucket=bucket, Key="sha256/ab/abcdef", Body=body)

    ranged = s3.get_object(Bucket=bucket, Key="sha256/ab/abcdef", Range="bytes=1000-1999")
    assert ranged["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert ranged["Body"].read() == body[1000:2000]

    listed = s3.list_objects_v2(Bucket=bucket, Prefix="sha256/ab/")
    assert [(o["Key"], o["Size"]) for o in listed["Contents"]] == [("sha256/ab/abcdef", len(body))]

    s3.delete_object(Bucket=bucket, Key="sha256/ab/abcdef")
    assert s3.list_objects_v2(Bucket=bucket).get("KeyCount") == 0
    with pytest.raises(ClientError) as err:
        s3.head_object(Bucket=bucket, Key="sha256/ab/abcdef")
    assert err.value.response["Error"]["Code"] in ("404", "NoSuchKey")
    s3.delete_bucket(Bucket=bucket)


def test_wrong_secret_is_refused(s3_endpoint: dict[str, str]) -> None:
    s3 = boto3.client("s3", **{**s3_endpoint, "aws_secret_access_key": "not-the-secret"})
    with pytest.raises(ClientError) as err:
        s3.list_buckets()
    assert err.value.response["Error"]["Code"] == "SignatureDoesNotMatch"
