"""Cumulative energy registers as interval energy (vendor-apis.md §3): 1PWR's IoT meters report a
non-volatile kWh register (``EnergyActive``, e.g. ``"3.01 kWh"``), ThunderCloud a cumulative
``total_cycle_energy``. Pure: reads in, interval rows and the events that explain what was not turned
into energy out.

Each pair of consecutive reads of a meter gives the energy used in between (the delta):
- spread over the slots the pair covers, in proportion to the time of each slot it covers; a pair
  inside one slot, or exactly one slot long, is ``actual``, a spread over more than one slot is
  ``estimated`` (when it was used within the pair is not known);
- a negative delta is a reset (a reboot, a replaced meter): no energy, the pair's time is a gap;
- a delta above ``max_delta_kwh`` is rejected with its reason (a misread or a register jump), not stored;
- registers count in steps of ``resolution_kwh`` (0.01 kWh): reads are put on that grid first, so float
  noise is never energy, and the slots of a pair add up to its delta (to 1e-9 kWh).
Slots without a covering pair are not invented: completeness counts them as missing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

# Bump on a change to how reads become deltas (defs/versions.py: 1PWR deployments show assets "Unsynced").
RULES_VERSION = "1"
UNITS_KWH = {"kwh": 1.0, "wh": 0.001}
QUANTITY = re.compile(r"\s*([-+]?\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*")
EVENT_COLUMNS = ["meter", "start_utc", "end_utc", "kind", "detail"]
INTERVAL_COLUMNS = ["meter", "ts_utc", "interval_minutes", "kwh", "quality"]


class QuantityError(ValueError):
    """A value that is not a number with one of the expected units."""


def parse_quantity(text: str | float | int, units: dict[str, float] = UNITS_KWH) -> float:
    """``"3.01 kWh"`` -> 3.01, ``"850 Wh"`` -> 0.85 (in the first unit's terms); a bare number is taken as
    that unit. Anything else (another unit, text after the number) is refused with the value named."""
    if isinstance(text, int | float):
        return float(text)
    found = QUANTITY.fullmatch(str(text))
    unit = found[2].lower() if found else None
    if not found or (unit and unit not in units):
        raise QuantityError(f"not a quantity in {'/'.join(units)}: {text!r}")
    return float(found[1]) * (units[unit] if unit else 1.0)


@dataclass(frozen=True)
class RegisterRules:
    slot_minutes: int = 15
    max_delta_kwh: float = 50.0  # ThunderCloud's import discards larger jumps
    resolution_kwh: float = 0.01


DEFAULT_RULES = RegisterRules()

def register_intervals(reads: pd.DataFrame, rules: RegisterRules = DEFAULT_RULES) -> tuple[pd.DataFrame,
                                                                                               pd.DataFrame]:
    """``reads`` (meter, ts_utc, register_kwh) -> (intervals: meter, ts_utc, interval_minutes, kwh, quality;
    events: meter, start_utc, end_utc, kind in {reset, implausible_jump}, detail)."""
    intervals, events = [], []
    for meter, group in reads.groupby("meter", sort=True):
        rows, found = _meter_intervals(str(meter), _on_grid(group, rules), rules)
        intervals.append(rows)
        events.extend(found)
    frame = (pd.concat(intervals, ignore_index=True) if intervals else pd.DataFrame(columns=INTERVAL_COLUMNS))
    return frame, pd.DataFrame(events, columns=EVENT_COLUMNS)


def _on_grid(group: pd.DataFrame, rules: RegisterRules) -> pd.DataFrame:
    """One read per instant (the last delivered), in time order, in whole register steps."""
    group = group.drop_duplicates("ts_utc", keep="last").sort_values("ts_utc")
    steps = np.round(group["register_kwh"].to_numpy(dtype=float) / rules.resolution_kwh).astype(np.int64)
    return pd.DataFrame({"ts_utc": pd.to_datetime(group["ts_utc"], utc=True).to_numpy(), "steps": steps})


def _meter_intervals(meter: str, reads: pd.DataFrame, rules: RegisterRules) -> tuple[pd.DataFrame, list]:
    slot = pd.Timedelta(minutes=rules.slot_minutes)
    energy: dict[pd.Timestamp, float] = {}
    spread: set[pd.Timestamp] = set()
    events = []
    ts, steps = list(pd.DatetimeIndex(reads["ts_utc"], tz="UTC")), reads["steps"].tolist()
    for (t0, s0), (t1, s1) in zip(zip(ts, steps, strict=True), zip(ts[1:], steps[1:], strict=True), strict=False):
        delta = (s1 - s0) * rules.resolution_kwh
        if s1 < s0:
            events.append((meter, t0, t1, "reset", f"register fell {s0 * rules.resolution_kwh:.2f} -> "
                                                   f"{s1 * rules.resolution_kwh:.2f} kWh: no energy, a gap"))
        elif delta > rules.max_delta_kwh:
            events.append((meter, t0, t1, "implausible_jump", f"{delta:.2f} kWh in {t1 - t0} is above "
                                                              f"{rules.max_delta_kwh:g} kWh: rejected"))
        else:
            _spread(energy, spread, t0, t1, s1 - s0, slot, rules.resolution_kwh)
    starts = sorted(energy)
    return pd.DataFrame({"meter": meter, "ts_utc": pd.DatetimeIndex(starts, tz="UTC"),
                         "interval_minutes": rules.slot_minutes, "kwh": [round(energy[s], 9) for s in starts],
                         "quality": ["estimated" if s in spread else "actual" for s in starts]},
                        columns=INTERVAL_COLUMNS), events


def _spread(energy: dict, spread: set, t0: pd.Timestamp, t1: pd.Timestamp, steps: int, slot: pd.Timedelta,
            resolution: float) -> None:
    """Add ``steps`` register steps used over [t0, t1) to the slots it covers, by the time it covers of each."""
    first = t0.floor(slot)
    starts = list(pd.date_range(first, t1 - pd.Timedelta(microseconds=1), freq=slot))
    if not starts:  # two reads at one instant were merged already; nothing covered
        return
    covered = np.array([(min(s + slot, t1) - max(s, t0)) / (t1 - t0) for s in starts])
    exact = covered * steps * resolution
    for start, kwh in zip(starts, exact, strict=True):
        energy[start] = energy.get(start, 0.0) + float(kwh)
    if len(starts) > 1:
        spread.update(starts)
