"""`news-ingest renormalize`: stored raw input normalized again, in place, never duplicated."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import Engine, func, select, update
from typer.testing import CliRunner

from tests.factories import STORY, distinct_article
from tests.store import store_articles
from worker.cli import app as cli
from worker.pipeline.identity import content_hash
from worker.pipeline.normalize import NORMALIZER_VERSION
from worker.services.renormalize import renormalize
from worker.storage.articles import pack_raw
from worker.storage.models import Article, ArticleRevision, OutboxEvent, StoryBand


def count(engine: Engine, model: type) -> int:
    with engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(model)).scalar_one()


def article(engine: Engine, article_id: int) -> dict:  # type: ignore[type-arg]
    with engine.connect() as connection:
        return dict(
            connection.execute(select(Article.__table__).where(Article.id == article_id))
            .mappings()
            .one()
        )


def as_if_older_normalizer(engine: Engine, article_id: int, **values: object) -> None:
    """Make a stored article look like an earlier normalizer's output."""
    if "body" in values:
        values["content_hash"] = content_hash(str(values["body"]))
    with engine.begin() as connection:
        connection.execute(
            update(Article)
            .where(Article.id == article_id)
            .values(normalizer_version=NORMALIZER_VERSION - 1, **values)
        )


@pytest.fixture
def stored(engine: Engine) -> list[int]:
    """Three distinct articles, normalized by the current normalizer."""
    store_articles(
        engine,
        [
            {"body": STORY, "url": "https://x.example/a?utm_source=x"},
            {"body": distinct_article(1), "published_at": "2024-05-01T12:00:00+02:00"},
            {"body": distinct_article(2)},
        ],
    )
    with engine.connect() as connection:
        return list(connection.execute(select(Article.id).order_by(Article.id)).scalars())


