"""WattBuy in Dagster (vendor-apis.md §2.5): the ``wattbuy`` resource, ``esiid_lookup_job`` (addresses ->
``esiid_lookup``), the asset ``retail_offers`` (``/offers`` per ZIP -> ``retail_offer``) and its nightly
schedule. All behind INTELLIWATT_FLAG_WATTBUY (off by default); the work is in ``ingest.wattbuy``.
"""

import datetime as dt
import os

import dagster as dg
import httpx

from intelliwatt_pipelines.bounds import CENTRAL_TZ
from intelliwatt_pipelines.config import Settings, current
from intelliwatt_pipelines.defs.logs import redacted_errors
from intelliwatt_pipelines.defs.resources import RawStoreResource, WarehouseResource
from intelliwatt_pipelines.ingest import wattbuy as ingest
from intelliwatt_pipelines.vendors.wattbuy.client import WattBuyClient, WattBuyConfig
from intelliwatt_pipelines.vendors.wattbuy.requests import BASE_URL

API_KEY_ENV = "INTELLIWATT_WATTBUY_API_KEY"
FLAG_ENV = "INTELLIWATT_FLAG_WATTBUY"
GROUP = "wattbuy"
RETAIL_OFFERS = dg.AssetKey("retail_offers")
ESIID_LOOKUP_JOB = "esiid_lookup_job"
RETAIL_OFFERS_JOB = "retail_offers_job"
SCHEDULE = "wattbuy_nightly_schedule"


class WattBuyResource(dg.ConfigurableResource):
    """WattBuy API (``INTELLIWATT_WATTBUY_*``). The key is only ever an ``EnvVar``; with the flag off
    (the default) every use fails, naming the flag."""

    enabled: bool = False
    api_key: str = ""
    base_url: str = BASE_URL
    timeout_s: float = 12.0

    def client(self, http: httpx.Client | None = None) -> WattBuyClient:
        if not self.enabled:
            raise dg.Failure(f"WattBuy disabled by {FLAG_ENV} (set it to true)")
        try:
            config = WattBuyConfig(api_key=self.api_key, base_url=self.base_url, timeout_s=self.timeout_s)
        except ValueError as error:
            raise dg.Failure(str(error)) from None
        return WattBuyClient(config, http)


def wattbuy_resource(settings: Settings) -> WattBuyResource:
    """The resource from the settings; the key read from the environment by Dagster."""
    key = dg.EnvVar(API_KEY_ENV) if os.environ.get(API_KEY_ENV, "").strip() else ""
    return WattBuyResource(enabled=settings.flag_wattbuy, api_key=key, base_url=settings.wattbuy_base_url,
                           timeout_s=settings.wattbuy_timeout_s)


class AddressRequest(dg.Config):
    address_ref: str
    address: str
    city: str
    state: str = "tx"
    zip: str


class EsiidLookupConfig(dg.Config):
    requests: list[AddressRequest]


class RetailOffersConfig(dg.Config):
    zips: list[str] = []


def _fail_on(failed: list, what: str, metadata: dict) -> None:
    if failed:
        raise dg.Failure(description=f"{len(failed)} WattBuy {what} failed: " + "; ".join(failed)[:2000],
                         metadata=metadata)


@dg.op(name="esiid_looked_up", description="WattBuy /electricity/info (then /electricity/info/esi) per address "
                                           "into esiid_lookup.")
@redacted_errors
def esiid_looked_up(context: dg.OpExecutionContext, config: EsiidLookupConfig, wattbuy: WattBuyResource,
                    warehouse: WarehouseResource, raw_store: RawStoreResource) -> dg.Output:
    requests = [ingest.LookupRequest(address_ref=r.address_ref, address=r.address, city=r.city, state=r.state,
                                     zip=r.zip) for r in config.requests]
    # account_salt, not log_salt: the hash is stored and compared across runs, so it takes the stable
    # secret salt of stored identity hashes; log_salt only names things in log lines.
    with wattbuy.client() as client:
        results = ingest.lookup_esiids(warehouse.engine(), raw_store.store(), client, requests,
                                       current("account_salt"))
    # Only references, outcomes and masked ESIIDs: never an address.
    outcomes = {r.address_ref: {"outcome": r.outcome, "esiids": list(r.esiids_masked), "tdsp": r.tdsp_code}
                for r in results}
    metadata = {"lookups": len(results), "results": dg.MetadataValue.json(outcomes)}
    _fail_on([f"{r.address_ref}: {r.error}" for r in results if r.outcome == "failed"], "lookups", metadata)
    return dg.Output(len(results), metadata=metadata)


