"""Near copies are one story only when their specific content (figures, dates, names) agrees."""

from __future__ import annotations

from sqlalchemy import select

from tests.store import store_articles
from worker.pipeline.stories import (
    Agreement,
    max_differing,
    specific_agreement,
    specific_text,
)
from worker.storage.models import Article


def _balances(day: int, balance: str, previous: str, cash: str, loans: str) -> str:
    """An issue of a weekly statement written from one template."""
    return (
        "TREASURY BALANCES AT FED CHANGED\n\n"
        f"WASHINGTON, April {day} - Treasury balances at the Federal Reserve changed on "
        f"April {day} to {balance} billion dlrs from {previous} billion dlrs the previous "
        "business day, the Treasury said in its latest budget statement.\n\n"
        f"Balances in tax and loan note accounts were {loans} billion dlrs, compared with "
        "the figure reported on the previous business day by the department.\n\n"
        f"The Treasury's operating cash balance totaled {cash} billion dlrs on April {day}, "
        "compared with the balance a week earlier, officials at the Treasury said."
    )


def _stake(buyer: str, target: str, pct: str, shares: str) -> str:
    """A stake filing written from one template."""
    return (
        f"Investor {buyer} told the Securities and Exchange Commission he raised his stake in "
        f"{target} to {shares} shares, or {pct} pct of the total outstanding common stock.\n\n"
        f"In a filing with the SEC, {buyer.split()[1]} said he bought the additional shares "
        "at prices ranging from 20 dlrs to 31 dlrs a share, for investment purposes, and "
        "may buy more shares or sell some or all of his stake depending on the market."
    )


FIRST = _balances(6, "4.262", "3.876", "21.345", "17.083")
NEXT_WEEK = _balances(13, "3.951", "4.262", "22.410", "18.226")


class TestSpecificContent:
    def test_figures_and_names_are_specific_words_are_not(self) -> None:
        """Numbers and capitalised names are specific; ordinary and sentence-opening words
        and a headline's capitals are not."""
        text = specific_text(
            "BIG NEWS HEADLINE FOR TODAY HERE\n\n"
            "The board of Apex Industries Inc said on Monday it would pay 1,500 dlrs, "
            "Apex said."
        )
        specific = {text.words[i] for i in text.specific}
        assert specific == {"apex", "industries", "1500"}

    def test_a_dateline_is_not_compared(self) -> None:
        """The dateline (place, day and agency) is left out: a resend moves it."""
        text = specific_text("NEW YORK, Aug 14 (Reuters) - Stocks fell 12 points on the day.")
        assert text.words[0] == "stocks"


