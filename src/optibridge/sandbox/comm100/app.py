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
- Past conversations, for a backfill (`optibridge.sandbox.comm100.history` has the details):
  `POST v4/livechat/chats:search` and `POST v4/livechat/offlineMessages:search` (query
  `pageIndex`, `pageSize` ≤ 100, `include` of `visitor`, `department`, `chatFieldResult` /
  `offlineMessageFieldResult`, `sortOrder`; body `{"filters": [{"name": "time", "operator":
  "is", "value": [from, to]}]}`: chats started, offline messages created, in [from, to)) →
  `{"total", "pageCount", "list", "pageIndex", "pageSize"}`; the seeded ones and the
  simulator's (whose webhooks carried their `guid`). `GET v4/ticketing/tickets?timeFrom&timeTo
  &pageIndex&pageSize` [?] → `{"tickets", "total", "pageIndex", "pageSize"}`, oldest first.
  Bad paging or times → 400.
- `GET v4/global/agents/{id}` (a guid) → an agent of the call's site: `{"id", "email",
  "displayName", "firstName", "lastName", "isAdmin", "isActive"}` (the path is a guess [?]: the
  sign-in client reads `isAdmin` there when userinfo does not say). Unknown → 404.
- Live Chat webhooks, kept per site (`siteId`), unlike the data above which all sites share;
  the agent needs *Manage Integration* (without it, per `/_sandbox/behaviour`, these answer
  403): `GET v4/livechat/webhooks` → `[{"id", "event", "targetUrl"}]`, oldest first, ids
  upper-case guids as in Comm100's sample; `GET v4/livechat/webhooks/{id}` → one;
  `POST v4/livechat/webhooks` `{"event", "targetUrl"}` → 201 with the webhook; `PUT
  v4/livechat/webhooks/{id}` (either key or both) → 200 with it; `DELETE …/{id}` → 204.
  `event` must be one of `chatStarts`, `chatEnds`, `chatIsWrappedUp`,
  `offlineMessageIsSubmitted`, `chatIsRequested`, `chatIsTransferred`, `agentStatusChanges`
  (spelled so), `targetUrl` an absolute http(s) URL of at most 2048 characters, else 400;
  other keys are ignored; an event may have several webhooks. Unknown id → 404.
- Unknown path → 404, wrong verb → 405 with `Allow`.
Errors are `{"code": <status>, "message": "..."}` (the key is never echoed nor logged).

Order of the checks, each decided at the call's arrival:
1. Injected 429 (`rate_429`), then the rate limit: a sliding window per client IP (default 300
   calls per 300 s) counting the calls it admitted; over it, 429 (no `Retry-After`).
2. HTTP Basic: the user must look like an e-mail (any agent), the password must be an accepted
   key (default `sandbox-comm100-key`); else 401 with `WWW-Authenticate: Basic`. Or
   `Authorization: Bearer <access token>` from `oauth/token` below: unknown, expired, or its
   agent or client gone → 401 (`WWW-Authenticate: Bearer error="invalid_token"`); a `siteId`
   other than the token's site → 403.
3. `siteId` (query parameter, name case-insensitive): missing or not an integer → 400; not one
   of the sandbox's sites (default `[10000]`) → 403. All sites share the same data (but agents,
   which belong to one site).
4. Then `latency_ms` delays every answer (refusals included); an admitted call may hang
   `timeout_ms` (`timeout_rate`) and is then answered as usual; then `error_rate` answers 500
   (JSON) or 503 (plain text). Faults are drawn from a generator seeded by `seed` (four draws
   per call).

OAuth 2, authorization code (`optibridge.sandbox.comm100.oauth`; reference/comm100.md, "Who is
calling"): the platform's sign-in, at the sandbox's root as at `https://dash{N}.comm100.io`.
Never rate-limited or faulted; every call logged with its secrets masked (the query's and
form's values other than `client_id`, `response_type`, `siteid`, `scope`, `redirect_uri`,
`prompt`, `grant_type`, `agent_id`, `cancel` are `****`: codes, tokens, client secrets,
passwords, `state`). Parameter names are case-insensitive; an empty value counts as absent.

