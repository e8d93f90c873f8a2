"""One sighting per (article, source, location), with first and last seen and a count.

Re-running one seed file, or a producer resending one article, added a sighting each time
(two POSTs put 10,000 on one article). Existing repeats are folded into the earliest row:
`seen_at` stays the first arrival, `last_seen_at` is the latest, `seen_count` how many
there were; then a unique index on the place keeps it so.

Revision ID: 0012
Revises: 0010
Create Date: 2026-12-06 03:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0010"
branch_labels = None
depends_on = None

_PLACE = "article_id, COALESCE(source_id, 0), COALESCE(location, '')"


def upgrade() -> None:
    with op.batch_alter_table("sightings") as batch:
        batch.add_column(sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("seen_count", sa.Integer(), nullable=False, server_default="1"))
    op.execute(
        f"""
        UPDATE sightings SET
            last_seen_at = (SELECT MAX(o.seen_at) FROM sightings o
                            WHERE o.article_id = sightings.article_id
                              AND COALESCE(o.source_id, 0) = COALESCE(sightings.source_id, 0)
                              AND COALESCE(o.location, '') = COALESCE(sightings.location, '')),
            seen_count = (SELECT COUNT(*) FROM sightings o
                          WHERE o.article_id = sightings.article_id
                            AND COALESCE(o.source_id, 0) = COALESCE(sightings.source_id, 0)
                            AND COALESCE(o.location, '') = COALESCE(sightings.location, ''))
        WHERE id IN (SELECT MIN(id) FROM sightings GROUP BY {_PLACE} HAVING COUNT(*) > 1)
        """
    )
    op.execute(
        f"DELETE FROM sightings WHERE id NOT IN (SELECT MIN(id) FROM sightings GROUP BY {_PLACE})"
    )
    op.execute(f"CREATE UNIQUE INDEX uq_sightings_place ON sightings ({_PLACE})")


def downgrade() -> None:
    op.execute("DROP INDEX uq_sightings_place")
    with op.batch_alter_table("sightings") as batch:
        batch.drop_column("seen_count")
        batch.drop_column("last_seen_at")
