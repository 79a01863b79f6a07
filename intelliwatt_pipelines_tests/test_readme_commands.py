"""Every command README.md shows in a ```bash block is exercised by a test.

REGISTRY maps each command, by its program and subcommand (``./deploy/start``, ``intelliwatt
backfill``, ``dagster asset materialize``, ``curl GET /api/v1/...``), to the tests that run it. A
command newly documented without a test fails here, named; so does a registry entry naming a test
that does not exist. The README examples no other test runs as written are run here."""

from __future__ import annotations

import importlib
import os
import re
import shlex
import sqlite3
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
START = "test_start_command.py::test_start_command_ingests_the_sample_and_shows_it"
LIFECYCLE = "test_start_command.py::test_ctrl_c_and_sigterm_stop_everything_and_reset_starts_afresh"
STOP = "test_start_command.py::test_stop_command_stops_a_start_from_another_terminal_and_what_a_killed_one_left"
DAGSTER_EXAMPLE = "test_readme_commands.py::test_the_readme_dagster_cli_examples_run_as_written"
CELERY = "test_celery_deployment.py::test_two_celery_workers_leave_the_warehouse_as_one_process_does"
SMT_FLOW = "test_authorize_keeps_the_email_only_as_ciphertext_and_terminate_sends_it"
SMT_JOBS = "test_pull_meter_info_and_the_backfill_jobs_run"

# command key -> tests (file::name, under intelliwatt_pipelines_tests/) that run that command
REGISTRY: dict[str, list[str]] = {
    "./deploy/start": [START, LIFECYCLE, STOP],
    "./deploy/stop": [STOP, LIFECYCLE],
    "./deploy/reset": [LIFECYCLE, "test_start_command.py::test_reset_refuses_a_folder_deploy_start_did_not_make"],
    "./deploy/celery/start": [CELERY], "./deploy/celery/worker": [CELERY],  # start runs the workers with it
    "./deploy/test": ["test_readme_commands.py::test_deploy_test_runs_pytest_with_the_arguments_given"],
    # the README's credentials + curl block, run as written against deploy/start's API
    "source .intelliwatt/api-dev-credentials.env": [START],
    "curl GET /api/v1/esiids/{esiid}/intervals": [START],
    "intelliwatt ingest": ["test_cli_and_schema.py::test_ingest_exits_zero_when_every_file_lands_or_is_known",
                           "test_cli_and_schema.py::test_a_file_copied_into_the_inbox_just_now_is_ingested_at_once"],
    "intelliwatt backfill": ["test_cli_and_schema.py::test_backfill_command_rebuilds_a_range",
                             "test_cli_and_schema.py::test_backfill_command_for_every_home_of_a_day_range"],
    "intelliwatt reprocess": ["test_cli_and_schema.py::test_reprocess_takes_a_failed_file_again_from_its_raw_bytes"],
    "intelliwatt migrate": ["test_cli_and_schema.py::test_migrate_deletes_the_old_per_esiid_partitions", START],
    "intelliwatt seed": [
        "test_ui_truth.py::test_no_partition_is_unsynced_after_ingest_and_a_new_file_leaves_other_days_in_sync", START],
    "intelliwatt api": ["test_api_uploads.py::test_a_40_mb_upload_to_a_real_server_streams_and_is_ingested", START],
    "intelliwatt redact-log": ["test_readme_commands.py::test_the_readme_redact_log_pipe_masks_esiids", LIFECYCLE],
    "dagster asset materialize": [DAGSTER_EXAMPLE],
    "dagster job execute": [DAGSTER_EXAMPLE],
    "curl POST /api/v1/uploads": ["test_upload_status.py::test_a_customer_follows_its_upload_until_normalized",
                                  "test_api_uploads.py::test_a_40_mb_upload_to_a_real_server_streams_and_is_ingested"],
    "curl GET /api/v1/uploads/{id}": ["test_upload_status.py::test_a_customer_follows_its_upload_until_normalized"],
    "curl GET /api/v1/admin/status": ["test_api_pictures.py::test_status_page_lists_files_failures_and_homes_with_gaps"],
    "curl GET /api/v1/esiids/{esiid}/completeness.svg": [
        "test_api_pictures.py::test_calendar_marks_each_day_with_its_status_and_the_dst_days"],
    "curl GET /api/v1/esiids/{esiid}/usage-heatmap.svg": [
        "test_api_pictures.py::test_heatmap_sums_real_readings_per_central_hour"],
    "curl GET /api/v1/admin/smt/agreements": ["test_api_smt.py::test_agreements_filter_by_esiid_and_status_newest_first"],
    "curl GET /api/v1/admin/flags": ["test_api_smt.py::test_flags_reflect_the_settings"],
    "curl GET /api/v1/service-points/search": ["test_service_point_search.py::test_search_route"],
    "curl GET /api/v1/tdsp/ONCOR/charges": ["test_tdsp_tariffs.py::test_charges_route"],
    "curl GET /api/v1/esiids/{esiid}/plan-estimates": [
        "test_api_plan_estimates.py::test_list_ranks_by_status_then_cost_then_plan",
        "test_api_plan_estimates.py::test_limit_is_applied_and_bounded"],
    "curl GET /api/v1/esiids/{esiid}/plan-estimates/{id}": [
        "test_api_plan_estimates.py::test_detail_has_breakdown_and_plan_fields"],
    "curl GET /api/v1/esiids/{esiid}/plan-estimates.svg": [
        "test_api_plan_estimates.py::test_chart_draws_one_escaped_series_per_priced_plan"],
    **{f"intelliwatt smt {command}": [f"test_cli_smt.py::{test}" for test in tests] for command, tests in {
        "new-email-key": ["test_encrypt_email_round_trips_and_never_echoes"],
        "encrypt-email": ["test_encrypt_email_round_trips_and_never_echoes"],
        "agreements": ["test_agreements_refresh_records_every_agreement", SMT_FLOW],
        "authorize": [SMT_FLOW, "test_an_authorize_by_encrypted_reference_works_too",
                      "test_authorize_without_a_meter_number_fails_the_run",
                      "test_authorize_refuses_what_cannot_work_before_launching"],
        "terminate": [SMT_FLOW], "subscriptions": [SMT_FLOW], "unsubscribe": [SMT_FLOW],
        "pull": [SMT_JOBS], "meter-info": [SMT_JOBS], "backfills": [SMT_JOBS], "gap-sweep": [SMT_JOBS],
    }.items()},
}
# Stand-ins for "your program" in an example, and plain shell utilities: no test of ours to name.
NOT_OURS = {"some-process", "cd", "cp", "mv", "mkdir", "cat", "ls", "export", "helm", "kubectl"}


