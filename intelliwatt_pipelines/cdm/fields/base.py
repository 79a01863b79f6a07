"""What a column declaration holds, and the columns several tables share (ESIID, meter, channel).

Pure: no SQLAlchemy, pandas or Dagster. ``cdm.tables`` builds the SQL columns from these
declarations, ``cdm.schemas`` the pandera checks, ``defs`` the Dagster column schemas, and the
README's column tables are rendered from them (``python -m intelliwatt_pipelines.cdm.fields --markdown``).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field

from intelliwatt_pipelines import bounds
from intelliwatt_pipelines.esiid import ESIID_RE

# Column types, by their PostgreSQL names. ``bigserial`` is an autoincrementing surrogate key and
# ``id`` a column holding one (both INTEGER on SQLite, which autoincrements INTEGER only).
TYPES = ("bigserial", "id", "bigint", "integer", "smallint", "float", "boolean", "text", "date", "timestamptz")
VARCHAR = re.compile(r"varchar\((\d+)\)")


@dataclass(frozen=True)
class Pattern:
    """A pattern a text column's values match, and how the docs say it."""

    regex: re.Pattern
    label: str


@dataclass(frozen=True)
class Field:
    """One column: its name, type, nullability, unit, allowed values, bounds and meaning."""

    name: str
    type: str  # one of TYPES, or varchar(N)
    description: str
    nullable: bool = False
    unique: bool = False  # no two rows share a value (a key column is not marked: the key is the table's)
    unit: str | None = None
    # value -> what it means ("" when the value says it); empty: any value of the type
    allowed: dict = field(default_factory=dict)
    sql_check: bool = False  # the warehouse enforces ``allowed`` (CHECK constraint ck_<table>_<name>)
    pattern: Pattern | None = None
    ge: float | None = None  # bounds: at least, at most, below
    le: float | None = None
    lt: float | None = None

    def __post_init__(self):
        if self.type not in TYPES and not VARCHAR.fullmatch(self.type):
            raise ValueError(f"column {self.name}: unknown type {self.type!r}")
        if self.sql_check and not self.allowed:
            raise ValueError(f"column {self.name}: a CHECK needs allowed values")

    @property
    def length(self) -> int | None:
        match = VARCHAR.fullmatch(self.type)
        return int(match.group(1)) if match else None

    @property
    def choices(self) -> tuple:
        return tuple(self.allowed)

    def but(self, **changes) -> Field:
        """The same column as used in another table (another description, say)."""
        return dataclasses.replace(self, **changes)


def values(*names) -> dict:
    """Allowed values that need no explanation, in order."""
    return dict.fromkeys(names, "")


ESIID_PATTERN = Pattern(ESIID_RE, "17 or 22 digits (Texas; 1PWR markets: account number `NNNNSSS`)")
METER_PATTERN = Pattern(bounds.METER_RE, "1-40 letters, digits, `.`, `_` or `-`")
CHANNELS = {"consumption": "energy from the grid", "generation": "surplus sent to the grid"}
INTERVAL_LENGTHS = bounds.INTERVAL_LENGTHS

ESIID = Field("esiid", "varchar(22)", "ESI ID of the premise (1PWR markets: the account number), as delivered",
              pattern=ESIID_PATTERN)
METER = Field("meter", "varchar(40)", "meter number; `unknown` when the file gives none", pattern=METER_PATTERN)
CHANNEL = Field("channel", "varchar(16)", "energy direction", allowed=CHANNELS)
RAW_FILE_ID = Field("raw_file_id", "id", "the raw file")
FIRST_DAY = Field("first_local_date", "date", f"first day ({bounds.CENTRAL_TZ} or the market's zone)")
LAST_DAY = Field("last_local_date", "date", f"last day ({bounds.CENTRAL_TZ} or the market's zone)")
