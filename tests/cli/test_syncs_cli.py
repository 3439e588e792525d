"""`optibridge syncs list|show|retry` as an operator runs them, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from optibridge.app import create_app
from optibridge.config import Config
from optibridge.runtime import Runtime
from optibridge.store.db import session_factory
from optibridge.store.models import SyncRecord
from tests.cli.tables import cells
from tests.store.test_sync_log import SITE, add_call, add_record, add_site, add_write
from tests.support.processes import command_env, optibridge_command


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


ADMIN_TOKEN = "cli-test-admin-token-0123456789"


@pytest.fixture
def api(database: str, tmp_path: Path) -> Iterator[TestClient]:
    """The administration API on the same database and secret key file as the CLI's runs."""
    runtime = Runtime.start(
        Config(data_dir=tmp_path, database_url=database, admin_token=ADMIN_TOKEN)
    )
    with TestClient(
        create_app(runtime), headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
    ) as client:
        yield client
    runtime.close()


def run(
    database: str, tmp_path: Path, *args: str, columns: int = 200
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        optibridge_command("syncs", *args, "--database-url", database),
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=command_env(OPTIBRIDGE_DATA_DIR=str(tmp_path), COLUMNS=str(columns)),
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
    for text in ("2026-03-01 12:30:05", "livechat", "Chat ended", "updated", "C-1", "2"):
        assert text in row
    assert "EMAIL: (empty) → ann@example.com" in result.stdout
    assert "FIRST_NAME: Ann → [Anne]" in result.stdout
    assert "HTTP 503 once" in result.stdout


def a_record_with_everything(seed: Seed) -> int:
    return seed(
        customer_id="C-1001",
        changes=[
            {"field": "EMAIL", "old": None, "new": "ann@example.com"},
            {"field": "FIRST_NAME", "old": "Ann", "new": "Anne"},
        ],
        attempts=2,
        last_error="HTTP 503 once",
        received_at=datetime(2026, 3, 1, 12, 30, 5, tzinfo=UTC),
    )


def test_list_at_160_columns_gives_every_fact_its_own_column(
    database: str, seed: Seed, tmp_path: Path
) -> None:
    record_id = a_record_with_everything(seed)
    result = run(database, tmp_path, "list", "--site", str(SITE), columns=160)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= 160
    heading = next(line for line in lines if "received (UTC)" in line)
    assert cells(heading) == [
        "id",
        "received (UTC)",
        "channel",
        "event",
        "outcome",
        "customer",
        "changes",
        "attempts",
        "error",
    ]
    row = next(line for line in lines if f" {record_id} " in line)
    assert cells(row) == [
        str(record_id),
        "2026-03-01 12:30:05",
        "livechat",
        "Chat ended",
        "updated",
        "C-1001",
        "EMAIL: (empty) → ann@example.com",
        "2",
        "HTTP 503 once",
    ]


def test_list_at_80_columns_folds_the_less_important_facts_under_the_event(
    database: str, seed: Seed, tmp_path: Path
) -> None:
    record_id = a_record_with_everything(seed)
    result = run(database, tmp_path, "list", "--site", str(SITE), columns=80)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    top = lines[0]
    assert min(len(column) for column in top.strip("┏┓").split("┳")) >= 4  # never 1 character
    headings = [cells(line) for line in lines[1:3]]
    assert headings == [
        ["", "received", "", "", ""],
        ["id", "(UTC)", "outcome", "customer", "event, changes, error"],
    ]
    first = next(i for i, line in enumerate(lines) if f" {record_id} " in line)
    assert [cells(line) for line in lines[first : first + 4]] == [
        [str(record_id), "2026-03-01", "updated", "C-1001", "Chat ended (livechat)"],
        ["", "12:30:05", "", "", "EMAIL: (empty) → ann@example.com"],
        ["", "", "", "", "FIRST_NAME: Ann → Anne"],
        ["", "", "", "", "error (2 attempts): HTTP 503 once"],
    ]


def test_list_as_json_is_the_apis_page(
    database: str, seed: Seed, api: TestClient, tmp_path: Path
) -> None:
    a_record_with_everything(seed)
    seed(state="failed", outcome="failed", last_error="timed out")
    result = run(database, tmp_path, "list", "--site", str(SITE), "--limit", "1", "--json")
    assert result.returncode == 0, result.stderr
    listed = json.loads(result.stdout)
    assert listed == api.get(f"/api/v1/sites/{SITE}/syncs", params={"limit": 1}).json()
    assert listed["next_cursor"] is not None
    assert listed["items"][0]["error"] == "timed out"


def test_list_as_json_of_nothing_is_an_empty_page(database: str, tmp_path: Path) -> None:
    result = run(database, tmp_path, "list", "--site", str(SITE), "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"items": [], "next_cursor": None}


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


def test_list_leaves_out_what_agents_only_looked_at(
    database: str, seed: Seed, tmp_path: Path
) -> None:
    chat = seed(last_error="ERROR-OF-THE-CHAT")
    view = seed(event="console_lookup", outcome="unchanged", last_error="ERROR-OF-THE-VIEW")
    result = run(database, tmp_path, "list", "--site", str(SITE))
    assert f" {chat} " in result.stdout
    assert "ERROR-OF-THE-VIEW" not in result.stdout
    everything = run(database, tmp_path, "list", "--site", str(SITE), "--include-views")
    assert everything.returncode == 0, everything.stderr
    row = next(line for line in everything.stdout.splitlines() if f" {view} " in line)
    assert "Agent viewed the customer" in row


def test_show_says_how_to_retry_a_failed_record(database: str, seed: Seed, tmp_path: Path) -> None:
    failed = seed(state="failed", outcome="failed")
    view = seed(event="console_lookup", state="failed", outcome="failed")
    shown = run(database, tmp_path, "show", str(failed), "--site", str(SITE)).stdout
    assert f"optibridge syncs retry {failed} --site {SITE}" in shown
    shown = run(database, tmp_path, "show", str(view), "--site", str(SITE)).stdout
    assert "retry" in shown
    assert "no: an agent's view or change" in shown
    assert "Agent viewed the customer (console_lookup)" in shown


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


def a_record_with_calls(engine: Engine, request_id: str = "req-7") -> int:
    """A record that read the customer, then wrote in a write Optimove confirmed."""
    with session_factory(engine)() as session, session.begin():
        write = add_write(session, state="confirmed", request_id=request_id)
        record = add_record(session, reason="fill_empty: EMAIL was empty")
        add_call(session, record, endpoint="GET Customers/{customer_id}/Attributes")
        add_call(
            session,
            record,
            endpoint="POST Customers/UpdateCustomerAttributes",
            status=202,
            request_id=request_id,
            write_id=write.id,
            detail="1 customer, 1 attribute",
        )
        return record.id


def test_show_prints_the_record_its_changes_and_its_calls(
    engine: Engine, database: str, tmp_path: Path
) -> None:
    record_id = a_record_with_calls(engine)
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


def test_show_at_80_columns_folds_ids_rather_than_cutting_them(
    engine: Engine, database: str, tmp_path: Path
) -> None:
    request_id = "3f2c7a1e-5b7d-4c1e-9a55-1f0d7e2b9c41"
    record_id = a_record_with_calls(engine, request_id)
    result = run(database, tmp_path, "show", str(record_id), "--site", str(SITE), columns=80)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert "…" not in result.stdout
    call_cells = [cells(line) for line in lines if line.startswith("│")]
    column = [row[1] for row in call_cells if len(row) == 5]
    assert "POST Customers/UpdateCustomerAttributes" in " ".join(column)
    assert request_id in column
    assert "1 customer, 1 attribute" in column


def test_show_as_json_is_the_apis_record(
    engine: Engine, database: str, api: TestClient, tmp_path: Path
) -> None:
    record_id = a_record_with_calls(engine)
    result = run(database, tmp_path, "show", str(record_id), "--site", str(SITE), "--json")
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown == api.get(f"/api/v1/sites/{SITE}/syncs/{record_id}").json()
    assert [call["request_id"] for call in shown["calls"]] == [None, "req-7"]
    assert shown["write"]["state"] == "confirmed"


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
