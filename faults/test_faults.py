"""The fault suite (`make faults`): clients chat through two daphne processes while the servers fail.

Everything runs for real on loopback, on throwaway servers of its own (faults/servers.py): a private
PostgreSQL cluster, a private Redis, two daphne processes started as the Dockerfile starts them, and
the notifier. Clients following docs/realtime.md post into one group, five on sockets (four users,
one of them on two devices) and one over REST, while two more devices only listen, and the suite:

(a) stops Redis and starts it again, empty;
(b) stops PostgreSQL (fast shutdown: every connection is cut) and starts it again;
(c) kills one daphne process with SIGKILL and starts it again;
(d) cuts client connections right after a send, sometimes halfway through a frame, while an intruder
    who is not in the group floods the servers with garbage and probes for the group's messages.

Then the clients stop posting and the suite checks that every message a sender saw acknowledged is
in the database exactly once and reached every participant exactly once, in seq order; that nothing
is stuck (health answers ok, every client then posts once more and everyone gets it); and that the
intruder read nothing. After each fault it also checks that /healthz named the failing part while it
was down and that every client, listeners too, caught up once it was back.
"""

import asyncio
import contextlib
import json
import os
import random
import shutil
import statistics
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from faults.clients import ORIGIN, ChatClient, RestPoster
from faults.servers import (
    AppProcess,
    PrivatePostgres,
    PrivateRedis,
    app_env,
    daphne,
    health,
    manage,
    missing_tools,
    notifier,
)

pytestmark = [pytest.mark.faults]

# (user, the server the client connects to first); alice has two devices, one on each process.
CLIENTS = [("alice", 0), ("alice", 1), ("bob", 1), ("carol", 0), ("dave", 1)]
# Devices that only listen: a socket that posts gets every gap filled from the database when its own
# message comes back, so only a listener shows whether frames still cross between the processes.
LISTENERS = [("erin", 0), ("erin", 1)]
SEND_EVERY = 0.25  # seconds between a client's messages
MAX_PENDING = 4  # a client waits for acknowledgements beyond this many unacknowledged messages
SETTLE = 4.0  # seconds of chatting after each fault has healed
CATCH_UP_TIMEOUT = 15.0  # seconds for every client to see what was posted before the check
HEAL_TIMEOUT = 45.0  # seconds the servers get to answer /healthz with 200 again
DRAIN_TIMEOUT = 45.0  # seconds for every pending message to be acknowledged and every client to catch up


# --- the servers -----------------------------------------------------------------------------------


@dataclass
class Stack:
    root: Path
    postgres: PrivatePostgres
    redis: PrivateRedis
    servers: list[AppProcess]
    notifier: AppProcess

    def logs(self, chars: int = 4000) -> str:
        parts = []
        for process in [*self.servers, self.notifier]:
            lines = [
                line
                for line in process.log_tail(200_000).splitlines()
                if any(word in line for word in ("Error", "ERROR", "Traceback", "WARNING", "=====", "exited"))
            ]
            parts.append(f"--- {process.name} ({process.log_path})\n" + "\n".join(lines)[-chars:])
        return "\n".join(parts)


