"""Columns of the 1PWR tables (vendor-apis.md §3): register_read (cumulative kWh registers as delivered, the
input of the register -> interval transform), meter_role (which meters of an account are its primary, check
and backup meters) and vendor_request_count (requests per vendor organization and UTC day, for Koios'
daily budget)."""

from __future__ import annotations

from intelliwatt_pipelines.cdm.fields.base import ESIID, METER, RAW_FILE_ID, Field

REGISTER_SOURCES = {"onepwr_iot": "1PWR 1Meter (IoT) `EnergyActive`", "thundercloud": "ThunderCloud `total_cycle_energy`"}
ROLES = {"primary": "the customer's meter: its energy is the customer's",
         "check": "in series with the primary to check it; excluded from customer aggregates",
         "backup": "standby meter, stored, excluded from customer aggregates"}

REGISTER_READ = (
    ESIID.but(description="service point (1PWR: account number) the meter serves"),
    METER.but(description="meter id in canonical form (1Meter: 8 digits; SparkMeter: full serial)"),
    Field("ts_utc", "timestamptz", "when the register was read, UTC"),
    Field("register_kwh", "float", "cumulative register value", unit="kWh", ge=0),
    Field("source", "varchar(40)", "vendor source of the read", allowed=REGISTER_SOURCES),
    RAW_FILE_ID.but(description="raw file the stored read came from (the latest delivery of that instant)"),
)

METER_ROLE = (
    ESIID.but(description="service point (1PWR: account number)"),
    METER.but(description="meter id in canonical form"),
    Field("role", "varchar(10)", "what the meter is for", allowed=ROLES, sql_check=True),
    RAW_FILE_ID.but(description="the meter registry file that set the role"),
    Field("updated_at", "timestamptz", "when the role was last set"),
)

VENDOR_REQUEST_COUNT = (
    Field("vendor", "varchar(16)", "whose API (`koios`)"),
    Field("organization", "varchar(64)", "the vendor's organization id the requests were made for"),
    Field("utc_day", "date", "the UTC day the vendor counts them in"),
    Field("requests", "integer", "requests made that day, over every run", unit="requests", ge=0),
)
