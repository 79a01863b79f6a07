"""Every column fact is declared once, in ``cdm.fields``; this fails when anything made from it, or
standing beside it, disagrees: the SQL tables (as declared, and as the migrations create them), the
pandera checks, the Dagster column schemas, the README's column tables, and the parsers' constants.

Each comparison is also shown failing, on a perturbed copy of the declarations (nothing on disk is
changed)."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pandera.pandas as pa
import pytest
import sqlalchemy as sa

from intelliwatt_pipelines import bounds
from intelliwatt_pipelines.cdm import fields
from intelliwatt_pipelines.cdm.fields.markdown import (
    begin_marker,
    end_marker,
    markdown_table,
)
from intelliwatt_pipelines.cdm.schemas import FRAME_DTYPES, usage_interval_schema
from intelliwatt_pipelines.cdm.tables import metadata, sql_type
from intelliwatt_pipelines.defs.definitions import build_defs

ROOT = Path(__file__).resolve().parent.parent
Decl = tuple[fields.Field, ...]


def perturbed(decl: Decl, column: str, /, **changes) -> Decl:
    """A copy of a table's declarations with one column changed."""
    return tuple(dataclasses.replace(f, **changes) if f.name == column else f for f in decl)


# --- SQL: the declared tables and the migrated database --------------------------------------


def _type_name(type_, dialect) -> str:
    text = type_.compile(dialect=dialect).upper()
    return {"DOUBLE PRECISION": "FLOAT"}.get(text, text)  # PostgreSQL reflects FLOAT so


def _check_values(sqltext: str) -> tuple[str, ...]:
    return tuple(re.findall(r"'([^']*)'", str(sqltext)))


def _declared_checks(decl: Decl) -> dict[str, tuple]:
    return {f.name: f.choices for f in decl if f.sql_check}


def sql_mismatches(table: str, decl: Decl, columns: list[dict], checks: dict[str, tuple], unique: set[str],
                   dialect) -> list[str]:
    """What differs between the declarations and a table's columns (name, type, nullable),
    single-column unique constraints and CHECKed allowed values (column -> values)."""
    found = [(c["name"], _type_name(c["type"], dialect), bool(c["nullable"])) for c in columns]
    declared = [(f.name, _type_name(sa.types.to_instance(sql_type(f)), dialect), f.nullable) for f in decl]
    out = [f"{table}: columns {found} != declared {declared}"] if found != declared else []
    if unique != {f.name for f in decl if f.unique}:
        out.append(f"{table}: unique columns {sorted(unique)}")
    if checks != _declared_checks(decl):
        out.append(f"{table}: CHECKed values {checks} != declared {_declared_checks(decl)}")
    return out


def metadata_facts(table: sa.Table) -> tuple[list[dict], dict, set]:
    columns = [{"name": c.name, "type": c.type, "nullable": c.nullable} for c in table.columns]
    checks = {c.name.removeprefix(f"ck_{table.name}_"): _check_values(c.sqltext) for c in table.constraints
              if isinstance(c, sa.CheckConstraint) and c.name.removeprefix(f"ck_{table.name}_") in table.c}
    unique = {c.name for c in table.columns if c.unique}
    return columns, checks, unique


def database_facts(engine: sa.Engine, name: str) -> tuple[list[dict], dict, set]:
    inspector = sa.inspect(engine)
    checks = {c["name"].removeprefix(f"ck_{name}_"): _check_values(c["sqltext"])
              for c in inspector.get_check_constraints(name)
              if c["name"] and c["name"].removeprefix(f"ck_{name}_") in {col.name for col in metadata.tables[name].c}}
    unique = {u["column_names"][0] for u in inspector.get_unique_constraints(name) if len(u["column_names"]) == 1}
    return inspector.get_columns(name), checks, unique


def test_every_table_is_declared_and_every_declaration_a_table():
    assert sorted(fields.TABLES) == sorted(metadata.tables)


