"""What one ingest run's files came to, as plain metadata values (the raw_files asset reports them;
markdown tables are text here and wrapped by ``defs``)."""

from __future__ import annotations

from collections import Counter

import pandas as pd

from intelliwatt_pipelines.cdm.day_summaries import gathered
from intelliwatt_pipelines.ingest.pipeline import FileOutcome
from intelliwatt_pipelines.pii import redact

SKIPPED_REASON = "skipped: taken by another process"
FAILED_STATUSES = ("failed", "quarantined", "missing")
READ_KEY = ["esiid", "meter", "channel", "read_start", "read_end", "source"]


def outcome_line(outcome: FileOutcome) -> str:
    """How the run log names one file's outcome (redacted)."""
    return redact(f"raw_file {outcome.raw_file_id} ({outcome.filename}): {outcome.status}"
                  + (f" - {outcome.error}" if outcome.error else ""))


def written_frames(outcomes: list[FileOutcome]) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(completeness, billing reads, reconciliation) the normalized files wrote, the last file's row
    winning where two files wrote the same series-day or read."""
    done = [o for o in outcomes if o.status == "normalized"]
    return (gathered([o.completeness for o in done], ["esiid", "meter", "channel", "local_date"]),
            gathered([o.reads for o in done], READ_KEY), gathered([o.reconciliation for o in done], READ_KEY))


def days_outside(frames, valid_days: set[str]) -> set[str]:
    """Days these frames hold that are not partitions."""
    return {str(d) for f in frames if len(f) for d in f["local_date"].unique()} - valid_days


def invalid_by_day(outcomes: list[FileOutcome]) -> dict[str, int]:
    """Invalid rows of the normalized files that wrote each day (a file's invalid rows count on each
    of its days)."""
    out: dict[str, int] = {}
    for o in outcomes:
        if o.status == "normalized" and o.rows_invalid and len(o.completeness):
            for day in set(map(str, o.completeness["local_date"])):
                out[day] = out.get(day, 0) + o.rows_invalid
    return out


def failed_files(outcomes: list[FileOutcome]) -> tuple[int, str | None]:
    """(files that failed to parse or validate, a markdown table of them or None)."""
    failed = [o for o in outcomes if o.status in FAILED_STATUSES]
    table = pd.DataFrame([(o.raw_file_id, redact(o.filename), o.status, redact((o.error or "")[:200])) for o in failed],
                         columns=["raw_file_id", "filename", "status", "error"])
    return len(failed), table.to_markdown(index=False) if failed else None


def skipped_facts(skipped: list[str]) -> dict:
    return {"files_skipped": len(skipped),
            **({"files_skipped_reason": f"{SKIPPED_REASON}: " + ", ".join(skipped[:50])} if skipped else {})}


def batch_facts(outcomes: list[FileOutcome], series_days: int) -> dict:
    """Counts of the run's files by outcome, rows, kWh, and ``file_table``: a markdown table, one row per file."""
    table = pd.DataFrame([{
        "raw_file_id": o.raw_file_id, "parent_id": o.parent_id or "", "filename": redact(o.filename),
        "status": o.status, "kind": o.kind,
        "rows_read": o.rows_read, "rows_valid": o.rows_valid, "rows_invalid": o.rows_invalid,
        "rows_written": o.rows_written, "kwh": round(o.kwh, 3), "error": redact((o.error or "")[:300]),
        "unmapped_columns": redact(", ".join(o.unmapped)),
    } for o in outcomes])
    count = Counter(o.status for o in outcomes)
    return {
        "files": len(outcomes),
        "files_normalized": count["normalized"],
        "files_failed": count["failed"],
        "files_quarantined": count["quarantined"],
        "files_already_known": count["known"],
        "rows_written": sum(o.rows_written for o in outcomes),
        "rows_invalid": sum(o.rows_invalid for o in outcomes),
        "kwh": round(sum(o.kwh for o in outcomes), 3),
        "series_days_touched": series_days,
        "billing_reads": sum(len(o.reads) for o in outcomes),
        "reconciliation_mismatches": sum(int((o.reconciliation.get("status", pd.Series(dtype=str)) == "mismatch").sum())
                                         for o in outcomes),
        **({"unmapped_columns": {redact(o.filename): [redact(c) for c in o.unmapped] for o in outcomes if o.unmapped}}
           if any(o.unmapped for o in outcomes) else {}),
        "file_table": table.to_markdown(index=False) if len(table) else "no files",
    }
