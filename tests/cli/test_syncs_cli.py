"""`optibridge syncs list|show|retry` as an operator runs them, on SQLite and PostgreSQL."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from optibridge.store.db import session_factory
from optibridge.store.models import SyncRecord
from tests.store.test_sync_log import SITE, add_call, add_record, add_site, add_write
from tests.support.processes import optibridge_command


@pytest.fixture
def database(engine: Engine, database_url: str) -> str:
    """The URL of a migrated database holding site 10000."""
    with session_factory(engine)() as session, session.begin():
        add_site(session, SITE)
    return database_url


Seed = Callable[..., int]


@pytest.fixture
def seed(engine: Engine) -> Seed:
    """Adds a record of site 10000 (see `add_record`) and returns its id."""

    def add(**fields: Any) -> int:
        with session_factory(engine)() as session, session.begin():
            return add_record(session, **fields).id

    return add


def run(database: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        optibridge_command("syncs", *args, "--database-url", database),
        capture_output=True,
        text=True,
        encoding="utf-8",
        env={"OPTIBRIDGE_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin", "COLUMNS": "200"},
        timeout=60,
        check=False,
    )


def test_list_shows_each_record_with_its_changes(database: str, seed: Seed, tmp_path: Path) -> None:
    record_id = seed(
        customer_id="C-1",
        changes=[
            {"field": "EMAIL", "old": None, "new": "ann@example.com"},
            {"field": "FIRST_NAME", "old": "Ann", "new": "[Anne]"},
        ],
        attempts=2,
        last_error="HTTP 503 once",
        received_at=datetime(2026, 3, 1, 12, 30, 5, tzinfo=UTC),
    )
    result = run(database, tmp_path, "list", "--site", str(SITE))
    assert result.returncode == 0, result.stderr
    row = next(line for line in result.stdout.splitlines() if f" {record_id} " in line)
    for text in ("2026-03-01 12:30:05", "livechat", "chat_ended", "updated", "C-1", "2"):
        assert text in row
    assert "EMAIL: (empty) → ann@example.com" in result.stdout
    assert "FIRST_NAME: Ann → [Anne]" in result.stdout
    assert "HTTP 503 once" in result.stdout


def test_list_keeps_only_the_records_asked_for(database: str, seed: Seed, tmp_path: Path) -> None:
    seed(outcome="updated", customer_id="C-1")
    seed(outcome="failed", state="failed", customer_id="C-1", last_error="ERROR-FOR-C-1")
    seed(outcome="failed", state="failed", customer_id="C-2", last_error="ERROR-FOR-C-2")
    result = run(
        database, tmp_path, "list", "--site", str(SITE), "--outcome", "failed", "--customer", "C-2"
    )
    assert result.returncode == 0, result.stderr
    assert "ERROR-FOR-C-2" in result.stdout
    assert "ERROR-FOR-C-1" not in result.stdout


def test_list_shows_the_state_of_a_record_not_decided_yet(
    database: str, seed: Seed, tmp_path: Path
) -> None:
    seed(state="queued", outcome=None)
    result = run(database, tmp_path, "list", "--site", str(SITE))
    assert "(queued)" in result.stdout


def test_list_offers_the_next_page(database: str, seed: Seed, tmp_path: Path) -> None:
    older, newer = seed(), seed()
    first = run(database, tmp_path, "list", "--site", str(SITE), "--limit", "1")
    cursor = first.stdout.split("--cursor", 1)[1].split()[0]
    second = run(
        database, tmp_path, "list", "--site", str(SITE), "--limit", "1", "--cursor", cursor
    )
    assert second.returncode == 0, second.stderr
    assert f" {older} " in second.stdout
    assert f" {newer} " not in second.stdout
    assert "--cursor" not in second.stdout


def test_list_says_so_when_there_is_nothing(database: str, tmp_path: Path) -> None:
    result = run(database, tmp_path, "list", "--site", str(SITE))
    assert result.returncode == 0, result.stderr
    assert "no sync records" in result.stdout


def test_an_unknown_outcome_is_a_clear_error(database: str, tmp_path: Path) -> None:
    result = run(database, tmp_path, "list", "--site", str(SITE), "--outcome", "lost")
    assert result.returncode == 1
    assert "--outcome must be one of: created, updated" in result.stderr


def test_an_unknown_site_is_a_clear_error(database: str, tmp_path: Path) -> None:
    result = run(database, tmp_path, "list", "--site", "424242")
    assert result.returncode == 1
    assert "Site 424242 does not exist." in result.stderr


def test_show_prints_the_record_its_changes_and_its_calls(
    engine: Engine, database: str, tmp_path: Path
) -> None:
    with session_factory(engine)() as session, session.begin():
        write = add_write(session, state="confirmed", request_id="req-7")
        record = add_record(session, reason="fill_empty: EMAIL was empty")
        add_call(session, record, endpoint="GET Customers/{customer_id}/Attributes")
        add_call(
            session,
            record,
            endpoint="POST Customers/UpdateCustomerAttributes",
            status=202,
            request_id="req-7",
            write_id=write.id,
        )
        record_id = record.id
    result = run(database, tmp_path, "show", str(record_id), "--site", str(SITE))
    assert result.returncode == 0, result.stderr
    for text in (
        "fill_empty: EMAIL was empty",
        "chat_id=chat-1",
        "EMAIL",
        "ann@example.com",
        "GET Customers/{customer_id}/Attributes",
        "POST Customers/UpdateCustomerAttributes",
        "req-7",
        "yes",  # the write was confirmed
    ):
        assert text in result.stdout, text


def test_show_of_another_sites_record_is_a_clear_error(
    engine: Engine, database: str, tmp_path: Path
) -> None:
    with session_factory(engine)() as session, session.begin():
        add_site(session, 20000)
        record_id = add_record(session, 20000).id
    result = run(database, tmp_path, "show", str(record_id), "--site", str(SITE))
    assert result.returncode == 1
    assert f"Sync record {record_id} does not exist for site {SITE}." in result.stderr


def test_retry_queues_a_failed_record_again(
    engine: Engine, database: str, seed: Seed, tmp_path: Path
) -> None:
    record_id = seed(state="failed", outcome="failed", attempts=5, last_error="timed out")
    result = run(database, tmp_path, "retry", str(record_id), "--site", str(SITE))
    assert result.returncode == 0, result.stderr
    assert f"record {record_id} queued for retry" in result.stdout
    with session_factory(engine)() as session:
        record = session.get(SyncRecord, record_id)
        assert record is not None
        assert (record.state, record.attempts, record.last_error) == ("queued", 0, "timed out")


def test_retry_of_a_record_that_is_not_failed_is_a_clear_error(
    database: str, seed: Seed, tmp_path: Path
) -> None:
    record_id = seed(state="done", outcome="updated")
    result = run(database, tmp_path, "retry", str(record_id), "--site", str(SITE))
    assert result.returncode == 1
    assert "is done, not failed" in result.stderr
