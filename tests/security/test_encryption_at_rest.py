"""API keys at rest (SPEC 5.1: `OPTIBRIDGE_SECRET_KEY` encrypts stored API keys): after both
keys are configured through the API, neither key, nor the site's webhook token, nor the secret
key itself is anywhere in the database, in any encoding: not in SQLite's file or its
write-ahead log, not in any text, JSON or bytea column on PostgreSQL. And the deployment's key
opens what is stored, giving the keys back: they are kept, encrypted, not dropped."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import text

from optibridge.store.models import Site, SiteSettings
from tests.security.conftest import SITE_A, Bench, fresh_secret, running_bench, secrets_in

pytestmark = pytest.mark.security


@dataclass(frozen=True)
class Configured:
    optimove_key: str
    comm100_key: str
    webhook_token: str


@pytest.fixture
def configured(database_url: str, tmp_path: Path) -> Iterator[tuple[Bench, Configured]]:
    """A site whose Optimove and Comm100 keys were saved through the settings API."""
    with running_bench(tmp_path, database_url=database_url) as bench:
        bench.create_site(SITE_A)
        keys = Configured(
            fresh_secret("optimove"), fresh_secret("comm100"), bench.webhook_token(SITE_A)
        )
        document = {
            "optimove": {"base_url": "https://api4.optimove.net", "api_key": keys.optimove_key},
            "comm100": {
                "api_base_url": "https://api11.comm100.io/v4",
                "agent_email": "agent@example.com",
                "api_key": keys.comm100_key,
            },
        }
        saved = bench.client.put(
            f"/api/v1/sites/{SITE_A}/settings", json=document, headers=bench.admin()
        )
        assert saved.status_code == 200, saved.text
        assert saved.json()["optimove"]["api_key"].startswith("****")
        yield bench, keys


def _must_not_be_stored(bench: Bench, keys: Configured) -> dict[str, str]:
    return {
        "Optimove API key": keys.optimove_key,
        "Comm100 API key": keys.comm100_key,
        "webhook token": keys.webhook_token,
        "OPTIBRIDGE_SECRET_KEY": bench.known.secret_key,
    }


def _opened_with_the_deployments_key(bench: Bench, keys: Configured) -> None:
    """What is stored is the keys, sealed with OPTIBRIDGE_SECRET_KEY."""
    fernet = Fernet(bench.known.secret_key.encode())
    with bench.runtime.unit_of_work(read_only=True) as session:
        row = session.get(SiteSettings, SITE_A)
        site = session.get(Site, SITE_A)
        assert row is not None
        assert site is not None
        assert row.optimove_api_key_enc is not None
        assert row.comm100_api_key_enc is not None
        assert fernet.decrypt(row.optimove_api_key_enc.encode()).decode() == keys.optimove_key
        assert fernet.decrypt(row.comm100_api_key_enc.encode()).decode() == keys.comm100_key
        assert fernet.decrypt(site.webhook_token_enc.encode()).decode() == keys.webhook_token


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_sqlite_files_hold_no_key_in_any_form(configured: tuple[Bench, Configured]) -> None:
    bench, keys = configured
    secrets = _must_not_be_stored(bench, keys)
    database = bench.data_dir / "optibridge.db"
    wal = database.with_name(database.name + "-wal")
    assert wal.exists()
    assert wal.stat().st_size > 0  # the saved settings are still in the log
    for path in sorted(bench.data_dir.glob("optibridge.db*")):
        assert secrets_in(path.read_bytes(), secrets) == [], path.name

    bench.runtime.engine.dispose()  # checkpoints the log into the database file
    assert secrets_in(database.read_bytes(), secrets) == []
    _opened_with_the_deployments_key(bench, keys)


TEXT_TYPES = ("text", "character varying", "character", "json", "jsonb", "bytea")


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_postgresql_columns_hold_no_key_in_any_form(configured: tuple[Bench, Configured]) -> None:
    bench, keys = configured
    secrets = _must_not_be_stored(bench, keys)
    scanned: dict[tuple[str, str], int] = {}
    with bench.runtime.engine.connect() as connection:
        columns = connection.execute(
            text(
                "SELECT table_name, column_name FROM information_schema.columns"
                " WHERE table_schema = current_schema() AND data_type = ANY(:types)"
            ),
            {"types": list(TEXT_TYPES)},
        ).all()
        for table, column in columns:
            values = connection.execute(
                # Names read from information_schema just above, not from any input.
                text(f'SELECT "{column}"::text FROM "{table}" WHERE "{column}" IS NOT NULL')  # noqa: S608
            ).scalars()
            found = list(values)
            scanned[(table, column)] = len(found)
            for value in found:
                assert secrets_in(value, secrets) == [], (table, column)
    assert scanned[("site_settings", "optimove_api_key_enc")] == 1
    assert scanned[("site_settings", "comm100_api_key_enc")] == 1
    assert scanned[("sites", "webhook_token_enc")] == 1
    _opened_with_the_deployments_key(bench, keys)
