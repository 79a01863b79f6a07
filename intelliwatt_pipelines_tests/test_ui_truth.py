"""What the Dagster UI shows is true: "Unsynced" only for a real reason, the partition axis where the
data starts, owners, tags, kinds and freshness on every asset, sensors that say what they need.

Stale status is read the way the UI reads it: GraphQL against the code location in its own code
server process, over the instance the CLI's runs were recorded in.
"""

import datetime as dt
import textwrap
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import pytest

from intelliwatt_pipelines import cli
from intelliwatt_pipelines.config import Settings
from intelliwatt_pipelines.defs.definitions import build_defs
from intelliwatt_pipelines.defs.keys import (
    BILLING_READS,
    DAILY_COMPLETENESS,
    RAW_FILES,
    RECONCILIATION,
    USAGE_INTERVALS,
)
from intelliwatt_pipelines.defs.partitions import partition_start
from intelliwatt_pipelines.samples import smt_interval_csv

DAY_ASSETS = [USAGE_INTERVALS, DAILY_COMPLETENESS, BILLING_READS, RECONCILIATION]
STALE = """query($key: AssetKeyInput!, $partitions: [String!]!) { assetNodeOrError(assetKey: $key) {
  ... on AssetNode { staleStatusByPartition(partitions: $partitions)
                     staleCausesByPartition(partitions: $partitions) { reason category } } } }"""
# The code location as a file: optionally with one parser's version bumped (a code change).
LOCATION = """
from intelliwatt_pipelines.config import Settings
from intelliwatt_pipelines.defs.definitions import build_defs
from intelliwatt_pipelines.sources import smt_interval
{bump}
defs = build_defs(Settings.from_env())
"""


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A fresh local platform (env as deploy/start sets it), the sample ingested by `intelliwatt ingest`."""
    for name, value in {"INTELLIWATT_HOME": tmp_path / "home", "DAGSTER_HOME": tmp_path / "dagster_home",
                        "INTELLIWATT_INBOX_MIN_AGE_SECONDS": "0"}.items():
        monkeypatch.setenv(name, str(value))
    (tmp_path / "dagster_home").mkdir()
    (tmp_path / "dagster_home" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    monkeypatch.delenv("INTELLIWATT_PARTITION_START", raising=False)
    assert cli.main(["migrate"]) == 0
    assert cli.main(["seed"]) == 0
    assert cli.main(["ingest"]) == 0
    return tmp_path


@contextmanager
def ui(tmp_path: Path, bump: str = ""):
    """A GraphQL request context over the code location (in a code server subprocess)."""
    from dagster._core.workspace.context import WorkspaceProcessContext
    from dagster._core.workspace.load_target import PythonFileTarget

    location = tmp_path / f"location{abs(hash(bump))}.py"
    location.write_text(textwrap.dedent(LOCATION.format(bump=bump)))
    with dg.DagsterInstance.get() as instance:
        target = PythonFileTarget(python_file=str(location), attribute="defs", working_directory=str(tmp_path),
                                  location_name="intelliwatt")
        with WorkspaceProcessContext(instance, target, version="") as process:
            context = process.create_request_context()
            errors = context.code_location_errors()
            assert not errors, errors[0].message
            yield instance, context


def stale(context, key: dg.AssetKey, partitions: list[str]) -> dict[str, tuple[str, list[str]]]:
    """partition -> (status, cause categories), as the asset's partition view shows them."""
    from dagster_graphql.test.utils import execute_dagster_graphql

    result = execute_dagster_graphql(context, STALE, {"key": {"path": list(key.path)}, "partitions": partitions})
    assert not result.errors, result.errors
    node = result.data["assetNodeOrError"]
    return {p: (s, [c["category"] for c in causes])
            for p, s, causes in zip(partitions, node["staleStatusByPartition"], node["staleCausesByPartition"], strict=True)}


def materialized(instance, key: dg.AssetKey) -> list[str]:
    return sorted(instance.get_materialized_partitions(key))


@pytest.mark.slow
def test_no_partition_is_unsynced_after_ingest_and_a_new_file_leaves_other_days_in_sync(home):
    with ui(home) as (instance, context):
        for key in DAY_ASSETS:
            days = materialized(instance, key)
            assert days, key
            assert {s for s, _ in stale(context, key, days).values()} == {"FRESH"}, key
        # a day nothing was written on is missing, not stale
        assert stale(context, USAGE_INTERVALS, ["2025-12-15"]) == {"2025-12-15": ("MISSING", [])}
        before = materialized(instance, USAGE_INTERVALS)

    # a later delivery for another home and other days: the days it does not cover stay in sync
    inbox = Path(Settings.from_env().inbox_dir)
    days = [dt.date(2025, 12, 1), dt.date(2025, 12, 2)]
    (inbox / "IntervalMeterUsage_later.csv").write_bytes(smt_interval_csv("10443720000000002", days, seed=5))
    assert cli.main(["ingest"]) == 0
    with ui(home) as (instance, context):
        after = materialized(instance, USAGE_INTERVALS)
        assert set(after) - set(before) == {"2025-12-01", "2025-12-02"}
        for key in (USAGE_INTERVALS, DAILY_COMPLETENESS):
            assert {s for s, _ in stale(context, key, after).values()} == {"FRESH"}, key


