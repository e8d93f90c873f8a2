"""Hostile batches: the input a part is working on, the inputs that killed its worker, and
the feed entries rejected once (so the next fetch does not bring them back).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06 03:50:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ingest_job_parts") as batch:
        batch.add_column(sa.Column("current_input", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("current_input_attempt", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("poisoned_inputs", sa.JSON(), nullable=True))
    op.create_table(
        "feed_entry_rejects",
        sa.Column(
            "source_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("guid_key", sa.String(length=64), nullable=False),
        sa.Column("content_key", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["source_id"], ["sources.id"]),
        sa.PrimaryKeyConstraint("source_id", "guid_key", "content_key"),
    )


def downgrade() -> None:
    op.drop_table("feed_entry_rejects")
    with op.batch_alter_table("ingest_job_parts") as batch:
        batch.drop_column("poisoned_inputs")
        batch.drop_column("current_input_attempt")
        batch.drop_column("current_input")
