"""structlog setup: JSON lines in production, readable lines in a terminal."""

from __future__ import annotations

import logging
import sys

import structlog

from worker.settings import get_settings

_HANDLER_NAME = "news-ingest"


def configure_logging(*, stream=None, level: str | int | None = None) -> None:  # type: ignore[no-untyped-def]
    """Configure structlog and route the standard library's logging (Celery, uvicorn,
    SQLAlchemy) through the same renderer, so every line has one format. Idempotent."""
    settings = get_settings()
    stream = stream or sys.stderr
    level = level or settings.log_level.upper()
    if isinstance(level, str):
        level = logging.getLevelName(level.upper())
    use_json = settings.log_format == "json" or (
        settings.log_format == "auto" and not stream.isatty()
    )
    renderer = (
        structlog.processors.JSONRenderer()
        if use_json
        else structlog.dev.ConsoleRenderer(colors=stream.isatty())
    )
    # JSON needs tracebacks as a string field; the console renderer prints them itself (and
    # warns when they were formatted before it).
    exceptions: list[structlog.typing.Processor] = (
        [structlog.processors.format_exc_info] if use_json else []
    )
    shared: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[*shared, *exceptions, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=stream),
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            *exceptions,
            renderer,
        ],
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    handler.set_name(_HANDLER_NAME)
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == _HANDLER_NAME]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    logging.captureWarnings(True)  # Python warnings become log lines too, in the same format
    # Alembic narrates every migration step at INFO; only its warnings matter to a user.
    logging.getLogger("alembic").setLevel(logging.WARNING)
