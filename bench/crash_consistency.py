"""Crash consistency at many kill points: the long version of test_reliability.py.

An ingest of a mixed delivery (SMT interval CSVs incl. a revision across the fall-back day, a ZIP
package, daily meter reads, a Green Button feed with its sidecar, a broken file) runs in a
subprocess and is SIGKILLed at a random moment after it is ready; it is then run again to the end,
and the warehouse (every canonical table, raw-file statuses, raw bytes, inbox entries) is compared
with an uninterrupted reference ingest. Right after each kill it also checks that no file is marked
normalized without all of its rows. Writes the result into RELIABILITY.md.

Run (from the project root, PostgreSQL at INTELLIWATT_TEST_POSTGRES_URL or 127.0.0.1:5432)::

    .venv/bin/python bench/crash_consistency.py --kill-points 200
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from intelliwatt_pipelines_tests.reliability import kill_points  # noqa: E402

OUT = ROOT / "RELIABILITY.md"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kill-points", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--how", choices=["kill", "terminate"], default="kill")
    parser.add_argument("--postgres", default=os.environ.get("INTELLIWATT_TEST_POSTGRES_URL",
                                                             "postgresql://postgres@127.0.0.1:5432/postgres"))
    args = parser.parse_args()
    began = time.monotonic()

    def report(i, result):
        status = "ok" if not (result.differences or result.partial) else f"DIVERGED {result.differences} {result.partial}"
        print(f"{i + 1:4d}/{args.kill_points} delay {result.delay:6.3f} s killed={result.killed} {status}", flush=True)

    with tempfile.TemporaryDirectory(prefix="intelliwatt-crash-") as work:
        reference, seconds, results = kill_points(args.postgres, Path(work), args.kill_points, seed=args.seed,
                                                  how=args.how, report=report)
    diverged = [r for r in results if r.differences or r.partial]
    killed = sum(r.killed for r in results)
    elapsed = time.monotonic() - began
    rows = {k: len(v) for k, v in reference.items() if isinstance(v, list)}
    body = f"""## Crash consistency ({args.how})

Reproduce: `.venv/bin/python bench/crash_consistency.py --kill-points {args.kill_points} --seed {args.seed}`
{"" if args.how == "kill" else f" --how {args.how}"}
- Interruptions: **{len(results)}** ({killed} while the ingest was working, {len(results) - killed} after it had
  finished), at uniform random delays in [0, {seconds * 1.05:.2f}] s after the worker was ready (an
  uninterrupted ingest works {seconds:.2f} s). Each is followed by a full ingest of the same inbox.
- Reference (uninterrupted) warehouse: {rows}.
- **Divergences: {len(diverged)}** (any difference from the reference in any table, raw-file status or
  raw bytes after resuming, or a file marked normalized without all its rows right after the kill).
- Took {elapsed / 60:.1f} min on the 2-core machine.
"""
    write_section(f"crash_{args.how}", body)
    print(body)
    return 1 if diverged else 0


def write_section(name: str, body: str) -> None:
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    text = OUT.read_text() if OUT.exists() else "# Reliability\n\nResults of the long-running reliability scripts.\n"
    block = f"{start}\n{body.strip()}\n{end}"
    if start in text and end in text:
        before, rest = text.split(start, 1)
        text = before + block + rest.split(end, 1)[1]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    OUT.write_text(text)


if __name__ == "__main__":
    sys.exit(main())
