"""The rate-limit rows: created on first use, locked per bucket, timed by one shared clock."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import Engine

from optibridge.store.db import write_locked
from optibridge.store.rate_limits import (
    BucketState,
    clock_us,
    lock_bucket,
    read_bucket,
    save_bucket,
)


def test_a_bucket_is_created_empty_on_first_use(engine: Engine) -> None:
    with write_locked(engine) as connection:
        assert lock_bucket(connection, "optimove:new") == BucketState((), 0)
    with engine.connect() as connection:
        assert read_bucket(connection, "optimove:new") == BucketState((), 0)


def test_an_unknown_bucket_reads_as_none(engine: Engine) -> None:
    with engine.connect() as connection:
        assert read_bucket(connection, "optimove:never-used") is None


def test_saved_stamps_and_count_read_back(engine: Engine) -> None:
    with write_locked(engine) as connection:
        lock_bucket(connection, "b")
        save_bucket(connection, "b", BucketState((1_700_000_000_000_001, 1_700_000_000_500_000), 3))
    with write_locked(engine) as connection:
        assert lock_bucket(connection, "b") == BucketState(
            (1_700_000_000_000_001, 1_700_000_000_500_000), 3
        )


def test_buckets_are_independent(engine: Engine) -> None:
    with write_locked(engine) as connection:
        lock_bucket(connection, "a")
        lock_bucket(connection, "b")
        save_bucket(connection, "a", BucketState((5,), 1))
    with engine.connect() as connection:
        assert read_bucket(connection, "b") == BucketState((), 0)


def test_the_clock_is_epoch_microseconds(engine: Engine) -> None:
    with write_locked(engine) as connection:
        database_now = clock_us(connection)
    assert abs(database_now - time.time_ns() // 1000) < 5_000_000


def test_the_clock_moves_inside_a_transaction(engine: Engine) -> None:
    """clock_timestamp(), not now(): waiting for a lock must count as time passing."""
    with write_locked(engine) as connection:
        first = clock_us(connection)
        time.sleep(0.02)
        second = clock_us(connection)
    assert second - first >= 15_000


def test_many_first_users_at_once_create_one_row(engine: Engine) -> None:
    start = threading.Barrier(8)

    def first_use(_: int) -> BucketState:
        start.wait()
        with write_locked(engine) as connection:
            return lock_bucket(connection, "optimove:racy")

    with ThreadPoolExecutor(8) as pool:
        states = list(pool.map(first_use, range(8)))
    assert states == [BucketState((), 0)] * 8


def test_a_locked_bucket_admits_one_locker_at_a_time(engine: Engine) -> None:
    """Lockers read, add one and save, all at once: none may read what another is changing, so
    no increment is lost."""
    with write_locked(engine) as connection:
        lock_bucket(connection, "held")
    lockers, increments = 6, 15
    start = threading.Barrier(lockers)

    def count_up(_: int) -> None:
        start.wait()
        for _ in range(increments):
            with write_locked(engine) as connection:
                state = lock_bucket(connection, "held")
                counted = BucketState(state.stamps, state.throttled_total + 1)
                save_bucket(connection, "held", counted)

    with ThreadPoolExecutor(lockers) as pool:
        list(pool.map(count_up, range(lockers)))
    with engine.connect() as connection:
        final = read_bucket(connection, "held")
    assert final is not None
    assert final.throttled_total == lockers * increments


def test_garbage_in_the_stamps_column_is_ignored(engine: Engine) -> None:
    with write_locked(engine) as connection:
        lock_bucket(connection, "messy")
        save_bucket(connection, "messy", BucketState((1, 2), 0))
        connection.exec_driver_sql(
            "UPDATE rate_limit_buckets SET stamps = '[1, \"x\", null, true, 2.5]' "
            "WHERE bucket = 'messy'"
        )
    with write_locked(engine) as connection:
        assert lock_bucket(connection, "messy").stamps == (1, 2)
