"""The Dagster scale benchmark's BENCHMARKS.md section: its tables, the targets met or not, what it means."""

from __future__ import annotations

import math

from bench.common import BENCHMARKS_MD, code_label, code_version, machine_facts, markdown_table
from bench.dagster_bench import PARTITIONED, fmt_s, verdict
from bench.scale_runs import RealRun
from bench.scale_sensor import Ticks
from bench.scale_setup import FILE_DAYS, NEW_HOME_DAYS, RUN_BATCH, Sizes
from bench.scale_status import Step, ui_cell


def sensor_table(ticks: list[Ticks]) -> str:
    return markdown_table(["scenario", "files listed", "already known", "cursor", "ticks", "median tick s",
                           "min / max s", "run requests", "requests x files"], [t.row() for t in ticks])


def space_table(steps: list[Step], sizes: Sizes) -> str:
    rows = [[f"{s.homes:,}", f"{s.partitions:,}", fmt_s(s.enumerate_s), f"`{s.definition_id[:12]}`",
             f"{math.ceil(s.homes / RUN_BATCH):,}" if s.status else "-", f"{s.events:,}" if s.status else "not written",
             fmt_s(s.written_s) if s.status else "-"] for s in steps]
    return markdown_table(["homes", "partitions per asset", "enumerate keys s", "partitions definition id",
                           f"ingest runs of {RUN_BATCH} per day", f"materializations per asset ({sizes.days} days)",
                           "history written s"], rows)


def status_table(steps: list[Step]) -> str:
    rows = []
    for s in steps:
        for asset, r in s.status.items():
            ui = r.get("ui")
            reads = "/".join(str(r[k].full_log_reads) for k in ("cold", "warm", "after_run"))
            rows.append([f"{s.homes:,}", asset, f"{r['warm'].materialized:,}", fmt_s(r["cold"].seconds),
                         fmt_s(r["warm"].seconds), fmt_s(r["after_run"].seconds), reads, f"{r['warm'].cache_bytes:,}",
                         ui_cell(ui), f"{ui['bytes'] / 1024:,.0f}" if ui and "bytes" in ui else "n/a"])
    return markdown_table(["homes", "asset", "materialized partitions", "status cold s", "warm s", "after one run s",
                           "full-log reads (cold/warm/after run)", "stored subset bytes",
                           "UI PartitionHealthQuery s", "response KiB"], rows)


def new_home_table(home: dict) -> str:
    yes = lambda ok: "yes" if ok else "**no**"  # noqa: E731
    rows = [[asset, yes(home["definition_id_unchanged"]), yes(r["stored_id_unchanged"]), yes(r["subset_unchanged"]),
             r["full_log_reads"], fmt_s(r["s"]), ui_cell(r["ui"])] for asset, r in home["assets"].items()]
    return markdown_table(["asset", "definition id unchanged", "stored cache id unchanged",
                           "materialized subset unchanged", "full-log reads", "status read s",
                           "UI PartitionHealthQuery s"], rows)


def runs_table(runs: list[RealRun], sizes: Sizes) -> str:
    return markdown_table(["ingest run", "homes of history", "files", "days per file", "wall s", "raw_files step s",
                           "asset check steps s", "slowest check step s", "success"],
                          [r.row(sizes.run_days) for r in runs])


def events_table(runs: list[RealRun]) -> str:
    rows = [[r.label, a, r.facts.materializations.get(a, 0), r.facts.partitions.get(a, 0), r.days.get(a, "-"),
             ("yes" if r.facts.materializations.get(a, 0) == r.days[a] else "**no**") if a in r.days else "-"]
            for r in runs for a in PARTITIONED]
    return markdown_table(["ingest run", "asset", "ASSET_MATERIALIZATION events", "distinct days among them",
                           "days touched (warehouse)", "events = days"], rows)


