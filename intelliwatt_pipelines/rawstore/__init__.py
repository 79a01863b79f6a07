"""Content-addressed stores for vendor payloads' exact bytes: a local folder or S3."""

from __future__ import annotations

from intelliwatt_pipelines.config import current
from intelliwatt_pipelines.rawstore.local import LocalRawStore, sha256_file
from intelliwatt_pipelines.rawstore.s3 import S3RawStore

RawStore = LocalRawStore | S3RawStore


def open_raw_store(url: str) -> RawStore:
    """A raw store from its URL: a folder path, ``file://…``, or ``s3://bucket/prefix``.

    S3 settings: INTELLIWATT_S3_ENDPOINT_URL, INTELLIWATT_S3_REGION, INTELLIWATT_S3_ADDRESSING
    (``path``, the default, or ``virtual``); credentials from the AWS_* variables.
    """
    if url.startswith("s3://"):
        bucket, _, prefix = url[len("s3://"):].partition("/")
        return S3RawStore(bucket, prefix, endpoint_url=current("s3_endpoint_url"), region=current("s3_region"),
                          path_style=current("s3_addressing") == "path")
    if url.startswith("file://"):
        url = url[len("file://"):]
    if "://" in url:
        raise ValueError(f"unsupported raw store URL scheme: {url.split('://', 1)[0]}")
    return LocalRawStore(url)


__all__ = ["LocalRawStore", "RawStore", "S3RawStore", "open_raw_store", "sha256_file"]
