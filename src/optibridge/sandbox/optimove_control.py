"""The sandbox's control surface under `/_sandbox/`: seed data, set knobs, read what happened.

No API key, never rate-limited, never faulted, never logged. Errors use SPEC 5's shape
`{"error": {"code", "message", "details": [{"pointer", "message"}]}}`.
"""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Body, Depends, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, StringConstraints, ValidationError
from starlette.routing import Match

from optibridge.sandbox.optimove_state import (
    AttributeDefinition,
    Behaviour,
    BehaviourPatch,
    Faults,
    FaultsPatch,
    Limits,
    LimitsPatch,
    SandboxState,
)


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


def _pointer(location: tuple[int | str, ...]) -> str:
    return "".join(f"/{str(part).replace('~', '~0').replace('/', '~1')}" for part in location)


def invalid_input(errors: list[Any], *, skip: int = 0) -> ControlError:
    """A 422 (or 400 for unparseable JSON) naming every problem pydantic found."""
    unparseable = [e for e in errors if e["type"] == "json_invalid"]
    if unparseable:
        reason = str((unparseable[0].get("ctx") or {}).get("error", unparseable[0]["msg"]))
        details = [{"pointer": "", "message": reason}]
        return ControlError(400, "malformed", "The body is not valid JSON.", details)
    details = [
        {"pointer": _pointer(tuple(e["loc"])[skip:]), "message": str(e["msg"])} for e in errors
    ]
    named = "; ".join(f"{d['pointer'] or '/'}: {d['message']}" for d in details)
    return ControlError(422, "invalid", f"Invalid input: {named}", details)


async def on_control_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ControlError)
    return control_error_response(exc)


async def on_request_validation_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    # FastAPI locates body errors under "body"; the pointer is relative to the body.
    errors = list(exc.errors())
    skip = 1 if errors and all(tuple(e["loc"])[:1] == ("body",) for e in errors) else 0
    return control_error_response(invalid_input(errors, skip=skip))


def _sandbox(request: Request) -> SandboxState:
    state: SandboxState = request.app.state.optimove_sandbox
    return state


StateDep = Annotated[SandboxState, Depends(_sandbox)]
_Key = Annotated[str, StringConstraints(min_length=1, max_length=512)]
_Since = Annotated[float | None, Query(description="Only entries strictly after this epoch.")]

router = APIRouter(prefix="/_sandbox", tags=["sandbox control"])


ModelT = TypeVar("ModelT", bound=BaseModel)


def _merged(model: type[ModelT], current: ModelT, patch: BaseModel) -> ModelT:
    try:
        return model.model_validate(
            {**current.model_dump(), **patch.model_dump(exclude_unset=True)}
        )
    except ValidationError as exc:
        raise invalid_input(list(exc.errors())) from exc


# --- customers --------------------------------------------------------------------------------


@router.get("/customers", summary="Every customer, by id")
async def list_customers(state: StateDep) -> dict[str, dict[str, str | None]]:
    return {customer_id: dict(values) for customer_id, values in state.customers.items()}


@router.get("/customers/{customer_id}", summary="One customer's stored attributes")
async def read_customer(customer_id: str, state: StateDep) -> dict[str, str | None]:
    customer = state.customers.get(customer_id)
    if customer is None:
        raise ControlError(404, "not_found", f"No customer '{customer_id}' in the sandbox.")
    return dict(customer)


@router.put("/customers/{customer_id}", summary="Create or replace one customer")
async def put_customer(
    customer_id: str,
    values: Annotated[dict[str, str | None], Body(examples=[{"FIRST_NAME": "Ada", "AGE": "36"}])],
    state: StateDep,
) -> dict[str, str | None]:
    unknown = sorted(set(values) - set(state.attributes))
    if unknown:
        details = [
            {"pointer": _pointer((name,)), "message": "not an attribute"} for name in unknown
        ]
        raise ControlError(
            422,
            "invalid",
            f"Unknown attributes {unknown}: set them with PUT /_sandbox/attributes first.",
            details,
        )
    state.customers[customer_id] = dict(values)
    return dict(values)


