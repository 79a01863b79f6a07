"""The log privacy check itself. The check of the run's logs is conftest's ``pytest_sessionfinish``
(after the last test, in any order): it fails the session if any log record of the run (the API's
request log, Dagster's run logs, everything else) or any server process's output holds a raw ESIID."""

from intelliwatt_pipelines.pii import mask
from intelliwatt_pipelines_tests.log_privacy import captured_logs, problems, raw_esiid_lines
from intelliwatt_pipelines_tests.servers import LOG_CAPTURE

ONCOR, CENTERPOINT = "10443720000000417", "1008901000000000000417"


def test_the_scan_finds_raw_esiids_and_passes_masked_ones():
    texts = {"a.log": f"ok {mask(ONCOR)}\nleak esiid={ONCOR}\n", "b.log": f"path /esiids/{CENTERPOINT}/x\n",
             "c.log": "other 12345678901234567 alone\nrun 0a1b2c3d-10443720000000417x is a known prefix\n"}
    assert raw_esiid_lines(texts) == [
        f"a.log: leak esiid={ONCOR}", f"b.log: path /esiids/{CENTERPOINT}/x",
        "c.log: other 12345678901234567 alone", "c.log: run 0a1b2c3d-10443720000000417x is a known prefix"]
    assert raw_esiid_lines({"d.log": f"{mask(ONCOR)} {mask(CENTERPOINT)} id 1234567890123456789"}) == []


def test_the_session_check_fails_on_a_leak_and_on_a_capture_missing_a_kind_of_log():
    clean = {str(LOG_CAPTURE): "intelliwatt.api INFO GET /x 200\ndagster-run INFO step done\n"}
    assert problems(clean, whole_suite=True) == []
    assert problems({str(LOG_CAPTURE): "intelliwatt.api INFO\n"}, whole_suite=True) == [
        "the capture missed the API's or Dagster runs' logs"]
    assert problems({str(LOG_CAPTURE): ""}, whole_suite=False) == []
    [leak] = problems({**clean, "server.log": f"sshd: {ONCOR}\n"}, whole_suite=False)
    assert "1 log line(s) with a raw ESIID" in leak and f"server.log: sshd: {ONCOR}" in leak


def test_the_session_capture_is_there(log_capture):
    """The session fixture writes the capture the finish hook reads."""
    assert str(log_capture) in captured_logs()
