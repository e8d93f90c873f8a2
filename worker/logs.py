"""structlog setup: JSON lines in production, readable lines in a terminal."""

from __future__ import annotations

import logging
import sys

import structlog

from worker.settings import get_settings


def configure_logging(*, stream=None) -> None:  # type: ignore[no-untyped-def]
    settings = get_settings()
    stream = stream or sys.stderr
    use_json = settings.log_format == "json" or (
        settings.log_format == "auto" and not stream.isatty()
    )
    renderer = (structlog.processors.JSONRenderer() if use_json
                else structlog.dev.ConsoleRenderer(colors=stream.isatty()))
    shared = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelName(settings.log_level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=stream),
        cache_logger_on_first_use=True,
    )
    logging.basicConfig(level=settings.log_level.upper(), stream=stream,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Alembic narrates every migration step at INFO; only its warnings matter to a user.
    logging.getLogger("alembic").setLevel(logging.WARNING)
