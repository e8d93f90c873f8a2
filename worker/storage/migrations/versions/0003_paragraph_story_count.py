"""Common paragraphs count distinct stories up to three (was: more than one), by article.

A paragraph seen in two stories is no longer left out of comparisons: when one story was
split in two, its own lead counted as "shared", and every later lead-only copy lost its
only text. `shared` now means three or more stories; rows already shared stay shared.
`story_id` becomes `article_id` (a story's id is its first article's, so the values stay
right), and the articles are read back as near-duplicate candidates.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 22:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("common_paragraphs") as batch:
        batch.alter_column("story_id", new_column_name="article_id")
        batch.add_column(sa.Column("other_article_id", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    op.execute("UPDATE common_paragraphs SET shared = TRUE WHERE other_article_id IS NOT NULL")
    with op.batch_alter_table("common_paragraphs") as batch:
        batch.drop_column("other_article_id")
        batch.alter_column("article_id", new_column_name="story_id")
