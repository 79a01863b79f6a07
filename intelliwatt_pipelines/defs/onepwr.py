"""1PWR's SparkMeter meters in Dagster (vendor-apis.md §3.1 2-4): the ``koios`` and ``thundercloud``
resources, ``koios_history_job`` (Koios v2 historical pages per site) and its daily schedule,
``thundercloud_snapshot_job`` (the on-site customers snapshot and history files) and its 15-minute schedule.
Behind INTELLIWATT_FLAG_KOIOS and INTELLIWATT_FLAG_THUNDERCLOUD (off by default; a schedule is stopped, and
its ticks request nothing, while its flag is off); the work, raw first, is in ``ingest.onepwr_pull``."""

import datetime as dt
import os

import dagster as dg
import httpx

from intelliwatt_pipelines.cdm.request_counts import add_requests, used_on
from intelliwatt_pipelines.config import Settings
from intelliwatt_pipelines.defs.logs import redacted_errors
from intelliwatt_pipelines.defs.resources import IngestRulesResource, RawStoreResource, WarehouseResource
from intelliwatt_pipelines.ingest import onepwr_pull as pull
from intelliwatt_pipelines.pii import redact
from intelliwatt_pipelines.vendors.koios.client import Budget, KoiosClient
from intelliwatt_pipelines.vendors.thundercloud.client import ThunderCloudClient

KOIOS_JOB = "koios_history_job"
KOIOS_SCHEDULE = "koios_history_schedule"
THUNDERCLOUD_JOB = "thundercloud_snapshot_job"
THUNDERCLOUD_SCHEDULE = "thundercloud_snapshot_schedule"
KOIOS_FLAG, THUNDERCLOUD_FLAG = "INTELLIWATT_FLAG_KOIOS", "INTELLIWATT_FLAG_THUNDERCLOUD"
KOIOS_KEY_ENV, KOIOS_SECRET_ENV = "INTELLIWATT_KOIOS_API_KEY", "INTELLIWATT_KOIOS_API_SECRET"
THUNDERCLOUD_TOKEN_ENV = "INTELLIWATT_THUNDERCLOUD_TOKEN"


def _env_secret(name: str):
    """A secret as an EnvVar when set (never a literal the UI could show); empty when unset."""
    return dg.EnvVar(name) if os.environ.get(name, "").strip() else ""


class KoiosResource(dg.ConfigurableResource):
    """SparkMeter Koios v2 (``INTELLIWATT_KOIOS_*``); key and secret only ever ``EnvVar``s. With the flag
    off (the default) every use fails, naming the flag."""

    enabled: bool = False
    base_url: str = "https://www.sparkmeter.cloud"
    api_key: str = ""
    api_secret: str = ""
    org_id: str = ""
    site_ids: list[str] = []
    daily_budget: int = 30_000
    timeout_s: float = 30.0

    def sites(self) -> list[tuple[str, str]]:
        try:
            return pull.org_sites(self.org_id, self.site_ids)
        except ValueError as exc:
            raise dg.Failure(str(exc)) from None

    def client(self, transport: httpx.BaseTransport | None = None) -> KoiosClient:
        if not self.enabled:
            raise dg.Failure(f"Koios disabled by {KOIOS_FLAG} (set it to true)")
        if not (self.api_key and self.api_secret):
            raise dg.Failure(f"Koios needs {KOIOS_KEY_ENV} and {KOIOS_SECRET_ENV}")
        # Koios' limit is per organization per UTC day: the op loads what earlier runs used (cdm.request_counts).
        return KoiosClient(self.api_key, self.api_secret, base_url=self.base_url.rstrip("/") + "/api/v2",
                           timeout_s=self.timeout_s, transport=transport, budget=Budget(per_day=self.daily_budget))


class ThunderCloudResource(dg.ConfigurableResource):
    """An on-site SparkMeter ThunderCloud (``INTELLIWATT_THUNDERCLOUD_*``); the token only ever an ``EnvVar``."""

    enabled: bool = False
    base_url: str = ""
    token: str = ""
    timeout_s: float = 60.0

    def client(self, http: httpx.Client | None = None) -> ThunderCloudClient:
        if not self.enabled:
            raise dg.Failure(f"ThunderCloud disabled by {THUNDERCLOUD_FLAG} (set it to true)")
        if not (self.base_url and self.token):
            raise dg.Failure(f"ThunderCloud needs INTELLIWATT_THUNDERCLOUD_BASE_URL and {THUNDERCLOUD_TOKEN_ENV}")
        return ThunderCloudClient(self.base_url, self.token, http, timeout_s=self.timeout_s)


