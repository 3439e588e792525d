"""Rotating OPTIBRIDGE_SECRET_KEY: a new key in front, every stored secret re-encrypted under it
in one transaction, then the old key can go. On SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select

from optibridge.config import Config
from optibridge.runtime import Runtime
from optibridge.secret_box import SecretBox
from optibridge.services.secret_rotation import (
    RotationReport,
    SecretsUnreadable,
    UnreadableSecret,
    rotate_secrets,
)
from optibridge.services.sites import create_site
from optibridge.store.migrate import upgrade_to_head
from optibridge.store.models import Base, Site, SiteSettings
from optibridge.store.repositories import SettingsRepository
from optibridge.sync.sites import get_site, load_settings, webhook_token

NEW, OLD, UNKNOWN = (Fernet.generate_key() for _ in range(3))
BOTH_KEYS, OPTIMOVE_ONLY, NO_SETTINGS = 10001, 10002, 10003
API_KEYS = {
    BOTH_KEYS: ("optimove-key-of-10001", "comm100-key-of-10001"),
    OPTIMOVE_ONLY: ("optimove-key-of-10002", None),
}


@contextmanager
def running(database_url: str, tmp_path: Path, *keys: bytes) -> Iterator[Runtime]:
    secret_key = ",".join(key.decode() for key in keys)
    runtime = Runtime.start(
        Config(data_dir=tmp_path, database_url=database_url, secret_key=secret_key)
    )
    try:
        yield runtime
    finally:
        runtime.close()


@pytest.fixture
def seeded(database_url: str, tmp_path: Path) -> dict[int, str]:
    """Three sites whose six secrets were stored under OLD; their webhook tokens."""
    with running(database_url, tmp_path, OLD) as runtime:
        upgrade_to_head(runtime.engine)
        with runtime.unit_of_work() as session:
            for site_id in (BOTH_KEYS, OPTIMOVE_ONLY, NO_SETTINGS):
                create_site(session, runtime.box, site_id, f"site {site_id}")
            for site_id, (optimove_key, comm100_key) in API_KEYS.items():
                SettingsRepository(session).save(
                    site_id,
                    {},
                    runtime.box.seal(optimove_key),
                    runtime.box.seal(comm100_key) if comm100_key else None,
                )
        with runtime.unit_of_work(read_only=True) as session:
            return {
                site_id: webhook_token(runtime.box, get_site(session, site_id))
                for site_id in (BOTH_KEYS, OPTIMOVE_ONLY, NO_SETTINGS)
            }


def rotate(runtime: Runtime) -> RotationReport:
    with runtime.unit_of_work() as session:
        return rotate_secrets(session, runtime.box)


def stored_secrets(runtime: Runtime) -> dict[int, tuple[str, str | None, str | None]]:
    """Every site's webhook token and API keys, as the service reads them."""
    found = {}
    for site_id in (BOTH_KEYS, OPTIMOVE_ONLY, NO_SETTINGS):
        with runtime.unit_of_work(read_only=True) as session:
            token = webhook_token(runtime.box, get_site(session, site_id))
        stored = load_settings(runtime, site_id)
        found[site_id] = (token, stored.optimove_api_key, stored.comm100_api_key)
    return found


def expected_secrets(tokens: dict[int, str]) -> dict[int, tuple[str, str | None, str | None]]:
    return {
        site_id: (token, *API_KEYS.get(site_id, (None, None))) for site_id, token in tokens.items()
    }


def sealed_columns(runtime: Runtime) -> dict[tuple[str, Any, str], str]:
    """Every value of every `*_enc` column of every table, by (table, primary key, column)."""
    values = {}
    with runtime.engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            columns = [column for column in table.columns if column.name.endswith("_enc")]
            if not columns:
                continue
            for row in connection.execute(select(table)).mappings():
                key = tuple(row[column.name] for column in table.primary_key.columns)
                for column in columns:
                    if row[column.name] is not None:
                        values[(table.name, key, column.name)] = row[column.name]
    return values


