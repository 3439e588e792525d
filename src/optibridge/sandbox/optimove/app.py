"""Optimove sandbox: an in-memory emulator of the Optimove API (SPEC 5.5, reference/optimove.md).

`create_app()` returns a FastAPI app with its own state; run it alone
(`optibridge sandbox optimove --port N`) or mount it (e.g. at `/sandbox/optimove`): every route
is relative. It shares no code with `optibridge.optimove` (a bug must not hide in both).
What it does as the Comm100 sandbox does (faults, rate limit, request log, control-surface
errors and common routes, path routing) is in the shared modules at the top of
`optibridge.sandbox`.

Vendor API — fixed path segments are case-insensitive, an optional `/current` prefix and one
trailing slash are accepted, customer ids keep their case:

- `GET model/GetCustomerAttributeList` → `[{"RealFieldName", "Description"}]`.
- `GET Customers/{id}/Attributes` → `[{"RealFieldName", "Alias", "FieldType", "Value"}]` for
  every attribute of the account (values strings or null). An unknown customer answers, per
  `/_sandbox/behaviour` `unknown_customer`: `"404"` (default) 404 with the plain text
  `Customer '<id>' not found.`; `"400"` 400 with a bare JSON string; `"empty"` 200 `[]`.
- `POST Customers/UpdateCustomerAttributes` and `PUT Customers/UpsertCustomer` → 200
  `{"requestId": "<uuid4>"}` at once; after `callback_delay_ms` the valid changes are applied
  (Update never creates a customer, Upsert does) and the result is POSTed to the callback URL
  if one was given: `{"isSuccess": true, "requestId"}` or `{"isSuccess": false, "errors":
  [{"error": "INVALID_CUSTOMER"|"INVALID_FIELD"|"INVALID_VALUE", "customerId",
  "realFieldName"}], "requestId"}`. Refused with 400 (plain text naming the problem): more than
  1,000 customers or 10 attributes per customer, an empty list, unknown or missing properties
  (the documented casing is required: `CustomerID`/`CallbackURL` for Update,
  `CustomerId`/`CallbackUrl` for Upsert), a `Value` that is not a string or null, a callback
  URL that is not absolute http(s), unparseable JSON; 415 without a JSON content type. With
  `upsert_enabled` false, Upsert answers 404 like an unknown path.
- `GET general/GetLastDataUpdate` → `{"Date": "YYYY-MM-DD"}` (yesterday, UTC, unless set).
- Unknown path → 404 `{"Message": "No HTTP resource was found …"}`; wrong verb → 405
  `{"Message": …}` with `Allow`.

Order of the checks, each decided at the call's arrival:
1. `X-API-KEY` must be an accepted key, else 401 `{"status": 401, "error": "Unauthorized",
   "message": …}` (the key is never echoed nor logged).
2. Injected 429 (`rate_429`), then the rate limit: a sliding window per API key counting the
   arrival times of *admitted* calls only — a call refused with 429 (or 401) does not count,
   so a client hammering through a 429 does not extend its own ban. Over the limit: 429
   `{"status": 429, "error": "Too Many Requests", "message": "You have exceeded the rate limit
   …"}`, no `Retry-After`. Unknown paths count like any admitted call.
3. Then `latency_ms` delays every answer (refusals included); an admitted call may hang
   `timeout_ms` (`timeout_rate`) and is then answered as usual (so a write may be applied
   although the client gave up); then `error_rate` answers 500 (JSON) or 503 (plain text).
Injected faults are drawn from a generator seeded by `seed` (four draws per keyed call), so a
seeded run repeats.

Control surface under `/_sandbox/` (no key, never limited, faulted or logged; errors
`{"error": {"code", "message", "details": [{"pointer", "message"}]}}`, 422 invalid, 400
unparseable JSON, 404 unknown, 405 wrong verb):

- `GET /customers` → `{id: {RealFieldName: value}}`; `GET|PUT|DELETE /customers/{id}`, the body
  a flat `{RealFieldName: string | null}` (PUT replaces; names must be in the attribute list).
- `GET|PUT /attributes` `[{"RealFieldName", "FieldType", "Alias"?, "Description"?}]` (Alias
  defaults to RealFieldName, Description to ""); defaults: FIRST_NAME, LAST_NAME, EMAIL,
  PHONE, COUNTRY, VIP_LEVEL, LAST_CONTACT_CHANNEL (Nvarchar), DATE_OF_BIRTH,
  LAST_CONTACT_DATE (Date), AGE (Bigint), BALANCE (Decimal), OPT_IN_EMAIL (Bit).
- `GET|PUT /keys` `["sandbox-optimove-key"]`.
- `GET|PUT /limits` `{"requests": 50, "window_seconds": 10}`.
- `GET|PUT /faults` `{"latency_ms": 0, "error_rate": 0, "rate_429": 0, "timeout_rate": 0,
  "timeout_ms": 30000, "callback_delay_ms": 200, "callback_drop_rate": 0, "seed": null}`
  (a dropped callback is never sent; its change is still applied).
- `GET|PUT /behaviour` `{"unknown_customer": "404", "upsert_enabled": true,
  "last_data_update": null}`.
  PUTs of limits, faults and behaviour are partial: only the keys given change.
- `GET|DELETE /requests[?since=epoch]` → `[{"method", "path", "query", "status", "time",
  "body", "request_id"}]` (status null while being answered; entries strictly after `since`).
- `GET /writes[?since=]` → `[{"request_id", "endpoint", "callback_url", "received",
  "applied", "settled", "result"}]`: `settled` is set once applied and called back.
- `GET|DELETE /callbacks[?since=]` → `[{"request_id", "url", "body", "time", "status",
  "error", "dropped"}]`.
- `POST /reset` → all defaults; writes not yet settled are abandoned.
The logs keep the last 100,000 entries each (enough for a 10,000-event benchmark).
"""

