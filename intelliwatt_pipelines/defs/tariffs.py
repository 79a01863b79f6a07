"""TDU delivery tariffs in Dagster (vendor-apis.md §2.7): the asset ``tdsp_tariffs`` (the curated feed ->
``tdsp_tariff_version``/``tdsp_tariff_component``, append-only and idempotent), its two checks, and the
daily ``tdsp_tariff_schedule``. No vendor is called (the feed is a file), so nothing is behind a flag and
the schedule starts RUNNING.
"""

import datetime as dt
from importlib import resources
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg

from intelliwatt_pipelines.bounds import CENTRAL_TZ
from intelliwatt_pipelines.cdm import tariffs
from intelliwatt_pipelines.config import Settings
from intelliwatt_pipelines.defs.logs import redacted_errors
from intelliwatt_pipelines.defs.resources import WarehouseResource
from intelliwatt_pipelines.sources.tdsp_tariffs import TariffVersion, parse_feed

TDSP_TARIFFS = dg.AssetKey("tdsp_tariffs")
TDSP_TARIFFS_JOB = "tdsp_tariffs_job"
SCHEDULE = "tdsp_tariff_schedule"
GROUP = "reference"
CURATED = "data/tdsp_tariffs.json"


class TariffFeedConfig(dg.Config):
    path: str = ""  # a JSON feed file (curated or the replaced system's flat shape); empty: the packaged feed


def curated_bytes() -> bytes:
    """The checked-in curated feed (package data)."""
    return resources.files("intelliwatt_pipelines").joinpath(CURATED).read_bytes()


def feed_versions(path: str = "") -> tuple[list[TariffVersion], str]:
    """The feed's versions and where it was read."""
    if not path:
        return parse_feed(curated_bytes()), f"package:intelliwatt_pipelines/{CURATED}"
    return parse_feed(Path(path).read_bytes(), source_url=None), path


def chicago_today() -> dt.date:
    return dt.datetime.now(ZoneInfo(CENTRAL_TZ)).date()


@dg.asset(key=TDSP_TARIFFS, group_name=GROUP, kinds={"json"},
          description="TDU delivery tariffs per TDSP from the curated feed (package data "
                      "intelliwatt_pipelines/data/tdsp_tariffs.json, or config `path`) into tdsp_tariff_version "
                      "and tdsp_tariff_component: append-only, a version already stored is a no-op, a later one "
                      "closes the open one. No vendor call.")
@redacted_errors
def tdsp_tariffs_asset(context: dg.AssetExecutionContext, config: TariffFeedConfig,
                       warehouse: WarehouseResource) -> dg.MaterializeResult:
    versions, origin = feed_versions(config.path)
    now = dt.datetime.now(dt.timezone.utc)
    new = []
    with warehouse.engine().begin() as conn:  # one transaction: a feed is recorded whole or not at all
        for version in versions:
            version_id, created = tariffs.add_version(conn, version, now)
            if created:
                new.append(f"{version.tdsp_code} {version.effective_start} (id {version_id})")
    context.log.info(f"tdsp_tariffs: {len(versions)} versions read from {origin}, {len(new)} new")
    return dg.MaterializeResult(metadata={"feed": origin, "versions": len(versions), "new": len(new),
                                          "already_stored": len(versions) - len(new),
                                          "new_versions": dg.MetadataValue.json(new),
                                          "tdsps": dg.MetadataValue.json(sorted({v.tdsp_code for v in versions}))})


@dg.asset_check(asset=TDSP_TARIFFS, blocking=False,
                description="No two versions of a TDSP overlap: each version's [effective_start, effective_end) "
                            "ends where the next starts (restatements of one start excepted).")
@redacted_errors
def tdsp_tariffs_never_overlap(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    with warehouse.engine().connect() as conn:
        found = tariffs.overlaps(conn)
    return dg.AssetCheckResult(passed=not found, severity=dg.AssetCheckSeverity.ERROR,
                               metadata={"overlaps": len(found),
                                         "pairs": dg.MetadataValue.json([{k: str(v) for k, v in p.items()}
                                                                         for p in found[:50]])})


@dg.asset_check(asset=TDSP_TARIFFS, blocking=False,
                description="Every TDSP of the curated feed (and every TDSP with a stored version) has a version "
                            "covering today (America/Chicago).")
@redacted_errors
def tdsp_tariffs_cover_today(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    today = chicago_today()
    with warehouse.engine().connect() as conn:
        codes = {v.tdsp_code for v in parse_feed(curated_bytes())} | set(tariffs.tdsps_with_versions(conn))
        missing = tariffs.uncovered(conn, codes, today)
    return dg.AssetCheckResult(passed=not missing, severity=dg.AssetCheckSeverity.WARN,
                               metadata={"today": str(today), "tdsps": len(codes),
                                         "uncovered": dg.MetadataValue.json(missing)})


TDSP_TARIFFS_ASSET_JOB = dg.define_asset_job(TDSP_TARIFFS_JOB, selection=[TDSP_TARIFFS],
                                             tags={"intelliwatt/kind": "tariffs"},
                                             description="Materialize tdsp_tariffs (the curated feed) and its checks.")


def build_tariff_schedule(settings: Settings) -> dg.ScheduleDefinition:
    """Daily 09:15 Central. Always RUNNING: it reads a checked-in file and calls no vendor, so no flag gates it
    (``settings`` is taken for the uniform builder signature)."""
    return dg.ScheduleDefinition(
        name=SCHEDULE, cron_schedule="15 9 * * *", job_name=TDSP_TARIFFS_JOB, execution_timezone=CENTRAL_TZ,
        description="Daily 09:15 Central: load the curated TDU tariff feed into tdsp_tariff_version (new versions "
                    "only). Calls no vendor, so no feature flag: on by default.",
        default_status=dg.DefaultScheduleStatus.RUNNING, tags={"intelliwatt/schedule": SCHEDULE})


def build_tariff_defs(settings: Settings) -> dict:
    """The tariff definitions for ``defs/definitions.py`` (the ``warehouse`` resource comes from there)."""
    return {"assets": [tdsp_tariffs_asset], "jobs": [TDSP_TARIFFS_ASSET_JOB],
            "schedules": [build_tariff_schedule(settings)], "sensors": [],
            "asset_checks": [tdsp_tariffs_never_overlap, tdsp_tariffs_cover_today], "resources": {}}
