"""Common paragraphs: footers and disclaimers shared by several stories.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 20:45:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "common_paragraphs",
        sa.Column("paragraph_hash", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("story_id", sa.BigInteger(), nullable=False),
        sa.Column("shared", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("paragraph_hash"),
    )


def downgrade() -> None:
    op.drop_table("common_paragraphs")
