"""news-ingest: the ingestion service (Celery app, tasks, pipeline, storage, CLI)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("news-ingest")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"

USER_AGENT = f"news-ingest/{__version__} (+https://github.com/news-ingest/news-ingest)"
