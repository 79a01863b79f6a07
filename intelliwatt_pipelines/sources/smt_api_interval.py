"""Smart Meter Texas API interval JSON (``/v2/energydata`` with ``reportFormat: JSON``).

Records sit in ``energyData[]``: ``DT`` (usage date, MM/DD/YYYY), ``RT`` (``C`` consumption, ``G``
generation), ``RevTS`` (revision stamp, a Central clock time) and ``RD``, comma-separated
``"<kWh>-<A|E>"`` tokens. Token *i* starts at local midnight of ``DT`` plus 15·i minutes of elapsed
(UTC) time, so a fall-back day's 100 tokens are 100 distinct instants and no clock time is guessed.
Empty tokens are skipped. A record whose token count does not fit its day fails whole, except a
spring-forward day padded to 96 with the four non-existent slots (positions 8-11) left empty.

The rows are the ones the SMT interval CSV gives for the same day (same source, quality, revised_at),
so precedence and revisions work across both deliveries.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from intelliwatt_pipelines.kinds import SMT_INTERVAL_JSON as KIND
from intelliwatt_pipelines.kinds import field_of, reduced
from intelliwatt_pipelines.model import typed_frame
from intelliwatt_pipelines.sources.errors import ParseError
from intelliwatt_pipelines.sources.frames import (
    UNKNOWN_METER,
    ParsedIntervals,
    Problems,
    ReadingWindow,
    check_esiids,
    check_kwh,
    check_meters,
    localize_central,
    parse_dates,
)

# Bump on a change to how this module turns SMT interval JSON into rows: the assets built with it show
# "Unsynced" (code version) in the Dagster UI until their days are rebuilt (defs/versions.py).
PARSER_VERSION = "1"

CHANNELS = {"C": "consumption", "G": "generation"}
QUALITIES = {"A": "actual", "E": "estimated"}
INTERVAL_MINUTES = 15
SPRING_GAP = range(8, 12)  # 02:00-02:45, the clock times a spring-forward day does not have
MAX_DEPTH = 8  # how deep energyData may be nested in the response
DAY_FORMATS = ["%m/%d/%Y", "%Y-%m-%d"]
REVISION_FORMATS = ["%m/%d/%Y %H:%M:%S", "%m/%d/%Y %H:%M", "%m/%d/%Y", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"]


class _RecordReasons:
    """Record-level reasons (duck-typed as ``Problems`` for ``ReadingWindow.within``): each becomes a
    reason on every reading of the records it marks, so counts stay in readings as for the CSV."""

    def __init__(self, n: int) -> None:
        self.invalid = np.zeros(n, dtype=bool)
        self.reasons: list[tuple[np.ndarray, str]] = []

    def flag(self, mask, reason: str) -> None:
        mask = np.asarray(mask, dtype=bool) & ~self.invalid
        if mask.any():
            self.invalid |= mask
            self.reasons.append((mask, reason))


def _text(value) -> str:
    if value is None:
        return ""
    return str(value).strip().lstrip("'")


def _records(node, inherited: dict, depth: int = 0):
    """(record, esiid and meter fields of the enclosing objects) for every item of an ``energyData`` list."""
    if depth > MAX_DEPTH:
        return
    if isinstance(node, list):
        for item in node:
            yield from _records(item, inherited, depth + 1)
        return
    if not isinstance(node, dict):
        return
    context = {**inherited, **{field_of(k): _text(v) for k, v in node.items()
                               if field_of(k) in ("esiid", "meter") and not isinstance(v, (dict, list))}}
    for key, value in node.items():
        if reduced(key) == "energydata" and isinstance(value, list):
            for item in value:
                yield item, context
        elif isinstance(value, (dict, list)):
            yield from _records(value, context, depth + 1)


def _record_fields(record, context: dict, esiid: str | None, meter: str | None) -> dict:
    """One record's fields as text, and its tokens (``error`` set when it has no readable RD)."""
    if not isinstance(record, dict):
        return {"esiid": "", "meter": "", "DT": "", "RT": "", "RevTS": "", "tokens": [""],
                "error": "energyData item is not an object"}
    by_name = {reduced(k): v for k, v in record.items()}
    own = {field_of(k): _text(v) for k, v in record.items() if field_of(k) in ("esiid", "meter")}
    rd = by_name.get("rd")
    if isinstance(rd, str):
        tokens, error = [t.strip() for t in rd.split(",")], None
    elif isinstance(rd, list) and all(isinstance(t, str) for t in rd):
        tokens, error = [t.strip() for t in rd], None
    else:
        tokens, error = [""], "RD is not a comma-separated list of readings"
    return {
        "esiid": own.get("esiid") or context.get("esiid") or esiid or "",
        "meter": own.get("meter") or context.get("meter") or meter or UNKNOWN_METER,
        "DT": _text(by_name.get("dt")), "RT": _text(by_name.get("rt")).upper(),
        "RevTS": _text(by_name.get("revts")), "tokens": tokens, "error": error,
    }


def _load(text: str, esiid: str | None, meter: str | None) -> pd.DataFrame:
    """One row per record: esiid, meter, DT, RT, RevTS, tokens, error."""
    try:
        doc = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise ParseError(f"interval JSON is not valid JSON: {exc}") from None
    records = [_record_fields(rec, ctx, esiid, meter) for rec, ctx in _records(doc, {})]
    if not records:
        keys = sorted(map(str, doc))[:30] if isinstance(doc, dict) else type(doc).__name__
        raise ParseError(f"interval JSON holds no energyData records; top-level keys: {keys}")
    return pd.DataFrame(records)


