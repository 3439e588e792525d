"""Re-encrypting every stored secret under the first OPTIBRIDGE_SECRET_KEY (`optibridge secrets
rotate`): run after a new key was put in front of the old one, before the old one is removed.

All or nothing: if any stored secret opens with none of the configured keys, nothing is changed
and every such secret is named (its site and kind, never its value). Values already sealed
under the first key are left as they are, so running it again changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from optibridge.secret_box import SecretBox, SecretKeyMismatch
from optibridge.store.models import Site, SiteSettings
from optibridge.store.repositories import SettingsRepository, SiteRepository

WEBHOOK_TOKEN = "webhook token"  # noqa: S105 (a label)
OPTIMOVE_API_KEY = "Optimove API key"
COMM100_API_KEY = "Comm100 API key"
COMM100_OAUTH_SECRET = "Comm100 OAuth client secret"  # noqa: S105 (a label)


@dataclass(frozen=True)
class RotationReport:
    sites: int  # sites with at least one value re-encrypted
    reencrypted: int  # values re-encrypted
    already_current: int  # values already sealed under the first key


@dataclass(frozen=True)
class UnreadableSecret:
    site_id: int
    kind: str


class SecretsUnreadable(Exception):
    """Stored secrets that none of the configured keys opens; nothing was re-encrypted."""

    def __init__(self, unreadable: list[UnreadableSecret]) -> None:
        self.unreadable = unreadable
        super().__init__(
            f"{len(unreadable)} stored secret(s) can be decrypted by none of the configured keys: "
            + ", ".join(f"site {item.site_id} {item.kind}" for item in unreadable)
        )


@dataclass(frozen=True)
class _Sealed:
    """Where one stored secret is, and what it is."""

    site_id: int
    kind: str
    row: Site | SiteSettings
    column: str


def rotate_secrets(session: Session, box: SecretBox) -> RotationReport:
    """Seal every stored secret under the first key, in the caller's transaction."""
    resealed: list[tuple[_Sealed, str]] = []
    unreadable: list[UnreadableSecret] = []
    already_current = 0
    for sealed in _stored_secrets(session):
        value: str | None = getattr(sealed.row, sealed.column)
        if not value:
            continue
        try:
            fresh = box.reseal(value)
        except SecretKeyMismatch:
            unreadable.append(UnreadableSecret(sealed.site_id, sealed.kind))
            continue
        if fresh is None:
            already_current += 1
        else:
            resealed.append((sealed, fresh))
    if unreadable:
        raise SecretsUnreadable(sorted(unreadable, key=lambda item: item.site_id))
    for sealed, fresh in resealed:
        setattr(sealed.row, sealed.column, fresh)
    session.flush()
    return RotationReport(
        sites=len({sealed.site_id for sealed, _ in resealed}),
        reencrypted=len(resealed),
        already_current=already_current,
    )


def _stored_secrets(session: Session) -> list[_Sealed]:
    """Every Fernet-sealed column (`*_enc` in store/models.py), row by row, locked."""
    found = [
        _Sealed(site.site_id, WEBHOOK_TOKEN, site, "webhook_token_enc")
        for site in SiteRepository(session).list_locked()
    ]
    for row in SettingsRepository(session).list_locked():
        found.append(_Sealed(row.site_id, OPTIMOVE_API_KEY, row, "optimove_api_key_enc"))
        found.append(_Sealed(row.site_id, COMM100_API_KEY, row, "comm100_api_key_enc"))
        found.append(_Sealed(row.site_id, COMM100_OAUTH_SECRET, row, "comm100_oauth_secret_enc"))
    return found
