"""The benchmark, in one command: `python -m bench.run [--full] [--compare] [--name NAME]`.

It creates a fresh PostgreSQL database, migrates it, starts the server in its production shape,
creates users and conversations through the API, runs the load scenarios from a separate process
(`bench.load`), counts queries in-process (`bench.django_tasks`), and writes
`bench/results/<date>-<name>.json` and `.png`. `make bench` is the quick pass (under 3 minutes),
`make bench-full` the long one with the comparison of server setups.
"""

import argparse
import contextlib
import importlib.metadata
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import redis

from bench.common import cpu_seconds, rss_kib
from bench.load import raise_fd_limit
from bench.server import BENCH_ENV, REDIS_URL, ROOT, Database, ServerConfig, Servers

RESULTS = ROOT / "bench" / "results"

# The documented production setup (docs/performance.md says why): one daphne process per core
# behind one Redis with channels_redis' RedisChannelLayer, and persistent database connections.
PRODUCTION = ServerConfig(server="daphne", processes=1, layer="core-tuned", conn_max_age=60)

TARGETS = {
    "throughput_msgs_per_s": 1000,
    "latency_p99_ms_at_500": 100,
    "fanout_p99_ms_200_members": 250,
    "idle_sockets": 5000,
    "rss_per_socket_kib": 100,
    # GET /api/conversations/ (its first page) for every user size, in the same number of queries.
    "api_list_p50_ms": 50,
}

PROFILES = {
    "quick": {
        "pairs": 25,
        "group_size": 200,
        "ramp": {
            "rates": [20, 50, 100, 150, 200, 250, 300, 400, 500, 750, 1000, 1500, 2000],
            "step_seconds": 4,
            "drain_seconds": 3,
        },
        "latency": {"rate": 500, "seconds": 6},
        "fanout": {"messages": 12, "interval_s": 1.0},
        "capacity": {"steps": [1000, 2500, 5000], "hold_seconds": 5, "max_seconds": 60},
        "api": {"sizes": "10,100,1000", "requests": 15, "walks": 5, "seconds": 2},
        "hotpath_messages": 100,
        "compare": {
            "rates": [20, 50, 100, 150, 200, 250, 300, 400, 500, 750, 1000, 1500],
            "step_seconds": 4,
            "latency_seconds": 6,
        },
    },
    "full": {
        "pairs": 100,
        "group_size": 200,
        "ramp": {
            "rates": [20, 50, 100, 150, 200, 300, 400, 500, 750, 1000, 1250, 1500, 2000, 2500, 3000],
            "step_seconds": 10,
            "drain_seconds": 5,
        },
        "latency": {"rate": 500, "seconds": 30},
        "fanout": {"messages": 60, "interval_s": 1.0},
        "capacity": {"steps": [1000, 2500, 5000, 7500, 10000, 15000], "hold_seconds": 30, "max_seconds": 240},
        "api": {"sizes": "10,100,1000", "requests": 100, "walks": 20, "seconds": 10},
        "hotpath_messages": 1000,
        "compare": {
            "rates": [20, 50, 100, 150, 200, 300, 400, 500, 750, 1000, 1500, 2000],
            "step_seconds": 6,
            "latency_seconds": 15,
        },
    },
}

