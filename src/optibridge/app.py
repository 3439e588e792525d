"""The ASGI application: routers, error handlers, and (for the demo) the mounted sandboxes."""

from __future__ import annotations

from fastapi import FastAPI

from optibridge import __version__
from optibridge.runtime import Runtime
from optibridge.web import admin_api, ops, syncs_api, webhooks
from optibridge.web.access_log import AccessLogMiddleware
from optibridge.web.errors import install_error_handlers

DESCRIPTION = """\
Connects a Comm100 site (Live Chat, Ticketing & Messaging) with an Optimove account.

Errors always have the shape `{"error": {"code", "message", "details": [{"pointer", "message"}]}}`.
The administration API takes `Authorization: Bearer <admin token>`.
"""


def create_app(runtime: Runtime, *, mount_sandboxes: bool = False) -> FastAPI:
    app = FastAPI(title="optibridge", version=__version__, description=DESCRIPTION)
    app.state.runtime = runtime
    install_error_handlers(app)
    app.include_router(ops.router)
    app.include_router(admin_api.router)
    app.include_router(syncs_api.router)
    app.include_router(webhooks.router)
    if mount_sandboxes:
        from optibridge.sandbox.comm100 import create_app as create_comm100_sandbox
        from optibridge.sandbox.optimove import create_app as create_optimove_sandbox

        app.mount("/sandbox/optimove", create_optimove_sandbox())
        app.mount("/sandbox/comm100", create_comm100_sandbox())
    app.add_middleware(AccessLogMiddleware)
    return app
