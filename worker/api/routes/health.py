"""`GET /healthz` (the process answers) and `GET /readyz` (the database and the broker
answer too): liveness and readiness probes for compose and orchestrators."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import structlog
from fastapi import APIRouter, Request
from sqlalchemy import text
from starlette.concurrency import run_in_threadpool

from worker.api.deps import EngineSourceDep
from worker.api.models import Health, Readiness
from worker.api.problems import ProblemError, problem_responses

log = structlog.get_logger(__name__)
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
async def readyz(request: Request, engine: EngineSourceDep) -> Readiness:
    def database() -> None:
        with engine().connect() as connection:
            connection.execute(text("SELECT 1"))

    def broker() -> None:
        request.app.state.redis.ping()

    results = await asyncio.gather(_check("database", database), _check("broker", broker))
    checks = {"database": results[0], "broker": results[1]}
    if any(result != "ok" for result in results):
        # Names and ok/fail only: hosts, ports and driver errors go to the log, where an
        # operator reads them and an anonymous prober does not.
        raise ProblemError(
            503,
            "not ready: " + ", ".join(name for name, result in checks.items() if result != "ok"),
            checks=checks,
            headers={"Retry-After": "5"},
        )
    return Readiness(checks=checks)


async def _check(name: str, probe: Callable[[], None]) -> str:
    """ "ok" or "fail"; a check that hangs (a half-open TCP connection) fails after
    CHECK_TIMEOUT_S."""
    try:
        await asyncio.wait_for(run_in_threadpool(probe), timeout=CHECK_TIMEOUT_S)
    except TimeoutError:
        log.warning("readiness check timed out", dependency=name, timeout_s=CHECK_TIMEOUT_S)
        return "fail"
    except Exception as error:  # any failure means not ready; the detail goes to the log only
        log.warning(
            "readiness check failed", dependency=name, error=f"{type(error).__name__}: {error}"
        )
        return "fail"
    return "ok"
