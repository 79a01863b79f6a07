"""Settings of the vendor APIs (Smart Meter Texas, vendor-apis.md §2.1; 1PWR's SparkMeter, §3.1) and the
feature flags (§2.4): every vendor feature is behind an ``INTELLIWATT_FLAG_*`` flag, off by default, except the file ingest
that already exists (SMT files, Green Button).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field
from pydantic.dataclasses import dataclass

from intelliwatt_pipelines.config.core import SETTINGS_CONFIG, CoreSettings, setting
from intelliwatt_pipelines.config.values import BaseUrl, Count, Expects, Flag, Fraction, Home, Names, UnderHome

# flag field -> what it turns on (the flags endpoint and the README say these)
FLAGS = {
    "flag_smt": "SMT file ingest: the inbox, SFTP and upload sensors start running",
    "flag_green_button": "Green Button XML is accepted (else such a file fails, its bytes kept)",
    "flag_smt_api": "SMT REST API usage pulls and meter info (jobs and the monthly-reads schedule)",
    "flag_smt_agreements": "SMT agreements and subscriptions (jobs, assets and their schedules)",
    "flag_smt_backfill": "SMT historical backfills: the backfill sensor and the gap sweep schedule",
    "flag_ercot": "ERCOT's TDSP ESIID extracts fetched from ERCOT MIS (the ERCOT folder is read regardless)",
    "flag_wattbuy": "WattBuy: ESIID lookup by address and retail offers (jobs, asset and the nightly schedule)",
    "flag_plan_analyzer": "Plan analyzer: the automation sensor that keeps monthly_usage_buckets, rate_plans and "
                          "plan_estimates current (the assets, their job and the routes exist regardless)",
    "flag_koios": "1PWR: SparkMeter Koios v2 historical pulls (`koios_history_job`)",
    "flag_thundercloud": "1PWR: on-site SparkMeter ThunderCloud snapshots and history files "
                         "(`thundercloud_snapshot_job` and its 15-minute schedule)",
}
ESTIMATE_MODES = ("DEFAULT", "INDEXED_EFL_ANCHOR_APPROX")


@dataclass(frozen=True, config=SETTINGS_CONFIG)
class VendorSettings(CoreSettings):
    # Feature flags (vendor-apis.md §2.4): a schedule or sensor whose flag is off starts STOPPED and its
    # ticks request nothing; a job whose flag is off fails at once, naming the flag.
    flag_smt: Flag = setting(True, FLAGS["flag_smt"])
    flag_green_button: Flag = setting(True, FLAGS["flag_green_button"])
    flag_smt_api: Flag = setting(False, FLAGS["flag_smt_api"])
    flag_smt_agreements: Flag = setting(False, FLAGS["flag_smt_agreements"])
    flag_smt_backfill: Flag = setting(False, FLAGS["flag_smt_backfill"])
    flag_ercot: Flag = setting(False, FLAGS["flag_ercot"])
    flag_wattbuy: Flag = setting(False, FLAGS["flag_wattbuy"])
    flag_plan_analyzer: Flag = setting(False, FLAGS["flag_plan_analyzer"])
    flag_koios: Flag = setting(False, FLAGS["flag_koios"])
    flag_thundercloud: Flag = setting(False, FLAGS["flag_thundercloud"])
    # Smart Meter Texas REST API (vendors/smt; vendor-apis.md §2.1).
    smt_api_base_url: BaseUrl = setting("https://services.smartmetertexas.net",
                                         "SMT API base URL (UAT: `https://uatservices.smartmetertexas.net`)")
    smt_username: str = setting("", "SMT API service ID the token is requested for (not a portal login)")
    smt_password: str = setting("", "password of that service ID (secret; Dagster reads it as an `EnvVar`)",
                                 secret=True)
    smt_requestor_auth_id: str = setting("", "the CSP's DUNS number, sent as `requesterAuthenticationID`")
    smt_service_id: str = setting("", "`requestorID` and the `username`/`serviceId` headers of agreement "
                                       "and subscription calls", shown="the username")
    smt_proxy_url: BaseUrl = setting("", "send every SMT call to this proxy base URL on a whitelisted host "
                                          "instead", shown="empty (call SMT directly)")
    smt_proxy_token: str = setting("", "the proxy's shared secret, sent as `x-proxy-token` (secret)",
                                    secret=True)
    smt_timeout_s: Annotated[float, Field(gt=0, allow_inf_nan=False)] = setting(
        60.0, "seconds one SMT HTTP request may take before it is retried")
    smt_email_key: str = setting("", "Fernet key that encrypts customers' e-mails in `smt_authorization` "
                                     "(secret; `intelliwatt smt new-email-key` makes one)", secret=True)
    smt_gap_lookback_days: Count = setting(3, "days before SMT's delivery lag the daily gap sweep checks")
    smt_delivery_lag_days: Annotated[int, Field(ge=0, le=14)] = setting(
        2, "days SMT usually takes to deliver: the gap sweep leaves these days alone (PENDING_SMT)")
    smt_monthly_reads_months: Annotated[int, Field(ge=1, le=13)] = setting(
        13, "months of monthly reads the 07:00 schedule pulls for every active agreement")
    # ERCOT TDSP ESIID extracts (vendor-apis.md §2.6) and WattBuy (§2.5).
    ercot_inbox_dir: Home = setting(UnderHome("$INTELLIWATT_HOME/ercot"),
                                    "folder where ERCOT extract ZIPs may be dropped by hand or by a transfer")
    ercot_mis_base_url: BaseUrl = setting("https://www.ercot.com", "ERCOT MIS (document list and downloads)")
    ercot_timeout_s: Annotated[float, Field(gt=0, allow_inf_nan=False)] = setting(
        120.0, "seconds one ERCOT request may take")
    wattbuy_base_url: BaseUrl = setting("https://apis.wattbuy.com/v3", "WattBuy API base URL")
    wattbuy_api_key: str = setting("", "WattBuy API key, sent as `x-api-key` (secret; Dagster reads it as an "
                                       "`EnvVar`)", secret=True)
    wattbuy_timeout_s: Annotated[float, Field(gt=0, allow_inf_nan=False)] = setting(
        12.0, "seconds one WattBuy request may take")
    # Plan analyzer (vendor-apis.md §2.8).
    plans_dir: Home = setting(UnderHome("$INTELLIWATT_HOME/plans"),
                              "folder of curated plan JSON (`*.json`) and EFL text (`*.txt`) files `rate_plans` reads, "
                              "besides the curated plans packaged with the project")
    plan_month_min_complete: Fraction = setting(
        1.0, "share of a month's local days that must be `complete` for the month to be priced")
    plan_estimate_mode: Annotated[Literal[ESTIMATE_MODES], Expects("DEFAULT or INDEXED_EFL_ANCHOR_APPROX")] = setting(
        "DEFAULT", "`INDEXED_EFL_ANCHOR_APPROX` prices indexed and variable plans from their EFL averages "
                   "(APPROXIMATE, LOW confidence); `DEFAULT` leaves them NOT_COMPUTABLE")
    # 1PWR meters (vendor-apis.md §3.1 2-4): SparkMeter's Koios v2 cloud and an on-site ThunderCloud.
    koios_base_url: BaseUrl = setting("https://www.sparkmeter.cloud", "SparkMeter Koios base URL (`/api/v2` is "
                                                                      "added)")
    koios_api_key: str = setting("", "Koios API key, sent as `X-API-KEY` (secret; Dagster reads it as an `EnvVar`)",
                                 secret=True)
    koios_api_secret: str = setting("", "Koios API secret, sent as `X-API-SECRET` (secret)", secret=True)
    koios_org_id: str = setting("", "Koios organization id of the sites named without one")
    koios_site_ids: Names = setting("", "Koios site ids to pull, each `<site id>` (in `INTELLIWATT_KOIOS_ORG_ID`) "
                                        "or `<org id>:<site id>`")
    koios_daily_budget: Count = setting(30_000, "requests one Koios organization may get per UTC day (Koios' "
                                                "limit is 30,000)")
    koios_timeout_s: Annotated[float, Field(gt=0, allow_inf_nan=False)] = setting(
        30.0, "seconds one Koios request may take")
    thundercloud_base_url: BaseUrl = setting("", "the on-site ThunderCloud, e.g. `https://tc.example.org`",
                                             shown="empty (ThunderCloud not configured)")
    thundercloud_token: str = setting("", "ThunderCloud token, sent as `Authentication-Token` (secret)",
                                      secret=True)
    thundercloud_timeout_s: Annotated[float, Field(gt=0, allow_inf_nan=False)] = setting(
        60.0, "seconds one ThunderCloud request may take")
