"""`optibridge backfill start|status|pause|resume|cancel` (SPEC 4.7): a site's backfills from the
command line, each with a progress bar (rich); `status --watch` follows one until it is over.

The commands are built by `backfill_app` with the CLI's runtime and failure helpers, so this
module needs nothing of `optibridge.cli` (which adds them as `optibridge backfill`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from rich.console import Console, Group
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from optibridge.runtime import Runtime
    from optibridge.services.backfills import BackfillView

RuntimeFor = Callable[[str | None], AbstractContextManager["Runtime"]]
FINAL = ("done", "failed", "cancelled")
WATCH_EVERY_S = 1.0

SiteOption = Annotated[int, typer.Option("--site", help="The Comm100 site id.")]
BackfillArgument = Annotated[
    int, typer.Argument(help="The backfill id shown by 'backfill status'.")
]
DatabaseOption = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        help="SQLAlchemy URL. Default: OPTIBRIDGE_DATABASE_URL, else SQLite in ./var.",
    ),
]
JsonOption = Annotated[
    bool, typer.Option("--json", help="One JSON document, shaped as the API's answer.")
]
WatchOption = Annotated[
    bool, typer.Option("--watch", help="Follow it with a live progress bar until it is over.")
]

out = Console()


def backfill_app(runtime_for: RuntimeFor, fail: Callable[[str], NoReturn]) -> typer.Typer:
    """The `backfill` commands, using `runtime_for(database_url)` (a migrated runtime whose
    service errors become a message) and `fail(message)`."""
    app = typer.Typer(
        help="Replay a period's past conversations through the rules, in the background "
        "(the workers of 'serve' or 'worker' do the work).",
        no_args_is_help=True,
    )

    @app.command("start")
    def start(
        site: SiteOption,
        since: Annotated[
            str, typer.Option("--since", help="The period's start: 2026-03-01 or ISO 8601 (UTC).")
        ],
        channel: Annotated[
            str, typer.Option("--channel", help="livechat (chats, offline messages) or ticketing.")
        ] = "livechat",
        until: Annotated[
            str | None, typer.Option("--until", help="The period's end, excluded. Default: now.")
        ] = None,
        watch: WatchOption = False,
        as_json: JsonOption = False,
        database_url: DatabaseOption = None,
    ) -> None:
        """Start a backfill of a channel's conversations of a period."""
        from optibridge.services.backfills import start as start_backfill

        began = _moment(since, "--since", fail)
        ended = _moment(until, "--until", fail) if until is not None else None
        with runtime_for(database_url) as runtime:
            backfill = start_backfill(runtime, site, channel, began, ended)
            if watch and not as_json:
                _watch(runtime, site, backfill.id)
                return
        _show(backfill, as_json)
        if not as_json:
            out.print(
                f"follow it: optibridge backfill status {backfill.id} --site {site} --watch",
                highlight=False,
            )

    @app.command("status")
    def status(
        site: SiteOption,
        backfill_id: Annotated[
            int | None, typer.Argument(help="One backfill; without it, the site's latest.")
        ] = None,
        watch: WatchOption = False,
        as_json: JsonOption = False,
        database_url: DatabaseOption = None,
    ) -> None:
        """The site's backfills with their progress, or one in detail.

        Exit code 3 while the one asked for is not done (failed, cancelled, or still under way
        without --watch)."""
        from optibridge.services.backfills import get_backfill, list_backfills

        with runtime_for(database_url) as runtime:
            if backfill_id is None:
                found = list_backfills(runtime, site)
                if as_json:
                    from optibridge.web.backfills_api import BackfillListOut, BackfillOut

                    items = [BackfillOut.model_validate(b, from_attributes=True) for b in found]
                    typer.echo(BackfillListOut(items=items).model_dump_json(indent=2))
                elif found:
                    out.print(_table(found))
                else:
                    out.print("no backfills")
                return
            if watch and not as_json:
                backfill = _watch(runtime, site, backfill_id)
            else:
                backfill = get_backfill(runtime, site, backfill_id)
                _show(backfill, as_json)
        if backfill.state != "done":
            raise typer.Exit(3)

    def move(
        action: str, backfill_id: int, site: int, as_json: bool, database_url: str | None
    ) -> None:
        from optibridge.services.backfills import act

        with runtime_for(database_url) as runtime:
            backfill = act(runtime, site, backfill_id, action)  # type: ignore[arg-type]
        _show(backfill, as_json)

    @app.command("pause")
    def pause(
        backfill_id: BackfillArgument,
        site: SiteOption,
        as_json: JsonOption = False,
        database_url: DatabaseOption = None,
    ) -> None:
        """Stop listing more conversations (those already queued, at most a page, finish)."""
        move("pause", backfill_id, site, as_json, database_url)

    @app.command("resume")
    def resume(
        backfill_id: BackfillArgument,
        site: SiteOption,
        as_json: JsonOption = False,
        database_url: DatabaseOption = None,
    ) -> None:
        """Go on from where it paused."""
        move("resume", backfill_id, site, as_json, database_url)

    @app.command("cancel")
    def cancel(
        backfill_id: BackfillArgument,
        site: SiteOption,
        as_json: JsonOption = False,
        database_url: DatabaseOption = None,
    ) -> None:
        """Stop for good (conversations queued but not taken are dropped)."""
        move("cancel", backfill_id, site, as_json, database_url)

    return app


