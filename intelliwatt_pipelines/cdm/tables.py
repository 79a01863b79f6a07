"""Canonical tables (SQLAlchemy Core). Migrations in ``migrations/versions`` create exactly these.

The columns (names, types, nullability, CHECKed allowed values) come from their declarations in
``cdm.fields``; keys, foreign keys, indexes and table-wide checks are stated here.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator

from intelliwatt_pipelines.cdm import fields

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
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


# fields' column types as SQLAlchemy types (bigserial is an id that autoincrements)
_SQL_TYPES = {"bigserial": BigId, "id": BigId, "bigint": sa.BigInteger, "integer": sa.Integer,
              "smallint": sa.SmallInteger, "float": sa.Float, "boolean": sa.Boolean, "text": sa.Text, "date": sa.Date,
              "timestamptz": UTCDateTime}


def sql_type(f: fields.Field):
    return sa.String(f.length) if f.length else _SQL_TYPES[f.type]


def check_sql(f: fields.Field) -> str:
    """``status IN ('a', 'b')``: the CHECK text the migrations wrote for a column's allowed values."""
    return f"{f.name} IN ({', '.join(repr(v) for v in f.choices)})"


def columns(table: str, key: tuple[str, ...] = (), references: dict[str, str] | None = None) -> list:
    """The declared columns of ``table`` (primary ``key``, foreign keys by column: ``references``),
    then a CHECK ``ck_<table>_<column>`` for each column whose allowed values the warehouse enforces."""
    references = references or {}
    out: list = []
    for f in fields.TABLES[table]:
        fk = [sa.ForeignKey(references[f.name])] if f.name in references else []
        serial = {"autoincrement": True} if f.type == "bigserial" else {}
        out.append(sa.Column(f.name, sql_type(f), *fk, primary_key=f.name in key, nullable=f.nullable,
                             unique=f.unique or None, **serial))
    return out + [sa.CheckConstraint(check_sql(f), name=f"ck_{table}_{f.name}")
                  for f in fields.TABLES[table] if f.sql_check]


RAW_STATUSES = fields.column("raw_file", "status").choices
UPLOAD_ROLES = fields.column("upload", "role").choices
RECONCILIATION_STATUSES = fields.column("billing_reconciliation", "status").choices
SERIES_KEY = ("esiid", "meter", "channel")
# A billing read's natural key: ESIID, meter, channel, read period and source. The period is
# [read_start, read_end) in UTC, local midnights at both ends.
READ_KEY = (*SERIES_KEY, "read_start", "read_end", "source")
TO_RAW_FILE = {"raw_file_id": "raw_file.id"}

raw_file = sa.Table("raw_file", metadata, *columns("raw_file", key=("id",), references={"parent_id": "raw_file.id"}))

# No foreign key on raw_file_id: a per-row lookup that more than doubled load time (migration 0005).
# Only the normalizer writes intervals, from the raw_file row it is normalizing; none is deleted.
usage_interval = sa.Table("usage_interval", metadata, *columns("usage_interval", key=(*SERIES_KEY, "ts_utc")))

daily_completeness = sa.Table(
    "daily_completeness", metadata, *columns("daily_completeness", key=(*SERIES_KEY, "local_date")),
    # the status page's homes with gaps (0007): only the gap rows, however many complete days there are
    sa.Index("ix_daily_completeness_gaps", "local_date", "esiid", sqlite_where=sa.text("status = 'gaps'"),
             postgresql_where=sa.text("status = 'gaps'")),
)

# Which raw files hold which series and local days: the index a backfill uses to rebuild from raw.
raw_file_coverage = sa.Table(
    "raw_file_coverage", metadata,
    *columns("raw_file_coverage", key=("raw_file_id", *SERIES_KEY), references=TO_RAW_FILE),
    sa.Index("ix_raw_file_coverage_esiid", "esiid", "first_local_date"),
    sa.Index("ix_raw_file_coverage_first_day", "first_local_date"),  # where the data starts (0007)
)

INBOX_KEY = ("source", "path", "size_bytes", "mtime_ns")
# Inbox entries already taken (path, size, mtime), so listings stay cheap and nothing is taken twice.
inbox_entry = sa.Table("inbox_entry", metadata, *columns("inbox_entry", key=INBOX_KEY, references=TO_RAW_FILE))

# Inbox entries a process is taking now: the primary key lets only one process claim an entry.
inbox_claim = sa.Table("inbox_claim", metadata, *columns("inbox_claim", key=INBOX_KEY))

