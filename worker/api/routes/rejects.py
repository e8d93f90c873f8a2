"""`GET /rejects`: inputs that could not be ingested (location, reason, time), in pages."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from worker.api.deps import EngineDep
from worker.api.problems import problem_responses
from worker.api.routes.articles import ISO_8601, MAX_ID, _utc, decode_cursor, encode_cursor
from worker.services.rejects import list_rejects as recorded_rejects

router = APIRouter(tags=["rejects"])
MAX_PAGE = 500


class RejectPublic(BaseModel):
    id: int
    job_id: str | None
    location: str | None = Field(description="The seed file path or entry URL.")
    reason: str
    created_at: datetime


class RejectPage(BaseModel):
    """One page of `GET /rejects`; pass `next_cursor` as `cursor` for the next one."""

    items: list[RejectPublic]
    next_cursor: str | None = Field(description="Null on the last page.")


@router.get(
    "/rejects",
    response_model=RejectPage,
    responses=problem_responses(400, 422),
    summary="Rejected inputs, in pages",
)
def list_rejects(
    engine: EngineDep,
    job: Annotated[
        str | None,
        Query(max_length=36, pattern=r"^[0-9A-Fa-f-]+$", description="Only this job's rejects."),
    ] = None,
    since: Annotated[
        str | None,
        Query(
            pattern=ISO_8601,
            max_length=64,
            description="Recorded at or after: an ISO 8601 date or date and time (UTC when it has no offset).",
        ),
    ] = None,
    cursor: Annotated[
        str | None, Query(max_length=200, description="`next_cursor` of the previous page.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
) -> RejectPage:
    """Rejected inputs in the order they were recorded, with the reason for each."""
    after_id = decode_cursor(cursor) if cursor else 0
    rows = recorded_rejects(
        engine=engine,
        job_id=job.lower() if job else None,
        since=_utc(since, "since"),
        after_id=min(after_id, MAX_ID),
        limit=limit + 1,
    )
    more = len(rows) > limit
    rows = rows[:limit]
    return RejectPage(
        items=[RejectPublic(**row.public()) for row in rows],
        next_cursor=encode_cursor(rows[-1].id) if more and rows else None,
    )
