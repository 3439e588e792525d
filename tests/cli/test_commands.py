"""The `optibridge` command as a user runs it."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.support.processes import optibridge_command, python_path


def run(*args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        optibridge_command(*args),
        capture_output=True,
        text=True,
        env={
            "OPTIBRIDGE_DATA_DIR": str(data_dir),
            "PATH": "/usr/bin:/bin",
            "COLUMNS": "200",
            **python_path(),
        },
        timeout=60,
        check=False,
    )


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
