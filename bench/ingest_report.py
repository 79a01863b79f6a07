"""The ingest benchmark's BENCHMARKS.md section: the loaders side by side, the targets, Dagster per run,
events against days touched, and where one home-year's time goes."""

from __future__ import annotations

from bench.common import code_label, code_version, machine_facts, markdown_table
from bench.dagster_bench import PARTITIONED, one_event_per_day, verdict


def rate(rows: int, seconds: float) -> str:
    return f"{rows / seconds:,.0f}" if seconds else "-"


def events_ok(run: dict) -> bool:
    return one_event_per_day(run["materializations"], run["partitions"], run["days"])


def span(values: list) -> str:
    lo, hi = min(values, default=0), max(values, default=0)
    return f"{lo:,}" if lo == hi else f"{lo:,}-{hi:,}"


def loader_table(r: dict, args) -> str:
    rows, ceil_s, naive_s = r["rows"], r["ceiling_seconds"], r["naive_seconds"]

    def row(name: str, seconds: float, stored: int = rows) -> list:
        return [name, args.esiid_years, f"{stored:,}", f"{seconds:.1f}", rate(stored, seconds),
                f"{ceil_s / seconds:.2f}", f"{naive_s / seconds:.2f}"]

    table = [row("ceiling: binary COPY, empty table + primary key", ceil_s),
             row("naive: executemany INSERT ON CONFLICT DO NOTHING, 5,000-row batches", naive_s),
             row(f"plain: inbox -> raw store -> parse -> normalize -> upsert -> completeness, no Dagster "
                 f"({r['workers']} process{'es' if r['workers'] > 1 else ''})", r["plain"]["seconds"])]
    table += [row(f"`intelliwatt ingest`, {c['label']}", c["seconds"], c["rows"]) for c in r["cli"]]
    table += [["plain, same files again as new bytes", args.esiid_years, f"{r['rows_after_again']:,}",
               f"{r['again']['seconds']:.1f}", rate(rows, r["again"]["seconds"]), "", ""],
              [f"plain, {r['revision_files']} week revisions", "", f"{r['revisions']['rows_written']:,} written",
               f"{r['revisions']['seconds']:.1f}", "", "", ""]]
    return markdown_table(["loader", "home-years", "rows stored", "seconds", "rows/s", "x ceiling", "x naive"], table)


def dagster_table(r: dict, batch: int) -> str:
    def mean(runs: list[dict], value) -> str:
        return f"{sum(value(x) for x in runs) / max(1, len(runs)):.1f}"

    rows = []
    for c in r["cli"]:
        runs = c["runs"]
        ok = c["exit"] == 0 and all(x["success"] for x in runs)
        rows.append([c["label"], len(runs), f"{c['seconds']:.1f}", f"{r['plain']['seconds']:.1f}",
                     f"{(c['seconds'] - r['plain']['seconds']) / max(1, len(runs)):+.1f}",
                     mean(runs, lambda x: x["wall"]),
                     mean(runs, lambda x: x["steps"].get("raw_files", 0)), mean(runs, lambda x: x["events_seconds"]),
                     mean(runs, lambda x: x["check_seconds"]), "yes" if ok else f"**no** (exit {c['exit']})"])
    return markdown_table(["instance", "runs", "CLI wall s", "plain path s (same files)",
                           f"Dagster overhead per {batch}-file run s", "mean run s (run record)",
                           "raw_files step s", "of which logging day events s", "check steps s", "success"], rows)


def events_table(r: dict) -> str:
    """Per instance kind and asset: materializations per run against the days the run touched."""
    rows = []
    for c in r["cli"]:
        for asset in PARTITIONED:
            mats = [run["materializations"].get(asset, 0) for run in c["runs"]]
            parts = [run["partitions"].get(asset, 0) for run in c["runs"]]
            days = [run["days"].get(asset) for run in c["runs"]]
            known = None not in days
            rows.append([c["label"], asset, span(mats), span(parts), span(days) if known else "-",
                         ("yes" if mats == days else "**no**") if known else "-"])
    return markdown_table(["instance", "asset", "ASSET_MATERIALIZATION events per run", "distinct days among them",
                           "days touched per run (warehouse)", "events = days"], rows)


def stage_table(stages: list) -> str:
    return markdown_table(["step (one home-year, 35,040 rows)", "ms"],
                          [[name, f"{ms:.0f}"] for name, ms in stages]
                          + [["total", f"{sum(ms for _, ms in stages):.0f}"]])