def targets(sizes: Sizes, steps: list[Step], ticks: list[Ticks], runs: list[RealRun], home: dict,
            rebuild: dict) -> list[str]:
    big = next(s for s in steps if s.homes == sizes.homes[-1])
    usage = big.status["usage_intervals"]
    worst = lambda k: max(r[k].seconds for r in big.status.values())  # noqa: E731
    uis = [r["ui"] for r in big.status.values() if r.get("ui")]
    ui_s = max((u["s"] for u in uis), default=None)
    known = next(t for t in ticks if t.label == "known files" and t.cursor == "fresh")
    known_max = max(max(t.times) for t in ticks if t.label == "known files")
    keys_s = max(s.enumerate_s for s in steps)
    home_ok = home["definition_id_unchanged"] and all(r["stored_id_unchanged"] and r["subset_unchanged"]
                                                      and r["full_log_reads"] == 0 for r in home["assets"].values())
    empty, scaled = runs[0], runs[-1]
    checks_ok = scaled.facts.check_seconds <= 1.25 * empty.facts.check_seconds + 0.25
    n = f"{sizes.homes[-1]:,} homes"
    return [
        f"partitions per asset = days ({sizes.days}) at every size, enumerating keys < 0.05 s: "
        f"{verdict(all(s.partitions == sizes.days for s in steps) and keys_s < 0.05)} ("
        + ", ".join(f"{s.partitions:,} at {s.homes:,} homes" for s in steps) + f"; slowest {fmt_s(keys_s)} s).",
        f"at {n}, status warm < 0.3 s: {verdict(worst('warm') < 0.3)} ({fmt_s(worst('warm'))} s, slower asset); "
        f"after one run < 0.5 s: {verdict(worst('after_run') < 0.5)} ({fmt_s(worst('after_run'))} s); cold < 2 s: "
        f"{verdict(worst('cold') < 2)} ({fmt_s(worst('cold'))} s; usage_intervals {fmt_s(usage['cold'].seconds)} s).",
        f"at {n}, the UI's PartitionHealthQuery (server side) < 1 s: "
        + (f"{verdict(ui_s < 1 and len(uis) == len(big.status) and not any(u.get('error') for u in uis))} "
           f"({fmt_s(ui_s)} s, slower asset)." if uis else "**not met** (not measured: --no-ui or no code location)."),
        f"a new home changes nothing in Dagster's status (definition id and stored cache id unchanged, materialized "
        f"subset unchanged, no rebuild from the whole log): {verdict(home_ok)}.",
        f"events per ingest run = days touched per asset: {verdict(all(r.events_ok for r in runs))} ("
        + "; ".join(f"{r.label}: " + ", ".join(f"{a} {c}" for a, c in sorted(r.facts.materializations.items()))
                    for r in runs) + ").",
        f"the run's check steps no slower at {n} than on an empty instance (within 25% + 0.25 s, noise on a shared "
        f"machine): {verdict(checks_ok)} ({fmt_s(empty.facts.check_seconds)} s empty, "
        f"{fmt_s(scaled.facts.check_seconds)} s at {n}).",
        f"sensor ticks < 1 s with {known.known:,} known files: {verdict(known_max < 1)} (median "
        f"{fmt_s(known.median)} s, slowest {fmt_s(known_max)} s).",
        f"one-home rebuild (1 ESIID x {rebuild['days']} days) is one run and leaves other homes' rows untouched: "
        f"{verdict(rebuild['runs'] == 1 and rebuild['success'] and rebuild['others_unchanged'])} ({rebuild['runs']} "
        f"run, {fmt_s(rebuild['wall'])} s, {rebuild['others_rows']:,} other rows: checksum "
        f"{'unchanged' if rebuild['others_unchanged'] else '**changed**'}; the home's rows {rebuild['own_rows'][0]:,} "
        f"before, {rebuild['own_rows'][1]:,} after).",
    ]


def meaning(sizes: Sizes, steps: list[Step], ticks: list[Ticks], runs: list[RealRun]) -> str:
    measured = [s for s in steps if s.status]
    big = measured[-1]
    most = max(ticks, key=lambda t: t.listed)
    rates = [s.written / s.written_s for s in measured if s.written_s]
    cold = max(r["cold"].seconds for r in big.status.values())
    return (
        f"Partitions are Central days only: {sizes.days} per asset whatever the number of homes, and the "
        "partitions definition id hashes the definition's own parameters, the same at every size: a new home "
        "leaves the stored status cache valid (see above). The stored status is a list of day ranges "
        f"({big.status['usage_intervals']['warm'].cache_bytes} bytes), not a list of keys. What grows with homes "
        f"is the event log: {big.events:,} materializations per asset for {big.homes:,} homes x {sizes.days} days "
        f"(runs of {RUN_BATCH} homes, {FILE_DAYS} days each); only a cold status read (no stored cache) scans "
        f"them ({fmt_s(cold)} s at {big.homes:,} homes), every later read goes on from the stored cursor. The "
        "ingest run's asset checks find what the run wrote in the warehouse (raw_file.run_id and the coverage "
        f"tables), not in the partition list: {fmt_s(runs[0].facts.check_seconds)} s on the empty instance, "
        f"{fmt_s(runs[-1].facts.check_seconds)} s with {runs[-1].homes:,} homes' history. The sensor never reads "
        f"partitions; its cost follows the files it lists: {most.listed:,} new files took a median "
        f"{fmt_s(most.median)} s for {len(most.per_request):,} run requests (the evaluation timeout is 60 s). "
        f"History here was written with COPY at {min(rates, default=0):,.0f}-{max(rates, default=0):,.0f} "
        "events/s; an ingest run stores its own one by one through `context.log_event`.")


