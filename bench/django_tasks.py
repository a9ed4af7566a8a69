"""In-process work on the bench database: seeding users with many conversations, counting queries.

Run by `bench.run` with the server's environment, as
`python -m bench.django_tasks seed-api|hotpath OUT.json [options]`.

- seed-api: users with 10, 100, 1,000 direct conversations, bulk-inserted for speed (the API itself is
  what is measured, over HTTP, by the load process); query counts of the same requests in-process,
  and of every page of the conversation list.
- hotpath: one message through the real socket path (auth middleware, ChatConsumer, validate,
  insert, counter, commit, group sends, frames) in-process: queries, group sends, where time goes.
"""

import argparse
import json
import os
import re
import sys
import time
from collections import Counter
from datetime import timedelta

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "brewverse.settings")
django.setup()

from asgiref.sync import async_to_sync  # noqa: E402
from channels.layers import channel_layers, get_channel_layer  # noqa: E402
from channels.testing import WebsocketCommunicator  # noqa: E402
from django.contrib.auth.hashers import make_password  # noqa: E402
from django.db import connection, connections  # noqa: E402
from django.db.backends.utils import CursorWrapper  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402
from rest_framework.test import APIClient  # noqa: E402

from accounts.models import User  # noqa: E402
from accounts.tokens import AccessToken  # noqa: E402
from bench.common import next_link  # noqa: E402
from brewverse.asgi import application  # noqa: E402
from chat import events, services  # noqa: E402
from chat.models import Conversation, Message, Participant  # noqa: E402

CONTENT = "lorem ipsum dolor sit amet " * 4
# Usernames of this run: a rerun on the same database does not collide with the last one.
RUN = f"{int(time.time()) % 100000:05d}"


def _bulk_users(prefix: str, count: int) -> list[User]:
    password = make_password(None)  # unusable: these accounts are reached through minted tokens only
    users = [
        User(username=f"{prefix}{i:05d}", email=f"{prefix}{i:05d}@bench.example.com", display_name=f"{prefix}{i:05d}")
        for i in range(count)
    ]
    for user in users:
        user.password = password
    return User.objects.bulk_create(users)


def _seed_user_with_conversations(size: int, history: int) -> dict:
    """One user with `size` direct conversations of two messages each; the newest holds `history`."""
    (owner,) = _bulk_users(f"a{RUN}_{size}_", 1)
    partners = _bulk_users(f"a{RUN}_{size}p", size)
    now = timezone.now()
    conversations = []
    for i, partner in enumerate(partners):
        low, high = sorted((owner.pk, partner.pk))
        length = history if i == 0 else 2
        stamp = now - timedelta(seconds=i)
        conversations.append(
            Conversation(
                is_group=False, direct_key=f"{low}:{high}", last_seq=length, created_at=stamp, updated_at=stamp
            )
        )
    conversations = Conversation.objects.bulk_create(conversations)
    participants, messages = [], []
    for conversation, partner in zip(conversations, partners, strict=True):
        participants.append(Participant(conversation=conversation, user=owner, last_read_seq=1))
        participants.append(Participant(conversation=conversation, user=partner, last_read_seq=conversation.last_seq))
        for seq in range(1, conversation.last_seq + 1):
            sender = owner if seq % 2 else partner
            messages.append(
                Message(conversation=conversation, sender=sender, seq=seq, content=f"{seq} {CONTENT}", created_at=now)
            )
    Participant.objects.bulk_create(participants, batch_size=2000)
    Message.objects.bulk_create(messages, batch_size=2000)
    history_ids = list(
        Message.objects.filter(conversation=conversations[0]).order_by("-id").values_list("id", flat=True)[:100]
    )
    return {
        "user": owner,
        "conversations": size,
        "history_conversation_id": conversations[0].pk,
        # A page further back, as a client scrolling up asks for it.
        "history_before_id": history_ids[-1],
    }


def _count_queries(client: APIClient, path: str) -> dict:
    client.get(path)  # warm caches (content types, etc.) so the count is the steady one
    with CaptureQueriesContext(connection) as captured:
        response = client.get(path)
    if response.status_code != 200:
        raise RuntimeError(f"GET {path}: {response.status_code}")
    return {"queries": len(captured.captured_queries), "status": response.status_code}


def _count_walk(client: APIClient, path: str) -> dict:
    """The queries of each page of the conversation list, following its Link header from `path`."""
    client.get(path)  # warm caches, as _count_queries does
    per_page = []
    while path:
        with CaptureQueriesContext(connection) as captured:
            response = client.get(path)
        if response.status_code != 200:
            raise RuntimeError(f"GET {path}: {response.status_code}")
        per_page.append(len(captured.captured_queries))
        path = next_link(response.headers.get("Link"))
    return {"pages": len(per_page), "queries_per_page": per_page}


