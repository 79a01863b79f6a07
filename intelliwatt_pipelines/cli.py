"""``intelliwatt``: headless ingest, backfills, migrations and the sample seed.

Runs go through the same Dagster definitions, in-process, and are recorded in the Dagster instance
under ``DAGSTER_HOME`` (default ``$INTELLIWATT_HOME/dagster_home``).

The commands that launch runs (ingest, backfill, reprocess) check their arguments and the data first
and launch nothing on nonsense (exit 2). They print progress and a summary; ``--verbose`` adds
Dagster's event stream, ``--json`` prints only the summary, as one JSON object. Exit codes: 0 done,
1 a run or a file failed, 2 bad usage (nothing launched).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import re
import sys
import time
from pathlib import Path

import sqlalchemy as sa

from intelliwatt_pipelines.config import Settings, SettingsError
from intelliwatt_pipelines.esiid import ESIID_RE
from intelliwatt_pipelines.pii import install_redaction, mask, redact

USAGE_ERROR, RUN_FAILED = 2, 1


class UsageError(Exception):
    """Bad arguments or nothing to do: one line on stderr, exit 2, nothing launched."""


class Report:
    """What a command did, said plainly: progress lines as it goes and a summary at the end; with
    ``--json`` the summary alone, one JSON object on stdout (progress then goes to stderr)."""

    def __init__(self, command: str, as_json: bool = False):
        self.command, self.as_json, self.began = command, as_json, time.monotonic()
        self.runs: list[dict] = []
        self.errors: list[str] = []
        self.counts: dict = {}
        self.details: dict = {}

    def say(self, line: str) -> None:
        print(redact(line), file=sys.stderr if self.as_json else sys.stdout, flush=True)

    def run(self, result, job: str, **facts) -> bool:
        """Record a finished run; a failed one's step errors (redacted) join the errors."""
        self.runs.append({"run_id": result.run_id, "job": job, "status": "SUCCESS" if result.success else "FAILURE",
                          **facts})
        if not result.success:
            self.errors += [f"run {result.run_id}: {_step_error(e)}" for e in result.all_events
                            if e.event_type_value == "STEP_FAILURE"] or [f"run {result.run_id} failed"]
        return result.success

    def finish(self, ok: bool, summary: str) -> int:
        elapsed = time.monotonic() - self.began
        code = 0 if ok else RUN_FAILED
        if self.as_json:
            print(json.dumps({"command": self.command, "ok": ok, "exit_code": code, "runs": self.runs,
                              "counts": {**self.counts, "runs": len(self.runs),
                                         "runs_failed": sum(r["status"] != "SUCCESS" for r in self.runs)},
                              **self.details, "errors": [redact(e) for e in self.errors],
                              "elapsed_seconds": round(elapsed, 3)}), flush=True)
        else:
            failed = sum(r["status"] != "SUCCESS" for r in self.runs)
            print(redact(f"{self.command}: {summary}; {len(self.runs)} run(s), {failed} failed, {elapsed:.1f}s"),
                  flush=True)
        return code


def _step_error(event) -> str:
    error = getattr(event.event_specific_data, "error", None)
    text = (error.message if error is not None else event.message or "step failed").strip()
    return redact(text.splitlines()[0] if text else "step failed")[:300]


def _usage_error(command: str, message: str, as_json: bool) -> int:
    """One readable line on stderr (and, with --json, the summary saying so on stdout)."""
    print(redact(f"{f'intelliwatt {command}' if command else 'intelliwatt'}: error: {message}"), file=sys.stderr,
          flush=True)
    if as_json:
        print(json.dumps({"command": command, "ok": False, "exit_code": USAGE_ERROR, "runs": [], "counts": {},
                          "errors": [redact(message)]}), flush=True)
    return USAGE_ERROR


class _Parser(argparse.ArgumentParser):
    """argparse, its errors raised as one line (not the usage block): main prints and exits 2."""

    def error(self, message):
        raise UsageError(f"{message} (see {self.prog} --help)")


_DAY_FORM = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")


