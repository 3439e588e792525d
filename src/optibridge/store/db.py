"""Engines and transactions for SQLite (the embedded default) and PostgreSQL (scale-out)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

# Seconds a SQLite writer waits for another process's write lock before giving up.
SQLITE_BUSY_TIMEOUT_MS = 30_000
_sqlite_writers: WeakKeyDictionary[Engine, threading.RLock] = WeakKeyDictionary()
_sqlite_writers_guard = threading.Lock()


def is_sqlite(engine: Engine | Connection) -> bool:
    return engine.dialect.name == "sqlite"


def make_engine(url: str, *, sqlite_synchronous: str = "FULL") -> Engine:
    """An engine tuned for many processes sharing one database. On SQLite, every commit is on
    disk before it returns (`synchronous=FULL`) unless told otherwise (docs/benchmarks.md)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        if sqlite_synchronous not in ("FULL", "NORMAL"):
            raise ValueError("sqlite_synchronous is FULL or NORMAL")
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
        _make_sqlite_transactions_explicit(engine, sqlite_synchronous)
        return engine
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        # Plain postgresql:// means psycopg 3 here, the driver we ship.
        url = parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    # No ping before every checkout (a round trip per request): connections are recycled
    # before a server or proxy would drop them idle, and one found dead is replaced (the
    # pool invalidates it; the request answers 5xx once and the sender retries).
    return create_engine(url, pool_recycle=1800, pool_size=10, max_overflow=20)


def _make_sqlite_transactions_explicit(engine: Engine, synchronous: str) -> None:
    """pysqlite's implicit transactions can't take a write lock up front; we need BEGIN IMMEDIATE.

    This is SQLAlchemy's documented recipe: the driver stops issuing BEGIN, we issue it ourselves,
    IMMEDIATE when the caller asked for `sqlite_immediate` (claims, the rate limiter).
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        immediate = connection.get_execution_options().get("sqlite_immediate", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


@contextmanager
def write_locked(engine: Engine) -> Iterator[Connection]:
    """A transaction that holds the write lock from its first statement.

    On SQLite that is BEGIN IMMEDIATE (one writer at a time, across processes); on PostgreSQL an
    ordinary transaction, and callers lock the rows they need with FOR UPDATE.
    """
    with one_writer_at_a_time(engine), engine.connect() as connection:
        connection.execution_options(sqlite_immediate=True)
        with connection.begin():
            yield connection


@contextmanager
def one_writer_at_a_time(engine: Engine) -> Iterator[None]:
    """On SQLite, the threads of this process take the database's write lock in turn.

    SQLite admits one writer; the others wait in its busy handler, which polls with sleeps that
    grow to 100 ms, so a few threads writing at once turn into tails of hundreds of ms (the
    webhook intake measured p99 600 ms at 16 concurrent deliveries). Queued on a lock instead,
    the next thread starts the moment the previous one commits. Writers in other processes
    still meet the busy handler. Wrap only transactions that write and make no outside call.
    """
    if not is_sqlite(engine):
        yield
        return
    with _sqlite_writers_guard:
        lock = _sqlite_writers.setdefault(engine, threading.RLock())
    with lock:
        yield


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)
