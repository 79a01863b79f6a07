"""Plan costs: how fast the cost engine prices plans, against plain numpy, and interval- vs bucket-level TOU.

What it measures
    (a) ``--plans`` (1,000) varied plans (fixed, tiered, TOU, credits, minimums; generated deterministically,
        bench/plan_costs_data.py) priced with ``engine.price_plan`` for one home-year of buckets: total wall
        time and µs per plan.
    (b) ``--homes`` (10,000) homes × ``--simple-plans`` (100) fixed/tiered/credit plans: annual cost through
        ``price_plan`` in a loop beside a vectorized numpy computation of the same totals, which must agree
        to the cent. When the engine loop would take longer than ``--engine-budget`` seconds it runs on the
        first homes only and the full time is extrapolated (labelled so in the output).
    (c) One home-year of 15-minute readings, TOU plans priced interval by interval (``local_readings`` +
        ``intervals.price_intervals``) and from buckets (numpy bucket sums + ``price_plan``): both times,
        and the totals must agree to the cent.
    Output: one JSON line (``plan_costs {...}``), a short table, and with ``--benchmarks-md`` the
    ``plan_costs`` section of that file. TDSP: Oncor 5.6032 ¢/kWh + $4.23 a month. Single process.

Run (from the project root)::

    .venv/bin/python bench/plan_costs.py                      # a few minutes on 2 cores
    .venv/bin/python bench/plan_costs.py --homes 20 --plans 5 # tiny (the test suite)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # bench.* and the package, from any cwd

from bench.common import markdown_table, write_section  # noqa: E402
from bench.plan_costs_buckets import buckets, numpy_annual_cents  # noqa: E402
from bench.plan_costs_data import SIMPLE_KINDS, home_year, monthly_kwh, plans  # noqa: E402
from intelliwatt_pipelines.pricing.engine import EngineInputs, Tdsp, price_plan  # noqa: E402
from intelliwatt_pipelines.pricing.intervals import price_intervals  # noqa: E402
from intelliwatt_pipelines.pricing.keys import TOTAL  # noqa: E402
from intelliwatt_pipelines.pricing.localtime import local_readings  # noqa: E402
from intelliwatt_pipelines.pricing.requirements import required_bucket_keys  # noqa: E402

TDSP = Tdsp(per_kwh_cents=5.6032, monthly_cents=423.0, effective_date="2025-01-01", tdsp_code="oncor")
MONTHS = [f"2025-{m:02d}" for m in range(1, 13)]
OK = ("OK", "APPROXIMATE")


def _all_keys(structures) -> set[str]:
    keys = {TOTAL}
    for rs in structures:
        try:
            keys.update(required_bucket_keys(rs))
        except ValueError:
            pass  # the engine says why it cannot price this one
    return keys


def varied_plans(count: int, local) -> dict:
    """(a) ``count`` varied plans for one home-year of buckets."""
    structures = [rs for _, rs in plans(count)]
    home = buckets(local, _all_keys(structures))
    started = time.perf_counter()
    results = [price_plan(EngineInputs(rs, home, TDSP)) for rs in structures]
    took = time.perf_counter() - started
    statuses: dict[str, int] = {}
    for r in results:
        statuses[r.status] = statuses.get(r.status, 0) + 1
    return {"plans": count, "seconds": round(took, 4), "us_per_plan": round(took / count * 1e6, 1),
            "statuses": statuses}


def _engine_totals(structures, kwh: np.ndarray) -> np.ndarray:
    inputs = [{ym: {TOTAL: float(v)} for ym, v in zip(MONTHS, row, strict=True)} for row in kwh]
    out = np.empty((len(structures), len(kwh)))
    for p, rs in enumerate(structures):
        for h, home in enumerate(inputs):
            result = price_plan(EngineInputs(rs, home, TDSP))
            assert result.status == "OK", (p, h, result.status, result.reason)
            out[p, h] = result.annual_cost_dollars
    return out


def homes_by_plans(homes: int, count: int, budget_s: float) -> dict:
    """(b) ``homes`` × ``count`` annual totals: engine loop (a subset if over budget) vs numpy."""
    structures = [rs for _, rs in plans(count, kinds=SIMPLE_KINDS, seed=22)]
    kwh = monthly_kwh(homes)
    started = time.perf_counter()
    numpy_cents = np.stack([numpy_annual_cents(rs, kwh, TDSP.per_kwh_cents, TDSP.monthly_cents) for rs in structures])
    numpy_s = time.perf_counter() - started
    probe = min(homes, 20)  # time a few homes first to size the engine run
    started = time.perf_counter()
    _engine_totals(structures, kwh[:probe])
    per_call = (time.perf_counter() - started) / (probe * count)
    measured = homes if per_call * homes * count <= budget_s else max(probe, int(budget_s / (per_call * count)))
    started = time.perf_counter()
    engine = _engine_totals(structures, kwh[:measured])
    engine_s = time.perf_counter() - started
    diff = np.abs(np.round(engine * 100) - numpy_cents[:, :measured])
    assert diff.max() == 0, f"engine and numpy totals differ by up to {diff.max()} cents"
    full_s = engine_s * homes / measured
    return {"homes": homes, "plans": count, "engine_homes_measured": measured, "extrapolated": measured < homes,
            "engine_seconds_measured": round(engine_s, 4), "engine_seconds_full": round(full_s, 2),
            "engine_us_per_call": round(engine_s / (measured * count) * 1e6, 1), "numpy_seconds": round(numpy_s, 5),
            "ratio_engine_over_numpy": round(full_s / numpy_s, 1), "totals_agree_to_the_cent": True,
            "max_diff_cents": float(diff.max()), "sum_dollars": round(float(numpy_cents.sum()) / 100, 2)}


def interval_vs_buckets(raw, count: int) -> dict:
    """(c) TOU plans for one home-year: interval-level vs bucket-level, times and agreement."""
    structures = [rs for kind, rs in plans(max(count * 7, 7)) if kind.startswith("tou")][:count]
    started = time.perf_counter()
    local = local_readings(*raw)
    by_interval = [price_intervals(rs, local, TDSP) for rs in structures]
    interval_s = time.perf_counter() - started
    started = time.perf_counter()
    home = buckets(local_readings(*raw), _all_keys(structures))
    by_bucket = [price_plan(EngineInputs(rs, home, TDSP)) for rs in structures]
    bucket_s = time.perf_counter() - started
    for a, b in zip(by_interval, by_bucket, strict=True):
        assert a.status in OK and b.status in OK, (a.status, a.reason, b.status, b.reason)
        assert abs(a.annual_cost_dollars - b.annual_cost_dollars) < 0.005, (a.annual_cost_dollars,
                                                                            b.annual_cost_dollars)
    return {"plans": len(structures), "pieces": int(len(local.kwh)), "interval_seconds": round(interval_s, 4),
            "bucket_seconds": round(bucket_s, 4), "agree_to_the_cent": True,
            "annual_dollars": [a.annual_cost_dollars for a in by_interval]}


def table(figures: dict) -> str:
    a, b, c = figures["varied"], figures["grid"], figures["tou"]
    label = " (extrapolated from %d homes)" % b["engine_homes_measured"] if b["extrapolated"] else ""
    return markdown_table(["measure", "figure"], [
        [f"(a) {a['plans']} varied plans, one home-year, price_plan", f"{a['seconds']} s, {a['us_per_plan']} µs/plan"],
        [f"(b) {b['homes']} homes × {b['plans']} plans, price_plan loop{label}", f"{b['engine_seconds_full']} s"],
        ["(b) same totals, numpy", f"{b['numpy_seconds']} s (engine / numpy = {b['ratio_engine_over_numpy']}×)"],
        ["(b) totals agree to the cent", "yes" if b["totals_agree_to_the_cent"] else "NO"],
        [f"(c) {c['plans']} TOU plans, {c['pieces']} pieces: interval-level (incl. local_readings)",
         f"{c['interval_seconds']} s"],
        ["(c) same plans from buckets (incl. local_readings + bucket sums)", f"{c['bucket_seconds']} s"],
        ["(c) interval = bucket totals to the cent", "yes" if c["agree_to_the_cent"] else "NO"],
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plans", type=int, default=1000, help="(a) varied plans")
    parser.add_argument("--homes", type=int, default=10_000, help="(b) homes")
    parser.add_argument("--simple-plans", type=int, default=None, help="(b) plans (default 100, or --plans if less)")
    parser.add_argument("--tou-plans", type=int, default=10, help="(c) TOU plans")
    parser.add_argument("--engine-budget", type=float, default=240.0, help="(b) seconds for the engine loop")
    parser.add_argument("--benchmarks-md", type=Path, default=None, help="write the plan_costs section there")
    args = parser.parse_args()
    simple = args.simple_plans or min(100, args.plans)
    raw = home_year()
    figures = {"varied": varied_plans(args.plans, local_readings(*raw)),
               "grid": homes_by_plans(args.homes, simple, args.engine_budget),
               "tou": interval_vs_buckets(raw, min(args.tou_plans, args.plans))}
    print("plan_costs " + json.dumps(figures), flush=True)
    print(table(figures))
    if args.benchmarks_md:
        write_section("plan_costs", "## Plan costs (`bench/plan_costs.py`)\n\n" + table(figures), args.benchmarks_md)


if __name__ == "__main__":
    main()
