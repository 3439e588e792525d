"""What the control panel's page modules share: their router, the session and the posted form."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from optibridge.web.ui.auth import UiSession, read_form, require_session
from optibridge.web.ui.render import PageRoute

SessionDep = Annotated[UiSession, Depends(require_session)]
FormDep = Annotated[dict[str, str], Depends(read_form)]


def page_router() -> APIRouter:
    """A router for pages under `/ui`: errors answered as pages, kept out of the API schema."""
    return APIRouter(prefix="/ui", route_class=PageRoute, include_in_schema=False)
