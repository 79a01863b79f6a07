"""API for people (issue 17): a customer follows its upload (GET /api/v1/uploads/{id}, its own API key
only), an identical re-upload is a repeat that records nothing and uses no quota, and the API docs
(/docs, /redoc) load every asset from the API itself."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import re
import zipfile
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from intelliwatt_pipelines.api import create_app
from intelliwatt_pipelines.cdm.tables import raw_file, upload, upload_esiid, usage_interval
from intelliwatt_pipelines.ingest.capture import capture_bytes
from intelliwatt_pipelines.rawstore import LocalRawStore
from intelliwatt_pipelines_tests.conftest import DATA
from intelliwatt_pipelines_tests.test_api_uploads import (
    ADMIN,
    ADMIN_TOKEN,
    API_KEY,
    CONSUMER,
    FALL_SAMPLE,
    client,  # noqa: F401  (fixtures, over this module's api_settings)
    engine,  # noqa: F401
    ingest_pending_uploads,
    post_file,
)

KEY_B = "upload-test-key-b"
OTHER = {"x-api-key": KEY_B}
GIVEN, NOT_GIVEN = "10443720000000042", "10443720000000099"
ACCEPTED_KEYS = {"raw_file_id", "upload_id", "sha256", "size_bytes", "status", "duplicate", "repeat", "status_url",
                 "corrId"}


@pytest.fixture
def api_settings(settings):
    return dataclasses.replace(settings, api_keys=(API_KEY, KEY_B), admin_token=ADMIN_TOKEN)


def tiny(i: int) -> bytes:
    return f"timestamp,kwh\n2025-01-01T06:00:00Z,{i}\n".encode()


def status_of(client, upload_id: int, headers=CONSUMER):
    return client.get(f"/api/v1/uploads/{upload_id}", headers=headers)


def count(engine, table) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()


def test_a_customer_follows_its_upload_until_normalized(api_settings, engine, client, instance):
    data = (DATA / FALL_SAMPLE).read_bytes()
    posted = post_file(client, data, name=FALL_SAMPLE)
    assert posted.status_code == 202, posted.text
    body = posted.json()
    assert body.keys() == ACCEPTED_KEYS and body["repeat"] is False
    assert body["status_url"] == posted.headers["location"] == f"/api/v1/uploads/{body['upload_id']}"

    waiting = status_of(client, body["upload_id"])
    assert waiting.status_code == 200, waiting.text
    assert (waiting.json()["status"], waiting.json()["rows"], waiting.json()["normalized_at"]) == ("received", None, None)

    assert ingest_pending_uploads(api_settings, instance) == 1
    done = client.get(body["status_url"], headers=CONSUMER).json()
    with engine.connect() as conn:
        stored = conn.execute(sa.select(sa.func.count()).select_from(usage_interval)
                              .where(usage_interval.c.raw_file_id == body["raw_file_id"])).scalar_one()
    assert done["status"] == "normalized" and done["normalized_at"] and done["error"] is None
    assert done["rows"]["valid"] == stored > 0 and done["rows"]["invalid"] == 0
    assert (done["upload_id"], done["raw_file_id"], done["filename"], done["size_bytes"], done["sha256"]) == (
        body["upload_id"], body["raw_file_id"], FALL_SAMPLE, len(data), hashlib.sha256(data).hexdigest())
    assert done["members"] == [] and done["esiid"] is None


def test_a_package_upload_lists_its_files(api_settings, engine, client, instance):
    member = (DATA / FALL_SAMPLE).read_bytes()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("IntervalMeterUsage.csv", member)
    posted = post_file(client, buffer.getvalue(), name="export.zip").json()
    assert status_of(client, posted["upload_id"]).json()["members"] == []
    # Mid-run, as the ingest leaves it after taking the first member: the package is processing.
    capture_bytes(engine, LocalRawStore(api_settings.raw_store_url), member, source="upload",
                  filename="export.zip!IntervalMeterUsage.csv", parent_id=posted["raw_file_id"])
    assert status_of(client, posted["upload_id"]).json()["status"] == "processing"
    ingest_pending_uploads(api_settings, instance)
    seen = status_of(client, posted["upload_id"]).json()
    assert (seen["status"], seen["filename"], seen["rows"]["valid"]) == ("normalized", "export.zip", 1)  # one file
    [member] = seen["members"]
    assert (member["filename"], member["status"], member["error"]) == ("IntervalMeterUsage.csv", "normalized", None)
    assert member["rows"]["valid"] > 0


def test_another_key_cannot_tell_an_upload_exists(api_settings, client):
    mine = post_file(client, tiny(1)).json()["upload_id"]
    theirs, nobody = status_of(client, mine, OTHER), status_of(client, mine + 1000, OTHER)
    assert theirs.status_code == nobody.status_code == 404
    assert theirs.json()["error"]["message"].replace(str(mine), "N") == \
        nobody.json()["error"]["message"].replace(str(mine + 1000), "N")
    assert status_of(client, mine, ADMIN).status_code == 200  # the operator sees every upload
    assert status_of(client, mine, {}).status_code == 401
    assert status_of(client, mine, {**CONSUMER, "accept": "text/csv"}).status_code == 406
    assert status_of(client, 0).status_code == 422


def test_the_status_url_uses_the_public_base_url(api_settings, engine):
    with TestClient(create_app(dataclasses.replace(api_settings, public_base_url="https://api.example.test/"))) as c:
        posted = post_file(c, tiny(1))
    assert posted.json()["status_url"] == posted.headers["location"] == \
        f"https://api.example.test/api/v1/uploads/{posted.json()['upload_id']}"


def test_a_failed_upload_says_why_and_masks_esiids_it_did_not_give(api_settings, engine, client, instance):
    failed = post_file(client, tiny(1)).json()  # names no ESIID anywhere: no rows can come from it
    ingest_pending_uploads(api_settings, instance)
    seen = status_of(client, failed["upload_id"]).json()
    assert seen["status"] == "failed" and seen["error"], seen

    given = post_file(client, tiny(2), esiid=GIVEN, meter="M1").json()
    ingest_pending_uploads(api_settings, instance)
    with engine.begin() as conn:  # a note naming the ESIID given and one another upload could have bound
        conn.execute(raw_file.update().where(raw_file.c.id == given["raw_file_id"])
                     .values(error=f"rows for {GIVEN} kept; rows for {NOT_GIVEN} refused"))
    for headers in (CONSUMER, ADMIN):
        seen = status_of(client, given["upload_id"], headers)
        assert seen.status_code == 200, seen.text
        assert (seen.json()["esiid"], seen.json()["meter"], seen.json()["status"]) == (GIVEN, "M1", "normalized")
        assert GIVEN in seen.json()["error"] and NOT_GIVEN not in seen.text and "esiid#" in seen.json()["error"]


@pytest.mark.parametrize("tight", ["customer", "customer_esiid", "key"])
def test_repeats_return_the_earlier_upload_and_use_no_quota(api_settings, engine, instance, tight):
    """A limit of 3: three distinct files, each repeated (also at the limit), then a fourth distinct
    one is refused exactly as without the repeats. Nothing is recorded or ingested twice."""
    limited = dataclasses.replace(api_settings, **{f"rate_limit_{tight}": (3, 3600)})
    fields = {"esiid": GIVEN} if tight == "customer_esiid" else {}
    with TestClient(create_app(limited)) as c:
        first = []
        for i in range(3):
            posted = post_file(c, tiny(i), name=f"u{i}.csv", **fields)
            assert posted.status_code == 202, posted.text
            first.append(posted.json())
            again = post_file(c, tiny(i), name=f"u{i}.csv", **fields)
            assert again.status_code == 200, again.text  # also the third time: the limit is reached by then
            assert again.json().keys() == ACCEPTED_KEYS and again.headers["location"] == first[i]["status_url"]
            assert {k: v for k, v in again.json().items() if k != "corrId"} == {
                **{k: v for k, v in first[i].items() if k != "corrId"}, "duplicate": True, "repeat": True}
        renamed = post_file(c, tiny(0), name="renamed.csv", sha256=hashlib.sha256(tiny(0)).hexdigest(), **fields)
        assert renamed.status_code == 200 and renamed.json()["upload_id"] == first[0]["upload_id"], renamed.text
        fourth = post_file(c, tiny(3), name="u0.csv", **fields)  # its name is a repeat's: read whole, then refused
        assert fourth.status_code == 429 and fourth.json()["error"]["code"] == "rate_limited", fourth.text
    assert count(engine, upload) == 3 and count(engine, raw_file) == 3
    assert count(engine, upload_esiid) == (3 if fields else 0)
    ingest_pending_uploads(api_settings, instance)  # and it checks that nothing is offered twice
    with engine.connect() as conn:
        statuses = conn.execute(sa.select(raw_file.c.status)).scalars().all()
    assert len(statuses) == 3 and "received" not in statuses  # each distinct file ingested, once


def test_the_same_bytes_are_a_new_upload_for_another_account_or_key_or_binding(api_settings, engine, client):
    """A repeat is the same request again: same key, account and ESIID/meter given. Another account or
    key makes its own upload (the raw file is shared), counted as before; the admin token never repeats;
    another ESIID/meter is a binding question (409 here: the file is bound), never a repeat."""
    first = post_file(client, tiny(1)).json()
    for kwargs in ({"account": "acct-2"}, {"headers": OTHER}, {"headers": ADMIN}, {"headers": ADMIN}):
        posted = post_file(client, tiny(1), **kwargs)
        assert posted.status_code == 202 and posted.json()["repeat"] is False, (kwargs, posted.text)
        assert posted.json()["duplicate"] and posted.json()["raw_file_id"] == first["raw_file_id"]
        assert posted.json()["upload_id"] != first["upload_id"]
    assert post_file(client, tiny(1), meter="M2").status_code == 409
    assert count(engine, upload) == 5 and count(engine, raw_file) == 1


def test_a_declared_sha256_must_match_the_bytes(api_settings, engine, client):
    wrong = post_file(client, tiny(1), sha256="0" * 64)
    assert wrong.status_code == 422 and "sha256: does not match" in wrong.text, wrong.text
    malformed = post_file(client, tiny(1), sha256="xyz")
    assert malformed.status_code == 422 and "sha256: must be 64" in malformed.text, malformed.text
    assert count(engine, upload) == 0
    assert not list(Path(api_settings.raw_store_url).rglob(".incoming-*"))  # no spool left behind
    assert post_file(client, tiny(1), sha256=hashlib.sha256(tiny(1)).hexdigest().upper()).status_code == 202


ASSET_REF = re.compile(r"""(?:src|href|spec-url)=["']([^"']+)["']|url: ?'([^']+)'""")
CONTENT_TYPES = {".js": "text/javascript", ".css": "text/css", ".png": "image/png", ".json": "application/json"}


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_the_api_docs_load_every_asset_from_the_api_itself(client, page):
    response = client.get(page)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    html = response.text
    assert not re.findall(r"https?://", html), "the page names another host"
    assert "default-src 'self'" in response.headers["content-security-policy"]
    assets = [a or b for a, b in ASSET_REF.findall(html)]
    assert "/openapi.json" in assets and len(assets) >= (4 if page == "/docs" else 3), assets
    for asset in assets:
        assert asset.startswith("/"), asset
        got = client.get(asset)
        assert got.status_code == 200, asset
        assert got.headers["content-type"].startswith(CONTENT_TYPES[Path(asset).suffix]), (asset, got.headers)
        assert len(got.content) > 1000, asset
    assert client.get(page, headers={"accept": "application/json"}).status_code == 200  # a page, whatever Accept says
    assert client.get("/docs/static/nothing.js").status_code == 404
