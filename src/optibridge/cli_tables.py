"""What the `optibridge` command prints as tables, readable at any terminal width.

Below `WIDE_TABLE` columns (an 80-column terminal), the sync log's tables put their less
important facts under others and stack times on two lines; long values fold, never cut short
with an ellipsis, and no column is squeezed to single letters.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from rich.console import Group
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from datetime import datetime

    from optibridge.services.syncs import CallItem, SyncDetail, SyncItem
    from optibridge.store.models import ApiToken, Site

WIDE_TABLE = 140


def sync_table(items: Sequence[SyncItem], *, width: int) -> Table:
    """The sync log: wide, one column per fact; narrow, the channel, the changes, the attempts
    and the error go under the event."""
    if width >= WIDE_TABLE:
        table = Table()
        table.add_column("id", justify="right", no_wrap=True)
        table.add_column("received (UTC)", no_wrap=True)
        table.add_column("channel", no_wrap=True)
        table.add_column("event", min_width=10, overflow="fold")
        table.add_column("outcome", no_wrap=True)
        table.add_column("customer", min_width=8, overflow="fold")
        table.add_column("changes", min_width=24, ratio=2, overflow="fold")
        table.add_column("attempts", justify="right", no_wrap=True)
        table.add_column("error", min_width=16, ratio=1, overflow="fold")
        for item in items:
            table.add_row(
                str(item.id),
                utc_text(item.received_at),
                item.channel,
                Text(item.event_name),
                Text(_outcome_text(item)),
                Text(item.customer_id or "-"),
                Text("\n".join(_change_text(c.field, c.old, c.new) for c in item.changes)),
                str(item.attempts),
                Text(item.error or ""),
            )
        return table
    table = Table()
    table.add_column("id", justify="right", no_wrap=True)
    table.add_column("received\n(UTC)", no_wrap=True)
    table.add_column("outcome", min_width=7, max_width=13, overflow="fold")
    table.add_column("customer", min_width=8, max_width=16, overflow="fold")
    table.add_column("event, changes, error", min_width=24, ratio=1, overflow="fold")
    for item in items:
        details = [f"{item.event_name} ({item.channel})"]
        details.extend(_change_text(c.field, c.old, c.new) for c in item.changes)
        attempts = f"{item.attempts} attempts" if item.attempts > 1 else ""
        if item.error:
            details.append(
                f"error ({attempts}): {item.error}" if attempts else f"error: {item.error}"
            )
        elif attempts:
            details.append(attempts)
        table.add_row(
            str(item.id),
            _stacked_utc_text(item.received_at),
            Text(_outcome_text(item)),
            Text(item.customer_id or "-"),
            Text("\n".join(details)),
        )
    return table


def sync_record(record: SyncDetail, *, site_id: int, width: int) -> Group:
    """One record: its facts, its changes, its Optimove calls and its write."""
    facts = Table.grid(padding=(0, 2))
    facts.add_column(no_wrap=True)
    facts.add_column(overflow="fold")
    for label, value in (
        ("record", str(record.id)),
        ("channel", record.channel),
        ("event", f"{record.event_name} ({record.event})"),
        ("received", utc_text(record.received_at)),
        ("updated", utc_text(record.updated_at)),
        ("state", record.state),
        ("outcome", record.outcome or "-"),
        ("reason", record.reason or "-"),
        ("customer", record.customer_id or "-"),
        ("comm100", ", ".join(f"{k}={v}" for k, v in record.comm100_ids.items()) or "-"),
        ("attempts", str(record.attempts)),
        ("error", record.error or "-"),
        *([("retry", _retry_text(record, site_id))] if record.state == "failed" else []),
    ):
        facts.add_row(label, Text(value))
    parts: list[Table | Text] = [facts]
    if record.changes:
        changes = Table(title="changes")
        changes.add_column("field", overflow="fold")
        changes.add_column("old", overflow="fold")
        changes.add_column("new", overflow="fold")
        for change in record.changes:
            changes.add_row(
                Text(change.field), Text(_or_empty(change.old)), Text(_or_empty(change.new))
            )
        parts.append(changes)
    else:
        parts.append(Text("no changes"))
    parts.append(
        _calls_table(record.calls, width=width) if record.calls else Text("no Optimove calls")
    )
    if record.write is not None:
        write = record.write
        parts.append(
            Text(
                f"write {write.id}: {write.kind}, {write.state}, "
                f"request id {write.request_id or '-'}"
            )
        )
    return Group(*parts)


def sites_table(sites: Sequence[Site]) -> Table:
    table = Table()
    table.add_column("site id", justify="right", no_wrap=True)
    table.add_column("name", min_width=8, ratio=1, overflow="fold")
    table.add_column("created (UTC)", no_wrap=True)
    for site in sites:
        table.add_row(str(site.site_id), Text(site.name), utc_text(site.created_at))
    return table


def tokens_table(tokens: Sequence[ApiToken]) -> Table:
    """Tokens, never their values (only their digests are stored anyway)."""
    table = Table()
    table.add_column("id", justify="right", no_wrap=True)
    table.add_column("role", no_wrap=True)
    table.add_column("site", no_wrap=True)
    table.add_column("label", min_width=8, ratio=1, overflow="fold")
    table.add_column("created (UTC)", no_wrap=True)
    for token in tokens:
        scope = "every site" if token.site_id is None else str(token.site_id)
        table.add_row(
            str(token.id), token.role, scope, Text(token.label), utc_text(token.created_at)
        )
    return table


def _calls_table(calls: Sequence[CallItem], *, width: int) -> Table:
    """A record's Optimove calls; narrow, the request id and the detail go under the endpoint,
    so an id is folded rather than cut short."""
    table = Table(title="Optimove calls")
    wide = width >= WIDE_TABLE
    table.add_column("at (UTC)" if wide else "at\n(UTC)", no_wrap=True)
    table.add_column("endpoint" if wide else "endpoint, request id, detail", overflow="fold")
    table.add_column("status", no_wrap=True)
    if wide:
        table.add_column("request id", overflow="fold")
    table.add_column("ms", justify="right", no_wrap=True)
    table.add_column("confirmed", no_wrap=True)
    if wide:
        table.add_column("detail", overflow="fold")
    for call in calls:
        status = "-" if call.status is None else str(call.status)
        duration = "-" if call.duration_ms is None else f"{call.duration_ms:.0f}"
        confirmed = {True: "yes", False: "no", None: "-"}[call.confirmed]
        if wide:
            table.add_row(
                utc_text(call.at),
                Text(call.endpoint),
                status,
                Text(call.request_id or "-"),
                duration,
                confirmed,
                Text(call.detail or ""),
            )
            continue
        what = [call.endpoint]
        if call.request_id:
            what.append(f"request id {call.request_id}")
        if call.detail:
            what.append(call.detail)
        table.add_row(
            _stacked_utc_text(call.at), Text("\n".join(what)), status, duration, confirmed
        )
    return table


def utc_text(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def _stacked_utc_text(moment: datetime) -> str:
    """The date over the time: ten columns instead of nineteen, for narrow tables."""
    return moment.strftime("%Y-%m-%d\n%H:%M:%S")


def _retry_text(record: SyncDetail, site_id: int) -> str:
    if record.retryable:
        return f"optibridge syncs retry {record.id} --site {site_id}"
    return "no: an agent's view or change in the Optimove tab (the agent does it again there)"


def _outcome_text(item: SyncItem) -> str:
    return item.outcome or f"({item.state})"


def _or_empty(value: str | None) -> str:
    return "(empty)" if value is None or value == "" else value


def _change_text(field: str, old: str | None, new: str | None) -> str:
    return f"{field}: {_or_empty(old)} \N{RIGHTWARDS ARROW} {_or_empty(new)}"
