"""The Optimove sandbox: an in-memory emulator of the Optimove API (SPEC 5.5).

`app` builds it (and documents its behaviour as a whole), `vendor` answers the vendor API,
`control` is its `/_sandbox/` control surface, `state` its memory. What it does as the Comm100
sandbox does is in the shared modules at the top of `optibridge.sandbox`.
"""

from optibridge.sandbox.optimove.app import create_app

__all__ = ["create_app"]
