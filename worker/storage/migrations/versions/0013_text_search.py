"""Index the article text for `q` searches (worker/storage/text_search.py).

Postgres: nothing here. A GIN index over `to_tsvector('simple', ...)` of the title and the
start of the body made a COPY of the stored article rows 7x slower and the Celery ingest half
as fast (bench/ingest_bench.py, 5,000 articles: 1,546/1,728 against 870/784 art/s), so it is
the operator's choice: `news-ingest db text-index` builds it (CONCURRENTLY), and `q` uses it
when it is there (worker/storage/text_search.py). SQLite: an FTS5 table
(unicode61 words, diacritics folded) kept by triggers, holding no copy of the text
(`content='articles'`). Without it every `q` read every body. Measured on 3,000 seed files
with `news-ingest run`: the FTS5 table adds ~28% to the SQLite file and no ingest time
beyond the noise (a trigram table cost 2.4x the file and ~2x the time).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 03:40:00
"""

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

_SQLITE = [
    "CREATE VIRTUAL TABLE articles_text USING fts5(title, body, content='articles', "
    "content_rowid='id', tokenize='unicode61 remove_diacritics 2')",
    "INSERT INTO articles_text(articles_text) VALUES ('rebuild')",
    "CREATE TRIGGER articles_text_insert AFTER INSERT ON articles BEGIN "
    "INSERT INTO articles_text(rowid, title, body) VALUES (new.id, new.title, new.body); END",
    "CREATE TRIGGER articles_text_delete AFTER DELETE ON articles BEGIN "
    "INSERT INTO articles_text(articles_text, rowid, title, body) "
    "VALUES ('delete', old.id, old.title, old.body); END",
    "CREATE TRIGGER articles_text_update AFTER UPDATE OF title, body ON articles BEGIN "
    "INSERT INTO articles_text(articles_text, rowid, title, body) "
    "VALUES ('delete', old.id, old.title, old.body); "
    "INSERT INTO articles_text(rowid, title, body) VALUES (new.id, new.title, new.body); END",
]


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        return  # opt-in: `news-ingest db text-index`
    for statement in _SQLITE:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_articles_text_search")
        return
    for trigger in ("insert", "delete", "update"):
        op.execute(f"DROP TRIGGER articles_text_{trigger}")
    op.execute("DROP TABLE articles_text")