# A step of the throughput ramp passes when every message arrived exactly once and in order, without
# error frames, delivery kept up with the offered rate, and p99 stayed under a second.
RAMP_LIMITS = {"p99_ms": 1000, "min_delivered_ratio": 0.95}


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.production = replace(
            PRODUCTION,
            **{
                k: v
                for k, v in (
                    ("server", args.server),
                    ("processes", args.processes),
                    ("layer", args.layer),
                    ("conn_max_age", args.conn_max_age),
                )
                if v is not None
            },
        )
        self.profile = PROFILES["full" if args.full else "quick"]
        self.stamp = datetime.now(UTC)
        self.work = Path(tempfile.mkdtemp(prefix="brewverse-bench-"))
        self.fixtures: dict = {}

    # --- running the pieces ---

    def load(self, scenario: str, servers: Servers, params: dict, timeout: float) -> dict:
        spec = {"ports": servers.ports, "server_pids": servers.pids, "params": params, "fixtures": self.fixtures}
        spec_path = self.work / f"{scenario}-spec.json"
        out_path = self.work / f"{scenario}-out.json"
        spec_path.write_text(json.dumps(spec))
        out_path.unlink(missing_ok=True)
        subprocess.run(
            [sys.executable, "-m", "bench.load", scenario, str(spec_path), str(out_path)],
            cwd=ROOT,
            check=True,
            timeout=timeout,
        )
        result = json.loads(out_path.read_text())
        # An overloaded server goes on working through its backlog after the load stops; the next
        # scenario starts once it is idle, so it does not pay for this one.
        result["server_busy_after_s"] = wait_idle(servers.pids)
        return result

    def django_task(self, servers: Servers, task: str, *options: str, timeout: float = 300) -> dict:
        out_path = self.work / f"{task}-out.json"
        subprocess.run(
            [sys.executable, "-m", "bench.django_tasks", task, str(out_path), *options],
            cwd=ROOT,
            env=servers.env(),
            check=True,
            timeout=timeout,
        )
        return json.loads(out_path.read_text())

    def ramp_params(self, rates: list[int], step_seconds: float, drain: float, stop: bool = True) -> dict:
        return {
            "pairs": self.profile["pairs"],
            "rates": rates,
            "step_seconds": step_seconds,
            "drain_seconds": drain,
            "limits": RAMP_LIMITS,
            "stop_on_failure": stop,
            "notifications": True,
        }

    # --- scenarios ---

    def attempt(self, name: str, fn, *args, **kwargs) -> dict:
        """Run one scenario; a failure is recorded in its place and the others still run."""
        try:
            return fn(*args, **kwargs)
        except (subprocess.SubprocessError, OSError, ValueError, KeyError, RuntimeError) as error:
            print(f"    {name} failed: {error!r}", flush=True)
            return {"error": repr(error)}

    def wanted(self, scenario: str) -> bool:
        return not self.args.only or scenario in self.args.only.split(",")

    def run_socket_scenarios(
        self, servers: Servers, *, ramp: dict, latency: dict, fanout: bool, py_spy: bool = False
    ) -> dict:
        out = {}
        if self.wanted("throughput"):
            print(f"  throughput ramp ({self.profile['pairs']} 1:1 conversations, both sides sending)", flush=True)
            out["throughput"] = self.attempt(
                "throughput",
                self.load,
                "ramp",
                servers,
                self.ramp_params(ramp["rates"], ramp["step_seconds"], ramp["drain_seconds"]),
                timeout=60 + len(ramp["rates"]) * (ramp["step_seconds"] * 3 + ramp["drain_seconds"] + 10),
            )
        if self.wanted("latency"):
            print(f"  latency at a fixed {latency['rate']} msg/s for {latency['seconds']} s", flush=True)
            spy = start_py_spy(servers.pids[0], latency["seconds"] + 2, self.work) if py_spy else None
            out["latency"] = self.attempt(
                "latency",
                self.load,
                "ramp",
                servers,
                self.ramp_params([latency["rate"]], latency["seconds"], 5, stop=False),
                timeout=120 + latency["seconds"] * 3,
            )
            if spy is not None:
                out["latency"]["py_spy"] = finish_py_spy(*spy)
        if fanout and self.wanted("fanout"):
            params = {**self.profile["fanout"], "drain_seconds": 10, "notifications": True}
            print(f"  group fan-out: {self.profile['group_size']} members", flush=True)
            out["fanout"] = self.attempt("fan-out", self.load, "fanout", servers, params, timeout=180)
            f = out["fanout"]
            if "error" not in f:
                print(
                    f"    to the last member: p50 {f['latency_to_last_member']['p50']} ms, "
                    f"p99 {f['latency_to_last_member']['p99']} ms",
                    flush=True,
                )
        return out

    def run_capacity(self, servers: Servers) -> dict:
        params = {**self.profile["capacity"], "concurrency": 20, "settle_seconds": 2}
        print("  capacity: idle notification sockets on one process", flush=True)
        return self.load("capacity", servers, params, timeout=params["max_seconds"] + params["hold_seconds"] + 180)

    def run_api(self, servers: Servers) -> dict:
        print("  API: users with " + self.profile["api"]["sizes"].replace(",", ", ") + " conversations", flush=True)
        seeded = self.django_task(servers, "seed-api", "--sizes", self.profile["api"]["sizes"])
        self.fixtures["api_users"] = seeded["api_users"]
        params = {
            "requests": self.profile["api"]["requests"],
            "walks": self.profile["api"]["walks"],
            "seconds_per_endpoint": self.profile["api"]["seconds"],
        }
        measured = self.load("api", servers, params, timeout=900)
        for row, seed in zip(measured["sizes"], seeded["api_users"], strict=True):
            for endpoint, counted in (("list", "conversations"), ("history", "history")):
                row[endpoint]["queries"] = seed["queries"][counted]["queries"]
            row["history_before"]["queries"] = seed["queries"]["history_before"]["queries"]
            per_page = seed["queries"]["conversations_walk"]["queries_per_page"]
            row["list_walk"]["queries"] = max(per_page)  # per page: the same on every page
            row["list_walk"]["queries_per_page"] = per_page
            walk = row["list_walk"]
            print(
                f"    {row['size']:>5} conversations: list's first page p50 {row['list']['latency']['p50']} ms "
                f"({row['list']['queries']} queries, {row['list']['bytes']} bytes); all {walk['pages']} pages "
                f"p50 {walk['latency']['p50']} ms ({min(per_page)}-{max(per_page)} queries a page, "
                f"{walk['bytes']} bytes); history p50 {row['history']['latency']['p50']} ms "
                f"({row['history']['queries']} queries)",
                flush=True,
            )
        return measured

    def run_hotpath(self, servers: Servers) -> dict:
        print("  hot path: queries and time per message, in-process", flush=True)
        result = self.django_task(
            servers, "hotpath", "--messages", str(self.profile["hotpath_messages"]), "--group-size", "200"
        )
        for label, key in (("direct", "direct"), ("group of 200", "group_200")):
            counted, timed = result[key], result[f"time_{key}"]
            print(
                f"    {label}: {counted['queries']} queries, {counted['group_sends']} group sends in "
                f"{counted['group_send_batches']} batch(es), {timed['total_ms']} ms",
                flush=True,
            )
        return result

    def run(self) -> dict:
        raise_fd_limit()
        name = self.args.name or ("full" if self.args.full else "quick")
        database = Database(f"brewverse_bench_{self.stamp:%Y%m%d_%H%M%S}")
        print(f"Brewverse bench ({'full' if self.args.full else 'quick'}): database {database.name}", flush=True)
        record = {
            "name": name,
            "mode": "full" if self.args.full else "quick",
            "started_at": self.stamp.isoformat(),
            "machine": machine_info(),
            "versions": versions(),
            "settings": {
                "production": self.production.as_dict(),
                "env": {**BENCH_ENV, "DEBUG": "false", "REDIS_URL": REDIS_URL, "DATABASE_URL": "postgres (fresh db)"},
                "profile": self.profile,
                "ramp_limits": RAMP_LIMITS,
            },
            "targets": TARGETS,
            "scenarios": {},
        }
        database.create()
        try:
            servers = Servers(self.production, database, self.work)
            servers.migrate()
            servers.start()
            try:
                needs_users = self.args.full or self.args.compare
                needs_users = needs_users or any(
                    self.wanted(x) for x in ("throughput", "latency", "fanout", "capacity")
                )
                if needs_users:
                    print("  setup: signing users up and creating conversations through the API", flush=True)
                    self.fixtures = self.load(
                        "setup",
                        servers,
                        {
                            "users": 2 * self.profile["pairs"] + self.profile["group_size"],
                            "pairs": self.profile["pairs"],
                            "group_size": self.profile["group_size"],
                            "prefix": "bench",
                        },
                        timeout=600,
                    )
                    record["setup"] = self.fixtures["timings"]
                scenarios = record["scenarios"]
                scenarios.update(
                    self.run_socket_scenarios(
                        servers,
                        ramp=self.profile["ramp"],
                        latency=self.profile["latency"],
                        fanout=True,
                        py_spy=self.args.py_spy,
                    )
                )
                if self.wanted("api"):
                    scenarios["api"] = self.attempt("api", self.run_api, servers)
                if self.wanted("hotpath"):
                    scenarios["hotpath"] = self.attempt("hot path", self.run_hotpath, servers)
            finally:
                servers.stop()
            if self.wanted("capacity"):
                # A fresh process, so the memory of the earlier scenarios does not hide the sockets' cost.
                servers = Servers(self.production, database, self.work)
                servers.start()
                try:
                    record["scenarios"]["capacity"] = self.attempt("capacity", self.run_capacity, servers)
                finally:
                    servers.stop()
            if self.args.compare or self.args.full:
                record["comparison"] = self.run_comparison(database)
        finally:
            record["finished_at"] = datetime.now(UTC).isoformat()
            record["summary"] = summarize(record)
            if not self.args.keep_db:
                database.drop()
            self.write(record, name)
        return record

    def run_comparison(self, database: Database) -> list[dict]:
        """One server choice changed at a time, on the same database and users."""
        compare = self.profile["compare"]
        base = self.production
        variants = [
            replace(base, layer="core", conn_max_age=0),  # as the settings ship
            replace(base, layer="core"),
            replace(base, conn_max_age=0),
            base,
            replace(base, layer="pubsub"),
            replace(base, server="uvicorn"),
            replace(base, processes=2),
            replace(base, server="uvicorn", processes=2),
        ]
        variants = list({v.label: v for v in variants}.values())
        if self.args.variants:
            wanted = set(self.args.variants.split(","))
            variants = [v for v in variants if v.label in wanted]
        rows = []
        for config in variants:
            if config.server == "uvicorn" and shutil.which("uvicorn", path=str(Path(sys.executable).parent)) is None:
                rows.append({"config": config.as_dict(), "skipped": "uvicorn is not installed"})
                continue
            print(f"comparison: {config.label}", flush=True)
            servers = Servers(config, database, self.work)
            servers.start()
            try:
                result = self.run_socket_scenarios(
                    servers,
                    ramp={**compare, "drain_seconds": 3},
                    latency={"rate": 500, "seconds": compare["latency_seconds"]},
                    fanout=True,
                )
                result["idle_rss_kib"] = [rss_kib(pid) for pid in servers.pids]
            except subprocess.SubprocessError as error:
                result = {"error": str(error)}
            finally:
                servers.stop()
            rows.append({"config": config.as_dict(), **result})
        return rows

    def write(self, record: dict, name: str) -> None:
        RESULTS.mkdir(parents=True, exist_ok=True)
        base = RESULTS / f"{self.stamp:%Y-%m-%d}-{name}"
        base.with_suffix(".json").write_text(json.dumps(record, indent=1, default=str) + "\n")
        print(f"\nwrote {base.with_suffix('.json').relative_to(ROOT)}", flush=True)
        try:
            from bench.plot import plot

            plot(record, base.with_suffix(".png"))
            print(f"wrote {base.with_suffix('.png').relative_to(ROOT)}", flush=True)
        except ImportError as error:
            print(f"no plot ({error}); install requirements-bench.txt", flush=True)
        print_summary(record["summary"])
        print(f"server logs in {self.work}")


