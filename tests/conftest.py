"""Shared fixtures: a migrated database on SQLite and, when available, PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import settings
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from optibridge.store.db import make_engine
from optibridge.store.migrate import upgrade_to_head

POSTGRES_URL_VARIABLE = "OPTIBRIDGE_TEST_POSTGRES_URL"

# Properties check behaviour, not speed (benchmarks do): no per-example deadline, which a busy
# 2-core CI machine would turn into flaky failures.
settings.register_profile("optibridge", deadline=None)
settings.load_profile("optibridge")


def postgres_server_url() -> str | None:
    url = os.environ.get(POSTGRES_URL_VARIABLE)
    if not url and os.environ.get("CI"):
        raise RuntimeError(f"CI must set {POSTGRES_URL_VARIABLE} (.ci/run starts PostgreSQL)")
    return url


@contextmanager
def empty_database(kind: str, directory: Path) -> Iterator[str]:
    """The URL of an empty database of `kind` ("sqlite" in `directory`, or a fresh PostgreSQL
    database, dropped afterwards; skipped when no PostgreSQL server is configured)."""
    if kind == "sqlite":
        yield f"sqlite:///{directory / 'optibridge.db'}"
        return
    server_url = postgres_server_url()
    if server_url is None:
        pytest.skip(f"{POSTGRES_URL_VARIABLE} is not set (CI always sets it)")
    name = f"test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of each kind; PostgreSQL gets a fresh database per test."""
    with empty_database(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """A migrated database."""
    migrated = make_engine(database_url)
    upgrade_to_head(migrated)
    yield migrated
    migrated.dispose()


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    """A migrated SQLite database, for tests that need one but not both kinds."""
    migrated = make_engine(f"sqlite:///{tmp_path / 'limits.db'}")
    upgrade_to_head(migrated)
    yield migrated
    migrated.dispose()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark browser tests, and run them last: Playwright's sync API keeps an event loop running
    in the main thread for the rest of the session, which async tests can't share."""
    browser_tests = [item for item in items if "tests/e2e/" in str(item.fspath)]
    for item in browser_tests:
        item.add_marker(pytest.mark.browser)
        item.add_marker(pytest.mark.slow)
    last = {id(item) for item in browser_tests}
    items[:] = [item for item in items if id(item) not in last] + browser_tests
