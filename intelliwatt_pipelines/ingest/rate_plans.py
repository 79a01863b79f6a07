"""Plans into ``rate_plan`` (vendor-apis.md §2.8 b, c): the curated plan JSON packaged with the project and
any ``*.json``/``*.txt`` (EFL text) in the plans folder, each first kept as a raw file (source ``plans``), then
parsed; and WattBuy's ``retail_offer`` rows. Every plan is classified once here: COMPUTABLE, or
NOT_COMPUTABLE with the engine's reason (an EFL whose modeled averages miss its own table by more than
0.25 ¢ too), so a plan is never priced approximately by accident. A file that does not parse is kept,
marked failed with the reason, and the others go on.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import sqlalchemy as sa

from intelliwatt_pipelines.cdm import rate_plans
from intelliwatt_pipelines.cdm.fields.plans import EFL_TEXT_KIND, PLANS_SOURCE, RATE_PLAN_JSON_KIND
from intelliwatt_pipelines.cdm.raw_files import register
from intelliwatt_pipelines.cdm.tables import raw_file, retail_offer
from intelliwatt_pipelines.ingest.plan_classes import PlanValues, classify, classify_efl, offer_values
from intelliwatt_pipelines.rawstore import RawStore
from intelliwatt_pipelines.sources.rate_plans import PlanParseError, parse_curated_plan

log = logging.getLogger("intelliwatt.plans")
PACKAGED = "data/rate_plans"


@dataclass
class PlanLoad:
    """What one load did: plans by outcome, files that failed (name: reason), plans retired."""

    counts: dict = field(default_factory=lambda: {"new": 0, "changed": 0, "seen": 0})
    failed: dict = field(default_factory=dict)
    retired: int = 0
    not_computable: dict = field(default_factory=dict)  # external id -> reason


def plan_files(plans_dir: Path | None) -> list[tuple[str, bytes]]:
    """(name, bytes) of the packaged curated plans, then the plans folder's ``*.json`` and ``*.txt``."""
    packaged = resources.files("intelliwatt_pipelines").joinpath(PACKAGED)
    files = [(f"package:{entry.name}", entry.read_bytes()) for entry in sorted(packaged.iterdir(), key=lambda e: e.name)
             if entry.name.endswith(".json")]
    if plans_dir and Path(plans_dir).is_dir():
        files += [(path.name, path.read_bytes()) for path in sorted(Path(plans_dir).iterdir())
                  if path.suffix in (".json", ".txt") and path.is_file()]
    return files


def _capture(conn: sa.Connection, store: RawStore, name: str, data: bytes) -> int:
    sha, size, uri = store.put_stream(io.BytesIO(data))
    kind = EFL_TEXT_KIND if name.endswith(".txt") else RATE_PLAN_JSON_KIND
    return register(conn, sha=sha, size=size, uri=uri, source=PLANS_SOURCE, kind=kind, filename=name).raw_file_id


def _settle(conn: sa.Connection, raw_file_id: int, error: str | None, now: dt.datetime) -> None:
    values = {"status": "failed", "error": error} if error else {"status": "normalized", "error": None}
    conn.execute(sa.update(raw_file).where(raw_file.c.id == raw_file_id).values(normalized_at=now, **values))


def _parse(name: str, data: bytes, conn: sa.Connection, as_of: dt.date) -> PlanValues:
    if name.endswith(".txt"):
        return classify_efl(conn, data.decode("utf-8", errors="replace"), as_of=as_of)
    return classify(conn, parse_curated_plan(data), as_of=as_of)


def _store(conn: sa.Connection, load: PlanLoad, plan: PlanValues, now: dt.datetime) -> str:
    plan_id, outcome = rate_plans.upsert_plan(conn, plan.source, plan.external_id, plan.values, now)
    load.counts[outcome] += 1
    if plan.values["plan_calc_status"] != "COMPUTABLE":
        load.not_computable[plan.external_id] = plan.values["plan_calc_reason"]
    return plan.external_id


def load_files(engine: sa.Engine, store: RawStore, plans_dir: Path | None, load: PlanLoad, now: dt.datetime,
               as_of: dt.date) -> None:
    """The curated and EFL files: raw first, then parsed, one transaction per file."""
    listed: dict[str, list[str]] = {"curated": [], "efl": []}
    for name, data in plan_files(plans_dir):
        with engine.begin() as conn:
            raw_id = _capture(conn, store, name, data)
            try:
                plan = _parse(name, data, conn, as_of)
            except (PlanParseError, ValueError) as exc:  # a bad file: kept, marked, the others go on
                load.failed[name] = str(exc)
                _settle(conn, raw_id, f"{type(exc).__name__}: {exc}", now)
                log.warning("plan file %s failed: %s", name, exc)
                continue
            plan.values["raw_file_id"] = raw_id
            listed[plan.source].append(_store(conn, load, plan, now))
            _settle(conn, raw_id, None, now)
    with engine.begin() as conn:
        for source, ids in listed.items():
            load.retired += rate_plans.retire_unlisted(conn, source, ids, now)


def load_offers(engine: sa.Engine, load: PlanLoad, now: dt.datetime, as_of: dt.date) -> None:
    """WattBuy's offers (already raw files and ``retail_offer`` rows) as plans of source ``wattbuy``."""
    with engine.begin() as conn:
        offers = conn.execute(sa.select(retail_offer)).mappings().all()
        ids = [_store(conn, load, offer_values(conn, dict(offer), as_of=as_of), now) for offer in offers]
        load.retired += rate_plans.retire_unlisted(conn, "wattbuy", ids, now)


def load_plans(engine: sa.Engine, store: RawStore, plans_dir: Path | None, *, now: dt.datetime | None = None,
               as_of: dt.date | None = None) -> PlanLoad:
    """Every plan source into ``rate_plan``; ``as_of`` (default today) picks the tariff EFLs are checked with."""
    now = now or dt.datetime.now(dt.timezone.utc)
    as_of = as_of or now.date()
    load = PlanLoad()
    load_files(engine, store, plans_dir, load, now, as_of)
    load_offers(engine, load, now, as_of)
    return load