@pytest.mark.parametrize("table", list(fields.TABLES))
def test_the_declared_sql_tables_are_made_from_the_fields(table):
    dialect = sa.create_engine("sqlite://").dialect
    assert sql_mismatches(table, fields.TABLES[table], *metadata_facts(metadata.tables[table]), dialect) == []


@pytest.mark.parametrize("warehouse_url", ["sqlite", "postgres"], indirect=True)
def test_the_migrated_database_has_the_declared_columns_and_checks(engine):
    found = {t: sql_mismatches(t, decl, *database_facts(engine, t), engine.dialect)
             for t, decl in fields.TABLES.items()}
    assert {t: m for t, m in found.items() if m} == {}


SQL_PERTURBATIONS = [
    ("raw_file", "sha256", {"type": "varchar(65)"}),
    ("raw_file", "error", {"nullable": False}),
    ("raw_file", "sha256", {"unique": False}),
    ("raw_file", "status", {"allowed": {"received": "", "normalized": "", "failed": ""}}),
    ("usage_interval", "kwh", {"name": "energy"}),
    ("upload", "role", {"sql_check": False}),
    ("daily_completeness", "channel", {"sql_check": True}),
]


@pytest.mark.parametrize(("table", "name", "changes"), SQL_PERTURBATIONS)
@pytest.mark.parametrize("warehouse_url", ["sqlite"], indirect=True)
def test_a_declaration_the_sql_disagrees_with_is_named(engine, table, name, changes):
    decl = perturbed(fields.TABLES[table], name, **changes)
    assert sql_mismatches(table, decl, *metadata_facts(metadata.tables[table]), engine.dialect)
    assert sql_mismatches(table, decl, *database_facts(engine, table), engine.dialect)


# --- pandera ---------------------------------------------------------------------------------

CHECK_KEYS = {"isin": ("allowed", "allowed_values"), "str_matches": ("pattern", "pattern"),
              "greater_than_or_equal_to": ("ge", "min_value"), "less_than_or_equal_to": ("le", "max_value"),
              "less_than": ("lt", "max_value")}


def _declared_checks_of(f: fields.Field) -> dict:
    return {key: value for key, value in (("allowed", list(f.choices) or None),
                                          ("pattern", f.pattern.regex.pattern if f.pattern else None),
                                          ("ge", f.ge), ("le", f.le), ("lt", f.lt)) if value is not None}


def pandera_mismatches(schema: pa.DataFrameSchema, decl: Decl) -> list[str]:
    """Columns whose pandera dtype, nullability or checks (allowed values, pattern, bounds) are not
    what the declarations say."""
    by_name, out = {f.name: f for f in decl}, []
    for name, column in schema.columns.items():
        f = by_name.get(name)
        if f is None:
            out.append(f"{name}: not declared")
            continue
        checks = {}
        for check in column.checks:
            key, statistic = CHECK_KEYS[check.name]
            checks[key] = check.statistics[statistic]
        dtype = pa.Column(str if f.length else FRAME_DTYPES[f.type]).dtype
        if (column.dtype, column.nullable, checks) != (dtype, f.nullable, _declared_checks_of(f)):
            out.append(f"{name}: {column.dtype}, nullable={column.nullable}, {checks} != declared "
                       f"{dtype}, nullable={f.nullable}, {_declared_checks_of(f)}")
    return out


def test_the_interval_schema_checks_what_the_fields_declare():
    assert pandera_mismatches(usage_interval_schema, fields.TABLES["usage_interval"]) == []


@pytest.mark.parametrize(("name", "changes"), [
    ("kwh", {"lt": 500.0}), ("kwh", {"ge": None}), ("quality", {"allowed": {"actual": "", "estimated": ""}}),
    ("interval_minutes", {"allowed": fields.base.values(15, 60)}), ("meter", {"pattern": None}),
    ("esiid", {"nullable": True}), ("ts_utc", {"type": "float"}), ("channel", {"name": "direction"}),
])
def test_a_declaration_the_pandera_schema_disagrees_with_is_named(name, changes):
    assert pandera_mismatches(usage_interval_schema, perturbed(fields.TABLES["usage_interval"], name, **changes))


