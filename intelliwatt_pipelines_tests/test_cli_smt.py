"""``intelliwatt smt …`` against a fake SMT on loopback (fake_smt.FakeSmt, a real HTTP server): each command
runs its Dagster job in-process and says what it did; a flag that is off or a bad argument launches nothing
(exit 2, no request reaches SMT); the customer's e-mail is only ever ciphertext at rest and in clear only
in the Terminate/NewAgreement bodies SMT gets."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa

from intelliwatt_pipelines import cli
from intelliwatt_pipelines.cdm.tables import smt_api_call, smt_authorization
from intelliwatt_pipelines.ingest import contact_email
from intelliwatt_pipelines.pii import mask
from intelliwatt_pipelines_tests.fake_smt import FakeSmt, fixture
from intelliwatt_pipelines_tests.servers import LOG_CAPTURE

ESIID = "10443720000000001"
EMAIL = "pat.customer@example.net"
AUTHORIZE = ["smt", "authorize", "--esiid", ESIID, "--rep-puct", "10098", "--email-env", "CUSTOMER_EMAIL"]
FLAGS = ("INTELLIWATT_FLAG_SMT_API", "INTELLIWATT_FLAG_SMT_AGREEMENTS", "INTELLIWATT_FLAG_SMT_BACKFILL")
SQLITE = pytest.mark.parametrize("warehouse_url", ["sqlite"], indirect=True)  # the DB is not the point here


@pytest.fixture
def smt():
    with FakeSmt() as fake:
        yield fake


@pytest.fixture
def key() -> str:
    return contact_email.new_key()


@pytest.fixture
def smt_env(settings, engine, smt, key, monkeypatch, tmp_path):
    """The CLI's environment: a migrated warehouse, a Dagster home of its own, SMT at the fake, every
    SMT flag on, an e-mail key, and the customer's e-mail in CUSTOMER_EMAIL."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    env = {"INTELLIWATT_HOME": str(settings.home), "INTELLIWATT_WAREHOUSE_URL": settings.warehouse_url,
           "INTELLIWATT_RAW_STORE_URL": settings.raw_store_url, "DAGSTER_HOME": str(home),
           "INTELLIWATT_SMT_API_BASE_URL": smt.base_url, "INTELLIWATT_SMT_USERNAME": "INTELLIPATH",
           "INTELLIWATT_SMT_PASSWORD": "not-a-real-password", "INTELLIWATT_SMT_REQUESTOR_AUTH_ID": "123456789",
           "INTELLIWATT_SMT_EMAIL_KEY": key, "CUSTOMER_EMAIL": EMAIL, **dict.fromkeys(FLAGS, "true")}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


def smt_cli(capsys, *args: str) -> tuple[int, str, str]:
    code = cli.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def agreement_numbered(number: str) -> bytes:
    """new_agreement.json for another agreement number (one that myagreements.json lists as active)."""
    answer = json.loads(fixture("new_agreement.json"))
    return json.dumps({**answer, "agreementNumber": number}).encode()


def rows(engine, table) -> list[dict]:
    with engine.connect() as conn:
        return [r._asdict() for r in conn.execute(sa.select(table).order_by(table.c.id))]


@SQLITE
def test_agreements_refresh_records_every_agreement(smt_env, smt, engine, capsys):
    smt.defaults()
    code, out, err = smt_cli(capsys, "smt", "agreements", "refresh", "--json")
    assert code == 0, err
    summary = json.loads(out)
    assert summary["ok"] and summary["runs"][0]["job"] == "smt_agreements_job"
    assert summary["counts"]["scanned"] == 3 and summary["metadata"]["scanned"] == 3
    assert {r["smt_agreement_number"] for r in rows(engine, smt_authorization)} == {3214970, 3162880, 3301122}
    assert smt.paths()[:2] == ["/v2/token/", "/v2/myagreements/"]
    assert ESIID not in out + err