def wait_idle(pids: list[int], limit: float = 90, threshold: float = 0.05) -> float:
    """Seconds until the server processes use under 5% of a core over half a second (at most `limit`)."""
    started = time.monotonic()
    while time.monotonic() - started < limit:
        before = sum(cpu_seconds(pid) for pid in pids)
        time.sleep(0.5)
        if sum(cpu_seconds(pid) for pid in pids) - before < threshold * 0.5 * len(pids):
            break
    return round(time.monotonic() - started, 1)


# --- py-spy ---


def start_py_spy(pid: int, seconds: float, work: Path) -> tuple[subprocess.Popen, Path] | None:
    """Sample the server while it works (py-spy needs ptrace; without it the bench goes on)."""
    exe = Path(sys.executable).parent / "py-spy"
    if not exe.exists():
        print("    (py-spy is not installed: no profile)", flush=True)
        return None
    out = work / f"py-spy-{pid}.txt"
    # --gil: only the thread holding the GIL, i.e. where the CPU of this (GIL-bound) process goes.
    cmd = [
        str(exe),
        "record",
        "-p",
        str(pid),
        "-d",
        str(int(seconds)),
        "-r",
        "200",
        "--gil",
        "-f",
        "raw",
        "-o",
        str(out),
    ]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL), out


