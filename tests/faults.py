"""Fault injection for the end-to-end tests: a private Redis we can kill and restart empty,
a TCP proxy in front of Postgres we can cut, and real Celery worker processes we can SIGKILL.

Nothing here touches the shared Redis or Postgres servers: the Redis is our own process on
a free port, and the proxy only drops the connections that go through it.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Self, TypeVar

from tests.polling import wait_for

T = TypeVar("T")

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# --------------------------------------------------------------------------------------
# Redis
# --------------------------------------------------------------------------------------


class RedisServer:
    """Our own redis-server without persistence: `restart_empty` is a broker that lost
    everything (the messages in its queues and its unacked hash)."""

    def __init__(self, port: int, log_path: Path) -> None:
        self.port = port
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        import redis

        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    "redis-server",
                    "--port",
                    str(self.port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--daemonize",
                    "no",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        client = redis.Redis(port=self.port, socket_connect_timeout=0.5)
        try:
            wait_for(lambda: _pings(client), timeout=10, interval=0.05, what="redis-server up")
        finally:
            client.close()

    def kill(self) -> None:
        """SIGKILL: no shutdown save, no goodbye to the clients."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None

    def restart_empty(self) -> None:
        self.kill()
        self.start()

    def client(self):  # type: ignore[no-untyped-def]
        import redis

        return redis.Redis(port=self.port, socket_connect_timeout=1, socket_timeout=5)


def _pings(client) -> bool:  # type: ignore[no-untyped-def]
    import redis

    try:
        return bool(client.ping())
    except redis.RedisError:
        return False


# --------------------------------------------------------------------------------------
# A TCP proxy we can cut
# --------------------------------------------------------------------------------------


class TcpProxy:
    """Forwards 127.0.0.1:port to an upstream address, byte for byte.

    `cut()` closes every connection through it and stops listening, so new connections
    are refused: what a client sees when the server is stopped. `restore()` listens again
    on the same port.
    """

    def __init__(self, upstream: tuple[str, int], port: int | None = None) -> None:
        self.upstream = upstream
        self.port = port or free_port()
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._listener: socket.socket | None = None
        self._accepting: threading.Thread | None = None
        self.connections = 0

    def __enter__(self) -> Self:
        self.restore()
        return self

    def __exit__(self, *exc: object) -> None:
        self.cut()

    def restore(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(128)
        self._listener = listener
        self._accepting = threading.Thread(target=self._accept, args=(listener,), daemon=True)
        self._accepting.start()

    def cut(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            # shutdown() wakes the thread blocked in accept(); close() alone does not.
            _quietly(listener.shutdown, socket.SHUT_RDWR)
            listener.close()
        if self._accepting is not None:
            self._accepting.join(timeout=5)
            self._accepting = None
        with self._lock:
            doomed, self._sockets = self._sockets, set()
        for sock in doomed:
            _quietly(sock.shutdown, socket.SHUT_RDWR)
            sock.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # cut
            try:
                server = socket.create_connection(self.upstream, timeout=5)
                server.settimeout(None)
            except OSError:
                client.close()
                continue
            with self._lock:
                if self._listener is not listener:
                    client.close()
                    server.close()
                    return
                self._sockets |= {client, server}
                self.connections += 1
            threading.Thread(target=self._pump, args=(client, server), daemon=True).start()

    def _pump(self, client: socket.socket, server: socket.socket) -> None:
        peers = {client: server, server: client}
        try:
            while True:
                readable, _, _ = select.select(list(peers), [], [], 1.0)
                for sock in readable:
                    data = sock.recv(65536)
                    if not data:
                        return
                    peers[sock].sendall(data)
        except (OSError, ValueError):
            return  # cut, or the peer went away
        finally:
            with self._lock:
                self._sockets -= {client, server}
            for sock in (client, server):
                _quietly(sock.shutdown, socket.SHUT_RDWR)
                sock.close()


def _quietly(call: Callable[..., object], *args: object) -> None:
    with contextlib.suppress(OSError):
        call(*args)


# --------------------------------------------------------------------------------------
# Celery worker processes
# --------------------------------------------------------------------------------------


class WorkerProcess:
    """`celery -A worker.app worker` as a real prefork process tree of its own."""

    def __init__(
        self,
        name: str,
        env: Mapping[str, str],
        log_dir: Path,
        concurrency: int = 2,
        loglevel: str = "WARNING",
    ) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self.env = dict(env)
        self.concurrency = concurrency
        self.loglevel = loglevel
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    str(BIN / "celery"),
                    "-A",
                    "worker.app",
                    "worker",
                    "-c",
                    str(self.concurrency),
                    "-n",
                    f"{self.name}@%h",
                    f"--loglevel={self.loglevel}",
                    "--without-gossip",
                    "--without-mingle",
                    "--without-heartbeat",
                ],
                cwd=REPO,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, so we can kill the tree
            )

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def children(self) -> list[int]:
        """The prefork pool processes."""
        try:
            text = Path(f"/proc/{self.pid}/task/{self.pid}/children").read_text()
        except OSError:
            return []
        return [int(pid) for pid in text.split()]

    def wait_ready(self, timeout: float = 60) -> None:
        wait_for(
            lambda: len(self.children()) >= self.concurrency,
            timeout=timeout,
            what=f"{self.name}'s pool up",
        )

    def busiest_child(self, sample_s: float = 0.5) -> int:
        """The pool process that used the most CPU over a short sample: one doing a batch."""
        before = {pid: _cpu_ticks(pid) for pid in self.children()}
        time.sleep(sample_s)
        return max(before, key=lambda pid: _cpu_ticks(pid) - before[pid])

    def kill_tree(self) -> None:
        """SIGKILL the main process and its pool at once: nothing is acked or requeued."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self, timeout: float = 30) -> None:
        """Warm shutdown (SIGTERM), then SIGKILL whatever is left of the group."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=timeout)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""


def _cpu_ticks(pid: int) -> int:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return -1
    return int(fields[11]) + int(fields[12])  # utime + stime


def cli(
    *args: str, env: Mapping[str, str], timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run the `news-ingest` console script as an operator would."""
    return subprocess.run(
        [str(BIN / "news-ingest"), *args],
        cwd=REPO,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
