# news-ingest: one image for the worker, beat, the one-shot migration and the API.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
RUN useradd --create-home --uid 10001 news

# Dependencies first, so code changes do not reinstall them.
COPY pyproject.toml README.md ./
RUN mkdir -p worker schemas && touch worker/__init__.py schemas/__init__.py \
    && pip install '.[api,parquet]' && pip uninstall -y news-ingest

COPY schemas ./schemas
COPY worker ./worker
RUN pip install --no-deps '.[api,parquet]'

USER news
CMD ["celery", "-A", "worker.app", "worker", "--loglevel=INFO", "--concurrency=2"]