def onepwr_resources(settings: Settings) -> dict:
    """Both resources from the settings, secrets read from the environment by Dagster."""
    return {"koios": KoiosResource(
                enabled=settings.flag_koios, base_url=settings.koios_base_url, api_key=_env_secret(KOIOS_KEY_ENV),
                api_secret=_env_secret(KOIOS_SECRET_ENV), org_id=settings.koios_org_id,
                site_ids=list(settings.koios_site_ids), daily_budget=settings.koios_daily_budget,
                timeout_s=settings.koios_timeout_s),
            "thundercloud": ThunderCloudResource(
                enabled=settings.flag_thundercloud, base_url=settings.thundercloud_base_url,
                token=_env_secret(THUNDERCLOUD_TOKEN_ENV), timeout_s=settings.thundercloud_timeout_s)}


def _keeper(context, warehouse: WarehouseResource, raw_store: RawStoreResource, rules: IngestRulesResource,
            source: str) -> pull.Keeper:
    return pull.Keeper(warehouse.engine(), raw_store.store(), source, run_id=context.run_id,
                       max_invalid_fraction=rules.max_invalid_fraction, tolerance=rules.tolerance(),
                       precedence=rules.precedence(), window=rules.window(), refused=rules.refused())


def _stored_metadata(stored: pull.Stored) -> dict:
    return {"raw_files": len(set(stored.raw_file_ids)), "new_raw_files": stored.new_files,
            "normalized_files": stored.normalized, "rows_written": stored.rows_written,
            "raw_file_ids": ", ".join(map(str, sorted(set(stored.raw_file_ids))[:50])),
            "normalize_failures": len(stored.failures)}


class KoiosHistoryConfig(dg.Config):
    """First and last day (YYYY-MM-DD, UTC); empty: yesterday and today."""

    first: str = ""
    last: str = ""


@dg.op(name="koios_history_pulled", description="Koios v2 historical pages per configured site; every answer "
                                                "a raw file (source koios), the good ones normalized.")
@redacted_errors
def koios_history_pulled(context: dg.OpExecutionContext, config: KoiosHistoryConfig, koios: KoiosResource,
                         warehouse: WarehouseResource, raw_store: RawStoreResource,
                         rules: IngestRulesResource) -> dg.Output:
    try:
        first, last = pull.koios_window(config.first, config.last, dt.datetime.now(dt.timezone.utc).date())
    except ValueError as exc:
        raise dg.Failure(description=f"bad config: {exc}") from None
    client = koios.client()  # a flag that is off fails before anything else
    keeper = _keeper(context, warehouse, raw_store, rules, pull.KOIOS_SOURCE)
    engine = warehouse.engine()
    client.budget.used.update(used_on(engine, pull.KOIOS_SOURCE, dt.datetime.now(dt.timezone.utc).date()))
    before = dict(client.budget.used)
    try:
        sites = koios.sites()
        if not sites:
            raise dg.Failure(description="no Koios site configured: set INTELLIWATT_KOIOS_SITE_IDS")
        reports = pull.pull_koios(keeper, client, sites, first, last, log=context.log.info)
    finally:
        client.close()
        add_requests(engine, pull.KOIOS_SOURCE, {k: n - before.get(k, 0) for k, n in client.budget.used.items()})
    outcomes = {org: r.stopped for org, r in reports.items()}
    for org, stopped in outcomes.items():
        (context.log.info if stopped == "done" else context.log.warning)(f"Koios org {org}: {stopped}")
    metadata = {"first": first.isoformat(), "last": last.isoformat(),
                "outcomes": dg.MetadataValue.json(outcomes),
                "orgs": dg.MetadataValue.json({org: vars(r) for org, r in reports.items()}),
                **_stored_metadata(keeper.stored)}
    # A 429 or a spent budget is how Koios' day ends, not a failure; another error answer, or rows that
    # could not be stored, fail the run once every organization had its turn.
    errors = [f"{org} site {site}: {how}" for org, r in reports.items() for site, how in r.sites.items()
              if how.startswith("http_")] + keeper.stored.failures
    return _output(errors, "Koios", metadata)


def _output(errors: list[str], vendor: str, metadata: dict) -> dg.Output:
    """The op's output, or a failure naming the first problems (every answer is stored either way)."""
    if errors:
        raise dg.Failure(description=redact(f"{len(errors)} {vendor} problem(s); every answer is stored:\n"
                                            + "\n".join(errors[:10])), metadata=metadata)
    return dg.Output(None, metadata=metadata)


@dg.job(name=KOIOS_JOB, tags={"intelliwatt/kind": "koios", "intelliwatt/vendor-api": "koios"},
        description="Pull 1PWR's hourly kWh from SparkMeter Koios v2 per configured site and day range (default "
                    "yesterday..today UTC); every answer becomes a raw file (source koios) and its rows land as usual. "
                    f"A 429 stops that organization for the run (outcome rate_limited). Needs {KOIOS_FLAG}=true.")
def koios_history_job():
    koios_history_pulled()


class ThunderCloudConfig(dg.Config):
    """Whether to fetch the history files too, and how many not stored yet per run."""

    history: bool = True
    max_history_files: int = 10


