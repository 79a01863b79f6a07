"""``intelliwatt``: headless ingest, backfills, migrations and the sample seed.

Runs go through the same Dagster definitions, in-process, and are recorded in the Dagster instance
under ``DAGSTER_HOME`` (default ``$INTELLIWATT_HOME/dagster_home``).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import os
import sys
import time
from pathlib import Path

import sqlalchemy as sa

from intelliwatt_pipelines.config import Settings, SettingsError
from intelliwatt_pipelines.pii import install_redaction, redact


def _instance(settings: Settings):
    import dagster as dg

    if not os.environ.get("DAGSTER_HOME"):
        home = settings.home / "dagster_home"
        home.mkdir(parents=True, exist_ok=True)
        if not (home / "dagster.yaml").exists():
            (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
        os.environ["DAGSTER_HOME"] = str(home)
    return dg.DagsterInstance.get()


def _at_rest(settings: Settings, engine, inbox) -> tuple[list, list]:
    """(new entries at rest, entries still being written when the wait ran out).

    A file copied in a moment ago may still be growing: it is taken once its mtime is
    INTELLIWATT_INBOX_MIN_AGE_SECONDS old (a rewrite is a new entry and starts the wait again).
    """
    from intelliwatt_pipelines.defs.assets import INBOX_SOURCE
    from intelliwatt_pipelines.ingest.inbox import new_entries

    began, told = time.monotonic(), False
    while True:
        todo = new_entries(engine, INBOX_SOURCE, inbox.list_entries())
        cutoff = time.time() - settings.inbox_min_age_seconds
        young = [e for e in todo if e.mtime_ns / 1e9 > cutoff]
        if not young or time.monotonic() - began >= settings.ingest_wait_seconds:
            return [e for e in todo if e not in young], young
        if not told:
            print(f"waiting for {len(young)} file(s) to be at rest "
                  f"(unchanged for {settings.inbox_min_age_seconds:g}s)...", flush=True)
            told = True
        time.sleep(min(0.5, settings.inbox_min_age_seconds))


def _entry_row(conn, entry):
    from intelliwatt_pipelines.cdm.tables import inbox_entry, raw_file
    from intelliwatt_pipelines.defs.assets import INBOX_SOURCE

    e, r = inbox_entry.c, raw_file.c
    return conn.execute(sa.select(r.filename, r.status, r.rows_valid, r.rows_invalid, r.error)
                        .join(inbox_entry, e.raw_file_id == r.id)
                        .where(e.source == INBOX_SOURCE, e.path == entry.path, e.size_bytes == entry.size_bytes,
                               e.mtime_ns == entry.mtime_ns)).first()


def cmd_ingest(settings: Settings, args) -> int:
    from intelliwatt_pipelines.defs.assets import INBOX_SOURCE, SKIPPED_REASON, ingest_run_config
    from intelliwatt_pipelines.defs.definitions import INGEST_JOB, build_defs
    from intelliwatt_pipelines.defs.resources import WarehouseResource
    from intelliwatt_pipelines.ingest.inbox import claim_holder
    from intelliwatt_pipelines.transport import LocalInbox

    if args.inbox:
        settings = dataclasses.replace(settings, inbox_dir=Path(args.inbox).resolve())
    engine = WarehouseResource(url=settings.warehouse_url).engine()
    todo, left = _at_rest(settings, engine, LocalInbox(settings.inbox_dir))
    print(f"inbox {settings.inbox_dir}: {len(todo)} new file(s)"
          + (f"; {len(left)} still changing after {settings.ingest_wait_seconds:g}s, left" if left else ""))
    ok, rows, began = not left, 0, time.monotonic()
    if todo:
        job, instance = build_defs(settings).resolve_job_def(INGEST_JOB), _instance(settings)
    for i in range(0, len(todo), settings.inbox_batch_files):
        batch = todo[i:i + settings.inbox_batch_files]
        result = job.execute_in_process(run_config=_quiet(ingest_run_config(batch)), instance=instance,
                                        raise_on_error=False)
        ok &= result.success
        with engine.connect() as conn:
            for entry in batch:
                row = _entry_row(conn, entry)
                if row is None and claim_holder(conn, INBOX_SOURCE, entry):  # another process is on it
                    print(redact(f"  {Path(entry.path).name}: {SKIPPED_REASON}"))
                    continue
                ok &= row is not None and row.status == "normalized"
                rows += (row.rows_valid or 0) if row else 0
                print(redact(f"  {Path(entry.path).name}: not taken" if row is None else
                             f"  {row.filename}: {row.status}, {row.rows_valid or 0} rows, {row.rows_invalid or 0} "
                             f"invalid" + (f" - {row.error}" if row.error else "")))
        print(f"run {result.run_id}: {'success' if result.success else 'FAILURE'}; "
              f"{i + len(batch)}/{len(todo)} files, {rows:,} rows, {time.monotonic() - began:.1f}s", flush=True)
    return 0 if ok else 1


def _quiet(run_config: dict) -> dict:
    """Dagster's console logger at INFO: its per-event DEBUG lines would drown the summary."""
    return {**run_config, "loggers": {"console": {"config": {"log_level": "INFO"}}}}