# Files posted to the API. Also the durable log the upload rate limits count, so a restart resets nothing.
upload = sa.Table(
    "upload", metadata, *columns("upload", key=("id",), references=TO_RAW_FILE),
    sa.Index("ix_upload_account", "role", "account_hash", "received_at"),
    sa.Index("ix_upload_raw_file", "raw_file_id"),
    sa.Index("ix_upload_key", "key_hash", "received_at"),
)

# The ESIIDs each upload concerns (given with it, or named by the file): the per-ESIID limit counts these.
upload_esiid = sa.Table(
    "upload_esiid", metadata,
    *columns("upload_esiid", key=("upload_id", "esiid"), references={"upload_id": "upload.id"}),
    sa.Index("ix_upload_esiid_esiid", "esiid", "received_at"),
)

# ESIID and meter given beside a file that names none: an inbox sidecar '<file name>.meta.json'.
raw_file_hint = sa.Table("raw_file_hint", metadata,
                         *columns("raw_file_hint", key=("raw_file_id",), references=TO_RAW_FILE))

# Meter reads (the register view of the same energy): one row per ESIID, meter, channel, read
# period and source.
billing_read = sa.Table(
    "billing_read", metadata, *columns("billing_read", key=READ_KEY, references=TO_RAW_FILE),
    sa.CheckConstraint("read_end > read_start", name="ck_billing_read_period"),
    sa.Index("ix_billing_read_esiid_end", "esiid", "read_end"),
)

# Which raw files hold which ESIIDs' reads, by local day of the read end (for rebuilding from raw).
billing_read_coverage = sa.Table(
    "billing_read_coverage", metadata,
    *columns("billing_read_coverage", key=("raw_file_id", "esiid"), references=TO_RAW_FILE),
    sa.Index("ix_billing_read_coverage_esiid", "esiid", "first_local_date"),
    sa.Index("ix_billing_read_coverage_first_day", "first_local_date"),  # where the data starts (0007)
)

# Each billing read against the stored intervals over the same window.
billing_reconciliation = sa.Table(
    "billing_reconciliation", metadata, *columns("billing_reconciliation", key=READ_KEY),
    sa.Index("ix_billing_reconciliation_esiid_date", "esiid", "local_date"),
)

# One row per SMT API call (vendor-apis.md §2.1): API call -> raw file -> rows. The answer's bytes are a
# raw file (source smt_api); a call that got none has no raw_file_id.
smt_api_call = sa.Table(
    "smt_api_call", metadata, *columns("smt_api_call", key=("id",), references=TO_RAW_FILE),
    sa.Index("ix_smt_api_call_esiid", "esiid", "called_at"),
    sa.Index("ix_smt_api_call_correlation", "correlation_id"),
    sa.Index("ix_smt_api_call_run", "run_id"),
)

# A customer's SMT agreement and subscription (§2.2): one row per agreement, found by its number.
smt_authorization = sa.Table(
    "smt_authorization", metadata, *columns("smt_authorization", key=("id",)),
    sa.Index("ix_smt_authorization_esiid", "esiid", "smt_status"),
)

# Historical interval requests: once per ESIID and window, whatever asked (an enrollment or the gap sweep).
smt_backfill_request = sa.Table(
    "smt_backfill_request", metadata,
    *columns("smt_backfill_request", key=("id",), references={"authorization_id": "smt_authorization.id"}),
    sa.UniqueConstraint("esiid", "requested_start", "requested_end", name="uq_smt_backfill_request_window"),
    sa.Index("ix_smt_backfill_request_status", "status", "esiid"),
)

# The meters SMT describes (§2.3), from /v2/meterInfo/ answers and the SFTP CSV.
smt_meter_info = sa.Table("smt_meter_info", metadata,
                          *columns("smt_meter_info", key=("esiid", "meter_number"), references=TO_RAW_FILE))

# What the gap sweep (§2.4) decided per ESIID and day; a day gets at most one repair request.
interval_day_ledger = sa.Table(
    "interval_day_ledger", metadata,
    *columns("interval_day_ledger", key=("esiid", "local_date"),
             references={"repair_request_id": "smt_backfill_request.id"}),
    sa.Index("ix_interval_day_ledger_status", "status", "local_date"),
)

# ERCOT's TDSP ESIID extract files (§2.6): one row per document, listed, stored, then applied in order.
ercot_extract_file = sa.Table(
    "ercot_extract_file", metadata, *columns("ercot_extract_file", key=("doc_id",), references=TO_RAW_FILE),
    sa.Index("ix_ercot_extract_file_tdsp", "tdsp", "publish_date"),
)

