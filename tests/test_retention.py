"""Tables that do not grow for ever (issue 20, item 7, in part): one sighting per
(article, source, location), with first and last seen, however often it arrives again."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, insert, select

from tests.factories import distinct_article
from tests.store import store_articles
from worker.storage.migrate import upgrade
from worker.storage.models import Article, Sighting, Source, utcnow


def _sightings(engine: Engine) -> list[Any]:
    with engine.connect() as connection:
        return connection.execute(
            select(
                Sighting.article_id,
                Sighting.location,
                Sighting.seen_at,
                Sighting.last_seen_at,
            ).order_by(Sighting.id)
        ).all()


class TestOneSightingPerPlace:
    def test_the_same_arrival_again_moves_last_seen(self, engine: Engine) -> None:
        """The same document from the same producer and URL, in two jobs, is one sighting
        whose first-seen time stays and whose last-seen time moves on."""
        document = {"body": distinct_article(1), "url": "https://a.example/1", "source": "p"}
        store_articles(engine, [document])
        ((_, _, first, last),) = _sightings(engine)
        assert first == last
        summary = store_articles(engine, [document])
        assert summary.duplicates == 1
        ((_, _, first_again, last_again),) = _sightings(engine)
        assert first_again == first and last_again >= last

    def test_many_copies_in_one_batch_are_one_sighting_per_location(self, engine: Engine) -> None:
        """500 copies of one text from one producer at one URL add one sighting; copies at
        other locations add one each."""
        body = distinct_article(2)
        same = [{"body": body, "url": "https://a.example/2", "source": "p"}] * 500
        elsewhere = [
            {"body": body, "extra": {"path": f"/mirror/{n}"}, "source": "p"} for n in range(3)
        ]
        summary = store_articles(engine, same + elsewhere)
        assert summary.received == 503 and summary.new == 1
        locations = [row.location for row in _sightings(engine)]
        assert sorted(locations) == sorted(
            ["https://a.example/2", "/mirror/0", "/mirror/1", "/mirror/2"]
        )


class TestMigrationFoldsRepeats:
    def test_0006_keeps_one_row_with_first_and_last_seen(self, tmp_path: Path) -> None:
        """Repeated sightings stored before 0006 become one row: the first one's time as
        seen_at, the latest as last_seen_at; other places keep their own row."""
        engine = create_engine(f"sqlite:///{tmp_path / 'old.db'}")
        upgrade(engine, "0004")
        now = utcnow()
        times = [datetime(2024, 5, day, tzinfo=UTC) for day in (1, 2, 3)]
        with engine.begin() as connection:
            connection.execute(
                insert(Source.__table__).values(
                    id=1, kind="producer", name="p", created_at=now, status="active",
                    enabled=True, error_count=0,
                )
            )  # fmt: skip
            connection.execute(
                insert(Article.__table__).values(
                    id=1, title="t", body="b", url=None, source_id=1, content_hash="h" * 64,
                    story_id=1, shingle_count=0, normalizer_version=1, raw=b"{}",
                    created_at=now, updated_at=now,
                )
            )  # fmt: skip
            for seen_at in times:
                connection.execute(
                    insert(Sighting.__table__).values(
                        article_id=1, source_id=1, location="/seeds/001.txt", seen_at=seen_at
                    )
                )
            connection.execute(
                insert(Sighting.__table__).values(
                    article_id=1, source_id=1, location="/seeds/002.txt", seen_at=times[1]
                )
            )
        upgrade(engine)
        rows = [(r.location, r.seen_at, r.last_seen_at) for r in _sightings(engine)]
        engine.dispose()
        assert rows == [
            ("/seeds/001.txt", times[0], times[2]),
            ("/seeds/002.txt", times[1], times[1]),
        ]
