"""What was typed into a form whose session had ended, kept for the page it came from.

A POST without a valid session (it expired, its token was revoked, it was signed out in another
tab) is not done; `render.PageRoute` then says so and sends the administrator to sign in and back
to the same page. A route that declares what of its form may be kept (`keeps_typed`) gets it
back there, filled in again and marked as not saved, when that is safe (docs/decisions.md):

- never a secret: each route names the fields it keeps, and no API key or client secret is one;
- only from a page of this browser's own session (`auth.sent_from_ended_session`), so a page
  elsewhere can't plant values for an administrator to save;
- encrypted and authenticated (`UiSigner.seal`), in an HttpOnly cookie of `/ui` that lives 30
  minutes and is dropped once shown; one at a time; only for an administrator of its site;
- nothing is ever saved from it: the administrator reads the form and presses the button again.

A form too large for a cookie is not kept, and the message says so.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from fastapi import Request, Response

from optibridge.services.tokens import Principal
from optibridge.web.ui.auth import COOKIE_PATH, signer

DRAFT_COOKIE = "optibridge_draft"
DRAFT_LIFETIME_S = 1800
# Browsers keep cookies of up to 4,096 bytes, name and attributes included.
MAX_SEALED_BYTES = 3800

_KEEPS_ATTRIBUTE = "_optibridge_keeps"
Endpoint = TypeVar("Endpoint", bound=Callable[..., Any])


# What the page then says: in the settings form, and in place of a connection's result.
DRAFT_NOTICE = (
    "Not saved yet: this is what you had typed when your session ended. Check it, then press Save."
)
DRAFT_RESULT = (
    "Your session had ended, so nothing was tested or saved. What you typed is filled in again,"
    " except keys and secrets (they are never kept): type them again, then press the button."
)


@dataclass(frozen=True)
class Keeps:
    """What a POST route keeps of its form when the session had ended."""

    form: str  # which form of its page: "settings", "optimove", "comm100", "sign_in"
    # The fields that may be kept (never a secret): these names (each kept, "" when not sent),
    # or those a test accepts.
    fields: tuple[str, ...] | Callable[[str], bool]
    anchor: str  # where on the page the form is


def keeps_typed(
    form: str, fields: tuple[str, ...] | Callable[[str], bool], anchor: str
) -> Callable[[Endpoint], Endpoint]:
    """Declares, on a POST route of a site's page, what of its form is kept (see the module)."""

    def declare(endpoint: Endpoint) -> Endpoint:
        setattr(endpoint, _KEEPS_ATTRIBUTE, Keeps(form, fields, anchor))
        return endpoint

    return declare


def keeps_of(endpoint: Callable[..., Any]) -> Keeps | None:
    found = getattr(endpoint, _KEEPS_ATTRIBUTE, None)
    return found if isinstance(found, Keeps) else None


@dataclass(frozen=True)
class Draft:
    site_id: int
    form: str
    values: dict[str, str]


def keep_draft(request: Request, response: Response, draft: Draft) -> bool:
    """Set the draft's cookie; False when it is too large to keep."""
    payload = {"site": draft.site_id, "form": draft.form, "values": draft.values}
    packed = zlib.compress(json.dumps(payload, separators=(",", ":")).encode("utf-8"))
    sealed = signer(request).seal(packed)
    if len(sealed) > MAX_SEALED_BYTES:
        return False
    response.set_cookie(
        DRAFT_COOKIE,
        sealed,
        max_age=DRAFT_LIFETIME_S,
        path=COOKIE_PATH,
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="lax",
    )
    return True


def draft_for(request: Request, site_id: int, principal: Principal) -> Draft | None:
    """The draft of this site's page, for an administrator of the site."""
    sealed = request.cookies.get(DRAFT_COOKIE)
    draft = _opened(request, sealed) if sealed else None
    if draft is None or draft.site_id != site_id:
        return None
    if principal.site_id is not None and principal.site_id != site_id:
        return None
    return draft


def forget_draft(request: Request, response: Response, site_id: int) -> None:
    """Drop the draft once its page is shown (a draft of another site waits for its own page;
    one that can't be opened any more goes)."""
    sealed = request.cookies.get(DRAFT_COOKIE)
    if not sealed:
        return
    draft = _opened(request, sealed)
    if draft is not None and draft.site_id != site_id:
        return
    response.delete_cookie(
        DRAFT_COOKIE,
        path=COOKIE_PATH,
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="lax",
    )


def _opened(request: Request, sealed: str) -> Draft | None:
    packed = signer(request).open_sealed(sealed, DRAFT_LIFETIME_S)
    if packed is None:
        return None
    try:
        payload = json.loads(zlib.decompress(packed))
        site_id, form, values = payload["site"], payload["form"], payload["values"]
    except (ValueError, KeyError, TypeError, zlib.error):
        return None
    if not isinstance(site_id, int) or not isinstance(form, str) or not isinstance(values, dict):
        return None
    return Draft(site_id, form, {str(k): str(v) for k, v in values.items()})


def kept_values(keeps: Keeps, form: Mapping[str, str]) -> dict[str, str]:
    if isinstance(keeps.fields, tuple):
        return {name: form.get(name, "").strip() for name in keeps.fields}
    kept = keeps.fields
    return {name: value for name, value in form.items() if kept(name)}
