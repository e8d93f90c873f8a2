"""`GET /articles` (filters and cursor pages), `GET /articles/{id}`, `GET /stories/{id}`."""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi import Path as PathParam

from schemas import ArticlePublic
from worker.api.deps import EngineDep
from worker.api.models import ArticlePage, StoryPublic
from worker.api.problems import ProblemError, problem_responses
from worker.services import search

router = APIRouter(tags=["articles"])

MAX_ID = 2**63 - 1  # ids are BIGINT: a larger number names nothing
MAX_PAGE = 500
NO_NUL = r"^[^\x00]*$"  # text columns cannot hold NUL
# A date, or a date and time with an optional offset: what datetime.fromisoformat reads.
ISO_8601 = (
    r"^\d{4}-\d{2}-\d{2}"
    r"([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}(:?\d{2})?)?)?$"
)

ArticleId = Annotated[int, PathParam(ge=1, le=MAX_ID)]
StoryId = Annotated[
    int, PathParam(ge=1, le=MAX_ID, description="The id of the story's first article.")
]


@router.get(
    "/articles",
    response_model=ArticlePage,
    responses=problem_responses(400, 422),
    summary="Stored articles, filtered, in pages",
)
def list_articles(
    engine: EngineDep,
    since: Annotated[
        str | None,
        Query(
            pattern=ISO_8601,
            max_length=64,
            description="Published at or after: an ISO 8601 date or date and time (UTC when it has no offset).",
        ),
    ] = None,
    until: Annotated[
        str | None,
        Query(
            pattern=ISO_8601,
            max_length=64,
            description="Published before: an ISO 8601 date or date and time (UTC when it has no offset).",
        ),
    ] = None,
    story: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="Only this story's articles.")
    ] = None,
    source: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=8192,
            pattern=NO_NUL,
            description="Only articles seen from this source: a seed directory, feed URL or producer name.",
        ),
    ] = None,
    q: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=500,
            pattern=NO_NUL,
            description="Only articles whose title or body contains this text (case-insensitive).",
        ),
    ] = None,
    language: Annotated[
        str | None,
        Query(
            pattern=r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{1,8})*$",
            max_length=35,
            description="Only articles in this language: an ISO 639-1 code such as de "
            "(a tag such as de-AT matches de).",
        ),
    ] = None,
    cursor: Annotated[
        str | None, Query(max_length=200, description="`next_cursor` of the previous page.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
) -> ArticlePage:
    """Articles in the order they were stored (by id). Follow `next_cursor` until it is
    null; a page is as cheap at the millionth article as at the first."""
    where = search.ArticleFilter(
        since=_utc(since, "since"),
        until=_utc(until, "until"),
        story_id=story,
        source=source,
        text=q,
        language=language,
    )
    page = search.find_articles(
        engine=engine,
        where=where,
        after_id=decode_cursor(cursor) if cursor else 0,
        limit=limit,
    )
    return ArticlePage(
        items=page.articles, next_cursor=encode_cursor(page.last_id) if page.last_id else None
    )


@router.get(
    "/articles/{article_id}",
    response_model=ArticlePublic,
    responses=problem_responses(404, 422),
    summary="One article with its sightings",
)
def get_article(article_id: ArticleId, engine: EngineDep) -> ArticlePublic:
    article = search.get_article(engine=engine, article_id=article_id)
    if article is None:
        raise ProblemError(404, f"no article {article_id}")
    return article


@router.get(
    "/stories/{story_id}",
    response_model=StoryPublic,
    responses=problem_responses(404, 422),
    summary="A story and its members",
)
def get_story(story_id: StoryId, engine: EngineDep) -> StoryPublic:
    story = search.get_story(engine=engine, story_id=story_id)
    if story is None:
        raise ProblemError(404, f"no story {story_id}")
    return StoryPublic(
        id=story.id, title=story.title, member_count=story.member_count, members=story.members
    )


# The cursor is opaque to clients: a versioned, URL-safe encoding of the last id seen, so
# the paging scheme can change without breaking anyone who just passes it back.
_CURSOR_PREFIX = "a1:"


def encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"{_CURSOR_PREFIX}{last_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
        if not text.startswith(_CURSOR_PREFIX):
            raise ValueError(text)
        last_id = int(text[len(_CURSOR_PREFIX) :])
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise ProblemError(
            400, "the cursor is not valid: pass back a next_cursor unchanged"
        ) from None
    if not 0 <= last_id <= MAX_ID:
        raise ProblemError(400, "the cursor is not valid: pass back a next_cursor unchanged")
    return last_id


def _utc(value: str | None, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except (OverflowError, ValueError):
        raise ProblemError(
            422,
            f"{name} is not a valid date: {value!r}",
            errors=[
                {
                    "location": f"query.{name}",
                    "message": "not a valid ISO 8601 date",
                    "type": "datetime_parsing",
                }
            ],
        ) from None
