"""The vendor sandboxes: in-memory emulators of the Optimove and Comm100 APIs (SPEC 5.5).

One package per vendor, `optimove` and `comm100`, each with its `create_app()`. The modules at
this level are what both emulators do alike and nothing else: `control` (the `/_sandbox/`
error shape, partial updates, the keys/requests/reset routes), `faults`, `rate_limit`,
`request_log` and `vendor_api` (the catch-all route, strict JSON, the constant-time key check).
They stay here rather than in a `shared` package: the vendor packages are the only other
things at this level, so "not in a vendor package" already says "shared", and
`optibridge.sandbox.faults` reads as what it is, the sandboxes' faults.

The sandboxes share no code with the service (a bug must not hide in both): nothing here
imports another `optibridge` package, and only the service's wiring (`optibridge.app`,
`optibridge.cli`), the tests and the benchmarks import this one.
"""
