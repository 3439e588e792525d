"""Running the HTTP service: migrations, the bootstrap admin token, uvicorn."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import uvicorn

from optibridge.app import create_app
from optibridge.config import Config
from optibridge.logs import configure_logging, get_logger
from optibridge.runtime import Runtime
from optibridge.services.tokens import Role, issue_token
from optibridge.store.migrate import upgrade_to_head
from optibridge.store.repositories import TokenRepository

log = get_logger(__name__)


def ensure_admin_token(runtime: Runtime) -> str | None:
    """A first deployment-wide admin token, unless one exists or OPTIBRIDGE_ADMIN_TOKEN is set.

    Returns the new token so it can be shown once; only its hash is stored.
    """
    if runtime.config.admin_token is not None:
        return None
    with runtime.unit_of_work() as session:
        if TokenRepository(session).deployment_admin_exists():
            return None
        return issue_token(session, Role.ADMIN, None, "bootstrap").token


def run_service(
    config: Config,
    *,
    host: str,
    port: int,
    mount_sandboxes: bool = False,
    on_started: Callable[[Runtime], None] | None = None,
) -> None:
    configure_logging(config.log_format, config.log_level)
    runtime = Runtime.start(config)
    try:
        upgrade_to_head(runtime.engine)
        new_token = ensure_admin_token(runtime)
        if new_token:
            print(f"Admin token (shown once, keep it safe): {new_token}", flush=True)
        app = create_app(runtime, mount_sandboxes=mount_sandboxes)
        server = uvicorn.Server(
            uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False)
        )
        if on_started is not None:
            threading.Thread(
                target=_when_started, args=(server, runtime, on_started), daemon=True
            ).start()
        log.info("listening", host=host, port=port)
        server.run()
    finally:
        runtime.close()


def _when_started(
    server: uvicorn.Server, runtime: Runtime, callback: Callable[[Runtime], None]
) -> None:
    while not server.started:
        if server.should_exit:
            return
        time.sleep(0.05)
    try:
        callback(runtime)
    except Exception:
        log.exception("startup_task_failed")
        server.should_exit = True
