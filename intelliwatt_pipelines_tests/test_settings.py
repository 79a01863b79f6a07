"""Settings as one typed model: a bad value fails at start naming the variable; the README table is the model."""

import dataclasses
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from intelliwatt_pipelines import bounds
from intelliwatt_pipelines.config import FIELDS, Settings, SettingsError, current, env_name
from intelliwatt_pipelines.config.table import markdown_table

ROOT = Path(__file__).resolve().parent.parent
# The three typos: not a number, a boolean word that used to mean false, a percent for a fraction.
BAD = [("INTELLIWATT_INBOX_BATCH_FILES", "fifty", "integer"),
       ("INTELLIWATT_SFTP_DELETE_AFTER_INGEST", "on", "true or false"),
       ("INTELLIWATT_COMPLETENESS_THRESHOLD", "95", "between 0 and 1")]


@pytest.fixture
def env(monkeypatch, tmp_path):
    """An environment with none of the settings' variables, in an empty working folder."""
    for name in [n for n in os.environ if n.startswith("INTELLIWATT_") or n == "GNUPGHOME"]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return monkeypatch


def clean_environ(**extra: str) -> dict[str, str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("INTELLIWATT_", "DAGSTER_"))}
    return {**environ, **extra}


def test_defaults_load_on_an_empty_environment(env, tmp_path):
    settings = Settings.from_env()
    home = tmp_path / ".intelliwatt"
    assert settings == Settings()
    assert settings.home == home and settings.inbox_dir == home / "inbox"
    assert settings.warehouse_url == f"sqlite:///{home / 'warehouse.db'}"
    assert settings.raw_store_url == str(home / "raw")
    assert settings.inbox_batch_files == 50 and settings.completeness_threshold == 0.95
    assert settings.max_invalid_fraction == 0.0 and settings.sftp_delete_after_ingest is False
    assert settings.sftp_folders == ("/adhocusage", "/EnrollmentReports") and settings.sftp_patterns == ()
    assert settings.api_keys == () and settings.admin_token == "" and settings.api_port == 8000
    assert settings.rate_limit_admin == (50, 86400) and settings.rate_limit_customer == (5, 30 * 86400)
    assert settings.rate_limit_customer_esiid == (5, 30 * 86400) and settings.rate_limit_key == (1000, 30 * 86400)
    assert (settings.reading_floor, settings.reading_future_days, settings.max_span_days) == (
        bounds.READING_FLOOR, bounds.READING_FUTURE_DAYS, bounds.MAX_SPAN_DAYS)


@pytest.mark.parametrize(("variable", "value", "expected"), BAD)
def test_a_bad_value_fails_naming_the_variable_and_what_it_expects(env, variable, value, expected):
    env.setenv(variable, value)
    with pytest.raises(SettingsError) as failure:
        Settings.from_env()
    message = str(failure.value)
    assert variable in message and expected in message and repr(value) in message
    assert len(message.splitlines()) == 1 and "pydantic" not in message


def test_every_bad_variable_gets_its_own_line_and_secrets_are_not_echoed(env):
    for variable, value, _ in BAD:
        env.setenv(variable, value)
    env.setenv("INTELLIWATT_SFTP_PORT", "0")
    env.setenv("INTELLIWATT_RATE_LIMIT_KEY", "1000")
    with pytest.raises(SettingsError) as failure:
        Settings.from_env()
    lines = str(failure.value).splitlines()
    assert len(lines) == 5
    assert any("INTELLIWATT_SFTP_PORT" in line and "between 1 and 65535" in line for line in lines)
    assert any("INTELLIWATT_RATE_LIMIT_KEY" in line and "count/window" in line for line in lines)


@pytest.mark.parametrize(("variable", "value"), [
    ("INTELLIWATT_PARTITION_START", "2024-02-30"), ("INTELLIWATT_PARTITION_START", "20240101"),
    ("INTELLIWATT_READING_FLOOR", "yesterday"), ("INTELLIWATT_MAX_INVALID_FRACTION", "-0.1"),
    ("INTELLIWATT_MAX_INVALID_FRACTION", "nan"), ("INTELLIWATT_INGEST_WAIT_SECONDS", "-1"),
    ("INTELLIWATT_API_PORT", "70000"), ("INTELLIWATT_BACKFILL_DAYS_PER_RUN", "0"),
    ("INTELLIWATT_SOURCE_PRECEDENCE", "smt"), ("INTELLIWATT_SFTP_HOST_KEY_POLICY", "accept"),
    ("INTELLIWATT_S3_ADDRESSING", "sideways"), ("INTELLIWATT_DEV_FALLBACK_ESIID", "1044"),
    ("INTELLIWATT_PUBLIC_BASE_URL", "api.example.com"), ("INTELLIWATT_SFTP_DELETE_AFTER_INGEST", "yes"),
])
def test_bounds_and_formats_are_enforced(env, variable, value):
    env.setenv(variable, value)
    with pytest.raises(SettingsError, match=variable):
        Settings.from_env()


