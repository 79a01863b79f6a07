"""Runs last (file order): the log capture of the whole test run holds no raw ESIID.

The capture is every Python log record of the session (the API's request log, Dagster's run logs,
everything else) plus the output files of every server process the tests started.
"""

import re

import pytest

from intelliwatt_pipelines_tests.servers import LOG_CAPTURE, SERVER_LOGS

# The tests' ESIIDs all start with these prefixes (samples and generated files), wherever they appear;
# any other 17- or 22-digit number standing on its own also counts.
KNOWN = re.compile(r"(1044372[0-9]{10}|1008901[0-9]{15})")
STANDALONE = re.compile(r"(?<![0-9A-Za-z])([0-9]{22}|[0-9]{17})(?![0-9A-Za-z])")


def test_the_whole_runs_logs_hold_no_raw_esiid(request):
    if len(request.session.items) == 1:
        pytest.skip("run with the rest of the suite: it checks what the other tests logged")
    texts = {str(LOG_CAPTURE): LOG_CAPTURE.read_text(errors="replace")}
    texts |= {str(p): p.read_text(errors="replace") for p in SERVER_LOGS if p.exists()}
    if len(request.session.items) > 100:  # the whole suite: the capture must hold both kinds of log
        assert "intelliwatt.api" in texts[str(LOG_CAPTURE)] and "dagster-run" in texts[str(LOG_CAPTURE)], \
            "the capture missed the API's or Dagster runs' logs"
    leaks = [f"{name}: {line[:300]}" for name, text in texts.items() for line in text.splitlines()
             if KNOWN.search(line) or STANDALONE.search(line)]
    assert not leaks, f"{len(leaks)} log line(s) with a raw ESIID:\n" + "\n".join(leaks[:20])
