"""File kinds: the name of each kind of file we take, and how its first bytes (and name) tell it apart.

A cheap look, no parsing: the parsers (``sources``) read the kinds and column names from here, and
so do ingest and the API's upload acceptance, which must not load a parser (or pandas) to recognize
a file. Packages (PGP, ZIP) are recognized here too; unpacking them is ingest's job.
"""

from __future__ import annotations

import re

PGP_PACKAGE = "pgp_package"
ZIP_PACKAGE = "zip_package"
SMT_INTERVAL = "smt_interval"
SMT_INTERVAL_SIMPLE = "smt_interval_simple"
USAGE_TIMESTAMP_KWH = "usage_timestamp_kwh"
SMT_DAILY_READ = "smt_daily_read"
SMT_MONTHLY_JSON = "smt_monthly_json"
SMT_INTERVAL_JSON = "smt_interval_json"
SMT_METER_INFO_CSV = "smt_meter_info_csv"
GREEN_BUTTON = "green_button"
UNKNOWN = "unknown"

HEAD_BYTES = 4096  # how much of a file the tests below look at
PGP_ARMOUR = b"-----BEGIN PGP MESSAGE-----"
PGP_SUFFIXES = (".asc", ".pgp", ".gpg")
ZIP_MAGIC = b"PK\x03\x04"

SMT_INTERVAL_HEADER = [
    "ESIID", "USAGE_DATE", "REVISION_DATE", "USAGE_START_TIME", "USAGE_END_TIME",
    "USAGE_KWH", "ESTIMATED_ACTUAL", "CONSUMPTION_SURPLUSGENERATION",
]
SIMPLE_LOCAL_HEADER = ["esiid", "meter", "start date/time", "usage (kwh)"]
SIMPLE_UTC_HEADER = ["timestamp", "kwh"]
# SMT API interval JSON: an "energyData" array (the monthly JSON has "monthlyData" records).
_ENERGY_DATA = re.compile(r'"energydata"\s*:\s*\[', re.IGNORECASE)
_FEED = re.compile(r"<(?:[A-Za-z_][\w.-]*:)?feed[\s>]")

# SMT meter reads (daily CSVs, monthly JSON) have no published layout: their columns and fields are
# known by name families. field -> accepted names, reduced to lower-case letters and digits.
FAMILIES: dict[str, tuple[str, ...]] = {
    "esiid": ("esiid", "esiidnumber", "esi", "esiidno", "servicepoint", "premiseesiid"),
    "meter": ("meter", "meternumber", "meterno", "meterid", "meternum", "mtrnum", "meterserialnumber"),
    "day": ("usagedate", "readdate", "date", "day", "usageday", "meterreaddate", "readingdate"),
    "start": ("servicestartdate", "serviceperiodstart", "periodstart", "periodstartdate", "readstart",
              "readstartdate", "startdate", "usagestartdate", "startreaddate", "billstartdate", "fromdate"),
    "end": ("serviceenddate", "serviceperiodend", "periodend", "periodenddate", "readend", "readenddate",
            "enddate", "usageenddate", "endreaddate", "billenddate", "todate"),
    "bill_date": ("billdate", "billingdate", "invoicedate"),
    # SMT's monthly JSON: actl_kwh_usg (actual), mtrd_kwh_usg (metered), blld_kwh_usg (billed)
    "kwh_total": ("kwh", "usagekwh", "totalkwh", "actualkwh", "actlkwhusg", "meteredkwh", "mtrdkwhusg",
                  "consumptionkwh", "kwhusage", "usage", "readkwh", "dailykwh", "monthlykwh", "kwhtotal"),
    "kwh_billed": ("kwhbilled", "billedkwh", "blldkwhusg", "billedusagekwh", "billedusage"),
    "start_reading": ("startreading", "startread", "beginreading", "beginningreading", "startmeterread",
                      "startmeterreading", "previousreading", "priorreading", "beginread"),
    "end_reading": ("endreading", "endread", "endingreading", "endmeterread", "endmeterreading",
                    "currentreading", "presentreading"),
    "tdsp_code": ("tdsp", "tdspcode", "tdspduns", "tdspid"),
    "tdsp_name": ("tdspname", "tdspdescription"),
    "quality": ("estimatedactual", "actualestimated", "quality", "readtype", "aeflag", "readquality",
                "readingquality", "estimatedflag"),
    "revised": ("revisiondate", "revisedat", "revts", "revisiontimestamp", "revisiondatetime", "lastupdate"),
    "channel": ("consumptionsurplusgeneration", "channel", "flowdirection", "readingtype"),
}
_FIELD_OF = {name: fld for fld, names in FAMILIES.items() for name in names}
_RANK = {name: i for names in FAMILIES.values() for i, name in enumerate(names)}
# Interval files have clock columns; a daily file may still have a time-stamped revision column.
_CLOCK = re.compile(r"starttime|endtime|startdatetime|enddatetime|intervalstart|intervalend|^timestamp$|^time$")
DAILY_NAME = re.compile(r"daily\s*meter\s*usage|dailymeterusage", re.IGNORECASE)
# SMT's meter info CSV (SFTP) has no published header: an ESIID column and at least two of these (reduced
# names, matched at the end: KWHMeterMultiplier counts). A file named so is one too, so a layout nobody
# knows fails with its columns instead of as an unrecognized file.
METER_INFO_COLUMNS = ("metermultiplier", "meterserialnumber", "utilitymeterid", "manufacturername", "meterclass")
METER_INFO_MIN_COLUMNS = 2
METER_INFO_NAME = re.compile(r"meter[\s_-]*info", re.IGNORECASE)


