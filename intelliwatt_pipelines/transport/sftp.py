"""An SFTP server's folders as an inbox (SMT delivers to a CSP's SFTP folder), via paramiko."""

from __future__ import annotations

import posixpath
import stat
from contextlib import contextmanager
from dataclasses import dataclass, field

from intelliwatt_pipelines.transport.base import DEFAULT_PATTERNS, RemoteEntry, TransportError, matches

CONNECT_TIMEOUT = 20
PREFETCH_REQUESTS = 64  # x 32 KiB in flight


@dataclass(frozen=True)
class SftpSettings:
    host: str
    port: int = 22
    username: str = ""
    private_key_path: str | None = None  # None: use the SSH agent / default keys
    known_hosts_path: str | None = None
    # "reject" (known host keys only), "accept-new" (trust on first use, then pinned), "warn-any"
    host_key_policy: str = "reject"
    folders: tuple[str, ...] = ("/adhocusage", "/EnrollmentReports")
    patterns: tuple[str, ...] = DEFAULT_PATTERNS
    key_passphrase: str | None = field(default=None, repr=False)


class SftpInbox:
    def __init__(self, settings: SftpSettings):
        self.settings = settings
        self.source = f"sftp:{settings.host}"
        self._sftp = None

    def _connect(self):
        import paramiko

        s = self.settings
        client = paramiko.SSHClient()
        if s.host_key_policy == "accept-new" and not s.known_hosts_path:
            raise TransportError("host key policy accept-new needs INTELLIWATT_SFTP_KNOWN_HOSTS to pin the key in")
        client.set_missing_host_key_policy({
            "accept-new": paramiko.AutoAddPolicy, "warn-any": paramiko.WarningPolicy,
        }.get(s.host_key_policy, paramiko.RejectPolicy)())
        try:
            if s.known_hosts_path:
                if s.host_key_policy == "accept-new":
                    open(s.known_hosts_path, "a").close()  # first use: nothing pinned yet
                client.load_host_keys(s.known_hosts_path)
            else:
                client.load_system_host_keys()
            client.connect(s.host, port=s.port, username=s.username or None, key_filename=s.private_key_path,
                           passphrase=s.key_passphrase, timeout=CONNECT_TIMEOUT, banner_timeout=CONNECT_TIMEOUT,
                           auth_timeout=CONNECT_TIMEOUT, look_for_keys=s.private_key_path is None,
                           allow_agent=s.private_key_path is None)
            if s.host_key_policy == "accept-new" and s.known_hosts_path:
                client.save_host_keys(s.known_hosts_path)
            return client, client.open_sftp()
        except paramiko.AuthenticationException as exc:
            client.close()
            raise TransportError(f"SFTP login to {s.host}:{s.port} as {s.username!r} refused: {exc}") from None
        except paramiko.SSHException as exc:
            client.close()
            raise TransportError(f"SFTP session with {s.host}:{s.port} failed: {exc}") from None
        except OSError as exc:
            client.close()
            raise TransportError(f"cannot reach SFTP server {s.host}:{s.port}: {exc.strerror or exc}") from None

    @contextmanager
    def session(self):
        """One SSH connection for a listing or a run's downloads."""
        client, self._sftp = self._connect()
        try:
            yield self
        finally:
            self._sftp = None
            client.close()

    def list_entries(self) -> list[RemoteEntry]:
        if self._sftp is None:  # outside a session (the sensor): open one just for the listing
            with self.session():
                return self.list_entries()
        entries = []
        for folder in self.settings.folders:
            try:
                listing = self._sftp.listdir_attr(folder)
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise TransportError(f"cannot list {folder} on {self.settings.host}: {exc}") from None
            for attr in listing:
                if stat.S_ISREG(attr.st_mode or 0) and matches(attr.filename, self.settings.patterns):
                    entries.append(RemoteEntry(posixpath.join(folder, attr.filename), attr.st_size or 0,
                                               int(attr.st_mtime or 0) * 1_000_000_000))
        return sorted(entries, key=lambda e: (e.mtime_ns, e.path))

    def open(self, entry: RemoteEntry):
        """A readable stream of the remote file; a broken transfer raises TransportError."""
        handle = None
        try:
            handle = self._sftp.open(entry.path, "rb")
            # Bounded read-ahead: fast on long links, and memory stays small for large files.
            handle.prefetch(entry.size_bytes, max_concurrent_requests=PREFETCH_REQUESTS)
        except Exception as exc:  # a missing file, or a connection that already dropped
            if handle is not None:
                _Guarded(handle, entry.path).close()
            raise TransportError(f"cannot open {entry.path} on {self.settings.host}: "
                                 f"{type(exc).__name__}: {exc}") from None
        return _Guarded(handle, entry.path)

    def read_sidecar(self, path: str, limit: int) -> bytes | None:
        try:
            with self._sftp.open(path, "rb") as handle:
                return handle.read(limit)
        except FileNotFoundError:
            return None
        except Exception as exc:  # a dropped connection: the file is offered again
            raise TransportError(f"cannot read {path} on {self.settings.host}: {type(exc).__name__}: {exc}") from None

    def delete(self, entry: RemoteEntry) -> None:
        self._sftp.remove(entry.path)


class _Guarded:
    """Turns any failure while reading (a dropped connection) into a TransportError."""

    def __init__(self, handle, path: str):
        self.handle, self.path = handle, path

    def read(self, size: int = -1) -> bytes:
        try:
            return self.handle.read(size)
        except Exception as exc:  # paramiko raises SSHException, EOFError, OSError… on a drop
            raise TransportError(f"transfer of {self.path} broke off: {type(exc).__name__}: {exc}") from None

    def close(self) -> None:
        try:
            self.handle.close()
        except Exception:  # the connection is already gone; nothing left to release
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()
