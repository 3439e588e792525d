"""What both sandboxes' control surfaces under `/_sandbox/` share: errors, merging, common routes.

Errors use SPEC 5's shape `{"error": {"code", "message", "details": [{"pointer", "message"}]}}`:
422 invalid, 400 unparseable JSON, 404 unknown, 405 wrong verb. Each vendor's control module
declares its own routes, served with `common_routes` (keys, the request log, reset), and keeps
its state at `app.state.sandbox`.
"""

from __future__ import annotations

from typing import Annotated, Any, Protocol, TypeVar

from fastapi import APIRouter, Depends, FastAPI, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, StringConstraints, ValidationError
from starlette.routing import Match

from optibridge.sandbox.request_log import RequestLog

PREFIX = "/_sandbox"


class ControlError(Exception):
    """A refused control-surface call, rendered by `control_error_response`."""

    def __init__(
        self, status: int, code: str, message: str, details: list[dict[str, str]] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details or []


def control_error_response(error: ControlError) -> JSONResponse:
    body = {"error": {"code": error.code, "message": error.message, "details": error.details}}
    return JSONResponse(body, status_code=error.status)


def json_pointer(location: tuple[int | str, ...]) -> str:
    return "".join(f"/{str(part).replace('~', '~0').replace('/', '~1')}" for part in location)


def invalid(
    details: list[dict[str, str]], status: int = 422, code: str = "invalid"
) -> ControlError:
    named = "; ".join(f"{d['pointer'] or '/'}: {d['message']}" for d in details)
    return ControlError(status, code, f"Invalid input: {named}", details)


def invalid_input(errors: list[Any], *, skip: int = 0) -> ControlError:
    """A 422 (or 400 for unparseable JSON) naming every problem pydantic found."""
    unparseable = [e for e in errors if e["type"] == "json_invalid"]
    if unparseable:
        reason = str((unparseable[0].get("ctx") or {}).get("error", unparseable[0]["msg"]))
        details = [{"pointer": "", "message": reason}]
        return ControlError(400, "malformed", "The body is not valid JSON.", details)
    details = [
        {"pointer": json_pointer(tuple(e["loc"])[skip:]), "message": str(e["msg"])} for e in errors
    ]
    return invalid(details)


def not_found(what: str) -> ControlError:
    return ControlError(404, "not_found", f"No {what} in the sandbox.")


ModelT = TypeVar("ModelT", bound=BaseModel)


def merged(current: ModelT, patch: BaseModel) -> ModelT:
    """`current` with the keys `patch` was given, validated again as a whole."""
    try:
        return type(current).model_validate(
            {**current.model_dump(), **patch.model_dump(exclude_unset=True)}
        )
    except ValidationError as exc:
        raise invalid_input(list(exc.errors())) from exc


# --- the routes every sandbox has -------------------------------------------------------------


class ControlledSandbox(Protocol):
    """What the common routes need of a sandbox's state."""

    keys: list[str]

    @property
    def requests(self) -> RequestLog[Any]: ...

    def reset(self) -> None: ...


def _sandbox(request: Request) -> ControlledSandbox:
    state: ControlledSandbox = request.app.state.sandbox
    return state


SandboxDep = Annotated[ControlledSandbox, Depends(_sandbox)]
_Key = Annotated[str, StringConstraints(min_length=1, max_length=512)]
Since = Annotated[float | None, Query(description="Only entries strictly after this epoch.")]

common_routes = APIRouter(prefix=PREFIX, tags=["sandbox control"])


@common_routes.get("/keys", summary="The accepted API keys")
async def read_keys(state: SandboxDep) -> list[str]:
    return list(state.keys)


@common_routes.put(
    "/keys", summary="Replace the accepted API keys (an empty list refuses every call)"
)
async def put_keys(keys: list[_Key], state: SandboxDep) -> list[str]:
    state.keys = list(dict.fromkeys(keys))
    return list(state.keys)


@common_routes.get("/requests", summary="The vendor API calls received, oldest first")
async def read_requests(state: SandboxDep, since: Since = None) -> list[dict[str, Any]]:
    return state.requests.since(since)


@common_routes.delete("/requests", status_code=204, summary="Forget the calls received")
async def clear_requests(state: SandboxDep) -> Response:
    state.requests.clear()
    return Response(status_code=204)


@common_routes.post("/reset", summary="Everything back to the defaults")
async def reset(state: SandboxDep) -> dict[str, bool]:
    state.reset()
    return {"reset": True}


# --- serving the control surface --------------------------------------------------------------


async def _on_control_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ControlError)
    return control_error_response(exc)


async def _on_request_validation_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    # FastAPI locates body errors under "body"; the pointer is relative to the body.
    errors = list(exc.errors())
    skip = 1 if errors and all(tuple(e["loc"])[:1] == ("body",) for e in errors) else 0
    return control_error_response(invalid_input(errors, skip=skip))


def add_control_surface(app: FastAPI, router: APIRouter) -> None:
    """Serve the common routes and a vendor's control `router`, errors in the control shape."""
    app.add_exception_handler(ControlError, _on_control_error)
    app.add_exception_handler(RequestValidationError, _on_request_validation_error)
    app.include_router(common_routes)
    app.include_router(router)


def control_path_miss(router: APIRouter, request: Request) -> Response:
    """A `/_sandbox/...` call no control route takes: 405 if the path exists, else 404."""
    allowed: set[str] = set()
    for route in (*common_routes.routes, *router.routes):
        match, _ = route.matches(request.scope)
        if match is not Match.NONE:
            allowed |= set(getattr(route, "methods", None) or ())
    if allowed:
        message = f"{request.method} is not allowed on {request.url.path}."
        response = control_error_response(ControlError(405, "method_not_allowed", message))
        response.headers["Allow"] = ", ".join(sorted(allowed))
        return response
    message = f"No control-surface route {request.url.path}."
    return control_error_response(ControlError(404, "not_found", message))
