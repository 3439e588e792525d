"""`optibridge secrets rotate` and the secret key list as an operator meets them, through the real
command, on SQLite and PostgreSQL."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select

from optibridge.config import SECRET_KEY_FILE, Config
from optibridge.runtime import Runtime
from optibridge.services.sites import create_site
from optibridge.store.migrate import upgrade_to_head
from optibridge.store.models import Site, SiteSettings
from optibridge.store.repositories import SettingsRepository
from optibridge.sync.sites import get_site, load_settings, webhook_token
from tests.support.processes import optibridge_command

NEW, OLD, UNKNOWN = (Fernet.generate_key().decode() for _ in range(3))
NOT_A_KEY = "not-a-fernet-key-but-secret-looking-0123456789"
OPTIMOVE_KEY = "optimove-key-of-10001"


def run(tmp_path: Path, *args: str, secret_key: str | None) -> subprocess.CompletedProcess[str]:
    env = {"OPTIBRIDGE_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin", "COLUMNS": "200"}
    if secret_key is not None:
        env["OPTIBRIDGE_SECRET_KEY"] = secret_key
    return subprocess.run(
        optibridge_command(*args),
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=env,
        timeout=60,
        check=False,
    )


def runtime(database_url: str, tmp_path: Path, secret_key: str) -> Runtime:
    return Runtime.start(
        Config(data_dir=tmp_path, database_url=database_url, secret_key=secret_key)
    )


@pytest.fixture
def database(database_url: str, tmp_path: Path) -> str:
    """Sites 10001 (webhook token and an Optimove key) and 10002 (webhook token), under OLD."""
    seeding = runtime(database_url, tmp_path, OLD)
    try:
        upgrade_to_head(seeding.engine)
        with seeding.unit_of_work() as session:
            create_site(session, seeding.box, 10001, "Acme")
            create_site(session, seeding.box, 10002, "Globex")
            SettingsRepository(session).save(10001, {}, seeding.box.seal(OPTIMOVE_KEY), None)
    finally:
        seeding.close()
    return database_url


def test_rotating_re_encrypts_once_and_then_the_old_key_can_go(
    database: str, tmp_path: Path
) -> None:
    rotate = ("secrets", "rotate", "--database-url", database)
    first = run(tmp_path, *rotate, secret_key=f"{NEW},{OLD}")
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == "re-encrypted 2 sites' secrets (3 values); 0 already current"
    again = run(tmp_path, *rotate, secret_key=f"{NEW} {OLD}")
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == "re-encrypted 0 sites' secrets (0 values); 3 already current"

    rotated = runtime(database, tmp_path, NEW)
    try:
        assert load_settings(rotated, 10001).optimove_api_key == OPTIMOVE_KEY
        with rotated.unit_of_work(read_only=True) as session:
            for site_id in (10001, 10002):
                assert webhook_token(rotated.box, get_site(session, site_id))
    finally:
        rotated.close()


def sealed_values(database_url: str, tmp_path: Path) -> list[str | None]:
    reader = runtime(database_url, tmp_path, OLD)
    try:
        with reader.engine.connect() as connection:
            tokens = connection.execute(select(Site.webhook_token_enc).order_by(Site.site_id))
            keys = connection.execute(
                select(SiteSettings.optimove_api_key_enc, SiteSettings.comm100_api_key_enc)
            )
            return [*tokens.scalars(), *(value for row in keys for value in row)]
    finally:
        reader.close()


def test_a_secret_under_no_configured_key_fails_the_rotation_and_changes_nothing(
    database: str, tmp_path: Path
) -> None:
    lost = runtime(database, tmp_path, UNKNOWN)
    try:
        with lost.unit_of_work() as session:
            settings = session.get(SiteSettings, 10001)
            assert settings is not None
            settings.comm100_api_key_enc = lost.box.seal("comm100-key-under-a-lost-key")
    finally:
        lost.close()
    before = sealed_values(database, tmp_path)

    result = run(
        tmp_path, "secrets", "rotate", "--database-url", database, secret_key=f"{NEW},{OLD}"
    )
    assert result.returncode == 1
    assert "1 stored secret can be decrypted by none of the configured keys" in result.stderr
    assert "nothing was changed" in result.stderr
    assert "site 10001: Comm100 API key" in result.stderr
    assert "lost-key" not in result.stderr + result.stdout
    assert sealed_values(database, tmp_path) == before


def test_a_bad_key_list_is_refused_by_position_without_showing_a_key(tmp_path: Path) -> None:
    result = run(tmp_path, "secrets", "rotate", secret_key=f"{NEW},{NOT_A_KEY},{OLD}")
    assert result.returncode == 1
    assert (
        "OPTIBRIDGE_SECRET_KEY: key 2 of 3 is not a valid Fernet key (32 url-safe base64 bytes)"
        in result.stderr
    )
    for key in (NEW, NOT_A_KEY, OLD):
        assert key not in result.stderr + result.stdout
    assert not (tmp_path / "optibridge.db").exists()


def test_a_bad_key_file_is_refused_naming_the_file(tmp_path: Path) -> None:
    key_file = tmp_path / SECRET_KEY_FILE
    key_file.write_text(f"{NEW}\n{NOT_A_KEY}\n")
    result = run(tmp_path, "sites", "list", secret_key=None)
    assert result.returncode == 1
    assert f"{key_file}: key 2 of 2 is not a valid Fernet key" in result.stderr
    assert NOT_A_KEY not in result.stderr + result.stdout
