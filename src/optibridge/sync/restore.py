"""Restoring a change from the sync log (SPEC 4.7): the old values written back to Optimove, as
a record of its own that says what it restores and who asked.

The record (event `restore`; `comm100_ids["restores"]` the record undone, `restored_by` and
`restored_via` who asked and how, and, for an administrator Comm100 signed in, the agent) is
inserted `working`, held by the restore and with its customer taken, like an agent's change
(`sync/agents.py`): no other record of that customer is between its read and its write while
the restore checks and writes. Then the customer is read from Optimove (not the cache: someone
may have changed it in Optimove), the domain checks that every field still holds what the change
wrote (`domain/restore.py`), and the old values go out through the batcher's `send_write`, so
Optimove's callback (or a read-back) confirms the record like any other write.

A refusal found before anything is read (a creation, a record that wrote nothing or is still
under way) leaves no record; one found by the read (a field changed since) settles the restore's
record as `unchanged`, saying why, so the log shows who tried. An administrator is waiting on
the answer: the calls use the agent lane (a slot within a few seconds, else 429 busy).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Literal

from optibridge.domain.context import ConversationContext
from optibridge.domain.decide import Plan
from optibridge.domain.records import QUEUED, RESTORE
from optibridge.domain.restore import (
    ChangeRecord,
    RestoreRefused,
    changes_of,
    check_restorable,
    plan_restore,
)
from optibridge.errors import Conflict, NotFound
from optibridge.runtime import Runtime
from optibridge.store.models import SyncRecord
from optibridge.store.sync_records import (
    ClaimedRecord,
    Held,
    NewRecord,
    customer_busy,
    hold,
    insert_record,
)
from optibridge.sync.agents import (
    Agent,
    read_for_change,
    send_change,
    settle_change,
)
from optibridge.sync.sites import NotConnected, load_site

# Who holds a restore's record while it is checked and written (workers have their own ids).
RESTORE_OWNER = "restore"


@dataclass(frozen=True)
class Restorer:
    """Who asked for a restore: the credential (`principal`, in words), through which door, and
    the Comm100 agent when Comm100 signed the administrator in."""

    principal: str
    via: Literal["api", "control_panel"]
    agent: Agent | None = None

    def ids(self) -> dict[str, str]:
        ids = {"restored_by": self.principal, "restored_via": self.via}
        if self.agent is not None:
            ids.update(self.agent.ids())
        return ids


def restore_record(runtime: Runtime, site_id: int, record_id: int, restorer: Restorer) -> int:
    """Write back what record `record_id` of the site changed; returns the restore's record.

    404 for another site's record or none; 409 (`RestoreRefused`) when it can't be restored,
    with the reason; 409 while another change to the customer is being written."""
    original = logged_change(runtime, site_id, record_id)
    customer_id = check_restorable(original)
    setup = load_site(runtime, site_id, lane="agent")
    if setup.optimove is None:
        raise NotConnected()
    record = _start(runtime, site_id, original, customer_id, restorer)
    read = read_for_change(runtime, setup, record, customer_id, refresh=True)
    try:
        plan = plan_restore(original, read.attributes, setup.field_types)
    except RestoreRefused as refused:
        settle_change(runtime, record, _refused(original, customer_id, refused))
        raise RestoreRefused(
            f"{refused.message} (This attempt is record {record.id} of the sync log.)",
            refused.code,
            refused.details,
        ) from None
    if plan.action == "none":
        settle_change(runtime, record, plan)
    else:
        send_change(runtime, setup, record, plan)
    return record.id


def logged_change(runtime: Runtime, site_id: int, record_id: int) -> ChangeRecord:
    """Record `record_id` of the site as a restore sees it (404 for none, or another site's)."""
    with runtime.unit_of_work(read_only=True) as session:
        row = session.get(SyncRecord, record_id)
        if row is None or row.site_id != site_id:
            raise NotFound(f"Sync record {record_id} does not exist for site {site_id}.")
        return ChangeRecord(
            record_id=row.id,
            channel=row.channel,  # type: ignore[arg-type]
            event=row.event,
            state=row.state,
            outcome=row.outcome,
            customer_id=row.customer_id,
            changes=changes_of(row.changes or []),
        )


def _start(
    runtime: Runtime,
    site_id: int,
    original: ChangeRecord,
    customer_id: str,
    restorer: Restorer,
) -> ClaimedRecord:
    """The restore's record, held, its customer taken (409 while another write to the customer
    is under way)."""
    with runtime.unit_of_work() as session:
        if customer_busy(session, site_id, customer_id, 0):
            raise Conflict(
                f"Another change to customer {customer_id} is being written to Optimove right"
                " now; try the restore again in a few seconds."
            )
        channel = original.channel
        ids = {"restores": str(original.record_id), **restorer.ids()}
        context = ConversationContext(channel=channel, event=RESTORE).to_json()
        order_key = f"restore:{uuid.uuid4().hex}"  # its own: it waits for no Comm100 subject
        record_id, _duplicate = insert_record(
            session.connection(),
            NewRecord(
                site_id=site_id,
                channel=channel,
                event=RESTORE,
                dedupe_key=uuid.uuid4().hex,
                order_key=order_key,
                comm100_ids=ids,
                context=context,
            ),
        )
        hold(
            session,
            record_id,
            held=Held(QUEUED),  # inserted just now, in this transaction
            owner=RESTORE_OWNER,
            lease_s=runtime.config.worker_lease_s,
            customer_id=customer_id,
        )
    return ClaimedRecord(
        id=record_id,
        site_id=site_id,
        channel=channel,
        event=RESTORE,
        order_key=order_key,
        comm100_ids=dict(ids),
        context=context,
        attempts=0,
        claimed_by=RESTORE_OWNER,
    )


def _refused(original: ChangeRecord, customer_id: str, refused: RestoreRefused) -> Plan:
    """The restore's record when the read found it can't be done: nothing written, why."""
    return Plan(
        outcome="unchanged",
        reason=f"restoring record {original.record_id} was refused, nothing written: "
        f"{refused.message}",
        customer_id=customer_id,
        action="none",
        changes=(),
        rejected=(),
    )
