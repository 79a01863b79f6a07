"""The ESIIDs an upload concerns, for its per-ESIID limit: given with it, in its file name and, for
CSVs and ZIP members, in their ESIID column. A cheap bounded look at the spooled file, not a parse."""

from __future__ import annotations

import csv
import zipfile
import zlib
from typing import TYPE_CHECKING, BinaryIO

from intelliwatt_pipelines import kinds
from intelliwatt_pipelines.esiid import ESIID_RE, esiid_from_filename

if TYPE_CHECKING:
    from intelliwatt_pipelines.cdm.uploads import UploadMeta

# The ESIID scan of a CSV: its ESIID column in the first SCAN_BYTES, at most MAX_ESIIDS distinct values
# (of a ZIP: its first ZIP_MEMBERS members' names and first bytes, SCAN_BYTES decompressed in all).
# SMT writes an ESIID's rows together, so this sees every ESIID of a typical export in bounded work.
SCAN_BYTES = 4 << 20
MAX_ESIIDS = 100
ZIP_MEMBERS = 50
SCAN_CHUNK = 64 << 10
SCANNED_KINDS = (kinds.SMT_INTERVAL, kinds.SMT_INTERVAL_SIMPLE, kinds.SMT_DAILY_READ)
ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, OSError, EOFError, RuntimeError,
              NotImplementedError, ValueError)


def given_esiids(meta: UploadMeta) -> set[str]:
    return {e for e in (meta.esiid, esiid_from_filename(meta.filename)) if e}


def esiids_in_file(path: str, kind: str) -> set[str]:
    """The ESIIDs a spooled file names in its content, as far as a cheap bounded look can tell."""
    if kind in SCANNED_KINDS:
        with open(path, "rb") as f:
            return _esiid_column(f, SCAN_BYTES)[0]
    if kind == kinds.ZIP_PACKAGE:
        return _esiids_in_zip(path)
    return set()  # other kinds (JSON, Green Button, PGP packages): only the ESIIDs given or in the name


def _esiids_in_zip(path: str) -> set[str]:
    """Members' names and first bytes, so wrapping a CSV in a ZIP does not hide its ESIIDs."""
    found, budget = set(), SCAN_BYTES
    try:
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist()[:ZIP_MEMBERS]:
                if budget <= 0 or len(found) >= MAX_ESIIDS:
                    break
                found |= {e for e in [esiid_from_filename(info.filename)] if e}
                with archive.open(info) as member:  # decompresses only what is read: a bomb costs nothing
                    in_member, used = _esiid_column(member, budget)
                found, budget = found | in_member, budget - used
    except ZIP_ERRORS:
        pass  # an unreadable package is the ingest's to quarantine; what was found so far counts
    return set(sorted(found)[:MAX_ESIIDS])


def _esiid_column(binary: BinaryIO, budget: int) -> tuple[set[str], int]:
    """Distinct values of a CSV's ESIID column (as the billing and interval parsers name it) in the
    whole lines of its first ``budget`` bytes, at most MAX_ESIIDS of them; and the bytes read. Read in
    chunks (memory stays small), a cheap look, not a parse: bad rows are passed over."""
    used = 0

    def lines():
        nonlocal used
        rest = b""
        while used < budget and (chunk := binary.read(min(SCAN_CHUNK, budget - used))):
            used += len(chunk)
            whole, _, rest = (rest + chunk).rpartition(b"\n")  # the last piece may be cut: kept for the next chunk
            yield from whole.decode("utf-8", "replace").split("\n") if whole else ()
        if used < budget:
            yield rest.decode("utf-8", "replace")  # the file ended: its last line is whole

    found: set[str] = set()
    try:
        rows = csv.reader(lines())
        header = [name.strip().lstrip("\ufeff") for name in next(rows, [])]
        column = kinds.mapping(header)[0].get("esiid")
        at = header.index(column) if column else None
        for row in rows if at is not None else ():
            value = row[at].strip().lstrip("'") if len(row) > at else ""
            if ESIID_RE.match(value):
                found.add(value)
                if len(found) >= MAX_ESIIDS:
                    break
    except csv.Error:
        pass  # not a well-formed CSV beyond here: what was found so far counts
    return found, used


def concerned_esiids(path: str, kind: str, meta: UploadMeta) -> list[str]:
    """The ESIIDs an upload concerns: given with it, in its file name and, for CSVs and ZIP members, in
    their ESIID column."""
    return sorted(given_esiids(meta) | esiids_in_file(path, kind))
