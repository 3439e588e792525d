"""`optibridge backfill start|status|pause|resume|cancel` as an operator runs them: what each
prints (a progress bar, the counts, the ETA), `--json` shaped as the API's answer, exit codes.
The worker that does the work is not running here (tests/sync/test_backfill.py runs it)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from optibridge.app import create_app
from optibridge.cli_backfills import eta_text
from optibridge.config import Config
from optibridge.runtime import Runtime
from optibridge.store.migrate import upgrade_to_head
from optibridge.store.models import Backfill
from tests.support.processes import command_env, optibridge_command

SITE = 10000
ADMIN_TOKEN = "cli-test-admin-token-0123456789"


@dataclass
class Deployment:
    database: str
    directory: Path
    runtime: Runtime
    api: TestClient

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            optibridge_command("backfill", *args, "--database-url", self.database),
            capture_output=True,
            text=True,
            encoding="utf-8",
            env=command_env(OPTIBRIDGE_DATA_DIR=str(self.directory), COLUMNS="120"),
            timeout=60,
            check=False,
        )

    def set_backfill(self, backfill_id: int, **values: object) -> None:
        with self.runtime.unit_of_work() as session:
            session.execute(update(Backfill).where(Backfill.id == backfill_id).values(**values))


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[Deployment]:
    """A site whose Comm100 is connected and Live Chat enabled, on a SQLite database the CLI's
    runs share (and the secret key file with it)."""
    database = f"sqlite:///{tmp_path / 'optibridge.db'}"
    runtime = Runtime.start(
        Config(data_dir=tmp_path, database_url=database, admin_token=ADMIN_TOKEN)
    )
    upgrade_to_head(runtime.engine)
    with TestClient(create_app(runtime), headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as api:
        api.post("/api/v1/sites", json={"site_id": SITE, "name": "Acme"}).raise_for_status()
        api.put(
            f"/api/v1/sites/{SITE}/settings",
            json={
                "comm100": {
                    "api_base_url": "https://api11.comm100.io/v4",
                    "agent_email": "agent@example.com",
                    "api_key": "sandbox-comm100-key",
                },
                "livechat": {
                    "enabled": True,
                    "identification": [{"source": "custom_variable", "name": "customer_id"}],
                },
            },
        ).raise_for_status()
        yield Deployment(database, tmp_path, runtime, api)
    runtime.close()


def test_start_queues_a_backfill_and_says_how_to_follow_it(deployment: Deployment) -> None:
    started = deployment.run(
        "start", "--site", str(SITE), "--since", "2026-03-01", "--until", "2026-03-02"
    )

    assert started.returncode == 0, started.stderr
    assert "backfill 1: livechat, 2026-03-01 00:00 → 2026-03-02 00:00 UTC, queued" in started.stdout
    assert "0 done, 0 skipped, 0 failed of 0" in started.stdout
    assert "optibridge backfill status 1 --site 10000 --watch" in started.stdout
    listed = deployment.api.get(f"/api/v1/sites/{SITE}/backfills").json()["items"]
    assert [b["state"] for b in listed] == ["queued"]


def test_start_json_is_the_apis_answer(deployment: Deployment) -> None:
    started = deployment.run(
        "start", "--site", str(SITE), "--since", "2026-03-01T00:00:00Z", "--json"
    )

    assert started.returncode == 0, started.stderr
    shown = json.loads(started.stdout)
    assert shown == deployment.api.get(f"/api/v1/sites/{SITE}/backfills/{shown['id']}").json()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "yesterday"], "--since must be a date or a time"),
        (
            ["--since", "2026-03-01", "--channel", "ticketing"],
            "Ticketing & Messaging is not enabled",
        ),
        (["--since", "2999-01-01"], "/since: must be before `until`"),
    ],
)
def test_a_start_that_cant_be_done_says_why(
    deployment: Deployment, args: list[str], message: str
) -> None:
    refused = deployment.run("start", "--site", str(SITE), *args)

    assert refused.returncode == 1
    assert message in " ".join(refused.stderr.split())


def test_status_shows_progress_counts_and_eta(deployment: Deployment) -> None:
    deployment.run("start", "--site", str(SITE), "--since", "2026-03-01", "--until", "2026-03-02")
    deployment.set_backfill(
        1,
        state="running",
        cursor={
            "kind": "chat",
            "page": 2,
            "listed": {"chat": 50, "offline_message": 0},
            "totals": {"chat": 200, "offline_message": None},
        },
        listed=50,
        skipped=10,
        already_synced=40,
        active_s=120.0,
    )

    one = deployment.run("status", "1", "--site", str(SITE))
    listing = deployment.run("status", "--site", str(SITE))

    assert one.returncode == 3  # not done
    text = " ".join(one.stdout.split())
    assert "running" in text
    assert "━" in one.stdout  # the bar
    assert "25 %" in text
    assert "40 done, 10 skipped, 0 failed of 200 (40 already synced)" in text
    assert "25 per minute, ETA 6 min" in text
    assert listing.returncode == 0
    assert "livechat" in listing.stdout
    assert "━" in listing.stdout


def test_status_of_a_done_backfill_exits_0_and_watch_ends_at_once(deployment: Deployment) -> None:
    deployment.run("start", "--site", str(SITE), "--since", "2026-03-01", "--until", "2026-03-02")
    deployment.set_backfill(
        1,
        state="done",
        cursor={
            "kind": None,
            "page": 1,
            "listed": {"chat": 3, "offline_message": 0},
            "totals": {"chat": 3, "offline_message": 0},
        },
        listed=3,
        skipped=3,
    )

    shown = deployment.run("status", "1", "--site", str(SITE))
    watched = deployment.run("status", "1", "--site", str(SITE), "--watch")

    assert shown.returncode == 0, shown.stderr
    assert "100 %" in shown.stdout
    assert watched.returncode == 0, watched.stderr
    assert "3/3" in watched.stdout  # the live bar's count


def test_pause_resume_cancel(deployment: Deployment) -> None:
    deployment.run("start", "--site", str(SITE), "--since", "2026-03-01", "--until", "2026-03-02")

    paused = deployment.run("pause", "1", "--site", str(SITE))
    again = deployment.run("pause", "1", "--site", str(SITE))
    resumed = deployment.run("resume", "1", "--site", str(SITE), "--json")
    cancelled = deployment.run("cancel", "1", "--site", str(SITE))
    unknown = deployment.run("cancel", "9", "--site", str(SITE))

    assert paused.returncode == 0
    assert ", paused" in paused.stdout
    assert again.returncode == 1
    assert "paused already" in again.stderr
    assert json.loads(resumed.stdout)["state"] == "queued"
    assert ", cancelled" in cancelled.stdout
    assert unknown.returncode == 1
    assert "has no backfill 9" in unknown.stderr


@pytest.mark.parametrize(
    ("eta_s", "text"),
    [
        (None, "ETA unknown"),
        (0.0, "ETA 0 s"),
        (59, "ETA 59 s"),
        (360, "ETA 6 min"),
        (3900, "ETA 1 h 5 min"),
    ],
)
def test_an_eta_reads_at_a_glance(eta_s: float | None, text: str) -> None:
    assert eta_text(eta_s) == text