def test_the_parsers_refuse_interval_kwh_at_the_declared_bound_and_pandera_agrees():
    """One bound: the parsers flag kWh >= it as invalid (sources/frames.py), pandera requires < it."""
    from intelliwatt_pipelines.sources.frames import Problems, check_kwh

    limit = fields.column("usage_interval", "kwh").lt
    assert limit == bounds.MAX_INTERVAL_KWH
    problems = Problems(3)
    check_kwh(pd.Series(["0", str(np.nextafter(limit, 0)), str(limit)]), problems)
    assert problems.invalid.tolist() == [False, False, True]


# --- Dagster column schemas ------------------------------------------------------------------


def dagster_mismatches(schema: dg.TableSchema, decl: Decl) -> list[str]:
    """Where a Dagster column schema's names, types, descriptions or constraints leave the declarations."""
    found = [(c.name, c.type, c.description, c.constraints.nullable, c.constraints.unique,
              tuple(c.constraints.other)) for c in schema.columns]
    declared = [(f.name, fields.type_label(f), f.description, f.nullable, f.unique,
                 tuple(fields.constraints(f, code=str))) for f in decl]
    return [f"{a} != declared {b}" for a, b in zip(found, declared, strict=False) if a != b] + (
        [f"columns {[c[0] for c in found]} != declared {[c[0] for c in declared]}"]
        if len(found) != len(declared) else [])


@pytest.fixture
def column_schemas(settings) -> dict[str, dg.TableSchema]:
    """Each asset's column schema in the definitions, by the table it names."""
    defs = build_defs(settings)
    found = {}
    for spec in defs.resolve_all_asset_specs():
        if "dagster/column_schema" in spec.metadata:
            found[spec.metadata["dagster/table_name"]] = spec.metadata["dagster/column_schema"]
    return found


@pytest.mark.parametrize("warehouse_url", ["sqlite"], indirect=True)
def test_the_dagster_column_schemas_are_the_declared_columns(column_schemas):
    assert set(column_schemas) == {"raw_file", "usage_interval", "daily_completeness", "billing_read",
                                   "billing_reconciliation", "service_point"}
    assert {t: m for t, s in column_schemas.items() if (m := dagster_mismatches(s, fields.TABLES[t]))} == {}


@pytest.mark.parametrize(("table", "name", "changes"), [
    ("raw_file", "kind", {"description": "what it is"}), ("usage_interval", "kwh", {"type": "integer"}),
    ("billing_read", "bill_date", {"nullable": False}), ("daily_completeness", "completeness", {"le": None}),
    ("billing_reconciliation", "status", {"name": "outcome"}),
])
@pytest.mark.parametrize("warehouse_url", ["sqlite"], indirect=True)
def test_a_declaration_the_dagster_schema_disagrees_with_is_named(column_schemas, table, name, changes):
    assert dagster_mismatches(column_schemas[table], perturbed(fields.TABLES[table], name, **changes))


# --- README ----------------------------------------------------------------------------------


def readme_blocks() -> dict[str, str]:
    """table -> the text between its column markers in README.md."""
    text = (ROOT / "README.md").read_text()
    found = dict(re.findall(r"<!-- columns:(\w+):begin[^>]*-->\n(.*?)<!-- columns:\1:end -->", text, re.DOTALL))
    for table in found:
        assert begin_marker(table) in text and end_marker(table) in text, f"README: odd markers of {table}"
    return found


