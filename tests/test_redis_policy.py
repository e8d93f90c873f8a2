"""The eviction-policy check at start (issue 20, item 8), against real redis-server processes."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults import BIN, REPO, RedisServer, free_port
from worker.redis_policy import EvictingRedisError, check_eviction_policies, eviction_policy
from worker.settings import Settings


@pytest.fixture
def evicting_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server whose maxmemory-policy is allkeys-lru."""
    server = RedisServer(free_port(), tmp_path / "redis.log")
    server.start()
    server.client().config_set("maxmemory-policy", "allkeys-lru")
    yield server
    server.kill()


def _settings(broker: str, **values: object) -> Settings:
    return Settings(broker_url=broker, **values)  # type: ignore[arg-type]


class TestEvictionCheck:
    def test_allkeys_policy_on_the_broker_is_refused(self, evicting_redis: RedisServer) -> None:
        """A broker Redis that evicts any key when full is refused by default."""
        with pytest.raises(EvictingRedisError, match="allkeys-lru"):
            check_eviction_policies(settings=_settings(evicting_redis.url))

    def test_warn_mode_reports_and_goes_on(self, evicting_redis: RedisServer) -> None:
        """With NEWS_INGEST_REDIS_EVICTION_CHECK=warn the problem is returned, not raised."""
        problems = check_eviction_policies(
            settings=_settings(evicting_redis.url, redis_eviction_check="warn")
        )
        assert len(problems) == 1 and "broker" in problems[0]

    def test_event_stream_redis_is_checked_on_its_own_url(
        self, evicting_redis: RedisServer
    ) -> None:
        """NEWS_INGEST_EVENTS_REDIS_URL names the stream's Redis, and that one is checked."""
        test_broker = os.environ["BROKER_URL"]
        settings = _settings(test_broker, events_redis_url=evicting_redis.url)
        assert settings.stream_redis_url == evicting_redis.url
        with pytest.raises(EvictingRedisError, match="event stream"):
            check_eviction_policies(settings=settings)
        assert check_eviction_policies(broker=True, stream=False, settings=settings) == []

    def test_noeviction_passes(self, evicting_redis: RedisServer) -> None:
        """`noeviction` (what compose runs) passes the check."""
        evicting_redis.client().config_set("maxmemory-policy", "noeviction")
        assert eviction_policy(evicting_redis.url) == "noeviction"
        assert check_eviction_policies(settings=_settings(evicting_redis.url)) == []

    def test_unreachable_redis_is_not_a_refusal(self) -> None:
        """A Redis that cannot be read at start is left to the usual reconnects."""
        url = f"redis://127.0.0.1:{free_port()}/0"
        assert check_eviction_policies(settings=_settings(url)) == []


class TestWorkerRefusesToStart:
    def test_celery_worker_exits_on_an_evicting_broker(
        self, evicting_redis: RedisServer, tmp_path: Path
    ) -> None:
        """`celery -A worker.app worker` on a broker with allkeys-lru exits non-zero with
        the reason, instead of running while its queued batches can vanish."""
        env = {**os.environ, "BROKER_URL": evicting_redis.url, "DATABASE_URL": "sqlite://"}
        result = subprocess.run(
            [str(BIN / "celery"), "-A", "worker.app", "worker", "-c", "1", "--loglevel=WARNING"],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode != 0
        assert "maxmemory-policy allkeys-lru" in result.stdout + result.stderr

    def test_relay_refuses_an_evicting_stream_redis(
        self, evicting_redis: RedisServer, postgres_db: str
    ) -> None:
        """`news-ingest events relay` refuses a stream Redis that evicts any key."""
        env = {
            **os.environ,
            "DATABASE_URL": postgres_db,
            "NEWS_INGEST_EVENTS_REDIS_URL": evicting_redis.url,
        }
        result = subprocess.run(
            [str(BIN / "news-ingest"), "events", "relay"],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 1
        assert "event stream" in result.stderr and "allkeys-lru" in result.stderr