# Every premise ERCOT lists: one row per ESIID, from the latest file that listed it, searched by address.
service_point = sa.Table(
    "service_point", metadata, *columns("service_point", key=("esiid",), references=TO_RAW_FILE),
    sa.Index("ix_service_point_zip5", "zip5"),
    sa.Index("ix_service_point_tdsp", "tdsp_code"),
    # Address search (cdm.service_point_search): by house number first, LIKE '206 %', then by trigrams.
    sa.Index("ix_service_point_norm_line1_prefix", "norm_line1", postgresql_ops={"norm_line1": "text_pattern_ops"}),
    sa.Index("ix_service_point_norm_line1_trgm", "norm_line1", postgresql_using="gin",
             postgresql_ops={"norm_line1": "gin_trgm_ops"}),
)

# WattBuy's address -> ESIID answers (§2.5), by a salted hash of the address: a conflict keeps both.
esiid_lookup = sa.Table(
    "esiid_lookup", metadata, *columns("esiid_lookup", key=("address_hash", "esiid"), references=TO_RAW_FILE),
    sa.Index("ix_esiid_lookup_esiid", "esiid"),
)

# Retail plans on offer, one row per (source, external id): a null term is an ordinary value here, so an
# offer without one is never duplicated (the replaced system's unique key included the term).
retail_offer = sa.Table(
    "retail_offer", metadata, *columns("retail_offer", key=("source", "external_id"), references=TO_RAW_FILE),
    sa.Index("ix_retail_offer_tdsp_zip", "tdsp_code", "zip5"),
)

# Delivery tariffs (§2.7), append-only versions per TDSP; a later version closes the open one.
tdsp_tariff_version = sa.Table(
    "tdsp_tariff_version", metadata, *columns("tdsp_tariff_version", key=("id",)),
    sa.Index("ix_tdsp_tariff_version_asof", "tdsp_code", "effective_start"),
)
tdsp_tariff_component = sa.Table(
    "tdsp_tariff_component", metadata,
    *columns("tdsp_tariff_component", key=("version_id", "charge_name", "unit"),
             references={"version_id": "tdsp_tariff_version.id"}),
)

# Plan analyzer (§2.8). Buckets are derived (rewritten only where a value changed); estimates are immutable,
# one per (home, plan, inputs hash), and plan_estimate_current says which is a home's estimate now.
usage_bucket = sa.Table("usage_bucket", metadata,
                        *columns("usage_bucket", key=("esiid", "year_month", "bucket_key")))
usage_bucket_home = sa.Table("usage_bucket_home", metadata, *columns("usage_bucket_home", key=("esiid",)))
rate_plan = sa.Table(
    "rate_plan", metadata, *columns("rate_plan", key=("id",), references=TO_RAW_FILE),
    sa.UniqueConstraint("source", "external_id", name="uq_rate_plan_source_external_id"),
    sa.Index("ix_rate_plan_tdsp", "tdsp_code"),
)
plan_estimate = sa.Table(
    "plan_estimate", metadata, *columns("plan_estimate", key=("id",), references={"rate_plan_id": "rate_plan.id"}),
    sa.UniqueConstraint("esiid", "rate_plan_id", "inputs_sha256", name="uq_plan_estimate_inputs"),
)
plan_estimate_current = sa.Table(
    "plan_estimate_current", metadata,
    *columns("plan_estimate_current", key=("esiid", "rate_plan_id"),
             references={"rate_plan_id": "rate_plan.id", "estimate_id": "plan_estimate.id"}),
)

# 1PWR markets (§3): cumulative registers as read, one row per meter and instant (the latest delivery wins);
# usage_interval holds the deltas derived from them (cdm.registers).
register_read = sa.Table("register_read", metadata,
                         *columns("register_read", key=("esiid", "meter", "ts_utc"), references=TO_RAW_FILE))
# Which meters of an account are its primary, check and backup meters: stored as separate meters, so source
# precedence (within one meter) never merges them; one primary per account.
meter_role = sa.Table(
    "meter_role", metadata, *columns("meter_role", key=("esiid", "meter"), references=TO_RAW_FILE),
    sa.Index("ix_meter_role_meter", "meter"),
)
# Requests per vendor organization and UTC day, over every run: Koios allows 30,000 per organization per day.
vendor_request_count = sa.Table("vendor_request_count", metadata,
                                *columns("vendor_request_count", key=("vendor", "organization", "utc_day")))
