"""SMT delivery over SFTP against a real OpenSSH server, PGP/ZIP packages with real gpg keys, and
the raw store on a real S3-compatible server (moto, over HTTP on loopback)."""

import dataclasses
import io
import os
import sys
import uuid
import zipfile
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa

from intelliwatt_pipelines.cdm.tables import inbox_entry, raw_file, usage_interval
from intelliwatt_pipelines.defs.definitions import INGEST_JOB, build_defs
from intelliwatt_pipelines.defs.keys import USAGE_INTERVALS
from intelliwatt_pipelines.defs.resources import WarehouseResource
from intelliwatt_pipelines.ingest.inbox import IngestOptions, take_entry
from intelliwatt_pipelines.rawstore import S3RawStore, open_raw_store
from intelliwatt_pipelines.samples import date_range, smt_interval_csv
from intelliwatt_pipelines.transport import SftpInbox, SftpSettings, TransportError
from intelliwatt_pipelines_tests.conftest import DATA
from intelliwatt_pipelines_tests.servers import encrypt_to, free_port, make_keyring, start_sshd, stop_gpg_agent

pytestmark = pytest.mark.slow  # real sshd, gpg and S3 servers, a dagster dev process

FALLBACK = "IntervalMeterUsage_sample_fallback_unpadded.csv"
# The dagster installed with the running interpreter, not a ./.venv the checkout may not have.
DAGSTER = Path(sys.executable).parent / "dagster"
PASSPHRASE = "correct horse battery staple"


@pytest.fixture(scope="session")
def keyring(tmp_path_factory):
    ring = make_keyring(tmp_path_factory.mktemp("gnupg"), PASSPHRASE)
    yield ring
    stop_gpg_agent(ring.home)


@pytest.fixture(scope="session")
def other_keyring(tmp_path_factory):
    ring = make_keyring(tmp_path_factory.mktemp("gnupg_other"), "another", name="Someone Else")
    yield ring
    stop_gpg_agent(ring.home)


@pytest.fixture(scope="session")
def s3_endpoint():
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def sshd(tmp_path):
    server = start_sshd(tmp_path / "ssh")
    yield server
    server.stop()


