"""Every query the service makes (the rate limiter's live in rate_limits.py)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from optibridge.store.models import (
    ApiToken,
    AttributeCache,
    CustomerCache,
    Site,
    SiteSettings,
    utcnow,
)


class SiteRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, site_id: int) -> Site | None:
        return self.session.get(Site, site_id)

    def list(self, only: int | None = None) -> Sequence[Site]:
        query = select(Site).order_by(Site.site_id)
        if only is not None:
            query = query.where(Site.site_id == only)
        return self.session.scalars(query).all()

    def list_locked(self) -> Sequence[Site]:
        """Every site, locked until the transaction ends (see `SettingsRepository.list_locked`)."""
        return self.session.scalars(select(Site).order_by(Site.site_id).with_for_update()).all()

    def add(self, site: Site) -> None:
        self.session.add(site)
        self.session.flush()

    def delete(self, site: Site) -> None:
        # Explicit deletes: SQLite enforces ON DELETE CASCADE only with foreign_keys=ON,
        # which a database opened by another tool may lack.
        for model in (SiteSettings, AttributeCache, ApiToken):
            self.session.execute(delete(model).where(model.site_id == site.site_id))
        self.session.delete(site)
        self.session.flush()


class SettingsRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, site_id: int) -> SiteSettings | None:
        return self.session.get(SiteSettings, site_id)

    def list_locked(self) -> Sequence[SiteSettings]:
        """Every site's settings, locked until the transaction ends: re-encrypting the API keys
        must not overwrite a key saved meanwhile (SQLite's write lock is taken up front)."""
        query = select(SiteSettings).order_by(SiteSettings.site_id).with_for_update()
        return self.session.scalars(query).all()

    def save(
        self,
        site_id: int,
        document: dict[str, Any],
        optimove_api_key_enc: str | None,
        comm100_api_key_enc: str | None,
        comm100_oauth_secret_enc: str | None = None,
    ) -> SiteSettings:
        row = self.get(site_id)
        if row is None:
            row = SiteSettings(site_id=site_id)
            self.session.add(row)
        row.document = document
        row.optimove_api_key_enc = optimove_api_key_enc
        row.comm100_api_key_enc = comm100_api_key_enc
        row.comm100_oauth_secret_enc = comm100_oauth_secret_enc
        row.updated_at = utcnow()
        self.session.flush()
        return row


class TokenRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def by_hash(self, token_hash: str) -> ApiToken | None:
        return self.session.scalars(
            select(ApiToken).where(ApiToken.token_hash == token_hash)
        ).first()

    def add(self, token: ApiToken) -> ApiToken:
        self.session.add(token)
        self.session.flush()
        return token

    def list(self, site_id: int | None = None) -> Sequence[ApiToken]:
        query = select(ApiToken).order_by(ApiToken.id)
        if site_id is not None:
            query = query.where(ApiToken.site_id == site_id)
        return self.session.scalars(query).all()

    def get(self, token_id: int) -> ApiToken | None:
        # Token ids are 32-bit (PostgreSQL would refuse even to compare with a larger one).
        if not 0 < token_id < 2**31:
            return None
        return self.session.get(ApiToken, token_id)

    def delete(self, token: ApiToken) -> None:
        self.session.delete(token)
        self.session.flush()

    def deployment_admin_exists(self) -> bool:
        query = select(ApiToken.id).where(ApiToken.site_id.is_(None), ApiToken.role == "admin")
        return self.session.scalars(query.limit(1)).first() is not None


class AttributeCacheRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def fresh(self, site_id: int, max_age_s: float) -> list[Any] | None:
        row = self.session.get(AttributeCache, site_id)
        if row is None or time.time() - row.fetched_at > max_age_s:
            return None
        return list(row.attributes)

    def store(self, site_id: int, attributes: list[Any]) -> None:
        row = self.session.get(AttributeCache, site_id)
        if row is None:
            row = AttributeCache(site_id=site_id, attributes=attributes, fetched_at=time.time())
            self.session.add(row)
        else:
            row.attributes = attributes
            row.fetched_at = time.time()
        self.session.flush()

    def forget(self, site_id: int) -> None:
        self.session.execute(delete(AttributeCache).where(AttributeCache.site_id == site_id))

    def a_known_customer(self, site_id: int) -> str | None:
        """A customer of the site Optimove had when last read (the one read last), or None:
        reading it teaches the attributes' types, which the attribute list does not give."""
        return self.session.scalars(
            select(CustomerCache.customer_id)
            .where(CustomerCache.site_id == site_id, CustomerCache.found.is_(True))
            .order_by(CustomerCache.fetched_at.desc())
            .limit(1)
        ).first()
