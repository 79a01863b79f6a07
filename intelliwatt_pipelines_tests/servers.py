"""Real servers on loopback for the tests: OpenSSH sshd (SFTP), gpg key rings, an S3 server (moto)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"


# Every log record of the run lands in LOG_CAPTURE, and every server process's output file is listed
# in SERVER_LOGS: conftest.py checks all of it for raw ESIIDs at the end of the run.
# One capture per process: pytest-xdist workers each write their own (a name given in the environment
# gets the worker's id appended), and the controller reads them all.
LOG_CAPTURE = Path(os.environ["INTELLIWATT_TEST_LOG_CAPTURE"] + os.environ.get("PYTEST_XDIST_WORKER", "")
                   if "INTELLIWATT_TEST_LOG_CAPTURE" in os.environ else f"/tmp/intelliwatt-test-logs-{os.getpid()}.log")
SERVER_LOGS: list[Path] = []


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout: float = 15.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listening on 127.0.0.1:{port}")


@dataclass
class Sshd:
    port: int
    user: str
    key_path: Path
    known_hosts: Path
    root: Path  # the remote folders live under here
    process: subprocess.Popen

    def kill_sessions(self) -> None:
        """Cut every open SFTP connection (the per-connection sshd children), keep the listener."""
        subprocess.run(["pkill", "-KILL", "-P", str(self.process.pid)], check=False)

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=10)


def start_sshd(base: Path) -> Sshd:
    """sshd on a free 127.0.0.1 port with generated host and user keys; SFTP via internal-sftp."""
    if not os.path.exists(SSHD):
        raise RuntimeError("OpenSSH server not installed (apt-get install -y openssh-server)")
    base.mkdir(parents=True, exist_ok=True)
    os.makedirs("/run/sshd", exist_ok=True)  # privilege separation directory
    host_key, user_key = base / "host_ed25519", base / "user_ed25519"
    for key in (host_key, user_key):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    authorized = base / "authorized_keys"
    shutil.copy(f"{user_key}.pub", authorized)
    authorized.chmod(0o600)
    port = free_port()
    known_hosts = base / "known_hosts"
    known_hosts.write_text(f"[127.0.0.1]:{port} {Path(f'{host_key}.pub').read_text().split(' ', 2)[0]} "
                           f"{Path(f'{host_key}.pub').read_text().split(' ', 2)[1]}\n")
    config = base / "sshd_config"
    config.write_text("\n".join([
        f"Port {port}", "ListenAddress 127.0.0.1", f"HostKey {host_key}", f"AuthorizedKeysFile {authorized}",
        f"PidFile {base / 'sshd.pid'}", "PasswordAuthentication no", "KbdInteractiveAuthentication no",
        "PubkeyAuthentication yes", "PermitRootLogin prohibit-password", "UsePAM no", "StrictModes no",
        "Subsystem sftp internal-sftp", "LogLevel ERROR", "",
    ]))
    process = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stdout=subprocess.DEVNULL,
                               stderr=open(base / "sshd.log", "wb"))
    wait_for_port(port)
    root = base / "remote"
    for folder in ("adhocusage", "EnrollmentReports"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    import getpass

    return Sshd(port=port, user=getpass.getuser(), key_path=user_key, known_hosts=known_hosts, root=root,
                process=process)


@dataclass
class KeyRing:
    home: Path
    passphrase: str
    fingerprint: str


def make_keyring(home: Path, passphrase: str, name: str = "IntelliWatt Test") -> KeyRing:
    """A fresh GNUPGHOME with one key pair (ed25519/cv25519), usable without a terminal."""
    import gnupg

    home.mkdir(parents=True, exist_ok=True)
    home.chmod(0o700)
    # No passphrase cache: a wrong passphrase must fail even right after a right one.
    (home / "gpg-agent.conf").write_text("allow-loopback-pinentry\ndefault-cache-ttl 0\nmax-cache-ttl 0\n")
    gpg = gnupg.GPG(gnupghome=str(home))
    key = gpg.gen_key(gpg.gen_key_input(name_real=name, name_email="test@example.invalid", key_type="EDDSA",
                                        key_curve="ed25519", subkey_type="ECDH", subkey_curve="cv25519",
                                        passphrase=passphrase, expire_date=0))
    assert key.fingerprint, key.stderr
    return KeyRing(home, passphrase, key.fingerprint)


def encrypt_to(ring: KeyRing, data: bytes, *, armor: bool = True) -> bytes:
    import gnupg

    result = gnupg.GPG(gnupghome=str(ring.home)).encrypt(data, ring.fingerprint, armor=armor, always_trust=True)
    assert result.ok, result.stderr
    return result.data


def stop_group(process: subprocess.Popen, grace: float) -> None:
    """SIGTERM a process group started with start_new_session (children included, even when the
    leader has exited); SIGKILL it after ``grace`` seconds."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def stop_gpg_agent(home: Path) -> None:
    subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "gpg-agent"], check=False, capture_output=True)


class DagsterDev:
    """A `dagster dev` (webserver + daemon) process, driven through the UI's GraphQL API."""

    name, poll_seconds = "dagster dev", 2.0

    def __init__(self, command: list[str], cwd: Path, env: dict, log: Path, port: int):
        self.port, self.log_path = port, log
        SERVER_LOGS.append(log)
        self._log = open(log, "wb")
        self.process = subprocess.Popen(command, cwd=cwd, env=env, stdout=self._log, stderr=subprocess.STDOUT,
                                        start_new_session=True)

    def graphql(self, query: str, variables: dict | None = None) -> dict:
        import json
        import urllib.request

        body = json.dumps({"query": query, "variables": variables or {}}).encode()
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}/graphql", data=body,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.load(response)["data"]

    def wait_for(self, predicate, seconds: float, what: str):
        """Poll ``predicate`` (GraphQL errors while starting count as 'not yet') until it returns a value."""
        deadline = time.time() + seconds
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"{self.name} exited ({self.process.returncode})\n{self.tail()}")
            try:
                if value := predicate():
                    return value
            except (OSError, KeyError, TypeError):  # not up yet: no answer, or no data in it
                pass
            time.sleep(self.poll_seconds)
        raise AssertionError(f"timed out waiting for {what}\n{self.tail()}")

    def tail(self) -> str:
        return self.log_path.read_text()[-3000:]

    def stop(self) -> None:
        stop_group(self.process, 30)
        self._log.close()


class ApiServer:
    """``intelliwatt api`` (uvicorn) as its own process on loopback."""

    def __init__(self, env: dict, log: Path, cwd: Path):
        import sys

        self.port, self.log_path = free_port(), log
        SERVER_LOGS.append(log)
        self._log = open(log, "ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "intelliwatt_pipelines.cli", "api", "--port", str(self.port)],
            cwd=cwd, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            wait_for_port(self.port, timeout=60)
        except RuntimeError:
            self.stop()
            raise AssertionError(f"API did not start\n{log.read_text()[-3000:]}") from None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def peak_rss_bytes(self) -> int:
        """The process's peak resident memory (VmHWM) so far."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
        raise RuntimeError("no VmHWM")

    def stop(self) -> None:
        stop_group(self.process, 20)
        self._log.close()
