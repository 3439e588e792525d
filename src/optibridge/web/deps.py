"""Request dependencies: the process runtime and the authenticated caller."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from optibridge.errors import Unauthorized
from optibridge.runtime import Runtime
from optibridge.services.tokens import Principal, authenticate

bearer = HTTPBearer(
    auto_error=False, description="An admin token (deployment-wide or site-scoped)."
)


async def get_runtime(request: Request) -> Runtime:
    # Async on purpose: a plain `def` dependency is run in the thread pool, a hop per request
    # (measured: a fifth of a webhook's time in the event loop) for reading one attribute.
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def get_principal(
    runtime: RuntimeDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("Send an admin token as 'Authorization: Bearer <token>'.")
    bootstrap = runtime.config.admin_token
    with runtime.unit_of_work(read_only=True) as session:
        return authenticate(
            session,
            credentials.credentials,
            bootstrap.get_secret_value() if bootstrap else None,
        )


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def public_url(runtime: Runtime, request: Request) -> str:
    """Where Comm100 and Optimove reach us: configured, or the address this request came to."""
    return runtime.config.public_url or str(request.base_url).rstrip("/")
