"""the Comm100 OAuth client secret, sealed beside the settings (Comm100 sign-in)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("site_settings", schema=None) as batch_op:
        batch_op.add_column(sa.Column("comm100_oauth_secret_enc", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("site_settings", schema=None) as batch_op:
        batch_op.drop_column("comm100_oauth_secret_enc")
