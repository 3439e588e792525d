"""The control panel put together: every page's routes, then the catch-all 404 page.

`app.mount(STATIC_PATH, static_files())` must come before `app.include_router(router)`, so the
catch-all does not hide the stylesheet and script.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

from optibridge.web.ui import (
    backfills,
    comm100_app,
    comm100_webhooks,
    login,
    settings_preview,
    site_settings,
    sites,
    sync_log,
)
from optibridge.web.ui.deps import page_router
from optibridge.web.ui.render import STATIC_DIR, STATIC_PATH, error_page

__all__ = ["STATIC_PATH", "router", "static_files"]


def static_files() -> StaticFiles:
    """The control panel's stylesheet and script, for `app.mount(STATIC_PATH, …)`."""
    return StaticFiles(directory=STATIC_DIR)


# --- anything else under /ui ------------------------------------------------------------------

_not_found = page_router()


@_not_found.get("/{path:path}", response_class=HTMLResponse)
def not_found(request: Request, path: str) -> Response:
    return error_page(request, 404, "Not found", "There is no such page in the control panel.")


router = APIRouter()
for _pages in (
    login.router,
    sites.router,
    site_settings.router,
    settings_preview.router,
    comm100_app.router,
    comm100_webhooks.router,
    sync_log.router,
    backfills.router,
    _not_found,
):
    router.include_router(_pages)  # the catch-all last
