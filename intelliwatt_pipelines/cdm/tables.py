"""Canonical tables (SQLAlchemy Core). Migrations in ``migrations/versions`` create exactly these."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator

metadata = sa.MetaData()

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # SQLite autoincrements INTEGER only


class UTCDateTime(TypeDecorator):
    """Timestamps are UTC instants: timestamptz on PostgreSQL, naive-UTC text on SQLite."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given for a UTC column")
        value = value.astimezone(dt.timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=dt.timezone.utc) if value.tzinfo is None else value.astimezone(dt.timezone.utc)


RAW_STATUSES = ("received", "normalized", "failed", "quarantined")

raw_file = sa.Table(
    "raw_file", metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("sha256", sa.String(64), nullable=False, unique=True),
    sa.Column("filename", sa.Text, nullable=False),
    sa.Column("source", sa.String(40), nullable=False),
    sa.Column("kind", sa.String(40), nullable=False),
    sa.Column("size_bytes", sa.BigInteger, nullable=False),
    sa.Column("storage_uri", sa.Text, nullable=False),
    sa.Column("received_at", UTCDateTime, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("error", sa.Text),
    sa.Column("rows_read", sa.Integer),
    sa.Column("rows_valid", sa.Integer),
    sa.Column("rows_invalid", sa.Integer),
    sa.Column("rows_skipped", sa.Integer),
    sa.Column("normalized_at", UTCDateTime),
    sa.Column("parent_id", BigId, sa.ForeignKey("raw_file.id")),
    sa.Column("run_id", sa.String(64)),
    sa.CheckConstraint(f"status IN {RAW_STATUSES}", name="ck_raw_file_status"),
)

usage_interval = sa.Table(
    "usage_interval", metadata,
    sa.Column("esiid", sa.String(22), primary_key=True),
    sa.Column("meter", sa.String(40), primary_key=True),
    sa.Column("channel", sa.String(16), primary_key=True),
    sa.Column("ts_utc", UTCDateTime, primary_key=True),
    sa.Column("interval_minutes", sa.SmallInteger, nullable=False),
    sa.Column("kwh", sa.Float, nullable=False),
    sa.Column("quality", sa.String(10), nullable=False),
    sa.Column("revised_at", UTCDateTime),
    sa.Column("source", sa.String(40), nullable=False),
    # No foreign key: a per-row lookup that more than doubled load time (migration 0005). Only
    # the normalizer writes intervals, from the raw_file row it is normalizing; none is deleted.
    sa.Column("raw_file_id", BigId, nullable=False),
    sa.CheckConstraint("channel IN ('consumption', 'generation')", name="ck_usage_interval_channel"),
    sa.CheckConstraint("quality IN ('actual', 'estimated', 'filled')", name="ck_usage_interval_quality"),
)

daily_completeness = sa.Table(
    "daily_completeness", metadata,
    sa.Column("esiid", sa.String(22), primary_key=True),
    sa.Column("meter", sa.String(40), primary_key=True),
    sa.Column("channel", sa.String(16), primary_key=True),
    sa.Column("local_date", sa.Date, primary_key=True),
    sa.Column("interval_minutes", sa.SmallInteger, nullable=False),
    sa.Column("expected_intervals", sa.Integer, nullable=False),
    sa.Column("actual_intervals", sa.Integer, nullable=False),
    sa.Column("estimated_intervals", sa.Integer, nullable=False),
    sa.Column("filled_intervals", sa.Integer, nullable=False),
    sa.Column("kwh_real", sa.Float, nullable=False),
    sa.Column("kwh_filled", sa.Float, nullable=False),
    sa.Column("completeness", sa.Float, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.CheckConstraint("status IN ('complete', 'partial', 'gaps')", name="ck_daily_completeness_status"),
    # the status page's homes with gaps (0007): only the gap rows, however many complete days there are
    sa.Index("ix_daily_completeness_gaps", "local_date", "esiid", sqlite_where=sa.text("status = 'gaps'"),
             postgresql_where=sa.text("status = 'gaps'")),
)

# Which raw files hold which series and local days: the index a backfill uses to rebuild from raw.
raw_file_coverage = sa.Table(
    "raw_file_coverage", metadata,
    sa.Column("raw_file_id", BigId, sa.ForeignKey("raw_file.id"), primary_key=True),
    sa.Column("esiid", sa.String(22), primary_key=True),
    sa.Column("meter", sa.String(40), primary_key=True),
    sa.Column("channel", sa.String(16), primary_key=True),
    sa.Column("first_local_date", sa.Date, nullable=False),
    sa.Column("last_local_date", sa.Date, nullable=False),
    sa.Column("intervals", sa.Integer, nullable=False),
    sa.Index("ix_raw_file_coverage_esiid", "esiid", "first_local_date"),
    sa.Index("ix_raw_file_coverage_first_day", "first_local_date"),  # where the data starts (0007)
)

# Inbox entries already taken (path, size, mtime), so listings stay cheap and nothing is taken twice.
inbox_entry = sa.Table(
    "inbox_entry", metadata,
    sa.Column("source", sa.String(40), primary_key=True),
    sa.Column("path", sa.Text, primary_key=True),
    sa.Column("size_bytes", sa.BigInteger, primary_key=True),
    sa.Column("mtime_ns", sa.BigInteger, primary_key=True),
    sa.Column("raw_file_id", BigId, sa.ForeignKey("raw_file.id"), nullable=False),
    sa.Column("taken_at", UTCDateTime, nullable=False),
)

# Inbox entries a process is taking now: the primary key lets only one process claim an entry.
inbox_claim = sa.Table(
    "inbox_claim", metadata,
    sa.Column("source", sa.String(40), primary_key=True),
    sa.Column("path", sa.Text, primary_key=True),
    sa.Column("size_bytes", sa.BigInteger, primary_key=True),
    sa.Column("mtime_ns", sa.BigInteger, primary_key=True),
    sa.Column("owner", sa.String(200), nullable=False),
    sa.Column("claimed_at", UTCDateTime, nullable=False),
)

UPLOAD_ROLES = ("admin", "customer")

# Files posted to the API. Also the durable log the upload rate limits count, so a restart resets nothing.
upload = sa.Table(
    "upload", metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("raw_file_id", BigId, sa.ForeignKey("raw_file.id"), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("account_hash", sa.String(64), nullable=False),
    sa.Column("esiid", sa.String(22)),
    sa.Column("meter", sa.String(40)),
    sa.Column("filename", sa.Text, nullable=False),
    sa.Column("size_bytes", sa.BigInteger, nullable=False),
    sa.Column("via", sa.String(16), nullable=False),
    sa.Column("binds_hints", sa.Boolean, nullable=False),
    sa.Column("received_at", UTCDateTime, nullable=False),
    sa.Column("correlation_id", sa.String(64)),
    sa.Column("key_hash", sa.String(64)),
    sa.CheckConstraint(f"role IN {UPLOAD_ROLES}", name="ck_upload_role"),
    sa.Index("ix_upload_account", "role", "account_hash", "received_at"),
    sa.Index("ix_upload_raw_file", "raw_file_id"),
    sa.Index("ix_upload_key", "key_hash", "received_at"),
)

# The ESIIDs each upload concerns (given with it, or named by the file): the per-ESIID limit counts these.
upload_esiid = sa.Table(
    "upload_esiid", metadata,
    sa.Column("upload_id", BigId, sa.ForeignKey("upload.id"), primary_key=True),
    sa.Column("esiid", sa.String(22), primary_key=True),
    sa.Column("received_at", UTCDateTime, nullable=False),
    sa.Index("ix_upload_esiid_esiid", "esiid", "received_at"),
)

# ESIID and meter given beside a file that names none: an inbox sidecar '<file name>.meta.json'.
raw_file_hint = sa.Table(
    "raw_file_hint", metadata,
    sa.Column("raw_file_id", BigId, sa.ForeignKey("raw_file.id"), primary_key=True),
    sa.Column("esiid", sa.String(22)),
    sa.Column("meter", sa.String(40)),
    sa.Column("usage_points", sa.Text),
    sa.Column("origin", sa.Text, nullable=False),
    sa.Column("document", sa.Text, nullable=False),
    sa.Column("error", sa.Text),
    sa.Column("recorded_at", UTCDateTime, nullable=False),
)

BILLING_SOURCES = ("smt_daily_csv", "smt_monthly_api")
RECONCILIATION_STATUSES = ("match", "mismatch", "insufficient_intervals")

# Meter reads (the register view of the same energy): one row per ESIID, meter, channel, read
# period and source. The period is [read_start, read_end) in UTC, local midnights at both ends.
def _read_period_key() -> list[sa.Column]:
    """The natural key of a billing read: ESIID, meter, channel, read period and source."""
    return [
        sa.Column("esiid", sa.String(22), primary_key=True),
        sa.Column("meter", sa.String(40), primary_key=True),
        sa.Column("channel", sa.String(16), primary_key=True),
        sa.Column("read_start", UTCDateTime, primary_key=True),
        sa.Column("read_end", UTCDateTime, primary_key=True),
        sa.Column("source", sa.String(40), primary_key=True),
    ]


billing_read = sa.Table(
    "billing_read", metadata, *_read_period_key(),
    sa.Column("bill_date", sa.Date),
    sa.Column("kwh_total", sa.Float, nullable=False),
    sa.Column("kwh_billed", sa.Float),
    sa.Column("start_reading", sa.Float),
    sa.Column("end_reading", sa.Float),
    sa.Column("tdsp_code", sa.String(40)),
    sa.Column("tdsp_name", sa.String(120)),
    sa.Column("quality", sa.String(10), nullable=False),
    sa.Column("revised_at", UTCDateTime),
    sa.Column("raw_file_id", BigId, sa.ForeignKey("raw_file.id"), nullable=False),
    sa.CheckConstraint("channel IN ('consumption', 'generation')", name="ck_billing_read_channel"),
    sa.CheckConstraint("quality IN ('actual', 'estimated')", name="ck_billing_read_quality"),
    sa.CheckConstraint("read_end > read_start", name="ck_billing_read_period"),
    sa.Index("ix_billing_read_esiid_end", "esiid", "read_end"),
)

# Which raw files hold which ESIIDs' reads, by local day of the read end (for rebuilding from raw).
billing_read_coverage = sa.Table(
    "billing_read_coverage", metadata,
    sa.Column("raw_file_id", BigId, sa.ForeignKey("raw_file.id"), primary_key=True),
    sa.Column("esiid", sa.String(22), primary_key=True),
    sa.Column("first_local_date", sa.Date, nullable=False),
    sa.Column("last_local_date", sa.Date, nullable=False),
    sa.Column("reads", sa.Integer, nullable=False),
    sa.Index("ix_billing_read_coverage_esiid", "esiid", "first_local_date"),
    sa.Index("ix_billing_read_coverage_first_day", "first_local_date"),  # where the data starts (0007)
)

# Each billing read against the stored intervals over the same window.
billing_reconciliation = sa.Table(
    "billing_reconciliation", metadata, *_read_period_key(),
    sa.Column("local_date", sa.Date, nullable=False),
    sa.Column("billing_kwh", sa.Float, nullable=False),
    sa.Column("interval_kwh", sa.Float, nullable=False),
    sa.Column("difference_kwh", sa.Float, nullable=False),
    sa.Column("tolerance_kwh", sa.Float, nullable=False),
    sa.Column("interval_meters", sa.Text, nullable=False),
    sa.Column("intervals_found", sa.Integer, nullable=False),
    sa.Column("minutes_covered", sa.Integer, nullable=False),
    sa.Column("minutes_expected", sa.Integer, nullable=False),
    sa.Column("status", sa.String(24), nullable=False),
    sa.Column("checked_at", UTCDateTime, nullable=False),
    sa.CheckConstraint(f"status IN {RECONCILIATION_STATUSES}", name="ck_billing_reconciliation_status"),
    sa.Index("ix_billing_reconciliation_esiid_date", "esiid", "local_date"),
)

# What each column means; shown as the assets' column schemas in the Dagster UI.
COLUMN_DOCS: dict[str, dict[str, str]] = {
    "raw_file": {
        "id": "Surrogate key; referenced by canonical rows as raw_file_id.",
        "sha256": "SHA-256 of the exact bytes; one row per distinct content.",
        "filename": "Name the file arrived under.",
        "source": "How it arrived: inbox, sftp, upload (API), cli.",
        "kind": "Detected format, e.g. smt_interval, smt_interval_simple, usage_timestamp_kwh, unknown.",
        "size_bytes": "Size of the raw bytes.",
        "storage_uri": "Where the raw bytes are kept (content-addressed, never overwritten).",
        "received_at": "When the bytes were first captured (UTC).",
        "status": "received | normalized | failed | quarantined.",
        "error": "Readable reason when failed or quarantined; tolerated invalid rows when normalized.",
        "rows_read": "Data rows in the file.",
        "rows_valid": "Rows that became intervals.",
        "rows_invalid": "Rows rejected, with reasons in error.",
        "rows_skipped": "Rows with no reading (blank kWh, e.g. spring-forward) or exact duplicates.",
        "normalized_at": "When the canonical rows were last written from this file (UTC).",
        "parent_id": "The raw file this one was unpacked from (ZIP entry of a PGP file), if any.",
        "run_id": "Dagster run that last processed the file.",
    },
    "usage_interval": {
        "esiid": "ESI ID of the premise (17 or 22 digits, as delivered).",
        "meter": "Meter number, or 'unknown' when the file gives none.",
        "channel": "consumption (from grid) or generation (surplus sent to grid).",
        "ts_utc": "Interval start, UTC.",
        "interval_minutes": "Interval length in minutes (15 for SMT; 15 or 60 for Green Button).",
        "kwh": "Energy in the interval, kWh.",
        "quality": "actual | estimated | filled (zero placeholder for a missing slot).",
        "revised_at": "Vendor revision time of the reading (SMT REVISION_DATE), UTC; null if none given.",
        "source": "Vendor source of the reading: smt, csv, green_button.",
        "raw_file_id": "raw_file the stored value came from.",
    },
    "upload": {
        "id": "Surrogate key.",
        "raw_file_id": "raw_file holding the uploaded bytes (several uploads of the same bytes share it).",
        "role": "admin | customer: which rate limit applied.",
        "account_hash": "SHA-256 of the salted, normalized accountKey (the key itself is never stored).",
        "esiid": "ESI ID given with the upload, used when the file itself names none.",
        "meter": "Meter number given with the upload, likewise.",
        "filename": "Sanitized file name as uploaded.",
        "size_bytes": "Bytes received.",
        "via": "multipart (POST /api/v1/uploads) or inline (POST /api/v1/admin/smt/inline).",
        "binds_hints": "True when this upload's esiid/meter apply to the raw file: it registered the bytes, "
                       "or re-bound a file that had failed.",
        "received_at": "When the bytes were safe in the raw store (UTC).",
        "correlation_id": "x-correlation-id of the request.",
        "key_hash": "SHA-256 of the salted API key the upload came with (null for the admin token).",
    },
    "upload_esiid": {
        "upload_id": "The upload.",
        "esiid": "An ESI ID the upload concerns (given with it, or named by the file).",
        "received_at": "When the upload was received (UTC); the per-ESIID limit counts these.",
    },
    "billing_read": {
        "esiid": "ESI ID of the premise.",
        "meter": "Meter number, or 'unknown' when the file gives none.",
        "channel": "consumption, or generation for surplus-generation registers.",
        "read_start": "Start of the read period (UTC; a Central local midnight).",
        "read_end": "End of the read period, exclusive (UTC; a Central local midnight).",
        "source": "smt_daily_csv (DailyMeterUsage CSV) or smt_monthly_api (energy-data JSON).",
        "bill_date": "Bill date when the vendor gives one.",
        "kwh_total": "Energy the meter registered over the period, kWh.",
        "kwh_billed": "Billed kWh when given (may differ from kwh_total after adjustments).",
        "start_reading": "Register reading at the start of the period, when given.",
        "end_reading": "Register reading at the end of the period, when given.",
        "tdsp_code": "TDSP code (DUNS or id) when given.",
        "tdsp_name": "TDSP name when given.",
        "quality": "actual | estimated.",
        "revised_at": "Vendor revision time (UTC); the newer revision wins. Null if none given.",
        "raw_file_id": "raw_file the stored values came from.",
    },
    "billing_reconciliation": {
        "esiid": "ESI ID.",
        "meter": "Meter of the billing read.",
        "channel": "consumption or generation.",
        "read_start": "Start of the read period (UTC).",
        "read_end": "End of the read period, exclusive (UTC).",
        "source": "Source of the billing read.",
        "local_date": "Central day the read period ends on (its last day): the partition date.",
        "billing_kwh": "kwh_total of the billing read.",
        "interval_kwh": "kWh of the real (actual or estimated) intervals in the same window.",
        "difference_kwh": "interval_kwh - billing_kwh.",
        "tolerance_kwh": "Allowed |difference|: max(INTELLIWATT_RECONCILE_TOLERANCE_KWH, "
                         "INTELLIWATT_RECONCILE_TOLERANCE_PCT % of billing_kwh).",
        "interval_meters": "Interval meters summed: the read's own meter when intervals carry it, "
                           "else every meter of the ESIID (SMT interval files name no meter).",
        "intervals_found": "Real intervals in the window.",
        "minutes_covered": "Minutes those intervals cover.",
        "minutes_expected": "Minutes in the window (a DST day has 23 or 25 hours).",
        "status": "match | mismatch (|difference| over tolerance) | insufficient_intervals "
                  "(the intervals do not cover the whole window).",
        "checked_at": "When this row last changed (UTC).",
    },
    "daily_completeness": {
        "esiid": "ESI ID.",
        "meter": "Meter number or 'unknown'.",
        "channel": "consumption or generation.",
        "local_date": "Day in America/Chicago.",
        "interval_minutes": "Interval length the day is counted in.",
        "expected_intervals": "Intervals in the local day: 96, 92 on spring-forward, 100 on fall-back.",
        "actual_intervals": "Intervals with a real reading (actual or estimated).",
        "estimated_intervals": "Of those, estimated.",
        "filled_intervals": "Zero placeholders for missing slots.",
        "kwh_real": "kWh of the real readings.",
        "kwh_filled": "kWh of placeholders (0).",
        "completeness": "actual_intervals / expected_intervals.",
        "status": "complete | partial (cut by the edge of the delivered range) | gaps (missing slots inside it).",
    },
}
