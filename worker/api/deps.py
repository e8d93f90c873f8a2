"""What the routes are given rather than fetch themselves: the database engine, through a
FastAPI dependency, so an app (a test) can hand every route another one with
`app.dependency_overrides[get_engine_dep] = lambda: engine`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import Engine

from worker.storage.session import get_engine


def get_engine_dep() -> Engine:
    """The process's engine for DATABASE_URL (statement timeout and all, see create_app)."""
    return get_engine()


def get_engine_source(request: Request) -> Callable[[], Engine]:
    """The engine provider itself, override included, for the probes (/readyz, /metrics):
    they call it inside their own error handling, so a database that cannot even be opened
    is an answer ("not ready", database_up 0), not a failed request. An override of
    `get_engine_dep` must then take no arguments."""
    provider: Callable[[], Engine] = request.app.dependency_overrides.get(
        get_engine_dep, get_engine_dep
    )
    return provider


EngineDep = Annotated[Engine, Depends(get_engine_dep)]
EngineSourceDep = Annotated[Callable[[], Engine], Depends(get_engine_source)]

__all__ = ["EngineDep", "EngineSourceDep", "get_engine_dep", "get_engine_source"]
