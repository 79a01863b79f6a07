"""Response and request shapes, for the OpenAPI schema. Handlers render JSON with orjson directly
(a month of intervals is thousands of rows); these models document exactly what they render."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, Field

from intelliwatt_pipelines.bounds import METER_RE


class ErrorBody(BaseModel):
    code: str
    message: str


class Error(BaseModel):
    error: ErrorBody
    corrId: str


class Health(BaseModel):
    ok: bool
    db: bool
    corrId: str


class IntervalSeries(BaseModel):
    """One meter and channel's intervals on this page, in time order, as parallel arrays: element
    i of every array describes interval i."""

    meter: str
    channel: Literal["consumption", "generation"]
    count: int
    ts: list[dt.datetime] = Field(description="Interval start, UTC (ISO-8601 ending in Z).")
    utc_offset_minutes: list[int] = Field(description="America/Chicago's offset at that instant (-300 CDT, -360 CST): "
                                                      "local wall time = ts + offset.")
    minutes: list[int] = Field(description="Interval length.")
    kwh: list[float]
    quality: list[Literal["actual", "estimated", "filled"]]
    source: list[str]
    raw_file_id: list[int]
    revised_at: list[dt.datetime | None]


class IntervalPage(BaseModel):
    start: dt.datetime | None
    end: dt.datetime | None
    timezone: str
    count: int = Field(description="Intervals on this page, all series together.")
    series: list[IntervalSeries]
    next_cursor: str | None = Field(description="Pass as cursor= for the next page; null on the last.")
    corrId: str


class CompletenessDay(BaseModel):
    date: dt.date
    meter: str
    channel: str
    interval_minutes: int
    expected: int
    found: int
    estimated: int
    filled: int
    kwh_real: float
    kwh_filled: float
    completeness: float
    status: Literal["complete", "partial", "gaps"]


class Completeness(BaseModel):
    start: dt.date | None
    end: dt.date | None
    count: int = Field(description="Days on this page.")
    days: list[CompletenessDay] = Field(description="Ordered by meter, channel and date.")
    next_cursor: str | None = Field(description="Pass as cursor= for the next page; null on the last.")
    corrId: str


class BillingRead(BaseModel):
    """A meter read over [read_start, read_end) (local midnights, given in UTC and Central time)."""

    meter: str
    channel: Literal["consumption", "generation"]
    source: str = Field(description="smt_daily_csv | smt_monthly_api")
    read_start: dt.datetime
    read_end: dt.datetime = Field(description="Exclusive.")
    read_start_local: str = Field(description="read_start in America/Chicago, with its offset.")
    read_end_local: str
    last_day: dt.date = Field(description="The Central day the period ends on (its last day).")
    bill_date: dt.date | None
    kwh_total: float
    kwh_billed: float | None
    start_reading: float | None
    end_reading: float | None
    tdsp_code: str | None
    tdsp_name: str | None
    quality: Literal["actual", "estimated"]
    revised_at: dt.datetime | None
    raw_file_id: int


class BillingReads(BaseModel):
    start: dt.datetime | None
    end: dt.datetime | None
    reads: list[BillingRead]
    corrId: str


class ReconciliationRow(BaseModel):
    meter: str
    channel: Literal["consumption", "generation"]
    source: str
    read_start: dt.datetime
    read_end: dt.datetime
    last_day: dt.date
    billing_kwh: float
    interval_kwh: float
    difference_kwh: float = Field(description="interval_kwh - billing_kwh")
    tolerance_kwh: float
    interval_meters: str
    intervals_found: int
    minutes_covered: int
    minutes_expected: int
    status: Literal["match", "mismatch", "insufficient_intervals"]
    checked_at: dt.datetime


class Reconciliation(BaseModel):
    start: dt.datetime | None
    end: dt.datetime | None
    counts: dict[str, int] = Field(description="Reads by status.")
    reads: list[ReconciliationRow]
    corrId: str


class SeriesSummary(BaseModel):
    meter: str
    channel: str
    first_interval: dt.datetime | None
    last_interval: dt.datetime | None
    intervals_real: int
    intervals_estimated: int
    intervals_filled: int
    kwh: float
    days: int
    days_complete: int
    days_incomplete: int
    days_partial: int
    days_gaps: int
    role: str | None = Field(default=None, description="1PWR: primary, check or backup (check and backup meters "
                                                       "are left out of the totals); null when no role is registered.")


class Summary(BaseModel):
    first_interval: dt.datetime | None
    last_interval: dt.datetime | None
    kwh_consumption: float
    kwh_generation: float
    intervals_real: int
    days_complete: int = Field(description="Consumption days with every expected interval.")
    days_incomplete: int
    series: list[SeriesSummary]
    corrId: str


class RawFile(BaseModel):
    id: int
    sha256: str
    filename: str
    source: str
    kind: str
    size_bytes: int
    storage_uri: str
    received_at: dt.datetime
    status: Literal["received", "normalized", "failed", "quarantined"]
    error: str | None
    rows_read: int | None
    rows_valid: int | None
    rows_invalid: int | None
    rows_skipped: int | None
    normalized_at: dt.datetime | None
    parent_id: int | None
    run_id: str | None


class RawFileList(BaseModel):
    raw_files: list[RawFile]
    corrId: str


class Coverage(BaseModel):
    esiid: str
    meter: str
    channel: str
    first_local_date: dt.date
    last_local_date: dt.date
    intervals: int


class Child(BaseModel):
    id: int
    filename: str
    status: str


class UploadRecord(BaseModel):
    id: int
    role: str
    via: str
    filename: str
    esiid: str | None
    meter: str | None
    received_at: dt.datetime
    correlation_id: str | None


class RawFileDetail(RawFile):
    coverage: list[Coverage]
    children: list[Child]
    uploads: list[UploadRecord]
    corrId: str


class UploadAccepted(BaseModel):
    raw_file_id: int
    upload_id: int = Field(description="Follow it at status_url. For a repeat, the earlier upload's id.")
    sha256: str
    size_bytes: int
    status: str = Field(description="received (the sensor ingests it next), or the status of identical bytes "
                                    "already stored.")
    duplicate: bool = Field(description="These bytes were already stored (by any upload or the inbox).")
    repeat: bool = Field(description="This API key already uploaded these bytes for this accountKey with the "
                                     "same esiid/meter: nothing new was recorded and no upload limit was used "
                                     "(HTTP 200 instead of 202). Never for the admin token.")
    status_url: str = Field(description="GET it (same x-api-key) for the upload's progress; also in Location.")
    corrId: str


class UploadRows(BaseModel):
    read: int | None
    valid: int | None = Field(description="Rows that became intervals or reads (for a package: member files).")
    invalid: int | None
    skipped: int | None = Field(description="Rows with no reading, or exact duplicates.")


class UploadMember(BaseModel):
    """A file of an uploaded package (ZIP, PGP) first seen in it."""

    filename: str
    status: Literal["received", "normalized", "failed", "quarantined"]
    rows: UploadRows | None
    error: str | None


class UploadStatus(BaseModel):
    upload_id: int
    raw_file_id: int
    status: Literal["received", "processing", "normalized", "failed", "quarantined"] = Field(
        description="received: waiting for the ingest; processing: a package's files are being taken; "
                    "normalized: its rows are stored; failed: no rows came from it (see error); quarantined: "
                    "a package that cannot be opened safely. Identical bytes share one raw file, so this is "
                    "the status of the bytes, whoever sent them.")
    filename: str = Field(description="As uploaded (sanitized).")
    esiid: str | None = Field(description="As given with the upload.")
    meter: str | None
    size_bytes: int
    sha256: str
    received_at: dt.datetime
    normalized_at: dt.datetime | None = Field(description="When its rows were last written.")
    rows: UploadRows | None = Field(description="Null until processed.")
    error: str | None = Field(description="Why it failed, or invalid rows tolerated; ESIIDs other than the one "
                                          "given are masked.")
    members: list[UploadMember] = Field(description="For a package, its files; empty otherwise.")
    corrId: str


class InlineUpload(BaseModel):
    """The legacy inline contract: the whole file, base64 (optionally gzip first) in JSON."""

    mode: Literal["inline"]
    filename: str = Field(min_length=1, max_length=255)
    encoding: Literal["base64", "base64+gzip"]
    sizeBytes: int = Field(ge=1, description="Size of the file after decoding (and gunzip).")
    content_b64: str
    esiid: str | None = Field(default=None, pattern=r"^(?:[0-9]{17}|[0-9]{22})$")
    meter: str | None = Field(default=None, pattern=METER_RE.pattern)
    accountKey: str | None = Field(default=None, min_length=1, max_length=200)
