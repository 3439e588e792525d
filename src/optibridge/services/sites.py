"""Sites: one Comm100 site each, with the secret that authenticates its webhooks."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlencode

from sqlalchemy.orm import Session

from optibridge.errors import Conflict, Invalid, NotFound, Problem
from optibridge.secret_box import SecretBox
from optibridge.store.models import Site
from optibridge.store.repositories import SiteRepository

MAX_SITE_ID = 2**53 - 1  # JSON numbers beyond this lose precision in browsers


@dataclass(frozen=True)
class WebhookUrls:
    livechat: str
    ticketing: str
    optimove_callback: str


def get_site(session: Session, site_id: int) -> Site:
    site = SiteRepository(session).get(site_id)
    if site is None:
        raise NotFound(f"Site {site_id} does not exist.")
    return site


def list_sites(session: Session, only: int | None = None) -> Sequence[Site]:
    return SiteRepository(session).list(only)


def create_site(session: Session, box: SecretBox, site_id: int, name: str) -> Site:
    problems = []
    if not 1 <= site_id <= MAX_SITE_ID:
        problems.append(Problem("/site_id", "must be a positive integer (the Comm100 site id)"))
    if not name.strip():
        problems.append(Problem("/name", "must not be empty"))
    elif len(name) > 200:
        problems.append(Problem("/name", "must be at most 200 characters"))
    if problems:
        raise Invalid("The site is not valid.", problems)
    repository = SiteRepository(session)
    if repository.get(site_id) is not None:
        raise Conflict(f"Site {site_id} already exists.")
    site = Site(
        site_id=site_id,
        name=name.strip(),
        webhook_token_enc=box.seal(secrets.token_urlsafe(24)),
    )
    repository.add(site)
    return site


def delete_site(session: Session, site_id: int) -> None:
    SiteRepository(session).delete(get_site(session, site_id))


def webhook_token(box: SecretBox, site: Site) -> str:
    return box.open(site.webhook_token_enc)


def webhook_urls(box: SecretBox, site: Site, public_url: str) -> WebhookUrls:
    query = urlencode({"token": webhook_token(box, site)})
    base = public_url.rstrip("/")
    return WebhookUrls(
        livechat=f"{base}/webhooks/comm100/{site.site_id}/livechat?{query}",
        ticketing=f"{base}/webhooks/comm100/{site.site_id}/ticketing?{query}",
        optimove_callback=f"{base}/callbacks/optimove/{site.site_id}?{query}",
    )
