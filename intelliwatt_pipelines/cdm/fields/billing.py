"""Columns of the billing tables: billing_read, billing_read_coverage, billing_reconciliation."""

from __future__ import annotations

from intelliwatt_pipelines import bounds
from intelliwatt_pipelines.cdm.fields.base import (
    CHANNEL,
    ESIID,
    FIRST_DAY,
    LAST_DAY,
    METER,
    RAW_FILE_ID,
    Field,
)

BILLING_SOURCES = {"smt_daily_csv": "DailyMeterUsage CSV", "smt_monthly_api": "energy-data JSON",
                   "onepwr_iot": "1Meter register at local midnights", "thundercloud": "ThunderCloud register at local midnights"}
BILLING_QUALITIES = {"actual": "", "estimated": ""}
RECONCILIATION_STATUSES = {
    "match": "", "mismatch": "the difference is larger than `tolerance_kwh`",
    "insufficient_intervals": "the intervals do not cover the whole window",
}

# The natural key of a read: ESIID, meter, channel, read period and source. The period is
# [read_start, read_end) in UTC, local midnights at both ends.
READ_START = Field("read_start", "timestamptz", f"start of the read period (UTC; a midnight in {bounds.CENTRAL_TZ} or the market's zone)")
READ_END = Field("read_end", "timestamptz",
                 f"end of the read period, exclusive (UTC; a midnight in {bounds.CENTRAL_TZ} or the market's zone)")
BILLING_SOURCE = Field("source", "varchar(40)", "how the read was delivered", allowed=BILLING_SOURCES)

BILLING_READ = (
    ESIID,
    METER,
    CHANNEL.but(sql_check=True),
    READ_START,
    READ_END,
    BILLING_SOURCE,
    Field("bill_date", "date", "bill date, when given", nullable=True),
    Field("kwh_total", "float", "energy the meter registered over the period", unit="kWh"),
    Field("kwh_billed", "float", "billed kWh, when given (may differ from `kwh_total` after adjustments)",
          nullable=True, unit="kWh"),
    Field("start_reading", "float", "register reading at the start of the period, when given", nullable=True),
    Field("end_reading", "float", "register reading at the end of the period, when given", nullable=True),
    Field("tdsp_code", "varchar(40)", "TDSP code (DUNS or id), when given", nullable=True),
    Field("tdsp_name", "varchar(120)", "TDSP name, when given", nullable=True),
    Field("quality", "varchar(10)", "how the read was taken", allowed=BILLING_QUALITIES, sql_check=True),
    Field("revised_at", "timestamptz", "vendor revision time (UTC); the newer revision wins; null when none given",
          nullable=True),
    RAW_FILE_ID.but(description="raw file the stored values came from"),
)

BILLING_READ_COVERAGE = (
    RAW_FILE_ID.but(description="the raw file holding reads of the ESIID"),
    ESIID.but(description="ESI ID"),
    FIRST_DAY.but(description=f"first day ({bounds.CENTRAL_TZ} or the market's zone) its reads of the ESIID end on"),
    LAST_DAY.but(description=f"last day ({bounds.CENTRAL_TZ} or the market's zone) its reads of the ESIID end on"),
    Field("reads", "integer", "its reads of the ESIID", unit="reads", ge=0),
)

BILLING_RECONCILIATION = (
    ESIID.but(description="ESI ID"),
    METER.but(description="meter of the billing read"),
    CHANNEL,
    READ_START,
    READ_END,
    BILLING_SOURCE.but(description="source of the billing read"),
    Field("local_date", "date", f"day ({bounds.CENTRAL_TZ} or the market's zone) the read period ends on (its last day): the "
          "partition day"),
    Field("billing_kwh", "float", "`kwh_total` of the billing read", unit="kWh"),
    Field("interval_kwh", "float", "kWh of the real (actual or estimated) intervals in the same window", unit="kWh"),
    Field("difference_kwh", "float", "`interval_kwh - billing_kwh`", unit="kWh"),
    Field("tolerance_kwh", "float", "largest difference (either way) that still matches: the larger of "
          "INTELLIWATT_RECONCILE_TOLERANCE_KWH and INTELLIWATT_RECONCILE_TOLERANCE_PCT % of `billing_kwh`",
          unit="kWh", ge=0),
    Field("interval_meters", "text", "interval meters summed, comma-separated: the read's own meter when "
          "intervals carry it, else every meter of the ESIID (SMT interval files name no meter)"),
    Field("intervals_found", "integer", "real intervals in the window", unit="intervals", ge=0),
    Field("minutes_covered", "integer", "minutes those intervals cover", unit="minutes", ge=0),
    Field("minutes_expected", "integer", "minutes in the window (a DST day has 23 or 25 hours)", unit="minutes",
          ge=0),
    Field("status", "varchar(24)", "how the read compares with its intervals", allowed=RECONCILIATION_STATUSES,
          sql_check=True),
    Field("checked_at", "timestamptz", "when this row last changed"),
)