def day_arg(text: str) -> dt.date:
    """A calendar day as YYYY-MM-DD (fromisoformat alone also takes 20251101 or 2025-W44-6)."""
    try:
        if not _DAY_FORM.match(text):
            raise ValueError("not in the form YYYY-MM-DD")
        return dt.date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{redact(text)!r} is not a day ({exc}); give a calendar day as "
                                         "YYYY-MM-DD, e.g. 2025-11-01") from None


def esiid_arg(text: str) -> str:
    """An ESIID; a bad one is named by its mask and length only (it may be a near-miss of a real one)."""
    text = text.strip()
    if not ESIID_RE.match(text):
        kind = "digits" if text.isdigit() else "characters, not all digits"
        raise argparse.ArgumentTypeError(f"{mask(text)} ({len(text)} {kind}) is not an ESIID: an ESIID is 17 "
                                         "(Oncor and others) or 22 (CenterPoint) ASCII digits")
    return text


def raw_file_id_arg(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{redact(text)!r} is not a raw_file id (a whole number of at least 1)")
    return int(text)


def _dagster_logs(run_config: dict, verbose: bool) -> dict:
    """Dagster's console logger at WARNING: its per-event DEBUG lines (and our INFO ones) would drown
    the summary. ``--verbose`` shows the whole event stream (DEBUG)."""
    level = "DEBUG" if verbose else "WARNING"
    return {**run_config, "loggers": {"console": {"config": {"log_level": level}}}}


def _instance(settings: Settings):
    import dagster as dg

    if not os.environ.get("DAGSTER_HOME"):
        home = settings.home / "dagster_home"
        home.mkdir(parents=True, exist_ok=True)
        if not (home / "dagster.yaml").exists():
            (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
        os.environ["DAGSTER_HOME"] = str(home)
    return dg.DagsterInstance.get()


def _at_rest(settings: Settings, engine, inbox, say=print) -> tuple[list, list]:
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
            say(f"waiting for {len(young)} file(s) to be at rest "
                f"(unchanged for {settings.inbox_min_age_seconds:g}s)...")
            told = True
        time.sleep(min(0.5, settings.inbox_min_age_seconds))


def _entry_row(conn, entry):
    from intelliwatt_pipelines.cdm.tables import inbox_entry, raw_file
    from intelliwatt_pipelines.defs.assets import INBOX_SOURCE

    e, r = inbox_entry.c, raw_file.c
    return conn.execute(sa.select(r.id, r.filename, r.status, r.rows_valid, r.rows_invalid, r.error)
                        .join(inbox_entry, e.raw_file_id == r.id)
                        .where(e.source == INBOX_SOURCE, e.path == entry.path, e.size_bytes == entry.size_bytes,
                               e.mtime_ns == entry.mtime_ns)).first()


def cmd_ingest(settings: Settings, args) -> int:
    from intelliwatt_pipelines.defs.assets import ingest_run_config
    from intelliwatt_pipelines.defs.definitions import INGEST_JOB, build_defs
    from intelliwatt_pipelines.defs.resources import WarehouseResource
    from intelliwatt_pipelines.transport import LocalInbox

    report = Report("ingest", args.json)
    if args.inbox:
        settings = dataclasses.replace(settings, inbox_dir=Path(args.inbox).resolve())
    if not settings.inbox_dir.is_dir():  # listing a missing folder finds "0 new files": a typo would pass
        raise UsageError(f"inbox folder {settings.inbox_dir} does not exist or is not a folder "
                         f"({'--inbox' if args.inbox else 'INTELLIWATT_INBOX_DIR'}); "
                         "give an existing folder, e.g. the one `intelliwatt seed` writes to")
    engine = WarehouseResource(url=settings.warehouse_url).engine()
    todo, left = _at_rest(settings, engine, LocalInbox(settings.inbox_dir), report.say)
    report.say(f"inbox {settings.inbox_dir}: {len(todo)} new file(s)"
               + (f"; {len(left)} still changing after {settings.ingest_wait_seconds:g}s, left" if left else ""))
    if left:
        report.errors.append(f"{len(left)} file(s) still changing after {settings.ingest_wait_seconds:g}s, left")
    files, days, rows = [], set(), 0
    if todo:
        job, instance = build_defs(settings).resolve_job_def(INGEST_JOB), _instance(settings)
    for i in range(0, len(todo), settings.inbox_batch_files):
        batch = todo[i:i + settings.inbox_batch_files]
        result = job.execute_in_process(run_config=_dagster_logs(ingest_run_config(batch), args.verbose),
                                        instance=instance, raise_on_error=False)
        report.run(result, INGEST_JOB, files=len(batch))
        days |= _days_of(result)
        skipped = _skipped_in(instance, result)
        with engine.connect() as conn:
            for entry in batch:
                files.append(_entry_fact(conn, entry, skipped))
                report.say(files[-1].pop("line"))
        rows = sum(f["rows"] for f in files)
        report.say(f"run {result.run_id}: {'success' if result.success else 'FAILURE'}; "
                   f"{i + len(batch)}/{len(todo)} files, {rows:,} rows, {time.monotonic() - report.began:.1f}s")
    return _files_summary(report, engine, files, days, left=len(left),
                          homes=_homes_of(engine, run_ids=[r["run_id"] for r in report.runs]))


def _entry_fact(conn, entry, skipped: set[str]) -> dict:
    """What became of one inbox entry (``line``: how the command says it)."""
    from intelliwatt_pipelines.defs.assets import SKIPPED_REASON

    name = redact(entry.name)
    if name in skipped:  # another process took it: its outcome is that process's to report
        return {"name": name, "status": "skipped", "rows": 0, "line": f"  {name}: {SKIPPED_REASON}"}
    row = _entry_row(conn, entry)
    if row is None:
        return {"name": name, "status": "not taken", "rows": 0, "line": f"  {name}: not taken"}
    fact = {"name": redact(row.filename), "raw_file_id": row.id, "status": row.status, "rows": row.rows_valid or 0,
            "rows_invalid": row.rows_invalid or 0, **({"error": redact(row.error)} if row.error else {})}
    return {**fact, "line": f"  {fact['name']}: {row.status}, {fact['rows']} rows, {fact['rows_invalid']} invalid"
                            + (f" - {fact['error']}" if row.error else "")}


def _skipped_in(instance, result) -> set[str]:
    """Names (redacted) of the entries a run left to another taker. The run's raw_files metadata
    counts them; its log names them (``<name>: skipped: …``), read only when there are some."""
    from intelliwatt_pipelines.defs.assets import SKIPPED_REASON

    counted = [m.metadata.get("files_skipped") for m in result.asset_materializations_for_node("raw_files")]
    if result.success and not any(getattr(c, "value", 0) for c in counted):
        return set()
    suffix = f": {SKIPPED_REASON}"
    return {e.user_message[:-len(suffix)] for e in instance.all_logs(result.run_id)
            if e.dagster_event is None and e.user_message.endswith(suffix)}


def _files_summary(report: Report, engine, files: list[dict], days: set[str], *, homes: int, left: int = 0) -> int:
    """The end of ingest and reprocess: files by outcome, rows, homes, days (exit 1 if any file failed)."""
    done = sum(f["status"] == "normalized" for f in files)
    skipped = sum(f["status"] == "skipped" for f in files)
    failed = len(files) - done - skipped
    rows = sum(f["rows"] for f in files)
    report.counts = {"files": len(files), "files_normalized": done, "files_failed": failed, "files_skipped": skipped,
                     "files_left_changing": left, "rows": rows, "homes": homes, "days": len(days)}
    report.details = {"files": files}
    report.errors += [f"{f['name']}: {f['status']}" + (f" - {f['error']}" if f.get("error") else "")
                      for f in files if f["status"] not in ("normalized", "skipped")]
    ok = not failed and not left and all(r["status"] == "SUCCESS" for r in report.runs)
    return report.finish(ok, f"{len(files)} file(s): {done} normalized, {failed} failed"
                             + (f", {skipped} skipped" if skipped else "") + (f", {left} left changing" if left else "")
                             + f"; {rows:,} rows, {homes} home(s), {len(days)} day(s)")


def _days_of(result) -> set[str]:
    """The Central days a run recorded materializations on."""
    return {e.event_specific_data.materialization.partition for e in result.get_asset_materialization_events()
            if e.event_specific_data.materialization.partition}


def _homes_of(engine, *, run_ids: list[str] = (), raw_file_ids: list[int] = ()) -> int:
    """Homes the raw files written by these runs (or these raw files, members of packages included) hold."""
    from intelliwatt_pipelines.cdm.tables import billing_read_coverage, raw_file, raw_file_coverage

    if not run_ids and not raw_file_ids:
        return 0
    r = raw_file.c
    which = sa.or_(r.run_id.in_(run_ids), r.id.in_(raw_file_ids), r.parent_id.in_(raw_file_ids))
    homes = sa.union(*(sa.select(cov.c.esiid).join(raw_file, cov.c.raw_file_id == r.id).where(which)
                       for cov in (raw_file_coverage, billing_read_coverage))).subquery()
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(homes)).scalar_one()


def cmd_reprocess(settings: Settings, args) -> int:
    """Process stored raw files again from their bytes (after fixing a key, passphrase or setting)."""
    from intelliwatt_pipelines.cdm.tables import raw_file
    from intelliwatt_pipelines.defs.definitions import INGEST_JOB, build_defs
    from intelliwatt_pipelines.defs.resources import WarehouseResource

    report, ids, r = Report("reprocess", args.json), sorted(set(args.raw_file_ids)), raw_file.c
    engine = WarehouseResource(url=settings.warehouse_url).engine()
    with engine.connect() as conn:
        known = set(conn.execute(sa.select(r.id).where(r.id.in_(ids))).scalars())
    if missing := [i for i in ids if i not in known]:
        raise UsageError(f"{len(missing)} of {len(ids)} raw_file id(s) are not in the warehouse: "
                         + ", ".join(map(str, missing[:20])) + (" ..." if len(missing) > 20 else "")
                         + "; give ids of the raw_file table (the raw_files run metadata lists them)")
    job = build_defs(settings).resolve_job_def(INGEST_JOB)
    config = {"ops": {"raw_files": {"config": {"raw_file_ids": ids}}}}
    result = job.execute_in_process(run_config=_dagster_logs(config, args.verbose), instance=_instance(settings),
                                    raise_on_error=False)
    report.run(result, INGEST_JOB, raw_file_ids=ids)
    report.say(f"run {result.run_id}: {'success' if result.success else 'FAILURE'}")
    with engine.connect() as conn:
        rows = conn.execute(sa.select(r.id, r.filename, r.status, r.rows_valid, r.error).where(r.id.in_(ids))
                            .order_by(r.id)).all()
    files = []
    for row in rows:
        files.append({"name": redact(row.filename), "raw_file_id": row.id, "status": row.status,
                      "rows": row.rows_valid or 0, **({"error": redact(row.error)} if row.error else {})})
        report.say(f"  raw_file {row.id} ({row.filename}): {row.status}" + (f" - {row.error}" if row.error else ""))
    return _files_summary(report, engine, files, _days_of(result), homes=_homes_of(engine, raw_file_ids=ids))


def cmd_backfill(settings: Settings, args) -> int:
    """Rebuild days from raw: some homes' days as one run of rebuild_homes_job, or (no --esiid) the
    days of every home, in runs of INTELLIWATT_BACKFILL_DAYS_PER_RUN days."""
    from intelliwatt_pipelines.defs.partitions import partition_start
    from intelliwatt_pipelines.defs.rebuild import MAX_DAYS
    from intelliwatt_pipelines.defs.resources import WarehouseResource

    start, end, esiids = args.start, args.end, sorted(set(args.esiid))  # ESIIDs checked by esiid_arg
    if start > end:
        raise UsageError(f"--start {start} is after --end {end}: give the first day, then the last")
    first, today = dt.date.fromisoformat(partition_start(settings)), _central_today()
    if start < first or end > today:
        raise UsageError(f"--start and --end must be within the day partitions, {first} (INTELLIWATT_PARTITION_START, "
                         f"or the first month with data) to {today} (today, Central); got {start}..{end}")
    if esiids and (end - start).days >= MAX_DAYS:
        raise UsageError(f"{(end - start).days + 1} days asked with --esiid; rebuild at most {MAX_DAYS} days "
                         "per run (split the range, or leave out --esiid to rebuild every home's days)")
    report = Report("backfill", args.json)
    engine = WarehouseResource(url=settings.warehouse_url).engine()
    if esiids:
        return _rebuild_homes(settings, args, report, engine, esiids)
    return _rebuild_days(settings, args, report, engine)


def _central_today() -> dt.date:
    from zoneinfo import ZoneInfo

    from intelliwatt_pipelines.config import CENTRAL_TZ

    return dt.datetime.now(ZoneInfo(CENTRAL_TZ)).date()


def _coverage(engine, start: dt.date, end: dt.date, esiids: list[str] | None = None):
    """(interval coverage, billing coverage) of normalized raw files on [start, end]: rows of
    (esiid, first_local_date, last_local_date), for these homes or all."""
    from intelliwatt_pipelines.cdm.tables import billing_read_coverage, raw_file, raw_file_coverage

    out = []
    with engine.connect() as conn:
        for table in (raw_file_coverage, billing_read_coverage):
            cov = table.c
            query = (sa.select(cov.esiid, cov.first_local_date, cov.last_local_date).distinct()
                     .join(raw_file, cov.raw_file_id == raw_file.c.id)
                     .where(cov.first_local_date <= end, cov.last_local_date >= start,
                            raw_file.c.status == "normalized"))
            out.append(conn.execute(query.where(cov.esiid.in_(esiids)) if esiids else query).all())
    return out


def _rebuild_homes(settings: Settings, args, report: Report, engine, esiids: list[str]) -> int:
    from intelliwatt_pipelines.defs.definitions import REBUILD_HOMES_JOB, build_defs
    from intelliwatt_pipelines.defs.rebuild import home_tags
    from intelliwatt_pipelines.defs.reporting import USAGE_INTERVALS

    start, end = args.start, args.end
    held = {row.esiid for rows in _coverage(engine, start, end, esiids) for row in rows}
    if missing := [e for e in esiids if e not in held]:  # a typo'd home: a run would rebuild nothing
        raise UsageError(f"no stored raw data for {len(missing)} of {len(esiids)} home(s) on {start}..{end} ("
                         + ", ".join(mask(e) for e in missing[:10]) + "): nothing to rebuild; check the ESIIDs "
                         "and the days, or ingest the homes' files first")
    config = {"ops": {"rebuilt_homes": {"config": {"esiids": esiids, "start": str(start), "end": str(end)}}}}
    result = build_defs(settings).resolve_job_def(REBUILD_HOMES_JOB).execute_in_process(
        run_config=_dagster_logs(config, args.verbose), instance=_instance(settings), tags=home_tags(esiids),
        raise_on_error=False)
    report.run(result, REBUILD_HOMES_JOB, first_day=str(start), last_day=str(end), homes=len(esiids))
    report.say(f"run {result.run_id} ({REBUILD_HOMES_JOB}, {len(esiids)} home(s), {start}..{end}): "
               f"{'success' if result.success else 'FAILURE'}")
    days = _days_of(result)
    intervals = sum(_meta_int(m, "intervals") for m in _materializations(result, USAGE_INTERVALS))
    report.counts = {"homes": len(esiids), "days": len(days), "intervals": intervals}
    return report.finish(result.success, f"{len(esiids)} home(s) (" + ", ".join(mask(e) for e in esiids[:5])
                         + (", ..." if len(esiids) > 5 else "") + f"), {len(days)} day(s) with data in "
                         f"{start}..{end}, {intervals:,} intervals")


def _materializations(result, key) -> list:
    return [e.event_specific_data.materialization for e in result.get_asset_materialization_events()
            if e.event_specific_data.materialization.asset_key == key]


def _meta_int(materialization, key: str) -> int:
    value = materialization.metadata.get(key)
    return int(getattr(value, "value", value) or 0)


def _covered_runs(coverage, first: dt.date, last: dt.date, most: int) -> list[tuple[dt.date, dt.date]]:
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


def _rebuild_days(settings: Settings, args, report: Report, engine) -> int:
    from intelliwatt_pipelines.defs.definitions import BILLING_REBUILD_JOB, REBUILD_JOB, build_defs
    from intelliwatt_pipelines.defs.reporting import USAGE_INTERVALS

    start, end = args.start, args.end
    usage, billing = _coverage(engine, start, end)
    if not usage and not billing:
        raise UsageError(f"no stored raw data for any home on {start}..{end}: nothing to rebuild")
    homes = len({row.esiid for row in usage} | {row.esiid for row in billing})
    defs, instance, days, rows = build_defs(settings), _instance(settings), set(), 0
    # the intervals first, then the reads (reconciled against them); runs of at most days_per_run days
    for name, coverage in ((REBUILD_JOB, usage), (BILLING_REBUILD_JOB, billing)):
        for first, last in _covered_runs(coverage, start, end, settings.backfill_days_per_run):
            tags = {"dagster/asset_partition_range_start": str(first), "dagster/asset_partition_range_end": str(last)}
            result = defs.resolve_job_def(name).execute_in_process(
                run_config=_dagster_logs({}, args.verbose), instance=instance, tags=tags, raise_on_error=False)
            report.run(result, name, first_day=str(first), last_day=str(last))
            report.say(f"run {result.run_id} ({name}, every home, {first}..{last}): "
                       f"{'success' if result.success else 'FAILURE'}")
            days |= _days_of(result)
            rows += next((_meta_int(m, "rows_written") for m in _materializations(result, USAGE_INTERVALS)), 0)
    report.counts = {"homes": homes, "days": len(days), "rows": rows}
    ok = all(r["status"] == "SUCCESS" for r in report.runs)
    return report.finish(ok, f"{homes} home(s) (every home with raw data), {len(days)} day(s) with data in "
                             f"{start}..{end}, {rows:,} interval rows written")


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
    log partition keys (``date|esiid``); their output goes through this before it reaches a log.

    Ctrl-C is ignored: the process writing into the pipe gets it too, and its last lines (how it
    shut down) are still copied; this ends on end of input. A closed output ends it quietly."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    out = sys.stdout.buffer
    try:
        for line in sys.stdin.buffer:
            out.write(redact(line.decode("utf-8", "surrogateescape")).encode("utf-8", "surrogateescape"))
            out.flush()
    except BrokenPipeError:
        # Nobody reads any more: point stdout at /dev/null so the interpreter's final flush is quiet.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = _Parser(prog="intelliwatt", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    # the commands that launch runs share these (after the command: intelliwatt backfill --json ...)
    runs = argparse.ArgumentParser(add_help=False)
    runs.add_argument("-v", "--verbose", action="store_true", help="also show Dagster's event stream (DEBUG)")
    runs.add_argument("--json", action="store_true", help="print only the summary, as one JSON object on stdout")
    p = sub.add_parser("ingest", parents=[runs], help="take every new file in the inbox through the ingest job, "
                                                      "in-process (waits for files still being written)")
    p.add_argument("--inbox", help="inbox folder (default INTELLIWATT_INBOX_DIR)")
    p.set_defaults(func=cmd_ingest)
    p = sub.add_parser("backfill", parents=[runs], help="rebuild local days from the stored raw files: some homes "
                                                        "(--esiid, repeatable) in one run, or every home")
    p.add_argument("--esiid", action="append", default=[], type=esiid_arg,
                   help="a home to rebuild, 17 or 22 digits (repeat for several)")
    p.add_argument("--start", required=True, type=day_arg, help="first Central day, YYYY-MM-DD")
    p.add_argument("--end", required=True, type=day_arg, help="last Central day, YYYY-MM-DD")
    p.set_defaults(func=cmd_backfill)
    p = sub.add_parser("reprocess", parents=[runs],
                       help="process stored raw files again from their bytes (e.g. quarantined ones)")
    p.add_argument("raw_file_ids", nargs="+", type=raw_file_id_arg, metavar="RAW_FILE_ID")
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
    try:
        args = parser.parse_args(argv)
    except UsageError as error:  # the command as typed, for the message (the parse stopped before naming it)
        command = next((a for a in argv if a in sub.choices), "")
        return _usage_error(command, str(error), "--json" in argv)
    as_json = getattr(args, "json", False)
    try:
        settings = Settings.from_env()
    except SettingsError as error:  # a typo'd setting: say which, no traceback
        return _usage_error(args.command, str(error), as_json)
    install_redaction()  # whatever a command logs (library warnings included) is redacted
    try:
        return args.func(settings, args)
    except UsageError as error:  # found before anything was launched
        return _usage_error(args.command, str(error), as_json)


if __name__ == "__main__":
    sys.exit(main())
