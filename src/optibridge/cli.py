"""The `optibridge` command (SPEC 5.1)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from pydantic import ValidationError
from rich.console import Console

from optibridge.cli_backfills import backfill_app
from optibridge.cli_tables import sites_table, sync_record, sync_table, tokens_table
from optibridge.config import Config, SecretKeyInvalid
from optibridge.errors import AppError
from optibridge.listening import CannotListen, bind_listener, served_url

if TYPE_CHECKING:
    from collections.abc import Sequence

    from fastapi import FastAPI
    from pydantic import BaseModel

    from optibridge.runtime import Runtime
    from optibridge.services.comm100_webhooks import WebhookReport

app = typer.Typer(
    name="optibridge",
    help="Connects a Comm100 site with an Optimove account.",
    no_args_is_help=True,
    add_completion=False,
)
sandbox_app = typer.Typer(help="Run a vendor sandbox as its own process.", no_args_is_help=True)
sites_app = typer.Typer(help="List, create and delete sites.", no_args_is_help=True)
tokens_app = typer.Typer(help="Issue, list and revoke bearer tokens.", no_args_is_help=True)
secrets_app = typer.Typer(
    help="The stored API keys and webhook secrets, and OPTIBRIDGE_SECRET_KEY.",
    no_args_is_help=True,
)
app.add_typer(sandbox_app, name="sandbox")
app.add_typer(sites_app, name="sites")
app.add_typer(tokens_app, name="tokens")
app.add_typer(secrets_app, name="secrets")

out = Console()
err = Console(stderr=True)

HostOption = Annotated[str, typer.Option("--host", help="Interface to listen on.")]
DatabaseOption = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        help="SQLAlchemy URL (PostgreSQL: postgresql://user@host/db). "
        "Default: OPTIBRIDGE_DATABASE_URL, else SQLite in ./var.",
    ),
]
SiteArgument = Annotated[int, typer.Argument(help="The Comm100 site id.")]
JsonOption = Annotated[
    bool, typer.Option("--json", help="One JSON document, shaped as the API's answer.")
]


def fail(message: str, code: int = 1) -> NoReturn:
    err.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def load_config(*, with_secret_keys: bool = True, **overrides: object) -> Config:
    """The configuration, or a clear message and exit code 1. `with_secret_keys` also checks
    the secret keys (reading, or creating, the key file when OPTIBRIDGE_SECRET_KEY is unset)."""
    try:
        config = Config(**{k: v for k, v in overrides.items() if v is not None})  # type: ignore[arg-type]
    except ValidationError as error:
        problems = "; ".join(
            f"OPTIBRIDGE_{'_'.join(str(p) for p in e['loc']).upper()}: "
            + e["msg"].removeprefix("Value error, ")
            for e in error.errors(include_input=False)
        )
        fail(f"invalid configuration: {problems}")
    if with_secret_keys:
        try:
            config.secret_keys()
        except SecretKeyInvalid as error:
            fail(f"invalid configuration: {error}")
    return config


@app.command()
def migrate(database_url: DatabaseOption = None) -> None:
    """Apply database migrations (the service also applies them at start)."""
    from optibridge.store.db import make_engine
    from optibridge.store.migrate import current_revision, upgrade_to_head

    config = load_config(database_url=database_url, with_secret_keys=False)
    engine = make_engine(config.effective_database_url)
    upgrade_to_head(engine)
    out.print(f"database at revision {current_revision(engine)}")
    engine.dispose()


@app.command()
def serve(
    host: HostOption = "127.0.0.1",
    port: Annotated[int, typer.Option("--port")] = 8000,
    database_url: DatabaseOption = None,
    worker: Annotated[
        bool, typer.Option("--worker/--no-worker", help="Run a sync worker in this process.")
    ] = True,
) -> None:
    """Run the service against real Optimove and Comm100 accounts."""
    from optibridge.server import run_service

    config = load_config(database_url=database_url)
    with _listening_errors():
        run_service(config, host=host, port=port, with_worker=worker)


@app.command()
def demo(
    host: HostOption = "127.0.0.1",
    port: Annotated[int, typer.Option("--port")] = 8000,
    data_dir: Annotated[Path, typer.Option("--data-dir", help="Where SQLite lives.")] = Path(
        "./var"
    ),
) -> None:
    """The service with both sandboxes in one process and demo site 10000 ready to use."""
    from optibridge.demo import run_demo

    config = load_config(data_dir=data_dir)
    with _listening_errors():
        run_demo(config, host=host, port=port)


@app.command()
def worker(
    database_url: DatabaseOption = None,
    metrics_port: Annotated[
        int | None,
        typer.Option(
            "--metrics-port", help="Serve this process's Prometheus counters on 127.0.0.1:PORT."
        ),
    ] = None,
) -> None:
    """A sync worker process alone, for scale-out (any number may share one database)."""
    from optibridge.server import run_worker

    run_worker(load_config(database_url=database_url), metrics_port=metrics_port)


# --- syncs: the sync log ----------------------------------------------------------------------

syncs_app = typer.Typer(help="The sync log: list, show, retry.", no_args_is_help=True)
app.add_typer(syncs_app, name="syncs")
SyncSiteOption = Annotated[int, typer.Option("--site", help="The Comm100 site id.")]
RecordArgument = Annotated[int, typer.Argument(help="The record id shown by 'syncs list'.")]


@syncs_app.command("list")
def syncs_list(
    site: SyncSiteOption,
    outcome: Annotated[str | None, typer.Option("--outcome", help="created, failed, …")] = None,
    channel: Annotated[str | None, typer.Option("--channel", help="livechat or ticketing.")] = None,
    customer: Annotated[
        str | None, typer.Option("--customer", help="An Optimove customer id.")
    ] = None,
    state: Annotated[str | None, typer.Option("--state", help="queued, failed, …")] = None,
    include_views: Annotated[
        bool,
        typer.Option(
            "--include-views",
            help="Also list what agents only looked at in the Optimove tab (not syncs).",
        ),
    ] = False,
    limit: Annotated[int, typer.Option("--limit", help="At most this many (1-200).")] = 50,
    cursor: Annotated[
        str | None, typer.Option("--cursor", help="Continue where the previous list stopped.")
    ] = None,
    as_json: JsonOption = False,
    database_url: DatabaseOption = None,
) -> None:
    """The site's sync records, newest first: what happened to Optimove (agents' views of a
    customer in the Optimove tab only with --include-views)."""
    from optibridge.domain.records import CHANNELS, OUTCOMES, RECORD_STATES
    from optibridge.services.syncs import list_syncs
    from optibridge.store.sync_log import SyncFilter

    _require_one_of("--outcome", outcome, OUTCOMES)
    _require_one_of("--channel", channel, CHANNELS)
    _require_one_of("--state", state, RECORD_STATES)
    filters = SyncFilter(
        outcome=outcome,
        channel=channel,
        customer_id=customer,
        state=state,
        include_views=include_views,
    )
    with _cli_runtime(database_url) as runtime, runtime.unit_of_work(read_only=True) as session:
        page = list_syncs(session, site, filters, limit=limit, cursor=cursor)
    if as_json:
        from optibridge.web.syncs_api import SyncPageOut

        typer.echo(SyncPageOut.model_validate(page, from_attributes=True).model_dump_json(indent=2))
        return
    if not page.items:
        out.print("no sync records")
        return
    out.print(sync_table(page.items, width=out.width))
    if page.next_cursor:
        out.print(f"more: add --cursor {page.next_cursor}", highlight=False, soft_wrap=True)


@syncs_app.command("show")
def syncs_show(
    record_id: RecordArgument,
    site: SyncSiteOption,
    as_json: JsonOption = False,
    database_url: DatabaseOption = None,
) -> None:
    """One record: what was decided and why, the changes, the Optimove calls."""
    from optibridge.services.syncs import get_sync

    with _cli_runtime(database_url) as runtime, runtime.unit_of_work(read_only=True) as session:
        record = get_sync(session, site, record_id)
    if as_json:
        from optibridge.web.syncs_api import SyncDetailOut

        typer.echo(
            SyncDetailOut.model_validate(record, from_attributes=True).model_dump_json(indent=2)
        )
        return
    out.print(sync_record(record, site_id=site, width=out.width))


@syncs_app.command("retry")
def syncs_retry(
    record_id: RecordArgument,
    site: SyncSiteOption,
    force: Annotated[
        bool, typer.Option("--force", help="Even if a later event already wrote to the customer.")
    ] = False,
    database_url: DatabaseOption = None,
) -> None:
    """Queue a failed record again (its attempts start over)."""
    from optibridge.services.syncs import retry_sync

    with _cli_runtime(database_url) as runtime, runtime.unit_of_work() as session:
        item = retry_sync(session, site, record_id, force=force)
    out.print(f"record {item.id} queued for retry; its last error stays until the next attempt")


def _require_one_of(option: str, value: str | None, allowed: tuple[str, ...]) -> None:
    if value is not None and value not in allowed:
        fail(f"{option} must be one of: {', '.join(allowed)}")


# --- comm100 webhooks: the site's Live Chat webhooks in Comm100 ------------------------------

comm100_app = typer.Typer(help="A site's Comm100 side.", no_args_is_help=True)
webhooks_app = typer.Typer(
    help="The Live Chat webhooks registered in Comm100 through its API (the agent of the "
    "site's API key needs the Manage Integration permission).",
    no_args_is_help=True,
)
comm100_app.add_typer(webhooks_app, name="webhooks")
app.add_typer(comm100_app, name="comm100")
PublicUrlOption = Annotated[
    str | None,
    typer.Option("--public-url", help="Where Comm100 reaches us. Default: OPTIBRIDGE_PUBLIC_URL."),
]


@webhooks_app.command("status")
def comm100_webhooks_status(
    site: SyncSiteOption, public_url: PublicUrlOption = None, database_url: DatabaseOption = None
) -> None:
    """Each needed webhook's state in Comm100 (registered, missing, elsewhere), and the ticket
    trigger's steps. Exit code 3 when one is not registered."""
    from optibridge.services.comm100_webhooks import webhook_report

    with _cli_runtime(database_url) as runtime:
        report = webhook_report(runtime, site, _public_url(runtime, public_url))
    _print_webhooks(report)
    if not report.all_registered:
        raise typer.Exit(3)


