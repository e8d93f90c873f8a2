"""`GET /healthz` (the process answers) and `GET /readyz` (the database and the broker
answer too): liveness and readiness probes for compose and orchestrators."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from sqlalchemy import text
from starlette.concurrency import run_in_threadpool

from worker.api.models import Health, Readiness
from worker.api.problems import ProblemError, problem_responses
from worker.storage.session import get_engine

router = APIRouter(tags=["health"])

CHECK_TIMEOUT_S = 3.0


@router.get("/healthz", response_model=Health, summary="The process is up")
async def healthz() -> Health:
    return Health()


@router.get(
    "/readyz",
    response_model=Readiness,
    responses=problem_responses(503),
    summary="The database and the broker are reachable",
)
async def readyz(request: Request) -> Readiness:
    def database() -> None:
        with get_engine().connect() as connection:
            connection.execute(text("SELECT 1"))

    def broker() -> None:
        request.app.state.redis.ping()

    results = await asyncio.gather(_check(database), _check(broker))
    checks = {"database": results[0], "broker": results[1]}
    if any(result != "ok" for result in results):
        raise ProblemError(
            503,
            "; ".join(f"{name}: {result}" for name, result in checks.items() if result != "ok"),
            checks=checks,
            headers={"Retry-After": "5"},
        )
    return Readiness(checks=checks)


async def _check(probe) -> str:  # type: ignore[no-untyped-def]
    # A check that hangs (a half-open TCP connection) counts as down after CHECK_TIMEOUT_S.
    try:
        await asyncio.wait_for(run_in_threadpool(probe), timeout=CHECK_TIMEOUT_S)
    except TimeoutError:
        return f"no answer within {CHECK_TIMEOUT_S:g} s"
    except Exception as error:
        return f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"[:300]
    return "ok"