- `GET oauth/authorize?client_id&response_type=code&siteid&scope&redirect_uri&state[&prompt]`.
  An unknown client, a `redirect_uri` not registered for it (exact match), a `siteid` missing,
  not the client's or not a sandbox site → a 400 HTML page, never a redirect. Then refusals go
  to the redirect URI as `?error=…&error_description=…&state=…`: a parameter repeated
  (`invalid_request`), `response_type` not `code` (`unsupported_response_type`), a scope
  other than `openid` and `offline_access` or without `openid` (`invalid_scope`), a bad
  `prompt`. A browser signed in to the platform (the signed cookie `comm100_sandbox_agent`,
  naming an agent of that site) is sent back at once with `?code=…&state=…` (302), unless
  `prompt=login` or `select_account`; else `prompt=none` → `error=login_required`; else the
  sign-in page (200; framing refused): the site's agents, one button each (a password field
  for an agent given one), and Cancel.
- `POST oauth/sign-in` — the sign-in page's form: the authorization request's parameters again
  (checked again) and `agent_id` (and `password`) → 303 to the redirect URI with a code, and
  the cookie set (path: the sandbox's root, wherever it is mounted; HttpOnly, SameSite=Lax);
  `cancel` → `error=access_denied`; an unknown agent or a wrong password → the page again, 422.
- `POST oauth/sign-out` → the cookie removed.
- Codes: single use, 60 s, bound to the client, the redirect URI and the site. A second use
  revokes the tokens the first one gave (RFC 6749 4.1.2).
- `POST oauth/token?siteId=` — a urlencoded form; the client authenticates with HTTP Basic
  (RFC 6749 2.3.1) or `client_id` and `client_secret` in the form (not both).
  `grant_type=authorization_code` with `code` and `redirect_uri` (the one of the authorize
  request), or `grant_type=refresh_token` with `refresh_token` (rotated) and optionally a
  narrower `scope`. → `{"access_token", "token_type": "Bearer", "expires_in": 3600,
  "refresh_token" (with `offline_access` only), "scope"}`, `Cache-Control: no-store`. Errors
  are RFC 6749 5.2's `{"error", "error_description"}`: `invalid_client` 401 (unknown client
  or wrong secret; with Basic, `WWW-Authenticate: Basic`), `invalid_grant` 400 (a code or
  refresh token unknown, used, expired, of another client, redirect URI or site, or of an
  agent gone), `unsupported_grant_type` 400, `invalid_request` 400 (not a form, a parameter
  missing or repeated, no `siteId`), `invalid_scope` 400.
- `GET|POST oauth/userinfo?siteId=` with `Authorization: Bearer <access token>` → `{"AgentId",
  "SiteId", "PartnerId": 1, "Email"}`, plus `"IsAdmin"` when the behaviour
  `userinfo_is_admin` is on. No, unknown or expired token → 401 (`WWW-Authenticate: Bearer
  error="invalid_token"`); no `siteId` → 400; another site's → 403.
