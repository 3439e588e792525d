"""backfills, and the conversation each sync record concludes

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# The events acted on, and the id (in `comm100_ids`) of the conversation each concludes.
_CONVERSATIONS = (
    ("chat_ended", "chat_id", "chat"),
    ("offline_message_submitted", "offline_message_id", "offline_message"),
    ("ticket_created", "ticket_id", "ticket"),
)


def upgrade() -> None:
    op.create_table(
        "backfills",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("site_id", sa.BigInteger(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("cursor", sa.JSON(), nullable=False),
        sa.Column("listed", sa.Integer(), nullable=False),
        sa.Column("skipped", sa.Integer(), nullable=False),
        sa.Column("already_synced", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("active_s", sa.Float(), nullable=False),
        sa.Column("running_since", sa.Float(), nullable=True),
        sa.Column("next_step_at", sa.Float(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("claimed_by", sa.String(length=100), nullable=True),
        sa.Column("lease_until", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(["site_id"], ["sites.site_id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("backfills", schema=None) as batch_op:
        batch_op.create_index("ix_backfills_site", ["site_id", "id"], unique=False)
        batch_op.create_index(batch_op.f("ix_backfills_state"), ["state"], unique=False)

    with op.batch_alter_table("sync_records", schema=None) as batch_op:
        batch_op.add_column(sa.Column("conversation_key", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("backfill_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_foreign_key(
            "fk_sync_records_backfill_id_backfills",
            "backfills",
            ["backfill_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch_op.create_index(
            batch_op.f("ix_sync_records_backfill_id"), ["backfill_id"], unique=False
        )
        batch_op.create_index(
            "ix_sync_records_conversation", ["site_id", "conversation_key"], unique=False
        )

    # Records received before: the conversation each concludes, from its Comm100 ids, so a
    # backfill over their period finds them.
    sqlite = op.get_bind().dialect.name == "sqlite"
    for event, id_key, kind in _CONVERSATIONS:
        value = (
            f"json_extract(comm100_ids, '$.{id_key}')"
            if sqlite
            else f"CAST(comm100_ids AS json)->>'{id_key}'"
        )
        op.execute(
            sa.text(
                f"UPDATE sync_records SET conversation_key = '{kind}:' || ({value}) "  # noqa: S608
                f"WHERE event = :event AND ({value}) IS NOT NULL"
            ).bindparams(event=event)
        )


def downgrade() -> None:
    with op.batch_alter_table("sync_records", schema=None) as batch_op:
        batch_op.drop_index("ix_sync_records_conversation")
        batch_op.drop_index(batch_op.f("ix_sync_records_backfill_id"))
        batch_op.drop_constraint("fk_sync_records_backfill_id_backfills", type_="foreignkey")
        batch_op.drop_column("occurred_at")
        batch_op.drop_column("backfill_id")
        batch_op.drop_column("conversation_key")
    with op.batch_alter_table("backfills", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_backfills_state"))
        batch_op.drop_index("ix_backfills_site")
    op.drop_table("backfills")
