"""Comm100 sandbox: an in-memory emulator of the Comm100 v4 API (SPEC 5.5, reference/comm100.md).

`create_app()` returns a FastAPI app with its own state; run it alone
(`optibridge sandbox comm100 --port N`) or mount it (e.g. at `/sandbox/comm100`, making the API
base `http://host/sandbox/comm100/v4`): every route is relative. It shares no code with
`optibridge.comm100` (a bug must not hide in both). Webhook bodies are built by
`optibridge.sandbox.comm100.payloads`.
What it does as the Optimove sandbox does (faults, rate limit, request log, control-surface
errors and common routes, path routing) is in the shared modules at the top of
`optibridge.sandbox`.

v4 API — fixed path segments (`v4` included) are case-insensitive, one trailing slash is
accepted, ids are matched as values (a guid in any case):

- `GET v4/contact/contacts/{id}` → a contact:
  `{"id": guid, "name", "firstName", "lastName", "alias", "title", "company", "phone",
  "address", "city", "state", "postalCode", "country", "timezone", "description" (strings or
  null), "createdTime", "lastUpdatedTime" (ISO 8601, UTC), "customFields": [{"id": <contact
  field guid>, "value"}], "contactIdentities": [{"id", "contactId", "contactIdentityType",
  "value", "displayName"}], "mergeToContactId": guid | null}`. Custom fields are given by
  field id only: their names come from `contact/fields`. The identity type key is
  `contactIdentityType` (Comm100's sample) or, per `/_sandbox/behaviour`, `type` (their table).
  Unknown (or not a guid) → 404.
- `GET v4/contact/contacts/{id}/contactIdentities` → that contact's `contactIdentities`.
- `POST v4/contact/contacts:query` — a JSON body (absent or `{}`: every contact), every
  criterion given must hold, text compared trimmed and case-insensitively:
  `identityValue` (an identity with this value; with `identityType`, of this type too),
  `fieldId` or `fieldName` with `fieldValue` (a contact field from `contact/fields`: a system
  field compares the contact's own key, an identity field its identities of that type, a
  custom field its value), `keywords` (a substring of name, firstName, lastName, company or an
  identity value), `pageIndex` (from 1), `pageSize` (1 to 100, default 50). Merged contacts
  (`mergeToContactId` set) are never found. → a JSON array of contacts, or with
  `query_result: "envelope"` `{"contacts": [...], "total": N}`. Unknown keys, wrong types or an
  unknown field → 400.
- `GET v4/contact/fields` → `[{"id", "name", "isSystem", "isIdentity", "identityType",
  "isRequired", "type", "fieldOptions"}]`: the system fields (the contact keys above, then the
  identity fields `email` → Email, `sms` → SMS, `ssoId` → SSOID, `externalId` → externalID),
  then the custom ones (default: "Customer ID" text, "VIP Level" dropdownList of Bronze,
  Silver, Gold). Default ids are stable guids derived from the names.
- `GET v4/livechat/preChatFormFields` → `[{"id", "name", "type", "isSystem", "isRequired",
  "options"}]` (default: system Name/name, Email/email, Phone/phone, Company/company,
  Product/Service/product; custom "First Name", "Customer ID" of type text).
- `GET v4/livechat/offlineMessageFormFields` → the same shape (default: system Name, Email,
  Phone, Company, Subject/subject, Content/content; custom "First Name", "Customer ID").
- `GET v4/livechat/customVariables` → `[{"name", "type", "value"}]` (default `customer_id`,
  `vip`, both text).
- `GET v4/ticketing/tickets/{id}` (an integer) → `{"id", "subject", "channelId", "status"
  (new | pendingInternal | pendingExternal | onHold | closed), "priority" (urgent | high |
  normal | low), "contactOrVisitorId": guid, "contactOrVisitorType": "contact" | "visitor",
  "createdTime", "lastUpdatedTime"}`. Unknown → 404.
- Unknown path → 404, wrong verb → 405 with `Allow`.
Errors are `{"code": <status>, "message": "..."}` (the key is never echoed nor logged).

Order of the checks, each decided at the call's arrival:
1. Injected 429 (`rate_429`), then the rate limit: a sliding window per client IP (default 300
   calls per 300 s) counting the calls it admitted; over it, 429 (no `Retry-After`).
2. HTTP Basic: the user must look like an e-mail (any agent), the password must be an accepted
   key (default `sandbox-comm100-key`); else 401 with `WWW-Authenticate: Basic`.
3. `siteId` (query parameter, name case-insensitive): missing or not an integer → 400; not one
   of the sandbox's sites (default `[10000]`) → 403. All sites share the same data.
4. Then `latency_ms` delays every answer (refusals included); an admitted call may hang
   `timeout_ms` (`timeout_rate`) and is then answered as usual; then `error_rate` answers 500
   (JSON) or 503 (plain text). Faults are drawn from a generator seeded by `seed` (four draws
   per call).

Control surface under `/_sandbox/` (no credentials, never limited, faulted or logged; errors
`{"error": {"code", "message", "details": [{"pointer", "message"}]}}`, 422 invalid, 400
unparseable JSON, 404 unknown, 405 wrong verb, 409 an identity another contact has):

- `GET /contacts` → `[contact]`; `GET|PUT|DELETE /contacts/{guid}`: the body is a contact in
  the v4 shape (`id` optional, `name` required, at least one identity unless merged, identity
  type spelled `contactIdentityType` or `type`, case-insensitive, canonicalised; identity `id`
  and `displayName` optional). `customFields` entries are `{"id", "value"}` or, for convenience,
  `{"name": "Customer ID", "value": "C1001"}`, stored by id; the field must be a custom contact
  field. An identity (type, value) may belong to one contact only (409). Answers the stored
  contact (always with `contactIdentityType`).
- `GET /tickets`; `GET|PUT|DELETE /tickets/{int}`: `{"subject": "", "channelId": "email",
  "status": "new", "priority": "normal", "contactOrVisitorId": guid, "contactOrVisitorType":
  "contact" | "visitor"}` (the requester need not exist: test the 404 path with it).
- `GET|PUT /forms` `{"prechat_fields": [{"id"?, "name", "type", "isSystem"?, "isRequired"?,
  "options"?}], "offline_fields": [same], "custom_variables": [{"name", "type"?, "value"?}],
  "contact_fields": [{"id"?, "name", "type"?, "isRequired"?, "fieldOptions"?}]}`: each list
  given replaces its list, a list left out stays. `contact_fields` are the custom contact
  fields (the system ones are fixed); a field without an id gets one derived from its name.
- `GET|PUT /keys` `["sandbox-comm100-key"]`; `GET|PUT /sites` `[10000]`.
- `GET|PUT /limits` `{"requests": 300, "window_seconds": 300}`.
- `GET|PUT /faults` `{"latency_ms": 0, "error_rate": 0, "rate_429": 0, "timeout_rate": 0,
  "timeout_ms": 30000, "seed": null}`.
- `GET|PUT /behaviour` `{"identity_type_key": "contactIdentityType" | "type",
  "query_result": "list" | "envelope"}`. PUTs of limits, faults and behaviour are partial.
- `GET|DELETE /requests[?since=epoch]` → `[{"method", "path", "query", "status", "time",
  "user", "body"}]` (`user` is the Basic user name, never the key; the last 100,000 calls).
- `GET|PUT|DELETE /simulator`: the simulator's configuration (`optibridge.sandbox.
  comm100.simulation.SimulatorConfig`): `{"site_id", "livechat_webhook_url",
  "ticketing_webhook_url", "console_url", "agent_token", "agent_id", "agent_name",
  "sync_log_url", "sample_visitors"}`; a PUT replaces it whole, GET masks the tokens
  (`****`), DELETE forgets it. `GET /simulator/chats` (the chats played) and
  `GET /simulator/sent` (the webhooks the simulator delivered, newest first, with the
  service's answers; target URLs without query).
- `POST /reset` → all defaults (the simulator's configuration and chats included).

Simulator pages under `/simulator/` (`optibridge.sandbox.comm100.simulator`): a visitor and an
agent console that send real-shaped webhooks and embed the Optimove tab.
"""

from __future__ import annotations

from functools import partial

import httpx
from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

from optibridge.sandbox.comm100 import oauth
from optibridge.sandbox.comm100.control import router
from optibridge.sandbox.comm100.simulator import mount_simulator
from optibridge.sandbox.comm100.state import SandboxState
from optibridge.sandbox.comm100.vendor import answer_vendor_call
from optibridge.sandbox.control import add_control_surface
from optibridge.sandbox.vendor_api import add_vendor_api


def create_app(*, webhook_transport: httpx.AsyncBaseTransport | None = None) -> FastAPI:
    """A new sandbox with fresh default state.

    `webhook_transport` carries the simulator's webhooks (default: real HTTP); tests may pass
    one bound to an ASGI app.
    """
    app = FastAPIOffline(  # its /docs page works offline, as the service's does
        title="Comm100 sandbox",
        summary="An in-memory emulator of the Comm100 v4 API, with a /_sandbox/ control surface.",
        version="1",
        static_url="/docs-assets",
        redoc_url=None,
    )
    state = SandboxState()
    app.state.sandbox = state
    add_control_surface(app, router)
    app.include_router(oauth.router)
    mount_simulator(app, webhook_transport)
    add_vendor_api(app, router, partial(answer_vendor_call, state))
    return app
