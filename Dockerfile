# news-ingest: one image for the worker, beat, relay, watch, the one-shot migration and the
# API. Two stages: the builder has the C compiler (for worker/pipeline/_fingerprint.c) and
# installs everything into /opt/venv; the final image gets only that venv: no compiler, no
# source tree, no pip cache, and it runs as an unprivileged user.

FROM python:3.11-slim-bookworm AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/venv/bin:$PATH
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/* \
    && python -m venv /opt/venv

WORKDIR /src
# Dependencies first, so code changes do not reinstall them.
COPY pyproject.toml README.md ./
RUN mkdir -p worker schemas && touch worker/__init__.py schemas/__init__.py \
    && pip install --no-cache-dir '.[api,parquet]' && pip uninstall -y news-ingest

COPY setup.py ./
COPY schemas ./schemas
COPY worker ./worker
# A regular (non-editable) install: the fingerprint kernel is compiled into site-packages.
# It is optional to setup.py (the Python fallback gives the same results, slower), so check
# here that it was built: the image must not lose it silently.
# Then what only building needs leaves the venv: pip and setuptools, C headers, the test
# suites of numpy and pyarrow (~50 MB).
RUN pip install --no-cache-dir --no-deps . \
    && cd / && python -c "import worker.pipeline._fingerprint as k; print('kernel:', k.__file__)" \
    && pip uninstall -y -q pip setuptools \
    && cd /opt/venv/lib/python3*/site-packages \
    && rm -rf pyarrow/include pyarrow/tests \
    && find numpy pyarrow -depth -type d -name tests -exec rm -rf {} + \
    && cd / && python -c "import numpy, pyarrow.parquet, worker.services.ingest, worker.api.app"


FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH
# Not `news`: Debian's base-passwd already has user and group `news` (uid 9) in every
# Debian-based image, and `useradd news` fails there.
RUN useradd --create-home --uid 10001 --user-group newsingest
COPY --from=builder /opt/venv /opt/venv
# The home directory: writable, so the embedded SQLite default (news.db) works too.
WORKDIR /home/newsingest
USER 10001:10001
CMD ["celery", "-A", "worker.app", "worker", "--loglevel=INFO", "--concurrency=2"]
