"""Upload limits keyed on what is authenticated (issue 16): per API key and normalized account key,
per ESIID the file concerns (across accounts and keys), an overall per-key ceiling; the API key is
recorded hashed; concurrent uploads cannot share the last slot of any limit."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import threading
import zipfile

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from intelliwatt_pipelines.api import create_app
from intelliwatt_pipelines.cdm.tables import upload, upload_esiid
from intelliwatt_pipelines.cdm.upload_esiids import MAX_ESIIDS, SCAN_BYTES, esiids_in_file
from intelliwatt_pipelines.cdm.uploads import RateLimited, UploadLimits, UploadMeta, accept_upload, key_hash
from intelliwatt_pipelines.config import Settings
from intelliwatt_pipelines.rawstore import LocalRawStore
from intelliwatt_pipelines.samples import daily_usage_csv, smt_interval_csv
from intelliwatt_pipelines_tests.test_api_uploads import (
    ADMIN,
    ADMIN_TOKEN,
    API_KEY,
    CONSUMER,
    assert_nothing_kept,
    client,  # noqa: F401  (fixtures, over this module's api_settings)
    engine,  # noqa: F401
    post_file,
)

KEY_B = "upload-test-key-b"
OTHER = {"x-api-key": KEY_B}
ESIID, OTHER_ESIID = "10443720000000777", "10443720000000888"
MONTH = 30 * 86400


@pytest.fixture
def api_settings(settings):
    return dataclasses.replace(settings, api_keys=(API_KEY, KEY_B), admin_token=ADMIN_TOKEN)


def tiny(i: int) -> bytes:
    """A small file naming no ESIID; distinct bytes per i."""
    return f"timestamp,kwh\n2025-01-01T00:00:00Z,{i}\n".encode()


def refused(response, limit_name: str, *secrets: str, window: int = MONTH):
    body = response.json()
    assert response.status_code == 429 and body["error"]["code"] == "rate_limited", response.text
    assert limit_name in body["error"]["message"], body
    assert not [s for s in secrets if s in response.text], "a 429 must not echo account keys or ESIIDs"
    assert window - 120 < int(response.headers["Retry-After"]) <= window


def test_case_width_and_invisible_variants_of_an_account_key_share_its_quota(client):
    for i in range(5):
        assert post_file(client, tiny(i), account="x").status_code == 202
    for i, variant in enumerate(["X", "x\u200b", "\uff58", "\ufeffX\u2060", "x\u200c\u200d"]):  # ｘ: fullwidth
        refused(post_file(client, tiny(10 + i), account=variant), "per API key and account", variant)
    # The quota is per API key and account: a fresh account key, or the same one under another key, still works.
    assert post_file(client, tiny(20), account="y").status_code == 202
    assert post_file(client, tiny(21), account="X", headers=OTHER).status_code == 202


def test_admin_uploads_count_per_normalized_account(api_settings, engine):
    with TestClient(create_app(dataclasses.replace(api_settings, rate_limit_admin=(1, 3600)))) as c:
        assert post_file(c, tiny(1), role="admin", account="Ops", headers=ADMIN).status_code == 202
        refused(post_file(c, tiny(2), role="admin", account="\uff4fps\u200b", headers=ADMIN),
                "per account (admin)", window=3600)


@pytest.mark.parametrize("account", ["\u200b", "\ufeff\u2060", " \u200d "])
def test_an_account_key_of_only_invisible_characters_is_refused(api_settings, engine, client, account):
    response = post_file(client, tiny(1), account=account)
    assert response.status_code == 422 and "accountKey: required" in response.text, response.text
    assert_nothing_kept(engine, api_settings)


def test_the_api_key_an_upload_came_with_is_recorded_hashed(engine, client):
    assert post_file(client, tiny(1)).status_code == 202
    assert post_file(client, tiny(2), headers=OTHER).status_code == 202
    assert post_file(client, tiny(3), headers=ADMIN).status_code == 202  # a customer upload with the admin token
    assert post_file(client, tiny(4), role="admin", headers={**CONSUMER, **ADMIN}).status_code == 202
    with engine.connect() as conn:
        rows = conn.execute(sa.select(upload).order_by(upload.c.id)).all()
    assert [r.key_hash for r in rows] == [key_hash(API_KEY), key_hash(KEY_B), None, None]
    assert len(key_hash(API_KEY)) == 64 and not [r for r in rows if API_KEY in str(tuple(r))]


def test_five_uploads_concerning_one_esiid_from_any_accounts_and_keys_use_its_quota(engine, client):
    day = dt.date(2025, 3, 3)
    interval = smt_interval_csv(ESIID, [day])
    uploads = [  # each concerns ESIID another way: field, file name, and the ESIID column of three CSV kinds
        dict(data=tiny(1), esiid=ESIID),
        dict(data=tiny(2), name=f"usage_{ESIID}.csv", headers=OTHER),
        dict(data=interval, name="IntervalMeterUsage.csv"),
        dict(data=daily_usage_csv(smt_interval_csv(ESIID, [day + dt.timedelta(days=1)])), name="DailyMeterUsage.csv",
             headers=OTHER),
        dict(data=f"ESIID,Meter,Start Date/Time,Usage (kWh)\n{ESIID},M1,2025-10-10T08:00,0.25\n".encode()),
    ]
    for i, kwargs in enumerate(uploads):
        assert post_file(client, account=f"acct-{i}", **kwargs).status_code == 202, i
    # The 6th, from a fresh account: ESIID is the second of the two its rows name.
    two = smt_interval_csv(OTHER_ESIID, [day]) + smt_interval_csv(ESIID, [day]).split(b"\n", 1)[1]
    refused(post_file(client, two, account="acct-new", headers=OTHER), "per ESIID", ESIID, "acct-new")
    refused(post_file(client, zipped({"usage.csv": two}), name="usage.zip", account="acct-zip"), "per ESIID", ESIID)
    with engine.connect() as conn:
        counted = conn.execute(sa.select(upload_esiid.c.esiid, sa.func.count()).group_by(upload_esiid.c.esiid)).all()
    assert dict(counted) == {ESIID: 5}  # the refused upload recorded nothing
    assert post_file(client, smt_interval_csv(OTHER_ESIID, [day]), account="acct-new").status_code == 202
    # Admin uploads are not customer uploads: they neither count nor are held to the customer ESIID limit.
    assert post_file(client, two, role="admin", headers=ADMIN).status_code == 202


def test_fresh_accounts_under_one_api_key_hit_its_ceiling(api_settings, engine, monkeypatch):
    monkeypatch.setenv("INTELLIWATT_RATE_LIMIT_KEY", "3/1d")
    limited = dataclasses.replace(api_settings, rate_limit_key=Settings.from_env().rate_limit_key)
    with TestClient(create_app(limited)) as c:
        for i in range(3):
            assert post_file(c, tiny(i), account=f"fresh-{i}").status_code == 202
        refused(post_file(c, tiny(3), account="fresh-3"), "per API key", "fresh-3", window=86400)
        assert post_file(c, tiny(4), account="fresh-4", headers=OTHER).status_code == 202  # another key uploads


@pytest.mark.parametrize("tight", ["account", "esiid", "key"])
def test_concurrent_uploads_cannot_share_the_last_slot(api_settings, engine, tight):
    """Eight uploads at once compete for the last two slots of one limit; exactly two get them."""
    roomy = (1000, 3600)
    limits = dataclasses.replace(UploadLimits(roomy, roomy, roomy, roomy), **{
        {"account": "customer", "esiid": "customer_esiid", "key": "key"}[tight]: (2, 3600)})
    store, outcomes, start = LocalRawStore(api_settings.raw_store_url), [], threading.Barrier(8)

    def one(i: int):
        meta = UploadMeta(role="customer", filename="u.csv", via="multipart",
                          account_key=["x", "X", "x\u200b", "\uff58"][i % 4] if tight == "account" else f"a{i}",
                          key_hash=key_hash(API_KEY if tight != "esiid" or i % 2 else KEY_B),
                          esiid=ESIID if tight == "esiid" else None)
        spool = store.spool()
        spool.write(tiny(i))
        spooled = spool.finish()
        start.wait()
        try:
            outcomes.append(accept_upload(engine, store, spooled, tiny(i), meta, limits).upload_id)
        except RateLimited:
            outcomes.append("refused")

    threads = [threading.Thread(target=one, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes, key=str).count("refused") == 6, outcomes
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(upload)).scalar_one() == 2


def zipped(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_the_esiid_scan_is_bounded(tmp_path):
    """A CSV's first SCAN_BYTES are looked at, at most MAX_ESIIDS distinct ESIIDs kept; in a ZIP the
    members' names and first bytes (SCAN_BYTES decompressed in all)."""
    def scan(data: bytes, kind: str) -> set[str]:
        path = tmp_path / "f"
        path.write_bytes(data)
        return esiids_in_file(str(path), kind)

    many = "ESIID,USAGE_DATE,USAGE_KWH\n" + "".join(f"'1044372{i:010d},01/01/2025,1\n" for i in range(MAX_ESIIDS + 50))
    assert len(scan(many.encode(), "smt_daily_read")) == MAX_ESIIDS
    late = (b"ESIID,USAGE_DATE,USAGE_KWH\n" + f"{ESIID},01/01/2025,1\n".encode() * (SCAN_BYTES // 30)
            + f"{OTHER_ESIID},01/01/2025,1\n".encode())
    assert scan(late, "smt_daily_read") == {ESIID}
    assert scan(tiny(1), "usage_timestamp_kwh") == set()
    assert scan(zipped({f"u_{OTHER_ESIID}.csv": tiny(1), "IntervalMeterUsage.csv": smt_interval_csv(ESIID, [
        dt.date(2025, 1, 1)])}), "zip_package") == {ESIID, OTHER_ESIID}
    assert scan(zipped({"bomb.csv": late * 64, "after.csv": smt_interval_csv(OTHER_ESIID, [dt.date(2025, 1, 1)])}),
                "zip_package") == {ESIID}  # the budget is spent on the first member
    assert scan(b"PK\x03\x04 not really a zip", "zip_package") == set()
