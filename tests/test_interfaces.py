"""The interfaces (CLI and HTTP API) reach the store through the services, and the API's
database is a dependency a caller can replace."""

from __future__ import annotations

import ast
import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import Engine

from tests.factories import distinct_article
from tests.store import store_articles
from worker.api.app import create_app
from worker.api.deps import get_engine_dep
from worker.services import jobs as job_service
from worker.storage.migrate import upgrade_embedded
from worker.storage.session import get_engine

WORKER = Path(__file__).resolve().parent.parent / "worker"
INTERFACES = ("cli", "api")
# What an interface may take from worker.storage: the engine and the migration entry points.
STORAGE_ALLOWED = ("worker.storage.session", "worker.storage.migrate")


def _imported_modules(source: str, package: str) -> Iterator[tuple[int, str]]:
    """(line, module) of every import in a module of `package`, inside functions and
    TYPE_CHECKING blocks too; `from a import b` yields `a.b`, since b may be a module."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, *([base] if base else [])])
            for alias in node.names:
                yield node.lineno, f"{base}.{alias.name}"


def _package_of(path: Path) -> str:
    return ".".join(path.relative_to(WORKER.parent).with_suffix("").parts[:-1])


def _storage_outside_the_allowed(module: str) -> bool:
    if module != "worker.storage" and not module.startswith("worker.storage."):
        return False
    return not any(
        module == allowed or module.startswith(allowed + ".") for allowed in STORAGE_ALLOWED
    )


class TestInterfacesGoThroughServices:
    def test_cli_and_api_import_only_the_session_and_migrations_from_storage(self) -> None:
        """No module of worker/cli or worker/api imports worker.storage other than its
        session and migrate modules, at the top or inside a function."""
        found = [
            f"{path.relative_to(WORKER.parent)}:{line}: {module}"
            for interface in INTERFACES
            for path in sorted((WORKER / interface).rglob("*.py"))
            for line, module in _imported_modules(path.read_text(), _package_of(path))
            if _storage_outside_the_allowed(module)
        ]
        assert found == []

    def test_the_check_sees_every_form_of_import(self) -> None:
        """Plain, from-package, from-module, relative and nested imports of storage are all
        caught; session and migrate are not."""
        source = (
            "import worker.storage.feeds\n"
            "from worker.storage import jobs\n"
            "from worker import storage\n"
            "from ..storage.models import utcnow\n"
            "from worker.storage.session import get_engine\n"
            "from worker.storage import migrate\n"
            "def f():\n"
            "    from worker.storage.stats import outbox_backlog\n"
        )
        found = _imported_modules(source, "worker.cli")
        caught = [module for _, module in found if _storage_outside_the_allowed(module)]
        assert caught == [
            "worker.storage.feeds",
            "worker.storage.jobs",
            "worker.storage",
            "worker.storage.models.utcnow",
            "worker.storage.stats.outbox_backlog",
        ]


class _Client:
    """Requests straight into the ASGI app (its middleware included), one at a time."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    def get(self, path: str) -> httpx.Response:
        async def fetch() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as c:
                return await c.get(path)

        return asyncio.run(fetch())


@pytest.fixture
def other_store(tmp_path: Path) -> Engine:
    """A second SQLite database, apart from DATABASE_URL, holding one stored article."""
    engine = upgrade_embedded(get_engine(f"sqlite:///{tmp_path / 'other.db'}"))
    store_articles(
        engine,
        [{"body": distinct_article(1), "url": "https://news.example/1", "source": "other"}],
    )
    return engine


@pytest.fixture
def app(sqlite_db: str, redis_client: object) -> Iterator[FastAPI]:
    """The API on an empty DATABASE_URL (SQLite) and the test Redis."""
    app = create_app()
    yield app
    app.state.redis.close()  # what its lifespan does on shutdown


class TestTheDatabaseIsADependency:
    def test_every_route_reads_the_overridden_engine(
        self, app: FastAPI, other_store: Engine
    ) -> None:
        """With get_engine_dep overridden, /articles, /stories, /jobs/{id}, /feeds,
        /rejects, /metrics and /readyz all answer from the other database."""
        (job,) = job_service.list_jobs(engine=other_store)
        client = _Client(app)
        assert client.get("/articles").json()["items"] == []
        assert client.get(f"/jobs/{job.id}").status_code == 404
        assert (
            'news_ingest_articles_ingested_total{outcome="new"} 0.0' in client.get("/metrics").text
        )

        app.dependency_overrides[get_engine_dep] = lambda: other_store
        (article,) = client.get("/articles").json()["items"]
        assert article["url"] == "https://news.example/1"
        assert client.get(f"/articles/{article['id']}").status_code == 200
        assert client.get(f"/stories/{article['story_id']}").status_code == 200
        assert len(client.get("/stories").json()["items"]) == 1
        assert client.get(f"/jobs/{job.id}").json()["new"] == 1
        assert client.get("/feeds").json() == []
        assert client.get("/rejects").json() == {"items": [], "next_cursor": None}
        metrics = client.get("/metrics").text
        assert 'news_ingest_articles_ingested_total{outcome="new"} 1.0' in metrics
        assert "news_ingest_database_up 1.0" in metrics
        assert client.get("/readyz").json()["checks"]["database"] == "ok"

    def test_a_probe_answers_when_the_overridden_engine_cannot_be_opened(
        self, app: FastAPI, tmp_path: Path
    ) -> None:
        """/readyz says the database is not ready and /metrics reports it down when the
        engine provider itself fails (a SQLite file in a directory that does not exist)."""
        missing = f"sqlite:///{tmp_path / 'no-such-dir' / 'news.db'}"
        app.dependency_overrides[get_engine_dep] = lambda: get_engine(missing)
        client = _Client(app)
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["checks"] == {"database": "fail", "broker": "ok"}
        assert "news_ingest_database_up 0.0" in client.get("/metrics").text
