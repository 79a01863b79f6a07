"""Columns of the raw files and the usage tables: raw_file, usage_interval, daily_completeness,
raw_file_coverage."""

from __future__ import annotations

from intelliwatt_pipelines import bounds, kinds
from intelliwatt_pipelines.cdm.fields.base import (
    CHANNEL,
    ESIID,
    FIRST_DAY,
    INTERVAL_LENGTHS,
    LAST_DAY,
    METER,
    RAW_FILE_ID,
    Field,
    values,
)
from intelliwatt_pipelines.cdm.fields.plans import EFL_TEXT_KIND, RATE_PLAN_JSON_KIND
from intelliwatt_pipelines.cdm.fields.reference import WATTBUY_ANSWER_KIND, WATTBUY_ERROR_KIND
from intelliwatt_pipelines.cdm.fields.vendor import SMT_API_ANSWER_KIND, SMT_API_ERROR_KIND, SMT_API_SOURCE

# raw_file.kind of a Koios or ThunderCloud answer that is not 2xx (source koios or thundercloud): never taken
# for the usage file its body may look like (a JSON 429 detected as an SMT file, say).
ONEPWR_API_ERROR_KIND = "onepwr_api_error"

KINDS = {
    kinds.SMT_INTERVAL: "SMT interval CSV", kinds.SMT_INTERVAL_SIMPLE: "esiid, meter, start date/time, kWh CSV",
    kinds.USAGE_TIMESTAMP_KWH: "UTC timestamp, kWh CSV", kinds.GREEN_BUTTON: "ESPI XML",
    kinds.SMT_DAILY_READ: "SMT daily meter reads CSV", kinds.SMT_MONTHLY_JSON: "SMT monthly energy-data JSON",
    kinds.SMT_INTERVAL_JSON: "SMT API interval JSON",
    kinds.SMT_METER_INFO_CSV: "SMT meter info CSV (SFTP)",
    kinds.ONEPWR_IOT_JSON: "1PWR 1Meter readings, a JSON array (S3 backup records or pushed `MeterReading`s)",
    kinds.KOIOS_HISTORICAL_JSON: "a SparkMeter Koios historical-data page (hourly kWh)",
    kinds.THUNDERCLOUD_CUSTOMERS_JSON: "a ThunderCloud customers snapshot (cumulative registers)",
    kinds.THUNDERCLOUD_HISTORY_PARQUET: "a ThunderCloud daily history parquet file (interval kWh or registers)",
    kinds.ONEPWR_METER_REGISTRY: "1PWR meter registry CSV: account_number, meter_id, role",
    ONEPWR_API_ERROR_KIND: "a Koios or ThunderCloud answer that is not 2xx (its status in `error`)",
    SMT_API_ERROR_KIND: "an SMT API answer that is not 2xx (its status in `error`)",
    SMT_API_ANSWER_KIND: "an SMT API answer about agreements, subscriptions, backfill requests or meters",
    WATTBUY_ANSWER_KIND: "a WattBuy answer (2xx; an empty or non-JSON one kept inside a wrapper JSON)",
    WATTBUY_ERROR_KIND: "a WattBuy answer that is not 2xx (its status in `error`)",
    RATE_PLAN_JSON_KIND: "a curated rate plan JSON", EFL_TEXT_KIND: "an Electricity Facts Label's text",
    kinds.PGP_PACKAGE: "PGP-encrypted delivery", kinds.ZIP_PACKAGE: "ZIP of CSVs", kinds.UNKNOWN: "not recognized",
}
RAW_STATUSES = {"received": "captured, not yet processed", "normalized": "its rows are stored; a package: unpacked",
                "failed": "", "quarantined": "an unsafe or unreadable package"}
QUALITIES = {"actual": "", "estimated": "", "filled": "zero placeholder for a missing slot"}
# The vendor source written on intervals: which value a slot keeps when several deliver it (precedence).
USAGE_SOURCES = {"smt": "SMT interval CSVs", "csv": "UTC timestamp, kWh CSVs", "green_button": "Green Button XML",
                 "koios": "SparkMeter Koios hourly kWh (1PWR)",
                 "onepwr_iot": "1PWR 1Meter registers, as deltas (`register_read`)",
                 "thundercloud": "SparkMeter ThunderCloud registers, as deltas (`register_read`), and its history "
                                 "files' interval kWh"}
DAY_STATUSES = {"complete": "", "partial": "only cut by the first or last delivered interval of the series",
                "gaps": "missing slots inside the delivered range, including days with no reading at all"}

