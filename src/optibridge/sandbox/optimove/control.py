"""The Optimove sandbox's control surface under `/_sandbox/`: seed data, set knobs, read what
happened.

No API key, never rate-limited, never faulted, never logged. Errors and the routes every sandbox
has (keys, the request log, reset) are `optibridge.sandbox.control`'s.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Request, Response

from optibridge.sandbox.control import PREFIX, ControlError, Since, json_pointer, merged, not_found
from optibridge.sandbox.optimove.state import (
    AttributeDefinition,
    Behaviour,
    BehaviourPatch,
    Faults,
    FaultsPatch,
    Limits,
    SandboxState,
)
from optibridge.sandbox.rate_limit import LimitsPatch


def _sandbox(request: Request) -> SandboxState:
    state: SandboxState = request.app.state.sandbox
    return state


StateDep = Annotated[SandboxState, Depends(_sandbox)]

router = APIRouter(prefix=PREFIX, tags=["sandbox control"])


# --- customers --------------------------------------------------------------------------------


@router.get("/customers", summary="Every customer, by id")
async def list_customers(state: StateDep) -> dict[str, dict[str, str | None]]:
    return {customer_id: dict(values) for customer_id, values in state.customers.items()}


@router.get("/customers/{customer_id}", summary="One customer's stored attributes")
async def read_customer(customer_id: str, state: StateDep) -> dict[str, str | None]:
    customer = state.customers.get(customer_id)
    if customer is None:
        raise not_found(f"customer '{customer_id}'")
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
            {"pointer": json_pointer((name,)), "message": "not an attribute"} for name in unknown
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
        raise not_found(f"customer '{customer_id}'")
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


@router.get("/limits", summary="The rate limit per API key")
async def read_limits(state: StateDep) -> Limits:
    return state.limits


@router.put("/limits", summary="Change the rate limit (only the keys given)")
async def put_limits(patch: LimitsPatch, state: StateDep) -> Limits:
    state.limits = merged(state.limits, patch)
    return state.limits


@router.get("/faults", summary="The injected faults")
async def read_faults(state: StateDep) -> Faults:
    return state.faults


@router.put("/faults", summary="Change the injected faults (only the keys given)")
async def put_faults(patch: FaultsPatch, state: StateDep) -> Faults:
    state.set_faults(merged(state.faults, patch))
    return state.faults


@router.get("/behaviour", summary="Choices where accounts differ")
async def read_behaviour(state: StateDep) -> Behaviour:
    return state.behaviour


@router.put("/behaviour", summary="Change those choices (only the keys given)")
async def put_behaviour(patch: BehaviourPatch, state: StateDep) -> Behaviour:
    state.behaviour = merged(state.behaviour, patch)
    return state.behaviour


# --- what happened ----------------------------------------------------------------------------


@router.get("/writes", summary="Accepted writes and, once settled, their results")
async def read_writes(state: StateDep, since: Since = None) -> list[dict[str, Any]]:
    return [w.as_dict() for w in state.writes if since is None or w.received > since]


@router.get("/callbacks", summary="Callbacks sent (or dropped), oldest first")
async def read_callbacks(state: StateDep, since: Since = None) -> list[dict[str, Any]]:
    return [c.as_dict() for c in state.callbacks if since is None or c.time > since]


@router.delete("/callbacks", status_code=204, summary="Forget the callbacks sent")
async def clear_callbacks(state: StateDep) -> Response:
    state.callbacks.clear()
    return Response(status_code=204)
