"""Packages streamed: a PGP/ZIP package is read from the raw store as a stream, decrypted into a
temporary file, and its CSVs are taken one at a time, each streamed into the raw store and
normalized from there: no member is ever whole in memory, and no temporary file outlives the
package, quarantined or not. The ~500 MB package through ``intelliwatt ingest`` is
bench/package_memory.py."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import shutil
import tempfile
import tracemalloc
import zipfile

import gnupg
import pytest
import sqlalchemy as sa

from intelliwatt_pipelines.cdm.tables import raw_file, usage_interval
from intelliwatt_pipelines.ingest.inbox import IngestOptions, take_entry
from intelliwatt_pipelines.ingest.unpack import UnpackLimits
from intelliwatt_pipelines.rawstore import LocalRawStore
from intelliwatt_pipelines.samples import date_range, smt_interval_csv
from intelliwatt_pipelines.transport import LocalInbox
from intelliwatt_pipelines_tests.servers import make_keyring, stop_gpg_agent

pytestmark = pytest.mark.slow  # streams large packages

PASSPHRASE = "streamed packages"
YEAR = smt_interval_csv("10443720000000000", date_range(dt.date(2025, 1, 1), dt.date(2025, 12, 31)), seed=7)
HEADER, BODY = YEAR.split(b"\r\n", 1)
MEMBER_HOMES = 3  # ~10.5 MB of CSV per member


@pytest.fixture(scope="module")
def keyring(tmp_path_factory):
    ring = make_keyring(tmp_path_factory.mktemp("gnupg"), PASSPHRASE)
    yield ring
    stop_gpg_agent(ring.home)


def write_package(path, members: int, compression: int = zipfile.ZIP_DEFLATED) -> dict[str, str]:
    """A ZIP of SMT interval CSVs of distinct homes, written member by member (never whole in
    memory); member name -> sha256 of its bytes."""
    digests = {}
    with zipfile.ZipFile(path, "w", compression) as archive:
        for m in range(members):
            name, digest = f"IntervalMeterUsage_part{m}.csv", hashlib.sha256()
            with archive.open(name, "w") as out:
                homes = [BODY.replace(b"10443720000000000", f"1044372100000{m}{h:03d}".encode())
                         for h in range(MEMBER_HOMES)]
                for chunk in [HEADER + b"\r\n"] + homes:
                    out.write(chunk)
                    digest.update(chunk)
            digests[name] = digest.hexdigest()
    return digests


def encrypt(ring, source, target) -> None:
    with open(source, "rb") as fh:
        result = gnupg.GPG(gnupghome=str(ring.home)).encrypt_file(fh, ring.fingerprint, armor=True,
                                                                  always_trust=True, output=str(target))
    assert result.ok, result.stderr
    source.unlink()


@pytest.fixture
def spool_dir(tmp_path, monkeypatch):
    """Where temporary files go for this test, to see that none is left."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