def _day_lengths(day: pd.Series) -> tuple[pd.Series, pd.Series]:
    """(local midnight as a UTC instant, how many 15-minute intervals the Central day has) per day."""
    valid = day.notna()
    midnight = pd.Series(pd.NaT, index=day.index, dtype="datetime64[us, UTC]")
    following = midnight.copy()
    if valid.any():
        # Central midnight always exists and is never repeated (clocks change at 02:00).
        midnight[valid] = localize_central(day[valid], np.ones(int(valid.sum()), dtype=bool))
        following[valid] = localize_central(day[valid] + pd.Timedelta(days=1), np.ones(int(valid.sum()), dtype=bool))
    return midnight, ((following - midnight) / pd.Timedelta(minutes=INTERVAL_MINUTES)).fillna(0).astype("int64")


def _placed(records: pd.DataFrame, slots: pd.Series) -> tuple[list[list[int | None]], list[str | None]]:
    """Per record, each token's interval number after midnight (None: dropped as spring-forward
    padding), and the reason a record fails whole because its token count does not fit its day."""
    positions, errors = [], []
    for tokens, expected, error in zip(records["tokens"], slots, records["error"], strict=True):
        count = len(tokens)
        if count == expected + 1 and tokens[-1] == "":  # a trailing comma invents nothing
            count -= 1
        if error is None and expected and count != expected:
            gap_empty = all(tokens[i] == "" for i in SPRING_GAP) if count > max(SPRING_GAP) else False
            if expected == 92 and count == 96 and gap_empty:
                positions.append([i if i < 8 else (None if i < 12 else i - 4) for i in range(len(tokens))])
                errors.append(None)
                continue
            error = f"{count} readings on a {expected}-interval day"
        positions.append(list(range(len(tokens))))
        errors.append(error)
    return positions, errors


def parse(text: str, *, esiid: str | None = None, meter: str | None = None,
          window: ReadingWindow = ReadingWindow()) -> ParsedIntervals:
    """Parse an SMT API interval JSON response; ``esiid``/``meter`` are used when the records and
    their enclosing objects carry none (the request named them)."""
    records = _load(text, esiid, meter)
    rec_problems = _RecordReasons(len(records))
    day = parse_dates(records["DT"], DAY_FORMATS)
    rec_problems.flag(day.isna(), "DT is not a date")
    day = window.within(day, rec_problems, "DT")
    revised = parse_dates(records["RevTS"], REVISION_FORMATS)
    rec_problems.flag(revised.isna() & records["RevTS"].ne(""), "RevTS is not a date-time")
    revised = window.within(revised, rec_problems, "RevTS")
    rec_problems.flag(day > revised.dt.normalize(), "DT is after RevTS")
    rec_problems.flag(~records["RT"].isin(list(CHANNELS)), "RT is not C or G")
    midnight, slots = _day_lengths(day.where(~rec_problems.invalid))
    positions, errors = _placed(records, slots)
    for reason in sorted({e for e in errors if e}):
        rec_problems.flag(np.array([e == reason for e in errors]), reason)
    records = records.assign(
        midnight=midnight, channel=records["RT"].map(CHANNELS), position=positions,
        # A revision stamp inside the spring-forward gap is SMT's clock, not an error: move it on (as the CSV).
        revised_at=localize_central(revised, np.ones(len(records), dtype=bool), "shift_forward"))
    return _readings(records, rec_problems.reasons)


def _readings(records: pd.DataFrame, reasons: list[tuple[np.ndarray, str]]) -> ParsedIntervals:
    """One row per token of every record, checked and placed; failed records' tokens are invalid."""
    rows = records.drop(columns=["error"]).reset_index(drop=True).explode(["tokens", "position"])
    record = rows.index.to_numpy()
    rows = rows.reset_index(drop=True)
    problems = Problems(len(rows), numbered=False)
    for mask, reason in reasons:
        problems.flag(mask[record], reason)
    token = rows["tokens"].fillna("").astype(str)
    parts = token.str.rpartition("-")
    well_formed = token.eq("") | parts[1].eq("-")
    problems.flag(~well_formed, "reading is not <kWh>-<A|E>")
    kwh_text = parts[0].where(well_formed, "")
    check_esiids(rows["esiid"].astype(str), problems)
    check_meters(rows["meter"].astype(str), problems)
    kwh = check_kwh(kwh_text, problems)
    quality = parts[2].str.strip().str.upper().map(QUALITIES)
    problems.flag(quality.isna() & kwh.notna(), "quality is not A or E")
    blank = token.eq("").to_numpy() & ~problems.invalid
    keep = ~problems.invalid & ~blank
    offset = pd.to_timedelta(rows["position"].where(keep, 0).astype("int64") * INTERVAL_MINUTES, unit="min")
    out = pd.DataFrame({
        "esiid": rows["esiid"].astype(str), "meter": rows["meter"].astype(str), "channel": rows["channel"],
        "ts_utc": rows["midnight"] + offset, "interval_minutes": INTERVAL_MINUTES, "kwh": kwh,
        "quality": quality, "revised_at": rows["revised_at"],
    })[keep]
    repeat = out.duplicated(["esiid", "meter", "channel", "ts_utc", "revised_at"], keep="first")
    exact = out.duplicated(keep="first").to_numpy()
    clash = (repeat & ~exact).to_numpy()
    found = Problems(len(out), numbered=False)
    found.flag(clash, "interval repeated with a different value")
    out = out[~repeat.to_numpy()]
    return ParsedIntervals(
        kind=KIND, frame=typed_frame(out), rows_read=len(rows),
        rows_invalid=int(problems.invalid.sum() + clash.sum()),
        rows_skipped=int(blank.sum() + (exact & ~clash).sum()),
        problems=problems.messages + found.messages,
    )
