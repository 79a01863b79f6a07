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

from intelliwatt_pipelines.config import Settings
from intelliwatt_pipelines.pii import redact


def _instance(settings: Settings):
    import dagster as dg

    if not os.environ.get("DAGSTER_HOME"):
        home = settings.home / "dagster_home"
        home.mkdir(parents=True, exist_ok=True)
        if not (home / "dagster.yaml").exists():
            (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
        os.environ["DAGSTER_HOME"] = str(home)
    return dg.DagsterInstance.get()


def cmd_ingest(settings: Settings, args) -> int:
    from intelliwatt_pipelines.cdm.tables import inbox_entry, raw_file
    from intelliwatt_pipelines.defs.assets import INBOX_SOURCE, ingest_run_config
    from intelliwatt_pipelines.defs.definitions import INGEST_JOB, build_defs
    from intelliwatt_pipelines.defs.resources import WarehouseResource
    from intelliwatt_pipelines.ingest.inbox import new_entries
    from intelliwatt_pipelines.transport import LocalInbox

    if args.inbox:
        settings = dataclasses.replace(settings, inbox_dir=Path(args.inbox).resolve())
    engine = WarehouseResource(url=settings.warehouse_url).engine()
    everything = LocalInbox(settings.inbox_dir).list_entries()
    cutoff = time.time() - settings.inbox_min_age_seconds  # files younger than this may still be written
    listing = [e for e in everything if e.mtime_ns / 1e9 <= cutoff]
    todo = new_entries(engine, INBOX_SOURCE, listing)
    young = len(everything) - len(listing)
    print(f"inbox {settings.inbox_dir}: {len(listing)} file(s), {len(todo)} new"
          + (f"; {young} younger than {settings.inbox_min_age_seconds:g}s left for the next run" if young else ""))
    if not todo:
        return 0
    job = build_defs(settings).resolve_job_def(INGEST_JOB)
    instance = _instance(settings)
    ok = True
    for i in range(0, len(todo), settings.inbox_batch_files):
        batch = todo[i:i + settings.inbox_batch_files]
        result = job.execute_in_process(run_config=ingest_run_config(batch), instance=instance, raise_on_error=False)
        ok &= result.success
        print(f"run {result.run_id}: {'success' if result.success else 'FAILURE'}")
    e, r = inbox_entry.c, raw_file.c
    with engine.connect() as conn:
        for entry in todo:
            row = conn.execute(sa.select(r.filename, r.status, r.rows_valid, r.rows_invalid, r.error)
                               .join(inbox_entry, e.raw_file_id == r.id)
                               .where(e.source == INBOX_SOURCE, e.path == entry.path,
                                      e.size_bytes == entry.size_bytes, e.mtime_ns == entry.mtime_ns)).first()
            if row is None:
                ok = False
                print(redact(f"  {Path(entry.path).name}: not taken"))
                continue
            ok &= row.status == "normalized"
            detail = f" - {row.error}" if row.error else ""
            print(redact(f"  {row.filename}: {row.status}, {row.rows_valid or 0} rows, "
                         f"{row.rows_invalid or 0} invalid{detail}"))
    return 0 if ok else 1


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
    """Rebuild one ESIID's days from raw, as a single run of the rebuild job."""
    from intelliwatt_pipelines.defs.definitions import REBUILD_JOB, build_defs
    from intelliwatt_pipelines.defs.partitions import esiid_day_key, esiid_partitions

    instance = _instance(settings)
    if not instance.has_dynamic_partition(esiid_partitions.name, args.esiid):
        instance.add_dynamic_partitions(esiid_partitions.name, [args.esiid])
    job = build_defs(settings).resolve_job_def(REBUILD_JOB)
    tags = {"dagster/asset_partition_range_start": esiid_day_key(args.esiid, args.start),
            "dagster/asset_partition_range_end": esiid_day_key(args.esiid, args.end)}
    result = job.execute_in_process(instance=instance, tags=tags, raise_on_error=False)
    print(f"run {result.run_id}: {'success' if result.success else 'FAILURE'}")
    return 0 if result.success else 1


def cmd_migrate(settings: Settings, _args) -> int:
    from intelliwatt_pipelines.cdm.warehouse import create_engine, migrate

    migrate(create_engine(settings.warehouse_url))
    print("warehouse schema is at the newest migration")
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
    p = sub.add_parser("ingest", help="take every new file in the inbox through the ingest job, in-process")
    p.add_argument("--inbox", help="inbox folder (default INTELLIWATT_INBOX_DIR)")
    p.set_defaults(func=cmd_ingest)
    p = sub.add_parser("backfill", help="rebuild an ESIID's local days from the stored raw files")
    p.add_argument("--esiid", required=True)
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
    return args.func(Settings.from_env(), args)


if __name__ == "__main__":
    sys.exit(main())