@pytest.mark.timeout(600)
def test_a_package_is_taken_member_by_member_never_whole_in_memory(engine, tmp_path, keyring, spool_dir):
    """The first delivery's members are streamed into the raw store and normalized from there. The
    same CSVs again in other packages (stored instead of deflated; PGP-encrypted) are measured: their
    members are known by their bytes, so unpacking and capturing is all that runs, and its peak stays
    below the size of one member: none was ever whole in memory (the old code held them all)."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    digests = write_package(tmp_path / "IntervalMeterUsage_package.zip", members=3)
    shutil.copy(tmp_path / "IntervalMeterUsage_package.zip", inbox)
    member_bytes = len(HEADER) + 2 + MEMBER_HOMES * len(BODY)
    options = IngestOptions(gnupghome=str(keyring.home), gpg_passphrase=PASSPHRASE)
    transport, store = LocalInbox(inbox), LocalRawStore(tmp_path / "raw")
    (first,) = transport.list_entries()
    outcomes = take_entry(engine, store, transport, first, options=options)
    assert [o.status for o in outcomes] == ["normalized"] * 4, [(o.filename, o.error) for o in outcomes]
    with engine.connect() as conn:
        children = dict(conn.execute(sa.select(raw_file.c.filename, raw_file.c.sha256)
                                     .where(raw_file.c.parent_id.is_not(None))).all())
        stored = conn.execute(sa.select(sa.func.count()).select_from(usage_interval)).scalar_one()
    assert children == {f"{first.name}!{name}": sha for name, sha in digests.items()}  # byte for byte
    assert stored == sum(o.rows_written for o in outcomes) == 3 * MEMBER_HOMES * 35040

    write_package(inbox / "IntervalMeterUsage_stored.zip", members=3, compression=zipfile.ZIP_STORED)
    encrypt(keyring, tmp_path / "IntervalMeterUsage_package.zip", inbox / "IntervalMeterUsage_package.zip.asc")
    again = [e for e in transport.list_entries() if e != first]
    assert len(again) == 2
    for entry in again:
        tracemalloc.start()
        try:
            outcomes = take_entry(engine, store, transport, entry, options=options)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert [o.status for o in outcomes] == ["normalized"] + ["known"] * 3, [(o.filename, o.error) for o in outcomes]
        assert peak < member_bytes, f"{entry.name}: peak {peak / 2**20:.1f} MiB, members {member_bytes / 2**20:.1f} MiB"
    assert list(spool_dir.iterdir()) == []


def zipped(compression: int = zipfile.ZIP_DEFLATED, **members: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return out.getvalue()


def corrupt_last_member(archive: bytes) -> bytes:
    """The (stored) ZIP with one byte of its last member changed: a CRC error once it is read."""
    info = zipfile.ZipFile(io.BytesIO(archive)).infolist()[-1]
    local = archive[info.header_offset:info.header_offset + 30]
    at = info.header_offset + 30 + int.from_bytes(local[26:28], "little") + int.from_bytes(local[28:30], "little")
    at += info.compress_size // 2
    return archive[:at] + bytes([archive[at] ^ 0xFF]) + archive[at + 1:]


GOOD = HEADER + b"\r\n" + BODY[:200_000].rsplit(b"\r\n", 1)[0] + b"\r\n"
LIMIT = 4 << 20
BOMB = zipped(**{"a.csv": GOOD, "b.csv": b"0" * (2 * LIMIT)})
CRC_ERROR = corrupt_last_member(zipped(zipfile.ZIP_STORED, **{"a.csv": GOOD, "b.csv": GOOD}))


# The first member is good, a later one is bad: nothing of the package is taken.
@pytest.mark.parametrize("name, data, reason", [
    ("IntervalMeterUsage_bomb.zip", BOMB, "ZIP expands past 4194304 bytes (decompression bomb?)"),
    ("IntervalMeterUsage_bomb.zip.asc", BOMB, "ZIP expands past 4194304 bytes (decompression bomb?)"),
    ("IntervalMeterUsage_crc.zip.asc", CRC_ERROR, "unreadable ZIP entry 'b.csv': Bad CRC-32"),
    ("IntervalMeterUsage_gpgbomb.csv.asc", b"0,0,0,0\n" * (LIMIT // 8),
     "PGP decryption failed: decrypted output exceeds 4194304 bytes (decompression bomb?)"),
])
def test_a_quarantined_package_leaves_no_member_and_no_temporary_file(engine, tmp_path, keyring, spool_dir,
                                                                       name, data, reason):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    if name.endswith(".asc"):
        (tmp_path / "plain").write_bytes(data)
        encrypt(keyring, tmp_path / "plain", inbox / name)
    else:
        (inbox / name).write_bytes(data)
    transport = LocalInbox(inbox)
    (entry,) = transport.list_entries()
    options = IngestOptions(gnupghome=str(keyring.home), gpg_passphrase=PASSPHRASE,
                            limits=UnpackLimits(max_unpacked_bytes=LIMIT))
    (outcome,) = take_entry(engine, LocalRawStore(tmp_path / "raw"), transport, entry, options=options)
    assert outcome.status == "quarantined" and reason in outcome.error, outcome.error
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(raw_file)).scalar_one() == 1  # the package only
    assert list(spool_dir.iterdir()) == []
