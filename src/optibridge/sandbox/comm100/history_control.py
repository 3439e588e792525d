"""The control surface of past conversations, under `/_sandbox/`: seed the chats and offline
messages a backfill reads (`optibridge.sandbox.comm100.history` is the API that lists them).

`control_routes` is included in `optibridge.sandbox.comm100.control.router`, which puts them
under `/_sandbox/` and serves them with the control surface's errors.

- `GET /chats` → the seeded chats (the simulator's are listed by the API only);
  `GET|PUT|DELETE /chats/{id}` (an integer, as v4 chat ids are): the body is a chat in the v4
  shape, `PastChatIn` (`startTime` required, `endTime` null or absent for a chat that never
  ended, `visitor` with its `id`, the pre-chat answers in `chatFieldResults`, the variables in
  `customVariableResults` and `visitor.customVariables`); the answer is the chat as stored,
  with every includable part.
- `GET /offline-messages`; `GET|PUT|DELETE /offline-messages/{id}`: `PastOfflineMessageIn`
  (`createdTime` required).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, Response

from optibridge.sandbox.comm100.history import (
    PastChatIn,
    PastOfflineMessageIn,
    stored_chat,
    stored_offline_message,
)
from optibridge.sandbox.comm100.state import SandboxState
from optibridge.sandbox.control import invalid, not_found


def _sandbox_state(request: Request) -> SandboxState:
    state: SandboxState = request.app.state.sandbox
    return state


_StateDep = Annotated[SandboxState, Depends(_sandbox_state)]
_Id = Annotated[int, Path(ge=1)]
control_routes = APIRouter()


def _same_id(path_id: int, given: int | None) -> None:
    if given is not None and given != path_id:
        raise invalid([{"pointer": "/id", "message": "must equal the id in the path"}])


@control_routes.get("/chats", summary="The seeded past chats, in the v4 shape")
async def list_chats(state: _StateDep) -> list[dict[str, Any]]:
    return list(state.chats.values())


@control_routes.get("/chats/{chat_id}", summary="One seeded past chat")
async def read_chat(chat_id: _Id, state: _StateDep) -> dict[str, Any]:
    chat = state.chats.get(chat_id)
    if chat is None:
        raise not_found(f"chat {chat_id}")
    return chat


@control_routes.put("/chats/{chat_id}", summary="Create or replace one past chat (v4 shape)")
async def put_chat(chat_id: _Id, chat: PastChatIn, state: _StateDep) -> dict[str, Any]:
    _same_id(chat_id, chat.id)
    stored = stored_chat(state, chat_id, chat)
    state.chats[chat_id] = stored
    return stored


@control_routes.delete("/chats/{chat_id}", status_code=204, summary="Remove one past chat")
async def delete_chat(chat_id: _Id, state: _StateDep) -> Response:
    if state.chats.pop(chat_id, None) is None:
        raise not_found(f"chat {chat_id}")
    return Response(status_code=204)


@control_routes.get("/offline-messages", summary="The seeded offline messages, in the v4 shape")
async def list_offline_messages(state: _StateDep) -> list[dict[str, Any]]:
    return list(state.offline_messages.values())


@control_routes.get("/offline-messages/{message_id}", summary="One seeded offline message")
async def read_offline_message(message_id: _Id, state: _StateDep) -> dict[str, Any]:
    message = state.offline_messages.get(message_id)
    if message is None:
        raise not_found(f"offline message {message_id}")
    return message


@control_routes.put(
    "/offline-messages/{message_id}", summary="Create or replace one offline message (v4 shape)"
)
async def put_offline_message(
    message_id: _Id, message: PastOfflineMessageIn, state: _StateDep
) -> dict[str, Any]:
    _same_id(message_id, message.id)
    stored = stored_offline_message(state, message_id, message)
    state.offline_messages[message_id] = stored
    return stored


@control_routes.delete(
    "/offline-messages/{message_id}", status_code=204, summary="Remove one offline message"
)
async def delete_offline_message(message_id: _Id, state: _StateDep) -> Response:
    if state.offline_messages.pop(message_id, None) is None:
        raise not_found(f"offline message {message_id}")
    return Response(status_code=204)
