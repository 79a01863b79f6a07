"""Monthly usage buckets (vendor-apis.md §2.8 a): per home, the real consumption readings in local time,
summed per month and bucket key (``pricing.buckets``), written changed-only (``cdm.usage_buckets``).

A run covers the homes it is given, else those whose buckets are missing, were computed for another key
set or predate a newer interval file. One transaction per chunk of homes. A month is usable when
complete_days / expected_days >= ``min_complete``; a month whose windows do not add up to their totals
(USAGE_BUCKET_SUM_MISMATCH) is logged and counted but still stored: the engine refuses to price it.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

import sqlalchemy as sa

from intelliwatt_pipelines.cdm import usage_buckets as store
from intelliwatt_pipelines.pii import mask
from intelliwatt_pipelines.pricing.buckets import boundaries, bucket_sums, sum_mismatches
from intelliwatt_pipelines.pricing.keys import parse_key
from intelliwatt_pipelines.pricing.localtime import local_readings, step_for

log = logging.getLogger("intelliwatt.plans")
SLACK = 1e-9  # 30/30 days is usable at threshold 1.0 whatever the float division does


@dataclass
class BucketRun:
    """What one run did: homes computed, their months (with readings) and usable months, bucket rows
    inserted/updated/deleted/unchanged; ``mismatches`` describes each month failing the sum invariant
    (masked ESIID, month, what is off)."""

    homes: int = 0
    months: int = 0
    usable_months: int = 0
    inserted: int = 0
    updated: int = 0
    deleted: int = 0
    unchanged: int = 0
    mismatches: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Spec:
    keys: tuple[str, ...]
    sha: str
    step: int
    now: dt.datetime
    min_complete: float


def usable(complete_days: int, expected_days: int, min_complete: float) -> bool:
    return bool(expected_days) and complete_days / expected_days >= min_complete - SLACK


def compute_home(conn: sa.Connection, esiid: str, spec: _Spec, run: BucketRun) -> None:
    """One home's buckets and home row, in the caller's transaction."""
    through = store.latest_normalized(conn, esiid)  # before the readings: a file landing meanwhile recomputes
    readings = local_readings(*store.real_readings(conn, esiid), step_minutes=spec.step)
    sums = bucket_sums(readings, spec.keys)
    complete = store.complete_days(conn, esiid)
    rows, usable_months = {}, 0
    for i, ym in enumerate(sums.months):
        days = (complete.get(ym, 0), store.days_in_month(ym))
        usable_months += usable(*days, spec.min_complete)
        for j, key in enumerate(sums.keys):
            rows[(ym, key)] = (float(sums.kwh[i, j]), int(sums.intervals[i, j]), *days)
        for problem in sum_mismatches(dict(zip(sums.keys, map(float, sums.kwh[i]), strict=True))):
            run.mismatches.append(f"{mask(esiid)} {ym}: {problem}")
            log.warning("usage buckets: USAGE_BUCKET_SUM_MISMATCH %s %s: %s", mask(esiid), ym, problem)
    counts = store.write_buckets(conn, esiid, rows, spec.now)
    first = store.home_row(conn, esiid) is None
    store.write_home(conn, {"esiid": esiid, "keys_sha256": spec.sha, "through_normalized_at": through,
                            "months": len(sums.months), "usable_months": usable_months, "computed_at": spec.now},
                     changed=first or counts.written > 0)
    run.homes += 1
    run.months += len(sums.months)
    run.usable_months += usable_months
    run.inserted += counts.inserted
    run.updated += counts.updated
    run.deleted += counts.deleted
    run.unchanged += counts.unchanged


def compute_buckets(engine: sa.Engine, keys, *, esiids: list[str] | None = None, chunk_homes: int = 500,
                    now: dt.datetime | None = None, min_complete: float = 1.0) -> BucketRun:
    """Buckets for ``keys`` (the core keys and those the plans need) of ``esiids`` (None: the homes that
    need it, ``homes_to_compute``)."""
    names = tuple(sorted({str(parse_key(k)) for k in keys}))  # refuses a malformed key before any write
    spec = _Spec(names, store.keys_sha256(names), step_for(boundaries(names)),
                 now or dt.datetime.now(dt.timezone.utc), min_complete)
    if esiids is None:
        with engine.connect() as conn:
            esiids = store.homes_to_compute(conn, spec.sha)
    run = BucketRun()
    for start in range(0, len(esiids), chunk_homes):
        chunk = esiids[start:start + chunk_homes]
        with engine.begin() as conn:
            for esiid in chunk:
                compute_home(conn, esiid, spec, run)
        log.info("usage buckets: %d of %d homes (last %s)", run.homes, len(esiids), mask(chunk[-1]))
    log.info("usage buckets: %d homes, %d months (%d usable); rows +%d ~%d -%d =%d; %d sum mismatches",
             run.homes, run.months, run.usable_months, run.inserted, run.updated, run.deleted, run.unchanged,
             len(run.mismatches))
    return run