class TestRenormalize:
    def test_older_text_is_replaced_in_place_and_kept_as_a_revision(
        self, engine: Engine, stored: list[int]
    ) -> None:
        """An article an older normalizer left boilerplate in gets the clean text back; the
        old text becomes a revision and an article.updated event; no article is added."""
        clean = article(engine, stored[0])
        as_if_older_normalizer(
            engine,
            stored[0],
            body=clean["body"] + "\n\nAdvertisement",
            title="Old title",
            url="https://x.example/a?utm_source=x",
        )
        as_if_older_normalizer(engine, stored[1])

        summary = renormalize(engine=engine, batch_size=1)

        assert (
            summary.examined,
            summary.updated,
            summary.unchanged,
            summary.conflicts,
            summary.failed,
        ) == (2, 1, 1, 0, 0)
        now = article(engine, stored[0])
        assert (now["body"], now["title"], now["url"], now["content_hash"]) == (
            clean["body"],
            clean["title"],
            clean["url"],
            clean["content_hash"],
        )
        assert now["normalizer_version"] == NORMALIZER_VERSION
        assert article(engine, stored[1])["normalizer_version"] == NORMALIZER_VERSION
        assert count(engine, Article) == 3
        with engine.connect() as connection:
            revision = connection.execute(select(ArticleRevision.__table__)).mappings().one()
            events = (
                connection.execute(
                    select(OutboxEvent.idempotency_key).where(
                        OutboxEvent.event_type == "article.updated"
                    )
                )
                .scalars()
                .all()
            )
        assert revision["article_id"] == stored[0]
        assert revision["body"].endswith("Advertisement") and revision["title"] == "Old title"
        assert events == [f"article.updated:{stored[0]}:{clean['content_hash'][:16]}"]

    def test_a_second_run_finds_nothing_to_do(self, engine: Engine, stored: list[int]) -> None:
        """Renormalizing is idempotent: articles at the current version are left alone."""
        as_if_older_normalizer(engine, stored[2], body="stale text")
        assert renormalize(engine=engine).updated == 1
        assert renormalize(engine=engine).examined == 0

    def test_text_that_belongs_to_another_article_is_a_conflict(
        self, engine: Engine, stored: list[int]
    ) -> None:
        """When the new text is another article's, the article is left as it was and counted."""
        with engine.begin() as connection:
            raw_of_first = connection.execute(
                select(Article.raw).where(Article.id == stored[0])
            ).scalar_one()
        before = article(engine, stored[1])
        as_if_older_normalizer(engine, stored[1], raw=raw_of_first)

        summary = renormalize(engine=engine)

        assert (summary.conflicts, summary.updated) == (1, 0)
        after = article(engine, stored[1])
        assert (after["body"], after["content_hash"]) == (before["body"], before["content_hash"])
        assert after["normalizer_version"] == NORMALIZER_VERSION - 1  # tried again next run
        assert count(engine, Article) == 3 and count(engine, ArticleRevision) == 0

    def test_raw_input_the_normalizer_now_rejects_is_left_and_counted(
        self, engine: Engine, stored: list[int]
    ) -> None:
        """An article whose raw input normalizes to nothing keeps its text."""
        before = article(engine, stored[2])["body"]
        as_if_older_normalizer(engine, stored[2], raw=pack_raw(json.dumps({"body": " \n "})))
        assert renormalize(engine=engine).failed == 1
        assert article(engine, stored[2])["body"] == before

    @pytest.mark.parametrize(
        "damage", [b"\x28\xb5\x2f\xfd" + b"\x00" * 12, b"not json"], ids=["zstd", "zlib"]
    )
    def test_damaged_raw_input_is_left_and_counted(
        self, engine: Engine, stored: list[int], damage: bytes
    ) -> None:
        """Stored raw bytes that no longer decompress leave the article as it is."""
        before = article(engine, stored[0])["body"]
        as_if_older_normalizer(engine, stored[0], raw=damage)
        assert renormalize(engine=engine).failed == 1
        assert article(engine, stored[0])["body"] == before

    def test_all_reprocesses_current_articles_and_refreshes_the_index(
        self, engine: Engine, stored: list[int]
    ) -> None:
        """--all looks at every article; a changed signature adds its band keys."""
        with engine.begin() as connection:
            connection.execute(
                update(Article)
                .where(Article.id == stored[1])
                .values(signature=b"", shingle_count=0)
            )
            connection.execute(
                StoryBand.__table__.delete().where(StoryBand.article_id == stored[1])
            )
        summary = renormalize(engine=engine, everything=True)
        assert (summary.examined, summary.unchanged, summary.updated) == (3, 3, 0)
        restored = article(engine, stored[1])
        assert restored["signature"] and restored["shingle_count"] > 0
        with engine.connect() as connection:
            assert (
                connection.execute(
                    select(func.count())
                    .select_from(StoryBand)
                    .where(StoryBand.article_id == stored[1])
                ).scalar_one()
                > 0
            )

    def test_a_resketch_keeps_the_keys_already_owned(self, engine: Engine) -> None:
        """Re-sketching articles whose band keys are indexed (their own, or taken first by a
        copy) adds only the free keys: no article is lost to a key conflict."""
        store_articles(
            engine,
            [
                {"body": STORY},
                {"body": STORY + "\n\nThe vote is on Friday."},
                {"body": distinct_article(3)},
            ],
        )
        with engine.begin() as connection:
            connection.execute(update(Article).values(signature=b"stale", shingle_count=1))
            bands_before = connection.execute(
                select(func.count()).select_from(StoryBand)
            ).scalar_one()
            connection.execute(
                StoryBand.__table__.delete().where(
                    StoryBand.band_key == select(func.min(StoryBand.band_key)).scalar_subquery()
                )
            )
        summary = renormalize(engine=engine, everything=True)
        assert (summary.examined, summary.unchanged, summary.conflicts) == (3, 3, 0)
        assert all(article(engine, n)["shingle_count"] > 1 for n in (1, 2, 3))
        assert count(engine, StoryBand) == bands_before  # the deleted key is back

    def test_cli_prints_the_counts_as_json(self, engine: Engine, stored: list[int]) -> None:
        """`news-ingest renormalize --json` prints one document with the counts."""
        as_if_older_normalizer(engine, stored[0], title="Old title")
        result = CliRunner().invoke(cli, ["renormalize", "--json"])
        assert result.exit_code == 0, result.output
        # (unconfigured structlog prints to stdout under CliRunner; `main` sends logs to stderr)
        assert json.loads(result.stdout.splitlines()[-1]) == {
            "examined": 1,
            "updated": 1,
            "unchanged": 0,
            "conflicts": 0,
            "failed": 0,
            "skipped": 0,
            "normalizer_version": NORMALIZER_VERSION,
        }