def _py_spy_frame(frame: str) -> str:
    name, _, where = frame.partition(" (")
    where = where.rstrip(")").split("site-packages/")[-1].replace(str(ROOT) + "/", "").rsplit(":", 1)[0]
    return f"{name} ({where})"


def finish_py_spy(proc: subprocess.Popen, out: Path, top: int = 30) -> dict:
    """Self and inclusive sample shares per function, from py-spy's collapsed stacks."""
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
    if not out.exists():
        return {"error": "py-spy wrote nothing (ptrace not permitted?)"}
    own: dict[str, int] = {}
    inclusive: dict[str, int] = {}
    total = 0
    for line in out.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        # "func (path/to/file.py:123)" -> "func (file.py)": lines of one function merged.
        frames = [_py_spy_frame(frame) for frame in stack.split(";")]
        own[frames[-1]] = own.get(frames[-1], 0) + n
        for frame in set(frames):
            inclusive[frame] = inclusive.get(frame, 0) + n

    def table(counts: dict[str, int]) -> list[dict]:
        best = sorted(counts.items(), key=lambda item: item[1], reverse=True)[:top]
        return [{"function": name, "share": round(n / total, 4)} for name, n in best]

    return {"samples": total, "by_self": table(own), "by_inclusive": table(inclusive), "raw": str(out)}


