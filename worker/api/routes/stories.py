"""`GET /stories`: the stories, largest first (one story with its members: `GET /stories/{id}`)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from worker.api.deps import EngineDep
from worker.api.problems import problem_responses
from worker.services import search

router = APIRouter(tags=["articles"])
MAX_PAGE = 500
MAX_MEMBERS = 2**31 - 1  # compared with a count: a larger number matches nothing


class StorySummary(BaseModel):
    story_id: int = Field(description="The id of the story's first article.")
    members: int
    title: str | None
    sources: list[str] = Field(description="Every source its articles were seen from.")


class StoryList(BaseModel):
    items: list[StorySummary]


@router.get(
    "/stories",
    response_model=StoryList,
    responses=problem_responses(422),
    summary="Stories, largest first",
)
def list_stories(
    engine: EngineDep,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    min_members: Annotated[
        int, Query(ge=1, le=MAX_MEMBERS, description="Leave out smaller stories.")
    ] = 1,
) -> StoryList:
    """Stories with their member count, first title and sources, largest first."""
    rows = search.list_stories(engine=engine, limit=limit, min_members=min_members)
    return StoryList(items=[StorySummary(**asdict(row)) for row in rows])
