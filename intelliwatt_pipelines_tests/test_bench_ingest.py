"""The ingest benchmark runs end to end at a tiny size and reports every comparison and target."""

import re
import subprocess
import sys

from intelliwatt_pipelines_tests.test_dagster import ROOT


def test_ingest_benchmark_runs_tiny_and_reports_each_target(tmp_path):
    out = tmp_path / "BENCHMARKS.md"
    done = subprocess.run([sys.executable, "bench/ingest.py", "--tiny", "--output", str(out),
                           "--workdir", str(tmp_path / "work")], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    text = out.read_text()
    assert "<!-- ingest:start -->" in text and "<!-- ingest:end -->" in text
    for loader in ("ceiling: binary COPY", "naive: executemany", "ours: inbox", "ours, first ingest",
                   "ours, same files again"):
        assert loader in text
    # the same rows for all three loaders: 3 tiny homes x 35,040 quarter-hours (+ placeholders)
    subset_rows = {int(m.replace(",", "")) for m in re.findall(r"\| 3 \| ([\d,]+) \|", text)}
    assert len(subset_rows) == 1 and subset_rows.pop() >= 3 * 35_000
    assert text.count("**met**") + text.count("**not met**") == 4
    assert "0 rows reported written" in text and "0 inserted, 0 updated, 0 deleted" in text
    assert "Dagster:" in text and "usage partitions" in text