@webhooks_app.command("register")
def comm100_webhooks_register(
    site: SyncSiteOption,
    replace_elsewhere: Annotated[
        bool,
        typer.Option(
            "--replace-elsewhere",
            help="Also replace the needed events' webhooks that point elsewhere (they may be "
            "another integration's; by default they are left).",
        ),
    ] = False,
    public_url: PublicUrlOption = None,
    database_url: DatabaseOption = None,
) -> None:
    """Register or repair the needed webhooks; what is registered already is left alone."""
    from optibridge.services.comm100_webhooks import register_webhooks

    with _cli_runtime(database_url) as runtime:
        public = _public_url(runtime, public_url)
        report = register_webhooks(runtime, site, public, replace_elsewhere=replace_elsewhere)
    for change in report.changed or ("nothing to change: registered already",):
        out.print(change, highlight=False, soft_wrap=True)
    _print_webhooks(report)


def _public_url(runtime: Runtime, given: str | None) -> str:
    public = (given or "").rstrip("/") or runtime.config.public_url
    if not public or not public.startswith(("http://", "https://")):
        fail(
            "give the address Comm100 reaches this service at: OPTIBRIDGE_PUBLIC_URL or "
            "--public-url (http:// or https://)"
        )
    return public


def _print_webhooks(report: WebhookReport) -> None:
    from rich.table import Table
    from rich.text import Text

    table = Table("event", "state", "what it means")
    for event in report.livechat:
        table.add_row(event.event, event.state, Text(event.message))
    out.print(table)
    if report.warning:
        out.print(Text(f"warning: {report.warning}"), soft_wrap=True)
    out.print("ticket trigger (by hand, in Comm100's control panel):")
    for number, step in enumerate(report.ticket_trigger.steps, start=1):
        out.print(Text(f"  {number}. {step}"), soft_wrap=True)