class TestSpecificAgreement:
    def test_two_issues_of_a_template_differ(self) -> None:
        """Two weeks of one statement share their wording but not their figures."""
        agreement = specific_agreement(specific_text(FIRST), specific_text(NEXT_WEEK))
        assert agreement.differed >= 3
        assert not agreement.same_story()

    def test_a_corrected_figure_is_the_same_story(self) -> None:
        """A resend with one figure corrected and a CORRECTED headline agrees."""
        corrected = "CORRECTED - " + FIRST.replace("21.345", "21.354")
        agreement = specific_agreement(specific_text(FIRST), specific_text(corrected))
        assert agreement == Agreement(agreed=agreement.agreed, differed=1)
        assert agreement.same_story()

    def test_a_date_moved_by_a_day_is_free_once(self) -> None:
        """A date moved by one day (a dateline resent the next day) does not count, once."""
        moved = FIRST.replace("April 6 -", "April 7 -").replace("on April 6", "on April 7")
        agreement = specific_agreement(specific_text(FIRST), specific_text(moved))
        assert agreement.moved_days == 1 and agreement.counted == 0

    def test_an_added_paragraph_neither_agrees_nor_differs(self) -> None:
        """A paragraph only one copy has, with its own figures, is not a disagreement."""
        longer = FIRST + "\n\nThe figures, due again on May 3, showed 12 accounts at 9.1 billion."
        agreement = specific_agreement(specific_text(FIRST), specific_text(longer))
        assert agreement.differed == 0

    def test_a_respelled_name_is_not_another_name(self) -> None:
        """A typo fixed in a name agrees; another investor in the same filing does not."""
        typo = _stake("Carl Icahnn", "Dover Steel Corp", "8.5", "1,200,000")
        fixed = _stake("Carl Icahn", "Dover Steel Corp", "8.5", "1,200,000")
        other = _stake("Saul Steinberg", "Dover Steel Corp", "6.1", "900,000")
        assert specific_agreement(specific_text(typo), specific_text(fixed)).differed == 0
        assert not specific_agreement(specific_text(fixed), specific_text(other)).same_story()

    def test_a_rewritten_sentence_is_not_a_template_slot(self) -> None:
        """A figure in a sentence whose other words changed too is an edit, not a slot."""
        edited = FIRST.replace(
            "Balances in tax and loan note accounts were 17.083 billion dlrs",
            "Tax and loan accounts held roughly 17 billion dlrs in all",
        )
        assert specific_agreement(specific_text(FIRST), specific_text(edited)).same_story()

    def test_a_slot_of_several_figures_differs_once_per_figure(self) -> None:
        """Two draws of one lottery differ in one span of numbers, five figures apart."""
        draw = (
            "The winning numbers in the state Lotto drawing on Friday night were {}, lottery "
            "officials said. The jackpot for the drawing was an estimated 19 million dlrs, "
            "officials said, and 3 tickets matched all six numbers."
        )
        agreement = specific_agreement(
            specific_text(draw.format("2 3 5 8 14 20")),
            specific_text(draw.format("2 10 32 33 37 47")),
        )
        assert agreement.differed == 5
        assert not agreement.same_story()

    def test_a_name_both_texts_have_does_not_hide_the_slots_around_it(self) -> None:
        """Two tallies naming one candidate in different places still differ: the aligner
        pairs the shared surname across slots, and the long spans count by their names and
        figures."""
        tally = (
            "With 81 pct of precincts reporting in the {} District race, {} had {} votes and "
            "{} had {} votes, according to unofficial returns."
        )
        first = tally.format("First", "Martin Perelman", "67,896", "Nelson Jacobs", "39,014")
        other = tally.format("Third", "Walter Jacobs", "69,643", "Martin Bass", "26,132")
        for a, b in ((first, other), (other, first)):
            assert not specific_agreement(specific_text(a), specific_text(b)).same_story()

    def test_more_specific_content_tolerates_more_corrections(self) -> None:
        """One slot may differ, one more per 20 specific tokens compared."""
        assert [max_differing(n) for n in (0, 19, 20, 45)] == [1, 1, 2, 3]


class TestTemplatedReportsInTheStore:
    def test_issues_of_one_report_are_separate_stories(self, engine) -> None:
        """Four weekly issues of one statement, ingested together, make four stories."""
        days = [(6, "4.262", "3.876"), (13, "3.951", "4.262"), (20, "5.120", "3.951")]
        documents = [{"body": _balances(d, a, b, f"2{d}.1", f"1{d}.7")} for d, a, b in days]
        documents.append({"body": _balances(27, "4.480", "5.120", "23.911", "16.502")})
        summary = store_articles(engine, documents)
        assert (summary.new, summary.near_duplicates) == (4, 0)

    def test_resends_join_the_story_they_resend(self, engine) -> None:
        """A corrected figure, a later dateline and an added paragraph join the original."""
        documents = [
            {"body": FIRST},
            {"body": "CORRECTED - " + FIRST.replace("21.345", "21.354")},
            {"body": FIRST.replace("April 6 -", "April 7 -")},
            {"body": FIRST + "\n\nThe next statement is due on Friday, the Treasury said."},
            {"body": NEXT_WEEK},
        ]
        summary = store_articles(engine, documents)
        assert (summary.new, summary.near_duplicates) == (2, 3)

    def test_a_story_does_not_chain_through_one_figure_at_a_time(self, engine) -> None:
        """Copies that each change one more figure than the last stop joining once they are
        two figures away from the story's first article."""
        figures = ["4.262", "3.876", "21.345", "17.083"]
        changed = ["4.626", "3.687", "21.534", "17.308"]
        documents = [{"body": FIRST}]
        for step in range(1, 5):
            now = figures[:]
            now[:step] = changed[:step]
            documents.append({"body": _balances(6, now[0], now[1], now[2], now[3])})
        store_articles(engine, documents)
        with engine.connect() as connection:
            stories = connection.execute(select(Article.story_id).order_by(Article.id)).scalars()
            story_ids = list(stories)
        first = story_ids[0]
        assert story_ids[:3] == [first] * 3  # one, then two figures away from the first
        assert first not in story_ids[3:]  # three and four figures away: not the same story