def readme_mismatches(blocks: dict[str, str], tables: dict[str, Decl]) -> list[str]:
    out = [f"README has no column table of {t}" for t in tables if t not in blocks]
    out += [f"README shows a table that is not declared: {t}" for t in blocks if t not in tables]
    return out + [f"README column table of {t} is stale: paste `python -m intelliwatt_pipelines.cdm.fields "
                  f"--markdown {t}` between its markers" for t in tables
                  if t in blocks and blocks[t] != markdown_table(t, tables[t])]


def test_the_readme_column_tables_are_generated_from_the_fields():
    assert readme_mismatches(readme_blocks(), fields.TABLES) == []


@pytest.mark.parametrize("change", ["description", "unit", "drop_table", "extra_table"])
def test_a_readme_table_the_fields_disagree_with_is_named(change):
    tables = dict(fields.TABLES)
    if change == "description":
        tables["upload"] = perturbed(tables["upload"], "via", description="how")
    elif change == "unit":
        tables["usage_interval"] = perturbed(tables["usage_interval"], "kwh", unit="Wh")
    elif change == "drop_table":
        del tables["inbox_claim"]
    else:
        tables["meter_read"] = tables["billing_read"]
    assert readme_mismatches(readme_blocks(), tables)


def readme_heading_keys() -> dict[str, list[str]]:
    """table -> the key its README heading names, as in "### `t`: unique on (`a`, `b`)" or "(key `a`)"."""
    text = (ROOT / "README.md").read_text()
    found = {}
    for table, rest in re.findall(r"^#{3,4} `(\w+)`: (.*)$", text, re.MULTILINE):
        group = re.search(r"\(([^()]*)\)\s*$", rest)
        if group and (names := re.findall(r"`(\w+)`", group.group(1))):
            found[table] = names
    return found


def key_mismatches(headings: dict[str, list[str]], tables: dict[str, sa.Table]) -> list[str]:
    return [f"README heading of {t} names the key {names}, the table's is {[c.name for c in tables[t].primary_key]}"
            for t, names in headings.items() if names != [c.name for c in tables[t].primary_key]]


def test_the_readme_headings_name_the_tables_keys():
    headings = readme_heading_keys()
    # the others say it in words: "one row per distinct byte content", "(same key)"
    assert set(fields.TABLES) - set(headings) == {"raw_file", "billing_reconciliation", "inbox_claim"}
    assert key_mismatches(headings, metadata.tables) == []
    swapped = dict(headings, usage_interval=["esiid", "meter", "ts_utc", "channel"])
    assert key_mismatches(swapped, metadata.tables)


# --- what the parsers and the rest of the code write -----------------------------------------


def test_the_allowed_values_are_what_the_code_writes():
    from intelliwatt_pipelines import kinds
    from intelliwatt_pipelines.bounds import INTERVAL_LENGTHS
    from intelliwatt_pipelines.cdm.uploads import UPLOAD_SOURCE
    from intelliwatt_pipelines.sources import detect, smt_billing
    from intelliwatt_pipelines.sources.frames import UNKNOWN_METER
    from intelliwatt_pipelines.transport.local import LocalInbox

    assert fields.column("usage_interval", "interval_minutes").choices == INTERVAL_LENGTHS
    assert set(fields.column("usage_interval", "source").choices) == set(detect.USAGE_SOURCES.values())
    # SMT's reads, and 1PWR's registers at local midnights (ingest/registers.py writes their source)
    registers = {detect.USAGE_SOURCES[k] for k in (kinds.ONEPWR_IOT_JSON, kinds.THUNDERCLOUD_CUSTOMERS_JSON)}
    assert set(fields.column("billing_read", "source").choices) == {smt_billing.SOURCE_DAILY,
                                                                    smt_billing.SOURCE_MONTHLY} | registers
    assert f"`{UNKNOWN_METER}`" in fields.column("usage_interval", "meter").description
    source = fields.column("raw_file", "source").description
    assert all(f"`{s}`" in source for s in (LocalInbox.source, UPLOAD_SOURCE, "sftp:<host>"))
