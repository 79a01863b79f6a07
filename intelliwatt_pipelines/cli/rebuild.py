"""``intelliwatt backfill``: rebuild days from the stored raw files, some homes' days as one run of
rebuild_homes_job, or (no --esiid) every home's days in runs of INTELLIWATT_BACKFILL_DAYS_PER_RUN days."""

from __future__ import annotations

import datetime as dt

from intelliwatt_pipelines.cli.report import Report, UsageError
from intelliwatt_pipelines.cli.runs import dagster_logs, days_of, instance, materializations, meta_int
from intelliwatt_pipelines.config import Settings
from intelliwatt_pipelines.pii import mask


def cmd_backfill(settings: Settings, args) -> int:
    """Rebuild days from raw: some homes' days as one run of rebuild_homes_job, or (no --esiid) the
    days of every home, in runs of INTELLIWATT_BACKFILL_DAYS_PER_RUN days."""
    from intelliwatt_pipelines.defs.partitions import partition_start
    from intelliwatt_pipelines.defs.rebuild import MAX_DAYS
    from intelliwatt_pipelines.defs.resources import WarehouseResource

    start, end, esiids = args.start, args.end, sorted(set(args.esiid))  # ESIIDs checked by esiid_arg
    if start > end:
        raise UsageError(f"--start {start} is after --end {end}: give the first day, then the last")
    first, today = dt.date.fromisoformat(partition_start(settings)), central_today()
    if start < first or end > today:
        raise UsageError(f"--start and --end must be within the day partitions, {first} (INTELLIWATT_PARTITION_START, "
                         f"or the first month with data) to {today} (today, {local_clock()}); got {start}..{end}")
    if esiids and (end - start).days >= MAX_DAYS:
        raise UsageError(f"{(end - start).days + 1} days asked with --esiid; rebuild at most {MAX_DAYS} days "
                         "per run (split the range, or leave out --esiid to rebuild every home's days)")
    report = Report("backfill", args.json)
    engine = WarehouseResource(url=settings.warehouse_url).engine()
    if esiids:
        return rebuild_some_homes(settings, args, report, engine, esiids)
    return rebuild_every_home(settings, args, report, engine)


def local_clock() -> str:
    """How the messages name the clock days are counted on: Central in Texas, local in 1PWR's markets."""
    from intelliwatt_pipelines import markets

    return "Central" if markets.active().key == markets.DEFAULT_MARKET else "local time"


def central_today() -> dt.date:
    from zoneinfo import ZoneInfo

    from intelliwatt_pipelines import markets

    return dt.datetime.now(ZoneInfo(markets.local_tz())).date()


def rebuild_some_homes(settings: Settings, args, report: Report, engine, esiids: list[str]) -> int:
    from intelliwatt_pipelines.cdm.written import coverage_on
    from intelliwatt_pipelines.defs.definitions import REBUILD_HOMES_JOB, build_defs
    from intelliwatt_pipelines.defs.keys import USAGE_INTERVALS
    from intelliwatt_pipelines.defs.rebuild import home_tags

    start, end = args.start, args.end
    held = {row.esiid for rows in coverage_on(engine, start, end, esiids) for row in rows}
    if missing := [e for e in esiids if e not in held]:  # a typo'd home: a run would rebuild nothing
        raise UsageError(f"no stored raw data for {len(missing)} of {len(esiids)} home(s) on {start}..{end} ("
                         + ", ".join(mask(e) for e in missing[:10]) + "): nothing to rebuild; check the ESIIDs "
                         "and the days, or ingest the homes' files first")
    config = {"ops": {"rebuilt_homes": {"config": {"esiids": esiids, "start": str(start), "end": str(end)}}}}
    result = build_defs(settings).resolve_job_def(REBUILD_HOMES_JOB).execute_in_process(
        run_config=dagster_logs(config, args.verbose), instance=instance(settings), tags=home_tags(esiids),
        raise_on_error=False)
    report.run(result, REBUILD_HOMES_JOB, first_day=str(start), last_day=str(end), homes=len(esiids))
    report.say(f"run {result.run_id} ({REBUILD_HOMES_JOB}, {len(esiids)} home(s), {start}..{end}): "
               f"{'success' if result.success else 'FAILURE'}")
    days = days_of(result)
    intervals = sum(meta_int(m, "intervals") for m in materializations(result, USAGE_INTERVALS))
    report.counts = {"homes": len(esiids), "days": len(days), "intervals": intervals}
    return report.finish(result.success, f"{len(esiids)} home(s) (" + ", ".join(mask(e) for e in esiids[:5])
                         + (", ..." if len(esiids) > 5 else "") + f"), {len(days)} day(s) with data in "
                         f"{start}..{end}, {intervals:,} intervals")


def covered_runs(coverage, first: dt.date, last: dt.date, most: int) -> list[tuple[dt.date, dt.date]]:
    """Day ranges of at most ``most`` consecutive days in [first, last] that some raw file covers: a
    day-range run materializes every day of its range, so days no file covers are left out."""
    days = sorted({max(a, first) + dt.timedelta(days=i) for _, a, b in coverage
                   for i in range((min(b, last) - max(a, first)).days + 1)})
    runs: list[tuple[dt.date, dt.date]] = []
    for day in days:
        if runs and day == runs[-1][1] + dt.timedelta(days=1) and (day - runs[-1][0]).days < most:
            runs[-1] = (runs[-1][0], day)
        else:
            runs.append((day, day))
    return runs


def rebuild_every_home(settings: Settings, args, report: Report, engine) -> int:
    from intelliwatt_pipelines.cdm.written import coverage_on
    from intelliwatt_pipelines.defs.definitions import BILLING_REBUILD_JOB, REBUILD_JOB, build_defs
    from intelliwatt_pipelines.defs.keys import USAGE_INTERVALS

    start, end = args.start, args.end
    usage, billing = coverage_on(engine, start, end)
    if not usage and not billing:
        raise UsageError(f"no stored raw data for any home on {start}..{end}: nothing to rebuild")
    homes = len({row.esiid for row in usage} | {row.esiid for row in billing})
    defs, runs_in, days, rows = build_defs(settings), instance(settings), set(), 0
    # the intervals first, then the reads (reconciled against them); runs of at most days_per_run days
    for name, coverage in ((REBUILD_JOB, usage), (BILLING_REBUILD_JOB, billing)):
        for first, last in covered_runs(coverage, start, end, settings.backfill_days_per_run):
            tags = {"dagster/asset_partition_range_start": str(first), "dagster/asset_partition_range_end": str(last)}
            result = defs.resolve_job_def(name).execute_in_process(
                run_config=dagster_logs({}, args.verbose), instance=runs_in, tags=tags, raise_on_error=False)
            report.run(result, name, first_day=str(first), last_day=str(last))
            report.say(f"run {result.run_id} ({name}, every home, {first}..{last}): "
                       f"{'success' if result.success else 'FAILURE'}")
            days |= days_of(result)
            rows += next((meta_int(m, "rows_written") for m in materializations(result, USAGE_INTERVALS)), 0)
    report.counts = {"homes": homes, "days": len(days), "rows": rows}
    ok = all(r["status"] == "SUCCESS" for r in report.runs)
    return report.finish(ok, f"{homes} home(s) (every home with raw data), {len(days)} day(s) with data in "
                             f"{start}..{end}, {rows:,} interval rows written")
