"""The partitioning benchmark runs end to end at a tiny size, twice (the second run reuses both databases),
and its section holds together: both layouts measured, the partitioned plan pruned to the month's partitions,
the write path's rows all written and then removed, the target judged."""

import json
import subprocess
import sys
import uuid

import psycopg
import pytest

from intelliwatt_pipelines_tests.conftest import ADMIN_URL, _postgres_or_skip
from intelliwatt_pipelines_tests.test_bench_dagster_scale import number, table_with
from intelliwatt_pipelines_tests.test_dagster import ROOT

pytestmark = pytest.mark.slow  # two API servers and four fills

START, END = "<!-- partitioning:start -->", "<!-- partitioning:end -->"
ESIIDS, HOMES = 2, 2


def run(tmp_path, prefix: str) -> tuple[str, dict]:
    out, md = tmp_path / "partitioning.json", tmp_path / "BENCHMARKS.md"
    done = subprocess.run([sys.executable, "bench/partitioning.py", "--admin-url", ADMIN_URL.replace(
        "postgresql+psycopg://", "postgresql://"), "--db-prefix", prefix, "--esiids", str(ESIIDS), "--homes",
        str(HOMES), "--requests", "20", "--warmup", "5", "--wrk-seconds", "0", "--out", str(out), "--markdown",
        str(md)], cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    text = md.read_text()
    assert text.count(START) == 1 and text.count(END) == 1
    return text.split(START, 1)[1].split(END, 1)[0], json.loads(out.read_text())


def test_partitioning_benchmark_runs_tiny_and_reruns_on_the_same_databases(tmp_path):
    _postgres_or_skip()
    prefix = f"iw_test_bench_{uuid.uuid4().hex[:8]}"
    try:
        section, result = run(tmp_path, prefix)
        writes = {r["layout"]: r for r in table_with(section, "upsert new month rows/s")}
        assert set(writes) == {"unpartitioned", "partitioned"}
        assert writes["unpartitioned"]["partitions (intervals / days)"] == "0 / 0"
        assert number(writes["partitioned"]["partitions (intervals / days)"].split(" / ")[0]) >= 13  # 2025-01..2026-01
        reads = {r["layout"]: r for r in table_with(section, "EXPLAIN: relations scanned")}
        assert reads["unpartitioned"]["EXPLAIN: relations scanned"] == "`usage_interval`"
        assert reads["partitioned"]["EXPLAIN: relations scanned"] == "`usage_interval_p2025_03`, `usage_interval_p2025_04`"
        assert all(r["errors"] == "0" and r["requests"] == "20" for r in reads.values())
        for layout, v in result["variants"].items():
            new = v["writes"]["new_month"]
            assert new["rows"] == new["written"] == HOMES * 31 * 96, layout  # Chicago January 2026
            assert v["writes"]["revised_month"]["written"] == new["rows"], layout
            assert v["dataset"]["reused"] is False
        assert "one-month query p99 <= 20 ms at >= 30M rows: partitioned **not met**" in section  # 70k rows

        _, again = run(tmp_path, prefix)  # the month written before was removed: both databases are reused
        assert all(v["dataset"]["reused"] for v in again["variants"].values())
        assert again["variants"]["partitioned"]["dataset"]["fill"] == result["variants"]["partitioned"]["dataset"]["fill"]
    finally:
        with psycopg.connect(ADMIN_URL.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as conn:
            for suffix in ("unpart", "part"):
                conn.execute(f'DROP DATABASE IF EXISTS "{prefix}_{suffix}" WITH (FORCE)')
