"""Near copies record the specific-content agreement that decided them.

`similarity` holds the shingle score of a near copy; `specific_agreed` and
`specific_differed` hold how many of its specific tokens (figures, dates, names) agreed with
the article it joined, and how many template slots differed (`pipeline.stories`). Both are
NULL for a story's first article and for rows stored before this revision.

Revision ID: 0010
Revises: 0008
Create Date: 2026-12-06 04:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("articles") as batch:
        batch.add_column(sa.Column("specific_agreed", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("specific_differed", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("articles") as batch:
        batch.drop_column("specific_differed")
        batch.drop_column("specific_agreed")
