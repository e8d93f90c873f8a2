"""The contracts of news-ingest: what crosses the queue and what is stored or exported.

Nothing here imports from `worker`; producers in other languages validate against the JSON
Schema files generated from these models into `schemas/json/` (see `schemas.export`).
"""

from schemas.articles import ArticlePublic, RawArticle, SightingPublic
from schemas.events import ArticleEvent
from schemas.jobs import (
    FINISHED_STATUSES,
    IngestJobPublic,
    IngestSummary,
    JobRequest,
    JobStatus,
)

__all__ = [
    "FINISHED_STATUSES",
    "ArticleEvent",
    "ArticlePublic",
    "IngestJobPublic",
    "IngestSummary",
    "JobRequest",
    "JobStatus",
    "RawArticle",
    "SightingPublic",
]
