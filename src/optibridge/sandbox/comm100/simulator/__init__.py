"""The Comm100 simulator: pages where a person plays a Comm100 visitor and agent (SPEC 5.5).

Mounted in the Comm100 sandbox under `simulator/` (in the demo:
`/sandbox/comm100/simulator/`). Server-rendered forms; a little JavaScript only for what a
browser must do itself (talking to the embedded Optimove tab).

- `GET simulator/` — the start page: the story, and whether the simulator is configured.
- `GET simulator/visitor[?sample=N|?visitor=ID]` — the pre-chat form (the sandbox's pre-chat
  fields and custom variables) and the offline message form. `POST simulator/visitor/chats`
  starts a chat (and sends `chat_started` unless unticked); `POST
  simulator/visitor/offline-messages` sends `offline_message_submitted`.
- `GET simulator/visitor/chats/{id}` — the visitor's chat window; `POST …/messages` says
  something.
- `GET simulator/agent` — the agent console: open and ended chats, tickets, *Create ticket*.
  Every agent console page signs the browser in to the sandbox's Comm100 platform as its agent
  (`optibridge.sandbox.comm100.oauth`'s cookie), as the real console leaves the agent signed
  in to Comm100, so the tab's Comm100 sign-in is silent.
  `GET simulator/agent/chats/{id}` and `GET simulator/agent/tickets/{id}` select one and embed
  the Optimove tab (`{console_url}/livechat|ticketing?siteId=…&agentId=…&token=…`), hosting it
  as the agent console does: through the App SDK's message protocol only (`static/simulator.js`
  answers the documented names, never the others, and tells the tab when the agent selects
  another chat or ticket, keeping its frame). `POST …/chats/{id}/messages`,
  `POST …/chats/{id}/end` (sends `chat_ended`),
  `POST simulator/agent/tickets` (stores the ticket in the sandbox and sends the PascalCase
  *ticket created* trigger), `POST …/tickets/{id}/convert` (the visitor becomes a contact, as
  an agent does in Comm100).
- `POST simulator/sent/{n}/redeliver` — the same body again, as a Comm100 retry would.

`pages` holds what every page does (templates, rendering, forms, errors) and the start page;
`visitor` and `agent` the two sides; `webhooks` the delivery and redelivery of webhooks.

Webhooks go over real HTTP (httpx) to the URLs of `PUT /_sandbox/simulator`; each action then
shows the service's answer, e.g. "Sent chat_ended: 202, sync record #12". The webhook token and
the agent token never appear in page text (only in the iframe's `src`, as in Comm100).
"""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from optibridge.sandbox.comm100.simulator import agent, pages, visitor, webhooks


def mount_simulator(app: FastAPI, webhook_transport: httpx.AsyncBaseTransport | None) -> None:
    """Add the pages and their static files to a Comm100 sandbox app (before its catch-all)."""
    app.state.simulator_webhook_transport = webhook_transport
    for module in (pages, visitor, agent, webhooks):
        app.include_router(module.router)
    static = StaticFiles(directory=pages.COMM100_DIR / "static")
    app.mount(f"{pages.PREFIX}/static", static, name="simulator-static")
