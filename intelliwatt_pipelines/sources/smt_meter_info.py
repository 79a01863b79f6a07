"""SMT meter info CSVs (SFTP; kind ``smt_meter_info_csv``, vendor-apis.md §2.3): one meter per row.

No header sample is published, so columns are mapped by reduced-name families (as ``smt_billing`` maps
meter reads) onto the MeterData fields of ``vendors.smt.meter_fields``; names no family knows are
reported as unmapped. A header without an ESIID column or with fewer than two meter columns fails with
the columns it has. The meter number is the utility meter id, else the serial number, else a plain
meter number column.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from intelliwatt_pipelines import kinds
from intelliwatt_pipelines.sources.errors import ParseError
from intelliwatt_pipelines.sources.frames import ParsedRows, Problems, check_esiids, check_meters, read_csv_text
from intelliwatt_pipelines.vendors.smt.meter_fields import METER_DATA_TEXT, MULTIPLIER

KIND = kinds.SMT_METER_INFO_CSV
# Names beyond each field's own (its SMT name and its column name, both reduced).
_EXTRA: dict[str, tuple[str, ...]] = {
    "esiid": kinds.FAMILIES["esiid"],
    "kwh_meter_multiplier": ("metermultiplier", "kwhmultiplier", "multiplier"),
    "utility_meter_id": ("utilitymeternumber", "utilitymeterno"),
    "meter_serial_number": ("serialnumber", "meterserial", "meterserialno", "serialno"),
    "manufacturer_name": ("manufacturer", "metermanufacturer"),
    "installation_date": ("installdate", "meterinstalldate", "meterinstallationdate"),
    "last_updated": ("lastupdate", "lastupdateddate", "lastupdatedate"),
    "meter_number": ("meternumber", "meterno", "meternum", "meterid", "meter"),  # the last fallback
}
FAMILIES: dict[str, tuple[str, ...]] = {
    "esiid": _EXTRA["esiid"],
    **{name: (kinds.reduced(smt), kinds.reduced(name), *_EXTRA.get(name, ()))
       for name, smt in (MULTIPLIER, *METER_DATA_TEXT)},
    "meter_number": _EXTRA["meter_number"],
}
_FIELD_OF = {name: fld for fld, names in FAMILIES.items() for name in names}
TEXT_FIELDS = [name for name, _ in METER_DATA_TEXT]
COLUMNS = ["esiid", "meter_number", "status", MULTIPLIER[0], *TEXT_FIELDS]
METER_SOURCES = ("utility_meter_id", "meter_serial_number", "meter_number")  # in the order they are taken


@dataclass(kw_only=True)
class ParsedMeterInfo(ParsedRows):
    """Meters (``COLUMNS``: the smt_meter_info fields, status ``ok``), and the names no family knows."""

    unmapped: list[str] = field(default_factory=list)

    def rows(self) -> list[dict]:
        """The meters as dicts, blanks as None (what ``cdm.meter_info.store_meter_info`` takes)."""
        frame = self.frame.astype(object)
        return frame.where(frame.notna(), None).to_dict("records")


def mapping(names: list[str]) -> tuple[dict[str, str], list[str]]:
    """{field: original name} (the first column of a field wins) and the unmapped names."""
    found: dict[str, str] = {}
    for name in names:
        fld = _FIELD_OF.get(kinds.reduced(name))
        if fld is not None and fld not in found:
            found[fld] = name
    return found, [n for n in names if n not in found.values()]


def _header_names(text: str, parsed: list[str]) -> list[str]:
    """The header's names as written (for messages); read_csv_text lower-cases them."""
    names = [name.strip() for name in next(csv.reader([text.split("\n", 1)[0].strip("\r")]), [])]
    return names if len(names) == len(parsed) and len(set(names)) == len(names) else parsed


def _check_layout(cols: dict[str, str], seen: list[str]) -> None:
    meter_cols = kinds.meter_info_columns(seen)
    if "esiid" not in cols or len(meter_cols) < kinds.METER_INFO_MIN_COLUMNS:
        raise ParseError(f"SMT meter info CSV: unknown layout: needs an ESIID column and at least "
                         f"{kinds.METER_INFO_MIN_COLUMNS} of the columns {list(kinds.METER_INFO_COLUMNS)} "
                         f"(names reduced to letters and digits); columns seen: {seen}")
    if not set(METER_SOURCES) & set(cols):
        raise ParseError("SMT meter info CSV: no meter number column (utilityMeterId, meterSerialNumber or "
                         f"meterNumber); columns seen: {seen}")


def _text(raw: pd.DataFrame, cols: dict[str, str], fld: str) -> pd.Series:
    if fld not in cols:
        return pd.Series(None, index=raw.index, dtype=object)
    return raw[cols[fld]].where(raw[cols[fld]].ne(""), None)


def _frame(raw: pd.DataFrame, cols: dict[str, str], problems: Problems) -> pd.DataFrame:
    esiid = raw[cols["esiid"]].str.lstrip("'")
    check_esiids(esiid, problems)
    texts = {name: _text(raw, cols, name) for name in TEXT_FIELDS}
    meter = texts["utility_meter_id"].fillna(texts["meter_serial_number"]).fillna(_text(raw, cols, "meter_number"))
    problems.flag(meter.isna().to_numpy(), "no utility meter id or meter serial number")
    check_meters(meter.fillna("-"), problems)
    multiplier_text = _text(raw, cols, MULTIPLIER[0]).fillna("").str.replace(",", "", regex=False)
    multiplier = pd.to_numeric(multiplier_text, errors="coerce")
    problems.flag((multiplier.isna() & multiplier_text.ne("")).to_numpy(), "kWh meter multiplier is not a number")
    problems.flag(~np.isfinite(multiplier.fillna(0)).to_numpy(), "kWh meter multiplier is not finite")
    return pd.DataFrame({"esiid": esiid, "meter_number": meter, "status": "ok", MULTIPLIER[0]: multiplier,
                         **texts})[COLUMNS]


def parse(text: str) -> ParsedMeterInfo:
    """An SMT meter info CSV. Rows repeating a meter (ESIID, meter number): the last one is kept, the
    others counted as skipped."""
    raw = read_csv_text(text)
    seen = _header_names(text, [str(c) for c in raw.columns])
    raw.columns = seen
    cols, unmapped = mapping(seen)
    _check_layout(cols, seen)
    problems = Problems(len(raw))
    frame = _frame(raw, cols, problems)
    valid = frame[~problems.invalid]
    repeated = valid.duplicated(["esiid", "meter_number"], keep="last")
    out = valid[~repeated].reset_index(drop=True)
    return ParsedMeterInfo(kind=KIND, frame=out, rows_read=len(raw), rows_invalid=int(problems.invalid.sum()),
                           rows_skipped=int(repeated.sum()), problems=problems.messages, unmapped=unmapped)