def seed_api(args: argparse.Namespace) -> dict:
    sizes = [int(s) for s in args.sizes.split(",")]
    rows = []
    for size in sizes:
        started = time.perf_counter()
        seeded = _seed_user_with_conversations(size, args.history)
        user = seeded.pop("user")
        token = str(AccessToken.for_user(user))
        client = APIClient(HTTP_HOST="127.0.0.1")
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        cid = seeded["history_conversation_id"]
        counts = {
            "conversations": _count_queries(client, "/api/conversations/"),
            "conversations_walk": _count_walk(client, "/api/conversations/"),
            "history": _count_queries(client, f"/api/messages/{cid}?limit=50"),
            "history_before": _count_queries(
                client, f"/api/messages/{cid}?limit=50&before={seeded['history_before_id']}"
            ),
        }
        rows.append({**seeded, "access": token, "queries": counts, "seed_s": round(time.perf_counter() - started, 2)})
    return {"api_users": rows}


# --- the hot path -----------------------------------------------------------------------------
#
# Messages go through the real ASGI application (auth middleware, ChatConsumer, services, events,
# the Redis channel layer) with channels' WebsocketCommunicator. The consumers' database work runs
# in this (the calling) thread, as `database_sync_to_async` does under `async_to_sync`, so the queries
# of one message are those logged on this thread's connection between the frame and its deliveries.


def _normalise(sql: str) -> str:
    sql = " ".join(sql.split())
    sql = re.sub(r"'[^']*'", "?", sql)
    sql = re.sub(r"\b\d+\b", "N", sql)
    sql = re.sub(r"\(N(, N)+\)", "(N, ...)", sql)
    return sql[:160]


class _Watch:
    """What one message costs, in every thread: the message path runs on a pool thread and the group
    sends on the event loop. Records each SQL statement (with its time) and each batch of group sends."""

    def __init__(self) -> None:
        self.statements: list[tuple[str, float]] = []
        self.groups = self.batches = 0
        self.send_seconds = 0.0

    def __enter__(self) -> "_Watch":
        self.execute = CursorWrapper._execute_with_wrappers
        self.layer = get_channel_layer()
        self.send_many = self.layer.group_send_many
        watch = self

        def execute(cursor, sql, params, many, executor):
            started = time.perf_counter()
            try:
                return watch.execute(cursor, sql, params, many, executor)
            finally:
                watch.statements.append((sql, time.perf_counter() - started))

        async def send_many(sends):
            started = time.perf_counter()
            try:
                return await watch.send_many(sends)
            finally:
                watch.groups += len(sends)
                watch.batches += 1
                watch.send_seconds += time.perf_counter() - started

        CursorWrapper._execute_with_wrappers = execute
        self.layer.group_send_many = send_many
        return self

    def __exit__(self, *exc) -> None:
        CursorWrapper._execute_with_wrappers = self.execute
        self.layer.group_send_many = self.send_many


async def _open(path: str, user: User) -> WebsocketCommunicator:
    token = str(AccessToken.for_user(user))
    communicator = WebsocketCommunicator(
        application, f"{path}?token={token}", headers=[(b"origin", b"http://127.0.0.1"), (b"host", b"127.0.0.1")]
    )
    connected, _ = await communicator.connect(timeout=10)
    if not connected:
        raise RuntimeError(f"could not open {path} as {user.username}")
    return communicator


async def _until(communicator: WebsocketCommunicator, kind: str, client_id: str) -> float:
    """Read frames until the message with this client_id arrives; returns the time it did."""
    while True:
        frame = await communicator.receive_json_from(timeout=10)
        if frame.get("type") == kind and frame["message"].get("client_id") == client_id:
            return time.perf_counter()


class _Exchange:
    """A sender's chat socket and the receivers' chat and notification sockets on one conversation."""

    def __init__(self, sender: User, receivers: list[User], conversation_id: int) -> None:
        self.sender, self.receivers, self.conversation_id = sender, receivers, conversation_id

    async def __aenter__(self) -> "_Exchange":
        path = f"/ws/chat/{self.conversation_id}/"
        self.chat = await _open(path, self.sender)
        self.others = [await _open(path, user) for user in self.receivers]
        self.notify = [await _open("/ws/notifications/", user) for user in self.receivers]
        return self

    async def __aexit__(self, *exc) -> None:
        for communicator in [self.chat, *self.others, *self.notify]:
            await communicator.disconnect()

    async def message(self, client_id: str) -> float:
        """One message from the frame to the last socket that should get it; returns seconds."""
        started = time.perf_counter()
        await self.chat.send_json_to({"type": "message", "content": f"{client_id} {CONTENT}", "client_id": client_id})
        await _until(self.chat, "message", client_id)
        for communicator in self.others:
            await _until(communicator, "message", client_id)
        for communicator in self.notify:
            await _until(communicator, "new_message", client_id)
        return time.perf_counter() - started