RAW_FILE = (
    Field("id", "bigserial", "surrogate key; canonical rows point here as `raw_file_id`"),
    Field("sha256", "varchar(64)", "SHA-256 of the exact bytes, hex: one row per distinct content",
          unique=True),
    Field("filename", "text", "name the file arrived under; a package member's is `<package>!<member>`"),
    Field("source", "varchar(40)", "how it arrived: `inbox` (the inbox folder, also via `intelliwatt ingest`), "
          f"`sftp:<host>` (SMT's SFTP delivery), `upload` (the API), `{SMT_API_SOURCE}` (an answer of SMT's REST "
          "API, whatever its status), `wattbuy` (a WattBuy answer), `ercot` (an ERCOT extract), `plans` (a curated plan or EFL text), "
          "`koios` / `thundercloud` (a SparkMeter answer) or `onepwr_iot` (a sealed hour of pushed 1Meter readings); a file unpacked from a "
          "package has the package's"),
    Field("kind", "varchar(40)", "format detected from its first bytes and name", allowed=KINDS),
    Field("size_bytes", "bigint", "size of the raw bytes", unit="bytes", ge=0),
    Field("storage_uri", "text", "where the bytes are kept (content-addressed, written once, read-only)"),
    Field("received_at", "timestamptz", "when the bytes were first captured"),
    Field("status", "varchar(16)", "where processing stands", allowed=RAW_STATUSES, sql_check=True),
    Field("error", "text", "readable reason when failed or quarantined; tolerated invalid rows when normalized",
          nullable=True),
    Field("rows_read", "integer", "data rows in the file", nullable=True, unit="rows", ge=0),
    Field("rows_valid", "integer", "rows that became intervals", nullable=True, unit="rows", ge=0),
    Field("rows_invalid", "integer", "rows rejected, with reasons in `error`", nullable=True, unit="rows", ge=0),
    Field("rows_skipped", "integer", "rows with no reading (blank kWh, e.g. spring-forward) or exact duplicates",
          nullable=True, unit="rows", ge=0),
    Field("normalized_at", "timestamptz", "when canonical rows were last written from it", nullable=True),
    Field("parent_id", "id", "the raw file this one was unpacked from (a ZIP or PGP delivery), if any",
          nullable=True),
    Field("run_id", "varchar(64)", "Dagster run that last processed it", nullable=True),
)

USAGE_INTERVAL = (
    ESIID,
    METER.but(description="meter number; `unknown` when the file gives none (SMT interval files never do)"),
    CHANNEL.but(sql_check=True),
    Field("ts_utc", "timestamptz", "interval start, UTC"),
    Field("interval_minutes", "smallint", "interval length (15 for SMT; 15 or 60 for Green Button)",
          unit="minutes", allowed=values(*INTERVAL_LENGTHS)),
    # Parsers refuse a reading at or above the bound (sources/frames.py check_kwh), pandera checks below it.
    Field("kwh", "float", "energy in the interval", unit="kWh", ge=0, lt=bounds.MAX_INTERVAL_KWH),
    Field("quality", "varchar(10)", "how the value was read", allowed=QUALITIES, sql_check=True),
    Field("revised_at", "timestamptz", "vendor revision time (SMT REVISION_DATE, Central → UTC); null when the "
          "format has none", nullable=True),
    Field("source", "varchar(40)", "vendor source of the reading (see Upsert rules)", allowed=USAGE_SOURCES),
    RAW_FILE_ID.but(description="raw file the stored value came from (no foreign key: PostgreSQL would look it "
                    "up once per inserted row, which more than doubled load time; only the normalizer writes "
                    "intervals, from the `raw_file` row it is normalizing, and raw files are never deleted)"),
)

DAILY_COMPLETENESS = (
    ESIID.but(description="ESI ID"),
    METER.but(description="meter number or `unknown`"),
    CHANNEL,
    Field("local_date", "date", f"day in {bounds.CENTRAL_TZ} or the market's zone"),
    Field("interval_minutes", "smallint", "interval length the day is counted in (its shortest)", unit="minutes",
          allowed=values(*INTERVAL_LENGTHS)),
    Field("expected_intervals", "integer", "intervals in that local day: 96, 92 on spring-forward, 100 on "
          "fall-back (at 15 minutes; 1PWR markets have no DST: always 96, or 24 hourly)", unit="intervals", ge=0),
    Field("actual_intervals", "integer", "intervals with a real reading (actual or estimated); a longer reading "
          "on a day of mixed lengths counts as the intervals it covers", unit="intervals", ge=0),
    Field("estimated_intervals", "integer", "of those, estimated", unit="intervals", ge=0),
    Field("filled_intervals", "integer", "zero placeholders", unit="intervals", ge=0),
    Field("kwh_real", "float", "kWh of the real readings", unit="kWh", ge=0),
    Field("kwh_filled", "float", "kWh of the placeholders (0)", unit="kWh", ge=0),
    Field("completeness", "float", "`actual_intervals / expected_intervals`", ge=0, le=1),
    Field("status", "varchar(16)", "whether the day is whole", allowed=DAY_STATUSES, sql_check=True),
)

RAW_FILE_COVERAGE = (
    RAW_FILE_ID.but(description="the raw file holding readings of the series"),
    ESIID.but(description="ESI ID"),
    METER.but(description="meter number or `unknown`"),
    CHANNEL,
    FIRST_DAY.but(description=f"first day ({bounds.CENTRAL_TZ} or the market's zone) of its intervals of the series"),
    LAST_DAY.but(description=f"last day ({bounds.CENTRAL_TZ} or the market's zone) of its intervals of the series"),
    Field("intervals", "integer", "its intervals of the series", unit="intervals", ge=0),
)
