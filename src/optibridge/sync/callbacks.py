"""Settling written records: by Optimove's callback, or by reading the customer back."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy.orm import Session

from optibridge.config import Config
from optibridge.domain.context import ConversationContext
from optibridge.domain.records import AWAITING_CALLBACK, DONE, FAILED
from optibridge.errors import BadRequest
from optibridge.logs import get_logger
from optibridge.optimove.callbacks import (
    CallbackError,
    CallbackShapeError,
    UpdateResult,
    parse_update_callback,
)
from optibridge.runtime import Runtime
from optibridge.store.customer_memory import (
    forget_cached_customer,
    patch_cached_customer,
    remember_link,
)
from optibridge.store.models import OptimoveWrite
from optibridge.store.sync_records import (
    Held,
    get_write,
    has_unsettled_write,
    records_of_write,
    settle_write,
    write_by_request_id,
)
from optibridge.sync.records import retry_or_fail, settle

log = get_logger(__name__)

# A written record waits for its write's confirmation, whoever sent it.
AWAITING = Held(AWAITING_CALLBACK)

ERROR_MEANINGS = {
    "INVALID_CUSTOMER": "the customer does not exist in Optimove (an update never creates one)",
    "INVALID_FIELD": "the attribute does not exist in the Optimove account",
    "INVALID_VALUE": "Optimove refused the value for this attribute's type",
    # Despite its name, not a retry: the attribute is not enabled for API updates
    # (reference/optimove.md).
    "UPDATE_FIELD_TEMPORARY_UNAVAILABLE": (
        "the attribute is not enabled for updates through the API: ask Optimove's support to"
        " enable it"
    ),
}


def settle_callback(runtime: Runtime, site_id: int, write_id: str | None, body: bytes) -> bool:
    """Apply a callback; False when it names no write of ours (it is then ignored)."""
    try:
        result = parse_update_callback(body)
    except CallbackShapeError as error:
        raise BadRequest(f"Not an Optimove update result: {error}.") from None
    with runtime.unit_of_work() as session:
        write = get_write(session, write_id) if write_id else None
        if write is None and result.request_id:
            write = write_by_request_id(session, site_id, result.request_id)
        if write is None or write.site_id != site_id:
            log.warning("callback_for_unknown_write", site_id=site_id)
            return False
        if result.request_id and write.request_id and result.request_id != write.request_id:
            # The write in the URL was answered with another request id: this result is not
            # about it (a stale or misdirected callback). Settling it would confirm the wrong
            # write.
            log.warning("callback_for_another_request", site_id=site_id, write=write.id)
            return False
        failures = _failures(result)
        apply_write_result(session, write, failures, how="confirmed by Optimove")
    return True


def _failures(result: UpdateResult) -> dict[str, str]:
    """customer id → why its part of the write failed."""
    failures: dict[str, str] = {}
    for customer_id, errors in result.errors_by_customer().items():
        failures[customer_id or "*"] = "; ".join(_describe(error) for error in errors)
    if not result.success and not failures:
        failures["*"] = "Optimove reported the update as failed, without details"
    return failures


def _describe(error: CallbackError) -> str:
    meaning = ERROR_MEANINGS.get(error.error, "Optimove refused it")
    where = f" ({error.field})" if error.field else ""
    return f"{error.error}{where}: {meaning}"


def apply_write_result(
    session: Session,
    write: OptimoveWrite,
    failures: Mapping[str, str],
    *,
    how: str,
    retry_unapplied: Config | None = None,
) -> None:
    """Settle a write and every record it carried. Idempotent: a settled write is left alone.

    Records of customers in `failures` fail with the reason, or, with `retry_unapplied` (the
    retry settings), go back to the queue to be decided again while they have attempts left.
    """
    if write.state in ("confirmed", "failed"):
        return
    settle_write(
        session,
        write.id,
        "failed" if failures else "confirmed",
        {"failures": dict(failures), "how": how},
    )
    written: dict[str, dict[str, str | None]] = write.payload or {}
    for record in records_of_write(session, write.id):
        if record.state != AWAITING_CALLBACK or record.customer_id is None:
            continue
        customer = record.customer_id
        why = failures.get(customer) or failures.get("*")
        if why is not None:
            forget_cached_customer(session, record.site_id, customer)
            if retry_unapplied is not None:
                retry_or_fail(
                    session,
                    record.id,
                    record.attempts,
                    held=AWAITING,
                    error=why,
                    retryable=True,
                    config=retry_unapplied,
                    reason=record.reason,
                )
                continue
            settle(
                session,
                record.id,
                held=AWAITING,
                state=FAILED,
                outcome="failed",
                reason=record.reason,
                error=f"Optimove did not apply the change: {why}.",
                count_attempt=False,
            )
            continue
        if has_unsettled_write(session, record.id):
            continue  # part of the change went in another call, still unconfirmed
        patch_cached_customer(session, record.site_id, customer, written.get(customer, {}))
        if write.kind == "upsert":
            _remember_created(session, record.site_id, record.context, customer)
        outcome = "created" if write.kind == "upsert" else "updated"
        settle(
            session,
            record.id,
            held=AWAITING,
            state=DONE,
            outcome=outcome,
            reason=f"{record.reason} ({how})" if record.reason else how,
            count_attempt=False,
        )


def _remember_created(
    session: Session, site_id: int, context: dict[str, object], customer: str
) -> None:
    subject = ConversationContext.from_json(context)
    if subject.subject_kind and subject.subject_id:
        remember_link(session, site_id, subject.subject_kind, subject.subject_id, customer)
