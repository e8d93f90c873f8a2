"""Sample news text shared by the tests."""

from __future__ import annotations

STORY = (
    "The city council approved a new budget on Tuesday after a long debate about funding "
    "for public transport and schools. The mayor said the plan would add two hundred buses "
    "to the fleet by the end of next year and hire more teachers for the district.\n\n"
    "Opposition members argued that the tax increase needed to pay for the plan would hurt "
    "small businesses already struggling with high rents. They proposed cutting the budget "
    "for road maintenance instead, but the motion failed by four votes.\n\n"
    "The budget takes effect on the first of January. Residents can read the full document "
    "on the council website and comment on it at the next public meeting in the town hall."
)

_WORDS = [
    "council",
    "budget",
    "minister",
    "harbour",
    "election",
    "storm",
    "bridge",
    "farmers",
    "union",
    "court",
    "river",
    "school",
    "hospital",
    "police",
    "festival",
    "market",
    "airport",
    "railway",
    "museum",
    "drought",
    "flood",
    "mine",
    "factory",
    "port",
    "senate",
    "report",
    "tunnel",
    "vaccine",
    "treaty",
    "strike",
    "library",
    "stadium",
    "forest",
    "coast",
    "island",
    "village",
    "bank",
    "energy",
    "water",
    "housing",
    "tax",
    "wages",
    "teachers",
    "nurses",
    "pilots",
    "students",
    "fishermen",
    "miners",
]
_VERBS = [
    "approved",
    "rejected",
    "delayed",
    "announced",
    "opened",
    "closed",
    "funded",
    "reviewed",
    "blocked",
    "praised",
]


def distinct_article(number: int, *, sentences: int = 12) -> str:
    """A news-like text that shares no long passage with distinct_article(m) for m != number."""
    import random

    rng = random.Random(number)
    paragraphs = []
    for start in range(0, sentences, 3):
        paragraph = []
        for _ in range(min(3, sentences - start)):
            words = rng.sample(_WORDS, 6)
            paragraph.append(
                f"The {words[0]} {rng.choice(_VERBS)} the {words[1]} plan for the {words[2]} "
                f"on day {rng.randint(1, 9999)}, said the {words[3]} office near the {words[4]} "
                f"and the {words[5]}."
            )
        paragraphs.append(" ".join(paragraph))
    return "\n\n".join(paragraphs)
