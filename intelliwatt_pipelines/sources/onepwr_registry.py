"""The 1PWR meter registry CSV (vendor-apis.md §3.1 "Identity"): ``account_number,meter_id,role``, one
row per meter of an account, role ``primary``, ``check`` or ``backup``. A 1Meter id is stored canonical
(``000023022628`` -> ``23022628``), any other meter (a SparkMeter serial) as given. Check meters measure
the same customer in series: they are meters of their own, kept out of the customer's totals.

The registry is what binds a 1Meter reading (which names only its meter) to an account:
``usage_points`` turns a parsed registry into the mapping ``sources.onepwr_iot.parse`` takes.
"""

from __future__ import annotations

import pandas as pd

from intelliwatt_pipelines import kinds, markets
from intelliwatt_pipelines.sources.errors import ParseError
from intelliwatt_pipelines.sources.frames import (
    METER_ROLE_COLUMNS,
    METER_ROLES,
    ParsedMeterRoles,
    Problems,
    check_meters,
    read_csv_text,
)
from intelliwatt_pipelines.sources.onepwr_common import canonical_meter, check_service_points

KIND = kinds.ONEPWR_METER_REGISTRY
# Bump on a change to how registry rows are read (defs/versions.py shows assets "Unsynced").
PARSER_VERSION = "1"


def parse(text: str, *, market: markets.Market | None = None) -> ParsedMeterRoles:
    """Registry rows as (esiid = account, meter, role); a meter under two accounts or with two roles is
    invalid on every row that names it (which one is right is not for a parser to guess)."""
    raw = read_csv_text(text)
    missing = [c for c in kinds.ONEPWR_REGISTRY_HEADER if c not in raw.columns]
    if missing:
        raise ParseError(f"meter registry CSV lacks column(s) {missing}; it has {list(raw.columns)[:20]}")
    problems = Problems(len(raw))
    account, role = raw["account_number"].str.upper(), raw["role"].str.lower()
    check_service_points(account, problems, "account_number", market)
    problems.flag(raw["meter_id"].eq("").to_numpy(), "meter_id is missing")
    meter = raw["meter_id"].map(canonical_meter)
    check_meters(meter, problems)
    problems.flag(~role.isin(METER_ROLES).to_numpy(), f"role is not {', '.join(METER_ROLES)}")
    rows = pd.DataFrame({"esiid": account, "meter": meter, "role": role})
    exact = rows.duplicated(keep="first").to_numpy() & ~problems.invalid
    listed = rows[~problems.invalid & ~exact]
    # One registration per meter: its account and role must be one each across the file.
    conflicting = listed.groupby("meter")[["esiid", "role"]].nunique().max(axis=1) > 1
    ambiguous = set(conflicting[conflicting].index)
    problems.flag((rows["meter"].isin(ambiguous) & ~exact).to_numpy(),
                  "meter is listed with more than one account or role")
    keep = ~problems.invalid & ~exact
    return ParsedMeterRoles(kind=KIND, frame=rows[keep][METER_ROLE_COLUMNS].reset_index(drop=True),
                            rows_read=len(raw), rows_invalid=int(problems.invalid.sum()),
                            rows_skipped=int(exact.sum()), problems=problems.messages)


def usage_points(roles: pd.DataFrame) -> dict[str, tuple[str, str | None]]:
    """{canonical meter id: (account, meter)} from a registry frame: the ``usage_points`` of a 1Meter file."""
    return {str(m): (str(a), str(m)) for a, m in zip(roles["esiid"], roles["meter"], strict=True)}
