"""How `optibridge demo` configures the Comm100 simulator: site 10000's webhook URLs, the tab's
address, and one agent token kept across restarts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from optibridge.config import Config
from optibridge.demo import (
    AGENT_TOKEN_FILE,
    DEMO_SITE_ID,
    DEMO_VISITORS,
    demo_agent_token,
    simulator_config,
)
from optibridge.runtime import Runtime
from optibridge.sandbox.comm100.simulation import SimulatorConfig
from optibridge.services.sites import create_site
from optibridge.services.tokens import Principal, Role, authenticate, revoke_token
from optibridge.store.migrate import upgrade_to_head
from optibridge.sync.sites import get_site, webhook_urls

PUBLIC_URL = "http://127.0.0.1:8765"


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    """A migrated SQLite database in tmp_path with the demo site."""
    started = Runtime.start(Config(data_dir=tmp_path))
    upgrade_to_head(started.engine)
    with started.unit_of_work() as session:
        create_site(session, started.box, DEMO_SITE_ID, "Demo site")
    yield started
    started.close()


def who(runtime: Runtime, token: str) -> Principal:
    with runtime.unit_of_work(read_only=True) as session:
        return authenticate(session, token, None)


def test_the_agent_token_is_an_agent_token_of_the_demo_site(runtime: Runtime) -> None:
    principal = who(runtime, demo_agent_token(runtime))
    assert (principal.role, principal.site_id) == (Role.AGENT, DEMO_SITE_ID)


def test_the_agent_token_is_kept_in_the_data_dir_and_reused(runtime: Runtime) -> None:
    first = demo_agent_token(runtime)
    path = runtime.config.data_dir / AGENT_TOKEN_FILE
    assert path.read_text() == first
    assert path.stat().st_mode & 0o077 == 0
    assert demo_agent_token(runtime) == first


def test_a_revoked_agent_token_is_replaced(runtime: Runtime) -> None:
    first = demo_agent_token(runtime)
    token_id = who(runtime, first).token_id
    assert token_id is not None
    with runtime.unit_of_work() as session:
        revoke_token(session, token_id)
    second = demo_agent_token(runtime)
    assert second != first
    assert who(runtime, second).role is Role.AGENT


def test_the_simulator_sends_to_the_site_webhooks_and_embeds_its_console(
    runtime: Runtime,
) -> None:
    config = SimulatorConfig.model_validate(simulator_config(runtime, PUBLIC_URL))
    with runtime.unit_of_work(read_only=True) as session:
        urls = webhook_urls(runtime.box, get_site(session, DEMO_SITE_ID), PUBLIC_URL)
    assert config.site_id == DEMO_SITE_ID
    assert config.livechat_webhook_url == urls.livechat
    assert config.ticketing_webhook_url == urls.ticketing
    assert config.console_url == f"{PUBLIC_URL}/console/{DEMO_SITE_ID}"
    assert config.agent_token == demo_agent_token(runtime)
    assert len(config.sample_visitors) == len(DEMO_VISITORS)