def reduced(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", str(name).lower())


def field_of(name: str) -> str | None:
    """The field a name stands for, or None when no family knows it."""
    return _FIELD_OF.get(reduced(name))


def mapping(names: list[str]) -> tuple[dict[str, str], list[str]]:
    """{field: original name} for the names a family knows (the earlier in its family wins), and
    the unmapped names."""
    found: dict[str, str] = {}
    for name in sorted(names, key=lambda n: _RANK.get(reduced(n), 0)):
        fld = field_of(name)
        if fld is not None and fld not in found:
            found[fld] = name
    return found, [n for n in names if n not in found.values()]


def package_kind(data: bytes, filename: str = "") -> str | None:
    """``pgp`` or ``zip`` when the bytes are a package, else None."""
    head = data[:64].lstrip()
    if head.startswith(PGP_ARMOUR) or filename.lower().endswith(PGP_SUFFIXES):
        return "pgp"
    if data[:4] == ZIP_MAGIC:
        return "zip"
    return None


def is_green_button(head: str) -> bool:
    """An Atom feed carrying ESPI resources (by its first few kilobytes), prefixed root or not."""
    return bool(_FEED.search(head)) and "naesb.org/espi" in head


def is_smt_interval(header_line: str) -> bool:
    """An SMT interval file by its first two columns, so a damaged SMT header gets an SMT error."""
    cols = [c.strip().strip('"').upper() for c in header_line.split(",")]
    return cols[:2] == SMT_INTERVAL_HEADER[:2]


def _simple_header(line: str) -> list[str]:
    return [c.strip().strip('"').lower() for c in line.split(",")]


def is_clock_column(name: str) -> bool:
    """A column holding interval clock times (not a revision or update stamp)."""
    return bool(_CLOCK.search(reduced(name))) and field_of(name) != "revised"


def is_daily_read(header_line: str, filename: str = "") -> bool:
    """A daily meter usage CSV: by its name, or a header with a read date and kWh but no times of day."""
    names = [c.strip().strip('"') for c in header_line.split(",")]
    if any(is_clock_column(n) for n in names):  # an interval file, whatever its name
        return False
    if DAILY_NAME.search(filename):  # a package member counts by its package name too
        return True
    found, _ = mapping(names)
    return "kwh_total" in found and bool({"day", "end", "bill_date"} & set(found))


def meter_info_columns(names: list[str]) -> list[str]:
    """The names that are meter info columns (``METER_INFO_COLUMNS``)."""
    return [n for n in names if reduced(n).endswith(METER_INFO_COLUMNS)]


def is_meter_info(header_line: str, filename: str = "") -> bool:
    """An SMT meter info CSV: by a header with an ESIID column and two meter columns, or by its name."""
    names = [c.strip().strip('"') for c in header_line.split(",")]
    has_esiid = any(field_of(n) == "esiid" for n in names)
    if has_esiid and len(meter_info_columns(names)) >= METER_INFO_MIN_COLUMNS:
        return True
    return bool(METER_INFO_NAME.search(filename)) and not is_json(header_line)


def is_json(head: str) -> bool:
    return head.lstrip()[:1] in ("{", "[")


def is_interval_json(head: str) -> bool:
    """SMT API interval JSON, by an ``energyData`` array within the first few kilobytes."""
    return is_json(head) and bool(_ENERGY_DATA.search(head[:HEAD_BYTES]))


# The CSV kinds told apart by their header line alone, in the order they are tried.
HEADER_TESTS = {
    SMT_INTERVAL: is_smt_interval,
    SMT_INTERVAL_SIMPLE: lambda line: _simple_header(line) == SIMPLE_LOCAL_HEADER,
    USAGE_TIMESTAMP_KWH: lambda line: _simple_header(line) == SIMPLE_UTC_HEADER,
}


def first_line(text: str) -> str:
    return text.split("\n", 1)[0].strip().strip("\r")


def header_kind(header: str, filename: str = "") -> str:
    """The kind of a (non Green Button) text file from its first line and name; ``unknown`` if none."""
    if is_json(header):
        return SMT_MONTHLY_JSON
    if is_daily_read(header, filename):
        return SMT_DAILY_READ
    kind = next((kind for kind, test in HEADER_TESTS.items() if test(header)), UNKNOWN)
    # tried last: a file the other kinds know stays theirs
    return SMT_METER_INFO_CSV if kind == UNKNOWN and is_meter_info(header, filename) else kind


def detect_kind(head: bytes, filename: str = "") -> str:
    """The file kind from its first bytes and name, without parsing; ``unknown`` when nothing matches.
    A package is ``pgp_package``/``zip_package`` (the parsers never see one: ingest unpacks it)."""
    if package := package_kind(head, filename):
        return f"{package}_package"
    if is_parquet(head):  # binary: before any look at it as text
        return THUNDERCLOUD_HISTORY_PARQUET
    text = head[:HEAD_BYTES].decode("utf-8-sig", errors="replace")
    if is_green_button(text):
        return GREEN_BUTTON
    if is_interval_json(text):
        return SMT_INTERVAL_JSON
    if onepwr := onepwr_json_kind(text):
        return onepwr
    return header_kind(first_line(text), filename)


# --- 1PWR minigrids (vendor-apis.md §3): vendor JSON answers and the meter registry CSV -----------------
ONEPWR_IOT_JSON = "onepwr_iot_json"
KOIOS_HISTORICAL_JSON = "koios_historical_json"
THUNDERCLOUD_CUSTOMERS_JSON = "thundercloud_customers_json"
# ThunderCloud's daily history files: parquet, the only parquet any vendor of ours delivers, told by its magic.
THUNDERCLOUD_HISTORY_PARQUET = "thundercloud_history_parquet"
PARQUET_MAGIC = b"PAR1"
ONEPWR_METER_REGISTRY = "onepwr_meter_registry"
ONEPWR_REGISTRY_HEADER = ["account_number", "meter_id", "role"]


def _key(name: str) -> str:
    return rf'"{name}"\s*:'


# Keys of the first record are enough: 1Meter S3 backups (meterId + EnergyActive) and the ingest API's
# MeterReading payload (meter_id + energy_active) are arrays of flat objects.
_IOT_S3 = (re.compile(_key("meterId")), re.compile(_key("EnergyActive")))
_IOT_API = (re.compile(_key("meter_id")), re.compile(_key("energy_active")))
_ARRAY_OF_OBJECTS = re.compile(r"\[\s*\{")
_KOIOS_DATA = re.compile(_key("data") + r"\s*\[")
# "pagination" comes after a page's 1,000 rows, beyond the head: a first row's own keys count too.
_KOIOS_ROW = (re.compile(_key("kilowatt_hours")), re.compile(_key("serial_number")))
_TC_CUSTOMERS = re.compile(_key("customers") + r"\s*\[")
_TC_CUSTOMER = (re.compile(_key("code")), re.compile(_key("meters") + r"\s*\["))


def _all(patterns: tuple[re.Pattern, ...], text: str) -> bool:
    return all(p.search(text) for p in patterns)


def onepwr_json_kind(head: str) -> str | None:
    """A 1PWR vendor JSON answer by its first few kilobytes (None for any other JSON or text)."""
    text = head[:HEAD_BYTES].lstrip()
    if text.startswith("["):
        if _ARRAY_OF_OBJECTS.match(text) and (_all(_IOT_S3, text) or _all(_IOT_API, text)):
            return ONEPWR_IOT_JSON
        return THUNDERCLOUD_CUSTOMERS_JSON if _ARRAY_OF_OBJECTS.match(text) and _all(_TC_CUSTOMER, text) else None
    if not text.startswith("{"):
        return None
    if _KOIOS_DATA.search(text) and ('"pagination"' in text or _all(_KOIOS_ROW, text)):
        return KOIOS_HISTORICAL_JSON
    return THUNDERCLOUD_CUSTOMERS_JSON if _TC_CUSTOMERS.search(text) else None


HEADER_TESTS[ONEPWR_METER_REGISTRY] = lambda line: _simple_header(line) == ONEPWR_REGISTRY_HEADER


def is_parquet(head: bytes) -> bool:
    """A parquet file, by the ``PAR1`` magic it starts with (and ends with, beyond the head)."""
    return head[:4] == PARQUET_MAGIC
