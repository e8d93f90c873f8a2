"""`GET /feeds`, `POST /feeds`, `DELETE /feeds/{id}`: the feed registry
(worker.services.feed_registry, the same one as `news-ingest feeds`) over HTTP."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Response
from fastapi import Path as PathParam

from worker.api.deps import EngineDep
from worker.api.models import FeedCreate, FeedPublic
from worker.api.problems import ProblemError, problem_responses
from worker.api.security import require_api_key
from worker.errors import FetchError
from worker.services import feed_registry
from worker.services.discovery import discover

router = APIRouter(tags=["feeds"])

FeedId = Annotated[int, PathParam(ge=1, le=2**63 - 1)]


@router.get("/feeds", response_model=list[FeedPublic], summary="Registered feeds")
def list_feeds(engine: EngineDep) -> list[FeedPublic]:
    """Every feed not removed, with its fetch state."""
    return [
        FeedPublic.model_validate(feed.public()) for feed in feed_registry.list_feeds(engine=engine)
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
def add_feed(feed: FeedCreate, response: Response, engine: EngineDep) -> FeedPublic:
    """201 for a new feed, due at once; 200 for a known one (a removed feed is subscribed
    again; a given interval or title replaces the old). A site's address is looked up for
    its best feed (its <link rel="alternate">, then the usual paths); an address that
    cannot be read now is registered as given."""
    # A URL with credentials names its feed itself: discovery would ask without them.
    target = feed.url if urlsplit(feed.url).username is not None else _feed_behind(feed.url)
    try:
        registered = feed_registry.register_feed(
            engine=engine, url=target, title=feed.title, interval_s=feed.interval_s
        )
    except feed_registry.SourceKindTaken as error:
        raise ProblemError(409, str(error)) from None
    except ValueError as error:  # not a usable feed URL
        raise ProblemError(422, str(error)) from None
    if not registered.created:
        response.status_code = 200
    return FeedPublic.model_validate(registered.feed.public())


@router.delete(
    "/feeds/{feed_id}",
    status_code=204,
    response_class=Response,
    dependencies=[Depends(require_api_key)],
    responses=problem_responses(401, 404, 422),
    summary="Remove a feed",
)
def remove_feed(feed_id: FeedId, engine: EngineDep) -> Response:
    """Stop fetching a feed: deleted if nothing refers to it, else kept (disabled, status
    "removed") as the provenance of its articles."""
    if feed_registry.remove_feed(engine=engine, feed_id=feed_id) is None:
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