def readme_blocks(text: str | None = None) -> list[str]:
    """The text of every ```bash block of README.md (indented ones too), dedented."""
    blocks, block = [], None
    for line in (README.read_text() if text is None else text).splitlines():
        if line.strip().startswith("```"):
            if block is not None:
                blocks.append("\n".join(block))
            block = [] if block is None and line.strip() == "```bash" else None
        elif block is not None:
            block.append(line.strip())
    return blocks


def readme_commands(text: str) -> list[str]:
    """The commands of every ```bash block, continuation lines joined."""
    commands, pending = [], ""
    for line in "\n".join(readme_blocks(text)).splitlines():
        if line.endswith("\\"):
            pending += line[:-1]
            continue
        command, pending = (pending + line).strip(), ""
        if command and not command.startswith("#"):
            commands.append(command)
    return commands


def segments(command: str) -> list[list[str]]:
    """A command line's simple commands (split at |, &&, ;), as words, comments dropped."""
    lexer = shlex.shlex(command, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    parts, words = [], []
    for token in lexer:
        if token in ("|", "||", "&&", ";", "&"):
            parts.append(words)
            words = []
        else:
            words.append(token)
    return [w for w in parts + [words] if w]


def key(words: list[str]) -> str:
    """What the registry knows a simple command by: program and subcommand words, without leading
    VAR=value assignments and the .venv/bin/ prefix; curl by method and path template."""
    while words and re.match(r"[A-Za-z_]\w*=", words[0]):
        words = words[1:]
    program = words[0].removeprefix(".venv/bin/")
    if program in ("source", "."):
        return f"source {words[1]}"
    if program == "curl":
        return curl_key(words[1:])
    sub = []
    for word in words[1:3]:
        if not re.fullmatch(r"[a-z][a-z0-9_-]*", word):
            break
        sub.append(word)
    return " ".join([program, *sub])


def curl_key(args: list[str]) -> str:
    url = next(a for a in args if "://" in a)
    path = re.sub(r"/(\d{17}|\d{22})(?=/|$)", "/{esiid}", urlsplit(url).path)
    path = re.sub(r"/\d+(?=/|$)", "/{id}", path)
    method = next((args[i + 1] for i, a in enumerate(args[:-1]) if a in ("-X", "--request")), None)
    if method is None:
        method = "POST" if any(a in ("-F", "--form", "-d", "--data", "--data-binary") for a in args) else "GET"
    return f"curl {method} {path}"


def readme_keys() -> dict[str, str]:
    """key -> the first README command line it comes from."""
    found: dict[str, str] = {}
    for command in readme_commands(README.read_text()):
        for words in segments(command):
            found.setdefault(key(words), command)
    return found


def test_every_readme_command_has_a_test():
    keys = readme_keys()
    assert keys, "no ```bash block found in README.md"
    missing = {k: c for k, c in keys.items() if k not in REGISTRY and k.split()[0] not in NOT_OURS}
    assert not missing, "README commands no test exercises (add a test and a REGISTRY entry):\n" + "\n".join(
        f"  {k!r}  from: {c}" for k, c in missing.items())


def test_every_registered_test_exists():
    missing = []
    for tests in REGISTRY.values():
        for test in tests:
            module, *names = test.split("::")
            target = importlib.import_module(f"intelliwatt_pipelines_tests.{module.removesuffix('.py')}")
            for name in names:
                target = getattr(target, name, None)
            if not callable(target):
                missing.append(test)
    assert not missing, missing


def test_the_command_keys():
    assert [key(w) for w in segments("some-process 2>&1 | .venv/bin/intelliwatt redact-log  # a comment")] == [
        "some-process", "intelliwatt redact-log"]
    assert key(segments(".venv/bin/intelliwatt ingest [--inbox DIR]")[0]) == "intelliwatt ingest"
    assert key(segments(".venv/bin/intelliwatt reprocess 12 13")[0]) == "intelliwatt reprocess"
    assert key(segments("DAGSTER_HOME=$PWD/x .venv/bin/dagster asset materialize -m m")[0]) == \
        "dagster asset materialize"
    assert key(segments("curl -H 'x: y' 'http://h:1/api/v1/esiids/10443720000000001/intervals?start=1'")[0]) == \
        "curl GET /api/v1/esiids/{esiid}/intervals"
    assert key(segments("curl -F file=@x http://h/api/v1/uploads")[0]) == "curl POST /api/v1/uploads"
    assert key(segments("curl -s http://h/api/v1/uploads/7 -H 'k: v'")[0]) == "curl GET /api/v1/uploads/{id}"
    text = "```bash\n./deploy/start   # go\n```\n  ```bash\n  a \\\n    b\n  ```\n```sql\nSELECT 1\n```\n"
    assert readme_commands(text) == ["./deploy/start   # go", "a b"]


def readme_examples(program_key: str) -> list[str]:
    """The README command lines whose first simple command has this key prefix."""
    return [c for c in readme_commands(README.read_text()) if key(segments(c)[0]).startswith(program_key)]


def checkout(tmp_path: Path) -> tuple[Path, dict]:
    """A folder standing in for the checkout's root (its .venv), with no INTELLIWATT_* or DAGSTER_*
    settings in the environment: the README's commands are run there as written."""
    root = tmp_path / "checkout"
    root.mkdir()
    (root / ".venv").symlink_to(ROOT / ".venv")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INTELLIWATT_", "DAGSTER_"))}
    return root, env


def shell(command: str, cwd: Path, env: dict, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-o", "pipefail", "-c", command], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_the_readme_dagster_cli_examples_run_as_written(tmp_path):
    examples = readme_examples("dagster")
    assert examples, "README.md shows no Dagster CLI example any more: drop this test and its REGISTRY entries"
    root, env = checkout(tmp_path)
    for step in ("migrate", "seed", "ingest"):  # the sample in ./.intelliwatt, runs in its Dagster home
        done = shell(f".venv/bin/intelliwatt {step}", root, env)
        assert done.returncode == 0, done.stdout + done.stderr
    db = root / ".intelliwatt" / "warehouse.db"
    with sqlite3.connect(db) as conn:
        before = sorted(conn.execute("SELECT * FROM usage_interval").fetchall())
        # inside the README's Central days (2025-11-01 starts at 05:00 UTC, 2025-11-03 ends at 06:00 UTC)
        conn.execute("UPDATE usage_interval SET kwh = 99 WHERE ts_utc >= '2025-11-01 06' AND ts_utc < '2025-11-04'")
    for example in examples:
        done = shell(example, root, env)
        assert done.returncode == 0, f"{example}\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
        assert "RUN_SUCCESS" in done.stdout + done.stderr, example
    with sqlite3.connect(db) as conn:  # the README's days were rebuilt from the raw files
        assert sorted(conn.execute("SELECT * FROM usage_interval").fetchall()) == before
    # and the runs are in the Dagster home the UI of deploy/start reads
    runs = shell(".venv/bin/python -c 'import dagster as dg; print(len(dg.DagsterInstance.get().get_runs()))'",
                 root, dict(env, DAGSTER_HOME=str(root / ".intelliwatt" / "dagster_home")))
    assert int(runs.stdout.strip().splitlines()[-1]) == 1 + len(examples), runs


def test_the_readme_redact_log_pipe_masks_esiids(tmp_path):
    from intelliwatt_pipelines.pii import mask

    [example] = [c for c in readme_examples("some-process") if "redact-log" in c]
    root, env = checkout(tmp_path)
    esiid = "10443720000000001"
    line = f"took IntervalMeterUsage_{esiid}.csv"
    command = example.replace("some-process", f"{{ echo {shlex.quote(line)}; echo oops >&2; }}", 1)
    done = shell(command, root, env, timeout=60)
    assert done.returncode == 0, done
    assert done.stdout.splitlines() == [f"took IntervalMeterUsage_{mask(esiid)}.csv", "oops"], done.stdout


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_deploy_test_runs_pytest_with_the_arguments_given():
    # One quick test of this file, through the README's second command (arguments pass through to pytest).
    target = f"{Path(__file__).relative_to(ROOT)}::test_every_registered_test_exists"
    done = subprocess.run([str(ROOT / "deploy" / "test"), "-q", "-p", "no:cacheprovider", target], cwd=ROOT,
                          capture_output=True, text=True, timeout=540)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "1 passed" in done.stdout, done.stdout


if __name__ == "__main__":  # list the README's commands, their keys and tests
    for k, c in readme_keys().items():
        print(f"{k!r}: {REGISTRY.get(k, '-' if k.split()[0] in NOT_OURS else 'NOT REGISTERED')}\n    <- {c}")
