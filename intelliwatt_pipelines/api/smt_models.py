"""Response shapes of the SMT admin routes and the flags route (``smt_routes``), for the OpenAPI schema."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, Field

from intelliwatt_pipelines.cdm.fields.vendor import (
    AGREEMENT_STATUSES,
    BACKFILL_REASONS,
    BACKFILL_STATUSES,
    METER_INFO_STATUSES,
    SUBSCRIPTION_STATUSES,
)

NEXT = "Pass as cursor= for the next page (older rows); null on the last."


class Agreement(BaseModel):
    """An smt_authorization row. The customer's e-mail is never sent, only whether one is stored."""

    id: int
    esiid: str
    meter_number: str | None
    tdsp_code: str | None
    rep_puct_number: int | None
    authorization_start: dt.date | None
    authorization_end: dt.date | None
    months_back: int
    account_class: Literal["res", "com"]
    consent_text_version: str | None
    consent_at: dt.datetime | None
    has_contact_email: bool = Field(description="An encrypted e-mail is stored (Terminate needs it).")
    smt_agreement_number: int | None
    smt_subscription_number: str | None
    smt_subscription_status: str | None = Field(description="Outcome of the subscription call: "
                                                          + ", ".join(SUBSCRIPTION_STATUSES))
    smt_status: Literal[tuple(AGREEMENT_STATUSES)]
    smt_status_message: str | None
    last_sync_at: dt.datetime | None
    archived_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime


class AgreementPage(BaseModel):
    count: int = Field(description="Agreements on this page.")
    agreements: list[Agreement] = Field(description="Newest first.")
    next_cursor: str | None = Field(description=NEXT)
    corrId: str


class Backfill(BaseModel):
    """An smt_backfill_request row."""

    id: int
    esiid: str
    authorization_id: int | None
    reason: Literal[tuple(BACKFILL_REASONS)]
    requested_start: dt.date
    requested_end: dt.date
    correlation_id: str | None
    status: Literal[tuple(BACKFILL_STATUSES)]
    delivered_raw_file_ids: list[int] = Field(description="Raw files whose coverage delivered the window.")
    last_report_status: Any = Field(description="SMT's last report-status answer (redacted JSON); null if none.")
    last_polled_at: dt.datetime | None
    error: str | None
    created_at: dt.datetime
    updated_at: dt.datetime


class BackfillPage(BaseModel):
    count: int
    backfills: list[Backfill] = Field(description="Newest first.")
    next_cursor: str | None = Field(description=NEXT)
    corrId: str


class MeterInfo(BaseModel):
    """An smt_meter_info row: SMT's MeterData fields as text (kwh_meter_multiplier a number)."""

    esiid: str
    meter_number: str
    status: Literal[tuple(METER_INFO_STATUSES)]
    kwh_meter_multiplier: float | None
    utility_meter_id: str | None
    meter_serial_number: str | None
    configured_channels: str | None
    manufacturer_name: str | None
    meter_class: str | None
    interval_setting: str | None
    reverse_flow_handling: str | None
    dg_channel: str | None
    disconnect: str | None
    meter_status: str | None
    meter_phases: str | None
    meter_model: str | None
    test_date: str | None
    installation_date: str | None
    initial_provision_date: str | None
    last_updated: str | None
    communication_indicator: str | None
    instrument_rated: str | None
    current_transformers_ratio: str | None
    potential_transformers_ratio: str | None
    esi_firmware_version: str | None
    han_protocol: str | None
    smart_energy_profile: str | None
    error: str | None
    raw_file_id: int
    updated_at: dt.datetime


class Meters(BaseModel):
    esiid: str
    meters: list[MeterInfo] = Field(description="By meter number.")
    corrId: str


class ApiCall(BaseModel):
    """An smt_api_call audit row."""

    id: int
    called_at: dt.datetime
    endpoint: str
    trans_id: str | None
    http_status: int | None
    attempts: int
    request_redacted: dict[str, Any] | None = Field(
        description="The request (method, URL, headers, body), secrets, e-mail and ESIIDs redacted.")
    raw_file_id: int | None
    correlation_id: str | None
    esiid: str | None
    error: str | None
    run_id: str | None


class ApiCallPage(BaseModel):
    count: int
    calls: list[ApiCall] = Field(description="Newest first.")
    next_cursor: str | None = Field(description=NEXT)
    corrId: str


class Flag(BaseModel):
    name: str = Field(description="The environment variable, e.g. INTELLIWATT_FLAG_SMT_API.")
    enabled: bool
    controls: str


class Flags(BaseModel):
    flags: list[Flag]
    corrId: str
