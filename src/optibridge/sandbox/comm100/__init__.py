"""The Comm100 sandbox: an in-memory emulator of the Comm100 v4 API (SPEC 5.5).

`app` builds it (and documents its behaviour as a whole), `vendor` answers the v4 API,
`control` is its `/_sandbox/` control surface, `state` its memory, `payloads` builds webhook
bodies. `oauth` is the platform's OAuth 2 sign-in (with `templates/oauth/`), `identity` who is
who on it (agents, OAuth clients, codes and tokens), `oauth_control` their control routes.
`simulator` (with `templates/simulator/` and `static/`) serves the pages where a person plays a
visitor and an agent; `simulation` is their memory. What it does as the Optimove sandbox does
is in the shared modules at the top of `optibridge.sandbox`.
"""

from optibridge.sandbox.comm100.app import create_app

__all__ = ["create_app"]
