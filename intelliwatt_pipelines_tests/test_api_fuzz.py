"""schemathesis against the served OpenAPI schema: no generated request gets a 5xx.

Runs on PostgreSQL (the stricter database: NUL bytes, integer ranges, timestamp ranges) with the
SMT samples ingested, credentials sent, and uploads allowed, so generated requests reach the
queries and the upload relay rather than stopping at auth.
"""

from __future__ import annotations

import dataclasses

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from intelliwatt_pipelines.api import create_app
from intelliwatt_pipelines.cdm.warehouse import create_engine, migrate
from intelliwatt_pipelines.ingest import capture_file, normalize_raw_file
from intelliwatt_pipelines.rawstore import LocalRawStore
from intelliwatt_pipelines_tests.conftest import DATA

API_KEY, ADMIN_TOKEN = "fuzz-key", "fuzz-admin"
HEADERS = {"x-api-key": API_KEY, "x-admin-token": ADMIN_TOKEN}


@pytest.fixture
def api_schema(tmp_path, postgres_url, settings_for_fuzz):
    engine, store = create_engine(postgres_url), LocalRawStore(settings_for_fuzz.raw_store_url)
    migrate(engine)
    for name in ("IntervalMeterUsage_sample_fallback_unpadded.csv",
                 "IntervalMeterUsage_sample_spring_padded_two_channels.csv"):
        normalize_raw_file(engine, store, capture_file(engine, store, DATA / name, source="test").raw_file_id)
    engine.dispose()
    return schemathesis.openapi.from_asgi("/openapi.json", create_app(settings_for_fuzz))


@pytest.fixture
def settings_for_fuzz(tmp_path, postgres_url):
    from intelliwatt_pipelines.config import Settings

    return dataclasses.replace(Settings.from_env(), home=tmp_path, warehouse_url=postgres_url,
                               raw_store_url=str(tmp_path / "raw"), api_keys=(API_KEY,), admin_token=ADMIN_TOKEN,
                               upload_max_bytes=1 << 20, rate_limit_admin=(10**6, 60),
                               rate_limit_customer=(10**6, 60))


def fuzz(schema, mode: GenerationMode, examples: int, headers: dict | None) -> list[str]:
    """Every operation, ``examples`` generated requests each; returns the operations exercised.
    (Driven with hypothesis directly: the schemathesis pytest plugin's lazy fixture loader does not
    work with this pytest.)"""
    done = []
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def no_server_error(case):
            case.call_and_validate(headers=headers, checks=[not_a_server_error])

        try:
            no_server_error()
        except Unsatisfiable:  # nothing to make invalid (e.g. GET /health takes no input)
            assert mode == GenerationMode.NEGATIVE
            continue
        done.append(operation.label)
    return done


@pytest.mark.slow
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["valid", "invalid"])
def test_no_generated_request_gets_a_server_error(api_schema, mode):
    exercised = fuzz(api_schema, mode, 60, HEADERS)
    assert len(exercised) >= (8 if mode == GenerationMode.POSITIVE else 6), exercised  # health, summary: no invalid form


def test_no_generated_request_without_credentials_gets_a_server_error(api_schema):
    fuzz(api_schema, GenerationMode.POSITIVE, 15, None)