@pytest.fixture(scope="module")
def stack(request) -> Iterator[Stack]:
    missing = missing_tools()
    if missing:
        pytest.fail("the fault suite needs " + ", ".join(missing))
    # A short path: PostgreSQL's Unix socket lives here too, and socket paths are limited to ~100 bytes.
    root = Path(tempfile.mkdtemp(prefix="brewverse-faults-"))
    postgres, redis = PrivatePostgres(root), PrivateRedis(root)
    processes: list[AppProcess] = []
    try:
        postgres.init()
        redis.start()
        env = app_env(
            DATABASE_URL=postgres.url(),
            REDIS_URL=redis.url,
            STATIC_ROOT=str(root / "static"),
            THROTTLE_SIGNUP_IP="1000/min",
            NOTIFY_INTERVAL="2",
            NOTIFY_DELAY="1",
            EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend",
        )
        # What the Dockerfile runs when it builds the image.
        manage(env, "collectstatic", "--noinput", "--verbosity", "0")
        # One process keeps its database connections (DB_CONN_MAX_AGE), the other opens one per query.
        servers = [
            daphne("daphne-a", dict(env, DB_CONN_MAX_AGE="0"), root),
            daphne("daphne-b", dict(env, DB_CONN_MAX_AGE="60"), root),
        ]
        processes.extend(servers)
        for server in servers:  # at once: both migrate at start-up, as two containers would
            server.start()
        for server in servers:
            server.wait_healthy()
        worker = notifier(env, root)
        processes.append(worker)
        worker.start()
        yield Stack(root=root, postgres=postgres, redis=redis, servers=servers, notifier=worker)
    finally:
        for process in processes:
            process.stop()
        postgres.destroy()
        redis.stop()
        if request.session.testsfailed:
            # What the servers said, for whoever reads a failed run (CI's output is all there is).
            for process in processes:
                print(f"\n===== the end of {process.name}'s log\n{process.log_tail(4000)}")
        if os.environ.get("FAULTS_KEEP_LOGS"):
            print(f"\nthe fault suite's logs are in {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


# --- a small REST client -----------------------------------------------------------------------------


def _http(server: AppProcess, method: str, path: str, token: str | None = None, body: dict | None = None):
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(
        f"{server.url}{path}",
        data=json.dumps(body).encode() if body is not None else None,
        method=method,
        headers=headers,
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


async def http(*args, **kwargs) -> tuple[int, dict]:
    return await asyncio.to_thread(_http, *args, **kwargs)


async def signup(server: AppProcess, username: str) -> tuple[dict, str]:
    body = {"email": f"{username}@example.com", "username": username, "password": "faults-" + random.randbytes(8).hex()}
    status, answer = await http(server, "POST", "/api/auth/signup", body=body)
    assert status == 201, answer
    return answer["user"], answer["access"]


# --- the run -------------------------------------------------------------------------------------------


@dataclass
class Timeline:
    start: float = field(default_factory=time.monotonic)
    events: list[str] = field(default_factory=list)

    def note(self, text: str) -> None:
        self.events.append(f"{time.monotonic() - self.start:6.1f}s  {text}")

    def __str__(self) -> str:
        return "\n".join(self.events)


async def wait_healthy(servers: list[AppProcess], timeline: Timeline, what: str) -> None:
    started = time.monotonic()
    for server in servers:
        await asyncio.to_thread(server.wait_healthy, HEAL_TIMEOUT)
    timeline.note(f"{what}: /healthz ok on every process after {time.monotonic() - started:.1f} s")


async def produce(clients: list[ChatClient], stop: asyncio.Event) -> None:
    """Every client posts every SEND_EVERY seconds, while it has fewer than MAX_PENDING unacknowledged."""
    while not stop.is_set():
        for client in clients:
            if client.producing and len(client.pending) < MAX_PENDING:
                await client.send_new()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), SEND_EVERY)


async def last_seq_of(postgres: PrivatePostgres, conversation_id: int) -> int:
    sql = "SELECT last_seq FROM chat_conversation WHERE id = %s"
    return (await asyncio.to_thread(postgres.query, sql, (conversation_id,)))[0][0]


def _state(clients: list[ChatClient], last_seq: int) -> str:
    return "; ".join(
        f"{c.name}: {len(c.pending)} pending {sorted(c.pending)[:5]}, seq {c.last_seq}/{last_seq},"
        f" connected {c.connection is not None}"
        for c in clients
    )


async def caught_up(clients: list[ChatClient], postgres: PrivatePostgres, conversation_id: int, what: str) -> None:
    """Every client, while the others go on posting, gets what had been posted when this began."""
    target = await last_seq_of(postgres, conversation_id)
    deadline = time.monotonic() + CATCH_UP_TIMEOUT
    while behind := [c for c in clients if c.last_seq < target]:
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: clients stuck behind seq {target}: {_state(behind, target)}")
        await asyncio.sleep(0.2)


async def drain(clients: list[ChatClient], postgres: PrivatePostgres, conversation_id: int, timeout: float) -> int:
    """Wait until nothing is pending and every client has every message; returns the last seq."""
    deadline = time.monotonic() + timeout
    while True:
        last_seq = await last_seq_of(postgres, conversation_id)
        behind = [c for c in clients if c.pending or c.last_seq != last_seq]
        if not behind:
            return last_seq
        if time.monotonic() > deadline:
            pytest.fail(f"not healed after {timeout} s: {_state(behind, last_seq)}")
        await asyncio.sleep(0.5)


