"""Run every benchmark, one after the other, and write BENCHMARKS.md from scratch.

    .venv/bin/python bench/run_all.py            # ~60 minutes on a 2-core machine (package_memory ~20, service_points ~12)
    .venv/bin/python bench/run_all.py --only ingest,dagster_scale

Needs what the README's setup gives (the venv, PostgreSQL on 127.0.0.1:5432 with trust auth) and
`wrk` for the API benchmarks (`apt-get install -y wrk`). Nothing else may run on the machine
meanwhile: the figures are throughput and latency. The previous file is kept as
BENCHMARKS.md.previous until every benchmark has run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import BENCHMARKS_MD, ROOT, code_label, code_version, machine_facts, markdown_table, write_section  # noqa: E402

STEPS = {
    "ingest": ["bench/ingest.py"],
    "dagster_scale": ["bench/dagster_scale.py"],
    "api_latency": ["bench/api_latency.py"],
    "api_load": ["bench/api_load.py", "--seconds", "60", "--connections", "8"],
    "upload_latency": ["bench/upload_latency.py"],
    "package_memory": ["bench/package_memory.py"],
    "service_points": ["bench/service_points.py", "--instances", "embedded,deploy"],
}
NEEDS_WRK = {"api_latency", "api_load"}


def intro(steps: list[str]) -> str:
    facts = machine_facts()
    return f"""
# Benchmarks

Every section below comes from one run of `.venv/bin/python bench/run_all.py`
(started {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC; steps: {', '.join(steps)}), on
{facts['nproc']} CPUs ({facts['cpu']}), {facts['ram_gib']} GiB RAM, Python {facts['python']}, Linux {facts['kernel']},
with PostgreSQL on the same machine. Code: {code_label(code_version())}. Each section also names the
script that regenerates it alone. Benchmarks are scripts, not tests: the test suite only runs them at a
tiny size. Ingest is measured as users run it (`intelliwatt ingest`, real Dagster runs of 50 files);
Dagster partitions are Central days, the homes of a run are its config.
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", type=lambda s: s.split(","), default=list(STEPS))
    args = parser.parse_args()
    unknown = set(args.only) - set(STEPS)
    if unknown:
        sys.exit(f"unknown benchmark(s): {', '.join(sorted(unknown))}; known: {', '.join(STEPS)}")
    if NEEDS_WRK & set(args.only) and not shutil.which("wrk"):
        sys.exit("wrk is needed for the API benchmarks: apt-get install -y wrk (or leave them out with --only)")
    previous = BENCHMARKS_MD.with_name("BENCHMARKS.md.previous")
    if BENCHMARKS_MD.exists():
        BENCHMARKS_MD.replace(previous)
    BENCHMARKS_MD.write_text(intro(args.only).lstrip())
    took = []
    for name in args.only:
        print(f"== {name}", flush=True)
        start = time.perf_counter()
        status = subprocess.run([sys.executable, *STEPS[name]], cwd=ROOT).returncode
        took.append([name, f"{(time.perf_counter() - start) / 60:.1f}", "ok" if status == 0 else f"exit {status}"])
        if status:
            write_section("run_all", markdown_table(["benchmark", "minutes", "result"], took))
            sys.exit(f"{name} failed (exit {status}); the earlier file is {previous.name}")
    write_section("run_all", "## How long each took\n\n" + markdown_table(["benchmark", "minutes", "result"], took))
    previous.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
