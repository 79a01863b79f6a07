"""Columns of the intake bookkeeping: inbox_entry, inbox_claim, upload, upload_esiid, raw_file_hint."""

from __future__ import annotations

from intelliwatt_pipelines.cdm.fields.base import (
    ESIID,
    METER,
    RAW_FILE_ID,
    Field,
    values,
)

INBOX_SOURCE = Field("source", "varchar(40)", "the inbox: `inbox` (the folder) or `sftp:<host>`")
INBOX_PATH = Field("path", "text", "path of the entry in that inbox")
INBOX_SIZE = Field("size_bytes", "bigint", "its size when listed", unit="bytes", ge=0)
INBOX_MTIME = Field("mtime_ns", "bigint", "its modification time when listed", unit="ns since the epoch")
UPLOAD_ROLES = values("admin", "customer")
UPLOAD_VIAS = {"multipart": "POST /api/v1/uploads", "inline": "POST /api/v1/admin/smt/inline"}

INBOX_ENTRY = (
    INBOX_SOURCE, INBOX_PATH, INBOX_SIZE, INBOX_MTIME,
    RAW_FILE_ID.but(description="the raw file its bytes became"),
    Field("taken_at", "timestamptz", "when it was taken"),
)

INBOX_CLAIM = (
    INBOX_SOURCE, INBOX_PATH, INBOX_SIZE, INBOX_MTIME,
    Field("owner", "varchar(200)", "the process taking it: `<host>:<pid>:<run id or cli>`"),
    Field("claimed_at", "timestamptz", "when it was claimed; a claim older than INTELLIWATT_INBOX_CLAIM_SECONDS "
          "may be taken over"),
)

UPLOAD = (
    Field("id", "bigserial", "surrogate key"),
    RAW_FILE_ID.but(description="raw file holding the uploaded bytes (several uploads of the same bytes share it)"),
    Field("role", "varchar(16)", "which rate limit applied", allowed=UPLOAD_ROLES, sql_check=True),
    Field("account_hash", "varchar(64)", "salted SHA-256 of the normalized `accountKey` (the key itself is never "
          "stored)"),
    ESIID.but(description="ESI ID given with the upload, used when the file itself names none", nullable=True),
    METER.but(description="meter number given with the upload, likewise", nullable=True),
    Field("filename", "text", "sanitized file name as uploaded"),
    Field("size_bytes", "bigint", "bytes received", unit="bytes", ge=0),
    Field("via", "varchar(16)", "the route it came by", allowed=UPLOAD_VIAS),
    Field("binds_hints", "boolean", "true when this upload's `esiid`/`meter` apply to the raw file: it "
          "registered the bytes, or re-bound a file that had failed (see Uploads)"),
    Field("received_at", "timestamptz", "when the bytes were safe in the raw store"),
    Field("correlation_id", "varchar(64)", "`x-correlation-id` of the request", nullable=True),
    Field("key_hash", "varchar(64)", "salted SHA-256 of the API key it came with (null for the admin token)",
          nullable=True),
)

UPLOAD_ESIID = (
    Field("upload_id", "id", "the upload"),
    ESIID.but(description="an ESI ID the upload concerns (given with it, or named by the file)"),
    Field("received_at", "timestamptz", "when the upload was received; the per-ESIID limit counts these"),
)

RAW_FILE_HINT = (
    RAW_FILE_ID.but(description="the file the sidecar was read with"),
    ESIID.but(description="ESI ID the sidecar gives", nullable=True),
    METER.but(description="meter number the sidecar gives", nullable=True),
    Field("usage_points", "text", 'JSON `{"<UsagePoint id>": [esiid, meter]}` for a feed of several homes',
          nullable=True),
    Field("origin", "text", "name of the sidecar, `<file name>.meta.json`"),
    Field("document", "text", "the sidecar's text as received (its first 64 KiB)"),
    Field("error", "text", "why the sidecar cannot be used", nullable=True),
    Field("recorded_at", "timestamptz", "when it was read"),
)
