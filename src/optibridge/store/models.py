"""Tables. Secrets are stored Fernet-encrypted (`*_enc`) or hashed (`token_hash`), never plain."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class Site(Base):
    __tablename__ = "sites"

    site_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String(200))
    # The secret in the webhook URLs; encrypted because the admin must be able to read it back.
    webhook_token_enc: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class SiteSettings(Base):
    """The SPEC 3 document without its API keys, which live encrypted beside it."""

    __tablename__ = "site_settings"

    site_id: Mapped[int] = mapped_column(
        ForeignKey("sites.site_id", ondelete="CASCADE"), primary_key=True
    )
    document: Mapped[dict[str, Any]] = mapped_column(JSON)
    optimove_api_key_enc: Mapped[str | None] = mapped_column(Text, default=None)
    comm100_api_key_enc: Mapped[str | None] = mapped_column(Text, default=None)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


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
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class RateLimitBucket(Base):
    """The send times of the recent calls made with one API key, shared by every process."""

    __tablename__ = "rate_limit_buckets"

    bucket: Mapped[str] = mapped_column(String(80), primary_key=True)
    stamps: Mapped[list[Any]] = mapped_column(JSON, default=list)
    throttled_total: Mapped[int] = mapped_column(Integer, default=0)


class AttributeCache(Base):
    """The Optimove attribute list last read for a site (it changes rarely and costs a call)."""

    __tablename__ = "attribute_cache"

    site_id: Mapped[int] = mapped_column(
        ForeignKey("sites.site_id", ondelete="CASCADE"), primary_key=True
    )
    attributes: Mapped[list[Any]] = mapped_column(JSON)
    fetched_at: Mapped[float] = mapped_column(Float)