async def reports_failing(servers: list[AppProcess], part: str) -> None:
    """While `part` is down, /healthz says so (503, naming it) on every process."""
    for server in servers:
        status, body = await asyncio.to_thread(health, server)
        assert (status, (body or {}).get(part)) == (503, "failing"), f"{server.name} /healthz: {status} {body}"


@dataclass
class Intruder:
    """mallory: not in the group. Probes for its messages and floods the servers with garbage."""

    user: dict
    token: str
    group_id: int
    servers: list[AppProcess]
    seen: list[dict] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    garbage_sent: int = 0
    errors_received: int = 0

    def _leaks(self, frame: dict) -> bool:
        return self.group_id in (
            frame.get("conversation_id"),
            (frame.get("message") or {}).get("conversation_id"),
            (frame.get("conversation") or {}).get("id"),
        )

    async def _listen(self, ws) -> None:
        try:
            async for raw in ws:
                frame = json.loads(raw)
                self.seen.append(frame)
                if frame.get("type") == "error":
                    self.errors_received += 1
                if self._leaks(frame):
                    self.problems.append(f"the intruder received {frame}")
        except ConnectionClosed:
            pass

    async def probe(self) -> None:
        group = self.group_id
        for server in self.servers:
            for token in (self.token, "not-a-token", ""):
                url = f"{server.ws_url}/ws/chat/{group}/?token={token}&after=0"
                try:
                    async with connect(url, origin=ORIGIN, open_timeout=5) as ws:
                        self.problems.append(f"joined the group's socket with token {token[:12]!r}")
                        await self._listen(ws)
                except InvalidStatus as error:
                    if error.response.status_code != 403:
                        self.problems.append(f"group socket refused with {error.response.status_code}, not 403")
            for method, path, body in [
                ("GET", f"/api/messages/{group}?after=0", None),
                ("GET", f"/api/conversations/{group}/", None),
                ("POST", "/api/messages", {"conversation_id": group, "content": "let me in"}),
                ("POST", f"/api/conversations/{group}/read", {}),
            ]:
                status, answer = await http(server, method, path, self.token, body)
                if status != 404:
                    self.problems.append(f"{method} {path} answered {status} {answer}")

    def _garbage(self, rng: random.Random) -> str | bytes:
        return rng.choice(
            [
                lambda: rng.randbytes(rng.randint(1, 300)),
                lambda: "{" * rng.randint(1, 50),
                lambda: json.dumps([1, 2, 3]),
                lambda: json.dumps({"type": "nope"}),
                lambda: json.dumps({"type": "message", "content": 5}),
                lambda: json.dumps({"type": "message", "content": "x" * 5000, "client_id": "too-long"}),
                lambda: json.dumps({"type": "message", "content": "   "}),
                lambda: json.dumps({"type": "message", "content": "hi", "client_id": "c" * 100}),
                # ids of the group's messages: they must not be readable or markable from here
                lambda: json.dumps({"type": "read", "message_id": rng.randint(1, 400)}),
                lambda: json.dumps({"type": "delivered", "message_id": rng.randint(1, 400)}),
                lambda: json.dumps({"type": "delivered", "message_id": "1; DROP TABLE chat_message"}),
                lambda: json.dumps({"type": "typing", "is_typing": "yes"}),
                lambda: json.dumps({"type": "message", "content": "nul \u0000 byte", "client_id": "nul"}),
                lambda: '{"type": "message", "content": "half a pair \\ud800"}',
                lambda: json.dumps({"type": ["message"]}),
                lambda: "[" * 5000 + "]" * 5000,
                lambda: "z" * (100 * 1024),
            ]
        )()

    async def flood(self, direct_id: int, seconds: float, rng: random.Random) -> None:
        """Garbage on a chat socket of its own and a notification socket, then a good message."""
        chat_url = f"{self.servers[1].ws_url}/ws/chat/{direct_id}/?token={self.token}"
        notes_url = f"{self.servers[0].ws_url}/ws/notifications/?token={self.token}"
        async with (
            connect(chat_url, origin=ORIGIN, max_size=None) as chat,
            connect(notes_url, origin=ORIGIN, max_size=None) as notes,
        ):
            listeners = [asyncio.ensure_future(self._listen(chat)), asyncio.ensure_future(self._listen(notes))]
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                for ws in (chat, notes):
                    await ws.send(self._garbage(rng))
                    self.garbage_sent += 1
                await asyncio.sleep(0.002)
            # The socket stays open through all that; once its bucket refills, a good message goes through.
            acknowledged = False
            for _ in range(20):
                await asyncio.sleep(0.5)
                await chat.send(json.dumps({"type": "message", "content": "sorry", "client_id": "mallory-1"}))
                await asyncio.sleep(0.3)
                if any((f.get("message") or {}).get("client_id") == "mallory-1" for f in self.seen):
                    acknowledged = True
                    break
            if not acknowledged:
                self.problems.append("after the flood the intruder's own message was never acknowledged")
            for listener in listeners:
                listener.cancel()


