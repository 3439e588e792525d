"""Bearer tokens: deployment-wide admin tokens and site-scoped admin or agent tokens."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy.orm import Session

from optibridge.config import new_token
from optibridge.errors import Forbidden, NotFound, Unauthorized
from optibridge.secret_box import same_secret, token_digest
from optibridge.store.models import ApiToken
from optibridge.store.repositories import TokenRepository


class Role(StrEnum):
    ADMIN = "admin"
    AGENT = "agent"


@dataclass(frozen=True)
class Principal:
    """Who is calling: a role, and the one site it is limited to (None: every site)."""

    role: Role
    site_id: int | None
    token_id: int | None

    @property
    def is_deployment_admin(self) -> bool:
        return self.role is Role.ADMIN and self.site_id is None

    def require_admin(self) -> None:
        if self.role is not Role.ADMIN:
            raise Forbidden("An agent token cannot use the administration API.")

    def require_admin_of(self, site_id: int) -> None:
        self.require_admin()
        if self.site_id is not None and self.site_id != site_id:
            # Same answer as for a missing site: a token must not learn which sites exist.
            raise NotFound(f"Site {site_id} does not exist.")

    def require_deployment_admin(self) -> None:
        if not self.is_deployment_admin:
            raise Forbidden("Only a deployment-wide admin token can do that.")


@dataclass(frozen=True)
class IssuedToken:
    token: str
    record: ApiToken


def issue_token(session: Session, role: Role, site_id: int | None, label: str = "") -> IssuedToken:
    if role is Role.AGENT and site_id is None:
        raise ValueError("an agent token is always limited to one site")
    prefix = "oba" if role is Role.ADMIN else "obg"
    token = new_token(prefix)
    record = ApiToken(token_hash=token_digest(token), role=role.value, site_id=site_id, label=label)
    TokenRepository(session).add(record)
    return IssuedToken(token=token, record=record)


def authenticate(session: Session, token: str, bootstrap_admin_token: str | None) -> Principal:
    if bootstrap_admin_token and same_secret(token, bootstrap_admin_token):
        return Principal(role=Role.ADMIN, site_id=None, token_id=None)
    record = TokenRepository(session).by_hash(token_digest(token))
    if record is None:
        raise Unauthorized("The bearer token is not valid.")
    return Principal(role=Role(record.role), site_id=record.site_id, token_id=record.id)


def is_admin_token_of(session: Session, token_id: int, site_id: int | None) -> bool:
    """Whether stored token `token_id` still exists as an admin token of `site_id` (None: of
    the deployment); what was signed in with it lasts only as long as that holds."""
    record = TokenRepository(session).get(token_id)
    return record is not None and record.role == Role.ADMIN.value and record.site_id == site_id


def revoke_token(session: Session, token_id: int) -> None:
    repository = TokenRepository(session)
    record = repository.get(token_id)
    if record is None:
        raise NotFound(f"Token {token_id} does not exist.")
    repository.delete(record)


def still_grants(session: Session, token_id: int, role: str, site_id: int) -> bool:
    """Whether token `token_id` still exists with `role`, for `site_id` (or every site)."""
    record = TokenRepository(session).get(token_id)
    return record is not None and record.role == role and record.site_id in (None, site_id)


def site_tokens(session: Session, site_id: int) -> Sequence[ApiToken]:
    """The tokens limited to `site_id` (their hashes only: tokens are never stored)."""
    return TokenRepository(session).list(site_id)


def revoke_site_token(session: Session, site_id: int, token_id: int) -> None:
    """Revoke a token of `site_id` (404 for any other token, or another site's)."""
    record = TokenRepository(session).get(token_id)
    if record is None or record.site_id != site_id:
        raise NotFound(f"Token {token_id} does not exist for site {site_id}.")
    revoke_token(session, token_id)
