"""Liveness and readiness probes."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from optibridge.store.migrate import is_current
from optibridge.web.deps import RuntimeDep

router = APIRouter(tags=["operations"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is alive."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "Not ready; the body says why."}})
def readyz(runtime: RuntimeDep) -> JSONResponse:
    """The database answers and its schema is current."""
    try:
        with runtime.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        if not is_current(runtime.engine):
            return JSONResponse({"status": "migrations pending"}, status_code=503)
    except SQLAlchemyError:
        return JSONResponse({"status": "database unreachable"}, status_code=503)
    return JSONResponse({"status": "ready"})
