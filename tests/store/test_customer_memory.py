"""The chats agents have open in the tab (`store/customer_memory.py: open_chats`): looked up
lately, and not concluded by any record yet; what tells the worker that more writes are coming
(SPEC 4.6)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from optibridge.store.customer_memory import open_chats
from optibridge.store.db import session_factory
from tests.store.test_sync_log import OTHER_SITE, SITE, add_record, add_site

NOW = datetime.now(UTC)
SINCE = NOW - timedelta(minutes=30)


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with session_factory(engine)() as session, session.begin():
        add_site(session, SITE)
        add_site(session, OTHER_SITE)
        yield session


def looked_up(session: Session, chat_id: str | int, site_id: int = SITE, **fields: object) -> None:
    values: dict[str, object] = {
        "event": "console_lookup",
        "comm100_ids": {"chat_id": chat_id},
        "received_at": NOW,
    }
    values.update(fields)
    add_record(session, site_id, **values)


def ended(session: Session, chat_id: str, site_id: int = SITE) -> None:
    add_record(session, site_id, conversation_key=f"chat:{chat_id}", received_at=NOW)


def test_a_chat_looked_up_is_open_until_a_record_concludes_it(session: Session) -> None:
    looked_up(session, "A")
    looked_up(session, "A")  # a Refresh: still one chat
    looked_up(session, 42)  # an id Comm100 sent as a number
    assert open_chats(session, {SITE}, SINCE) == 2
    ended(session, "A")
    assert open_chats(session, {SITE}, SINCE) == 1
    ended(session, "42")
    assert open_chats(session, {SITE}, SINCE) == 0


def test_only_the_sites_asked_about_and_only_lately(session: Session) -> None:
    looked_up(session, "B", OTHER_SITE)
    ended(session, "C", OTHER_SITE)
    looked_up(session, "C")  # the same chat id ended on another site: still open here
    looked_up(session, "D", received_at=SINCE - timedelta(seconds=1))  # too long ago
    assert open_chats(session, {SITE}, SINCE) == 1
    assert open_chats(session, {SITE, OTHER_SITE}, SINCE) == 2
    assert open_chats(session, set(), SINCE) == 0


def test_tickets_and_lookups_without_a_chat_are_not_waited_for(session: Session) -> None:
    looked_up(session, "E", channel="ticketing", comm100_ids={"ticket_id": "E"})
    looked_up(session, "F", comm100_ids={"visitor_id": "v-1"})
    looked_up(session, "G", comm100_ids={"chat_id": None})
    assert open_chats(session, {SITE}, SINCE) == 0
