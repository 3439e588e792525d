"""The ASGI application: routers, error handlers, and (for the demo) the mounted sandboxes."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

from optibridge import __version__
from optibridge.console import api as console_api
from optibridge.console import manifest_api as console_manifest
from optibridge.console import pages as console_pages
from optibridge.console import signin as console_signin
from optibridge.runtime import Runtime
from optibridge.web import (
    admin_api,
    backfills_api,
    comm100_api,
    ops,
    preview_api,
    syncs_api,
    webhooks,
)
from optibridge.web.access_log import AccessLogMiddleware
from optibridge.web.errors import install_error_handlers
from optibridge.web.storable_input import StorableInputMiddleware
from optibridge.web.ui import routes as control_panel

DESCRIPTION = """\
Connects a Comm100 site (Live Chat, Ticketing & Messaging) with an Optimove account.

Errors always have the shape `{"error": {"code", "message", "details": [{"pointer", "message"}]}}`.
The administration API takes `Authorization: Bearer <admin token>`; the console API a
site-scoped agent token or the console session the tab page hands out. Webhooks carry the
site's secret token in their URL.
"""


# Swagger UI (/docs) loads its script and styles from here, not from a CDN: the
# service's API documentation works on a network with no way out (docs/decisions.md).
DOCS_ASSETS_PATH = "/docs-assets"


def create_app(runtime: Runtime, *, mount_sandboxes: bool = False) -> FastAPI:
    app = FastAPIOffline(
        title="optibridge",
        version=__version__,
        description=DESCRIPTION,
        static_url=DOCS_ASSETS_PATH,
        redoc_url=None,  # ReDoc's bundle fetches its logo from cdn.redoc.ly
    )
    app.state.runtime = runtime
    install_error_handlers(app)
    # The webhooks first: routes are matched in order, and they are the busiest.
    app.include_router(webhooks.router)
    app.include_router(ops.router)
    app.include_router(admin_api.router)
    app.include_router(preview_api.router)
    app.include_router(syncs_api.router)
    app.include_router(console_api.router)
    app.include_router(console_pages.router)
    app.include_router(console_signin.router)
    app.include_router(console_manifest.router)
    app.include_router(comm100_api.router)
    app.include_router(backfills_api.router)
    # The control panel: its static files first, so its catch-all 404 page does not hide them.
    app.mount(control_panel.STATIC_PATH, control_panel.static_files(), name="ui-static")
    app.include_router(control_panel.router)
    if mount_sandboxes:
        from optibridge.sandbox.comm100 import create_app as create_comm100_sandbox
        from optibridge.sandbox.optimove import create_app as create_optimove_sandbox

        app.mount("/sandbox/optimove", create_optimove_sandbox())
        app.mount("/sandbox/comm100", create_comm100_sandbox())
    # Outermost last: the access log sees every answer, the middleware's 400s included.
    app.add_middleware(StorableInputMiddleware)
    app.add_middleware(AccessLogMiddleware)
    _add_components(app, admin_api.SETTINGS_COMPONENTS)
    return app


def _add_components(app: FastAPI, schemas: dict[str, Any]) -> None:
    """Schemas that routes reference by hand (`openapi_extra`) join the document's components."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        document = generate()
        components = document.setdefault("components", {}).setdefault("schemas", {})
        for name, schema in schemas.items():
            components.setdefault(name, schema)
        return document

    app.openapi = openapi  # type: ignore[method-assign]
