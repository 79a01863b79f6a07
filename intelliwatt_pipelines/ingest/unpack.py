"""Unpack SMT deliveries: PGP-encrypted (ASCII-armoured) ZIPs holding CSVs, or plain ZIPs.

Streams and files, never a whole package or member in memory: gpg (a subprocess through
python-gnupg) decrypts into a temporary file, and a ZIP is read from its file one member at a time.
Anything unsafe or unreadable raises QuarantineError with a message for a person: the caller keeps
the raw bytes and quarantines the file.
"""

from __future__ import annotations

import io
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import BinaryIO

from intelliwatt_pipelines.kinds import PGP_SUFFIXES, ZIP_MAGIC, package_kind

CHUNK = 1 << 20


class QuarantineError(ValueError):
    """A package that must not be processed further (wrong key, corrupt, unsafe, too large)."""


@dataclass(frozen=True)
class UnpackLimits:
    max_unpacked_bytes: int = 1 << 30  # decompressed bytes per package (zip and gpg bombs)
    max_members: int = 1000


@dataclass(frozen=True)
class Member:
    """A CSV of a package. ``open()`` gives a new stream of its bytes, while the package is open."""

    name: str
    open: Callable[[], BinaryIO]


def decrypt_to(stream: BinaryIO, out: Path, *, gnupghome: str | None, passphrase: str | None,
               limits: UnpackLimits) -> None:
    """Decrypt a PGP message from ``stream`` into the file ``out``."""
    import gnupg

    gpg = gnupg.GPG(gnupghome=gnupghome)
    # --max-output bounds what gpg will write: a compressed PGP packet can be a bomb too.
    result = gpg.decrypt_file(stream, passphrase=passphrase, output=str(out),
                              extra_args=["--max-output", str(limits.max_unpacked_bytes)])
    stderr = result.stderr or ""
    written = out.stat().st_size if out.exists() else 0
    # gpg stops writing at --max-output yet still reports DECRYPTION_OKAY: check its words, not ok.
    if "max-output" in stderr or written >= limits.max_unpacked_bytes:
        raise QuarantineError(f"PGP decryption failed: decrypted output exceeds {limits.max_unpacked_bytes} "
                              "bytes (decompression bomb?)")
    if result.ok:
        return
    detail = (result.status or "").strip() or "unknown error"
    if "no secret key" in stderr.lower() or "NO_SECKEY" in stderr:
        detail = "no usable secret key (encrypted to another key, or a wrong INTELLIWATT_GPG_PASSPHRASE)"
    elif "no valid OpenPGP data" in stderr or "NODATA" in stderr:
        detail = "not valid OpenPGP data (corrupt armour?)"
    raise QuarantineError(f"PGP decryption failed: {detail}")


def _safe_name(name: str) -> bool:
    """A relative path with no '..' component and no drive letter (it could not escape a folder)."""
    parts = name.replace("\\", "/").split("/")
    return not (name.startswith(("/", "\\")) or ".." in parts or any(":" in part for part in parts))


def _read_through(archive: zipfile.ZipFile, info: zipfile.ZipInfo, budget: int, limits: UnpackLimits) -> int:
    """Decompress one entry without keeping it (size and CRC checked); its size. ``budget``: bytes
    the package may still expand to."""
    size = 0
    try:
        with archive.open(info) as fh:
            while chunk := fh.read(CHUNK):
                size += len(chunk)
                if size > budget:
                    raise QuarantineError(
                        f"ZIP expands past {limits.max_unpacked_bytes} bytes (decompression bomb?)")
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, NotImplementedError, RuntimeError) as exc:
        # RuntimeError: a password-protected entry
        raise QuarantineError(f"unreadable ZIP entry {info.filename!r}: {exc}") from None
    return size


def unzip_csvs(source: bytes | BinaryIO, limits: UnpackLimits) -> list[Member]:
    """The CSV entries of a ZIP (bytes or a seekable file), each read through once with a bound on
    the decompressed size, so a package is refused whole before any member is used."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(source) if isinstance(source, bytes) else source)
        infos = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError) as exc:
        raise QuarantineError(f"corrupt ZIP: {exc}") from None
    if len(infos) > limits.max_members:
        raise QuarantineError(f"ZIP has {len(infos)} entries, more than the limit of {limits.max_members}")
    unsafe = [i.filename for i in infos if not _safe_name(i.filename)]
    if unsafe:
        raise QuarantineError(f"ZIP entry with an unsafe path: {unsafe[0]!r}")
    members, total = [], 0
    for info in infos:
        if info.is_dir() or not info.filename.lower().endswith(".csv"):
            continue
        total += _read_through(archive, info, limits.max_unpacked_bytes - total, limits)
        members.append(Member(info.filename.replace("\\", "/"), partial(archive.open, info)))
    if not members:
        raise QuarantineError(f"ZIP holds no CSV file (entries: {[i.filename for i in infos][:10]})")
    return members


def _inner_name(filename: str) -> str:
    """A bare CSV's name from its PGP file's name (``x.csv.asc`` -> ``x.csv``, ``x.asc`` -> ``x.csv``)."""
    inner = filename.rsplit("/", 1)[-1]
    for suffix in PGP_SUFFIXES:
        inner = inner[: -len(suffix)] if inner.lower().endswith(suffix) else inner
    return inner if "." in inner else inner + ".csv"


@contextmanager
def unpacked(stream: BinaryIO, filename: str, *, gnupghome: str | None = None, passphrase: str | None = None,
             limits: UnpackLimits = UnpackLimits()) -> Iterator[list[Member]]:
    """The CSV members of a package read from a seekable stream, all checked before the caller reads
    any. A PGP message may hold a ZIP or a bare CSV; it is decrypted into a temporary file that is
    removed when the block ends, however it ends."""
    kind = package_kind(stream.read(64), filename)
    stream.seek(0)
    if kind != "pgp":
        yield unzip_csvs(stream, limits)
        return
    with tempfile.TemporaryDirectory(prefix="intelliwatt-unpack-") as tmp:
        plain = Path(tmp) / "decrypted"
        decrypt_to(stream, plain, gnupghome=gnupghome, passphrase=passphrase, limits=limits)
        with open(plain, "rb") as fh:
            if fh.read(4) != ZIP_MAGIC:
                yield [Member(_inner_name(filename), partial(open, plain, "rb"))]
                return
            fh.seek(0)
            yield unzip_csvs(fh, limits)
