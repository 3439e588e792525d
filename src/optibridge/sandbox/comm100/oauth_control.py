"""The control surface of the OAuth emulation, under `/_sandbox/`: agents, OAuth clients, and the
platform's clock (`optibridge.sandbox.comm100.oauth` is the platform itself).

`control_routes` is included in `optibridge.sandbox.comm100.control.router`, which puts them
under `/_sandbox/` and serves them with the control surface's errors.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from optibridge.sandbox.comm100.identity import Agent, AgentIn, OAuthClient, OAuthClientIn
from optibridge.sandbox.comm100.simulation import MASK
from optibridge.sandbox.comm100.state import SandboxState
from optibridge.sandbox.control import invalid


def _sandbox_state(request: Request) -> SandboxState:
    state: SandboxState = request.app.state.sandbox
    return state


_StateDep = Annotated[SandboxState, Depends(_sandbox_state)]
control_routes = APIRouter()


def _unknown_site(state: SandboxState, index: int, site_id: int) -> dict[str, str] | None:
    if site_id in state.sites:
        return None
    known = ", ".join(str(s) for s in state.sites) or "none"
    message = f"site {site_id} is not one of the sandbox's sites ({known}): PUT /_sandbox/sites"
    return {"pointer": f"/{index}/siteId", "message": message}


@control_routes.get("/agents", summary="The agents of every site")
async def read_agents(state: _StateDep) -> list[dict[str, Any]]:
    return [agent.as_dict() for agent in state.identity.agents]


@control_routes.put(
    "/agents",
    summary="Replace the agents (their tokens die with them; `****` keeps a stored password)",
)
async def put_agents(agents: list[AgentIn], state: _StateDep) -> list[dict[str, Any]]:
    stored = {agent.id: agent for agent in state.identity.agents}
    problems: list[dict[str, str]] = []
    replaced: list[Agent] = []
    emails: set[tuple[int, str]] = set()
    for index, given in enumerate(agents):
        agent_id = str(given.id)
        if any(agent.id == agent_id for agent in replaced):
            problems.append({"pointer": f"/{index}/id", "message": "another agent has this id"})
        email = (given.site_id, given.email.casefold())
        if email in emails:
            message = "another agent of this site has this e-mail"
            problems.append({"pointer": f"/{index}/email", "message": message})
        emails.add(email)
        unknown_site = _unknown_site(state, index, given.site_id)
        if unknown_site is not None:
            problems.append(unknown_site)
        kept = given
        if given.password == MASK:  # as GET shows it: keep the password the agent has
            password = stored[agent_id].password if agent_id in stored else None
            if password is None:
                message = "this agent has no stored password to keep: give the password itself"
                problems.append({"pointer": f"/{index}/password", "message": message})
            kept = given.model_copy(update={"password": password})
        replaced.append(Agent.of(kept))
    if problems:
        raise invalid(problems)
    state.identity.agents = replaced
    return await read_agents(state)


@control_routes.get("/oauth/clients", summary="The OAuth clients, secrets masked")
async def read_clients(state: _StateDep) -> list[dict[str, Any]]:
    return [client.public_view() for client in state.identity.clients.values()]


@control_routes.put(
    "/oauth/clients",
    summary="Replace the OAuth clients (a masked secret keeps the stored one)",
)
async def put_clients(clients: list[OAuthClientIn], state: _StateDep) -> list[dict[str, Any]]:
    stored = state.identity.clients
    problems: list[dict[str, str]] = []
    replaced: dict[str, OAuthClient] = {}
    for index, given in enumerate(clients):
        if given.client_id in replaced:
            message = "another client has this id"
            problems.append({"pointer": f"/{index}/clientId", "message": message})
        unknown_site = _unknown_site(state, index, given.site_id)
        if unknown_site is not None:
            problems.append(unknown_site)
        if given.client_secret == MASK:
            if given.client_id not in stored:
                message = "a new client needs its secret"
                problems.append({"pointer": f"/{index}/clientSecret", "message": message})
                continue
            kept = {"client_secret": stored[given.client_id].client_secret}
            replaced[given.client_id] = OAuthClient.of(given.model_copy(update=kept))
        else:
            replaced[given.client_id] = OAuthClient.of(given)
    if problems:
        raise invalid(problems)
    state.identity.clients = replaced
    return await read_clients(state)


class Clock(BaseModel):
    """How far the platform's clock runs ahead of the real one: codes and tokens expire by it."""

    model_config = ConfigDict(extra="forbid")

    offset_seconds: float = Field(ge=0.0, le=10 * 366 * 86_400.0, allow_inf_nan=False)


@control_routes.get("/oauth/clock", summary="How far the platform's clock runs ahead")
async def read_clock(state: _StateDep) -> Clock:
    return Clock(offset_seconds=state.identity.clock_offset)


@control_routes.put("/oauth/clock", summary="Move the platform's clock (codes and tokens expire)")
async def put_clock(clock: Clock, state: _StateDep) -> Clock:
    state.identity.clock_offset = clock.offset_seconds
    return clock
