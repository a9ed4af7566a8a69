"""Small helpers shared by the orchestrator and the load process: statistics, /proc readings, HTTP."""

import http.client
import json
import math
import os
import re
import time
import urllib.parse
from collections.abc import Iterable, Sequence

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def percentile(sorted_values: Sequence[float], pct: float) -> float | None:
    """Nearest-rank percentile of an already sorted sequence (None when empty)."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(pct / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def summary_ms(seconds: Iterable[float]) -> dict:
    """p50/p95/p99/max/mean in milliseconds of a list of durations in seconds."""
    values = sorted(seconds)
    if not values:
        return {"count": 0, "p50": None, "p95": None, "p99": None, "max": None, "mean": None}

    def ms(value: float | None) -> float | None:
        return None if value is None else round(value * 1000, 2)

    return {
        "count": len(values),
        "p50": ms(percentile(values, 50)),
        "p95": ms(percentile(values, 95)),
        "p99": ms(percentile(values, 99)),
        "max": ms(values[-1]),
        "mean": ms(sum(values) / len(values)),
    }


def rss_kib(pid: int) -> int:
    """Resident set size of a process, from /proc/<pid>/status (KiB)."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def _stat_fields(pid: int) -> list[str]:
    with open(f"/proc/{pid}/stat") as stat:
        text = stat.read()
    # The command name is in parentheses and may hold spaces; the fields after it are plain.
    return text[text.rindex(")") + 2 :].split()


def cpu_seconds(pid: int, *, with_children: bool = False) -> float:
    """User + system CPU of a process (and of its reaped children, when asked)."""
    fields = _stat_fields(pid)
    # After the name: state is field 0, utime 11, stime 12, cutime 13, cstime 14.
    ticks = int(fields[11]) + int(fields[12])
    if with_children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / CLOCK_TICKS


def pids_named(prefix: str) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/comm") as comm:
                if comm.read().strip().startswith(prefix):
                    pids.append(int(entry))
        except OSError:
            continue
    return pids


def service_cpu_seconds() -> dict[str, float]:
    """CPU used so far by PostgreSQL (all backends, live and reaped) and by Redis.

    Both are shared with anything else on the machine, so the numbers are upper bounds for the bench.
    """
    totals = {"postgres": 0.0, "redis": 0.0}
    for name, prefix in (("postgres", "postgres"), ("redis", "redis-server")):
        for pid in pids_named(prefix):
            try:
                # The postmaster's cutime/cstime holds the backends that have exited.
                totals[name] += cpu_seconds(pid, with_children=(name == "postgres"))
            except (OSError, ValueError, IndexError):
                continue
    return totals


def machine_busy_seconds() -> float:
    """CPU seconds all cores have spent busy since boot (from /proc/stat)."""
    with open("/proc/stat") as stat:
        fields = [int(v) for v in stat.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return (sum(fields[:8]) - idle) / CLOCK_TICKS


class CpuMeter:
    """CPU seconds spent by the server processes, PostgreSQL, Redis and the caller between two points.

    `other_cores` is what the rest of the machine used meanwhile: on a shared machine, a run with a
    large `other_cores` measured the server with less than the whole machine.
    """

    def __init__(self, server_pids: list[int]) -> None:
        self.server_pids = server_pids
        self.start = self._read()

    def _read(self) -> dict[str, float]:
        reading = service_cpu_seconds()
        reading["server"] = sum(cpu_seconds(pid) for pid in self.server_pids)
        reading["load"] = time.process_time()
        reading["machine"] = machine_busy_seconds()
        reading["wall"] = time.monotonic()
        return reading

    def stop(self) -> dict[str, float]:
        end = self._read()
        wall = end["wall"] - self.start["wall"]
        result = {"wall_s": round(wall, 2)}
        for key in ("server", "postgres", "redis", "load"):
            used = end[key] - self.start[key]
            # Share of one core: 1.0 means one core busy for the whole interval. PostgreSQL's and Redis'
            # are read from every process of theirs, so they are approximate on a shared server (and
            # None when a backend's exit made the reading go backwards).
            result[f"{key}_cores"] = round(used / wall, 2) if wall > 0 and used >= 0 else None
        if wall > 0:
            ours = sum(result[f"{key}_cores"] or 0 for key in ("server", "postgres", "redis", "load"))
            result["other_cores"] = round(max(0.0, (end["machine"] - self.start["machine"]) / wall - ours), 2)
        return result


class Http:
    """A keep-alive JSON client for one server (http.client, so no extra dependency)."""

    def __init__(self, host: str, port: int, token: str | None = None, timeout: float = 30) -> None:
        self.host, self.port, self.token, self.timeout = host, port, token, timeout
        self.conn: http.client.HTTPConnection | None = None
        self.headers: http.client.HTTPMessage | None = None  # of the last response

    def request(self, method: str, path: str, body: dict | None = None) -> tuple[int, object, int]:
        """(status, decoded JSON or None, response size in bytes); reconnects once on a dropped socket."""
        headers = {"Accept": "application/json", "Host": self.host}
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        for attempt in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            try:
                self.conn.request(method, path, body=payload, headers=headers)
                response = self.conn.getresponse()
                raw = response.read()
            except (http.client.HTTPException, ConnectionError):
                self.close()
                if attempt:
                    raise
                continue
            data = json.loads(raw) if raw and response.headers.get_content_type() == "application/json" else None
            self.headers = response.headers
            return response.status, data, len(raw)
        raise RuntimeError("unreachable")

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def next_link(header: str | None) -> str | None:
    """The path and query of the rel="next" link of an RFC 8288 Link header (the pages of
    GET /api/conversations/), or None on the last page."""
    for url, rel in re.findall(r'<([^>]*)>\s*;\s*rel="([^"]*)"', header or ""):
        if "next" in rel.split():
            parts = urllib.parse.urlsplit(url)
            return parts.path + (f"?{parts.query}" if parts.query else "")
    return None