def cmd_reprocess(settings: Settings, args) -> int:
    """Process stored raw files again from their bytes (after fixing a key, passphrase or setting)."""
    from intelliwatt_pipelines.cdm.tables import raw_file
    from intelliwatt_pipelines.defs.definitions import INGEST_JOB, build_defs
    from intelliwatt_pipelines.defs.resources import WarehouseResource

    job = build_defs(settings).resolve_job_def(INGEST_JOB)
    config = {"ops": {"raw_files": {"config": {"raw_file_ids": args.raw_file_ids}}}}
    result = job.execute_in_process(run_config=config, instance=_instance(settings), raise_on_error=False)
    print(f"run {result.run_id}: {'success' if result.success else 'FAILURE'}")
    r = raw_file.c
    with WarehouseResource(url=settings.warehouse_url).engine().connect() as conn:
        rows = conn.execute(sa.select(r.id, r.filename, r.status, r.error).where(r.id.in_(args.raw_file_ids))).all()
    for row in rows:
        print(redact(f"  raw_file {row.id} ({row.filename}): {row.status}" + (f" - {row.error}" if row.error else "")))
    ok = result.success and len(rows) == len(set(args.raw_file_ids)) and all(x.status == "normalized" for x in rows)
    return 0 if ok else 1


def cmd_backfill(settings: Settings, args) -> int:
    """Rebuild days from raw: some homes' days as one run of rebuild_homes_job, or (no --esiid) the
    days of every home, in runs of INTELLIWATT_BACKFILL_DAYS_PER_RUN days."""
    from intelliwatt_pipelines.esiid import ESIID_RE

    bad = [e for e in args.esiid if not ESIID_RE.match(e)]
    if bad:
        print(f"--esiid must be 17 or 22 ASCII digits; {len(bad)} value(s) are not", file=sys.stderr)
        return 2
    if args.start > args.end:
        print(f"--start {args.start} is after --end {args.end}", file=sys.stderr)
        return 2
    from intelliwatt_pipelines.defs.partitions import partition_start

    first, today = dt.date.fromisoformat(partition_start(settings)), _central_today()
    if args.start < first or args.end > today:
        print(f"--start and --end must be within the partitions, {first} (INTELLIWATT_PARTITION_START) "
              f"to {today}", file=sys.stderr)
        return 2
    if args.esiid:
        return _rebuild_homes(settings, args)
    return _rebuild_days(settings, args.start, args.end)


def _central_today() -> dt.date:
    from zoneinfo import ZoneInfo

    from intelliwatt_pipelines.config import CENTRAL_TZ

    return dt.datetime.now(ZoneInfo(CENTRAL_TZ)).date()


def _rebuild_homes(settings: Settings, args) -> int:
    from intelliwatt_pipelines.defs.definitions import REBUILD_HOMES_JOB, build_defs
    from intelliwatt_pipelines.defs.rebuild import home_tags

    config = {"ops": {"rebuilt_homes": {"config": {"esiids": args.esiid, "start": str(args.start),
                                                     "end": str(args.end)}}}}
    result = build_defs(settings).resolve_job_def(REBUILD_HOMES_JOB).execute_in_process(
        run_config=_quiet(config), instance=_instance(settings), tags=home_tags(args.esiid), raise_on_error=False)
    print(f"run {result.run_id}: {'success' if result.success else 'FAILURE'}; {len(set(args.esiid))} home(s), "
          f"{args.start}..{args.end}")
    return 0 if result.success else 1


def _rebuild_days(settings: Settings, start: dt.date, end: dt.date) -> int:
    from intelliwatt_pipelines.defs.definitions import BILLING_REBUILD_JOB, REBUILD_JOB, build_defs

    defs, instance, ok = build_defs(settings), _instance(settings), True
    step = dt.timedelta(days=settings.backfill_days_per_run)
    first = start
    while first <= end:
        last = min(end, first + step - dt.timedelta(days=1))
        tags = {"dagster/asset_partition_range_start": str(first), "dagster/asset_partition_range_end": str(last)}
        for name in (REBUILD_JOB, BILLING_REBUILD_JOB):
            result = defs.resolve_job_def(name).execute_in_process(
                run_config=_quiet({}), instance=instance, tags=tags, raise_on_error=False)
            ok &= result.success
            print(f"run {result.run_id} ({name}, every home, {first}..{last}): "
                  f"{'success' if result.success else 'FAILURE'}", flush=True)
        first = last + dt.timedelta(days=1)
    return 0 if ok else 1


