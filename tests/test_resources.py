"""The process's resource registry: real engines, HTTP clients and gates, closed explicitly."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from worker.resources import Kind, Resources, resources
from worker.services import feeds as feed_service
from worker.services import full_text
from worker.services.politeness import GATES, host_gate
from worker.settings import Settings, get_settings
from worker.storage.migrate import is_current, upgrade_embedded
from worker.storage.session import ENGINES, get_engine, postgres_options, use_statement_timeout


def _sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'news.db'}"


class TestRegistry:
    def test_close_disposes_a_real_engine_and_closes_a_real_http_client(
        self, tmp_path: Path
    ) -> None:
        """Closing the registry empties the engine's pool and closes the pooled HTTP client."""
        engine = get_engine(_sqlite_url(tmp_path))
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        client = feed_service._client(get_settings())
        assert engine.pool.checkedin() == 1
        assert not client.is_closed
        resources.close()
        assert engine.pool.checkedin() == 0
        assert client.is_closed

    def test_a_get_after_close_makes_a_fresh_one(self, tmp_path: Path) -> None:
        """After close, the same kind and key give a new resource, not the closed one."""
        url = _sqlite_url(tmp_path)
        engine, client = get_engine(url), feed_service._client(get_settings())
        assert get_engine(url) is engine  # one per key until closed
        resources.close()
        fresh = feed_service._client(get_settings())
        assert get_engine(url) is not engine
        assert fresh is not client and not fresh.is_closed

    def test_close_goes_newest_first(self) -> None:
        """Resources are closed in reverse order of creation, a replaced one as the newest."""
        closed: list[str] = []
        kind: Kind[str] = Kind("name", close=closed.append)
        registry = Resources()
        for name in ("first", "second", "third"):
            registry.get(kind, name, lambda name=name: name)
        registry.get(kind, "first", lambda: "first again", keep=lambda _: False)
        assert closed == ["first"]  # the replaced one, at once
        registry.close()
        assert closed == ["first", "first again", "third", "second"]

    def test_closing_one_kind_leaves_the_others(self, tmp_path: Path) -> None:
        """Closing the engines keeps the HTTP clients open and held."""
        engine = get_engine(_sqlite_url(tmp_path))
        client = feed_service._client(get_settings())
        resources.close(ENGINES)
        assert get_engine(_sqlite_url(tmp_path)) is not engine
        assert feed_service._client(get_settings()) is client and not client.is_closed

    def test_a_page_reader_is_closed_before_the_gate_it_shares(self, redis_client: object) -> None:
        """The registry holds the reader and its gate; closing it closes the reader's client
        and the gate's Redis client, and the next reader gets a new gate."""
        settings = get_settings()
        reader = full_text.page_reader(settings, require_shared=True)
        assert reader.gate is host_gate(settings, require_shared=False)  # one per process
        assert resources.held(GATES) == [reader.gate]
        resources.close()
        assert reader.client.is_closed
        assert full_text.page_reader(settings, require_shared=True).gate is not reader.gate

    def test_a_failed_replacement_keeps_the_local_gate(self) -> None:
        """A worker asking for the shared gate while Redis is down gets the error, and the
        in-process gate the CLI fell back to stays, with what it knows of each host."""
        settings = Settings(redis_url="redis://127.0.0.1:1/0")
        local = host_gate(settings, require_shared=False)
        local.set_retry_after("example.com", 600)
        with pytest.raises(Exception, match="onnect"):
            host_gate(settings, require_shared=True)
        assert host_gate(settings, require_shared=False) is local
        assert local.retry_after_s("example.com") > 500

    def test_a_forked_child_never_uses_its_parents_clients(self, tmp_path: Path) -> None:
        """In a forked child (no Celery signal needed) the engine is kept with a new pool and
        the HTTP client is made anew; the parent's are untouched."""
        engine = get_engine(_sqlite_url(tmp_path))
        client = feed_service._client(get_settings())
        child = os.fork()
        if child == 0:  # the child: report through the exit code only
            code = 1
            try:
                same_engine = get_engine(_sqlite_url(tmp_path)) is engine
                new_client = feed_service._client(get_settings()) is not client
                code = 0 if same_engine and new_client and not client.is_closed else 2
            finally:
                os._exit(code)
        _, status = os.waitpid(child, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert feed_service._client(get_settings()) is client and not client.is_closed

    def test_closing_forgets_the_statement_timeout(self) -> None:
        """The API's statement timeout lives in the registry: closing it (the end of the API
        process, or of a test) leaves later engines without one."""
        use_statement_timeout(7)
        assert "statement_timeout=7000" in postgres_options(get_settings())
        resources.close()
        assert "statement_timeout" not in postgres_options(get_settings())


class TestEmbeddedSchema:
    def test_an_engine_never_migrates(self, tmp_path: Path) -> None:
        """Getting an engine leaves a new SQLite file empty; the entry point's
        upgrade_embedded migrates it."""
        engine = get_engine(_sqlite_url(tmp_path))
        assert "articles" not in inspect(engine).get_table_names()
        assert upgrade_embedded(engine) is engine
        assert is_current(engine)

    def test_postgres_is_left_to_db_upgrade(self) -> None:
        """upgrade_embedded never connects to Postgres (an unreachable server is fine)."""
        engine = get_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")
        assert upgrade_embedded(engine) is engine
