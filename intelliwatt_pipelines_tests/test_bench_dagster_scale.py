"""bench/dagster_scale.py --tiny end to end: it runs on PostgreSQL, writes its BENCHMARKS.md section,
and the figures in it hold together (batching, partition counts, status reads)."""

import math
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "bench" / "dagster_scale.py"
START, END = "<!-- dagster_scale:start -->", "<!-- dagster_scale:end -->"


def tables(markdown: str) -> list[list[dict[str, str]]]:
    """Every markdown table, as rows of {header: cell}."""
    found, block = [], []
    for line in markdown.splitlines() + [""]:
        if line.startswith("|"):
            block.append([cell.strip() for cell in line.strip().strip("|").split("|")])
        elif block:
            header, rows = block[0], block[2:]  # block[1] is the alignment row
            found.append([dict(zip(header, row)) for row in rows])
            block = []
    return found


def table_with(markdown: str, column: str) -> list[dict[str, str]]:
    matches = [t for t in tables(markdown) if t and column in t[0]]
    assert len(matches) == 1, f"expected one table with a {column!r} column, found {len(matches)}"
    return matches[0]


def number(cell: str) -> int:
    return int(cell.replace(",", ""))


def test_tiny_run_writes_a_consistent_section(tmp_path, postgres_url):
    out = tmp_path / "B.md"
    out.write_text("# Benchmarks\n\nsomething else\n")
    # The script creates and drops its own databases on the server the tests use.
    env = dict(os.environ, INTELLIWATT_TEST_POSTGRES_URL=postgres_url)
    proc = subprocess.run([sys.executable, str(SCRIPT), "--tiny", "--output", str(out)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    text = out.read_text()
    assert "something else" in text  # the section is added, the rest kept
    assert text.count(START) == 1 and text.count(END) == 1
    section = text.split(START, 1)[1].split(END, 1)[0]
    assert "python bench/dagster_scale.py --tiny" in section and "Code measured:" in section

    # The sensor: ceil(files / 50) run requests, every file in exactly one, none again while claimed.
    sensor = {(r["scenario"], r["cursor"]): r for r in table_with(section, "requests x files")}
    batch = sensor[("new files", "fresh")]
    listed = number(batch["files listed"])
    assert listed > 50  # more than one batch
    assert number(batch["run requests"]) == math.ceil(listed / 50)
    shape = [tuple(map(int, part.split(" x "))) for part in batch["requests x files"].split(", ")]
    assert sum(n * files for n, files in shape) == listed and max(files for _, files in shape) == 50
    assert number(sensor[("new files", "carried")]["run requests"]) == 0
    known = sensor[("known files", "fresh")]
    new_among_known = number(known["files listed"]) - number(known["already known"])
    assert new_among_known > 0 and known["requests x files"] == f"1 x {new_among_known}"

    run = table_with(section, "materializations stored")[0]
    assert run["success"] == "yes" and number(run["materializations stored"]) > 0

    # The partition space is ESIIDs x days, and every partition written is reported materialized.
    steps = [(number(r["ESIIDs"]), number(r["days"]), number(r["partitions per asset"]))
             for r in table_with(section, "partitions per asset")]
    assert [esiids for esiids, _, _ in steps] == [3, 10] and all(e * d == p for e, d, p in steps)
    status = {(number(r["ESIIDs"]), r["asset"]): r for r in table_with(section, "status cache cold s")}
    for esiids, _, partitions in steps:
        for asset in ("usage_intervals", "daily_completeness"):
            row = status[(esiids, asset)]
            assert number(row["materialized"]) == number(row["of partitions"]) == partitions
            assert float(row["status cache cold s"]) > 0 and float(row["UI PartitionHealthQuery s"]) > 0

    # A new ESIID invalidates the stored status cache (its key hashes the ESIID list).
    homes = table_with(section, "stored cache key changed")
    assert len(homes) == 4 and all(r["stored cache key changed"] == "yes" for r in homes)
    assert f"{listed:,} new files into {math.ceil(listed / 50)} run request(s)" in section
