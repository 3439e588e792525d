"""Sites: one Comm100 site each, with the secret that authenticates its webhooks."""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from optibridge.domain.urls import url_problem
from optibridge.errors import Conflict, Invalid, Problem
from optibridge.runtime import Runtime
from optibridge.secret_box import SecretBox
from optibridge.services.comm100_webhooks import WebhookRemoval, remove_site_webhooks
from optibridge.store.models import Site
from optibridge.store.repositories import SettingsRepository, SiteRepository

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


@dataclass(frozen=True)
class PublicUrlWarning:
    kind: str  # "loopback" (or a private or local address), "plain_http"
    message: str


def public_url_warnings(public_url: str, configured: bool = True) -> list[PublicUrlWarning]:
    """What is wrong with OPTIBRIDGE_PUBLIC_URL as the base of the webhook URLs (and of
    Optimove's callback URL), for the services on the internet that call them; nothing when it
    is not `configured` (then that is the warning)."""
    if not configured:
        return []
    origin = public_url.rstrip("/")
    warnings = []
    as_https = re.sub(r"^http://", "https://", public_url, flags=re.IGNORECASE)
    if url_problem(as_https, base=True, allow_private=False) is not None:
        warnings.append(
            PublicUrlWarning(
                "loopback",
                f"OPTIBRIDGE_PUBLIC_URL is {origin}, a loopback, private or local address:"
                " Comm100 and Optimove on the internet can't reach these URLs. Set it to the"
                " address they reach this service at, restart it, and copy the URLs then.",
            )
        )
    if public_url.lower().startswith("http://"):
        warnings.append(
            PublicUrlWarning(
                "plain_http",
                f"OPTIBRIDGE_PUBLIC_URL is {origin}, plain http: these URLs carry this site's"
                " secret token, which would cross the network unencrypted. Serve this service"
                " over https and set an https address.",
            )
        )
    return warnings


def list_sites(session: Session, only: int | None = None) -> Sequence[Site]:
    return SiteRepository(session).list(only)


@dataclass(frozen=True)
class SiteOverview:
    """A site as a list of sites shows it: which connections are saved, which channels are on."""

    site_id: int
    name: str
    created_at: datetime
    optimove_connected: bool
    comm100_connected: bool
    livechat: bool
    ticketing: bool


def site_overviews(session: Session, only: int | None = None) -> list[SiteOverview]:
    """`list_sites` with each site's state, read from its stored settings (nothing decrypted:
    a connection counts as saved when its address and an API key are stored)."""
    settings = SettingsRepository(session)
    overviews = []
    for site in list_sites(session, only=only):
        stored = settings.get(site.site_id)
        document: dict[str, Any] = stored.document if stored is not None else {}
        overviews.append(
            SiteOverview(
                site_id=site.site_id,
                name=site.name,
                created_at=site.created_at,
                optimove_connected=bool(
                    stored is not None
                    and stored.optimove_api_key_enc
                    and (document.get("optimove") or {}).get("base_url")
                ),
                comm100_connected=bool(
                    stored is not None
                    and stored.comm100_api_key_enc
                    and (document.get("comm100") or {}).get("api_base_url")
                ),
                livechat=bool((document.get("livechat") or {}).get("enabled")),
                ticketing=bool((document.get("ticketing") or {}).get("enabled")),
            )
        )
    return overviews


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


def delete_site(runtime: Runtime, site_id: int) -> WebhookRemoval:
    """Remove a site with its settings and tokens, after the Live Chat webhooks registered for
    it in Comm100 (as far as Comm100 lets: what is left is returned and logged, and never keeps
    the site from being deleted). 404 when there is no such site."""
    removal = remove_site_webhooks(runtime, site_id)
    with runtime.unit_of_work() as session:
        SiteRepository(session).delete(get_site(session, site_id))
    return removal
