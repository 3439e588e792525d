"""A stand-in for the Comm100 agent console in browser tests: a page that frames the tab and
answers it through the App SDK's message protocol only (npm `comm100-app` 1.0.2), exactly as
the host side of that package does: requests come as JSON strings; a known name's `get` is
answered with the request echoed plus {data, errorCode: 0, message: ""}; an unknown name is
never answered; selection events are broadcast as {api, action: "on", data, isBroadcast}.

`window.consoleHost.select(answers, event)` (called from a test) switches the conversation and
broadcasts `event` to the tab; `window.consoleHost.asked` lists every name the tab asked for.
"""

from __future__ import annotations

import json
from typing import Any

# What Comm100 documents (reference/comm100.md).
CHAT = "agentconsole.currentChat"
VISITOR = "agentconsole.currentChat.visitor"
TICKET = "agentconsole.ticketing.currentTicket"
CHAT_SELECTED = "agentconsole.currentChat.selectChange"
TICKET_SELECTED = "agentconsole.currentTicket.selectChanged"


def sdk_chat(chat_id: str, visitor_id: str, **typed: Any) -> dict[str, Any]:
    """A chat as the App SDK gives it: what was typed in this chat, pre-chat `fields`."""
    return {"id": chat_id, "visitorId": visitor_id, **typed}


def sdk_visitor(visitor_id: str, custom_variables: dict[str, str], **known: Any) -> dict[str, Any]:
    """A visitor as the App SDK gives it: custom variables as name/value pairs, no phone."""
    pairs = [{"name": name, "value": value} for name, value in custom_variables.items()]
    return {"id": visitor_id, "customVariables": pairs, **known}


def host_page(tab_src: str, answers: dict[str, Any]) -> str:
    """The host page: `answers` maps each SDK name the console knows to its data."""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Comm100 agent console (test host)</title>
<style>body {{ margin: 0; font-family: sans-serif; }}
iframe {{ border: 1px solid #ccc; width: 420px; height: 640px; }}</style></head>
<body><iframe id="tab" title="Optimove" src="{tab_src}"></iframe>
<script id="answers" type="application/json">{json.dumps(answers)}</script>
<script>
  const frame = document.getElementById("tab");
  const host = window.consoleHost = {{
    answers: JSON.parse(document.getElementById("answers").textContent),
    asked: [], subscribed: new Set(),
    post(message) {{ frame.contentWindow.postMessage(JSON.stringify(message), "*"); }},
    select(answers, event) {{
      host.answers = answers;
      if (host.subscribed.has(event)) {{
        const data = null, isBroadcast = true, timestamp = Date.now();
        host.post({{api: event, action: "on", data, isBroadcast, timestamp}});
      }}
    }},
  }};
  window.addEventListener("message", (event) => {{
    if (event.source !== frame.contentWindow || typeof event.data !== "string") return;
    let request;
    try {{ request = JSON.parse(event.data); }} catch (e) {{ return; }}
    if (!request.api || !request.action) return;
    host.asked.push(request.action + " " + request.api);
    if (request.action === "on") {{ host.subscribed.add(request.api); return; }}
    if (request.action !== "get" || !(request.api in host.answers)) return;  // never answered
    // Noise a console might send first: the tab must ignore it.
    frame.contentWindow.postMessage({{type: "something:else"}}, "*");
    frame.contentWindow.postMessage("not json", "*");
    const answer = {{data: host.answers[request.api], errorCode: 0, message: ""}};
    host.post(Object.assign({{}}, request, answer));
  }});
</script></body></html>"""
