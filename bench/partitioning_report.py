"""The report of bench/partitioning.py: its verdict and its BENCHMARKS.md section."""

from __future__ import annotations

from bench.common import markdown_table

TARGET_P99_MS = 20.0
MIN_ROWS = 30_000_000


def verdict(variants: dict) -> dict:
    """The one-month query target, per layout: the client's p99 at concurrency 1, no errors, 30M+ rows."""
    out = {"target": f"one-month query p99 <= {TARGET_P99_MS:g} ms at >= 30M rows (httpx client, concurrency 1)"}
    for name, v in variants.items():
        phase = v["api"]["phase"]
        out[name] = {"p99_ms": phase["p99_ms"], "rows": v["dataset"]["usage_interval"],
                     "met": (phase["p99_ms"] <= TARGET_P99_MS and phase["errors"] == 0
                             and v["dataset"]["usage_interval"] >= MIN_ROWS)}
    return out


def _fill(v: dict) -> tuple[str, str]:
    fill = v["dataset"].get("fill")
    if not fill:
        return "-", "-"
    rate = fill.get("insert_rows_per_s") or round(v["dataset"]["usage_interval"] / fill["insert_s"])
    return (f"{fill['total_s']:.0f} (insert {fill['insert_s']:.0f}, keys {fill['keys_s']:.0f}, "
            f"VACUUM ANALYZE {fill['vacuum_analyze_s']:.0f})", f"{rate:,}")


def writes_table(variants: dict) -> str:
    rows = []
    for name, v in variants.items():
        s, w = v["sizes"], v["writes"]
        fill_s, fill_rate = _fill(v)
        rows.append([name, v["dataset"]["revision"], f"{s['usage_interval']['partitions']} / "
                     f"{s['daily_completeness']['partitions']}", fill_s, fill_rate,
                     f"{w['new_month']['rows_per_s']:,} ({w['new_month']['s']} s)",
                     f"{w['revised_month']['rows_per_s']:,} ({w['revised_month']['s']} s)",
                     f"{s['usage_interval']['table_mib']:,} / {s['usage_interval']['indexes_mib']:,}",
                     f"{s['daily_completeness']['table_mib']:,} / {s['daily_completeness']['indexes_mib']:,}"])
    return markdown_table(["layout", "revision", "partitions (intervals / days)", "fill s", "fill insert rows/s",
                           "upsert new month rows/s", "upsert revision rows/s", "usage_interval table / indexes MiB",
                           "daily_completeness table / indexes MiB"], rows)


def reads_table(variants: dict) -> str:
    rows = []
    for name, v in variants.items():
        p, e, w = v["api"]["phase"], v["explain"], v["api"].get("wrk")
        rows.append([name, p["requests"], p["errors"], p["p50_ms"], p["p90_ms"], p["p99_ms"], p["max_ms"],
                     p["in_app_ms"]["p99_ms"] if p["in_app_ms"] else "-",
                     f"{w['p50_ms']} / {w['p99_ms']}" if w else "-",
                     ", ".join(f"`{r}`" for r in e["relations_scanned"]), e["planning_ms"], e["execution_ms"]])
    return markdown_table(["layout", "requests", "errors", "p50 ms", "p90 ms", "p99 ms", "max ms", "in-app p99 ms",
                           "wrk p50 / p99 ms", "EXPLAIN: relations scanned", "planning ms", "execution ms"], rows)


def busy_note(variants: dict, threshold: float = 25.0) -> str:
    """A warning when other processes used the CPUs while the API was measured or a fill ran."""
    busy = [f"{n}: {v['api']['phase']['cpu_pct_of_one_core']['other']:.0f}% of one core during the API phase"
            for n, v in variants.items() if v["api"]["phase"]["cpu_pct_of_one_core"]["other"] > threshold]
    busy += [f"{n}: load average {f['loadavg_1m_before']} before / {f['loadavg_1m_after']} after the fill"
             for n, v in variants.items() if (f := v["dataset"].get("fill"))
             and max(f.get("loadavg_1m_before", 0), f.get("loadavg_1m_after", 0)) > 2.5]
    if not busy:
        return ""
    return f"Note: the machine was not idle ({'; '.join(busy)}), so these figures are slower than on an idle one.\n\n"


def markdown_section(result: dict, code_label) -> str:
    m, variants, v = result["machine"], result["variants"], result["verdict"]
    part, unpart = variants["partitioned"], variants["unpartitioned"]
    d, w = part["dataset"], part["writes"]
    reused = [n for n, x in variants.items() if x["dataset"]["reused"]]

    def met(name: str) -> str:
        return "**met**" if v[name]["met"] else "**not met**"

    return f"""## Monthly partitions: usage_interval and daily_completeness, partitioned vs plain

Reproduce: `{result['command']}` (add `--fresh` to drop and refill both databases)

- Code measured: {code_label(result['code'])}.
- Machine: {m['nproc']} CPUs ({m['cpu']}), {m['ram_gib']} GiB RAM, PostgreSQL {d['postgres']} (shared_buffers
  {d['shared_buffers']}), Python {m['python']}, Linux {m['kernel']}. Client, API (one uvicorn worker) and
  PostgreSQL share the machine.
- Dataset, the same in both databases: **{d['usage_interval']:,} rows in usage_interval** ({d['esiids']} ESIIDs x
  35,040 15-minute intervals of 2025) and {d['esiids'] * 365:,} rows in daily_completeness, filled server-side by
  bench/api_dataset.py (keys dropped for the load, rebuilt after it). `{unpart['dataset']['db']}` is at migration
  {unpart['dataset']['revision']} (plain tables), `{d['db']}` at {d['revision']} (monthly partitions, created for the
  data's months before the fill, plus a DEFAULT partition).{' Fill times of ' + ', '.join(reused) + ' are from the run that filled it (database reused).' if reused else ''}
- Write path: `cdm.intervals.upsert_intervals`, one transaction per home, {w['homes']} homes x one new month
  (Chicago January 2026, {w['new_month']['rows']:,} rows: the COPY path of new days), then the same month again
  with a later revision and other kWh (the ON CONFLICT merge path, same rows). Deleted afterwards.
- Reads: `GET /api/v1/esiids/{{random ESIID}}/intervals?start=2025-MM-01&end=2025-MM-<last>` for a random
  month, JSON, one page, keep-alive httpx client at concurrency 1, {part['api']['warmup_requests']} warm-up requests
  first; latency from sending the request to the last body byte. wrk: the same random queries, one connection.
  The plain database is served by this tree's API without the migrations after 0011.
- EXPLAIN ANALYZE of the API's own page query for one ESIID's Chicago March 2025: a Chicago month starts at
  05:00/06:00 UTC, so it reaches into two UTC-month partitions; every other partition is pruned at planning.

{writes_table(variants)}

{reads_table(variants)}

{busy_note(variants)}Target: one-month query p99 <= {TARGET_P99_MS:g} ms at >= 30M rows: partitioned {met('partitioned')}
(p99 = {v['partitioned']['p99_ms']} ms); plain tables {met('unpartitioned')} (p99 = {v['unpartitioned']['p99_ms']} ms).
"""