@sandbox_app.command("optimove")
def sandbox_optimove(
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 8100,
    host: HostOption = "127.0.0.1",
) -> None:
    """The Optimove API emulator (SPEC 5.5) with its /_sandbox/ control surface."""
    from optibridge.sandbox.optimove.app import create_app, usage

    _run_sandbox(create_app, usage, host=host, port=port)


@sandbox_app.command("comm100")
def sandbox_comm100(
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 8200,
    host: HostOption = "127.0.0.1",
) -> None:
    """The Comm100 v4 API emulator (SPEC 5.5) with its /_sandbox/ control surface."""
    from optibridge.sandbox.comm100.app import create_app, usage

    _run_sandbox(create_app, usage, host=host, port=port)


def _run_sandbox(
    create_app: Callable[[], FastAPI], usage: Callable[[str], str], *, host: str, port: int
) -> None:
    """Bind first (a taken port is one line), say where everything is, then serve."""
    import uvicorn

    with _listening_errors():
        listener = bind_listener(host, port)
    app = create_app()
    print(usage(served_url(host, port)), flush=True)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    server.run(sockets=[listener])


@contextmanager
def _listening_errors() -> Iterator[None]:
    """A port that is taken (or not allowed) is one line and exit code 1, not a traceback."""
    try:
        yield
    except CannotListen as error:
        fail(str(error))