@dg.op(name="thundercloud_snapshot_pulled", description="ThunderCloud customers snapshot and history files not "
                                                        "stored yet, normalized; every answer a raw file.")
@redacted_errors
def thundercloud_snapshot_pulled(context: dg.OpExecutionContext, config: ThunderCloudConfig,
                                 thundercloud: ThunderCloudResource, warehouse: WarehouseResource,
                                 raw_store: RawStoreResource, rules: IngestRulesResource) -> dg.Output:
    keeper = _keeper(context, warehouse, raw_store, rules, pull.THUNDERCLOUD_SOURCE)
    with thundercloud.client() as client:
        report = pull.pull_thundercloud(keeper, client, history=config.history,
                                        max_history_files=config.max_history_files)
    metadata = {"snapshot_raw_file_id": report.snapshot_raw_file_id, "history_listed": report.history_listed,
                "history_downloaded": len(report.history_downloaded),
                "history_files": ", ".join(report.history_downloaded[:50]), **_stored_metadata(keeper.stored)}
    errors = report.errors + keeper.stored.failures
    return _output(errors, "ThunderCloud", metadata)


@dg.job(name=THUNDERCLOUD_JOB, tags={"intelliwatt/kind": "thundercloud", "intelliwatt/vendor-api": "thundercloud"},
        description="Take the on-site ThunderCloud's customers snapshot (cumulative registers) and the history "
                    "files not stored yet (daily parquet), each answer a raw file (source thundercloud) whose rows "
                    "land as usual. "
                    f"Needs {THUNDERCLOUD_FLAG}=true.")
def thundercloud_snapshot_job():
    thundercloud_snapshot_pulled()


def build_thundercloud_schedule(settings: Settings) -> dg.ScheduleDefinition:
    """Every 15 minutes (ThunderCloud's registers are diffed snapshot to snapshot); stopped unless the flag is on,
    and a tick started by hand with the flag off requests nothing."""
    enabled = settings.flag_thundercloud

    @dg.schedule(name=THUNDERCLOUD_SCHEDULE, cron_schedule="*/15 * * * *", job=thundercloud_snapshot_job,
                 execution_timezone="UTC", tags={"intelliwatt/schedule": THUNDERCLOUD_SCHEDULE},
                 description=f"Every 15 minutes: thundercloud_snapshot_job. Needs {THUNDERCLOUD_FLAG}=true.",
                 default_status=dg.DefaultScheduleStatus.RUNNING if enabled else dg.DefaultScheduleStatus.STOPPED)
    def thundercloud_snapshot_schedule(context: dg.ScheduleEvaluationContext):
        if not enabled:
            return dg.SkipReason(f"{THUNDERCLOUD_SCHEDULE} disabled by {THUNDERCLOUD_FLAG}")
        at = context.scheduled_execution_time or dt.datetime.now(dt.timezone.utc)
        return dg.RunRequest(run_key=f"{THUNDERCLOUD_SCHEDULE}:{at.isoformat()}")

    return thundercloud_snapshot_schedule


def build_koios_schedule(settings: Settings) -> dg.ScheduleDefinition:
    """Daily at 06:00 UTC (Koios lags about a day): the tick's yesterday..today, named in the run config so a
    late or repeated tick asks the same days; stopped unless the flag is on, and with it off a tick started by
    hand requests nothing."""
    enabled = settings.flag_koios

    @dg.schedule(name=KOIOS_SCHEDULE, cron_schedule="0 6 * * *", job=koios_history_job, execution_timezone="UTC",
                 tags={"intelliwatt/schedule": KOIOS_SCHEDULE},
                 description=f"Daily at 06:00 UTC: koios_history_job for yesterday..today. Needs {KOIOS_FLAG}=true.",
                 default_status=dg.DefaultScheduleStatus.RUNNING if enabled else dg.DefaultScheduleStatus.STOPPED)
    def koios_history_schedule(context: dg.ScheduleEvaluationContext):
        if not enabled:
            return dg.SkipReason(f"{KOIOS_SCHEDULE} disabled by {KOIOS_FLAG}")
        at = context.scheduled_execution_time or dt.datetime.now(dt.timezone.utc)
        today = at.astimezone(dt.timezone.utc).date()
        days = {"first": (today - dt.timedelta(days=1)).isoformat(), "last": today.isoformat()}
        return dg.RunRequest(run_key=f"{KOIOS_SCHEDULE}:{today.isoformat()}",
                             run_config={"ops": {"koios_history_pulled": {"config": days}}})

    return koios_history_schedule


def build_onepwr_defs(settings: Settings) -> dict:
    """The 1PWR definitions for ``defs/definitions.py``."""
    return {"assets": [], "jobs": [koios_history_job, thundercloud_snapshot_job],
            "schedules": [build_koios_schedule(settings), build_thundercloud_schedule(settings)],
            "sensors": [], "asset_checks": [],
            "resources": onepwr_resources(settings)}
