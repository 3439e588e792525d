"""Sites: one Comm100 site each, with the secret that authenticates its webhooks."""

from __future__ import annotations

import secrets
from collections.abc import Sequence

from sqlalchemy.orm import Session

from optibridge.errors import Conflict, Invalid, Problem
from optibridge.secret_box import SecretBox
from optibridge.store.models import Site
from optibridge.store.repositories import SiteRepository

# The engine's site loading, offered here to the transport (services are its clients).
from optibridge.sync.sites import (
    WebhookUrls as WebhookUrls,
)
from optibridge.sync.sites import (
    get_site as get_site,
)
from optibridge.sync.sites import (
    webhook_token as webhook_token,
)
from optibridge.sync.sites import (
    webhook_urls as webhook_urls,
)

MAX_SITE_ID = 2**53 - 1  # JSON numbers beyond this lose precision in browsers


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
