"""the budget's lane of each Optimove call, an index on when calls were made, and when an agent
last asked the limiter for a slot

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-08 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("optimove_calls") as batch:
        batch.add_column(sa.Column("lane", sa.String(length=16), nullable=True))
    op.create_index("ix_optimove_calls_at", "optimove_calls", ["at"])
    with op.batch_alter_table("rate_limit_buckets") as batch:
        batch.add_column(
            sa.Column("agent_seen_us", sa.BigInteger(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("rate_limit_buckets") as batch:
        batch.drop_column("agent_seen_us")
    op.drop_index("ix_optimove_calls_at", table_name="optimove_calls")
    with op.batch_alter_table("optimove_calls") as batch:
        batch.drop_column("lane")