from __future__ import annotations

from functools import partial

import httpx
from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

from optibridge.sandbox.control import PREFIX as CONTROL_PREFIX
from optibridge.sandbox.control import add_control_surface
from optibridge.sandbox.optimove.control import router
from optibridge.sandbox.optimove.state import DEFAULT_API_KEY, SandboxState
from optibridge.sandbox.optimove.vendor import answer_vendor_call
from optibridge.sandbox.vendor_api import add_vendor_api


def create_app(*, callback_transport: httpx.AsyncBaseTransport | None = None) -> FastAPI:
    """A new sandbox with fresh default state.

    `callback_transport` lets in-process tests deliver callbacks to an ASGI app or a mock
    instead of over the network.
    """
    app = FastAPIOffline(  # its /docs page works offline, as the service's does
        title="Optimove sandbox",
        summary="An in-memory emulator of the Optimove API, with a /_sandbox/ control surface.",
        version="1",
        static_url="/docs-assets",
        redoc_url=None,
    )
    state = SandboxState(callback_transport=callback_transport)
    app.state.sandbox = state
    add_control_surface(app, router)
    add_vendor_api(app, router, partial(answer_vendor_call, state))
    return app


def usage(base_url: str) -> str:
    """What a person needs to use a fresh sandbox served at `base_url`, printed at its start."""
    return "\n".join(
        [
            "Optimove sandbox is running.",
            f"  API base URL:  {base_url}  (a site's optimove.base_url)",
            f"  API key:       {DEFAULT_API_KEY}  (header X-API-KEY; PUT {CONTROL_PREFIX}/keys"
            " sets others)",
            f"  Control API:   {base_url}{CONTROL_PREFIX}/  (no key: customers, attributes, keys,"
            " limits, faults, behaviour, requests, writes, callbacks, reset)",
            f"  API docs:      {base_url}/docs",
        ]
    )