@pytest.fixture(params=["local", "s3"])
def raw_store_url(request, tmp_path, monkeypatch):
    if request.param == "local":
        return str(tmp_path / "raw")
    endpoint = request.getfixturevalue("s3_endpoint")
    for name, value in {"INTELLIWATT_S3_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "testing",
                        "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    bucket = f"raw-{uuid.uuid4().hex[:12]}"
    import boto3

    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(Bucket=bucket)
    return f"s3://{bucket}/intelliwatt"


@pytest.fixture
def sftp_settings(settings, sshd, keyring, raw_store_url, monkeypatch):
    monkeypatch.setenv("INTELLIWATT_GPG_PASSPHRASE", PASSPHRASE)
    return dataclasses.replace(
        settings, raw_store_url=raw_store_url, sftp_host="127.0.0.1", sftp_port=sshd.port, sftp_user=sshd.user,
        sftp_key_path=str(sshd.key_path), sftp_known_hosts=str(sshd.known_hosts),
        sftp_folders=(str(sshd.root / "adhocusage"), str(sshd.root / "EnrollmentReports")),
        sftp_min_age_seconds=0.0, gnupghome=str(keyring.home))


def zipped(**members: bytes) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buf.getvalue()


def password_protected(archive: bytes) -> bytes:
    """Mark every entry encrypted (general-purpose flag bit 0), as `zip -P` would."""
    data = bytearray(archive)
    for magic, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        at = data.find(magic)
        while at != -1:
            data[at + offset] |= 1
            at = data.find(magic, at + 4)
    return bytes(data)


def checks_failed(result) -> int:
    checks = {e.event_specific_data.check_name: e.event_specific_data for e in result.all_events
              if e.event_type_value == "ASSET_CHECK_EVALUATION"}
    return checks["raw_files_failures"].metadata["files_failed"].value


def sftp_tick(defs, instance, cursor=None):
    context = dg.build_sensor_context(instance=instance, cursor=cursor, resources=defs.resources, definitions=defs)
    return defs.resolve_sensor_def("sftp_sensor").evaluate_tick(context)


def run(defs, instance, request):
    return defs.resolve_job_def(INGEST_JOB).execute_in_process(
        run_config=request.run_config, instance=instance, raise_on_error=False,
        tags={**request.tags, "dagster/run_key": request.run_key})


def raw_rows(settings):
    engine = WarehouseResource(url=settings.warehouse_url).engine()
    with engine.connect() as conn:
        return {r.filename: r for r in conn.execute(sa.select(raw_file)).all()}


@pytest.mark.parametrize("warehouse_url", ["sqlite"], indirect=True)
def test_pgp_zip_over_sftp_lands_in_one_run_with_lineage(sftp_settings, sshd, keyring, instance):
    package = encrypt_to(keyring, zipped(**{"IntervalMeterUsage_report.csv": (DATA / FALLBACK).read_bytes(),
                                            "readme.txt": b"not a csv"}))
    name = "IntervalMeterUsage_M12345678_20251104.CSV.asc"
    (sshd.root / "adhocusage" / name).write_bytes(package)
    defs = build_defs(sftp_settings)
    tick = sftp_tick(defs, instance)
    assert len(tick.run_requests) == 1
    assert run(defs, instance, tick.run_requests[0]).success

    rows = raw_rows(sftp_settings)
    outer, inner = rows[name], rows[f"{name}!IntervalMeterUsage_report.csv"]
    assert (outer.kind, outer.status, outer.parent_id, outer.source) == ("pgp_package", "normalized", None,
                                                                         "sftp:127.0.0.1")
    assert (inner.status, inner.parent_id, inner.rows_valid) == ("normalized", outer.id, 292)
    store = open_raw_store(sftp_settings.raw_store_url)
    assert store.get(outer.sha256) == package  # the encrypted original is what the raw store keeps
    engine = WarehouseResource(url=sftp_settings.warehouse_url).engine()
    with engine.connect() as conn:
        lineage = conn.execute(sa.select(usage_interval.c.raw_file_id, usage_interval.c.meter, sa.func.count())
                               .group_by(usage_interval.c.raw_file_id, usage_interval.c.meter)).all()
    assert lineage == [(inner.id, "12345678", 292)]  # meter hint from the M<digits> token
    assert len(instance.get_materialized_partitions(USAGE_INTERVALS)) == 3
    assert (sshd.root / "adhocusage" / name).exists()  # remote files are never deleted by default
    assert not sftp_tick(defs, instance, cursor=tick.cursor).run_requests  # known now


@pytest.mark.parametrize("warehouse_url", ["sqlite"], indirect=True)
def test_a_file_still_being_written_is_taken_once_complete_exactly_once(sftp_settings, sshd, instance):
    settings = dataclasses.replace(sftp_settings, sftp_min_age_seconds=3600)
    data = (DATA / FALLBACK).read_bytes()
    target = sshd.root / "adhocusage" / "IntervalMeterUsage_growing.csv"
    target.write_bytes(data[: len(data) // 2])
    defs = build_defs(settings)
    first = sftp_tick(defs, instance)
    assert not first.run_requests  # first sight: may still be written
    with open(target, "ab") as fh:
        fh.write(data[len(data) // 2:])
    second = sftp_tick(defs, instance, cursor=first.cursor)
    assert not second.run_requests  # it grew since the last listing
    third = sftp_tick(defs, instance, cursor=second.cursor)
    (request,) = third.run_requests  # unchanged across two listings: complete
    assert run(defs, instance, request).success
    assert not sftp_tick(defs, instance, cursor=third.cursor).run_requests
    assert raw_rows(settings)["IntervalMeterUsage_growing.csv"].rows_valid == 292


@pytest.mark.parametrize("warehouse_url", ["sqlite"], indirect=True)
def test_a_connection_killed_mid_download_registers_nothing_and_the_next_tick_completes(
        sftp_settings, sshd, instance, tmp_path):
    year = smt_interval_csv("10443720004766435", date_range(__import__("datetime").date(2025, 1, 1),
                                                            __import__("datetime").date(2025, 12, 31)), seed=3)
    data = year * 1 + year.split(b"\n", 1)[1].replace(b"'10443720004766435", b"'10443720004766436")  # ~5 MB
    name = "IntervalMeterUsage_year.csv"
    (sshd.root / "adhocusage" / name).write_bytes(data)
    defs = build_defs(sftp_settings)
    engine = WarehouseResource(url=sftp_settings.warehouse_url).engine()
    store = open_raw_store(sftp_settings.raw_store_url)
    inbox = defs.resources["sftp"].inbox()
    (entry,) = inbox.list_entries()
    with inbox.session(), pytest.raises(TransportError, match="broke off"):
        take_entry(engine, store, inbox, entry, options=IngestOptions(),
                   on_chunk=lambda size: sshd.kill_sessions())  # cut the connection after the first MiB
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(raw_file)).scalar_one() == 0
        assert conn.execute(sa.select(sa.func.count()).select_from(inbox_entry)).scalar_one() == 0
    if sftp_settings.raw_store_url.startswith("/"):
        leftovers = [p for p in (tmp_path / "raw").rglob("*") if p.is_file()] if (tmp_path / "raw").exists() else []
        assert leftovers == []  # no partial object, no stray temp file

    tick = sftp_tick(defs, instance)  # the next tick finds the file still new and takes it whole
    (request,) = tick.run_requests
    assert run(defs, instance, request).success
    row = raw_rows(sftp_settings)[name]
    assert (row.status, row.rows_valid, row.size_bytes) == ("normalized", 2 * 35040, len(data))


@pytest.mark.parametrize("warehouse_url", ["sqlite"], indirect=True)
def test_bad_packages_are_quarantined_and_other_files_land(sftp_settings, sshd, keyring, other_keyring, instance):
    good = (DATA / FALLBACK).read_bytes()
    folder = sshd.root / "adhocusage"
    bad = {
        "IntervalMeterUsage_wrongkey.asc": (encrypt_to(other_keyring, zipped(**{"a.csv": good})),
                                            "no usable secret key"),
        "IntervalMeterUsage_locked.asc": (encrypt_to(keyring, password_protected(zipped(**{"a.csv": good}))),
                                          "password required"),
        # gpg compresses this 8 MiB CSV to a few KiB: gpg's own --max-output must stop it
        "IntervalMeterUsage_gpgbomb.asc": (encrypt_to(keyring, b"0,0,0,0\n" * (1 << 20)), "exceeds"),
        "IntervalMeterUsage_armour.asc": (b"-----BEGIN PGP MESSAGE-----\n\nnot base64 at all!!\n"
                                          b"-----END PGP MESSAGE-----\n", "PGP decryption failed"),
        "IntervalMeterUsage_zip.asc": (encrypt_to(keyring, zipped(**{"a.csv": good})[:-40]), "corrupt ZIP"),
        "IntervalMeterUsage_traversal.asc": (encrypt_to(keyring, zipped(**{"../../etc/evil.csv": good})),
                                             "unsafe path"),
        "IntervalMeterUsage_bomb.asc": (encrypt_to(keyring, zipped(**{"bomb.csv": b"0" * (8 << 20)})),
                                        "decompression bomb"),
    }
    for name, (data, _) in bad.items():
        (folder / name).write_bytes(data)
    (folder / "IntervalMeterUsage_good.csv").write_bytes(good)
    settings = dataclasses.replace(sftp_settings, max_unpacked_bytes=4 << 20)
    defs = build_defs(settings)
    (request,) = sftp_tick(defs, instance).run_requests
    result = run(defs, instance, request)
    assert result.success

    rows = raw_rows(settings)
    store = open_raw_store(settings.raw_store_url)
    for name, (data, reason) in bad.items():
        assert rows[name].status == "quarantined" and reason in rows[name].error, (name, rows[name].error)
        assert store.get(rows[name].sha256) == data  # nothing lost
    assert rows["IntervalMeterUsage_good.csv"].status == "normalized"
    assert not [r for r in rows.values() if r.parent_id]  # nothing came out of a bad package
    assert checks_failed(result) == len(bad)



@pytest.mark.parametrize("warehouse_url", ["sqlite"], indirect=True)
def test_sftp_refusals_fail_the_tick_with_the_reason(sftp_settings, sshd, instance, tmp_path):
    wrong_key = tmp_path / "wrong_key"
    os.system(f"ssh-keygen -q -t ed25519 -N '' -f {wrong_key}")
    defs = build_defs(dataclasses.replace(sftp_settings, sftp_key_path=str(wrong_key)))
    with pytest.raises(Exception, match="login to 127.0.0.1.* refused"):
        sftp_tick(defs, instance)
    sshd.stop()
    defs = build_defs(sftp_settings)
    with pytest.raises(Exception, match="cannot reach SFTP server 127.0.0.1"):
        sftp_tick(defs, instance)
    sshd.process = __import__("subprocess").Popen(["true"])  # already stopped; let the fixture finish


def test_raw_store_is_content_addressed_and_write_once(raw_store_url):
    import time

    store = open_raw_store(raw_store_url)
    first = store.put_bytes(b"same bytes")

    def written_at():
        if isinstance(store, S3RawStore):
            return store.client.head_object(Bucket=store.bucket, Key=store._key(first[0]))["LastModified"]
        return os.stat(first[2][len("file://"):]).st_mtime_ns

    before = written_at()
    time.sleep(1.1)
    assert store.put_bytes(b"same bytes") == first
    assert written_at() == before  # not rewritten
    assert store.get(first[0]) == b"same bytes" and store.exists(first[0])
    assert first[2].startswith("s3://" if raw_store_url.startswith("s3://") else "file://")


@pytest.mark.parametrize("name, safe", [
    ("a.csv", True), ("dir/r.csv", True), ("..report.csv", True), ("....csv", True),
    ("../x.csv", False), ("a/../../x.csv", False), ("..\\x.csv", False), ("/abs.csv", False),
    ("C:/x.csv", False), ("x/C:/y.csv", False), ("ok/../ok.csv", False),
])
def test_zip_member_names_that_could_escape_are_refused(name, safe):
    from intelliwatt_pipelines.ingest.unpack import QuarantineError, UnpackLimits, unzip_csvs

    archive = zipped(**{name: b"x"})
    if safe:
        assert [m.name for m in unzip_csvs(archive, UnpackLimits())] == [name]
    else:
        with pytest.raises(QuarantineError, match="unsafe path"):
            unzip_csvs(archive, UnpackLimits())


@pytest.mark.parametrize("warehouse_url", ["sqlite"], indirect=True)
def test_a_package_inside_a_package_is_not_unpacked_again(sftp_settings, sshd, keyring, instance):
    inner = zipped(**{"real.csv": (DATA / FALLBACK).read_bytes()})
    (sshd.root / "adhocusage" / "IntervalMeterUsage_nested.asc").write_bytes(
        encrypt_to(keyring, zipped(**{"inner.csv": inner})))
    defs = build_defs(sftp_settings)
    assert run(defs, instance, sftp_tick(defs, instance).run_requests[0]).success
    rows = raw_rows(sftp_settings)
    child = rows["IntervalMeterUsage_nested.asc!inner.csv"]
    assert child.status == "failed" and "binary" in child.error  # parsed as the CSV it claims to be
    assert len(rows) == 2


@pytest.mark.parametrize("warehouse_url", ["sqlite"], indirect=True)
def test_materializing_raw_files_by_hand_takes_whats_new_on_sftp(sftp_settings, sshd, instance):
    (sshd.root / "adhocusage" / "IntervalMeterUsage_manual.csv").write_bytes((DATA / FALLBACK).read_bytes())
    defs = build_defs(sftp_settings)
    result = defs.resolve_job_def(INGEST_JOB).execute_in_process(
        instance=instance, run_config={"ops": {"raw_files": {"config": {"source": "sftp"}}}})
    assert result.success
    assert raw_rows(sftp_settings)["IntervalMeterUsage_manual.csv"].rows_valid == 292


def test_sftp_inbox_lists_only_the_configured_patterns(sshd):
    folder = sshd.root / "EnrollmentReports"
    for name in ("a.csv", "b.CSV", "x_IntervalMeterUsage_1.asc", "y_DailyMeterUsage_2.asc", "c.csv.123", "notes.txt"):
        (folder / name).write_bytes(b"x")
    inbox = SftpInbox(SftpSettings(host="127.0.0.1", port=sshd.port, username=sshd.user,
                                   private_key_path=str(sshd.key_path), known_hosts_path=str(sshd.known_hosts),
                                   folders=(str(folder), "/no/such/folder")))
    assert sorted(e.name for e in inbox.list_entries()) == [
        "a.csv", "b.CSV", "c.csv.123", "x_IntervalMeterUsage_1.asc", "y_DailyMeterUsage_2.asc"]


def test_unknown_host_keys_are_refused_by_default(sshd, tmp_path):
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    inbox = SftpInbox(SftpSettings(host="127.0.0.1", port=sshd.port, username=sshd.user,
                                   private_key_path=str(sshd.key_path), known_hosts_path=str(empty)))
    with pytest.raises(TransportError, match="not found in known_hosts"):
        inbox.list_entries()




RAW_FILES_METADATA = """{ assetOrError(assetKey: {path: ["raw_files"]}) { ... on Asset {
  assetMaterializations(limit: 1) { runId metadataEntries { label
    ... on MarkdownMetadataEntry { mdStr } ... on IntMetadataEntry { intValue } } } } } }"""
STATE = """{ assetNodes { assetKey { path } partitionStats { numMaterialized } }
  runsOrError { ... on Runs { results { runId status jobName } } } }"""


@pytest.mark.timeout(300)
def test_daemon_takes_a_pgp_package_from_sftp_and_the_ui_shows_the_lineage(
        tmp_path, sshd, keyring, raw_store_url):
    import shutil
    from pathlib import Path

    from intelliwatt_pipelines_tests.servers import DagsterDev

    root = Path(__file__).resolve().parent.parent
    home, dagster_home = tmp_path / "home", tmp_path / "home" / "dagster_home"
    dagster_home.mkdir(parents=True)
    shutil.copy(root / "dagster.yaml", dagster_home / "dagster.yaml")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INTELLIWATT_", "DAGSTER_"))}
    env.update({
        "INTELLIWATT_HOME": str(home), "DAGSTER_HOME": str(dagster_home), "INTELLIWATT_RAW_STORE_URL": raw_store_url,
        "INTELLIWATT_SFTP_HOST": "127.0.0.1", "INTELLIWATT_SFTP_PORT": str(sshd.port),
        "INTELLIWATT_SFTP_USER": sshd.user, "INTELLIWATT_SFTP_KEY_PATH": str(sshd.key_path),
        "INTELLIWATT_SFTP_KNOWN_HOSTS": str(sshd.known_hosts), "INTELLIWATT_SFTP_MIN_AGE_SECONDS": "0",
        "INTELLIWATT_SFTP_FOLDERS": f"{sshd.root / 'adhocusage'},{sshd.root / 'EnrollmentReports'}",
        "GNUPGHOME": str(keyring.home), "INTELLIWATT_GPG_PASSPHRASE": PASSPHRASE,
    })
    for name in ("INTELLIWATT_S3_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"):
        if name in os.environ:
            env[name] = os.environ[name]
    name = "IntervalMeterUsage_20251104.CSV.asc"
    (sshd.root / "adhocusage" / name).write_bytes(
        encrypt_to(keyring, zipped(**{"IntervalMeterUsage_report.csv": (DATA / FALLBACK).read_bytes()})))
    dev = DagsterDev([str(DAGSTER), "dev", "-w", str(root / "workspace.yaml"),
                      "-h", "127.0.0.1", "-p", str(port)], root, env, tmp_path / "dev.log", port)
    try:
        def landed():
            state = dev.graphql(STATE)
            runs = state["runsOrError"]["results"]
            done = {n["assetKey"]["path"][0]: (n["partitionStats"] or {}).get("numMaterialized")
                    for n in state["assetNodes"]}
            return runs and all(r["status"] == "SUCCESS" for r in runs) and done.get("usage_intervals") == 3 \
                and runs

        runs = dev.wait_for(landed, 240, "the SFTP package to land")
        assert len(runs) == 1  # one run for the package, its CSV and the intervals
        (mat,) = dev.graphql(RAW_FILES_METADATA)["assetOrError"]["assetMaterializations"]
        entries = {e["label"]: e.get("mdStr", e.get("intValue")) for e in mat["metadataEntries"]}
        table = entries["file_table"]
        package_line = next(line for line in table.splitlines() if line.count(name) == 1 and "!" not in line)
        child_line = next(line for line in table.splitlines() if f"{name}!IntervalMeterUsage_report.csv" in line)
        package_id = package_line.split("|")[1].strip()
        assert "pgp_package" in package_line and "normalized" in package_line
        assert child_line.split("|")[2].strip() == package_id  # the CSV's parent is the encrypted file
        assert "292" in child_line and entries["rows_written"] == 292
    finally:
        dev.stop()
