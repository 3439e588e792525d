"""Writes whose callback never came, or whose sender died mid-call, settled by reading back.

After `callback_timeout_s` the customers of such a write are read from Optimove: where the new
values are there, the records are done; where they are not, the records go back to the queue
(and are decided again from a fresh read, so nothing is written on a stale view).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from optibridge.domain.values import same_value
from optibridge.errors import AppError
from optibridge.logs import get_logger
from optibridge.runtime import Runtime
from optibridge.store.sync_records import (
    get_write,
    keep_write_taken,
    overdue_writes,
    take_overdue_write,
)
from optibridge.sync.callbacks import apply_write_result
from optibridge.sync.sites import SiteSetup

log = get_logger(__name__)

# Reads are Optimove calls too: look at a few writes per round, not all at once.
WRITES_PER_ROUND = 5


def reconcile_overdue_writes(runtime: Runtime, site_setup: Callable[[int], SiteSetup]) -> int:
    threshold = time.time() - runtime.config.callback_timeout_s
    with runtime.unit_of_work(read_only=True) as session:
        candidates = overdue_writes(session, threshold, threshold)[:WRITES_PER_ROUND]
    settled = 0
    for write_id in candidates:
        with runtime.unit_of_work() as session:
            if not take_overdue_write(session, write_id, threshold):
                continue  # another worker is on it, or it was settled meanwhile
            write = get_write(session, write_id)
            assert write is not None
            site_id, payload = write.site_id, dict(write.payload or {})

        def still_on_it(write_id: str = write_id) -> None:
            with runtime.unit_of_work() as session:
                keep_write_taken(session, write_id)

        try:
            unapplied = _unapplied_customers(site_setup(site_id), payload, still_on_it)
        except AppError as error:
            log.warning("reconciliation_deferred", write=write_id, error=str(error))
            continue
        except Exception:  # one write's trouble must not stop the round (and every claim)
            log.exception("reconciliation_failed", write=write_id)
            continue
        with runtime.unit_of_work() as session:
            write = get_write(session, write_id)
            if write is None:
                continue
            apply_write_result(
                session,
                write,
                {customer: "the change is not in Optimove" for customer in unapplied},
                how="confirmed by reading Optimove back (no callback came)",
                retry_unapplied=runtime.config,
            )
        settled += 1
    return settled


def _unapplied_customers(
    setup: SiteSetup,
    payload: dict[str, dict[str, str | None]],
    after_each_read: Callable[[], None],
) -> list[str]:
    client = setup.optimove_background or setup.optimove
    if client is None:
        raise AppError("Optimove is not connected for this site.")
    types = {name.lower(): field_type for name, field_type in setup.field_types.items()}
    unapplied = []
    for customer_id, written in payload.items():
        customer = client.get_customer_attributes(customer_id)
        after_each_read()
        # Optimove's spelling of a name may differ between calls (Age / AGE).
        current = (
            {name.lower(): value for name, value in customer.values().items()}
            if customer is not None
            else None
        )
        applied = current is not None and all(
            value is None or same_value(current.get(field.lower()), value, types.get(field.lower()))
            for field, value in written.items()
        )
        if not applied:
            unapplied.append(customer_id)
    return unapplied
