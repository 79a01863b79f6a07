"""ERCOT TDSP ESIID extracts (vendor-apis.md §2.6): file names and the headerless, fully quoted CSV of
their ZIP member, read as a stream in chunks of typed rows. Pure: no database.

Layouts are told apart per row by column count: 22 (current) or 18 (older: no ADDRESS_OVERFLOW and
COUNTY, nor the two METERED_SERVICE_TYPE columns). Any other count, an invalid ESIID, an unknown status
or a value too long for its column is a row error with its line number; a file whose first rows are
all of an unknown layout is refused whole (``LayoutError``). An empty field, quoted or not, is null.
"""

from __future__ import annotations

import csv
import io
import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from intelliwatt_pipelines import address
from intelliwatt_pipelines.esiid import ESIID_RE
from intelliwatt_pipelines.pii import mask

KINDS = ("FUL", "DAILY")
TOKEN_WIDTH = 13
# The friendly name's TDSP token -> service_point.tdsp_code (cdm.fields.reference.TDSP_CODES).
TDSP_TOKENS = {"CENTERPOINT": "CENTERPOINT", "ONCOR_ELEC": "ONCOR", "AEP_CENTRAL": "AEP_CENTRAL",
               "AEP_NORTH": "AEP_NORTH", "AEP_TEXAS_SP": "AEP_TEXAS_SP", "TNMP": "TNMP", "LUBBOCK": "LUBBOCK",
               "NUECES_ELEC": "NUECES", "ENTERGY_GULF": "ENTERGY", "SHARYLAND": "SHARYLAND",
               "SWEPCO_ENERG": "SWEPCO"}
DUNS_TDSP = {"957877905": "CENTERPOINT", "1039940674000": "ONCOR"}
STATUSES = {s.upper(): s for s in ("Active", "Inactive", "De-Energized")}

# Source columns, in file order; None marks a column the layout lacks.
LAYOUT_22 = ("esiid", "address", "address_overflow", "city", "state", "zipcode", "county", "duns",
             "meter_read_cycle", "status", "premise_type", "power_region", "station_code", "station_name",
             "metered", "open_service_orders", "polr_customer_class", "settlement_ams_indicator",
             "tdsp_ams_indicator", "switch_hold_indicator", "metered_service_type", "metered_service_type_desc")
LAYOUT_18 = tuple(c for c in LAYOUT_22 if c not in ("address_overflow", "county", "metered_service_type",
                                                    "metered_service_type_desc"))
LAYOUTS = {22: LAYOUT_22, 18: LAYOUT_18}
# What a parsed row holds, in this order (service_point's value columns).
RECORD_COLUMNS = ("esiid", "tdsp_code", "duns", "address", "address_overflow", "city", "state", "zip5", "zip4",
                  "county", "meter_read_cycle", "status", "premise_type", "power_region", "station_code",
                  "station_name", "metered", "open_service_orders", "polr_customer_class",
                  "settlement_ams_indicator", "tdsp_ams_indicator", "switch_hold_indicator",
                  "metered_service_type", "metered_service_type_desc", "norm_line1")
# service_point's varchar lengths (checked against the table by the tests): a longer value is a row
# error here rather than a failed COPY of the whole chunk.
MAX_LENGTHS = {"duns": 16, "state": 2, "meter_read_cycle": 8, "premise_type": 40, "power_region": 16,
               "station_code": 16, "polr_customer_class": 40, "settlement_ams_indicator": 8,
               "tdsp_ams_indicator": 8, "switch_hold_indicator": 8, "metered_service_type": 16}
PROBE_ROWS = 10  # rows all of an unknown layout at the start: the file is refused whole
_CONSTRUCTED = re.compile(r"^ext\.\d+\.\d+\.(\d{8})\.(\d{6})\d*\.([A-Z0-9_]+)\.zip$", re.I)


class LayoutError(ValueError):
    """The file is not an extract of a known layout; the message names the column count seen."""


@dataclass(frozen=True)
class RowError:
    line: int
    reason: str


@dataclass
class Chunk:
    """Up to ``chunk_rows`` valid rows (tuples in ``RECORD_COLUMNS`` order) and the rows refused since
    the previous chunk. ``rows_read`` counts both."""

    records: list[tuple] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    rows_read: int = 0
    layouts: dict[int, int] = field(default_factory=dict)


def parse_friendly_name(name: str) -> tuple[str, str]:
    """``ONCOR_ELEC___DAILY`` (or a ConstructedName, or a file name holding either) -> ``("ONCOR_ELEC", "DAILY")``."""
    base = name.rsplit("/", 1)[-1]
    match = _CONSTRUCTED.match(base)
    if match:
        base = match.group(3)
    for token in sorted(TDSP_TOKENS, key=len, reverse=True):
        found = re.search(rf"(?<![A-Z0-9]){token}_+(FUL|DAILY)(?![A-Z])", base.upper())
        if found:
            return token, found.group(1)
    raise ValueError(f"not an ERCOT extract name (TDSP token then FUL or DAILY): {name!r}")


