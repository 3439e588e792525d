"""The console's tests run the service in-process beside the vendor sandboxes (as tests/web's)."""

from tests.web.conftest import optimove_sandbox, sandbox

__all__ = ["optimove_sandbox", "sandbox"]
