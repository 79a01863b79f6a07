"""Generated ERCOT TDSP ESIID extracts (vendor-apis.md §2.6) for tests and benchmarks: realistic 22-column
rows (unique ESIIDs, Texas streets, cities and ZIPs, mostly Active) and their ZIPs, written as a stream so a
multi-million-row file never sits in memory. Pure and deterministic for a seed.
"""

from __future__ import annotations

import datetime as dt
import io
import random
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from intelliwatt_pipelines.sources.ercot_extract import LAYOUT_18, LAYOUT_22, friendly_name

DUNS = {"CENTERPOINT": "957877905", "ONCOR": "1039940674000"}
ESIID_PREFIX = {"CENTERPOINT": "100890", "ONCOR": "104437"}  # CenterPoint's are 22 digits, Oncor's 17
STREETS = ("BOXWOOD", "MAIN", "OAK", "PECAN", "BLUEBONNET", "MESQUITE", "CYPRESS", "SAN JACINTO", "LAMAR",
           "TRAVIS", "HOUSTON", "ELM", "LIVE OAK", "MAGNOLIA", "WILLOW", "CEDAR", "BRAZOS", "GUADALUPE",
           "RIO GRANDE", "POST OAK", "WESTHEIMER", "KIRBY", "SHEPHERD", "MONTROSE", "GESSNER", "BISSONNET")
SUFFIXES = ("DR", "ST", "LN", "RD", "AVE", "BLVD", "CT", "CIR", "TRL", "PKWY", "WAY", "PL", "CV", "LOOP")
CITIES = (("BAYTOWN", "CHAMBERS", "77520"), ("HOUSTON", "HARRIS", "77002"), ("HOUSTON", "HARRIS", "77056"),
          ("PASADENA", "HARRIS", "77506"), ("SUGAR LAND", "FORT BEND", "77479"), ("KATY", "HARRIS", "77449"),
          ("DALLAS", "DALLAS", "75201"), ("FORT WORTH", "TARRANT", "76102"), ("ARLINGTON", "TARRANT", "76010"),
          ("PLANO", "COLLIN", "75024"), ("WACO", "MCLENNAN", "76701"), ("TYLER", "SMITH", "75701"))
PREMISES = ("Residential",) * 8 + ("Small Non-Residential", "Large Non-Residential")
STATUSES = ("Active",) * 17 + ("De-Energized", "Inactive")
COLUMNS_22 = len(LAYOUT_22)


def _esiid(tdsp: str, i: int) -> str:
    if tdsp == "ONCOR":
        return f"{ESIID_PREFIX['ONCOR']}{i:011d}"
    return f"{ESIID_PREFIX.get(tdsp, '100890')}{i:016d}"


def extract_row(i: int, rnd: random.Random, tdsp: str = "CENTERPOINT") -> list[str | None]:
    """One 22-column row for the i-th premise (its ESIID depends only on ``i`` and ``tdsp``)."""
    city, county, zip_code = rnd.choice(CITIES)
    if rnd.random() < 0.3:
        zip_code += f"{rnd.randrange(10000):04d}"
    premise = rnd.choice(PREMISES)
    overflow = f"APT {rnd.randrange(1, 400)}" if rnd.random() < 0.2 else None
    orders = f"06/{rnd.randrange(1, 29):02d}/2026,Move In" if rnd.random() < 0.05 else None
    street = f"{rnd.randrange(100, 20000)} {rnd.choice(STREETS)} {rnd.choice(SUFFIXES)}"
    return [_esiid(tdsp, i), street, overflow, city, "TX", zip_code, county, DUNS.get(tdsp, "007923311"),
            f"{rnd.randrange(1, 21):02d}", rnd.choice(STATUSES), premise, "ERCOT", f"_{rnd.choice('ABCDEFGH')}D",
            f"{rnd.choice(STREETS)} SUB", "Y" if rnd.random() < 0.98 else "N", orders, premise,
            "Y", "AMSR" if premise == "Residential" else "AMSM", "N", "M01" if premise == "Residential" else "M04",
            "RESIDENTIAL SERVICE" if premise == "Residential" else "COMMERCIAL SERVICE"]


def extract_rows(n: int, *, seed: int = 0, tdsp: str = "CENTERPOINT", start: int = 0) -> Iterator[list[str | None]]:
    """``n`` rows for premises ``start`` .. ``start + n - 1``: unique ESIIDs, varied addresses."""
    rnd = random.Random(seed)
    for i in range(start, start + n):
        yield extract_row(i, rnd, tdsp)


def to_layout_18(row: list[str | None]) -> list[str | None]:
    """A 22-column row as the older 18-column layout has it."""
    by_name = dict(zip(LAYOUT_22, row, strict=True))
    return [by_name[c] for c in LAYOUT_18]


def csv_line(row: Iterable[str | None]) -> str:
    """One row as ERCOT writes it: every value double-quoted (``""`` inside), a null as nothing."""
    return ",".join("" if v is None else '"' + v.replace('"', '""') + '"' for v in row) + "\r\n"


def write_extract_zip(path_or_file: str | Path | BinaryIO, rows: Iterable[list[str | None]], *, layout: int = 22,
                      member_name: str = "CENTERPOINT_FUL_20260601.csv") -> int:
    """A ZIP of one headerless CSV of ``rows`` (22-column rows; written as ``layout`` 22 or 18; a row of
    another length is written as it is, for tests of bad rows), streamed. The number of rows written."""
    count = 0
    with zipfile.ZipFile(path_or_file, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        # force_zip64: the member's size is not known before it is written and may pass 4 GiB.
        with archive.open(member_name, "w", force_zip64=True) as raw:
            out = io.TextIOWrapper(raw, encoding="utf-8", newline="")
            for row in rows:
                if layout == 18 and len(row) == COLUMNS_22:
                    row = to_layout_18(row)
                out.write(csv_line(row))
                count += 1
            out.flush()
            out.detach()
    return count


def constructed_name(tdsp_token: str, kind: str, published: dt.datetime) -> str:
    """ERCOT's ConstructedName, e.g. ``ext.00000203.0000000000000000.20260603.055219164.ONCOR_ELEC___DAILY.zip``
    (``published`` in ERCOT's local time, as ERCOT names files)."""
    stamp = published.strftime("%Y%m%d.%H%M%S") + f"{published.microsecond // 1000:03d}"
    return f"ext.00000203.0000000000000000.{stamp}.{friendly_name(tdsp_token, kind)}.zip"


__all__ = ["constructed_name", "csv_line", "extract_row", "extract_rows", "to_layout_18", "write_extract_zip"]