@dg.job(name=ESIID_LOOKUP_JOB, tags={"intelliwatt/kind": "wattbuy"},
        description="Address -> ESIID through WattBuy into esiid_lookup (address kept only as a salted hash). "
                    "The run config holds the addresses, which are PII and stay in Dagster's run storage: "
                    "prefer the CLI/API once they exist. Needs INTELLIWATT_FLAG_WATTBUY=true.")
def esiid_lookup_job():
    esiid_looked_up()


@dg.asset(key=RETAIL_OFFERS, group_name=GROUP, kinds={"wattbuy"},
          description="WattBuy /offers per ZIP (config `zips`; none given: every ZIP already in retail_offer or "
                      "esiid_lookup) normalized into retail_offer. Needs INTELLIWATT_FLAG_WATTBUY=true.")
@redacted_errors
def retail_offers_asset(context: dg.AssetExecutionContext, config: RetailOffersConfig, wattbuy: WattBuyResource,
                        warehouse: WarehouseResource, raw_store: RawStoreResource) -> dg.MaterializeResult:
    engine = warehouse.engine()
    zips = list(config.zips) or ingest.known_zips(engine)
    if not zips:
        return dg.MaterializeResult(metadata={"zips": 0, "skipped": "no ZIP configured or known"})
    with wattbuy.client() as client:
        counts = ingest.refresh_offers(engine, raw_store.store(), client, zips)
    metadata = {k: v if isinstance(v, int) else dg.MetadataValue.json(v) for k, v in counts.items()}
    _fail_on([f"{f['zip']}: {f['error']}" for f in counts["failed"]], "offer calls", metadata)
    return dg.MaterializeResult(metadata=metadata)


RETAIL_OFFERS_ASSET_JOB = dg.define_asset_job(RETAIL_OFFERS_JOB, selection=[RETAIL_OFFERS],
                                              tags={"intelliwatt/kind": "wattbuy"},
                                              description="Materialize retail_offers (WattBuy /offers per ZIP).")


def build_wattbuy_schedule(settings: Settings) -> dg.ScheduleDefinition:
    """Nightly 02:30 Central: the offers of every ZIP already known (a schedule has no config)."""
    enabled = settings.flag_wattbuy

    @dg.schedule(name=SCHEDULE, cron_schedule="30 2 * * *", job_name=RETAIL_OFFERS_JOB,
                 execution_timezone=CENTRAL_TZ,
                 description="Nightly 02:30 Central: WattBuy offers for every ZIP in retail_offer or esiid_lookup. "
                             f"Needs {FLAG_ENV}=true.",
                 default_status=dg.DefaultScheduleStatus.RUNNING if enabled else dg.DefaultScheduleStatus.STOPPED,
                 tags={"intelliwatt/schedule": SCHEDULE})
    @redacted_errors
    def wattbuy_nightly_schedule(context: dg.ScheduleEvaluationContext, warehouse: WarehouseResource):
        if not enabled:
            return dg.SkipReason(f"{SCHEDULE} disabled by {FLAG_ENV}")
        zips = ingest.known_zips(warehouse.engine())
        if not zips:
            return dg.SkipReason("no ZIP known yet (none in retail_offer or esiid_lookup): run esiid_lookup_job "
                                 "or materialize retail_offers with config zips first")
        at = context.scheduled_execution_time or dt.datetime.now(dt.timezone.utc)
        return dg.RunRequest(run_key=f"{SCHEDULE}:{at.isoformat()}", run_config={
            "ops": {"retail_offers": {"config": {"zips": zips}}}})

    return wattbuy_nightly_schedule


def build_wattbuy_defs(settings: Settings) -> dict:
    """The WattBuy definitions for ``defs/definitions.py``."""
    return {"assets": [retail_offers_asset], "jobs": [esiid_lookup_job, RETAIL_OFFERS_ASSET_JOB],
            "schedules": [build_wattbuy_schedule(settings)], "sensors": [], "asset_checks": [],
            "resources": {"wattbuy": wattbuy_resource(settings)}}