def targets(r: dict, args) -> str:
    rows = r["rows"]
    ratios = {c["label"]: r["ceiling_seconds"] / c["seconds"] for c in r["cli"]}
    same_rows = all(c["rows"] == rows for c in r["cli"])
    headline_ok = (all(x >= 0.5 for x in ratios.values()) and same_rows and args.esiid_years >= 100
                   and all(c["exit"] == 0 for c in r["cli"]))
    events = all(events_ok(run) for c in r["cli"] for run in c["runs"])
    plain_naive = r["naive_seconds"] / r["plain"]["seconds"]
    again_ratio = r["again"]["seconds"] / r["plain"]["seconds"]
    writes = {k: r["again_writes"][k] - r["first_writes"][k] for k in r["first_writes"]}
    again_ok = r["again"]["rows_written"] == 0 and sum(writes.values()) == 0 and again_ratio <= 1.0
    mem = r["memory"]
    return f"""Targets:
- Ingest through a real Dagster run >= 0.5 x binary COPY of the same rows, on both instance kinds, at >= 100
  home-years: {verdict(headline_ok)} ({'; '.join(f'{label}: {x:.2f} x' for label, x in ratios.items())};
  {args.esiid_years} home-years, {rows:,} rows{'' if same_rows else ', **the paths stored different row counts**'}).
- Materialization events per run = Central days touched per asset (one per asset per day, counted in the
  event log): {verdict(events)} (see the table below).
- the plain ingest path >= 4 x the naive loader: {verdict(plain_naive >= 4)} ({plain_naive:.2f} x; through Dagster:
  {', '.join(f'{r["naive_seconds"] / c["seconds"]:.2f} x' for c in r['cli'])}).
- re-ingesting the same rows as new files writes zero rows and takes <= 1.0 x the first ingest:
  {verdict(again_ok)} ({r['again']['rows_written']} rows reported written; PostgreSQL's own counters for
  usage_interval during the re-ingest: {writes['inserted']} inserted, {writes['updated']} updated,
  {writes['deleted']} deleted; {again_ratio:.2f} x the first ingest's time; {r['rows_after_again']:,} rows after, as
  before).
- peak RSS <= 400 MB ingesting one {mem['megabytes']} MB CSV ({mem['esiids']} ESIIDs x a year, one file,
  a fresh process, VmHWM): {verdict(mem['peak_rss_mib'] <= 400 * 1e6 / 2**20)} ({mem['peak_rss_mib']} MiB,
  {mem['seconds']:.1f} s, {mem['rows_written']:,} rows, {', '.join(sorted(set(mem['status'])))})."""


def workers_note(r: dict) -> str:
    return "`intelliwatt ingest` takes a run's files one after another in one process; the plain path does too."


def report(r: dict, args) -> str:
    facts = machine_facts()
    copy_ms = next((ms for name, ms in r["stages"] if name.startswith("upsert")), 0.0)
    total_ms = sum(ms for _, ms in r["stages"])
    return f"""
## Ingest throughput: `intelliwatt ingest` through Dagster vs the COPY ceiling vs the naive loader

Reproduce: `.venv/bin/python bench/ingest.py{' --tiny' if args.tiny else ''}` (or `bench/run_all` for every benchmark)

- Code measured: {code_label(code_version())}.
- Machine: {facts['nproc']} CPUs ({facts['cpu']}), {facts['ram_gib']} GiB RAM, Python {facts['python']},
  Linux {facts['kernel']}; PostgreSQL on the same machine (loopback), default settings.
- Data: `bench/generate.py`: {args.esiid_years} SMT interval files, one per ESIID, 12 months of 2025 (both DST
  days as SMT writes them), runs of estimated days, missing days and intervals (filled with placeholders),
  solar export on every eighth home, 17- and 22-digit ESIIDs; {r['revision_files']} week revisions. Generated in
  {r['generate_seconds']:.0f} s. Rows = rows stored in `usage_interval` (placeholders included); the ceiling
  and the naive loader load exactly the rows the plain path stored, and every path stores the same rows.
- `intelliwatt ingest --inbox DIR` is the command users run, here a subprocess (process start, imports and
  definitions included): every file through `inbox_ingest_job`, {args.batch_files} files per run, in-process, on the
  Dagster instance in DAGSTER_HOME: the embedded defaults (top-level `dagster.yaml`, SQLite under a
  temporary DAGSTER_HOME) or `deploy/dagster.yaml` (PostgreSQL, a fresh database). The warehouse is a fresh
  PostgreSQL database each time. {workers_note(r)}
- "plain" is `take_entry` (what the `raw_files` asset runs per file) over the same files in batches of
  {args.batch_files}, without Dagster; ceiling and naive use one connection. All measured in this run on the same
  PostgreSQL.
- The 1,000 home-year run of earlier versions is left out: with two instance kinds through the CLI it would
  take well over an hour on 2 cores; this script takes about 10 minutes.

{loader_table(r, args)}

{targets(r, args)}

Dagster per ingest run, from the instance's run records and event log (per-run columns are means over the
runs). Overhead per run = (CLI wall - plain wall) / runs: process start, definitions, the run itself, its
events and its asset checks. Logging day events = first to last day-partitioned
materialization of the run (the step logs them one after another at its end). Days touched come from the
warehouse (`raw_file.run_id` and the coverage tables); billing reconciliation has no coverage table of its
own, its events are only counted.

{dagster_table(r, args.batch_files)}

{events_table(r)}

Where one home-year's time goes (one process, nothing else running, fresh database):

{stage_table(r['stages'])}

Why: the upsert of a first delivery is one binary COPY into `usage_interval`, the same work as the
ceiling's ({copy_ms:.0f} ms of the {total_ms:.0f} ms above, with the latest-per-key pass and the payload);
the other {total_ms - copy_ms:.0f} ms are parsing, placeholders, completeness, coverage and a few small
queries, in Python, per file. A Dagster run adds its asset checks (they read back what the run wrote) and
its events on top. More processes help only as far as the machine runs them at once: two CPU-bound
processes finished {r['cpu_parallelism']} x as fast as one here (2.0 would be two independent cores), and
PostgreSQL needs the same CPUs.
"""