- Other verbs on these paths → 405 with `Allow`.

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
  "contact" | "visitor", "createdTime"?}` (the requester need not exist: test the 404 path
  with it; `createdTime` defaults to the first put).
- `GET /chats`; `GET|PUT|DELETE /chats/{int}`: a past chat in the v4 shape with its visitor,
  pre-chat answers and custom variables (`{"guid"?, "startTime", "endTime"?, "status"?,
  "preChatName"?, …, "department"?: name, "visitor": {"id", …, "customVariables"},
  "chatFieldResults": [{"name", "value"}], "customVariableResults": [...]}`).
  `GET /offline-messages`; `GET|PUT|DELETE /offline-messages/{int}`: `{"guid"?,
  "createdTime", "name"?, "email"?, …, "subject"?, "message"?, "visitor"?,
  "offlineMessageFieldResults": [...], "customVariables": [...]}`.
  (`optibridge.sandbox.comm100.history_control`.)
- `GET|PUT /forms` `{"prechat_fields": [{"id"?, "name", "type", "isSystem"?, "isRequired"?,
  "options"?}], "offline_fields": [same], "custom_variables": [{"name", "type"?, "value"?}],
  "contact_fields": [{"id"?, "name", "type"?, "isRequired"?, "fieldOptions"?}]}`: each list
  given replaces its list, a list left out stays. `contact_fields` are the custom contact
  fields (the system ones are fixed); a field without an id gets one derived from its name.
- `GET|PUT /webhooks` `[{"siteId", "id"?, "event", "targetUrl"}]`: every site's Live Chat
  webhooks; a PUT replaces them all (an id left out is made; the target is kept as given).
- `GET|PUT /keys` `["sandbox-comm100-key"]`; `GET|PUT /sites` `[10000]`.
- `GET|PUT /limits` `{"requests": 300, "window_seconds": 300}`.
- `GET|PUT /faults` `{"latency_ms": 0, "error_rate": 0, "rate_429": 0, "timeout_rate": 0,
  "timeout_ms": 30000, "seed": null}`.
- `GET|PUT /behaviour` `{"identity_type_key": "contactIdentityType" | "type",
  "query_result": "list" | "envelope", "userinfo_is_admin": false, "manage_integration":
  true}`. PUTs of limits, faults and behaviour are partial.
- `GET|PUT /agents` `[{"id": guid, "siteId", "email", "name", "isAdmin": false,
  "password"?}]`: the platform's agents; a PUT replaces them all (tokens of an agent left out
  stop working). Ids unique, e-mails unique per site, `siteId` one of the sandbox's sites;
  GET shows a password as `****`, and `****` in a PUT keeps the agent's stored one. Default:
  `DEFAULT_AGENT_ID` (`a9d5e0c4-6b1f-4c7e-8a2d-5f3b9c1e7d20`, agent@example.com, "Demo
  Agent", the simulator's agent) and `DEFAULT_ADMIN_ID` (admin@example.com, an admin), both
  of site 10000, without passwords.
- `GET|PUT /oauth/clients` `[{"clientId", "clientSecret", "redirectUris": [absolute http(s)
  URLs without fragment], "siteId"}]`, default `[]`: a PUT replaces them all; GET shows
  secrets as `****`, and `****` in a PUT keeps a stored client's secret.
- `GET|PUT /oauth/clock` `{"offset_seconds": 0}`: how far the platform's clock runs ahead,
  to expire codes and tokens without waiting.
- `GET|DELETE /requests[?since=epoch]` → `[{"method", "path", "query", "status", "time",
  "user", "body"}]` (the last 100,000 calls of the v4 API and of OAuth; `user` is the Basic
  user name, a bearer token's agent's e-mail, the agent signing in, or the client id at
  `oauth/token`; never a key, secret, password, code or token).
- `GET|PUT|DELETE /simulator`: the simulator's configuration (`optibridge.sandbox.
  comm100.simulation.SimulatorConfig`): `{"site_id", "livechat_webhook_url",
  "ticketing_webhook_url", "console_url", "agent_token", "agent_id", "agent_name",
  "sync_log_url", "sample_visitors"}`; a PUT replaces it whole, GET masks the tokens
  (`****`), DELETE forgets it. `GET /simulator/chats` (the chats played) and
  `GET /simulator/sent` (the webhooks the simulator delivered, newest first, with the
  service's answers; target URLs without query).
- `POST /reset` → all defaults (the simulator's configuration and chats included).

Simulator pages under `/simulator/` (`optibridge.sandbox.comm100.simulator`): a visitor and an
agent console that send real-shaped webhooks and embed the Optimove tab. The agent console
signs the browser in to the platform as its agent (the cookie above), so the tab's Comm100
sign-in is silent there, as in Comm100's agent console.
"""

from __future__ import annotations

from functools import partial

import httpx
from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

from optibridge.sandbox.comm100 import oauth
from optibridge.sandbox.comm100.control import router
from optibridge.sandbox.comm100.simulator import mount_simulator
from optibridge.sandbox.comm100.simulator.pages import PREFIX as SIMULATOR_PREFIX
from optibridge.sandbox.comm100.state import DEFAULT_API_KEY, DEFAULT_SITE_ID, SandboxState
from optibridge.sandbox.comm100.vendor import answer_vendor_call
from optibridge.sandbox.control import PREFIX as CONTROL_PREFIX
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


def usage(base_url: str) -> str:
    """What a person needs to use a fresh sandbox served at `base_url`, printed at its start."""
    return "\n".join(
        [
            "Comm100 sandbox is running.",
            f"  API base URL:  {base_url}/v4  (a site's comm100.api_base_url; every call takes"
            f" ?siteId={DEFAULT_SITE_ID})",
            f"  API key:       {DEFAULT_API_KEY}  (HTTP Basic: any e-mail address as the user,"
            " the key as the password)",
            f"  Control API:   {base_url}{CONTROL_PREFIX}/  (no key: contacts, tickets, chats,"
            " offline-messages, forms, keys, sites, limits, faults, behaviour, requests,"
            " simulator, reset)",
            f"  Simulator:     {base_url}{SIMULATOR_PREFIX}/  (where it sends webhooks: PUT"
            f" {CONTROL_PREFIX}/simulator)",
            f"  API docs:      {base_url}/docs",
        ]
    )
