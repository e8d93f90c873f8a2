"""The article text search behind `q` (API `GET /articles`, `news-ingest articles --q`),
answered from an index: a GIN index over `to_tsvector('simple', ...)` on Postgres, an FTS5
table on SQLite (migration 0013). The words of `q` are found as a phrase (whole words, in
order, case-insensitive) through the index, then the text is checked to contain `q` as
written, so the answer is what a plain "contains" would give for whole-word queries, without
scanning every body."""

from __future__ import annotations

import re

from sqlalchemy import (
    ColumnElement,
    Connection,
    Integer,
    Select,
    and_,
    func,
    literal_column,
    or_,
    select,
    text,
)

from worker.storage.models import Article, table_of

__all__ = ["INDEXED_CHARS", "MIGRATION_ONLY", "create_postgres_index", "matches_text"]

# What migration 0013 builds outside the models (an expression index, an FTS5 table and the
# tables SQLite keeps for it): schema comparisons leave these out.
MIGRATION_ONLY = frozenset(
    {"ix_articles_text_search", "articles_text"}
    | {f"articles_text_{part}" for part in ("data", "idx", "docsize", "config", "content")}
)

articles = table_of(Article)

# Postgres indexes the first this many characters of title and body (a tsvector holds at
# most 1 MB, and a longer article is found by its start). The expression is the index's.
INDEXED_CHARS = 200_000
_PG_DOCUMENT = f"left(title || ' ' || body, {INDEXED_CHARS})"
_WORD = re.compile(r"\w+")


def matches_text(connection: Connection, query: str) -> ColumnElement[bool]:
    """A condition on `articles`: the title or body contains `query` (case-insensitive)."""
    contains = or_(
        articles.c.title.icontains(query, autoescape=True),
        articles.c.body.icontains(query, autoescape=True),
    )
    words = _WORD.findall(query)
    if not words:
        return contains  # nothing the index knows: a plain scan
    if connection.dialect.name == "postgresql":
        phrase = func.to_tsvector(
            literal_column("'simple'::regconfig"), literal_column(_PG_DOCUMENT)
        ).op("@@")(func.phraseto_tsquery(literal_column("'simple'::regconfig"), " ".join(words)))
        return and_(phrase, contains)
    fts_phrase = '"' + " ".join(words) + '"'
    found: Select[int] = (
        select(literal_column("rowid", Integer))
        .select_from(text("articles_text"))
        .where(text("articles_text MATCH :fts_phrase").bindparams(fts_phrase=fts_phrase))
    )
    return and_(articles.c.id.in_(found), contains)


def create_postgres_index(connection: Connection) -> None:
    """Build the Postgres GIN index `q` searches use (`news-ingest db text-index`), without
    blocking writes. Opt-in: it makes every article insert costlier (migration 0013). The
    connection must be in autocommit mode (CREATE INDEX CONCURRENTLY)."""
    connection.execute(
        text(
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_articles_text_search ON articles "
            f"USING gin (to_tsvector('simple'::regconfig, {_PG_DOCUMENT}))"
        )
    )
