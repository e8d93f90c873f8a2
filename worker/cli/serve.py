"""`news-ingest serve`: the HTTP API under uvicorn."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from worker.cli.common import fail
from worker.settings import get_settings


def register(app: typer.Typer) -> None:
    app.command()(serve)


def serve(
    host: Annotated[
        str, typer.Option(help="Address to listen on (0.0.0.0 in a container).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Server processes.")] = 1,
) -> None:
    """Serve the HTTP API: POST /jobs, GET /articles, /stories, /feeds, /metrics, /healthz."""
    try:
        import uvicorn

        import worker.api.app  # noqa: F401 -- fail here, clearly, if the api extra is missing
    except ImportError as error:
        fail(
            f"the HTTP API needs the api extra ({error.name} is missing): "
            "pip install 'news-ingest[api]'"
        )
    from worker.api.security import is_loopback_host

    settings = get_settings()
    if not is_loopback_host(host) and not settings.api_key:
        fail(
            f"refusing to serve on {host} without an API key: anyone who reaches it could "
            "queue jobs and read the store; set NEWS_INGEST_API_KEY (or serve on 127.0.0.1)"
        )
    # The server processes (uvicorn imports the app anew) learn the bound address here,
    # for the Host allow-list.
    os.environ["NEWS_INGEST_API_BIND_HOST"] = host
    get_settings.cache_clear()
    # log_config=None: uvicorn's loggers go through the structlog setup of `main`, so the
    # access log is JSON in production like every other line.
    uvicorn.run(
        "worker.api.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=None,
        proxy_headers=True,
        timeout_graceful_shutdown=20,
    )