# --- showing a backfill --------------------------------------------------------------------------


def _moment(text: str, option: str, fail: Callable[[str], NoReturn]) -> datetime:
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        fail(f"{option} must be a date or a time (2026-03-01, 2026-03-01T12:00:00Z)")
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def eta_text(eta_s: float | None) -> str:
    """An ETA in words a person reads at a glance: 'ETA 2 min', 'ETA 1 h 5 min'."""
    if eta_s is None:
        return "ETA unknown"
    seconds = round(eta_s)
    if seconds < 60:
        return f"ETA {seconds} s"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"ETA {minutes} min"
    return f"ETA {minutes // 60} h {minutes % 60} min"


def counts_text(backfill: BackfillView) -> str:
    text = (
        f"{backfill.done} done, {backfill.skipped} skipped, {backfill.failed} failed"
        f" of {backfill.total}"
    )
    if backfill.in_progress:
        text += f"; {backfill.in_progress} being applied"
    if backfill.already_synced:
        text += f" ({backfill.already_synced} already synced)"
    return text


def _period(backfill: BackfillView) -> str:
    def day(moment: datetime) -> str:
        return moment.strftime("%Y-%m-%d %H:%M")

    return f"{day(backfill.since)} → {day(backfill.until)} UTC"


def _finished(backfill: BackfillView) -> int:
    return backfill.done + backfill.skipped + backfill.failed


def _bar(backfill: BackfillView, width: int = 30) -> ProgressBar:
    total = max(backfill.total, _finished(backfill), 1)
    finished = total if backfill.state == "done" else _finished(backfill)
    return ProgressBar(total=total, completed=finished, width=width)


def _show(backfill: BackfillView, as_json: bool) -> None:
    if as_json:
        from optibridge.web.backfills_api import BackfillOut

        typer.echo(
            BackfillOut.model_validate(backfill, from_attributes=True).model_dump_json(indent=2)
        )
        return
    lines = [
        Text(f"backfill {backfill.id}: {backfill.channel}, {_period(backfill)}, {backfill.state}"),
        Group(_bar(backfill, width=40), Text(f"{backfill.percent} %")),
        Text(counts_text(backfill)),
    ]
    if backfill.state in ("queued", "running"):
        pace = f"{backfill.per_minute:.0f} per minute, " if backfill.per_minute else ""
        lines.append(Text(pace + eta_text(backfill.eta_s)))
    if backfill.error:
        lines.append(Text(backfill.error, style="red"))
    for line in lines:
        out.print(line, soft_wrap=True)


def _table(backfills: list[BackfillView]) -> Table:
    table = Table("id", "channel", "period", "state", "progress", "counts")
    for backfill in backfills:
        table.add_row(
            str(backfill.id),
            backfill.channel,
            _period(backfill),
            backfill.state,
            _bar(backfill, width=12),
            Text(counts_text(backfill)),
        )
    return table


def _watch(runtime: Runtime, site: int, backfill_id: int) -> BackfillView:
    """A live bar until the backfill is over (Ctrl-C leaves it running)."""
    from optibridge.services.backfills import get_backfill

    backfill = get_backfill(runtime, site, backfill_id)
    progress = Progress(
        TextColumn("[bold]backfill {task.fields[number]}[/bold] {task.fields[state]}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[eta]}"),
        console=out,
        transient=False,
    )
    with progress:
        task = progress.add_task("backfill", total=None, number=backfill_id, state="", eta="")
        for backfill in _polled(runtime, site, backfill_id, get_backfill):
            progress.update(
                task,
                total=max(backfill.total, _finished(backfill)) or None,
                completed=_finished(backfill),
                state=backfill.state,
                eta=eta_text(backfill.eta_s) if backfill.state in ("queued", "running") else "",
            )
    _show(backfill, as_json=False)
    return backfill


def _polled(
    runtime: Runtime,
    site: int,
    backfill_id: int,
    read: Callable[[Runtime, int, int], BackfillView],
) -> Iterator[BackfillView]:
    while True:
        backfill = read(runtime, site, backfill_id)
        yield backfill
        if backfill.state in FINAL:
            return
        time.sleep(WATCH_EVERY_S)