def _in_sockets(sender: User, receivers: list[User], conversation_id: int, body) -> object:
    """Run `body(exchange)` with the sockets open, through one `async_to_sync` from this thread."""

    async def run():
        # Each async_to_sync runs a new event loop; a layer made on an earlier loop holds locks
        # bound to it, so every run gets a layer of its own.
        channel_layers.backends.clear()
        async with _Exchange(sender, receivers, conversation_id) as exchange:
            # A new client_id each time: a reused one is a retry, acknowledged but not delivered again.
            await exchange.message(f"warm-up-{time.perf_counter_ns()}")
            return await body(exchange)

    return async_to_sync(run)()


def _queries_per_message(sender: User, receivers: list[User], conversation_id: int, label: str) -> dict:
    counted = {}

    async def body(exchange: _Exchange) -> None:
        with _Watch() as watch:
            await exchange.message(f"{label}-counted")
            await events.flush()
        counted.update(sql=[sql for sql, _ in watch.statements], groups=watch.groups, batches=watch.batches)

    _in_sockets(sender, receivers, conversation_id, body)
    return {
        "queries": len(counted["sql"]),
        "group_sends": counted["groups"],
        "group_send_batches": counted["batches"],
        "sql": [_normalise(sql) for sql in counted["sql"]],
    }


def _phase_times(sender: User, receivers: list[User], conversation_id: int, n: int, prefix: str) -> dict:
    """Per message, one at a time: total time to the last socket, in SQL, in group sends."""

    async def body(exchange: _Exchange) -> tuple[float, _Watch]:
        total = 0.0
        with _Watch() as watch:
            for i in range(n):
                total += await exchange.message(f"{prefix}-{i}")
        return total / n, watch

    total, watch = _in_sockets(sender, receivers, conversation_id, body)
    per_statement: Counter = Counter()
    statement_time: Counter = Counter()
    for sql, spent in watch.statements:
        key = _normalise(sql)[:90]
        per_statement[key] += 1
        statement_time[key] += spent
    return {
        "messages": n,
        "total_ms": round(total * 1000, 3),
        "sql_ms": round(sum(statement_time.values()) / n * 1000, 3),
        "group_sends_ms": round(watch.send_seconds / n * 1000, 3),
        "per_statement_ms": {
            k: round(statement_time[k] / per_statement[k] * 1000, 3)
            for k in sorted(statement_time, key=statement_time.get, reverse=True)
        },
    }


def _reconnect_cost(n: int = 20) -> float:
    """What DB_CONN_MAX_AGE=0 costs each database_sync_to_async call: a new PostgreSQL connection."""
    conn = connections["default"]
    started = time.perf_counter()
    for _ in range(n):
        conn.close()
        conn.ensure_connection()
    return round((time.perf_counter() - started) / n * 1000, 3)


def hotpath(args: argparse.Namespace) -> dict:
    alice, bob = _bulk_users(f"h{RUN}_", 2)
    direct, _ = services.conversation_get_or_create_direct(user=alice, other=bob)
    members = _bulk_users(f"h{RUN}g", args.group_size - 1)
    group = services.conversation_create_group(
        creator=alice, title="hot path group", usernames=[u.username for u in members]
    )
    n = args.messages
    group_key = f"group_{args.group_size}"
    # In the group only two members hold sockets: enough to see every query and group send.
    group_receivers = members[:2]
    return {
        "direct": _queries_per_message(alice, [bob], direct.pk, "direct"),
        group_key: _queries_per_message(alice, group_receivers, group.pk, "group"),
        "time_direct": _phase_times(alice, [bob], direct.pk, n, "t-direct"),
        f"time_{group_key}": _phase_times(alice, group_receivers, group.pk, max(20, n // 5), "t-group"),
        "reconnect_ms": _reconnect_cost(),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("task", choices=["seed-api", "hotpath"])
    parser.add_argument("out")
    parser.add_argument("--sizes", default="10,100,1000")
    parser.add_argument("--history", type=int, default=1000)
    parser.add_argument("--messages", type=int, default=300)
    parser.add_argument("--group-size", type=int, default=200)
    args = parser.parse_args()
    result = seed_api(args) if args.task == "seed-api" else hotpath(args)
    with open(args.out, "w") as f:
        json.dump(result, f, default=str)


if __name__ == "__main__":
    sys.exit(main())