def report(args, sizes: Sizes, ticks, runs, steps, home, rebuild, wall: float, ui_timeout: float) -> str:
    facts = machine_facts()
    command = " ".join([".venv/bin/python bench/dagster_scale.py"] + (["--tiny"] if args.tiny else [])
                       + ([f"--homes {args.homes}"] if args.homes else []) + (["--no-ui"] if args.no_ui else [])
                       + ([f"--output {args.output}"] if args.output.resolve() != BENCHMARKS_MD else []))
    return "\n\n".join([
        f"## Dagster overhead and Central-day partition scale{' (tiny)' if args.tiny else ''}",
        f"Reproduce: `{command}` (from the repository root, with the project's venv; PostgreSQL on "
        f"127.0.0.1:5432). Whole run: {wall:.0f} s.",
        f"Code measured: {code_label(code_version())}.",
        f"Machine: {facts['nproc']} CPUs ({facts['cpu']}), {facts['ram_gib']} GiB RAM, Python {facts['python']}, "
        f"kernel {facts['kernel']}. Dagster instance from deploy/dagster.yaml on PostgreSQL and a PostgreSQL "
        "warehouse, both fresh databases on the same machine. Other CPU-heavy work may share the machine: "
        "figures are noisy.",
        "### Targets\n\n" + "\n".join(f"- {t}" for t in targets(sizes, steps, ticks, runs, home, rebuild)),
        "### Inbox sensor\n\nOne tick = `inbox_sensor.evaluate_tick` (listing, known keys from inbox_entry, run "
        f"requests); median of {sizes.ticks}. New files: a day's delivery of that many homes, one file each (names "
        "of one generated SMT CSV: the sensor lists and stats, it does not read). Fresh cursor: every tick starts "
        "from no cursor (nothing claimed). Carried: each tick gets the previous tick's cursor (the files are "
        "claimed while their runs are pending, so no request). Known files are recorded in inbox_entry (and "
        "raw_file) directly.\n\n" + sensor_table(ticks),
        "### Partition space\n\nThe project's definitions built at each size (`build_defs`); keys = "
        "`partitions_def.get_partition_keys()` of usage_intervals (all four day-partitioned assets share the "
        f"definition). History: for every day, one ingest run per {RUN_BATCH} homes, each writing one "
        f"ASSET_MATERIALIZATION per asset (usage_intervals and daily_completeness) for each of the {FILE_DAYS} days "
        "its delivery covers, cloned from the real run's events and copied into `event_logs` (then one run "
        "through `store_event_batch` so the asset records are Dagster's own). At "
        f"{sizes.cheap_homes:,} homes only what does not read the history is measured.\n\n" + space_table(steps, sizes),
        "### Partition status\n\n`get_and_update_asset_status_cache_value`, the asset status cache behind the UI "
        "and `get_status_by_partition`, stored as Dagster stores it: cold = the stored cache wiped (rebuilt from "
        f"the whole event log), warm = the next call, after one run = after one more run's events ({FILE_DAYS} "
        "days). Full-log reads = calls of `get_materialized_partitions` without a cursor. The UI's own "
        "`PartitionHealthQuery` (asset partitions page) over GraphQL against the project's code location, on an "
        "instance tuned like `dagster-webserver` (pooled"
        + (f", {ui_timeout:.0f} s statement timeout" if ui_timeout else "")
        + "), warm, server side only (the browser still renders it).\n\n"
        + status_table([s for s in steps if s.status]),
        f"### A new home\n\nAfter the {sizes.homes[-1]:,}-home step, one run delivers a new home's first "
        f"{NEW_HOME_DAYS} days (days other homes already materialized); the definitions are built again, as a "
        "reloaded code location would, and the status is read.\n\n" + new_home_table(home),
        "### Ingest runs\n\nA real `inbox_ingest_job` run of the sensor's first request over "
        f"{sizes.run_files} new homes' SMT files ({sizes.run_days} days each), in-process (as `intelliwatt ingest` "
        f"runs it), on the empty instance and again after the {sizes.homes[-1]:,}-home history (other homes, the "
        "same days). Events counted in the event log for the run; days touched from the warehouse "
        "(`raw_file.run_id` and the coverage tables).\n\n" + runs_table(runs, sizes) + "\n\n" + events_table(runs),
        f"### One-home rebuild\n\n`rebuild_homes_job` with one ESIID and its {rebuild['days']} days "
        f"({sizes.run_days}-day files of the first run), in-process: {rebuild['runs']} run, "
        f"{fmt_s(rebuild['wall'])} s, "
        f"{'success' if rebuild['success'] else '**failed**'}; materializations: "
        + ", ".join(f"{a} {n}" for a, n in sorted(rebuild["events"].items()))
        + f". Other homes' usage_interval rows ({rebuild['others_rows']:,}) by count and md5 of every row: "
        + ("unchanged." if rebuild["others_unchanged"] else "**changed**."),
        "### What this means\n\n" + meaning(sizes, steps, ticks, runs),
    ])
