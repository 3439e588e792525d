"""Tables. Secrets are stored Fernet-encrypted (`*_enc`) or hashed (`token_hash`), never plain."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from optibridge import safe_text


def utcnow() -> datetime:
    return datetime.now(UTC)


class StorableJSON(TypeDecorator[Any]):
    """JSON whose text is always storable and sendable (`safe_text`), both ways: what is written
    is cleaned, and so is what is read, so rows written before every door cleaned its input
    (a lone surrogate escaped as `\\ud800` in a stored change) read as valid text too."""

    impl = JSON
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        return None if value is None else safe_text.clean(value).value

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        return None if value is None else safe_text.clean(value).value


class UtcDateTime(TypeDecorator[datetime]):
    """A moment, stored in UTC and read back as an aware UTC datetime on every database (SQLite
    keeps no zone, so it would hand back a naive one, which is not a valid `date-time`)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: StorableJSON, list[Any]: StorableJSON}


class Site(Base):
    __tablename__ = "sites"

    site_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String(200))
    # The secret in the webhook URLs; encrypted because the admin must be able to read it back.
    webhook_token_enc: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class SiteSettings(Base):
    """The SPEC 3 document without its API keys, which live encrypted beside it."""

    __tablename__ = "site_settings"

    site_id: Mapped[int] = mapped_column(
        ForeignKey("sites.site_id", ondelete="CASCADE"), primary_key=True
    )
    document: Mapped[dict[str, Any]] = mapped_column(StorableJSON)
    optimove_api_key_enc: Mapped[str | None] = mapped_column(Text, default=None)
    comm100_api_key_enc: Mapped[str | None] = mapped_column(Text, default=None)
    comm100_oauth_secret_enc: Mapped[str | None] = mapped_column(Text, default=None)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class ApiToken(Base):
    """A bearer token, stored as its SHA-256 (tokens are 256-bit random, so no salt is needed)."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))  # admin | agent
    # None: a deployment-wide admin token; otherwise the only site the token may reach.
    site_id: Mapped[int | None] = mapped_column(
        ForeignKey("sites.site_id", ondelete="CASCADE"), default=None, index=True
    )
    label: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class RateLimitBucket(Base):
    """The send times of the recent calls made with one API key, shared by every process."""

    __tablename__ = "rate_limit_buckets"

    bucket: Mapped[str] = mapped_column(String(80), primary_key=True)
    stamps: Mapped[list[Any]] = mapped_column(StorableJSON, default=list)
    throttled_total: Mapped[int] = mapped_column(Integer, default=0)
    # Callers waiting for a slot, [priority, waiter id, until (µs)]: see domain/budget.py.
    waiters: Mapped[list[Any]] = mapped_column(StorableJSON, default=list, server_default="[]")
    # When an agent last asked for a slot (µs): live events leave it spare slots meanwhile.
    agent_seen_us: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")


class AttributeCache(Base):
    """The Optimove attribute list last read for a site (it changes rarely and costs a call)."""

    __tablename__ = "attribute_cache"

    site_id: Mapped[int] = mapped_column(
        ForeignKey("sites.site_id", ondelete="CASCADE"), primary_key=True
    )
    attributes: Mapped[list[Any]] = mapped_column(StorableJSON)
    fetched_at: Mapped[float] = mapped_column(Float)


class SyncRecord(Base):
    """One received Comm100 event and everything done about it: the job and its log entry.

    `state` is the pipeline's (queued → working → awaiting_callback → done | failed);
    `outcome` is what it meant for the customer (SPEC 4.3).
    """

    __tablename__ = "sync_records"
    __table_args__ = (
        UniqueConstraint("site_id", "dedupe_key", name="uq_sync_records_delivery"),
        Index("ix_sync_records_claim", "state", "next_attempt_at"),
        Index("ix_sync_records_order", "site_id", "order_key", "state"),
        Index("ix_sync_records_site_received", "site_id", "id"),
        Index("ix_sync_records_customer", "site_id", "customer_id"),
        # The sync log's outcome filter and its time-window summary.
        Index("ix_sync_records_site_outcome", "site_id", "outcome", "id"),
        Index("ix_sync_records_site_time", "site_id", "received_at"),
        Index("ix_sync_records_conversation", "site_id", "conversation_key"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.site_id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(16))
    event: Mapped[str] = mapped_column(String(64))
    # The same delivery twice has the same key (Comm100 retries, network duplicates).
    dedupe_key: Mapped[str] = mapped_column(String(64))
    # Records with the same key are processed one at a time, oldest first.
    order_key: Mapped[str] = mapped_column(String(200))
    comm100_ids: Mapped[dict[str, Any]] = mapped_column(StorableJSON, default=dict)
    context: Mapped[dict[str, Any]] = mapped_column(StorableJSON, default=dict)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    state: Mapped[str] = mapped_column(String(24), default="queued")
    outcome: Mapped[str | None] = mapped_column(String(24), default=None)
    reason: Mapped[str | None] = mapped_column(Text, default=None)
    customer_id: Mapped[str | None] = mapped_column(String(200), default=None)
    changes: Mapped[list[Any]] = mapped_column(StorableJSON, default=list)
    # Fields whose Optimove value this event set (written, or found equal under `overwrite`):
    # an older event of the customer processed later leaves them alone.
    asserted_fields: Mapped[list[Any] | None] = mapped_column(StorableJSON, default=None)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[float] = mapped_column(Float, default=0.0)
    claimed_by: Mapped[str | None] = mapped_column(String(100), default=None)
    lease_until: Mapped[float | None] = mapped_column(Float, default=None)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    write_id: Mapped[str | None] = mapped_column(
        ForeignKey("optimove_writes.id", ondelete="SET NULL"), default=None, index=True
    )
    # The conversation an acted-on event concludes (`chat:<id>`, `offline_message:<id>`,
    # `ticket:<id>`): a backfill replays none already here, whatever its delivery.
    conversation_key: Mapped[str | None] = mapped_column(String(200), default=None)
    # A backfill's replay: the backfill, and when the conversation happened (a live event
    # happened when it was received).
    backfill_id: Mapped[int | None] = mapped_column(
        ForeignKey("backfills.id", ondelete="SET NULL"), default=None, index=True
    )
    occurred_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)


class Backfill(Base):
    """A period's past conversations replayed through the rules (SPEC 4.7), and where it is.

    Counts kept here are what only the listing knows (`listed`, `skipped`, `already_synced`);
    what became of the replayed conversations is read from their sync records.
    """

    __tablename__ = "backfills"
    __table_args__ = (Index("ix_backfills_site", "site_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.site_id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(16))
    since: Mapped[datetime] = mapped_column(UtcDateTime)
    until: Mapped[datetime] = mapped_column(UtcDateTime)
    # queued | running | paused | done | failed | cancelled (`domain/backfills.py`)
    state: Mapped[str] = mapped_column(String(16), default="queued", index=True)
    # Where the listing is (`domain.backfills.Cursor`).
    cursor: Mapped[dict[str, Any]] = mapped_column(StorableJSON, default=dict)
    listed: Mapped[int] = mapped_column(Integer, default=0)
    skipped: Mapped[int] = mapped_column(Integer, default=0)
    already_synced: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    # Seconds spent running before `running_since` (epoch s; None while not running): the ETA's
    # pace counts running time only, not pauses.
    active_s: Mapped[float] = mapped_column(Float, default=0.0)
    running_since: Mapped[float | None] = mapped_column(Float, default=None)
    # The next step is due then (a failed listing waits, longer after each failure in a row);
    # the worker stepping it, leased.
    next_step_at: Mapped[float] = mapped_column(Float, default=0.0)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    claimed_by: Mapped[str | None] = mapped_column(String(100), default=None)
    lease_until: Mapped[float | None] = mapped_column(Float, default=None)


class OptimoveWrite(Base):
    """One UpdateCustomerAttributes or UpsertCustomer call and its asynchronous confirmation.

    The id travels in the CallbackURL, so a callback finds its write even if Optimove's answer
    carried no requestId.
    """

    __tablename__ = "optimove_writes"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.site_id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))  # update | upsert
    # sending (call under way or its fate unknown) → sent → confirmed | failed
    state: Mapped[str] = mapped_column(String(16), default="sending")
    request_id: Mapped[str | None] = mapped_column(String(100), default=None, index=True)
    # {customer_id: {field: value}} exactly as sent.
    payload: Mapped[dict[str, Any]] = mapped_column(StorableJSON, default=dict)
    created_at: Mapped[float] = mapped_column(Float)
    sent_at: Mapped[float | None] = mapped_column(Float, default=None)
    settled_at: Mapped[float | None] = mapped_column(Float, default=None)
    result: Mapped[dict[str, Any] | None] = mapped_column(StorableJSON, default=None)


class OptimoveCallLog(Base):
    """Every Optimove call made for a record (shown in the sync log's detail)."""

    __tablename__ = "optimove_calls"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    record_id: Mapped[int] = mapped_column(
        ForeignKey("sync_records.id", ondelete="CASCADE"), index=True
    )
    endpoint: Mapped[str] = mapped_column(String(100))
    status: Mapped[int | None] = mapped_column(Integer, default=None)
    request_id: Mapped[str | None] = mapped_column(String(100), default=None)
    write_id: Mapped[str | None] = mapped_column(String(36), default=None)
    # Indexed for the charts of the budget, which read the calls of an hour or a day.
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, index=True)
    duration_ms: Mapped[float | None] = mapped_column(Float, default=None)
    detail: Mapped[str | None] = mapped_column(Text, default=None)
    # The budget's lane the call waited in (`domain/budget.py: Priority`); None for calls
    # logged before lanes were recorded, and for a write's line until it is sent.
    lane: Mapped[str | None] = mapped_column(String(16), default=None)


class CustomerLink(Base):
    """A Comm100 visitor or contact remembered as an Optimove customer (SPEC 4.1)."""

    __tablename__ = "customer_links"

    site_id: Mapped[int] = mapped_column(
        ForeignKey("sites.site_id", ondelete="CASCADE"), primary_key=True
    )
    subject_kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    subject_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class CustomerCache(Base):
    """The last read of a customer's attributes; `found` False remembers a miss."""

    __tablename__ = "customer_cache"

    site_id: Mapped[int] = mapped_column(
        ForeignKey("sites.site_id", ondelete="CASCADE"), primary_key=True
    )
    customer_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    found: Mapped[bool] = mapped_column(Boolean, default=True)
    attributes: Mapped[dict[str, Any]] = mapped_column(StorableJSON, default=dict)
    fetched_at: Mapped[float] = mapped_column(Float)
