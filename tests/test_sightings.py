"""Sightings: one row per (article, source, location), however often it arrives."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, select, text
from typer.testing import CliRunner

from tests.factories import STORY, distinct_article
from tests.store import store_articles
from worker.cli import app as cli
from worker.storage.migrate import upgrade
from worker.storage.models import Sighting, table_of

sightings = table_of(Sighting)


def _sightings(engine: Engine) -> list[Any]:
    with engine.connect() as connection:
        return list(connection.execute(select(sightings).order_by(sightings.c.id)))


class TestOnePerPlace:
    def test_a_resent_article_updates_its_sighting(self, engine: Engine) -> None:
        """The same producer article sent three times is one sighting seen three times, its
        first and last arrival kept apart."""
        document = {"body": STORY, "source": "wire-x", "url": "https://example.com/a", "guid": "a1"}
        for _ in range(3):
            store_articles(engine, [document])
        rows = _sightings(engine)
        assert len(rows) == 1
        assert rows[0].seen_count == 3
        assert rows[0].last_seen_at is not None and rows[0].last_seen_at >= rows[0].seen_at

    def test_a_repeat_names_its_job_and_keeps_a_known_guid(self, engine: Engine) -> None:
        """A repeat names the last job that saw it; one without a guid keeps the guid stored,
        one with a guid replaces it, for each of several places updated at once."""
        documents = [
            {"body": distinct_article(n), "source": "wire-x", "url": f"https://example.com/{n}"}
            for n in (11, 12, 13)
        ]
        store_articles(engine, [{**d, "guid": f"g{n}"} for n, d in enumerate(documents)])
        store_articles(engine, [documents[0], {**documents[1], "guid": "g-new"}, documents[2]])
        last = store_articles(engine, [documents[0], documents[1]])
        assert last.duplicates == 2
        with engine.connect() as connection:
            job_ids = [row.id for row in connection.execute(text("SELECT id FROM ingest_jobs"))]
        rows = _sightings(engine)
        assert [(row.guid, row.seen_count) for row in rows] == [("g0", 3), ("g-new", 3), ("g2", 2)]
        assert rows[0].job_id == rows[1].job_id != rows[2].job_id
        assert {rows[0].job_id, rows[2].job_id} <= set(job_ids)
        assert all(row.last_seen_at > row.seen_at for row in rows)

    def test_repeats_inside_one_batch_fold_too(self, engine: Engine) -> None:
        """Two copies of one article at one place in one batch make one sighting of two."""
        document = {"body": distinct_article(7), "source": "wire-x", "url": "https://example.com/b"}
        store_articles(engine, [document, dict(document)])
        rows = _sightings(engine)
        assert [(row.location, row.seen_count) for row in rows] == [("https://example.com/b", 2)]

    def test_other_places_are_other_sightings(self, engine: Engine) -> None:
        """The same text from two sources (or two URLs) is one article seen at two places."""
        store_articles(engine, [{"body": STORY, "source": "wire-x"}])
        store_articles(engine, [{"body": STORY, "source": "wire-y"}])
        rows = _sightings(engine)
        assert len({row.article_id for row in rows}) == 1
        assert len(rows) == 2

    def test_rerunning_a_seed_file(self, sqlite_db: str, tmp_path: Path) -> None:
        """`news-ingest run` of one seed directory three times leaves one sighting per file."""
        seeds = tmp_path / "seeds"
        seeds.mkdir()
        (seeds / "001_a.txt").write_text(f"date 2024-05-01 {STORY}", encoding="utf-8")
        for _ in range(3):
            result = CliRunner().invoke(cli, ["run", str(seeds), "--json"])
            assert result.exit_code == 0, result.output
        assert json.loads(result.stdout.strip().splitlines()[-1])["duplicates"] == 1
        rows = _sightings(create_engine(sqlite_db))
        assert [row.seen_count for row in rows] == [3]


class TestMigration:
    def test_existing_repeats_are_folded(self, tmp_path: Path) -> None:
        """Repeated sightings stored before 0012 become one row: first seen, last seen and
        the count survive."""
        engine = create_engine(f"sqlite:///{tmp_path / 'news.db'}")
        upgrade(engine, "0004")
        with engine.begin() as connection:  # SQLite does not enforce the article's key
            connection.execute(
                text(
                    "INSERT INTO sightings (article_id, source_id, location, seen_at) VALUES "
                    "(1, NULL, 'a.txt', '2024-01-01 00:00:00'), "
                    "(1, NULL, 'a.txt', '2024-01-03 00:00:00'), "
                    "(1, NULL, 'a.txt', '2024-01-02 00:00:00'), "
                    "(1, NULL, 'b.txt', '2024-01-05 00:00:00')"
                )
            )
        upgrade(engine)
        with engine.connect() as connection:
            rows = connection.execute(
                text(
                    "SELECT location, seen_at, last_seen_at, seen_count FROM sightings "
                    "ORDER BY location"
                )
            ).all()
        engine.dispose()
        assert [(row[0], row[1][:10], (row[2] or "")[:10], row[3]) for row in rows] == [
            ("a.txt", "2024-01-01", "2024-01-03", 3),
            ("b.txt", "2024-01-05", "", 1),
        ]
