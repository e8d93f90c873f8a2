"""The `q` text search is answered from an index (Postgres GIN over tsvector, SQLite FTS5)
and still means "the title or body contains this text"."""

from __future__ import annotations

from sqlalchemy import Engine, select, text, update
from typer.testing import CliRunner

from tests.factories import STORY, distinct_article
from tests.store import store_articles
from worker.cli import app as cli
from worker.storage.models import Article, table_of
from worker.storage.session import get_engine
from worker.storage.text_search import matches_text

articles = table_of(Article)


def _found(engine: Engine, query: str) -> list[int]:
    with engine.connect() as connection:
        condition = matches_text(connection, query)
        return list(
            connection.execute(select(articles.c.id).where(condition).order_by(articles.c.id))
            .scalars()
            .all()
        )


class TestMeaning:
    def test_whole_words_any_case_in_title_or_body(self, engine: Engine) -> None:
        """A phrase of whole words is found in any case; words out of order or a wildcard
        character are not."""
        store_articles(engine, [{"body": STORY}, {"body": distinct_article(3)}])
        phrase = " ".join(STORY.split()[3:7])
        assert _found(engine, phrase.upper()) == [1]
        assert _found(engine, " ".join(reversed(phrase.split()))) == []
        assert _found(engine, "100%_") == []

    def test_changed_text_is_found_by_its_new_words(self, engine: Engine) -> None:
        """An article whose text is replaced is found by the new text, not the old."""
        store_articles(engine, [{"body": STORY}])
        with engine.begin() as connection:
            connection.execute(
                update(articles).values(title="Quokkas", body="Zanzibar quokka parliament")
            )
        assert _found(engine, "quokka parliament") == [1]
        assert _found(engine, " ".join(STORY.split()[3:7])) == []


class TestIndexed:
    def test_postgres_uses_the_gin_index(self, postgres_db: str) -> None:
        """Once `db text-index` has built it, the query's expression is the index's:
        Postgres can answer it from the index."""
        engine = get_engine()
        result = CliRunner().invoke(cli, ["db", "text-index"])
        assert result.exit_code == 0, result.output
        store_articles(engine, [{"body": distinct_article(n)} for n in range(20)])
        with engine.connect() as connection:
            connection.execute(text("SET enable_seqscan = off"))
            query = select(articles.c.id).where(matches_text(connection, "quokka parliament"))
            plan = "\n".join(
                row[0]
                for row in connection.execute(
                    text(
                        "EXPLAIN "
                        + str(query.compile(connection, compile_kwargs={"literal_binds": True}))
                    )
                )
            )
        assert "ix_articles_text_search" in plan

    def test_sqlite_uses_the_fts_table(self, sqlite_db: str) -> None:
        """On SQLite the words are looked up in the FTS5 table."""
        engine = get_engine()
        store_articles(engine, [{"body": distinct_article(n)} for n in range(5)])
        with engine.connect() as connection:
            query = select(articles.c.id).where(matches_text(connection, "quokka parliament"))
            compiled = query.compile(connection, compile_kwargs={"literal_binds": True})
            plan = " ".join(
                str(row[-1])
                for row in connection.execute(text("EXPLAIN QUERY PLAN " + str(compiled)))
            )
        assert "VIRTUAL TABLE INDEX" in plan and "articles_text" in plan
