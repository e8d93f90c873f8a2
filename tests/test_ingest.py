"""The ingest path end to end (services and storage, no broker), on SQLite and Postgres."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import func, select

from schemas import IngestSummary, RawArticle
from tests.factories import STORY, distinct_article
from worker.pipeline import dedup
from worker.pipeline.normalize import fingerprint_text
from worker.services import jobs as job_service
from worker.services import parts as part_service
from worker.settings import get_settings
from worker.storage.models import Article, ArticleRevision, IngestJob, Reject, Sighting, StoryBand

NOTICE = (
    "Copyright Pacific Wire News. All rights reserved. This story may not be published, "
    "broadcast, rewritten or redistributed in any form without the prior written consent of "
    "the agency, which accepts no responsibility for the accuracy of content supplied by "
    "third parties."
)


def ingest_documents(engine, documents: list[dict], batch_size: int = 100) -> dict:
    """Run the documents through a job, in process, and return the job row."""
    job_id = job_service.create_job(engine=engine)
    job_service.add_article_parts(
        engine=engine,
        job_id=job_id,
        documents=documents,
        batch_size=batch_size,
        send_part=lambda job, part, _kind: part_service.run_part(
            engine=engine, job_id=job, part_no=part
        ),
    )
    job_service.seal_job(engine=engine, job_id=job_id)
    with engine.connect() as connection:
        return dict(
            connection.execute(select(IngestJob.__table__).where(IngestJob.id == job_id))
            .mappings()
            .one()
        )


def _reword(text: str, sentences: int) -> str:
    """Change a word in every sentence of a distinct_article text and two words in the
    first `sentences` sentences. Its figures stay: a copy with every figure changed is another
    issue of a template, not an edited copy (`tests/test_stories.py`)."""
    bumped = re.sub(r" on day (\d+)", r" upon day \1", text)
    return bumped.replace(" office near the ", " bureau by the ", sentences)


def _measure(shorter: str, longer: str) -> dedup.Similarity:
    """Similarity of two texts, with the share of the shorter found at the start of the
    longer."""
    mine = dedup.shingles(fingerprint_text(shorter), size=4)
    measured = dedup.similarity(mine, dedup.shingles(fingerprint_text(longer), size=4))
    return replace(
        measured,
        leading=dedup.leading_containment(
            mine, dedup.shingles_in_order(fingerprint_text(longer), size=4)
        ),
    )


def count(engine, model) -> int:
    with engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(model.__table__)).scalar_one()


def write_seed(directory: Path, name: str, text: str | bytes) -> Path:
    path = directory / name
    path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    return path


class TestSeedJobs:
    def test_seed_directory_is_stored_once(self, engine, seed_dir: Path) -> None:
        """A second run over the same seeds stores nothing new: every file is a duplicate."""
        for _ in range(2):
            job_id = job_service.create_job(engine=engine)
            job_service.add_seed_parts(
                engine=engine,
                job_id=job_id,
                paths=[seed_dir],
                batch_size=10,
                send_part=lambda job, part, _k: part_service.run_part(
                    engine=engine, job_id=job, part_no=part
                ),
            )
            job_service.seal_job(engine=engine, job_id=job_id)
        with engine.connect() as connection:
            jobs = (
                connection.execute(select(IngestJob.__table__).order_by(IngestJob.created_at))
                .mappings()
                .all()
            )
        assert [(j["received"], j["new"], j["duplicates"], j["status"]) for j in jobs] == [
            (1, 1, 0, "done"),
            (1, 0, 1, "done"),
        ]
        assert count(engine, Article) == 1
        # one place (the file), seen twice: one sighting with its count
        with engine.connect() as connection:
            seen = connection.execute(select(Sighting.seen_count)).scalars().all()
        assert seen == [2]

    def test_bad_files_are_rejected_and_the_rest_goes_on(self, engine, tmp_path: Path) -> None:
        """Empty, binary and date-less files: rejects keep the reason, the good file is stored."""
        write_seed(tmp_path, "001_good.txt", " date 2024-01-02 " + STORY)
        write_seed(tmp_path, "002_empty.txt", "")
        write_seed(tmp_path, "003_binary.txt", b"\x00\x01\x02\xff" * 100)
        write_seed(tmp_path, "004_nodate.txt", STORY.replace("council", "board"))
        write_seed(
            tmp_path, "005_baddate.txt", " date 2024-02-30 " + STORY.replace("mayor", "governor")
        )
        job_id = job_service.create_job(engine=engine)
        job_service.add_seed_parts(
            engine=engine,
            job_id=job_id,
            paths=[tmp_path],
            batch_size=2,
            send_part=lambda job, part, _k: part_service.run_part(
                engine=engine, job_id=job, part_no=part
            ),
        )
        job_service.seal_job(engine=engine, job_id=job_id)
        with engine.connect() as connection:
            job = connection.execute(select(IngestJob.__table__)).mappings().one()
            reasons = connection.execute(
                select(Reject.location, Reject.reason).order_by(Reject.location)
            ).all()
            dates = connection.execute(
                select(Article.published_at, Article.warnings).order_by(Article.id)
            ).all()
        assert job["received"] == 5 and job["rejected"] == 2 and job["status"] == "done"
        assert job["new"] + job["duplicates"] + job["near_duplicates"] == 3
        assert [Path(location).name for location, _ in reasons] == [
            "002_empty.txt",
            "003_binary.txt",
        ]
        assert all(reason for _, reason in reasons)
        assert dates[0][0] is not None and dates[0][0].isoformat() == "2024-01-02T00:00:00+00:00"
        assert [d for d, _ in dates[1:]] == [None, None]
        assert all(warnings for _, warnings in dates[1:])


class TestExactDuplicates:
    def test_same_text_from_two_producers_is_one_article(self, engine) -> None:
        """The same body under two URLs is one article with two sightings."""
        job = ingest_documents(
            engine,
            [
                {"body": STORY, "url": "https://a.example/story?utm_source=x", "source": "a"},
                {"body": STORY, "url": "https://b.example/other", "source": "b"},
            ],
        )
        assert (job["new"], job["duplicates"]) == (1, 1)
        assert count(engine, Article) == 1 and count(engine, Sighting) == 2

    def test_tracking_links_are_one_article(self, engine) -> None:
        """Two tracking variants of one URL are the same article even with different text."""
        job = ingest_documents(
            engine,
            [
                {"body": STORY, "url": "https://news.example/a?utm_campaign=1#top", "source": "f"},
                {
                    "body": STORY + "\n\nUpdated at noon.",
                    "url": "https://NEWS.example:443/a?fbclid=2",
                    "source": "g",
                },
            ],
            batch_size=1,
        )
        assert (job["new"], job["duplicates"]) == (1, 1)
        with engine.connect() as connection:
            url, body = connection.execute(select(Article.url, Article.body)).one()
            revisions = connection.execute(select(ArticleRevision.body)).scalars().all()
        assert url == "https://news.example/a"
        assert body.endswith("Updated at noon.")
        assert revisions == [STORY]

    def test_changed_text_under_same_guid_updates_and_keeps_old_text(self, engine) -> None:
        """An entry whose text changed under the same (source, guid) updates the article."""
        first = ingest_documents(engine, [{"body": STORY, "guid": "g-1", "source": "feed"}])
        second = ingest_documents(
            engine,
            [{"body": STORY + "\n\nCorrection: four votes.", "guid": "g-1", "source": "feed"}],
        )
        assert (first["new"], second["duplicates"]) == (1, 1)
        assert count(engine, Article) == 1 and count(engine, ArticleRevision) == 1

    def test_invalid_documents_are_rejected_with_reason(self, engine) -> None:
        """A document that is not a RawArticle is counted and kept as a reject."""
        job = ingest_documents(engine, [{"title": "no body"}, {"body": STORY}, {"body": "   "}])
        assert (job["received"], job["new"], job["rejected"]) == (3, 1, 2)
        with engine.connect() as connection:
            reasons = sorted(connection.execute(select(Reject.reason)).scalars())
        assert any("body" in reason for reason in reasons)


class TestRedelivery:
    def test_running_a_part_twice_has_one_effect(self, engine) -> None:
        """A redelivered batch is recognised and stores nothing the second time."""
        job_id = job_service.create_job(engine=engine)
        (part,) = job_service.add_article_parts(
            engine=engine, job_id=job_id, documents=[{"body": STORY}], batch_size=10
        )
        job_service.seal_job(engine=engine, job_id=job_id)
        first = part_service.run_part(engine=engine, job_id=job_id, part_no=part)
        second = part_service.run_part(engine=engine, job_id=job_id, part_no=part)
        assert first == IngestSummary(received=1, new=1)
        assert second is None
        assert count(engine, Sighting) == 1

    def test_a_poison_part_gives_up_after_max_deliveries(self, engine, monkeypatch) -> None:
        """A part delivered more than the cap, never dying on one input in particular, is
        rejected whole instead of looping forever; its job, every input rejected, fails."""
        from worker.storage import jobs as job_rows

        monkeypatch.setenv("NEWS_INGEST_MAX_TASK_DELIVERIES", "2")
        get_settings.cache_clear()
        job_id = job_service.create_job(engine=engine)
        (part,) = job_service.add_article_parts(
            engine=engine, job_id=job_id, documents=[{"body": STORY}], batch_size=10
        )
        job_service.seal_job(engine=engine, job_id=job_id)
        for _ in range(2):  # two deliveries that died before storing anything
            with engine.begin() as connection:
                job_rows.claim_part(connection=connection, job_id=job_id, part_no=part)
        summary = part_service.run_part(engine=engine, job_id=job_id, part_no=part)
        assert summary == IngestSummary(received=1, rejected=1)
        with engine.connect() as connection:
            status = connection.execute(select(IngestJob.status)).scalar_one()
            reason = connection.execute(select(Reject.reason)).scalar_one()
        assert status == "failed" and "gave up after 2 deliveries" in reason


class TestNearDuplicates:
    def test_lead_only_copy_joins_the_story(self, engine) -> None:
        """A copy that keeps the first paragraph and adds a dateline is a near duplicate."""
        lead = "WELLINGTON (Reuters) - " + STORY.split("\n\n")[0]
        job = ingest_documents(
            engine,
            [{"body": STORY}, {"body": STORY.replace("four votes", "five votes")}, {"body": lead}],
        )
        assert (job["new"], job["near_duplicates"]) == (1, 2)
        with engine.connect() as connection:
            rows = connection.execute(
                select(
                    Article.id, Article.story_id, Article.duplicate_of, Article.similarity
                ).order_by(Article.id)
            ).all()
        first = rows[0].id
        assert [r.story_id for r in rows] == [first] * 3
        assert [r.duplicate_of for r in rows] == [None, first, first]
        assert all(r.similarity >= 0.7 for r in rows[1:])

    def test_different_story_stays_apart(self, engine) -> None:
        """Another article about a budget vote is its own story."""
        other = (
            "Lawmakers in the state senate rejected a proposal on Wednesday to raise the "
            "fuel tax, saying drivers had been hit hard by prices this year. The governor "
            "had hoped to use the money to repair bridges across the northern counties.\n\n"
            "Supporters of the tax promised to bring the measure back next session with a "
            "smaller increase and an exemption for farmers and commercial fleets."
        )
        job = ingest_documents(engine, [{"body": STORY}, {"body": other}])
        assert job["new"] == 2
        with engine.connect() as connection:
            stories = connection.execute(
                select(func.count(func.distinct(Article.story_id)))
            ).scalar_one()
        assert stories == 2

    def test_shared_footer_alone_never_joins_stories(self, engine) -> None:
        """Short articles ending in the same long disclaimer stay separate stories."""
        footer = (
            "This article is provided for information only and does not constitute "
            "investment advice. Readers should consult a licensed adviser before making "
            "any decision. The publisher accepts no liability for losses arising from "
            "the use of this material, and all rights are reserved by the agency."
        )
        documents = [{"body": distinct_article(n, sentences=3) + "\n\n" + footer} for n in range(4)]
        job = ingest_documents(engine, documents, batch_size=1)
        assert (job["new"], job["near_duplicates"]) == (4, 0)

    @pytest.mark.parametrize("batch_size", [1, 100], ids=["stored", "one-batch"])
    def test_shared_notice_is_left_out_once_two_stories_hold_it(self, engine, batch_size) -> None:
        """Two short stories ending in one publisher's notice are alike at a level an edited
        copy reaches (containment >= 0.5, Jaccard >= 0.3), and only through the notice: it
        is left out of their comparison from the second article that holds it, whether the
        first is stored or earlier in the same batch."""
        documents = [{"body": distinct_article(n, sentences=2) + "\n\n" + NOTICE} for n in (61, 62)]
        alike = _measure(documents[0]["body"], documents[1]["body"])
        assert alike.containment >= 0.5 and alike.jaccard >= 0.3
        job = ingest_documents(engine, documents, batch_size=batch_size)
        assert (job["new"], job["near_duplicates"]) == (2, 0)

    def test_edited_copy_of_a_short_article_joins_its_story(self, engine) -> None:
        """Two of five sentences rewritten: containment under 0.6 but a Jaccard over 0.3,
        which different stories reach only through a shared notice."""
        sentences = re.split(r"(?<=\.) ", distinct_article(51, sentences=5).replace("\n\n", " "))
        others = re.split(r"(?<=\.) ", distinct_article(52, sentences=5).replace("\n\n", " "))
        edited = " ".join([others[0], sentences[1], others[2], *sentences[3:]])
        measured = _measure(edited, " ".join(sentences))
        assert 0.5 <= measured.containment < 0.6 and 0.3 <= measured.jaccard < 0.6
        job = ingest_documents(
            engine, [{"body": " ".join(sentences)}, {"body": edited}], batch_size=1
        )
        assert (job["new"], job["near_duplicates"]) == (1, 1)

    def test_short_stories_sharing_one_long_quote_stay_apart(self, engine) -> None:
        """Two short stories of one event quoting the same long sentence are as alike as an
        edited copy (containment >= 0.5, Jaccard >= 0.3), but share one passage, not
        several."""
        quote = (
            '"We will not rest until every family that lost a home in the floods has a roof '
            "over its head again, and we will hold the insurers and the state to every promise "
            'they made to this community in the weeks after the water came," the mayor told '
            "the crowd outside the town hall."
        )
        documents = [{"body": distinct_article(n, sentences=2) + "\n\n" + quote} for n in (81, 82)]
        first, second = (fingerprint_text(d["body"]) for d in documents)
        alike = _measure(documents[0]["body"], documents[1]["body"])
        assert 0.5 <= alike.containment < 0.6 and alike.jaccard >= 0.3
        assert (
            dedup.shared_passages(
                dedup.shingles_in_order(first, size=4), dedup.shingles(second, size=4)
            )[0]
            == 1
        )
        job = ingest_documents(engine, documents, batch_size=1)
        assert (job["new"], job["near_duplicates"]) == (2, 0)

    @pytest.mark.parametrize("order", ["short-first", "long-first"])
    def test_short_texts_sharing_one_quoted_sentence_stay_apart(self, engine, order) -> None:
        """Containment 0.6-0.75 with Jaccard over 0.2 counts only when more than one quoted
        sentence is shared: two short stories quoting one sentence share one passage of
        under 30 shingles, and it does not open the longer one."""
        quote = (
            '"Every family that lost a home in the floods will have a roof over its head '
            'again by winter," the mayor told the crowd.'
        )
        short = f"Flood victims in the valley town were promised new homes on Sunday.\n\n{quote}"
        long = (
            "The council met for three hours to debate the cost of the rebuilding and the "
            f"insurers who refuse to pay.\n\n{quote}\n\nThe state will vote on the money next month."
        )
        mine, theirs = (fingerprint_text(t) for t in (short, long))
        alike = _measure(short, long)
        assert 0.6 <= alike.containment < 0.75 and alike.jaccard >= 0.2 and alike.leading < 0.6
        count, longest = dedup.shared_passages(
            dedup.shingles_in_order(mine, size=4), dedup.shingles(theirs, size=4)
        )
        assert count == 1 and longest < 30
        documents = [{"body": short}, {"body": long}]
        job = ingest_documents(
            engine, documents if order == "short-first" else documents[::-1], batch_size=1
        )
        assert (job["new"], job["near_duplicates"]) == (2, 0)

    def test_edited_cut_copy_joins_on_containment_at_the_start(self, engine) -> None:
        """The first quarter of a story with three sentences reworded: containment 0.6-0.75
        and a Jaccard under 0.2, which a quoted passage reaches too; but the copy is found at
        the start of the story."""
        story = distinct_article(71, sentences=24)
        cut = _reword("\n\n".join(story.split("\n\n")[:2]), 3)
        measured = _measure(cut, story)
        assert 0.6 <= measured.containment < 0.75 and measured.jaccard < 0.2
        assert measured.leading >= 0.6
        job = ingest_documents(engine, [{"body": story}, {"body": cut}], batch_size=1)
        assert (job["new"], job["near_duplicates"]) == (1, 1)

    @pytest.mark.parametrize(
        ("sentence", "expected"), [(0, (1, 1)), (4, (2, 0))], ids=["opening", "further-down"]
    )
    def test_one_sentence_copy_joins_only_as_the_opening(self, engine, sentence, expected) -> None:
        """One sentence is too short for containment (under 20 shingles): it is a copy of a
        stored story (a lead, a feed's summary) only as its opening, not as any sentence."""
        story = distinct_article(74, sentences=12)
        copy = re.split(r"(?<=\.) ", story.replace("\n\n", " "))[sentence]
        assert 10 <= len(dedup.shingles(fingerprint_text(copy), size=4)) < 20
        job = ingest_documents(engine, [{"body": story}, {"body": copy}], batch_size=1)
        assert (job["new"], job["near_duplicates"]) == expected
        if expected == (1, 1):
            with engine.connect() as connection:
                assert (
                    connection.execute(select(Article.similarity).order_by(Article.id.desc()))
                    .scalars()
                    .first()
                    == 1.0
                )

    def test_story_opening_with_a_stored_lead_copy_does_not_join_it(self, engine) -> None:
        """A longer text that opens with (a reworded) lead-only copy of another story is
        measured like a cut copy; it counts only for the shorter text arriving after."""
        lead = distinct_article(72, sentences=3)
        other = _reword(lead, 2) + "\n\n" + distinct_article(73, sentences=24)
        measured = _measure(lead, other)
        assert 0.6 <= measured.containment < 0.75 and measured.jaccard < 0.2
        assert measured.leading >= 0.6
        job = ingest_documents(engine, [{"body": lead}, {"body": other}], batch_size=1)
        assert (job["new"], job["near_duplicates"]) == (2, 0)

    def test_lead_only_copy_is_found_by_its_paragraph_when_bands_miss(
        self, engine, monkeypatch
    ) -> None:
        """With a single LSH band a lead-only copy of a long story (Jaccard ~0.1) shares no
        band key with it; the identical lead paragraph still makes it a candidate."""
        monkeypatch.setenv("NEWS_INGEST_LSH_BANDS", "1")
        monkeypatch.setenv("NEWS_INGEST_LEAD_BANDS", "0")  # the opening's keys would find it too
        get_settings.cache_clear()
        long_story = distinct_article(7, sentences=30)
        lead = long_story.split("\n\n")[0]
        job = ingest_documents(engine, [{"body": long_story}, {"body": lead}], batch_size=1)
        get_settings.cache_clear()
        assert (job["new"], job["near_duplicates"]) == (1, 1)
        with engine.connect() as connection:
            lead_row = connection.execute(
                select(
                    Article.id, Article.story_id, Article.duplicate_of, Article.similarity
                ).order_by(Article.id.desc())
            ).first()
            owned = connection.execute(
                select(func.count())
                .select_from(StoryBand.__table__)
                .where(StoryBand.article_id == lead_row.id)
            ).scalar_one()
        assert owned == 1  # its one band key was new: the bands did not find the story
        assert (
            lead_row.similarity == 1.0 and lead_row.duplicate_of == lead_row.story_id != lead_row.id
        )

    @pytest.mark.parametrize(("lead_bands", "expected"), [("0", (2, 0)), ("8", (1, 1))])
    def test_edited_lead_only_copy_is_found_by_the_opening_keys(
        self, engine, monkeypatch, lead_bands, expected
    ) -> None:
        """An edited lead-only copy of a long story shares no paragraph with it, and with a
        single full-text band no band key either; the keys of the opening find it."""
        monkeypatch.setenv("NEWS_INGEST_LSH_BANDS", "1")
        monkeypatch.setenv("NEWS_INGEST_LEAD_BANDS", lead_bands)
        get_settings.cache_clear()
        long_story = distinct_article(7, sentences=30)
        lead = _reword(long_story.split("\n\n")[0], 0)
        job = ingest_documents(engine, [{"body": long_story}, {"body": lead}], batch_size=1)
        get_settings.cache_clear()
        assert (job["new"], job["near_duplicates"]) == expected

    def test_fuller_copy_merges_two_halves_of_a_split_story(self, engine) -> None:
        """Two overlapping cuts of one story too far apart to match each other are one
        story once a fuller copy holds both: the parts it shares with each overlap."""
        paragraphs = distinct_article(11, sentences=30).split("\n\n")  # 10 paragraphs
        early, late = "\n\n".join(paragraphs[:5]), "\n\n".join(paragraphs[3:9])
        job = ingest_documents(
            engine,
            [{"body": early}, {"body": late}, {"body": "\n\n".join(paragraphs)}],
            batch_size=1,
        )
        assert (job["new"], job["near_duplicates"]) == (2, 1)
        with engine.connect() as connection:
            stories = (
                connection.execute(select(Article.story_id).order_by(Article.id)).scalars().all()
            )
        assert len(stories) == 3 and len(set(stories)) == 1

    def test_cut_holding_a_quote_another_story_shares_merges_neither(self, engine) -> None:
        """Two stories of an event quote one sentence. A cut copy of the first that is
        mostly that quote is a near copy of both, and holds a third of the second, all of
        it in the part the two stories share: not enough to make them one story."""
        quote = (
            '"We will not rest until every family that lost a home in the floods has a roof '
            'over its head again," the mayor told the crowd outside the town hall on Sunday.'
        )
        first = re.split(r"(?<=\.) ", distinct_article(91, sentences=6).replace("\n\n", " "))
        second = " ".join(
            re.split(r"(?<=\.) ", distinct_article(92, sentences=3).replace("\n\n", " "))
        )
        story = f"{first[0]}\n\n{quote}\n\n{' '.join(first[1:])}"
        other, cut = f"{second}\n\n{quote}", f"{first[0]}\n\n{quote}"
        with_other = _measure(cut, other)
        assert with_other.containment >= 0.6 and with_other.jaccard >= 0.2  # near the other too
        held = (
            with_other.containment
            * with_other.smaller
            / len(dedup.shingles(fingerprint_text(other), size=4))
        )
        assert 0.3 <= held < 0.4
        job = ingest_documents(
            engine, [{"body": story}, {"body": other}, {"body": cut}], batch_size=1
        )
        assert (job["new"], job["near_duplicates"]) == (2, 1)
        with engine.connect() as connection:
            stories = (
                connection.execute(select(Article.story_id).order_by(Article.id)).scalars().all()
            )
        assert stories[0] != stories[1] and stories[2] == stories[0]

    def test_round_up_of_two_stories_merges_neither(self, engine) -> None:
        """A text made of two stories contains each whole (Jaccard 0.5 with both), but the
        parts it shares with them are disjoint: it joins one, and the two stay apart."""
        first, second = distinct_article(21, sentences=9), distinct_article(22, sentences=9)
        job = ingest_documents(
            engine,
            [{"body": first}, {"body": second}, {"body": first + "\n\n" + second}],
            batch_size=1,
        )
        assert (job["new"], job["near_duplicates"]) == (2, 1)
        with engine.connect() as connection:
            stories = (
                connection.execute(select(Article.story_id).order_by(Article.id)).scalars().all()
            )
        assert stories[0] != stories[1] and stories[2] in stories[:2]

    def test_quoted_lead_is_not_a_copy(self, engine) -> None:
        """A lead-only copy of one story, most of which a much longer story quotes, is
        contained in it at 0.6-0.75 with a Jaccard under 0.2: not a near copy."""
        lead = distinct_article(31, sentences=7).replace("\n\n", " ")
        kept = ". ".join(lead.split(". ")[:4]) + "."  # four of its seven sentences
        other = distinct_article(32, sentences=30).split("\n\n")
        quoting = "\n\n".join([other[0], kept, *other[1:]])
        contained = _measure(lead, quoting)
        assert 0.6 <= contained.containment < 0.75 and contained.jaccard < 0.2
        job = ingest_documents(engine, [{"body": quoting}, {"body": lead}], batch_size=1)
        assert (job["new"], job["near_duplicates"]) == (2, 0)

    def test_cut_of_a_rewritten_copy_joins_on_containment_and_size(self, engine) -> None:
        """A copy holding 60-75% of a text of comparable size (Jaccard over 0.2) is a near
        copy even though neither Jaccard nor containment alone would say so."""
        paragraphs = distinct_article(41, sentences=18).split("\n\n")
        cut = "\n\n".join([*paragraphs[:4], distinct_article(42, sentences=6)])
        measured = _measure(cut, "\n\n".join(paragraphs))
        assert 0.6 <= measured.containment < 0.75 and 0.2 <= measured.jaccard < 0.6
        job = ingest_documents(
            engine, [{"body": "\n\n".join(paragraphs)}, {"body": cut}], batch_size=1
        )
        assert (job["new"], job["near_duplicates"]) == (1, 1)

    def test_copy_with_another_footer_joins_the_story(self, engine) -> None:
        """A reprint that swaps the publisher's footer for its own is still the same story."""
        job = ingest_documents(
            engine,
            [
                {
                    "body": STORY
                    + "\n\nCopyright Daily Planet. All rights reserved worldwide today."
                },
                {"body": STORY + "\n\nReprinted with permission of the Gazette and its owners."},
            ],
        )
        assert (job["new"], job["near_duplicates"]) == (1, 1)


def test_raw_article_contract_requires_only_body() -> None:
    """RawArticle needs a body and nothing else."""
    assert RawArticle(body="x").content_type == "text/plain"