# --- the record -------------------------------------------------------------------------------


def machine_info() -> dict:
    cpu = ""
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "")
    mem_kib = 0
    with contextlib.suppress(OSError), open("/proc/meminfo") as f:
        mem_kib = int(next(line.split()[1] for line in f if line.startswith("MemTotal")))
    return {
        "hostname": platform.node(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(mem_kib / 1024 / 1024, 1),
        "kernel": platform.release(),
        "loadavg_at_start": os.getloadavg(),
        "fd_limit": raise_fd_limit(),
    }


def versions() -> dict:
    packages = [
        "Django",
        "channels",
        "channels-redis",
        "daphne",
        "uvicorn",
        "psycopg",
        "redis",
        "websockets",
        "Twisted",
    ]
    found = {}
    for package in packages:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            found[package] = importlib.metadata.version(package)
    found["python"] = platform.python_version()
    with contextlib.suppress(Exception):
        found["postgresql"] = subprocess.run(
            ["psql", "-h", "127.0.0.1", "-U", "postgres", "-tAc", "show server_version"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    with contextlib.suppress(Exception):
        found["redis_server"] = redis.Redis.from_url(REDIS_URL).info("server")["redis_version"]
    with contextlib.suppress(Exception):
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True)
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True, check=True)
        found["brewverse_commit"] = commit.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    return found


def _first_step(ramp: dict) -> dict:
    """The lowest-rate step of a ramp: its CPU per message is the cost of a message without queueing."""
    return (ramp.get("steps") or [{}])[0]


def summarize(record: dict) -> dict:
    s = record.get("scenarios", {})
    out = {}
    throughput = s.get("throughput", {})
    if "steps" in throughput:
        out["throughput_msgs_per_s"] = throughput["max_sustained_rate"]
        out["throughput_offered_passed"] = throughput["max_passed_offered_rate"]
        broke = next((step for step in throughput["steps"] if not step["passed"]), None)
        out["throughput_broke_at"] = {"offered": broke["offered_rate"], "on": broke["broke_on"]} if broke else None
        out["server_cpu_ms_per_message"] = _first_step(throughput).get("cpu_ms_per_message", {}).get("server")
    latency = s.get("latency", {})
    if latency.get("steps"):
        step = latency["steps"][0]
        out["latency_ms_at_500"] = {k: step["latency"][k] for k in ("p50", "p95", "p99")}
        out["latency_at_500_exactly_once"] = step["passed"] or step["broke_on"]
    fanout = s.get("fanout", {})
    if "latency_to_last_member" in fanout:
        out["fanout_ms_to_last_of_200"] = {k: fanout["latency_to_last_member"][k] for k in ("p50", "p95", "p99")}
        out["fanout_server_cpu_ms_per_message"] = fanout.get("cpu_ms_per_message", {}).get("server")
    capacity = s.get("capacity", {})
    if "max_idle_sockets" in capacity:
        out["idle_sockets"] = capacity["max_idle_sockets"]
        out["rss_per_socket_kib"] = capacity["rss_per_socket_kib"]
    api = s.get("api", {})
    if "sizes" in api:
        out["api"] = {
            row["size"]: {
                # The list's first page (before pagination: the whole list).
                "list_p50_ms": row["list"]["latency"]["p50"],
                "list_queries": row["list"]["queries"],
                "list_bytes": row["list"]["bytes"],
                **(
                    {
                        "list_walk_p50_ms": row["list_walk"]["latency"]["p50"],
                        "list_walk_pages": row["list_walk"]["pages"],
                        "list_walk_queries_per_page": row["list_walk"]["queries"],
                    }
                    if "list_walk" in row
                    else {}
                ),
                "history_p50_ms": row["history"]["latency"]["p50"],
                "history_queries": row["history"]["queries"],
            }
            for row in api["sizes"]
        }
    hot = s.get("hotpath", {})
    if "direct" in hot:
        out["queries_per_message"] = {"direct": hot["direct"]["queries"], "group_200": hot["group_200"]["queries"]}
    if "comparison" in record:
        out["comparison"] = [
            {
                "label": row["config"]["label"],
                "throughput_msgs_per_s": row.get("throughput", {}).get("max_sustained_rate"),
                "p99_ms_at_500": (row.get("latency", {}).get("steps") or [{}])[0].get("latency", {}).get("p99"),
                "fanout_p99_ms": row.get("fanout", {}).get("latency_to_last_member", {}).get("p99"),
                "server_cpu_ms_per_message": _first_step(row.get("throughput", {}))
                .get("cpu_ms_per_message", {})
                .get("server"),
                "fanout_server_cpu_ms_per_message": row.get("fanout", {}).get("cpu_ms_per_message", {}).get("server"),
            }
            for row in record["comparison"]
        ]
    t = record["targets"]
    checks = {}
    if "throughput_msgs_per_s" in out:
        checks["throughput"] = out["throughput_msgs_per_s"] >= t["throughput_msgs_per_s"]
    if "latency_ms_at_500" in out:
        checks["latency"] = (out["latency_ms_at_500"]["p99"] or 1e9) < t["latency_p99_ms_at_500"]
    if "fanout_ms_to_last_of_200" in out:
        checks["fanout"] = (out["fanout_ms_to_last_of_200"]["p99"] or 1e9) < t["fanout_p99_ms_200_members"]
    if "idle_sockets" in out:
        checks["idle_sockets"] = out["idle_sockets"] >= t["idle_sockets"]
        checks["rss_per_socket"] = (out["rss_per_socket_kib"] or 1e9) < t["rss_per_socket_kib"]
    if "api" in out and "api_list_p50_ms" in t:
        rows = out["api"].values()
        checks["api_list"] = len({r["list_queries"] for r in rows}) == 1 and all(
            (r["list_p50_ms"] or 1e9) < t["api_list_p50_ms"] for r in rows
        )
    out["targets_met"] = checks
    return out


def print_summary(summary: dict) -> None:
    print("\nsummary")
    for key, value in summary.items():
        print(f"  {key}: {json.dumps(value)}")


def _terminate(signum, frame) -> None:
    # SIGTERM unwinds like Ctrl-C, so the servers are stopped and the database dropped.
    raise KeyboardInterrupt


def main() -> None:
    signal.signal(signal.SIGTERM, _terminate)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="the long run, with the comparison of setups")
    parser.add_argument("--compare", action="store_true", help="also compare server setups (always on with --full)")
    parser.add_argument("--variants", help="comma-separated labels of the comparison rows to run")
    parser.add_argument("--name", help="the results file's name after the date (default: quick or full)")
    parser.add_argument("--keep-db", action="store_true", help="keep the bench database afterwards")
    parser.add_argument("--server", choices=["daphne", "uvicorn"], help="override the main run's server")
    parser.add_argument("--processes", type=int, help="override the main run's number of server processes")
    parser.add_argument("--layer", choices=["core", "core-tuned", "pubsub"], help="override the main run's layer")
    parser.add_argument("--conn-max-age", type=int, help="override the main run's DB_CONN_MAX_AGE")
    parser.add_argument("--only", help="comma-separated: throughput,latency,fanout,api,hotpath,capacity")
    parser.add_argument("--py-spy", action="store_true", help="sample the server with py-spy during the latency run")
    args = parser.parse_args()
    started = time.monotonic()
    Bench(args).run()
    print(f"done in {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
