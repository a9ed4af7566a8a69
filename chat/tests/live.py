"""Real daphne processes for tests that need a live server (sockets across processes, browsers).

The subprocess must see the test database, so `live_database_url()` points it there: the SQLite
test database is a file (see settings), PostgreSQL's is `test_<name>`. Use it from a
`transaction=True` test, or the rows the test writes stay invisible to the server.
"""

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from django.conf import settings

START_TIMEOUT = 20.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def live_database_url() -> str:
    """A DATABASE_URL for the database the current test run uses (call it after the test DB is set up)."""
    db = settings.DATABASES["default"]
    if db["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{db['NAME']}"
    credentials = quote(db.get("USER") or "")
    if db.get("PASSWORD"):
        credentials += ":" + quote(db["PASSWORD"])
    host = db.get("HOST") or "127.0.0.1"
    port = f":{db['PORT']}" if db.get("PORT") else ""
    return f"postgres://{credentials}{'@' if credentials else ''}{host}{port}/{db['NAME']}"


def live_env(**extra: str) -> dict[str, str]:
    """The test process's environment, pointed at the test database, plus `extra`."""
    env = dict(os.environ)
    env.update(DATABASE_URL=live_database_url(), DJANGO_SETTINGS_MODULE="brewverse.settings", PYTHONUNBUFFERED="1")
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    env.update(extra)
    return env


@dataclass
class LiveServer:
    process: subprocess.Popen
    port: int
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def log(self, tail: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-tail:]

    def wait_sockets_closed(self, timeout: float = 5.0) -> None:
        """Wait until every WebSocket the server accepted has disconnected (as its access log says),
        so that a test's teardown does not flush the database under a consumer still writing."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            log = self.log_path.read_text(errors="replace")
            if log.count('"WSCONNECT ') <= log.count('"WSDISCONNECT '):
                return
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


def _healthy(url: str, *, degraded_ok: bool = False) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/healthz", timeout=1) as response:
            return response.status == 200
    except urllib.error.HTTPError:  # 503: serving, with the database or the channel layer failing
        return degraded_ok
    except (OSError, urllib.error.URLError):
        return False


def start_daphne(
    env: dict[str, str] | None = None, *, port: int | None = None, degraded_ok: bool = False
) -> LiveServer:
    """Start daphne on a free port (or `port`) with `env` (default: `live_env()`); wait for /healthz
    to answer 200 (or, with `degraded_ok`, to answer at all: a server started against a Redis that is
    down on purpose answers 503)."""
    port = port or free_port()
    log_file = tempfile.NamedTemporaryFile(prefix=f"daphne-{port}-", suffix=".log", delete=False)  # noqa: SIM115
    process = subprocess.Popen(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "brewverse.asgi:application"],
        cwd=settings.BASE_DIR,
        env=env if env is not None else live_env(),
        stdout=log_file,
        stderr=subprocess.STDOUT,
    )
    log_file.close()
    server = LiveServer(process=process, port=port, log_path=Path(log_file.name))
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        if _healthy(server.url, degraded_ok=degraded_ok):
            return server
        time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"daphne did not become healthy on port {port}:\n{server.log()}")


@contextmanager
def live_server(
    env: dict[str, str] | None = None, *, port: int | None = None, degraded_ok: bool = False
) -> Iterator[LiveServer]:
    server = start_daphne(env, port=port, degraded_ok=degraded_ok)
    try:
        yield server
    finally:
        server.stop()