def test_secrets_stored_under_the_old_key_are_read_after_a_new_key_is_put_in_front(
    database_url: str, tmp_path: Path, seeded: dict[int, str]
) -> None:
    with running(database_url, tmp_path, NEW, OLD) as runtime:
        assert stored_secrets(runtime) == expected_secrets(seeded)


def test_rotating_re_encrypts_every_secret_and_counts_them(
    database_url: str, tmp_path: Path, seeded: dict[int, str]
) -> None:
    with running(database_url, tmp_path, NEW, OLD) as runtime:
        assert rotate(runtime) == RotationReport(sites=3, reencrypted=6, already_current=0)


def test_after_rotating_the_old_key_can_be_removed(
    database_url: str, tmp_path: Path, seeded: dict[int, str]
) -> None:
    with running(database_url, tmp_path, NEW, OLD) as runtime:
        rotate(runtime)
    with running(database_url, tmp_path, NEW) as runtime:
        assert stored_secrets(runtime) == expected_secrets(seeded)


def test_every_encrypted_column_of_every_table_is_re_encrypted(
    database_url: str, tmp_path: Path, seeded: dict[int, str]
) -> None:
    """Found from the tables themselves: a new `*_enc` column left out of the rotation fails
    here."""
    with running(database_url, tmp_path, NEW, OLD) as runtime:
        rotate(runtime)
        values = sealed_columns(runtime)
    assert {(table, column) for table, _, column in values} == {
        ("sites", "webhook_token_enc"),
        ("site_settings", "optimove_api_key_enc"),
        ("site_settings", "comm100_api_key_enc"),
    }
    assert len(values) == 6
    only_new = SecretBox([NEW])
    for sealed in values.values():
        only_new.open(sealed)


def test_rotating_twice_changes_nothing_the_second_time(
    database_url: str, tmp_path: Path, seeded: dict[int, str]
) -> None:
    with running(database_url, tmp_path, NEW, OLD) as runtime:
        rotate(runtime)
        before = sealed_columns(runtime)
        assert rotate(runtime) == RotationReport(sites=0, reencrypted=0, already_current=6)
        assert sealed_columns(runtime) == before


def test_only_values_not_under_the_first_key_are_re_encrypted(
    database_url: str, tmp_path: Path, seeded: dict[int, str]
) -> None:
    with running(database_url, tmp_path, NEW, OLD) as runtime:
        with runtime.unit_of_work() as session:  # saved again after the new key went in front
            SettingsRepository(session).save(
                OPTIMOVE_ONLY, {}, runtime.box.seal("a-new-optimove-key"), None
            )
        assert rotate(runtime) == RotationReport(sites=3, reencrypted=5, already_current=1)


def test_a_secret_under_an_unknown_key_fails_the_rotation_and_changes_nothing(
    database_url: str, tmp_path: Path, seeded: dict[int, str]
) -> None:
    with running(database_url, tmp_path, UNKNOWN) as runtime, runtime.unit_of_work() as session:
        row = session.get(SiteSettings, BOTH_KEYS)
        assert row is not None
        row.comm100_api_key_enc = runtime.box.seal("comm100-key-under-a-lost-key")
        site = session.get(Site, NO_SETTINGS)
        assert site is not None
        site.webhook_token_enc = runtime.box.seal("webhook-token-under-a-lost-key")
    with running(database_url, tmp_path, NEW, OLD) as runtime:
        before = sealed_columns(runtime)
        with pytest.raises(SecretsUnreadable) as refused:
            rotate(runtime)
        assert sealed_columns(runtime) == before
    assert refused.value.unreadable == [
        UnreadableSecret(BOTH_KEYS, "Comm100 API key"),
        UnreadableSecret(NO_SETTINGS, "webhook token"),
    ]
    message = str(refused.value)
    assert "site 10001 Comm100 API key" in message
    assert "lost-key" not in message
    assert all(sealed not in message for sealed in before.values())
