"""The FastAPI application factory (`uvicorn --factory worker.api.app:create_app`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import redis
from fastapi import FastAPI, Request, Response
from kombu.exceptions import OperationalError as KombuOperationalError
from prometheus_client import CONTENT_TYPE_LATEST
from redis.exceptions import RedisError
from sqlalchemy.exc import OperationalError as DatabaseUnavailable
from starlette.concurrency import run_in_threadpool

from worker.api.deps import EngineSourceDep
from worker.api.limits import BodySizeLimit
from worker.api.metrics import StoreMetrics
from worker.api.problems import install_problem_handlers, problem_response
from worker.api.routes import articles, feeds, health, jobs, rejects, stories
from worker.api.security import ApiKeyGuard, HostAllowList
from worker.app import app as celery_app
from worker.resources import resources
from worker.settings import get_settings
from worker.storage.migrate import upgrade_embedded
from worker.storage.session import get_engine, use_statement_timeout

API_VERSION = "1"


def create_app() -> FastAPI:
    settings = get_settings()
    use_statement_timeout(settings.api_statement_timeout_s)  # no read holds a connection for ever
    upgrade_embedded(get_engine())  # `serve` on a fresh SQLite file just works
    broker = redis.Redis.from_url(
        settings.broker_url, socket_timeout=2.0, socket_connect_timeout=2.0
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        broker.close()
        resources.close()  # this server process's engines and clients

    app = FastAPI(
        title="news-ingest",
        version=API_VERSION,
        summary="Queue ingestion jobs and read the clean, deduplicated article store.",
        lifespan=lifespan,
    )
    app.state.redis = broker
    install_problem_handlers(app)
    _install_unavailable_handlers(app)
    # Outermost first on the way in: Host, then the key, then the body cap, so a request
    # from a wrong Host or without the key is answered before its body is read.
    app.add_middleware(BodySizeLimit, max_bytes=settings.api_max_body_bytes)
    app.add_middleware(ApiKeyGuard)
    app.add_middleware(HostAllowList)
    for module in (jobs, articles, stories, rejects, feeds, health):
        app.include_router(module.router)

    store_metrics = StoreMetrics(redis=lambda: broker, queues=[celery_app.conf.task_default_queue])

    @app.get(
        "/metrics",
        tags=["health"],
        summary="Prometheus metrics",
        response_class=Response,
        responses={
            200: {
                "content": {CONTENT_TYPE_LATEST: {}},
                "description": "Prometheus text exposition format.",
            }
        },
    )
    async def metrics(engine: EngineSourceDep) -> Response:
        body = await run_in_threadpool(store_metrics.render, engine)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    return app


def _install_unavailable_handlers(app: FastAPI) -> None:
    """A database or broker that is down is a 503 the client may retry, not a 500."""

    async def unavailable(request: Request, error: Exception) -> Response:
        what = "database" if isinstance(error, DatabaseUnavailable) else "broker"
        return problem_response(
            503,
            f"the {what} is unavailable; try again shortly",
            instance=request.url.path,
            headers={"Retry-After": "5"},
        )

    for error_type in (DatabaseUnavailable, RedisError, KombuOperationalError):
        app.add_exception_handler(error_type, unavailable)
