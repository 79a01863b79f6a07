"""S3 (or an S3-compatible service: MinIO, DigitalOcean Spaces) as the raw store.

Objects live at ``<prefix>/sha256/ab/cd/<sha256>``, written once and never overwritten. Endpoint,
region and addressing style come from settings; credentials from the usual AWS environment
variables (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``), never from code.
"""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Callable
from typing import BinaryIO

from intelliwatt_pipelines.rawstore.local import Spool, spool


class S3RawStore:
    def __init__(self, bucket: str, prefix: str = "", *, endpoint_url: str | None = None,
                 region: str | None = None, path_style: bool = True):
        import boto3
        from botocore.config import Config

        self.bucket, self.prefix = bucket, prefix.strip("/")
        self.client = boto3.client(
            "s3", endpoint_url=endpoint_url or None, region_name=region or "us-east-1",
            config=Config(s3={"addressing_style": "path" if path_style else "virtual"},
                          retries={"max_attempts": 5, "mode": "standard"}))

    def _key(self, sha256: str) -> str:
        key = f"sha256/{sha256[:2]}/{sha256[2:4]}/{sha256}"
        return f"{self.prefix}/{key}" if self.prefix else key

    def uri(self, sha256: str) -> str:
        return f"s3://{self.bucket}/{self._key(sha256)}"

    def exists(self, sha256: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(sha256))
            return True
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise

    def spool(self) -> Spool:
        return Spool(None)

    def put_stream(self, stream: BinaryIO, on_chunk: Callable[[int], None] | None = None) -> tuple[str, int, str]:
        # The key is the content hash, known only at the end: spool locally, then upload once.
        return self.put_spooled(*spool(stream, None, on_chunk))

    def put_spooled(self, tmp: str, sha: str, size: int) -> tuple[str, int, str]:
        """Upload a finished spool under its content address (the temp file is consumed)."""
        try:
            if not self.exists(sha):
                with open(tmp, "rb") as fh:
                    self.client.put_object(Bucket=self.bucket, Key=self._key(sha), Body=fh,
                                           ChecksumAlgorithm="SHA256")
        finally:
            os.unlink(tmp)
        return sha, size, self.uri(sha)

    def put_file(self, source) -> tuple[str, int, str]:
        with open(source, "rb") as fh:
            return self.put_stream(fh)

    def put_bytes(self, data: bytes) -> tuple[str, int, str]:
        return self.put_stream(io.BytesIO(data))

    def get(self, sha256: str) -> bytes:
        return self.client.get_object(Bucket=self.bucket, Key=self._key(sha256))["Body"].read()

    def open(self, sha256: str) -> BinaryIO:
        """The stored bytes as a seekable local stream: downloaded to a temporary file, so memory
        stays bounded whatever the object's size."""
        out = tempfile.TemporaryFile()
        self.client.download_fileobj(self.bucket, self._key(sha256), out)
        out.seek(0)
        return out