@pytest.mark.timeout(300)
async def test_no_acknowledged_message_is_lost_and_everything_heals(stack: Stack, capsys):
    timeline = Timeline()
    first, second = stack.servers
    names = sorted({name for name, _ in CLIENTS + LISTENERS})
    accounts = {name: await signup(first, name) for name in [*names, "mallory"]}
    status, group = await http(
        first, "POST", "/api/conversations/", accounts["alice"][1], {"title": "Fault line", "usernames": names[1:]}
    )
    assert status == 201, group
    mallory, mallory_token = accounts["mallory"]
    status, direct = await http(second, "POST", "/api/conversations/direct/alice", mallory_token)
    assert status == 201, direct

    clients = [
        ChatClient(f"{name}{n}", *accounts[name], group["id"], stack.servers, home, seed=n)
        for n, (name, home) in enumerate(CLIENTS + LISTENERS)
    ]
    posters = clients[: len(CLIENTS)]
    runners = [asyncio.ensure_future(client.run()) for client in clients]
    await asyncio.wait_for(asyncio.gather(*(c.connected.wait() for c in clients)), 15)
    timeline.note(f"{len(posters)} clients posting, {len(clients) - len(posters)} listening")
    for client in posters:
        client.producing = True
    stop_producing = asyncio.Event()
    producer = asyncio.ensure_future(produce(posters, stop_producing))
    rest = RestPoster("carol-rest", *accounts["carol"], group["id"], stack.servers)
    rest_runner = asyncio.ensure_future(rest.run(SEND_EVERY))
    intruder = Intruder(mallory, mallory_token, group["id"], stack.servers)
    rng = random.Random(8)

    async def heal(what: str, servers: list[AppProcess]) -> None:
        await wait_healthy(servers, timeline, what)
        await asyncio.sleep(SETTLE)
        await caught_up(clients, stack.postgres, group["id"], what)
        timeline.note(f"{what}: every client caught up")

    try:
        await asyncio.sleep(SETTLE)

        # (a) Redis restarts, empty: the channel layer's groups are gone.
        timeline.note("(a) Redis stopped")
        await asyncio.to_thread(stack.redis.stop)
        await asyncio.sleep(1.5)
        await reports_failing(stack.servers, "channel_layer")
        await asyncio.sleep(1.5)
        await asyncio.to_thread(stack.redis.start)
        timeline.note("(a) Redis started again, empty")
        await heal("(a)", stack.servers)

        # (b) PostgreSQL stops (cutting every connection) and starts again.
        timeline.note("(b) PostgreSQL stopped")
        await asyncio.to_thread(stack.postgres.stop, "fast")
        await asyncio.sleep(1.5)
        await reports_failing(stack.servers, "database")
        await asyncio.sleep(1.5)
        await asyncio.to_thread(stack.postgres.start)
        timeline.note("(b) PostgreSQL started again")
        await heal("(b)", stack.servers)

        # (c) One daphne is killed outright and started again, migrating first as its container would.
        timeline.note(f"(c) SIGKILL {second.name}")
        await asyncio.to_thread(second.kill)
        await asyncio.sleep(1)
        await asyncio.to_thread(second.start)
        timeline.note(f"(c) {second.name} starting again")
        await heal("(c)", [second])

        # (d) Connections cut mid-send, while the intruder probes and floods.
        timeline.note("(d) cutting connections mid-send; the intruder probes and floods")
        await intruder.probe()
        flood = asyncio.ensure_future(intruder.flood(direct["id"], 4, rng))
        cut_until = time.monotonic() + 8
        while time.monotonic() < cut_until:
            await rng.choice(posters).drop_mid_send()
            await asyncio.sleep(rng.uniform(0.1, 0.4))
        await flood
        timeline.note(
            f"(d) {sum(c.drops for c in clients)} connections cut, {intruder.garbage_sent} garbage frames sent"
        )

        # Heal: no new messages; every pending one acknowledged, every client caught up.
        stop_producing.set()
        rest.producing = False
        await producer
        await asyncio.wait_for(rest_runner, DRAIN_TIMEOUT)
        last_seq = await drain(clients, stack.postgres, group["id"], DRAIN_TIMEOUT)
        timeline.note(f"(d) drained: {last_seq} messages, nothing pending, every client caught up")
        await wait_healthy(stack.servers, timeline, "after the faults")

        # Nothing is stuck: one more message from every poster reaches everyone.
        for client in posters:
            await client.connected.wait()
            await client.send_new()
        last_seq = await drain(clients, stack.postgres, group["id"], 20)
        timeline.note("new messages reach every client")
    finally:
        stop_producing.set()
        rest_runner.cancel()
        for client in clients:
            await client.close()
        await asyncio.wait(runners, timeout=5)
        for runner in runners:
            runner.cancel()

    details = f"\ntimeline:\n{timeline}\nserver logs (errors and warnings):\n{stack.logs()}"

    # Every acknowledged message is in the database exactly once, as sent.
    rows = await asyncio.to_thread(
        stack.postgres.query,
        "SELECT id, seq, sender_id, client_id, content FROM chat_message WHERE conversation_id = %s ORDER BY seq",
        (group["id"],),
    )
    assert [row[1] for row in rows] == list(range(1, len(rows) + 1)), "seqs are not 1..N" + details
    saved = {(sender, client_id): (pk, content) for pk, _, sender, client_id, content in rows}
    assert len(saved) == len(rows), "a (sender, client_id) is saved twice" + details
    acknowledged = 0
    for client in posters:
        for client_id, message in client.acked.items():
            acknowledged += 1
            assert saved.get((client.user["id"], client_id)) == (message["id"], message["content"]), (
                f"{client.name}: acknowledged {client_id} is not in the database as acknowledged" + details
            )
    for client_id, message in rest.acked.items():
        acknowledged += 1
        assert saved.get((rest.user["id"], client_id)) == (message["id"], message["content"]), (
            f"{rest.name}: acknowledged {client_id} is not in the database as acknowledged" + details
        )
    assert rest.problems == [], rest.problems[:10]
    assert acknowledged == len(rows), "a saved message was never acknowledged to its sender" + details

    # ... and reached every participant exactly once, in seq order.
    expected = [row[0] for row in rows]
    for client in clients:
        assert client.problems == [], f"{client.name}: {client.problems[:10]}" + details
        delivered = [m["id"] for m in client.delivered]
        assert delivered == expected, f"{client.name} did not get every message once" + details

    # Healthy, and the notifier survived it all.
    for server in stack.servers:
        assert await asyncio.to_thread(health, server) == (
            200,
            {"status": "ok", "database": "ok", "channel_layer": "ok"},
        ), details
    assert stack.notifier.alive(), "the notifier died:\n" + stack.notifier.log_tail()

    # Nobody read what is not theirs.
    assert intruder.problems == [], intruder.problems[:10]
    assert intruder.errors_received > 0, "the garbage was never answered with error frames"

    latencies = [latency for client in posters for latency in client.ack_latencies]
    with capsys.disabled():
        print(f"\n{timeline}")
        print(
            f"{len(rows)} messages, all acknowledged ({len(rest.acked)} over REST, {rest.failures} REST attempts"
            f" failed and were retried: {dict(rest.failed_with)}); {len(clients)} socket clients:"
            f" {sum(c.connects for c in clients)} connections, {sum(c.retries for c in clients)} retried sends,"
            f" {sum(c.retry_acks for c in clients)} second acks (a retry of a message already acknowledged);"
            f" acknowledgement median {statistics.median(latencies) * 1000:.0f} ms, max {max(latencies):.1f} s"
        )
