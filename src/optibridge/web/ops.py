"""Liveness and readiness probes, and Prometheus metrics."""

from __future__ import annotations

from functools import partial

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response

from optibridge.metrics import CONTENT_TYPE, render_metrics
from optibridge.services.health import readiness
from optibridge.web.deps import RuntimeDep

router = APIRouter(tags=["operations"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is alive."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "Not ready; the body says why."}})
def readyz(runtime: RuntimeDep) -> JSONResponse:
    """The database answers and its schema is current."""
    status = readiness(runtime)
    return JSONResponse({"status": status}, status_code=200 if status == "ready" else 503)


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE: {}}, "description": "Prometheus text format."}},
)
def metrics(runtime: RuntimeDep) -> Response:
    """Prometheus metrics: this process's Optimove calls, webhook answers and outcomes, and the
    sync records' state read from the database now (by state and outcome, queue depth, age of
    the oldest queued record).

    No authentication, like /healthz: it exposes counts and durations only (no site, record or
    customer ids, no secrets). Keep it off the public internet with the network if that matters.
    """
    reads = partial(runtime.unit_of_work, read_only=True)
    return Response(render_metrics(reads), media_type=CONTENT_TYPE)
