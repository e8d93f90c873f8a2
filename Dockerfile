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
COPY setup.py ./
# A C compiler only for the fingerprint kernel (worker/pipeline/_fingerprint.c), removed in
# the same layer. Built in place too: Celery imports `worker` from /app, not site-packages.
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev \
    && pip install --no-deps '.[api,parquet]' \
    && python setup.py build_ext --inplace \
    && python -c "import worker.pipeline._fingerprint" \
    && apt-get purge -y --auto-remove gcc libc6-dev && rm -rf /var/lib/apt/lists/*

USER news
CMD ["celery", "-A", "worker.app", "worker", "--loglevel=INFO", "--concurrency=2"]