def test_valid_overrides_are_typed_and_blank_means_default(env, tmp_path):
    env.setenv("INTELLIWATT_SFTP_DELETE_AFTER_INGEST", "true")
    env.setenv("INTELLIWATT_HOME", str(tmp_path / "elsewhere"))
    env.setenv("INTELLIWATT_RATE_LIMIT_CUSTOMER", "3/2h")
    env.setenv("INTELLIWATT_SFTP_FOLDERS", " /a, /b ,,")
    env.setenv("INTELLIWATT_COMPLETENESS_THRESHOLD", "1")
    env.setenv("INTELLIWATT_INBOX_BATCH_FILES", "  ")  # blank: the default, as before
    env.setenv("GNUPGHOME", str(tmp_path / "gnupg"))
    settings = Settings.from_env()
    assert settings.sftp_delete_after_ingest is True
    assert settings.warehouse_url == f"sqlite:///{tmp_path / 'elsewhere' / 'warehouse.db'}"
    assert settings.rate_limit_customer == (3, 7200) and settings.sftp_folders == ("/a", "/b")
    assert settings.completeness_threshold == 1.0 and settings.inbox_batch_files == 50
    assert settings.gnupghome == str(tmp_path / "gnupg")
    for word, meaning in [("TRUE", True), ("1", True), ("False", False), ("0", False)]:
        env.setenv("INTELLIWATT_SFTP_DELETE_AFTER_INGEST", word)
        assert Settings.from_env().sftp_delete_after_ingest is meaning


def test_derived_settings_are_validated_too(env):
    settings = Settings.from_env()
    assert dataclasses.replace(settings, rate_limit_customer=(2, 3600)).rate_limit_customer == (2, 3600)
    with pytest.raises(ValidationError):
        dataclasses.replace(settings, inbox_batch_files=0)


def test_code_without_a_settings_object_reads_through_the_model(env):
    assert current("s3_addressing") == "path" and current("log_salt") == "intelliwatt"
    env.setenv("INTELLIWATT_S3_ADDRESSING", "virtual")
    assert current("s3_addressing") == "virtual"
    env.setenv("INTELLIWATT_S3_ADDRESSING", "sideways")
    with pytest.raises(SettingsError, match="INTELLIWATT_S3_ADDRESSING"):
        current("s3_addressing")


def test_the_cli_stops_at_start_naming_the_variable(tmp_path):
    home = tmp_path / "home"
    result = subprocess.run([str(Path(sys.executable).parent / "intelliwatt"), "migrate"], capture_output=True,
                            text=True, timeout=120, cwd=tmp_path,
                            env=clean_environ(INTELLIWATT_HOME=str(home), INTELLIWATT_INBOX_BATCH_FILES="fifty"))
    assert result.returncode == 2, result.stderr
    assert "INTELLIWATT_INBOX_BATCH_FILES" in result.stderr and "integer" in result.stderr
    assert "Traceback" not in result.stderr and not home.exists()  # nothing ran


def test_the_dagster_definitions_and_the_api_fail_to_load_naming_the_variable(env, tmp_path):
    result = subprocess.run([sys.executable, "-c", "import intelliwatt_pipelines.defs"], capture_output=True,
                            text=True, timeout=300, cwd=tmp_path,
                            env=clean_environ(INTELLIWATT_COMPLETENESS_THRESHOLD="95"))
    assert result.returncode != 0
    assert re.search(r"SettingsError: .*INTELLIWATT_COMPLETENESS_THRESHOLD.*between 0 and 1", result.stderr)
    from intelliwatt_pipelines.api import create_app

    env.setenv("INTELLIWATT_SFTP_DELETE_AFTER_INGEST", "on")
    with pytest.raises(SettingsError, match="INTELLIWATT_SFTP_DELETE_AFTER_INGEST"):
        create_app()


def test_the_readme_table_is_generated_from_the_model():
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"<!-- settings:begin[^>]*-->\n(.*?)<!-- settings:end -->", readme, re.S)
    assert block, "README.md lost its settings markers"
    assert block.group(1) == markdown_table(), (
        "README configuration table is stale: paste `python -m intelliwatt_pipelines.config --markdown` "
        "between the settings markers")


def test_every_variable_the_package_names_is_a_documented_field():
    names = {env_name(name) for name in FIELDS}
    assert all(info.description for info in FIELDS.values())
    mentioned = set()
    for path in (ROOT / "intelliwatt_pipelines").rglob("*.py"):
        mentioned |= set(re.findall(r"\bINTELLIWATT_[A-Z0-9_]*[A-Z0-9]\b(?![_*])", path.read_text()))
    assert mentioned - names == set()