def test_a_parser_version_bump_marks_exactly_the_assets_it_feeds_as_changed(home):
    with ui(home, bump='smt_interval.PARSER_VERSION = "2"') as (instance, context):
        for key in (USAGE_INTERVALS, DAILY_COMPLETENESS):
            statuses = stale(context, key, materialized(instance, key))
            assert {s for s, _ in statuses.values()} == {"STALE"}, key
            assert all("CODE" in causes for _, causes in statuses.values()), statuses
        for key in (BILLING_READS, RECONCILIATION):  # not built by the interval parser
            assert {s for s, _ in stale(context, key, materialized(instance, key)).values()} == {"FRESH"}, key


def test_rebuilding_with_the_new_parser_brings_the_days_back_in_sync(home, monkeypatch):
    from intelliwatt_pipelines.sources import smt_interval

    monkeypatch.setattr(smt_interval, "PARSER_VERSION", "2")  # this process now runs the changed code
    assert cli.main(["backfill", "--esiid", "10443720000000001", "--esiid", "1008901000000000000001",
                     "--start", "2025-10-30", "--end", "2026-03-10"]) == 0
    with ui(home, bump='smt_interval.PARSER_VERSION = "2"') as (instance, context):
        for key in DAY_ASSETS:
            assert {s for s, _ in stale(context, key, materialized(instance, key)).values()} == {"FRESH"}, key


def test_the_partition_axis_starts_where_the_data_starts(home, tmp_path, monkeypatch):
    settings = Settings.from_env()
    assert partition_start(settings) == "2025-10-01"  # the sample's first day is 2025-10-30
    monkeypatch.setenv("INTELLIWATT_PARTITION_START", "2025-06-15")
    assert partition_start(Settings.from_env()) == "2025-06-15"  # a set start wins
    # nothing stored yet (a new warehouse): the generated sample's month, not years of empty days
    monkeypatch.setenv("INTELLIWATT_PARTITION_START", "")
    monkeypatch.setenv("INTELLIWATT_WAREHOUSE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    assert partition_start(Settings.from_env()) == "2025-10-01"


def test_every_asset_has_owner_tags_kinds_code_version_and_the_fed_ones_freshness(settings):
    graph = build_defs(settings).resolve_asset_graph()
    fed = {RAW_FILES, USAGE_INTERVALS, BILLING_READS}  # written by deliveries
    for key in [RAW_FILES, *DAY_ASSETS]:
        node = graph.get(key)
        assert node.owners and node.tags.get("layer") and node.tags.get("domain"), key
        assert node.kinds and node.code_version, key
        assert (node.freshness_policy is not None) == (key in fed), key
    window = graph.get(USAGE_INTERVALS).freshness_policy
    assert window.warn_window.to_timedelta().total_seconds() == settings.delivery_lag_hours * 3600
    assert window.fail_window.to_timedelta().total_seconds() == (settings.delivery_lag_hours + settings.freshness_margin_hours) * 3600
    metadata = graph.get(DAILY_COMPLETENESS).metadata
    assert metadata["status_page"].url.endswith("/status")


def test_sftp_sensor_without_its_settings_skips_with_one_clear_message(settings, instance):
    defs = build_defs(settings)
    sensor = defs.resolve_sensor_def("sftp_sensor")
    assert "INTELLIWATT_SFTP_HOST" in sensor.description and "INTELLIWATT_SFTP_USER" in sensor.description
    with dg.build_sensor_context(instance=instance, resources=defs.resources) as context:
        result = sensor(context)
    assert isinstance(result, dg.SkipReason)
    assert "SFTP is not configured: set INTELLIWATT_SFTP_HOST and INTELLIWATT_SFTP_USER" in result.skip_message
    assert "INTELLIWATT_INBOX_DIR" in defs.resolve_sensor_def("inbox_sensor").description


def test_a_backfill_of_days_without_data_records_no_materialization(home):
    from intelliwatt_pipelines.defs.definitions import BILLING_REBUILD_JOB, REBUILD_JOB

    defs, tags = build_defs(Settings.from_env()), {"dagster/asset_partition_range_start": "2025-12-10",
                                                   "dagster/asset_partition_range_end": "2025-12-12"}
    with dg.DagsterInstance.get() as instance:
        for job in (REBUILD_JOB, BILLING_REBUILD_JOB):  # as a UI backfill of those days launches them
            assert defs.resolve_job_def(job).execute_in_process(instance=instance, tags=tags).success
        for key in DAY_ASSETS:
            assert not {"2025-12-10", "2025-12-11", "2025-12-12"} & set(materialized(instance, key)), key


def test_the_provenance_tags_are_the_ones_dagster_reads():
    from dagster._core.definitions import data_version as dagster_tags

    from intelliwatt_pipelines.defs import versions

    assert versions.CODE_VERSION_TAG == dagster_tags.CODE_VERSION_TAG
    assert versions.DATA_VERSION_TAG == dagster_tags.DATA_VERSION_TAG
    assert versions.NULL_EVENT_POINTER == dagster_tags.NULL_EVENT_POINTER
    assert versions.input_data_version_tag(USAGE_INTERVALS) == dagster_tags.get_input_data_version_tag(USAGE_INTERVALS)
    assert versions.input_event_pointer_tag(USAGE_INTERVALS) == dagster_tags.get_input_event_pointer_tag(USAGE_INTERVALS)
