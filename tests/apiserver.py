"""A real `news-ingest serve` process for the API tests, on a free local port."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.conftest import TEST_REDIS_URL
from tests.polling import wait_for


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def console_script(name: str) -> str:
    beside = Path(sys.executable).with_name(name)
    found = str(beside) if beside.exists() else shutil.which(name)
    assert found, f"console script {name} is not installed"
    return found


@dataclass(frozen=True)
class ApiServer:
    base_url: str
    log: Path

    def client(self, **kwargs: object) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=30.0, **kwargs)  # type: ignore[arg-type]


@contextmanager
def running_api(
    database_url: str, log: Path, *, host: str = "127.0.0.1", **env: str
) -> Iterator[ApiServer]:
    """Start the server with these settings, bound to `host`, and wait (with a deadline)
    until /healthz answers on 127.0.0.1; stop it afterwards."""
    port = free_port()
    environment = {
        **os.environ,
        "DATABASE_URL": database_url,
        "BROKER_URL": TEST_REDIS_URL,
        "NEWS_INGEST_LOG_FORMAT": "json",
        **env,
    }
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [console_script("news-ingest"), "serve", "--host", host, "--port", str(port)],
            env=environment,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = ApiServer(f"http://127.0.0.1:{port}", log)
    try:

        def answering() -> bool:
            assert process.poll() is None, f"the API server exited:\n{log.read_text()}"
            try:
                return httpx.get(f"{server.base_url}/healthz", timeout=1.0).status_code == 200
            except httpx.TransportError:
                return False

        wait_for(answering, what="the API server answering /healthz")
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
