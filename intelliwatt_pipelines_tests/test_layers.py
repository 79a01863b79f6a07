"""The layer rules hold: import-linter's contracts (pyproject.toml) and what a fresh interpreter loads."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).parent / "data"


def test_import_contracts_hold():
    # lint-imports sits next to the interpreter running the tests (the venv's bin), wherever that venv is.
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def loaded_after(code: str) -> list[str]:
    """The modules a fresh interpreter has loaded after running ``code``."""
    probe = code + "\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    return json.loads(result.stdout.splitlines()[-1])


def under(modules: list[str], *packages: str) -> list[str]:
    return [m for m in modules if any(m == p or m.startswith(p + ".") for p in packages)]


def test_sources_load_no_database_or_dagster():
    sample = DATA / "IntervalMeterUsage_sample_fallback_unpadded.csv"
    modules = loaded_after(
        "import intelliwatt_pipelines.sources\n"
        "from intelliwatt_pipelines import kinds\n"
        "from intelliwatt_pipelines.sources import detect\n"
        f"data = open({str(sample)!r}, 'rb').read()\n"
        f"assert kinds.detect_kind(data[:4096], {sample.name!r}) == 'smt_interval'\n"
        f"assert len(detect.parse_usage_file(data, {sample.name!r}).frame)\n")
    assert under(modules, "sqlalchemy", "psycopg", "dagster") == []
    assert under(modules, *(f"intelliwatt_pipelines.{p}" for p in ("cdm", "ingest", "defs", "api"))) == []


def test_api_loads_no_parser_ingest_or_dagster(tmp_path):
    # The api takes uploads through cdm.uploads (file kinds from kinds.py): no vendor parser, nothing
    # of ingest or defs, no Dagster, whether the app module is only imported or an app is built.
    modules = loaded_after(
        "import dataclasses\n"
        "import intelliwatt_pipelines.api.app\n"
        "from intelliwatt_pipelines.api import create_app\n"
        "from intelliwatt_pipelines.config import Settings\n"
        f"create_app(dataclasses.replace(Settings.from_env(), home={str(tmp_path)!r}, "
        f"warehouse_url={'sqlite:///' + str(tmp_path / 'w.db')!r}, raw_store_url={str(tmp_path / 'raw')!r}))\n")
    assert "intelliwatt_pipelines.api.app" in modules
    assert under(modules, "dagster", *(f"intelliwatt_pipelines.{p}" for p in ("sources", "ingest", "defs"))) == []