@router.delete("/customers/{customer_id}", status_code=204, summary="Remove one customer")
async def delete_customer(customer_id: str, state: StateDep) -> Response:
    if state.customers.pop(customer_id, None) is None:
        raise ControlError(404, "not_found", f"No customer '{customer_id}' in the sandbox.")
    return Response(status_code=204)


# --- account settings -------------------------------------------------------------------------


def _attributes_out(state: SandboxState) -> list[dict[str, Any]]:
    return [
        a.model_dump(by_alias=True) | {"Alias": a.shown_alias} for a in state.attributes.values()
    ]


@router.get("/attributes", summary="The account's attribute list")
async def read_attributes(state: StateDep) -> list[dict[str, Any]]:
    return _attributes_out(state)


@router.put("/attributes", summary="Replace the account's attribute list")
async def put_attributes(
    attributes: list[AttributeDefinition], state: StateDep
) -> list[dict[str, Any]]:
    seen: set[str] = set()
    for index, attribute in enumerate(attributes):
        if attribute.real_field_name in seen:
            raise ControlError(
                422,
                "invalid",
                f"RealFieldName '{attribute.real_field_name}' appears twice.",
                [{"pointer": f"/{index}/RealFieldName", "message": "duplicate"}],
            )
        seen.add(attribute.real_field_name)
    state.attributes = {a.real_field_name: a for a in attributes}
    return _attributes_out(state)


@router.get("/keys", summary="The accepted API keys")
async def read_keys(state: StateDep) -> list[str]:
    return list(state.keys)


@router.put("/keys", summary="Replace the accepted API keys (an empty list refuses every call)")
async def put_keys(keys: list[_Key], state: StateDep) -> list[str]:
    state.keys = list(dict.fromkeys(keys))
    return list(state.keys)


@router.get("/limits", summary="The rate limit per API key")
async def read_limits(state: StateDep) -> Limits:
    return state.limits


@router.put("/limits", summary="Change the rate limit (only the keys given)")
async def put_limits(patch: LimitsPatch, state: StateDep) -> Limits:
    state.limits = _merged(Limits, state.limits, patch)
    return state.limits


@router.get("/faults", summary="The injected faults")
async def read_faults(state: StateDep) -> Faults:
    return state.faults


@router.put("/faults", summary="Change the injected faults (only the keys given)")
async def put_faults(patch: FaultsPatch, state: StateDep) -> Faults:
    state.set_faults(_merged(Faults, state.faults, patch))
    return state.faults


@router.get("/behaviour", summary="Choices where accounts differ")
async def read_behaviour(state: StateDep) -> Behaviour:
    return state.behaviour


@router.put("/behaviour", summary="Change those choices (only the keys given)")
async def put_behaviour(patch: BehaviourPatch, state: StateDep) -> Behaviour:
    state.behaviour = _merged(Behaviour, state.behaviour, patch)
    return state.behaviour


# --- what happened ----------------------------------------------------------------------------


@router.get("/requests", summary="The vendor API calls received, oldest first")
async def read_requests(state: StateDep, since: _Since = None) -> list[dict[str, Any]]:
    return state.requests_since(since)


@router.delete("/requests", status_code=204, summary="Forget the calls received")
async def clear_requests(state: StateDep) -> Response:
    state.requests.clear()
    return Response(status_code=204)


@router.get("/writes", summary="Accepted writes and, once settled, their results")
async def read_writes(state: StateDep, since: _Since = None) -> list[dict[str, Any]]:
    return [w.as_dict() for w in state.writes if since is None or w.received > since]


@router.get("/callbacks", summary="Callbacks sent (or dropped), oldest first")
async def read_callbacks(state: StateDep, since: _Since = None) -> list[dict[str, Any]]:
    return [c.as_dict() for c in state.callbacks if since is None or c.time > since]


@router.delete("/callbacks", status_code=204, summary="Forget the callbacks sent")
async def clear_callbacks(state: StateDep) -> Response:
    state.callbacks.clear()
    return Response(status_code=204)


@router.post("/reset", summary="Everything back to the defaults")
async def reset(state: StateDep) -> dict[str, bool]:
    state.reset()
    return {"reset": True}


def control_path_miss(request: Request) -> Response:
    """A `/_sandbox/...` call no control route takes: 405 if the path exists, else 404."""
    allowed: set[str] = set()
    for route in router.routes:
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
