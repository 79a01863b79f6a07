"""``intelliwatt ingest`` (every new inbox file, in batches) and ``intelliwatt reprocess`` (stored raw
files again, from their bytes): both run the ingest job in-process and report file by file.

The warehouse, ingest and Dagster modules are imported inside the commands, when they run: the
parser (and ``intelliwatt redact-log`` in a pipe) starts without them."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

from intelliwatt_pipelines.cli.report import Report, UsageError, files_summary
from intelliwatt_pipelines.cli.runs import dagster_logs, days_of, instance
from intelliwatt_pipelines.config import Settings
from intelliwatt_pipelines.pii import redact


def at_rest(settings: Settings, engine, inbox, say=print) -> tuple[list, list]:
    """(new entries at rest, entries still being written when the wait ran out).

    A file copied in a moment ago may still be growing: it is taken once its mtime is
    INTELLIWATT_INBOX_MIN_AGE_SECONDS old (a rewrite is a new entry and starts the wait again).
    """
    from intelliwatt_pipelines.defs.raw_files import INBOX_SOURCE
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


def cmd_ingest(settings: Settings, args) -> int:
    from intelliwatt_pipelines.cdm.written import homes_written
    from intelliwatt_pipelines.defs.definitions import INGEST_JOB, build_defs
    from intelliwatt_pipelines.defs.raw_files import ingest_run_config
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
    todo, left = at_rest(settings, engine, LocalInbox(settings.inbox_dir), report.say)
    report.say(f"inbox {settings.inbox_dir}: {len(todo)} new file(s)"
               + (f"; {len(left)} still changing after {settings.ingest_wait_seconds:g}s, left" if left else ""))
    if left:
        report.errors.append(f"{len(left)} file(s) still changing after {settings.ingest_wait_seconds:g}s, left")
    files, days, rows = [], set(), 0
    if todo:
        job, runs_in = build_defs(settings).resolve_job_def(INGEST_JOB), instance(settings)
    for i in range(0, len(todo), settings.inbox_batch_files):
        batch = todo[i:i + settings.inbox_batch_files]
        result = job.execute_in_process(run_config=dagster_logs(ingest_run_config(batch), args.verbose),
                                        instance=runs_in, raise_on_error=False)
        report.run(result, INGEST_JOB, files=len(batch))
        days |= days_of(result)
        skipped = skipped_in(runs_in, result)
        with engine.connect() as conn:
            for entry in batch:
                files.append(entry_fact(conn, entry, skipped))
                report.say(files[-1].pop("line"))
        rows = sum(f["rows"] for f in files)
        report.say(f"run {result.run_id}: {'success' if result.success else 'FAILURE'}; "
                   f"{i + len(batch)}/{len(todo)} files, {rows:,} rows, {time.monotonic() - report.began:.1f}s")
    return files_summary(report, files, days, left=len(left),
                         homes=homes_written(engine, run_ids=[r["run_id"] for r in report.runs]))


def entry_fact(conn, entry, skipped: set[str]) -> dict:
    """What became of one inbox entry (``line``: how the command says it)."""
    from intelliwatt_pipelines.cdm.written import entry_outcome
    from intelliwatt_pipelines.defs.raw_files import INBOX_SOURCE
    from intelliwatt_pipelines.ingest.batch_report import SKIPPED_REASON

    name = redact(entry.name)
    if name in skipped:  # another process took it: its outcome is that process's to report
        return {"name": name, "status": "skipped", "rows": 0, "line": f"  {name}: {SKIPPED_REASON}"}
    row = entry_outcome(conn, INBOX_SOURCE, entry)
    if row is None:
        return {"name": name, "status": "not taken", "rows": 0, "line": f"  {name}: not taken"}
    fact = {"name": redact(row.filename), "raw_file_id": row.id, "status": row.status, "rows": row.rows_valid or 0,
            "rows_invalid": row.rows_invalid or 0, **({"error": redact(row.error)} if row.error else {})}
    return {**fact, "line": f"  {fact['name']}: {row.status}, {fact['rows']} rows, {fact['rows_invalid']} invalid"
                            + (f" - {fact['error']}" if row.error else "")}


def skipped_in(runs_in, result) -> set[str]:
    """Names (redacted) of the entries a run left to another taker. The run's raw_files metadata
    counts them; its log names them (``<name>: skipped: …``), read only when there are some."""
    from intelliwatt_pipelines.ingest.batch_report import SKIPPED_REASON

    counted = [m.metadata.get("files_skipped") for m in result.asset_materializations_for_node("raw_files")]
    if result.success and not any(getattr(c, "value", 0) for c in counted):
        return set()
    suffix = f": {SKIPPED_REASON}"
    return {e.user_message[:-len(suffix)] for e in runs_in.all_logs(result.run_id)
            if e.dagster_event is None and e.user_message.endswith(suffix)}


def cmd_reprocess(settings: Settings, args) -> int:
    """Process stored raw files again from their bytes (after fixing a key, passphrase or setting)."""
    from intelliwatt_pipelines.cdm.written import homes_written, known_raw_files, raw_file_outcomes
    from intelliwatt_pipelines.defs.definitions import INGEST_JOB, build_defs
    from intelliwatt_pipelines.defs.resources import WarehouseResource

    report, ids = Report("reprocess", args.json), sorted(set(args.raw_file_ids))
    engine = WarehouseResource(url=settings.warehouse_url).engine()
    known = known_raw_files(engine, ids)
    if missing := [i for i in ids if i not in known]:
        raise UsageError(f"{len(missing)} of {len(ids)} raw_file id(s) are not in the warehouse: "
                         + ", ".join(map(str, missing[:20])) + (" ..." if len(missing) > 20 else "")
                         + "; give ids of the raw_file table (the raw_files run metadata lists them)")
    job = build_defs(settings).resolve_job_def(INGEST_JOB)
    config = {"ops": {"raw_files": {"config": {"raw_file_ids": ids}}}}
    result = job.execute_in_process(run_config=dagster_logs(config, args.verbose), instance=instance(settings),
                                    raise_on_error=False)
    report.run(result, INGEST_JOB, raw_file_ids=ids)
    report.say(f"run {result.run_id}: {'success' if result.success else 'FAILURE'}")
    files = []
    for row in raw_file_outcomes(engine, ids):
        files.append({"name": redact(row.filename), "raw_file_id": row.id, "status": row.status,
                      "rows": row.rows_valid or 0, **({"error": redact(row.error)} if row.error else {})})
        report.say(f"  raw_file {row.id} ({row.filename}): {row.status}" + (f" - {row.error}" if row.error else ""))
    return files_summary(report, files, days_of(result), homes=homes_written(engine, raw_file_ids=ids))