@contextmanager
def _cli_runtime(database_url: str | None) -> Iterator[Runtime]:
    """A migrated runtime for one command; service errors become a message and exit code 1."""
    from optibridge.runtime import Runtime
    from optibridge.store.migrate import upgrade_to_head

    runtime = Runtime.start(load_config(database_url=database_url))
    try:
        upgrade_to_head(runtime.engine)
        yield runtime
    except AppError as error:
        details = "".join(f"\n  {p.pointer or '-'}: {p.message}" for p in error.details)
        fail(f"{error.message}{details}")
    finally:
        runtime.close()


app.add_typer(backfill_app(_cli_runtime, fail), name="backfill")


@secrets_app.command("rotate")
def secrets_rotate(database_url: DatabaseOption = None) -> None:
    """Re-encrypt every stored secret under the first OPTIBRIDGE_SECRET_KEY, in one transaction
    (after putting a new key in front of the old one; see docs/operations.md)."""
    from optibridge.services.secret_rotation import SecretsUnreadable, rotate_secrets

    with _cli_runtime(database_url) as runtime:
        try:
            with runtime.unit_of_work() as session:
                report = rotate_secrets(session, runtime.box)
        except SecretsUnreadable as error:
            listing = "".join(f"\n  site {i.site_id}: {i.kind}" for i in error.unreadable)
            fail(
                f"{_count(len(error.unreadable), 'stored secret')} can be decrypted by none of "
                f"the configured keys; nothing was changed:{listing}\n"
                "Add the key they were saved with to OPTIBRIDGE_SECRET_KEY (after the first), "
                "then run this again."
            )
    sites = _count(report.sites, "site's", "sites'")
    out.print(
        f"re-encrypted {sites} secrets ({_count(report.reencrypted, 'value')}); "
        f"{report.already_current} already current",
        highlight=False,
    )


def _count(number: int, singular: str, plural: str | None = None) -> str:
    return f"{number} {singular if number == 1 else plural or singular + 's'}"


@sites_app.command("list")
def sites_list(as_json: JsonOption = False, database_url: DatabaseOption = None) -> None:
    """Every site, with its name."""
    from optibridge.services.sites import list_sites

    with _cli_runtime(database_url) as runtime, runtime.unit_of_work() as session:
        sites = list_sites(session)
        if as_json:
            from optibridge.web.schemas import SiteOut

            _echo_json_list([SiteOut.model_validate(site, from_attributes=True) for site in sites])
            return
        out.print(sites_table(sites))


