"""The server under test: a fresh PostgreSQL database and one or more server processes.

The processes run the production shape: DEBUG off, a real SECRET_KEY, PostgreSQL, Redis as channel
layer and cache. Only the rate limits are raised (a benchmark is a flood by design) and access tokens
live long enough for the longest run.
"""

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import redis

from bench.common import Http

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
HOST = "127.0.0.1"
PG_BASE = os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/5")

# One key per bench run: every server process it starts (restarts, comparison rows) accepts the
# access tokens minted at setup.
SECRET_KEY = "bench-" + secrets.token_urlsafe(32)

# Raised for the benchmark, through the variables the settings read; everything else is the default.
BENCH_ENV = {
    "THROTTLE_SIGNUP_IP": "1000000/hour",
    "THROTTLE_LOGIN_IP": "1000000/min",
    "THROTTLE_LOGIN_USERNAME": "1000000/min",
    "THROTTLE_MESSAGE_POST": "1000000/min",
    "SOCKET_FRAME_BURST": "100000",
    "SOCKET_FRAME_RATE": "100000",
    "SOCKETS_PER_USER": "100000",
    "JWT_ACCESS_MINUTES": "600",
}


@dataclass(frozen=True)
class ServerConfig:
    """One way of running the server; the comparison varies one field at a time."""

    server: str = "daphne"  # daphne | uvicorn
    processes: int = 1
    layer: str = "core"  # core | core-tuned | pubsub (see bench/settings.py)
    conn_max_age: int = 0  # DB_CONN_MAX_AGE

    @property
    def label(self) -> str:
        return f"{self.server}x{self.processes}-{self.layer}-cma{self.conn_max_age}"

    def as_dict(self) -> dict:
        return {**asdict(self), "label": self.label}


def _run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kwargs)


class Database:
    """A PostgreSQL database of our own, created for one run and dropped after it."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.url = f"{PG_BASE}/{name}"

    def create(self) -> None:
        _run(["createdb", "-h", "127.0.0.1", "-U", "postgres", self.name])

    def drop(self) -> None:
        subprocess.run(
            ["dropdb", "-h", "127.0.0.1", "-U", "postgres", "--if-exists", "--force", self.name],
            capture_output=True,
            check=False,
        )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def flush_redis() -> None:
    """Empty the bench's own Redis database (db 5 by default), never another."""
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.flushdb()
    finally:
        client.close()


class Servers:
    """`config.processes` server processes on their own ports, sharing one database and one Redis."""

    def __init__(self, config: ServerConfig, database: Database, log_dir: Path) -> None:
        self.config = config
        self.database = database
        self.log_dir = log_dir
        self.ports: list[int] = []
        self.procs: list[subprocess.Popen] = []

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in {"DJANGO_SETTINGS_MODULE"}}
        env.update(BENCH_ENV)
        env.update(
            {
                "DEBUG": "false",
                "SECRET_KEY": SECRET_KEY,
                "ALLOWED_HOSTS": "127.0.0.1,localhost",
                "DATABASE_URL": self.database.url,
                "REDIS_URL": REDIS_URL,
                "DB_CONN_MAX_AGE": str(self.config.conn_max_age),
                "PYTHONUNBUFFERED": "1",
                # brewverse.settings, with only the channel layer chosen by BENCH_CHANNEL_LAYER.
                "DJANGO_SETTINGS_MODULE": "bench.settings",
                "BENCH_CHANNEL_LAYER": self.config.layer,
            }
        )
        return env

    def migrate(self) -> None:
        _run([sys.executable, "manage.py", "migrate", "--noinput"], cwd=ROOT, env=self.env())

    def _command(self, port: int) -> list[str]:
        if self.config.server == "daphne":
            return [str(BIN / "daphne"), "-b", HOST, "-p", str(port), "brewverse.asgi:application"]
        if self.config.server == "uvicorn":
            # uvicorn's own defaults (uvloop and httptools when installed, websockets for sockets).
            return [str(BIN / "uvicorn"), "--host", HOST, "--port", str(port), "brewverse.asgi:application"]
        raise ValueError(f"unknown server {self.config.server!r}")

    def start(self, timeout: float = 60) -> None:
        flush_redis()
        env = self.env()
        for index in range(self.config.processes):
            port = free_port()
            log = open(self.log_dir / f"{self.config.label}-{index}.log", "ab")  # noqa: SIM115 - kept open
            proc = subprocess.Popen(self._command(port), cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
            self.ports.append(port)
            self.procs.append(proc)
        deadline = time.monotonic() + timeout
        for proc, port in zip(self.procs, self.ports, strict=True):
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"server on port {port} exited with {proc.returncode}; see {self.log_dir}")
                try:
                    status, _body, _ = Http(HOST, port, timeout=5).request("GET", "/healthz")
                    if status == 200:
                        break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"server on port {port} not healthy after {timeout}s; see {self.log_dir}")
                time.sleep(0.2)

    @property
    def pids(self) -> list[int]:
        return [proc.pid for proc in self.procs]

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        self.procs, self.ports = [], []

    def alive(self) -> bool:
        return all(proc.poll() is None for proc in self.procs)
