"""Console sessions: what the tab page hands its script instead of the agent token."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from optibridge.config import Config
from optibridge.console.session import (
    SESSION_PREFIX,
    SESSION_TTL_S,
    authenticate_console,
    issue_session,
    require_console_access,
)
from optibridge.errors import NotFound, Unauthorized
from optibridge.runtime import Runtime
from optibridge.services.sites import create_site
from optibridge.services.tokens import Principal, Role, issue_token, revoke_token
from optibridge.store.migrate import upgrade_to_head

ADMIN_TOKEN = "console-session-admin-token-0123456789"
SITE, OTHER_SITE = 10000, 20000


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    started = Runtime.start(Config(data_dir=tmp_path, admin_token=ADMIN_TOKEN))
    upgrade_to_head(started.engine)
    with started.unit_of_work() as session:
        for site_id in (SITE, OTHER_SITE):
            create_site(session, started.box, site_id, f"site {site_id}")
    yield started
    started.close()


def agent_token(runtime: Runtime, site_id: int = SITE) -> tuple[str, int]:
    with runtime.unit_of_work() as session:
        issued = issue_token(session, Role.AGENT, site_id)
        return issued.token, issued.record.id


def test_an_agent_token_becomes_a_session_for_its_site(runtime: Runtime) -> None:
    token, token_id = agent_token(runtime)
    caller = authenticate_console(runtime, token)
    session = issue_session(runtime, caller.principal, SITE, " agent-7 ")
    assert session.startswith(SESSION_PREFIX)
    assert token not in session
    opened = authenticate_console(runtime, session)
    assert opened.principal == Principal(Role.AGENT, SITE, token_id)
    assert opened.agent_id == "agent-7"


def test_a_deployment_admin_session_is_limited_to_the_site_it_was_opened_for(
    runtime: Runtime,
) -> None:
    admin = authenticate_console(runtime, ADMIN_TOKEN).principal
    opened = authenticate_console(runtime, issue_session(runtime, admin, SITE, None))
    assert opened.principal.site_id == SITE
    with pytest.raises(NotFound):
        require_console_access(opened.principal, OTHER_SITE)


def test_an_agent_token_can_not_open_another_sites_console(runtime: Runtime) -> None:
    token, _ = agent_token(runtime, OTHER_SITE)
    principal = authenticate_console(runtime, token).principal
    with pytest.raises(NotFound, match="not set up in optibridge"):
        issue_session(runtime, principal, SITE, None)


def test_a_session_expires(runtime: Runtime) -> None:
    token, _ = agent_token(runtime)
    principal = authenticate_console(runtime, token).principal
    session = issue_session(runtime, principal, SITE, None, now=time.time() - SESSION_TTL_S - 1)
    with pytest.raises(Unauthorized, match="expired"):
        authenticate_console(runtime, session)


def test_revoking_the_token_ends_its_sessions(runtime: Runtime) -> None:
    token, token_id = agent_token(runtime)
    session = issue_session(runtime, authenticate_console(runtime, token).principal, SITE, None)
    with runtime.unit_of_work() as db:
        revoke_token(db, token_id)
    with pytest.raises(Unauthorized, match="revoked: ask your administrator for a new one"):
        authenticate_console(runtime, session)


@pytest.mark.parametrize("forged", [SESSION_PREFIX + "x", SESSION_PREFIX, "not-a-token"])
def test_a_forged_credential_is_refused(runtime: Runtime, forged: str) -> None:
    with pytest.raises(Unauthorized):
        authenticate_console(runtime, forged)


def test_a_session_sealed_with_another_secret_key_is_refused(
    runtime: Runtime, tmp_path: Path
) -> None:
    token, _ = agent_token(runtime)
    session = issue_session(runtime, authenticate_console(runtime, token).principal, SITE, None)
    other = Runtime.start(Config(data_dir=tmp_path / "other", admin_token=ADMIN_TOKEN))
    try:
        with pytest.raises(Unauthorized, match="not valid"):
            authenticate_console(other, session)
    finally:
        other.close()


# --- a new secret key in front of the old one (rotation) -----------------------------------------


@contextmanager
def runtime_with_keys(tmp_path: Path, *keys: bytes) -> Iterator[Runtime]:
    """Another process on the same database, configured with `keys` (newest first)."""
    secret_key = ",".join(key.decode() for key in keys)
    started = Runtime.start(
        Config(data_dir=tmp_path, admin_token=ADMIN_TOKEN, secret_key=secret_key)
    )
    try:
        yield started
    finally:
        started.close()


def test_a_session_sealed_with_the_old_key_stays_valid_after_a_new_key_is_put_in_front(
    runtime: Runtime, tmp_path: Path
) -> None:
    (old,) = runtime.config.secret_keys()
    token, token_id = agent_token(runtime)
    session = issue_session(runtime, authenticate_console(runtime, token).principal, SITE, None)
    with runtime_with_keys(tmp_path, Fernet.generate_key(), old) as rotated:
        assert authenticate_console(rotated, session).principal.token_id == token_id


def test_a_new_session_is_sealed_with_the_first_key(runtime: Runtime, tmp_path: Path) -> None:
    (old,) = runtime.config.secret_keys()
    new = Fernet.generate_key()
    token, token_id = agent_token(runtime)
    with runtime_with_keys(tmp_path, new, old) as rotated:
        principal = authenticate_console(rotated, token).principal
        session = issue_session(rotated, principal, SITE, None)
    with runtime_with_keys(tmp_path, new) as only_new:
        assert authenticate_console(only_new, session).principal.token_id == token_id


def test_removing_the_old_key_ends_the_sessions_sealed_with_it(
    runtime: Runtime, tmp_path: Path
) -> None:
    token, _ = agent_token(runtime)
    session = issue_session(runtime, authenticate_console(runtime, token).principal, SITE, None)
    with (
        runtime_with_keys(tmp_path, Fernet.generate_key()) as only_new,
        pytest.raises(Unauthorized, match="not valid"),
    ):
        authenticate_console(only_new, session)
