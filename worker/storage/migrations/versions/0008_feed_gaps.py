"""Feeds: when a fetch last found none of the entries already seen (a gap), and why the
interval in force is what it is.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 03:35:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sources") as batch:
        batch.add_column(sa.Column("gap_detected_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("interval_reason", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sources") as batch:
        batch.drop_column("interval_reason")
        batch.drop_column("gap_detected_at")