def test_authorize_keeps_the_email_only_as_ciphertext_and_terminate_sends_it(smt_env, smt, engine, key, capsys,
                                                                           settings):
    smt.defaults().always("/v2/NewAgreement/", 200, agreement_numbered("3162880"))
    LOG_CAPTURE.touch()
    logged_before = LOG_CAPTURE.stat().st_size
    code, out, err = smt_cli(capsys, *AUTHORIZE, "--meter-number", "112233445")
    assert code == 0, err
    assert "smt_authorize_job" in out and "success" in out and ESIID not in out + err and mask(ESIID) in out
    [row] = rows(engine, smt_authorization)
    assert row["smt_agreement_number"] == 3162880 and row["rep_puct_number"] == 10098
    assert contact_email.decrypt(row["contact_email_enc"], key) == EMAIL
    [sent] = smt.to("/v2/NewAgreement/")
    assert EMAIL in sent.body.decode()  # SMT gets it, nobody else
    with dg.DagsterInstance.get() as instance:
        [run] = instance.get_runs()
        assert EMAIL not in json.dumps(run.run_config) and run.run_config["ops"]["smt_agreement_created"][
            "config"]["email_ref"] == "env:CUSTOMER_EMAIL"
        assert not any(EMAIL in (e.user_message or "") for e in instance.all_logs(run.run_id))
    assert EMAIL not in out + err and EMAIL not in json.dumps(rows(engine, smt_api_call), default=str)
    with LOG_CAPTURE.open() as logs:
        logs.seek(logged_before)
        assert EMAIL not in logs.read()
    stored = [p for p in Path(settings.raw_store_url).rglob("*") if p.is_file()]
    assert stored and not any(EMAIL.encode() in p.read_bytes() for p in stored)  # SMT's answers, kept

    # the hourly refresh sees it active (and subscribes it), then the cancel flow terminates it
    assert smt_cli(capsys, "smt", "agreements", "refresh")[0] == 0
    code, out, err = smt_cli(capsys, "smt", "subscriptions", "refresh", "--json")
    assert code == 0 and json.loads(out)["metadata"]["subscriptions"] == 1, err
    code, out, err = smt_cli(capsys, "smt", "unsubscribe", "--esiid", ESIID, "--json")
    assert code == 0 and json.loads(out)["metadata"] == {"unsubscribed": 1}, err
    assert len(smt.to("/v2/UnSubscription/")) == 1
    code, out, err = smt_cli(capsys, "smt", "terminate", "--esiid", ESIID, "--json")
    assert code == 0, err
    assert json.loads(out)["metadata"] == {"terminated": 1}
    [terminate] = smt.to("/v2/Terminateagreement/")
    assert terminate.json["agreementList"] == [{"agreementNumber": 3162880, "retailCustomerEmail": EMAIL}]
    archived = {r["smt_agreement_number"]: r["archived_at"] for r in rows(engine, smt_authorization)}
    assert archived[3162880] is not None
    assert EMAIL not in out + err


@SQLITE
def test_authorize_without_a_meter_number_fails_the_run(smt_env, smt, capsys):
    smt.defaults()
    code, out, err = smt_cli(capsys, *AUTHORIZE)
    assert code == 1
    assert "meter number unknown; run meter info first" in err and "FAILURE" in out
    assert smt.to("/v2/NewAgreement/") == []


@SQLITE
@pytest.mark.parametrize("args, said", [
    (["--rep-puct", "10007"], "10007 is one of the TDSP numbers"),
    (["--email-env", "NOT_SET_ANYWHERE"], "--email-env NOT_SET_ANYWHERE: that variable is not set"),
    (["--email-ref", "enc:not-a-token"], "INTELLIWATT_SMT_EMAIL_KEY"),
])
def test_authorize_refuses_what_cannot_work_before_launching(smt_env, smt, capsys, args, said):
    base = dict(zip(AUTHORIZE[2::2], AUTHORIZE[3::2], strict=True))
    if args[0] == "--email-ref":
        base.pop("--email-env")
    argv = ["smt", "authorize", *[x for kv in (base | dict([args])).items() for x in kv]]
    code, out, err = smt_cli(capsys, *argv)
    assert code == 2 and said in err and out == "", err
    assert smt.requests == []
    with dg.DagsterInstance.get() as instance:
        assert instance.get_runs() == []


