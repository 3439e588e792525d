"""Running the HTTP service: migrations, the bootstrap admin token, uvicorn."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from prometheus_client import start_http_server

from optibridge.config import Config
from optibridge.listening import bind_listener, served_url
from optibridge.logs import configure_logging, get_logger
from optibridge.metrics import PROCESS_REGISTRY
from optibridge.runtime import Runtime
from optibridge.services.tokens import Role, issue_token
from optibridge.store.migrate import upgrade_to_head
from optibridge.store.repositories import TokenRepository
from optibridge.sync.worker import Worker

if TYPE_CHECKING:
    import uvicorn
    from starlette.types import ASGIApp

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
    with_worker: bool = True,
    mount_sandboxes: bool = False,
    on_started: Callable[[Runtime], None] | None = None,
    wrap: Callable[[ASGIApp], ASGIApp] | None = None,
) -> None:
    """Serve until stopped. `on_started` runs once the server answers (a failure stops it, with
    exit status 1); `wrap` puts something in front of the app (the demo's starting gate)."""
    # Imported here: a lone worker process (`run_worker`) starts faster without the web app.
    import uvicorn

    from optibridge.app import create_app

    listener = bind_listener(host, port)  # first: a taken port is reported before any work
    configure_logging(config.log_format, config.log_level)
    public_url_assumed = config.public_url is None
    if public_url_assumed:
        # Optimove's callbacks and the webhook URLs need an address; the one we serve is it.
        config = config.model_copy(update={"public_url": served_url(host, port)})
        log.warning(
            "no_public_url",
            webhook_base=config.public_url,
            hint="OPTIBRIDGE_PUBLIC_URL is not set: the webhook URLs shown (API and control "
            f"panel) and Optimove's callback URL use {config.public_url}, the address this "
            "process serves, and Comm100 and Optimove can't reach a local address. Set "
            "OPTIBRIDGE_PUBLIC_URL to the address they reach this service at.",
        )
    runtime = Runtime.start(config, public_url_assumed=public_url_assumed)
    worker: Worker | None = None
    try:
        upgrade_to_head(runtime.engine)
        new_token = ensure_admin_token(runtime)
        if new_token:
            print(f"Admin token (shown once, keep it safe): {new_token}", flush=True)
        app: ASGIApp = create_app(runtime, mount_sandboxes=mount_sandboxes)
        if wrap is not None:
            app = wrap(app)
        server = uvicorn.Server(
            uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False)
        )
        failed = threading.Event()
        if on_started is not None:
            threading.Thread(
                target=_when_started, args=(server, runtime, on_started, failed), daemon=True
            ).start()
        if with_worker:
            worker = Worker(runtime)
            threading.Thread(target=worker.run_forever, name="worker", daemon=True).start()
        log.info("listening", host=host, port=port, worker=with_worker)
        server.run(sockets=[listener])
        if failed.is_set():
            raise SystemExit(1)
    finally:
        listener.close()
        if worker is not None:
            worker.stop.set()
        runtime.close()


def run_worker(config: Config, *, metrics_port: int | None = None) -> None:
    """A worker process alone (scale-out): it needs the database, not a port."""
    configure_logging(config.log_format, config.log_level)
    if metrics_port is not None:
        # Its own counters (calls, 429s, limiter waits); the queue gauges come from any serve.
        start_http_server(metrics_port, addr="127.0.0.1", registry=PROCESS_REGISTRY)
    if config.public_url is None:
        log.warning(
            "no_public_url",
            hint="set OPTIBRIDGE_PUBLIC_URL so Optimove can confirm writes by callback; "
            "without it writes are confirmed by reading customers back after a timeout",
        )
    runtime = Runtime.start(config)
    worker = Worker(runtime)
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: worker.stop.set())
    try:
        upgrade_to_head(runtime.engine)
        worker.run_forever()
    finally:
        runtime.close()


def _when_started(
    server: uvicorn.Server,
    runtime: Runtime,
    callback: Callable[[Runtime], None],
    failed: threading.Event,
) -> None:
    while not server.started:
        if server.should_exit:
            return
        time.sleep(0.05)
    try:
        callback(runtime)
    except Exception:
        log.exception("startup_task_failed")
        failed.set()
        server.should_exit = True
