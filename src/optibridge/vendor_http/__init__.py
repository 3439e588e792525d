"""What the Comm100 and Optimove clients share: one `_request()`, tolerant bodies, error kinds.

Vendor-neutral: nothing here knows a vendor's name, URL or JSON casing. `optibridge.comm100`
and `optibridge.optimove` subclass the client and the errors and give them their own words.
"""