@sites_app.command("create")
def sites_create(
    site_id: SiteArgument,
    name: Annotated[str, typer.Option("--name", help="A name for people.")],
    database_url: DatabaseOption = None,
) -> None:
    """Register a Comm100 site."""
    from optibridge.services.sites import create_site

    with _cli_runtime(database_url) as runtime, runtime.unit_of_work() as session:
        site = create_site(session, runtime.box, site_id, name)
        out.print(f"site {site.site_id} ({site.name}) created")


@sites_app.command("delete")
def sites_delete(
    site_id: SiteArgument,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    database_url: DatabaseOption = None,
) -> None:
    """Remove a site with its settings and tokens."""
    from optibridge.services.sites import delete_site

    if not yes:
        typer.confirm(f"Delete site {site_id} with its settings and tokens?", abort=True)
    with _cli_runtime(database_url) as runtime:
        removal = delete_site(runtime, site_id)
    out.print(f"site {site_id} deleted")
    if removal.removed:
        out.print(f"its Live Chat webhooks removed from Comm100: {', '.join(removal.removed)}")
    if not removal.complete:
        left = ", ".join(removal.left) if removal.left else "unknown"
        out.print(
            f"left in Comm100 (remove them there): {left}; {removal.problem or ''}".rstrip("; ")
        )


@tokens_app.command("create")
def tokens_create(
    role: Annotated[str, typer.Option("--role", help="admin or agent.")] = "admin",
    site: Annotated[
        int | None, typer.Option("--site", help="Limit the token to this site (agents need one).")
    ] = None,
    label: Annotated[str, typer.Option("--label")] = "",
    database_url: DatabaseOption = None,
) -> None:
    """Issue a token and print it once (only its hash is stored)."""
    from optibridge.services.tokens import Role, issue_token
    from optibridge.sync.sites import get_site

    if role not in {r.value for r in Role}:
        fail(f"--role must be admin or agent, not {role!r}")
    if role == Role.AGENT and site is None:
        fail("an agent token needs --site SITE_ID")
    with _cli_runtime(database_url) as runtime, runtime.unit_of_work() as session:
        if site is not None:
            get_site(session, site)
        issued = issue_token(session, Role(role), site, label)
    out.print(issued.token, highlight=False, soft_wrap=True)


@tokens_app.command("list")
def tokens_list(
    site: Annotated[int | None, typer.Option("--site")] = None,
    as_json: JsonOption = False,
    database_url: DatabaseOption = None,
) -> None:
    """Tokens (never their values)."""
    from optibridge.store.repositories import TokenRepository

    with _cli_runtime(database_url) as runtime, runtime.unit_of_work() as session:
        tokens = TokenRepository(session).list(site)
        if as_json:
            from optibridge.web.schemas import TokenOut

            _echo_json_list([TokenOut.model_validate(t, from_attributes=True) for t in tokens])
            return
        out.print(tokens_table(tokens))


def _echo_json_list(models: Sequence[BaseModel]) -> None:
    """A JSON array of `models`, as the API would answer them."""
    import json

    document = [model.model_dump(mode="json") for model in models]
    typer.echo(json.dumps(document, indent=2, ensure_ascii=False))


@tokens_app.command("revoke")
def tokens_revoke(
    token_id: Annotated[int, typer.Argument(help="The id shown by 'tokens list'.")],
    database_url: DatabaseOption = None,
) -> None:
    """Revoke a token at once."""
    from optibridge.services.tokens import revoke_token

    with _cli_runtime(database_url) as runtime, runtime.unit_of_work() as session:
        revoke_token(session, token_id)
    out.print(f"token {token_id} revoked")


def main() -> None:
    """The `optibridge` command. Arguments are made storable first, like every other input
    (`safe_text`): bytes that aren't UTF-8 arrive as lone surrogates, NUL can't be stored."""
    import sys

    from optibridge.safe_text import storable_text

    sys.argv = [storable_text(argument) for argument in sys.argv]
    app(prog_name="optibridge")
