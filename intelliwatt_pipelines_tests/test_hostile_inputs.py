"""Hostile and broken inputs, all in one inbox with good files: each gets a clear error with its raw
bytes kept (quarantined where it is a package), the good files land, and memory stays bounded.

PGP encrypted to another key, ZIP-slip names and nested packages are covered over SFTP in
test_sftp_pgp_s3.py; the inline gzip bomb in test_api_uploads.py.
"""

from __future__ import annotations

import gzip
import io
import json
import subprocess
import sys
import zipfile

import pytest
import sqlalchemy as sa

from intelliwatt_pipelines.cdm.tables import raw_file, usage_interval
from intelliwatt_pipelines.cdm.warehouse import create_engine
from intelliwatt_pipelines.rawstore import LocalRawStore
from intelliwatt_pipelines_tests.conftest import DATA
from intelliwatt_pipelines_tests.reliability import ROOT

GOOD = (DATA / "IntervalMeterUsage_sample_fallback_unpadded.csv").read_bytes()
HEADER = GOOD.split(b"\n", 1)[0] + b"\n"
ROW = b"'10443720009990001,11/1/2025,11/2/2025 15:12,0:00,0:15,0.068,A,Consumption\n"
LIMIT = 20 * 1024 * 1024  # INTELLIWATT_MAX_UNPACKED_BYTES for this test


def zip_bomb() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("IntervalMeterUsage_bomb.csv", b"0" * (LIMIT * 3))
    return out.getvalue()


def zip_slip() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("../../etc/IntervalMeterUsage.csv", GOOD)
    return out.getvalue()


BILLION_LAUGHS = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>'
                  b'<feed xmlns="http://www.w3.org/2005/Atom" xmlns:e="http://naesb.org/espi"><t>&lol2;</t></feed>')
EXTERNAL = (b'<?xml version="1.0"?><!DOCTYPE feed [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
            b'<feed xmlns="http://www.w3.org/2005/Atom" xmlns:e="http://naesb.org/espi"><t>&x;</t></feed>')

# name -> (bytes, expected status, words the error must contain)
CORPUS = {
    "empty.csv": (b"", "failed", "empty"),
    "header_only.csv": (HEADER, "failed", "no readings"),
    "wrong_header.csv": (b"ESIID,USAGE_DATE,VALUE\n1,2,3\n", "failed", "header"),
    "non_utf8.csv": (HEADER + ROW.replace(b"Consumption", b"Consumpti\xf3n"), "failed", "UTF-8"),
    "one_10mb_line.csv": (b"ESIID," + b"x" * (10 * 1024 * 1024) + b"\n", "failed", "header"),
    "non_numeric_kwh.csv": (HEADER + ROW.replace(b"0.068", b"abc"), "failed", "not a number"),
    "negative_kwh.csv": (HEADER + ROW.replace(b"0.068", b"-0.5"), "failed", "negative"),
    "impossible_date.csv": (HEADER + ROW.replace(b"11/1/2025,", b"2/30/2025,"), "failed", "not a date"),
    "conflicting_duplicate.csv": (HEADER + ROW + ROW.replace(b"0.068", b"0.5"), "failed", "repeated"),
    "binary.csv.gz": (gzip.compress(GOOD), "failed", "binary"),
    "zip_bomb.zip": (zip_bomb(), "quarantined", "bomb"),
    "zip_slip.zip": (zip_slip(), "quarantined", "unsafe path"),
    "not_pgp.asc": (b"-----BEGIN PGP MESSAGE-----\n\nbm90IHBncA==\n-----END PGP MESSAGE-----\n", "quarantined", "PGP"),
    "billion_laughs.xml": (BILLION_LAUGHS, "failed", "refused unsafe XML"),
    "external_entity.xml": (EXTERNAL, "failed", "refused unsafe XML"),
}
# Odd but valid: these load.
VALID = {
    "good.csv": GOOD,
    "bom_and_crlf_lf_mix.csv": b"\xef\xbb\xbf" + GOOD.replace(b"\n", b"\r\n", 40),
    "exact_duplicates.csv": HEADER + ROW + ROW,
}


@pytest.mark.timeout(300)
def test_hostile_corpus_fails_clearly_keeps_bytes_and_spares_the_rest(tmp_path, postgres_url):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for name, (data, _, _) in CORPUS.items():
        (inbox / name).write_bytes(data)
    for name, data in VALID.items():
        (inbox / name).write_bytes(data)
    raw = tmp_path / "raw"
    proc = subprocess.run([sys.executable, "-m", "intelliwatt_pipelines_tests.reliability", postgres_url, str(inbox),
                           str(raw), "--report", str(LIMIT)], cwd=ROOT, capture_output=True, text=True, timeout=280)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])

    engine = create_engine(postgres_url)
    with engine.connect() as conn:
        rows = {r.filename: r for r in conn.execute(sa.select(raw_file).where(raw_file.c.parent_id.is_(None))).all()}
        loaded = conn.execute(sa.select(sa.func.count()).select_from(usage_interval)).scalar_one()
    store = LocalRawStore(raw)
    for name, (data, status, words) in CORPUS.items():
        row = rows[name]
        assert (row.status, words.lower() in (row.error or "").lower()) == (status, True), (name, row.error)
        assert store.get(row.sha256) == data  # raw kept, byte for byte
    for name in VALID:
        assert rows[name].status == "normalized", (name, rows[name].error)
    assert rows["exact_duplicates.csv"].rows_skipped == 1
    assert loaded == 292  # the good files (all the same intervals) landed once
    # bounded memory: a 60 MB zip bomb, a 10 MB line and the rest in one process
    assert report["max_rss_kib"] < 450 * 1024, report["max_rss_kib"]
    engine.dispose()
