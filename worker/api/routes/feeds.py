"""`GET /feeds`, `POST /feeds`, `DELETE /feeds/{id}`: the feed registry
(worker.storage.feeds, the same one as `news-ingest feeds`) over HTTP."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Response
from fastapi import Path as PathParam
from sqlalchemy import select

from worker.api.models import FeedCreate, FeedPublic
from worker.api.problems import ProblemError, problem_responses
from worker.api.security import require_api_key
from worker.errors import FetchError
from worker.services.discovery import discover
from worker.storage import feeds as feed_rows
from worker.storage.models import Source
from worker.storage.session import get_engine

router = APIRouter(tags=["feeds"])

FeedId = Annotated[int, PathParam(ge=1, le=2**63 - 1)]


@router.get("/feeds", response_model=list[FeedPublic], summary="Registered feeds")
def list_feeds() -> list[FeedPublic]:
    """Every feed not removed, with its fetch state."""
    with get_engine().connect() as connection:
        return [
            FeedPublic.model_validate(feed.public())
            for feed in feed_rows.list_feeds(connection=connection)
        ]


@router.post(
    "/feeds",
    status_code=201,
    response_model=FeedPublic,
    dependencies=[Depends(require_api_key)],
    responses={
        200: {"model": FeedPublic, "description": "Already registered"},
        **problem_responses(400, 401, 409, 413, 422),
    },
    summary="Register a feed",
)
def add_feed(feed: FeedCreate, response: Response) -> FeedPublic:
    """201 for a new feed, due at once; 200 for a known one (a removed feed is subscribed
    again; a given interval or title replaces the old). A site's address is looked up for
    its best feed (its <link rel="alternate">, then the usual paths); an address that
    cannot be read now is registered as given."""
    # A URL with credentials names its feed itself: discovery would ask without them.
    target = feed.url if urlsplit(feed.url).username is not None else _feed_behind(feed.url)
    try:
        name = feed_rows.feed_url(target)
    except ValueError as error:
        raise ProblemError(422, str(error)) from None
    with get_engine().begin() as connection:
        other = connection.execute(
            select(Source.kind).where(Source.name == name, Source.kind != feed_rows.KIND)
        ).scalar_one_or_none()
        if other is not None:
            raise ProblemError(409, f"{name} is already a source of kind {other!r}, not a feed")
        # Looked up first rather than trusting add_feed's flag: INSERT .. ON CONFLICT DO
        # NOTHING reports rowcount -1 through psycopg, so "created" reads False there.
        known = feed_rows.get_feed_by_url(connection=connection, url=name)
        stored, _ = feed_rows.add_feed(  # credentials in the URL are kept apart
            connection=connection, url=target, title=feed.title, interval_s=feed.interval_s
        )
    if known is not None:
        response.status_code = 200
    return FeedPublic.model_validate(stored.public())


@router.delete(
    "/feeds/{feed_id}",
    status_code=204,
    response_class=Response,
    dependencies=[Depends(require_api_key)],
    responses=problem_responses(401, 404, 422),
    summary="Remove a feed",
)
def remove_feed(feed_id: FeedId) -> Response:
    """Stop fetching a feed: deleted if nothing refers to it, else kept (disabled, status
    "removed") as the provenance of its articles."""
    with get_engine().begin() as connection:
        if feed_rows.remove_feed(connection=connection, feed_id=feed_id) is None:
            raise ProblemError(404, f"no feed {feed_id}")
    return Response(status_code=204)


def _feed_behind(url: str) -> str:
    """The feed URL a subscribed address stands for (see services.discovery)."""
    try:
        found = discover(url)
    except FetchError as error:
        if error.kind == "gone" or error.kind.startswith("http_4"):
            raise ProblemError(422, f"cannot subscribe to {url}: {error}") from None
        return url  # down or unreachable now: registered as given, retried on schedule
    if found.best is None:
        raise ProblemError(422, f"no feed found at {url} (checked {len(found.checked)} addresses)")
    return found.best.url
