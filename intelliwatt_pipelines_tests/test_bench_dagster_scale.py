"""bench/dagster_scale.py --tiny end to end: it runs on PostgreSQL, writes its BENCHMARKS.md section,
and the figures in it hold together (batching, day partitions at every size, status reads, a new home,
events per run, the one-home rebuild). No timing is asserted."""

import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # runs the scale benchmark

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "bench" / "dagster_scale.py"
START, END = "<!-- dagster_scale:start -->", "<!-- dagster_scale:end -->"
HOMES, CHEAP, DAYS, RUN_FILES, RUN_DAYS = (60, 120), 1_000, 30, 4, 7  # what --tiny runs


def tables(markdown: str) -> list[list[dict[str, str]]]:
    """Every markdown table, as rows of {header: cell}."""
    found, block = [], []
    for line in markdown.splitlines() + [""]:
        if line.startswith("|"):
            block.append([cell.strip() for cell in line.strip().strip("|").split("|")])
        elif block:
            header, rows = block[0], block[2:]  # block[1] is the alignment row
            found.append([dict(zip(header, row, strict=True)) for row in rows])
            block = []
    return found


def table_with(markdown: str, column: str) -> list[dict[str, str]]:
    matches = [t for t in tables(markdown) if t and column in t[0]]
    assert len(matches) == 1, f"expected one table with a {column!r} column, found {len(matches)}"
    return matches[0]


def bullets(text: str) -> list[str]:
    """The first bulleted list in ``text``, one string per item (continuation lines joined)."""
    items = []
    for line in text.strip().splitlines():
        if line.startswith("- "):
            items.append(line[2:])
        elif items and line.startswith("  "):
            items[-1] += " " + line.strip()
        elif items:
            break
    return items


def number(cell: str) -> int:
    return int(cell.replace(",", ""))


def test_tiny_run_writes_a_consistent_section(tmp_path, postgres_url):
    section = run_tiny(tmp_path, postgres_url)
    targets = bullets(section.split("### Targets", 1)[1])
    assert len(targets) == 8 and all(("**met**" in t) != ("**not met**" in t) for t in targets)
    check_sensor(section)
    check_partition_space(section)
    check_status(section)
    check_new_home(section, targets)
    check_ingest_runs(section, targets)
    check_rebuild(targets)


def run_tiny(tmp_path: Path, postgres_url: str) -> str:
    """The script's --tiny run into a file that holds something else too; its section."""
    out = tmp_path / "B.md"
    out.write_text("# Benchmarks\n\nsomething else\n")
    # The script creates and drops its own databases on the server the tests use.
    env = dict(os.environ, INTELLIWATT_TEST_POSTGRES_URL=postgres_url)
    proc = subprocess.run([sys.executable, str(SCRIPT), "--tiny", "--output", str(out)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    text = out.read_text()
    assert "something else" in text  # the section is added, the rest kept
    assert text.count(START) == 1 and text.count(END) == 1
    section = text.split(START, 1)[1].split(END, 1)[0]
    assert "python bench/dagster_scale.py --tiny" in section and "Code measured:" in section
    assert "ESIID x day" not in section
    return section


def check_sensor(section: str) -> None:
    """The sensor: ceil(files / 50) run requests, every file in exactly one, none again while claimed."""
    sensor = table_with(section, "requests x files")
    fresh = {number(r["files listed"]): r for r in sensor if r["scenario"] == "new files" and r["cursor"] == "fresh"}
    assert sorted(fresh) == [*HOMES, CHEAP]
    for listed, row in fresh.items():
        assert number(row["run requests"]) == math.ceil(listed / 50)
        shape = [tuple(map(number, part.split(" x "))) for part in row["requests x files"].split(", ")]
        assert sum(n * files for n, files in shape) == listed and max(files for _, files in shape) == 50
    carried = [r for r in sensor if r["scenario"] == "new files" and r["cursor"] == "carried"]
    assert len(carried) == 1 and number(carried[0]["run requests"]) == 0
    known = {r["cursor"]: r for r in sensor if r["scenario"] == "known files"}
    new_among_known = number(known["fresh"]["files listed"]) - number(known["fresh"]["already known"])
    assert new_among_known > 0 and known["fresh"]["requests x files"] == f"1 x {new_among_known}"
    assert number(known["carried"]["run requests"]) == 0


def check_partition_space(section: str) -> None:
    """Day partitions: the same count and definition id whatever the number of homes."""
    space = table_with(section, "partitions definition id")
    assert [number(r["homes"]) for r in space] == [*HOMES, CHEAP]
    assert {number(r["partitions per asset"]) for r in space} == {DAYS}
    assert len({r["partitions definition id"] for r in space}) == 1
    written = [number(r[f"materializations per asset ({DAYS} days)"]) for r in space[:len(HOMES)]]
    assert written[0] > 0 and written[1] > written[0]  # more homes, more runs, more events
    assert space[-1][f"materializations per asset ({DAYS} days)"] == "not written"


def check_status(section: str) -> None:
    """Status: every day materialized; only the cold read (stored cache wiped) reads the whole log."""
    status = {(number(r["homes"]), r["asset"]): r for r in table_with(section, "status cold s")}
    assert set(status) == {(h, a) for h in HOMES for a in ("usage_intervals", "daily_completeness")}
    for row in status.values():
        assert number(row["materialized partitions"]) == DAYS
        assert row["full-log reads (cold/warm/after run)"] == "1/0/0"
        assert float(row["status cold s"]) > 0 and float(row["UI PartitionHealthQuery s"]) > 0


def check_new_home(section: str, targets: list[str]) -> None:
    """A new home changes nothing in Dagster's status."""
    home = table_with(section, "materialized subset unchanged")
    assert {r["asset"] for r in home} == {"usage_intervals", "daily_completeness"}
    for row in home:
        assert row["definition id unchanged"] == row["stored cache id unchanged"] == "yes"
        assert row["materialized subset unchanged"] == "yes" and row["full-log reads"] == "0"
    assert "**met**" in next(t for t in targets if t.startswith("a new home changes nothing"))


def check_ingest_runs(section: str, targets: list[str]) -> None:
    """Two real ingest runs, one event per asset per day touched."""
    runs = table_with(section, "asset check steps s")
    assert len(runs) == 2 and all(r["success"] == "yes" and number(r["files"]) == RUN_FILES for r in runs)
    events = table_with(section, "days touched (warehouse)")
    for row in events:
        if row["asset"] in ("usage_intervals", "daily_completeness"):
            assert number(row["ASSET_MATERIALIZATION events"]) == number(row["days touched (warehouse)"]) == RUN_DAYS
            assert number(row["distinct days among them"]) == RUN_DAYS and row["events = days"] == "yes"
    assert "**met**" in next(t for t in targets if t.startswith("events per ingest run"))


def check_rebuild(targets: list[str]) -> None:
    """The one-home rebuild: one run, other homes untouched."""
    rebuild = next(t for t in targets if t.startswith("one-home rebuild"))
    assert "**met**" in rebuild and "(1 run," in rebuild and "checksum unchanged" in rebuild