def cmd_migrate(settings: Settings, _args) -> int:
    from intelliwatt_pipelines.cdm.warehouse import create_engine, migrate
    from intelliwatt_pipelines.defs.partitions import drop_legacy_partitions

    migrate(create_engine(settings.warehouse_url))
    print("warehouse schema is at the newest migration")
    if dropped := drop_legacy_partitions(_instance(settings)):
        print(f"Dagster instance: deleted {dropped} per-ESIID partition(s) of the old ESIID x day layout")
    return 0


def cmd_seed(settings: Settings, args) -> int:
    from intelliwatt_pipelines.samples import seed_inbox

    written = seed_inbox(Path(args.inbox) if args.inbox else settings.inbox_dir)
    print(f"seeded {len(written)} sample file(s)")
    return 0


def cmd_api(settings: Settings, args) -> int:
    """Serve the read API and upload relay with uvicorn (migrating the warehouse first)."""
    import gc
    import logging

    import uvicorn

    from intelliwatt_pipelines.api import create_app
    from intelliwatt_pipelines.cdm.warehouse import create_engine, migrate

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    install_redaction()  # on the handler just made, which uvicorn's loggers propagate to
    migrate(create_engine(settings.warehouse_url))
    # Long-lived objects (modules, app, settings) leave the garbage collector's scans, and young
    # collections run less often: a month's arrays otherwise trigger full collections mid-request.
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
    # Uvicorn's access log prints raw paths, which hold ESIIDs: the app logs each request itself.
    uvicorn.run(create_app(settings), host=args.host or settings.api_host, port=args.port or settings.api_port,
                access_log=False, log_config=None, workers=1)
    return 0


def cmd_redact_log(_settings: Settings, _args) -> int:
    """Copy stdin to stdout line by line with every ESIID-like number hashed. Dagster's own processes
    log partition keys (``date|esiid``); their output goes through this before it reaches a log."""
    out = sys.stdout.buffer
    for line in sys.stdin.buffer:
        out.write(redact(line.decode("utf-8", "surrogateescape")).encode("utf-8", "surrogateescape"))
        out.flush()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="intelliwatt", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("ingest", help="take every new file in the inbox through the ingest job, in-process "
                                      "(waits for files still being written)")
    p.add_argument("--inbox", help="inbox folder (default INTELLIWATT_INBOX_DIR)")
    p.set_defaults(func=cmd_ingest)
    p = sub.add_parser("backfill", help="rebuild local days from the stored raw files: some homes "
                                        "(--esiid, repeatable) in one run, or every home")
    p.add_argument("--esiid", action="append", default=[], help="a home to rebuild (repeat for several)")
    p.add_argument("--start", required=True, type=dt.date.fromisoformat, help="first local day, YYYY-MM-DD")
    p.add_argument("--end", required=True, type=dt.date.fromisoformat, help="last local day, YYYY-MM-DD")
    p.set_defaults(func=cmd_backfill)
    p = sub.add_parser("reprocess", help="process stored raw files again from their bytes (e.g. quarantined ones)")
    p.add_argument("raw_file_ids", nargs="+", type=int, metavar="RAW_FILE_ID")
    p.set_defaults(func=cmd_reprocess)
    sub.add_parser("migrate", help="bring the warehouse schema to the newest migration").set_defaults(func=cmd_migrate)
    p = sub.add_parser("seed", help="write the generated sample files into the inbox")
    p.add_argument("--inbox")
    p.set_defaults(func=cmd_seed)
    p = sub.add_parser("api", help="serve the read API and upload relay (uvicorn)")
    p.add_argument("--host", help="bind address (default INTELLIWATT_API_HOST, 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default INTELLIWATT_API_PORT, 8000)")
    p.set_defaults(func=cmd_api)
    sub.add_parser("redact-log", help="copy stdin to stdout with ESIIDs hashed (for process logs)").set_defaults(
        func=cmd_redact_log)
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
    except SettingsError as error:  # a typo'd setting: say which, no traceback
        print(error, file=sys.stderr)
        return 2
    install_redaction()  # whatever a command logs (library warnings included) is redacted
    return args.func(settings, args)


if __name__ == "__main__":
    sys.exit(main())
