"""Unpack SMT deliveries: PGP-encrypted (ASCII-armoured) ZIPs holding CSVs, or plain ZIPs.

Pure functions over bytes (gpg runs as a subprocess through python-gnupg). Anything unsafe or
unreadable raises QuarantineError with a message for a person: the caller keeps the raw bytes and
quarantines the file.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass

PGP_ARMOUR = b"-----BEGIN PGP MESSAGE-----"
ZIP_MAGIC = b"PK\x03\x04"
CHUNK = 1 << 20


class QuarantineError(ValueError):
    """A package that must not be processed further (wrong key, corrupt, unsafe, too large)."""


@dataclass(frozen=True)
class UnpackLimits:
    max_unpacked_bytes: int = 1 << 30  # decompressed bytes per package (zip and gpg bombs)
    max_members: int = 1000


@dataclass(frozen=True)
class Member:
    name: str
    data: bytes


def package_kind(data: bytes, filename: str = "") -> str | None:
    """``pgp`` or ``zip`` when the bytes are a package, else None."""
    head = data[:64].lstrip()
    if head.startswith(PGP_ARMOUR) or filename.lower().endswith((".asc", ".pgp", ".gpg")):
        return "pgp"
    if data[:4] == ZIP_MAGIC:
        return "zip"
    return None


def decrypt(data: bytes, *, gnupghome: str | None, passphrase: str | None, limits: UnpackLimits) -> bytes:
    import gnupg

    gpg = gnupg.GPG(gnupghome=gnupghome)
    # --max-output bounds what gpg will write: a compressed PGP packet can be a bomb too.
    result = gpg.decrypt(data, passphrase=passphrase, extra_args=["--max-output", str(limits.max_unpacked_bytes)])
    stderr = result.stderr or ""
    # gpg stops writing at --max-output yet still reports DECRYPTION_OKAY: check its words, not ok.
    if "max-output" in stderr or len(result.data or b"") >= limits.max_unpacked_bytes:
        raise QuarantineError(f"PGP decryption failed: decrypted output exceeds {limits.max_unpacked_bytes} "
                              "bytes (decompression bomb?)")
    if result.ok:
        return result.data
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


def unzip_csvs(data: bytes, limits: UnpackLimits) -> list[Member]:
    """The CSV entries of a ZIP, read with a bound on decompressed size."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
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
        out = io.BytesIO()
        try:
            with archive.open(info) as fh:
                while chunk := fh.read(CHUNK):
                    total += len(chunk)
                    if total > limits.max_unpacked_bytes:
                        raise QuarantineError(
                            f"ZIP expands past {limits.max_unpacked_bytes} bytes (decompression bomb?)")
                    out.write(chunk)
        except (zipfile.BadZipFile, EOFError, OSError, ValueError, NotImplementedError, RuntimeError) as exc:
            # RuntimeError: a password-protected entry
            raise QuarantineError(f"unreadable ZIP entry {info.filename!r}: {exc}") from None
        members.append(Member(info.filename.replace("\\", "/"), out.getvalue()))
    if not members:
        raise QuarantineError(f"ZIP holds no CSV file (entries: {[i.filename for i in infos][:10]})")
    return members


def unpack(data: bytes, filename: str, *, gnupghome: str | None = None, passphrase: str | None = None,
           limits: UnpackLimits = UnpackLimits()) -> list[Member]:
    """The CSV members of a package. A PGP message may hold a ZIP or a bare CSV."""
    kind = package_kind(data, filename)
    if kind == "pgp":
        data = decrypt(data, gnupghome=gnupghome, passphrase=passphrase, limits=limits)
        if data[:4] != ZIP_MAGIC:
            inner = filename.rsplit("/", 1)[-1]
            for suffix in (".asc", ".pgp", ".gpg"):
                inner = inner[: -len(suffix)] if inner.lower().endswith(suffix) else inner
            return [Member(inner if "." in inner else inner + ".csv", data)]
    return unzip_csvs(data, limits)
