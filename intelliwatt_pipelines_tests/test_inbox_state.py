"""The sensor's memory between ticks: when a file is complete, and when a claim ends."""

from intelliwatt_pipelines.ingest.inbox import SensorState, ready_entries
from intelliwatt_pipelines.transport import RemoteEntry

NOW = 1_800_000_000.0
ENTRY = RemoteEntry("/in/a.csv", 100, int((NOW - 5) * 1e9))


def step(state, fresh=(ENTRY,), finished=(), active=(), min_age=60.0):
    return ready_entries(list(fresh), state, now=NOW, min_age_seconds=min_age, finished_run_keys=set(finished),
                         active_run_keys=set(active), reclaim_after_seconds=1800)


def test_a_new_young_file_waits_for_a_second_identical_listing():
    ready, state = step(SensorState())
    assert ready == []
    ready, _ = step(state)
    assert ready == [ENTRY]


def test_an_old_enough_file_is_ready_at_first_sight():
    ready, _ = step(SensorState(), min_age=1.0)
    assert ready == [ENTRY]


def test_claims_hold_while_the_run_lives_and_end_when_it_finished():
    claimed = SensorState(seen={ENTRY.path: [100, ENTRY.mtime_ns]}, claims={ENTRY.key: [NOW - 7200, "run-1"]})
    assert step(claimed, active=["run-1"])[0] == []  # queued for two hours: still its run's
    assert step(claimed, finished=["run-1"])[0] == [ENTRY]  # its run ended without it: offer again
    assert step(claimed)[0] == [ENTRY]  # no run ever appeared and the claim is stale
    recent = SensorState(seen=claimed.seen, claims={ENTRY.key: [NOW - 60, "run-2"]})
    assert step(recent)[0] == []  # just launched, run not visible yet


def test_a_recorded_file_drops_out_of_the_state():
    claimed = SensorState(seen={ENTRY.path: [100, ENTRY.mtime_ns]}, claims={ENTRY.key: [NOW, "run-1"]})
    ready, state = step(claimed, fresh=())
    assert ready == [] and state.claims == {} and state.seen == {}
