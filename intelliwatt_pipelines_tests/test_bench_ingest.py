"""The ingest benchmark runs end to end at a tiny size (``intelliwatt ingest`` on both Dagster instance
kinds included) and its section holds together: the same rows on every path, every target reported,
one materialization per asset per day in every run."""

import math
import subprocess
import sys

import pytest

from intelliwatt_pipelines_tests.test_bench_dagster_scale import bullets, number, table_with
from intelliwatt_pipelines_tests.test_dagster import ROOT

pytestmark = pytest.mark.slow  # runs the ingest benchmark

START, END = "<!-- ingest:start -->", "<!-- ingest:end -->"
HOMES, BATCH = 6, 4  # what --tiny runs
INSTANCES = ("embedded defaults (SQLite)", "deploy/dagster.yaml (PostgreSQL)")


def test_ingest_benchmark_runs_tiny_and_reports_each_target(tmp_path):
    out = tmp_path / "BENCHMARKS.md"
    done = subprocess.run([sys.executable, "bench/ingest.py", "--tiny", "--output", str(out),
                           "--workdir", str(tmp_path / "work")], cwd=ROOT, capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    text = out.read_text()
    assert text.count(START) == 1 and text.count(END) == 1
    section = text.split(START, 1)[1].split(END, 1)[0]

    # Every loader on the same rows: a tiny home-year is 35,040 quarter-hours (+ placeholders).
    loaders = {r["loader"]: r for r in table_with(section, "x ceiling")}
    names = ["ceiling: binary COPY", "naive: executemany", "plain: inbox"] + [f"`intelliwatt ingest`, {i}"
                                                                              for i in INSTANCES]
    rows = {next(r for n, r in loaders.items() if n.startswith(name))["rows stored"] for name in names}
    assert len(rows) == 1 and number(rows.pop()) >= HOMES * 35_000
    assert any(n.startswith("plain, same files again") for n in loaders)

    targets = bullets(section.split("Targets:", 1)[1])
    assert len(targets) == 5 and all(("**met**" in t) != ("**not met**" in t) for t in targets)
    assert targets[0].startswith("Ingest through a real Dagster run >= 0.5 x binary COPY")
    assert "0 rows reported written" in targets[3] and "0 inserted, 0 updated, 0 deleted" in targets[3]

    # Both instance kinds ran the CLI in runs of BATCH files, and succeeded.
    runs = {r["instance"]: r for r in table_with(section, "Dagster overhead per 4-file run s")}
    assert set(runs) == set(INSTANCES)
    assert all(number(r["runs"]) == math.ceil(HOMES / BATCH) and r["success"] == "yes" for r in runs.values())

    # One ASSET_MATERIALIZATION per asset per Central day touched: the generated files cover 2025.
    events = table_with(section, "events = days")
    for instance in INSTANCES:
        by_asset = {r["asset"]: r for r in events if r["instance"] == instance}
        for asset in ("usage_intervals", "daily_completeness"):
            row = by_asset[asset]
            assert row["ASSET_MATERIALIZATION events per run"] == row["days touched per run (warehouse)"] == "365"
            assert row["distinct days among them"] == "365" and row["events = days"] == "yes"
        assert by_asset["billing_reads"]["ASSET_MATERIALIZATION events per run"] == "0"
    assert targets[1].startswith("Materialization events per run = Central days") and "**met**" in targets[1]
