"""The `optibridge` command as a user runs it."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from optibridge.app import create_app
from optibridge.config import Config
from optibridge.runtime import Runtime
from tests.cli.tables import column
from tests.support.processes import command_env, optibridge_command

ADMIN_TOKEN = "cli-test-admin-token-0123456789"
LONG_NAME = "Acme Corporation Worldwide, the support desk of the Berlin and Lisbon offices"


def run(*args: str, data_dir: Path, columns: int = 200) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        optibridge_command(*args),
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=command_env(OPTIBRIDGE_DATA_DIR=str(data_dir), COLUMNS=str(columns)),
        timeout=60,
        check=False,
    )


@contextmanager
def api_on(data_dir: Path) -> Iterator[TestClient]:
    """The administration API on the database and secret key file of the CLI's runs."""
    runtime = Runtime.start(Config(data_dir=data_dir, admin_token=ADMIN_TOKEN))
    with TestClient(
        create_app(runtime), headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
    ) as client:
        yield client
    runtime.close()


def readable_at_80_columns(output: str) -> None:
    """Every line fits, no value is cut short with an ellipsis, times are whole."""
    assert max(len(line) for line in output.splitlines()) <= 80
    assert "…" not in output
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", output)


def test_the_help_lists_every_command(tmp_path: Path) -> None:
    result = run("--help", data_dir=tmp_path)
    assert result.returncode == 0
    for command in (
        "serve",
        "worker",
        "demo",
        "sandbox",
        "migrate",
        "sites",
        "tokens",
        "syncs",
        "secrets",
        "comm100",
    ):
        assert command in result.stdout


def test_migrate_reports_the_revision(tmp_path: Path) -> None:
    result = run("migrate", data_dir=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "revision" in result.stdout
    assert (tmp_path / "optibridge.db").exists()


def test_sites_are_created_and_listed(tmp_path: Path) -> None:
    created = run("sites", "create", "10000", "--name", "Acme", data_dir=tmp_path)
    assert created.returncode == 0, created.stderr
    listed = run("sites", "list", data_dir=tmp_path)
    assert "10000" in listed.stdout
    assert "Acme" in listed.stdout


def test_sites_are_listed_readably_at_80_columns(tmp_path: Path) -> None:
    run("sites", "create", "10000", "--name", LONG_NAME, data_dir=tmp_path)
    listed = run("sites", "list", data_dir=tmp_path, columns=80)
    assert listed.returncode == 0, listed.stderr
    readable_at_80_columns(listed.stdout)
    assert column(listed.stdout, 1) == LONG_NAME


def test_sites_are_listed_as_json_as_the_api_lists_them(tmp_path: Path) -> None:
    run("sites", "create", "10000", "--name", "Acme", data_dir=tmp_path)
    run("sites", "create", "20000", "--name", "Bravo", data_dir=tmp_path)
    listed = run("sites", "list", "--json", data_dir=tmp_path)
    assert listed.returncode == 0, listed.stderr
    sites: list[dict[str, Any]] = json.loads(listed.stdout)
    assert [(site["site_id"], site["name"]) for site in sites] == [
        (10000, "Acme"),
        (20000, "Bravo"),
    ]
    with api_on(tmp_path) as client:
        assert sites == client.get("/api/v1/sites").json()


def test_a_duplicate_site_is_a_clear_error(tmp_path: Path) -> None:
    run("sites", "create", "10000", "--name", "Acme", data_dir=tmp_path)
    again = run("sites", "create", "10000", "--name", "Acme", data_dir=tmp_path)
    assert again.returncode == 1
    assert "already exists" in again.stderr


def test_an_agent_token_needs_a_site(tmp_path: Path) -> None:
    result = run("tokens", "create", "--role", "agent", data_dir=tmp_path)
    assert result.returncode == 1
    assert "--site" in result.stderr


def test_a_token_is_printed_once_and_listed_without_its_value(tmp_path: Path) -> None:
    run("sites", "create", "10000", "--name", "Acme", data_dir=tmp_path)
    created = run("tokens", "create", "--role", "agent", "--site", "10000", data_dir=tmp_path)
    token = created.stdout.strip()
    assert token.startswith("obg_")
    listed = run("tokens", "list", data_dir=tmp_path)
    assert "agent" in listed.stdout
    assert token not in listed.stdout


def test_tokens_are_listed_readably_at_80_columns(tmp_path: Path) -> None:
    label = "for the agent console of the support desk in the Berlin office, renewed every May"
    run("tokens", "create", "--label", label, data_dir=tmp_path)
    listed = run("tokens", "list", data_dir=tmp_path, columns=80)
    assert listed.returncode == 0, listed.stderr
    readable_at_80_columns(listed.stdout)
    assert column(listed.stdout, 3) == label
    assert column(listed.stdout, 2) == "every site"


def test_tokens_are_listed_as_json_as_the_api_lists_them_never_with_their_values(
    tmp_path: Path,
) -> None:
    run("sites", "create", "10000", "--name", "Acme", data_dir=tmp_path)
    created = run("tokens", "create", "--role", "agent", "--site", "10000", data_dir=tmp_path)
    run("tokens", "create", "--label", "ops", data_dir=tmp_path)
    every = run("tokens", "list", "--json", data_dir=tmp_path)
    of_site = run("tokens", "list", "--site", "10000", "--json", data_dir=tmp_path)
    assert every.returncode == of_site.returncode == 0, every.stderr + of_site.stderr
    assert [(t["role"], t["site_id"], t["label"]) for t in json.loads(every.stdout)] == [
        ("agent", 10000, ""),
        ("admin", None, "ops"),
    ]
    with api_on(tmp_path) as client:
        assert json.loads(of_site.stdout) == client.get("/api/v1/sites/10000/tokens").json()
    assert created.stdout.strip() not in every.stdout


def test_a_bad_setting_names_the_variable(tmp_path: Path) -> None:
    result = subprocess.run(
        optibridge_command("migrate"),
        capture_output=True,
        text=True,
        env={"OPTIBRIDGE_DATA_DIR": str(tmp_path), "OPTIBRIDGE_LOG_FORMAT": "xml"},
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "OPTIBRIDGE_LOG_FORMAT" in result.stderr
