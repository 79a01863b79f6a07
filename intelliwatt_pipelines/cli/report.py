"""How a command says what it did: progress lines, a summary, exit codes, and usage errors.

Exit codes: 0 done, 1 a run or a file failed, 2 bad usage (nothing launched).
"""

from __future__ import annotations

import json
import sys
import time

from intelliwatt_pipelines.pii import redact

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


def usage_error(command: str, message: str, as_json: bool) -> int:
    """One readable line on stderr (and, with --json, the summary saying so on stdout)."""
    print(redact(f"{f'intelliwatt {command}' if command else 'intelliwatt'}: error: {message}"), file=sys.stderr,
          flush=True)
    if as_json:
        print(json.dumps({"command": command, "ok": False, "exit_code": USAGE_ERROR, "runs": [], "counts": {},
                          "errors": [redact(message)]}), flush=True)
    return USAGE_ERROR


def files_summary(report: Report, files: list[dict], days: set[str], *, homes: int, left: int = 0) -> int:
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
