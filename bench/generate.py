"""Realistic SMT interval files for benchmarks: N ESIIDs x M months.

Each file is one home's IntervalMeterUsage CSV as SMT delivers it (raw rendering, CRLF, DST days
exactly as SMT writes them: 100 rows on fall-back with the malformed ``2:00,1:15`` row, four blank
rows on spring-forward). Homes differ in: runs of estimated days, missing days and missing
intervals (gaps), a second channel (solar) for some. A share of homes also gets a revision file:
a week re-delivered later with actual values and a newer REVISION_DATE.

Generating a home-year with the sample generator takes ~0.5 s, so a few distinct homes are
generated and the rest are copies with their own ESIID (bytes differ, so nothing is deduplicated).

    python bench/generate.py OUT_DIR --esiids 1000 --months 12
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
from dataclasses import dataclass
from pathlib import Path

from intelliwatt_pipelines.samples import date_range, smt_interval_csv

FIRST_DAY = dt.date(2025, 1, 1)  # 2025 holds both DST changes (3/9 and 11/2)
DISTINCT_HOMES = 16
REVISED_SHARE = 0.1


@dataclass(frozen=True)
class Dataset:
    files: list[Path]           # one per home, first delivery
    revisions: list[Path]       # later re-deliveries of a week, for REVISED_SHARE of the homes
    days: int


def esiid_for(i: int) -> str:
    # Oncor-style 17-digit ESIIDs for most homes, CenterPoint 22-digit ones for every fifth
    return f"1008901{i:015d}" if i % 5 == 4 else f"10443720{i:09d}"


def _months_later(day: dt.date, months: int) -> dt.date:
    y, m = divmod(day.month - 1 + months, 12)
    return dt.date(day.year + y, m + 1, 1)


def home_template(k: int, days: list[dt.date]) -> bytes:
    """Home ``k``'s year: estimated runs, missing days and intervals, solar on some homes."""
    rng = random.Random(k)
    estimated = set()
    for _ in range(rng.randrange(1, 5)):  # a few estimated runs of 1-3 days
        start = rng.randrange(len(days))
        estimated |= set(days[start:start + rng.randrange(1, 4)])
    missing = {days[rng.randrange(len(days))] for _ in range(rng.randrange(0, 3))}
    kept = [d for d in days if d not in missing]
    channels = ("Consumption", "Surplus Generation") if k % 8 == 7 else ("Consumption",)
    data = smt_interval_csv(esiid_for(k), kept, seed=k, channels=channels, estimated_days=estimated)
    lines = data.split(b"\r\n")
    for _ in range(rng.randrange(0, 6)):  # single missing intervals (the meter skipped a read)
        del lines[rng.randrange(2, len(lines) - 1)]
    return b"\r\n".join(lines)


def revision_of(k: int, days: list[dt.date]) -> bytes:
    """A later delivery of one week of home ``k`` with actual values and a newer revision date."""
    rng = random.Random(10_000 + k)
    start = rng.randrange(max(1, len(days) - 7))
    return smt_interval_csv(esiid_for(k), days[start:start + 7], seed=20_000 + k,
                            revision_lag=dt.timedelta(days=9))


def generate(out: Path, esiids: int, months: int, *, revisions: bool = True) -> Dataset:
    out.mkdir(parents=True, exist_ok=True)
    days = date_range(FIRST_DAY, _months_later(FIRST_DAY, months) - dt.timedelta(days=1))
    templates = [home_template(k, days) for k in range(min(esiids, DISTINCT_HOMES))]
    files, revised = [], []
    for i in range(esiids):
        k = i % len(templates)
        data = templates[k].replace(esiid_for(k).encode(), esiid_for(i).encode())
        path = out / f"IntervalMeterUsage_{i:05d}.csv"
        path.write_bytes(data)
        files.append(path)
        if revisions and random.Random(i).random() < REVISED_SHARE:
            path = out / "revisions" / f"IntervalMeterUsage_{i:05d}_revision.csv"
            path.parent.mkdir(exist_ok=True)
            path.write_bytes(revision_of(k, days).replace(esiid_for(k).encode(), esiid_for(i).encode()))
            revised.append(path)
    return Dataset(files, revised, len(days))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    parser.add_argument("--esiids", type=int, default=100)
    parser.add_argument("--months", type=int, default=12)
    args = parser.parse_args()
    data = generate(args.out, args.esiids, args.months)
    print(f"{len(data.files)} files, {len(data.revisions)} revisions, {data.days} days each, in {args.out}")


if __name__ == "__main__":
    main()
