"""Full text and metadata of feed articles: the feed's own text when the body came from
the page, where the body came from, why a page was not used, language, authors, tags and
an image; and each feed's full-text mode.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 03:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("articles") as batch:
        batch.add_column(sa.Column("summary", sa.Text(), nullable=True))
        batch.add_column(sa.Column("body_source", sa.String(8), nullable=True))
        batch.add_column(sa.Column("full_text_error", sa.Text(), nullable=True))
        batch.add_column(sa.Column("language", sa.String(16), nullable=True))
        batch.add_column(sa.Column("authors", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("tags", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("image_url", sa.Text(), nullable=True))
    op.create_index("ix_articles_language", "articles", ["language"])
    with op.batch_alter_table("sources") as batch:
        batch.add_column(sa.Column("full_text", sa.String(8), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sources") as batch:
        batch.drop_column("full_text")
    op.drop_index("ix_articles_language", table_name="articles")
    with op.batch_alter_table("articles") as batch:
        for column in (
            "image_url", "tags", "authors", "language", "full_text_error", "body_source",
            "summary",
        ):  # fmt: skip
            batch.drop_column(column)