@SQLITE
@pytest.mark.parametrize("flag, argv", [
    ("INTELLIWATT_FLAG_SMT_AGREEMENTS", ["agreements", "refresh"]),
    ("INTELLIWATT_FLAG_SMT_AGREEMENTS", ["subscriptions", "refresh"]),
    ("INTELLIWATT_FLAG_SMT_AGREEMENTS", AUTHORIZE[1:] + ["--meter-number", "112233445"]),
    ("INTELLIWATT_FLAG_SMT_AGREEMENTS", ["terminate", "--esiid", ESIID]),
    ("INTELLIWATT_FLAG_SMT_AGREEMENTS", ["unsubscribe", "--esiid", ESIID]),
    ("INTELLIWATT_FLAG_SMT_API", ["pull", "--esiid", ESIID, "--start", "2021-01-01", "--end", "2021-02-28"]),
    ("INTELLIWATT_FLAG_SMT_API", ["meter-info", "--esiid", ESIID]),
    ("INTELLIWATT_FLAG_SMT_BACKFILL", ["backfills"]),
    ("INTELLIWATT_FLAG_SMT_BACKFILL", ["gap-sweep"]),
])
def test_a_flag_that_is_off_launches_nothing(smt_env, smt, monkeypatch, capsys, flag, argv):
    monkeypatch.setenv(flag, "false")
    code, out, err = smt_cli(capsys, "smt", *argv)
    assert code == 2 and f"disabled by {flag} (set it to true)" in err and out == "", err
    assert smt.requests == []
    with dg.DagsterInstance.get() as instance:
        assert instance.get_runs() == []


@SQLITE
def test_encrypt_email_round_trips_and_never_echoes(smt_env, key, monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", io.StringIO(EMAIL + "\n"))
    code, out, err = smt_cli(capsys, "smt", "encrypt-email")
    assert code == 0 and out.startswith("enc:") and err == ""
    assert contact_email.decrypt(out.strip().removeprefix("enc:"), key) == EMAIL
    assert smt_cli(capsys, "smt", "new-email-key")[1].strip() != key
    monkeypatch.setenv("INTELLIWATT_SMT_EMAIL_KEY", "")
    monkeypatch.setattr(sys, "stdin", io.StringIO(EMAIL + "\n"))
    code, out, err = smt_cli(capsys, "smt", "encrypt-email")
    assert code == 2 and "INTELLIWATT_SMT_EMAIL_KEY is not set" in err and EMAIL not in out + err


@SQLITE
def test_an_authorize_by_encrypted_reference_works_too(smt_env, smt, engine, key, capsys):
    smt.defaults()
    ref = "enc:" + contact_email.encrypt(EMAIL, key)
    argv = [a for a in AUTHORIZE if a not in ("--email-env", "CUSTOMER_EMAIL")]
    code, _, err = smt_cli(capsys, *argv, "--email-ref", ref, "--meter-number", "112233445", "--commercial")
    assert code == 0, err
    [row] = rows(engine, smt_authorization)
    assert (row["account_class"], row["months_back"], row["smt_agreement_number"]) == ("com", 24, 3350001)


@SQLITE
def test_pull_meter_info_and_the_backfill_jobs_run(smt_env, smt, capsys):
    smt.defaults()
    code, out, err = smt_cli(capsys, "smt", "pull", "--esiid", ESIID, "--start", "2021-01-01", "--end",
                             "2021-02-28", "--json")
    assert code == 0, err
    summary = json.loads(out)
    assert summary["runs"][0]["job"] == "smt_energydata_fetch_job" and summary["metadata"]["calls"] == 1
    assert summary["metadata"]["calls_failed"] == 0
    assert [r.json["ESIIDList"] for r in smt.to("/v2/energydata/")] == [[ESIID]]
    code, out, err = smt_cli(capsys, "smt", "meter-info", "--esiid", ESIID)
    assert code == 0 and "smt_meter_info_job" in out, err
    for argv in (["backfills"], ["gap-sweep", "--lookback-days", "2", "--lag-days", "1"]):
        code, out, err = smt_cli(capsys, "smt", *argv)
        assert code == 0, out + err
    assert smt_cli(capsys, "smt", "pull", "--esiid", ESIID, "--start", "2021-02-01", "--end", "2021-01-01")[0] == 2
