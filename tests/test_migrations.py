"""Alembic migrations: they build what the models declare, and carry data across."""

from __future__ import annotations

import warnings
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, text

from worker.storage.migrate import alembic_config, upgrade
from worker.storage.models import Base
from worker.storage.text_search import MIGRATION_ONLY

# SQLAlchemy cannot reflect SQLite's expression indexes (it warns and skips them): there
# they are checked by name instead (`test_sqlite_has_the_expression_indexes`).
EXPRESSION_INDEXES = {"uq_sightings_place"}


def _differences(url: str) -> list:
    engine = create_engine(url)
    sqlite = engine.dialect.name == "sqlite"

    def include(
        obj: object, name: str | None, kind: str, reflected: bool, compare_to: object
    ) -> bool:
        if name in MIGRATION_ONLY:
            return False
        return not (sqlite and kind == "index" and name in EXPRESSION_INDEXES)

    try:
        with engine.connect() as connection, warnings.catch_warnings():
            if sqlite:
                warnings.filterwarnings(
                    "ignore", "Skipped unsupported reflection of expression-based index"
                )
                warnings.filterwarnings("ignore", "autogenerate skipping metadata-specified")
            context = MigrationContext.configure(
                connection, opts={"compare_type": True, "include_object": include}
            )
            return compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()


def test_sqlite_has_the_expression_indexes(tmp_path: Path) -> None:
    """The unique indexes built on expressions exist on SQLite too, unique."""
    engine = create_engine(f"sqlite:///{tmp_path / 'news.db'}")
    upgrade(engine)
    with engine.connect() as connection:
        found = {
            row[1]: row[2] for row in connection.execute(text("PRAGMA index_list('sightings')"))
        }
    engine.dispose()
    assert {name: found.get(name) for name in EXPRESSION_INDEXES} == {"uq_sightings_place": 1}


def test_postgres_schema_at_head_matches_the_models(pg_url: str) -> None:
    """The session database was built by the migrations alone: no drift from the models."""
    assert _differences(pg_url) == []


def test_sqlite_schema_at_head_matches_the_models(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'news.db'}"
    engine = create_engine(url)
    upgrade(engine)
    engine.dispose()
    assert _differences(url) == []


def test_0003_keeps_paragraph_rows_and_their_sharing(tmp_path: Path) -> None:
    """Rows written under 0002 (story_id, shared meaning 2+ stories) survive 0003 and its
    downgrade: the story id (its first article's id) becomes article_id, shared stays."""
    from alembic import command

    engine = create_engine(f"sqlite:///{tmp_path / 'news.db'}")
    upgrade(engine, "0002")
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO common_paragraphs (paragraph_hash, story_id, shared) "
                "VALUES (1, 10, 0), (2, 20, 1)"
            )
        )
    upgrade(engine, "0003")
    with engine.begin() as connection:
        rows = connection.execute(
            text(
                "SELECT paragraph_hash, article_id, other_article_id, shared "
                "FROM common_paragraphs ORDER BY 1"
            )
        ).all()
        assert [tuple(row) for row in rows] == [(1, 10, None, 0), (2, 20, None, 1)]
        connection.execute(
            text("UPDATE common_paragraphs SET other_article_id = 11 WHERE paragraph_hash = 1")
        )
    command.downgrade(alembic_config(engine), "0002")
    with engine.connect() as connection:
        rows = connection.execute(
            text("SELECT paragraph_hash, story_id, shared FROM common_paragraphs ORDER BY 1")
        ).all()
    engine.dispose()
    assert [tuple(row) for row in rows] == [
        (1, 10, 1),
        (2, 20, 1),
    ]  # two stories: shared under 0002


def test_postgres_article_text_is_compressed_with_lz4(pg_url: str) -> None:
    """Migration 0004: lz4 for the wide text columns, where the server supports it."""
    engine = create_engine(pg_url)
    try:
        with engine.connect() as connection:
            supported = connection.execute(
                text(
                    "SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'"
                )
            ).scalar()
            methods = dict(
                connection.execute(
                    text(
                        "SELECT attrelid::regclass::text || '.' || attname, attcompression FROM pg_attribute "
                        "WHERE (attrelid, attname) IN (('articles'::regclass, 'body'), ('articles'::regclass, 'raw'),"
                        " ('article_revisions'::regclass, 'body'), ('rejects'::regclass, 'raw'))"
                    )
                ).all()
            )
    finally:
        engine.dispose()
    assert len(methods) == 4
    assert set(methods.values()) == ({"l"} if supported else {""})
