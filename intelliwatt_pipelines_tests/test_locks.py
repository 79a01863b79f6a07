"""Per-home write locks on PostgreSQL: a second writer of a home waits, other homes do not, and a
deadlock's victim is run again instead of failing its run."""

import threading

import pytest
import sqlalchemy as sa

from intelliwatt_pipelines.cdm.locks import lock_homes, retry_on_deadlock
from intelliwatt_pipelines.cdm.warehouse import create_engine

A, B = "10443720000000001", "10443720000000002"


@pytest.fixture
def pg(postgres_url):
    engine = create_engine(postgres_url)
    yield engine
    engine.dispose()


def _blocked(engine: sa.Engine, esiid: str) -> bool:
    """Does locking ``esiid`` from another connection wait (lock_timeout expires)?"""
    with engine.begin() as conn:
        conn.execute(sa.text("SET LOCAL lock_timeout = '200ms'"))
        try:
            lock_homes(conn, [esiid])
        except sa.exc.OperationalError as exc:
            assert "lock timeout" in str(exc.orig)
            return True
    return False


def test_a_locked_home_waits_and_other_homes_do_not(pg):
    with pg.begin() as holder:
        lock_homes(holder, [B, A, A])
        assert _blocked(pg, A) and _blocked(pg, B)
        assert not _blocked(pg, "10443720000000003")
    assert not _blocked(pg, A)  # released with the transaction


def test_sqlite_takes_no_lock(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'w.db'}")
    with engine.begin() as conn:
        lock_homes(conn, [A])  # nothing to do: SQLite has one writer at a time


def test_a_deadlock_victim_runs_again(pg):
    """Two transactions lock A, B in opposite orders: PostgreSQL fails one; retried, both commit."""
    with pg.begin() as conn:
        conn.execute(sa.text("CREATE TABLE done (who text)"))
    both_hold_one = threading.Barrier(2, timeout=10)
    attempts = {"ab": 0, "ba": 0}

    @retry_on_deadlock
    def write(who: str, first: str, second: str) -> None:
        attempts[who] += 1
        with pg.begin() as conn:
            lock_homes(conn, [first])
            if attempts[who] == 1:
                both_hold_one.wait()
            lock_homes(conn, [second])
            conn.execute(sa.text("INSERT INTO done VALUES (:w)"), {"w": who})

    errors = []
    threads = [threading.Thread(target=lambda w=w, f=f, s=s: _run(errors, write, w, f, s))
               for w, f, s in (("ab", A, B), ("ba", B, A))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors
    with pg.connect() as conn:
        assert sorted(conn.execute(sa.text("SELECT who FROM done")).scalars()) == ["ab", "ba"]
    assert sorted(attempts.values()) == [1, 2]  # exactly one was chosen as the victim and ran again


def _run(errors: list, fn, *args) -> None:
    try:
        fn(*args)
    except Exception as exc:  # reported by the test thread
        errors.append(exc)
