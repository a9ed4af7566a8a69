"""Throwaway servers for the fault suite, all on loopback, all private to one run.

A PostgreSQL cluster made with `initdb` in a temporary directory and a Redis started on a free port, so
the suite can stop and restart them without touching the PostgreSQL and Redis that other people and CI
share on this machine. The app runs as in production (docs/deploy.md): `collectstatic` and `migrate`
first, then daphne through `deploy/entrypoint.sh`, the Dockerfile's own entry point.
"""

import contextlib
import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

BASE_DIR = Path(__file__).resolve().parent.parent
VENV_BIN = BASE_DIR / ".venv" / "bin"
ENTRYPOINT = BASE_DIR / "deploy" / "entrypoint.sh"
DATABASE = "brewverse_faults"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until(check, timeout: float, what: str, interval: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(interval)
    raise RuntimeError(f"timed out after {timeout} s waiting for {what}")


def postgres_bindir() -> Path | None:
    """The directory of `initdb` and `pg_ctl`: on PATH, or Debian's newest /usr/lib/postgresql/*/bin."""
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    return Path(candidates[-1]).parent if candidates else None


def missing_tools() -> list[str]:
    missing = [] if postgres_bindir() else ["PostgreSQL's server binaries (initdb, pg_ctl)"]
    if not shutil.which("redis-server"):
        missing.append("redis-server")
    if os.geteuid() == 0 and not shutil.which("runuser"):
        missing.append("runuser (initdb refuses to run as root)")
    return missing


class PrivatePostgres:
    """A PostgreSQL cluster of its own: `initdb` into `root`, `pg_ctl` to stop and start it.

    initdb and postgres refuse to run as root, so as root they run as the `postgres` user through
    runuser (the directory is handed to that user). `fsync=off` is safe here: the cluster is thrown
    away, and a stopped or crashed server (not a crashed machine) loses nothing committed either way.
    """

    def __init__(self, root: Path, os_user: str = "postgres") -> None:
        self.root = root
        self.port = free_port()
        self.data = root / "pgdata"
        self.log = root / "postgres.log"
        self.bindir = postgres_bindir()
        self.as_user = ["runuser", "-u", os_user, "--"] if os.geteuid() == 0 else []
        self.os_user = os_user

    def _run(self, *args: str, timeout: float = 60) -> None:
        result = subprocess.run([*self.as_user, *args], capture_output=True, text=True, timeout=timeout)
        if result.returncode:
            log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            command = " ".join([*self.as_user, *args])
            raise RuntimeError(f"{command} exited with {result.returncode}:\n{result.stdout}{result.stderr}\n{log}")

    def _ctl(self, *args: str) -> None:
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w", "-t", "30", *args)

    def init(self) -> None:
        if self.as_user:
            shutil.chown(self.root, self.os_user)
        self._run(
            str(self.bindir / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync",
            "-E", "UTF8", "--locale=C",
        )  # fmt: skip
        self.start()
        with psycopg.connect(self.url("postgres"), autocommit=True) as connection:
            connection.execute(f"CREATE DATABASE {DATABASE}")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off"
        self._ctl("start", "-o", options)

    def stop(self, mode: str = "fast") -> None:
        self._ctl("stop", "-m", mode)

    def url(self, database: str = DATABASE) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def query(self, sql: str, params: tuple = ()) -> list[tuple]:
        with psycopg.connect(self.url(), connect_timeout=5) as connection:
            return connection.execute(sql, params).fetchall()

    def destroy(self) -> None:
        with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):  # not running
            self.stop("immediate")


class PrivateRedis:
    """A Redis of its own on a free port, without persistence: a restart forgets everything."""

    def __init__(self, root: Path) -> None:
        self.port = free_port()
        self.log = root / "redis.log"
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as connection:
                connection.sendall(b"PING\r\n")
                return connection.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def start(self) -> None:
        with self.log.open("a") as log:
            self.process = subprocess.Popen(
                ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_until(self._answers, 10, f"redis on port {self.port}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


@dataclass
class AppProcess:
    """One process of the app (daphne or the notifier), its output in `log_path`."""

    name: str
    command: list[str]
    env: dict[str, str]
    log_path: Path
    port: int | None = None
    process: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def start(self) -> None:
        with self.log_path.open("a") as log:
            log.write(f"\n===== start {time.strftime('%H:%M:%S')}: {' '.join(self.command)}\n")
            log.flush()
            self.process = subprocess.Popen(
                self.command, cwd=BASE_DIR, env=self.env, stdout=log, stderr=subprocess.STDOUT
            )

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def wait_healthy(self, timeout: float = 60) -> None:
        def healthy() -> bool:
            if not self.alive():
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}:\n{self.log_tail()}")
            return health(self)[0] == 200

        wait_until(healthy, timeout, f"{self.name} to answer /healthz with 200", interval=0.2)

    def kill(self) -> None:
        """SIGKILL: no shutdown, no socket closed cleanly; the kernel resets its connections."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.alive():
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()

    def log_tail(self, chars: int = 6000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:]


def health(server: AppProcess) -> tuple[int, dict | None]:
    try:
        with urllib.request.urlopen(f"{server.url}/healthz", timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")
    except OSError:
        return 0, None


def app_env(**extra: str) -> dict[str, str]:
    """The production settings (docs/deploy.md): DEBUG off, a real SECRET_KEY, the private servers."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "REDIS_URL", "DJANGO_ALLOW_ASYNC_UNSAFE", "DB_CONN_MAX_AGE", "TEST_DB_SUFFIX"}
    }
    env.update(
        PATH=f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",
        DJANGO_SETTINGS_MODULE="brewverse.settings",
        PYTHONUNBUFFERED="1",
        DEBUG="false",
        SECRET_KEY="fault-suite-" + os.urandom(16).hex(),
        ALLOWED_HOSTS="127.0.0.1,localhost",
        LOG_LEVEL="INFO",
    )
    env.update(extra)
    return env


def manage(env: dict[str, str], *args: str, timeout: float = 120) -> None:
    result = subprocess.run(
        [str(VENV_BIN / "python"), "manage.py", *args],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if result.returncode:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")


def daphne(name: str, env: dict[str, str], root: Path, port: int | None = None) -> AppProcess:
    """daphne as the Dockerfile runs it: through deploy/entrypoint.sh, which migrates first."""
    port = port or free_port()
    command = [str(ENTRYPOINT), "daphne", "-b", "127.0.0.1", "-p", str(port), "brewverse.asgi:application"]
    return AppProcess(name=name, command=command, env=env, log_path=root / f"{name}.log", port=port)


def notifier(env: dict[str, str], root: Path) -> AppProcess:
    command = [str(VENV_BIN / "python"), "manage.py", "run_notifier"]
    return AppProcess(name="notifier", command=command, env=env, log_path=root / "notifier.log")