def friendly_name(tdsp_token: str, kind: str) -> str:
    """``("ONCOR_ELEC", "DAILY")`` -> ``ONCOR_ELEC___DAILY``."""
    return tdsp_token.ljust(TOKEN_WIDTH, "_") + kind


def constructed_timestamp(name: str) -> tuple[str, str] | None:
    """The (YYYYMMDD, HHMMSS) a ConstructedName carries, or None."""
    match = _CONSTRUCTED.match(name.rsplit("/", 1)[-1])
    return (match.group(1), match.group(2)) if match else None


def tdsp_code(token: str) -> str:
    """A friendly name's TDSP token as ``service_point.tdsp_code``."""
    return TDSP_TOKENS[token]


def _value(text: str | None) -> str | None:
    text = text.strip() if text is not None else None
    return text or None


def _typed(values: dict, file_tdsp: str | None) -> tuple:
    """A row's columns by name -> a record; ValueError names what is wrong (never the value)."""
    esiid = values["esiid"] or ""
    if not ESIID_RE.match(esiid):
        raise ValueError("invalid ESIID (17 or 22 digits expected)")
    status = STATUSES.get((values["status"] or "").upper())
    if status is None:
        raise ValueError("status is not Active, Inactive or De-Energized")
    tdsp = DUNS_TDSP.get(values["duns"] or "", file_tdsp)
    if tdsp is None:
        raise ValueError("TDSP unknown: DUNS not known and no TDSP from the file name")
    for column, limit in MAX_LENGTHS.items():
        if values.get(column) is not None and len(values[column]) > limit:
            raise ValueError(f"{column} longer than {limit} characters")
    digits = re.sub(r"\D", "", values["zipcode"] or "")
    metered = {"Y": True, "N": False}.get((values["metered"] or "").upper())
    values = {**values, "tdsp_code": tdsp, "zip5": digits[:5] or None, "zip4": digits[5:9] or None,
              "metered": metered, "address": values["address"] or "",
              "norm_line1": address.normalize_line(values["address"])}
    return tuple(values.get(c) for c in RECORD_COLUMNS)


def parse_row(row: list[str | None], file_tdsp: str | None = None) -> tuple:
    """One CSV row of either layout -> a record (``RECORD_COLUMNS``); ValueError when refused."""
    layout = LAYOUTS.get(len(row))
    if layout is None:
        raise ValueError(f"expected 22 or 18 columns, saw {len(row)}")
    return _typed(dict(zip(layout, map(_value, row), strict=True)), file_tdsp)


def _layout_error(row: list[str]) -> LayoutError:
    shown = [mask(v) if v else "" for v in row[:3]]
    return LayoutError(f"expected 22 or 18 columns, saw {len(row)}: {shown} (first values masked)")


def _probe(rows: Iterator[tuple[int, list[str]]]) -> list[tuple[int, list[str]]]:
    """The first rows, up to the first of a known layout; LayoutError when none of up to PROBE_ROWS is."""
    head: list[tuple[int, list[str]]] = []
    for numbered in rows:
        head.append(numbered)
        if len(numbered[1]) in LAYOUTS:
            return head
        if len(head) >= PROBE_ROWS:
            break
    if head:
        raise _layout_error(head[0][1])
    return head


def numbered_rows(binary_stream: BinaryIO, encoding: str = "utf-8") -> Iterator[tuple[int, list[str]]]:
    """(line number, fields) of every non-blank CSV row; a quoted field may span lines (the number is
    the row's last line)."""
    text = io.TextIOWrapper(binary_stream, encoding=encoding, errors="replace", newline="")
    reader = csv.reader(text, strict=False)
    for row in reader:
        if row:
            yield reader.line_num, row


def read_chunks(binary_stream: BinaryIO, *, chunk_rows: int = 100_000, tdsp_code: str | None = None,
                encoding: str = "utf-8") -> Iterator[Chunk]:
    """The extract's rows in chunks, streamed (one chunk in memory). ``tdsp_code``: the file's TDSP (from
    its name), for rows whose DUNS is not a known one. Undecodable bytes become U+FFFD."""
    rows = numbered_rows(binary_stream, encoding)
    head = _probe(rows)
    chunk = Chunk()
    for line, row in itertools.chain(head, rows):
        chunk.rows_read += 1
        try:
            chunk.records.append(parse_row(row, tdsp_code))
            chunk.layouts[len(row)] = chunk.layouts.get(len(row), 0) + 1
        except ValueError as error:
            chunk.errors.append(RowError(line, str(error)))
        if len(chunk.records) >= chunk_rows:
            yield chunk
            chunk = Chunk()
    if chunk.rows_read:
        yield chunk
