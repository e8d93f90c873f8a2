"""Workers racing on copies of the same stories still make one story each (Postgres)."""

from __future__ import annotations

import multiprocessing
import os

import pytest
from sqlalchemy import func, select

from tests.factories import distinct_article
from worker.storage.models import Article, Sighting

RACERS = 6
STORIES = 20


def _copy(story: int, racer: int) -> str:
    """Racer-specific near copy of a story: a dateline, one changed sentence, a dropped end."""
    paragraphs = distinct_article(1000 + story, sentences=15).split("\n\n")
    if racer % 2:
        paragraphs = paragraphs[:-1]
    paragraphs[0] = f"CITY {racer} (Wire) - " + paragraphs[0].replace(
        " on day ", f" on day {racer}", 1
    )
    return "\n\n".join(paragraphs)


def _race(database_url: str, racer: int, barrier) -> None:  # type: ignore[no-untyped-def]
    os.environ["DATABASE_URL"] = database_url
    from worker.services import jobs as job_service
    from worker.services import parts as part_service
    from worker.storage.session import get_engine

    engine = get_engine(database_url)
    job_id = job_service.create_job(engine=engine)
    (part,) = job_service.add_article_parts(
        engine=engine,
        job_id=job_id,
        batch_size=STORIES,
        documents=[
            {"body": _copy(story, racer), "source": f"racer-{racer}", "extra": {"story": story}}
            for story in range(STORIES)
        ],
    )
    job_service.seal_job(engine=engine, job_id=job_id)
    barrier.wait(timeout=60)
    part_service.run_part(engine=engine, job_id=job_id, part_no=part)


@pytest.mark.slow
class TestConcurrentWorkers:
    def test_racing_copies_make_one_story_each(self, postgres_db: str) -> None:
        """Six processes storing copies of the same 20 stories at once leave 20 stories."""
        context = multiprocessing.get_context("spawn")
        barrier = context.Barrier(RACERS)
        racers = [
            context.Process(target=_race, args=(postgres_db, racer, barrier))
            for racer in range(RACERS)
        ]
        for process in racers:
            process.start()
        for process in racers:
            process.join(timeout=120)
        assert [process.exitcode for process in racers] == [0] * RACERS

        from worker.storage.session import get_engine

        engine = get_engine(postgres_db)
        with engine.connect() as connection:
            articles = connection.execute(select(func.count()).select_from(Article)).scalar_one()
            stories = connection.execute(
                select(func.count(func.distinct(Article.story_id)))
            ).scalar_one()
            sightings = connection.execute(select(func.count()).select_from(Sighting)).scalar_one()
            roots = connection.execute(
                select(func.count()).select_from(Article).where(Article.duplicate_of.is_(None))
            ).scalar_one()
        assert sightings == RACERS * STORIES
        assert articles == RACERS * STORIES  # every copy differs: each is its own article
        assert stories == STORIES
        assert roots == STORIES
