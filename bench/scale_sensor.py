"""The inbox sensor at scale: ticks over a day's new files of many homes, and over many known files."""

from __future__ import annotations

import shutil
import statistics
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from bench.dagster_bench import fmt_s, log, timed
from bench.scale_setup import FILE_DAYS, Sizes, defs_for, link_files, recent_days, record_known, write_smt_files


def sensor_tick(defs, instance, cursor=None):
    import dagster as dg

    sensor = defs.resolve_sensor_def("inbox_sensor")
    context = dg.build_sensor_context(instance=instance, cursor=cursor, resources=defs.resources, definitions=defs)
    return sensor.evaluate_tick(context)


@dataclass
class Ticks:
    label: str
    listed: int
    known: int
    cursor: str
    times: list[float]
    per_request: list[int]  # files per run request of the last tick
    last: object = field(default=None, repr=False)

    @property
    def median(self) -> float:
        return statistics.median(self.times)

    @property
    def shape(self) -> str:
        """Requests by size, largest first, e.g. ``20 x 50`` or ``1 x 50, 1 x 20``."""
        counts = Counter(self.per_request)
        return ", ".join(f"{counts[n]} x {n}" for n in sorted(counts, reverse=True)) or "-"

    def row(self) -> list:
        return [self.label, f"{self.listed:,}", f"{self.known:,}", self.cursor, len(self.times), fmt_s(self.median),
                f"{fmt_s(min(self.times))} / {fmt_s(max(self.times))}", f"{len(self.per_request):,}", self.shape]


def measure_ticks(label: str, defs, instance, n: int, listed: int, known: int, cursor=None,
                  carried: bool = False) -> Ticks:
    """``n`` ticks. Fresh: every tick from no cursor (a first tick: nothing claimed yet). Carried: each tick
    gets the previous tick's cursor (the steady state while the claimed files' runs are pending)."""
    times, result = [], None
    for _ in range(n):
        seconds, result = timed(sensor_tick, defs, instance, cursor)
        times.append(seconds)
        if carried:
            cursor = result.cursor
    per_request = [len(r.run_config["ops"]["raw_files"]["config"]["entries"]) for r in result.run_requests or []]
    ticks = Ticks(label, listed, known, "carried" if carried else "fresh", times, per_request, result)
    log(f"  {label}, {listed:,} listed ({ticks.cursor} cursor): median {ticks.median:.3f} s, "
        f"{len(per_request):,} request(s)")
    return ticks


def sensor_section(work: Path, instance, sizes: Sizes, warehouse_url: str) -> list[Ticks]:
    one = write_smt_files(work / "one_file", range(1), recent_days(FILE_DAYS))[0]
    ticks = []
    for homes in (*sizes.homes, sizes.cheap_homes):  # a day's delivery: one new file per home
        folder = work / f"inbox_new_{homes}"
        link_files(folder, homes, one)
        defs = defs_for(folder)
        ticks.append(measure_ticks("new files", defs, instance, sizes.ticks, homes, 0))
        if homes == sizes.homes[1]:
            ticks.append(measure_ticks("new files", defs, instance, sizes.ticks, homes, 0,
                                       cursor=ticks[-1].last.cursor, carried=True))
        shutil.rmtree(folder)
    folder = work / "inbox_known"
    link_files(folder, sizes.known_files, one)
    record_known(folder, warehouse_url)
    write_smt_files(folder, range(sizes.known_new), recent_days(FILE_DAYS))
    defs, listed = defs_for(folder), sizes.known_files + sizes.known_new
    ticks.append(measure_ticks("known files", defs, instance, sizes.ticks, listed, sizes.known_files))
    ticks.append(measure_ticks("known files", defs, instance, sizes.ticks, listed, sizes.known_files,
                               cursor=ticks[-1].last.cursor, carried=True))
    return ticks
