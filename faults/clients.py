"""Chat clients that follow docs/realtime.md ("What a client does to never lose a message").

Each client keeps the highest message id it has seen, reconnects with `?after=` that id (with backoff,
to the next server in turn, as a load balancer would send it), gives every send a `client_id`, keeps it
pending until an `ack` frame with that `client_id` comes back, and sends every pending message again,
with the same `client_id`, after a reconnect or a `rate_limited` or `internal` error.

It also records what the server promised, for the suite to check: on each socket `message` frames come
in `seq` order with no gap and none twice, retries included; each `ack` comes after its message's own
frame (alone for a retry of a message the socket already showed), at most one per frame sent.
"""

import asyncio
import contextlib
import itertools
import json
import random
import time
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass, field

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

ORIGIN = "http://127.0.0.1"
RETRY_CODES = {"rate_limited", "internal"}
BACKOFF_MIN, BACKOFF_MAX = 0.25, 2.0


@dataclass
class Connection:
    """One socket's life: what was sent on it and what was acknowledged, by client_id."""

    number: int
    server: str
    ws: ClientConnection
    sends: Counter = field(default_factory=Counter)
    acks: Counter = field(default_factory=Counter)


class ChatClient:
    def __init__(
        self, name: str, user: dict, token: str, conversation_id: int, servers: list, first: int, seed: int
    ) -> None:
        self.name, self.user, self.token = name, user, token
        self.conversation_id = conversation_id
        self.servers, self.next_server = servers, first
        self.random = random.Random(seed)
        self.ids = (f"{name}-{n}" for n in itertools.count(1))
        self.highest_id = 0  # rule 1: the highest message id seen, for ?after=
        self.last_seq = 0
        self.seen_ids: set[int] = set()
        self.pending: dict[str, str] = {}  # client_id -> content, until acknowledged
        self.first_sent: dict[str, float] = {}
        self.acked: dict[str, dict] = {}  # client_id -> the message that acknowledged it
        self.delivered: list[dict] = []  # each message once, in the order the sockets gave them
        self.problems: list[str] = []
        self.connects = self.refused = self.retries = self.drops = self.retry_acks = 0
        self.ack_latencies: list[float] = []
        self.connection: Connection | None = None
        self.connected = asyncio.Event()
        self.retrying: set[asyncio.Future] = set()
        self.producing = False
        self.stopped = False

    # --- the connection -----------------------------------------------------------------------

    def _url(self, server) -> str:
        path = f"/ws/chat/{self.conversation_id}/"
        return f"{server.ws_url}{path}?token={self.token}&after={self.highest_id}"

    async def run(self) -> None:
        """Stay connected until stopped: connect, resend what is pending, read until the socket ends."""
        backoff = BACKOFF_MIN
        numbers = itertools.count(1)
        while not self.stopped:
            server = self.servers[self.next_server % len(self.servers)]
            self.next_server += 1
            try:
                ws = await connect(
                    self._url(server), origin=ORIGIN, open_timeout=5, close_timeout=1, ping_interval=5, ping_timeout=10
                )
            except InvalidStatus as error:
                self.refused += 1
                if error.response.status_code == 403:
                    self.problems.append(f"handshake refused with 403 on {server.name}")
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX)
                continue
            except Exception:  # refused, reset, timed out: the server is away
                self.refused += 1
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX)
                continue
            backoff = BACKOFF_MIN
            self.connects += 1
            connection = self.connection = Connection(number=next(numbers), server=server.name, ws=ws)
            self.connected.set()
            try:
                # Rule 3: after a reconnect, every pending message again, with the same client_id.
                for client_id in list(self.pending):
                    self.retries += 1
                    await self._send(connection, client_id)
                async for raw in ws:
                    self._on_frame(connection, json.loads(raw))
            except ConnectionClosed:
                pass
            finally:
                self.connection = None
                self.connected.clear()
            if not self.stopped:
                await asyncio.sleep(backoff)

    async def _send(self, connection: Connection, client_id: str) -> None:
        frame = {"type": "message", "content": self.pending[client_id], "client_id": client_id}
        connection.sends[client_id] += 1
        await connection.ws.send(json.dumps(frame))

    async def send_new(self) -> str | None:
        """Post a new message if connected; it stays pending (and is retried) until acknowledged."""
        connection = self.connection
        if connection is None:
            return None
        client_id = next(self.ids)
        self.pending[client_id] = f"{client_id}: {self.random.choice(['tea?', 'coffee!', 'brew o clock', 'pour over'])}"
        self.first_sent[client_id] = time.monotonic()
        with contextlib.suppress(ConnectionClosed):
            await self._send(connection, client_id)
        return client_id

    async def drop_mid_send(self) -> None:
        """Send a message or two and cut the TCP connection at once, sometimes halfway through a frame."""
        connection = self.connection
        if connection is None:
            return
        for _ in range(self.random.randint(1, 2)):
            await self.send_new()
        if self.random.random() < 0.5 and self.connection is connection:
            client_id = next(self.ids)
            self.pending[client_id] = f"{client_id}: cut in half"
            self.first_sent[client_id] = time.monotonic()
            frame = json.dumps({"type": "message", "content": self.pending[client_id], "client_id": client_id})
            protocol = connection.ws.protocol
            protocol.send_text(frame.encode())
            data = b"".join(protocol.data_to_send())
            connection.ws.transport.write(data[: len(data) // 2])
        self.drops += 1
        connection.ws.transport.abort()

    async def close(self) -> None:
        self.stopped = True
        connection = self.connection
        if connection is not None:
            await connection.ws.close()

    # --- what arrives -------------------------------------------------------------------------

    def _on_frame(self, connection: Connection, frame: dict) -> None:
        kind = frame.get("type")
        if kind == "message":
            self._on_message(connection, frame["message"])
        elif kind == "ack":
            self._on_ack(connection, frame)
        elif kind == "error":
            client_id = frame.get("client_id")
            if frame.get("code") in RETRY_CODES and client_id in self.pending:
                asyncio.get_running_loop().call_later(0.5, self._retry_soon, connection, client_id)
            else:
                self.problems.append(f"unexpected error frame on connection {connection.number}: {frame}")

    def _retry_soon(self, connection: Connection, client_id: str) -> None:
        if self.connection is connection and client_id in self.pending and not self.stopped:
            self.retries += 1
            task = asyncio.ensure_future(self._send_quietly(connection, client_id))
            self.retrying.add(task)
            task.add_done_callback(self.retrying.discard)

    async def _send_quietly(self, connection: Connection, client_id: str) -> None:
        with contextlib.suppress(ConnectionClosed):  # retried again on the next connection
            await self._send(connection, client_id)

    def _on_ack(self, connection: Connection, frame: dict) -> None:
        """Rule 3: the message is saved; it is pending no more. Checked against the stream: the ack
        names what it acknowledges, comes after that message's frame, and once per frame sent."""
        client_id, message = frame.get("client_id"), frame.get("message") or {}
        where = f"connection {connection.number} ({connection.server})"
        connection.acks[client_id] += 1
        if connection.acks[client_id] > connection.sends[client_id]:
            self.problems.append(f"{client_id} acknowledged more often than sent on {where}")
        if message.get("client_id") != client_id or message.get("sender", {}).get("id") != self.user["id"]:
            self.problems.append(f"an ack for {client_id} names another message on {where}: {frame}")
            return
        if message.get("id") not in self.seen_ids and message.get("seq", 0) > self.last_seq:
            self.problems.append(f"{client_id} acknowledged before its message frame on {where}")
        if client_id in self.pending:
            del self.pending[client_id]
            self.acked[client_id] = message
            self.ack_latencies.append(time.monotonic() - self.first_sent.pop(client_id))
        elif client_id in self.acked:
            self.retry_acks += 1  # a retry of an acknowledged send: the first message again, no second frame
            if self.acked[client_id]["id"] != message["id"]:
                self.problems.append(f"{client_id} acknowledged as {self.acked[client_id]['id']} and {message['id']}")

    def _on_message(self, connection: Connection, message: dict) -> None:
        if message["conversation_id"] != self.conversation_id:
            self.problems.append(f"a message of conversation {message['conversation_id']} arrived: {message}")
            return
        if message["id"] in self.seen_ids:
            self.problems.append(
                f"seq {message['seq']} (id {message['id']}) delivered again on connection {connection.number}"
                f" ({connection.server})"
            )
            return
        if message["seq"] != self.last_seq + 1:
            where = f"connection {connection.number} ({connection.server})"
            self.problems.append(f"seq {message['seq']} after seq {self.last_seq} on {where}")
        self.seen_ids.add(message["id"])
        self.last_seq = max(self.last_seq, message["seq"])
        self.highest_id = max(self.highest_id, message["id"])
        self.delivered.append(message)


class RestPoster:
    """Posts with `POST /api/messages` and a `client_id`, to each server in turn; the answer (201, or 200
    for a retry) is the acknowledgement. Anything else, a 5xx or a cut connection, is retried with the
    same `client_id` after a pause."""

    def __init__(self, name: str, user: dict, token: str, conversation_id: int, servers: list) -> None:
        self.name, self.user, self.token = name, user, token
        self.conversation_id = conversation_id
        self.servers = servers
        self.ids = (f"{name}-{n}" for n in itertools.count(1))
        self.pending: dict[str, str] = {}
        self.acked: dict[str, dict] = {}
        self.problems: list[str] = []
        self.attempts = self.failures = 0
        self.failed_with: Counter = Counter()  # status (0: no answer) -> count
        self.producing = True

    def _post(self, server, client_id: str) -> tuple[int, dict | None]:
        body = {"conversation_id": self.conversation_id, "content": self.pending[client_id], "client_id": client_id}
        request = urllib.request.Request(
            f"{server.url}/api/messages",
            data=json.dumps(body).encode(),
            method="POST",
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, None
        except OSError:
            return 0, None

    async def run(self, every: float) -> None:
        turn = itertools.count()
        while self.producing or self.pending:
            if not self.pending:
                client_id = next(self.ids)
                self.pending[client_id] = f"{client_id}: posted over REST"
            client_id = next(iter(self.pending))
            self.attempts += 1
            server = self.servers[next(turn) % len(self.servers)]
            status, message = await asyncio.to_thread(self._post, server, client_id)
            if status in (200, 201):
                self.acked[client_id] = message
                del self.pending[client_id]
            else:
                self.failures += 1
                self.failed_with[status] += 1
                # 0: the server was unreachable; 503: the database was (the API says "retry").
                if status not in (0, 502, 503):
                    self.problems.append(f"{client_id}: answered {status}")
            await asyncio.sleep(every)
