"""What the engine remembers of customers between events: which Optimove customer a Comm100
visitor or contact was (SPEC 4.1), and the last read of each customer (the read cache, kept
current by our own confirmed writes), with the agents' lookups that a conversation's end may
rely on, and the chats they tell us are still open (SPEC 4.6)."""

from __future__ import annotations

import time
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from optibridge.domain.records import AGENT_LOOKUP
from optibridge.store.models import CustomerCache, CustomerLink, SyncRecord, utcnow


def linked_customer(session: Session, site_id: int, kind: str, subject_id: str) -> str | None:
    link = session.get(CustomerLink, (site_id, kind, subject_id))
    return link.customer_id if link else None


def remember_link(
    session: Session, site_id: int, kind: str, subject_id: str, customer_id: str
) -> None:
    link = session.get(CustomerLink, (site_id, kind, subject_id))
    if link is None:
        session.add(
            CustomerLink(
                site_id=site_id, subject_kind=kind, subject_id=subject_id, customer_id=customer_id
            )
        )
    elif link.customer_id != customer_id:
        link.customer_id = customer_id
        link.updated_at = utcnow()
    session.flush()


@dataclass(frozen=True)
class CachedCustomer:
    found: bool
    attributes: dict[str, str | None]
    fetched_at: float


def cached_customer(
    session: Session, site_id: int, customer_id: str, max_age_s: float
) -> CachedCustomer | None:
    row = session.get(CustomerCache, (site_id, customer_id))
    if row is None or time.time() - row.fetched_at > max_age_s:
        return None
    return CachedCustomer(row.found, dict(row.attributes or {}), row.fetched_at)


def looked_up_in_conversation(
    session: Session,
    site_id: int,
    customer_id: str,
    conversation: tuple[str, str],
    since: datetime,
) -> bool:
    """Whether an agent looked `customer_id` up in the tab beside this conversation (`("chat_id",
    "…")` or `("ticket_id", "…")`) since `since` (the sync log's lookups; few per customer)."""
    key, value = conversation
    rows = session.scalars(
        select(SyncRecord.comm100_ids).where(
            SyncRecord.site_id == site_id,
            SyncRecord.customer_id == customer_id,
            SyncRecord.event == AGENT_LOOKUP,
            SyncRecord.received_at >= since,
        )
    )
    return any(isinstance(ids, dict) and str(ids.get(key)) == value for ids in rows)


def open_chats(session: Session, site_ids: Collection[int], since: datetime) -> int:
    """How many chats agents looked up in the tab since `since` have not ended yet (no record
    concludes them): their ends, and their writes, are still to come (SPEC 4.6)."""
    if not site_ids:
        return 0
    looked_up = {
        (site_id, f"chat:{ids['chat_id']}")
        for site_id, ids in session.execute(
            select(SyncRecord.site_id, SyncRecord.comm100_ids).where(
                SyncRecord.site_id.in_(site_ids),
                SyncRecord.event == AGENT_LOOKUP,
                SyncRecord.channel == "livechat",
                SyncRecord.received_at >= since,
            )
        )
        if isinstance(ids, dict) and isinstance(ids.get("chat_id"), str | int)
    }
    if not looked_up:
        return 0
    ended = {
        (site_id, key)
        for site_id, key in session.execute(
            select(SyncRecord.site_id, SyncRecord.conversation_key).where(
                SyncRecord.site_id.in_(site_ids),
                SyncRecord.conversation_key.in_({key for _site, key in looked_up}),
            )
        )
    }
    return len(looked_up - ended)


def cache_customer(
    session: Session,
    site_id: int,
    customer_id: str,
    attributes: dict[str, str | None] | None,
) -> None:
    """Remember a read (None: not found). Our own confirmed writes refresh it too."""
    row = session.get(CustomerCache, (site_id, customer_id))
    if row is None:
        row = CustomerCache(site_id=site_id, customer_id=customer_id, fetched_at=time.time())
        session.add(row)
    row.found = attributes is not None
    row.attributes = dict(attributes or {})
    row.fetched_at = time.time()
    session.flush()


def patch_cached_customer(
    session: Session, site_id: int, customer_id: str, written: dict[str, str | None]
) -> None:
    """Apply a confirmed write to the cached copy, so the next event needs no read."""
    row = session.get(CustomerCache, (site_id, customer_id))
    if row is None:
        return
    row.attributes = {**(row.attributes or {}), **written}
    row.found = True
    session.flush()


def forget_cached_customer(session: Session, site_id: int, customer_id: str) -> None:
    row = session.get(CustomerCache, (site_id, customer_id))
    if row is not None:
        session.delete(row)
        session.flush()
