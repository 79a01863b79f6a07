"""The session-wide log privacy check: no raw ESIID in any log record of the run or server output.

conftest's ``pytest_sessionfinish`` runs it after every test (whatever their order or selection) and
fails the session on a leak; under pytest-xdist each worker sends its log files (``session_logs``) to
the controller, which checks them all together once. test_log_privacy.py tests the scan itself.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from intelliwatt_pipelines_tests.servers import LOG_CAPTURE, SERVER_LOGS

# The tests' ESIIDs all start with these prefixes (samples and generated files), wherever they appear;
# any other 17- or 22-digit number standing on its own also counts.
KNOWN = re.compile(r"(1044372[0-9]{10}|1008901[0-9]{15})")
STANDALONE = re.compile(r"(?<![0-9A-Za-z])([0-9]{22}|[0-9]{17})(?![0-9A-Za-z])")


def session_logs() -> list[str]:
    """This process's log files: its capture first, then the output of every server it started."""
    return [str(LOG_CAPTURE), *map(str, SERVER_LOGS)]


def read_logs(paths: list[str]) -> dict[str, str]:
    """The text of each log file that exists, by file name."""
    return {str(p): Path(p).read_text(errors="replace") for p in paths if Path(p).exists()}


def captured_logs(capture: Path = LOG_CAPTURE, servers: list[Path] = SERVER_LOGS) -> dict[str, str]:
    """Every captured log text of the session, by file name."""
    return read_logs([str(capture), *map(str, servers)])


def raw_esiid_lines(texts: dict[str, str]) -> list[str]:
    """The lines holding a raw ESIID, as "file: line" (cut to 300 characters)."""
    return [f"{name}: {line[:300]}" for name, text in texts.items() for line in text.splitlines()
            if KNOWN.search(line) or STANDALONE.search(line)]


def problems(texts: dict[str, str], whole_suite: bool, captures: Sequence[str] = (str(LOG_CAPTURE),)) -> list[str]:
    """What is wrong with the session's logs: leaks, and (whole suite) captures (one per xdist worker)
    that together miss a kind of log."""
    found = []
    capture = "\n".join(texts.get(str(name), "") for name in captures)
    if whole_suite and not ("intelliwatt.api" in capture and "dagster-run" in capture):
        found.append("the capture missed the API's or Dagster runs' logs")
    leaks = raw_esiid_lines(texts)
    if leaks:
        found.append(f"{len(leaks)} log line(s) with a raw ESIID:\n" + "\n".join(leaks[:20]))
    return found
