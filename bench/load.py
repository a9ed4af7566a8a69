"""The load process: real HTTP and WebSocket clients, separate from the server process.

Run by `bench.run` as `python -m bench.load SCENARIO SPEC.json OUT.json`. The spec names the server
(host, ports, pids) and the scenario's parameters; the result is written as JSON. Every loop here is
bounded in count and in time, and only 127.0.0.1 is ever contacted.

Scenarios:
- setup: sign users up and create their conversations through the API.
- ramp: messages/s in many 1:1 conversations, rising step by step; each message is checked to
  arrive exactly once, in seq order, on the other participant's chat socket (and their notification
  socket). With one rate it is the fixed-rate latency measurement.
- fanout: one group conversation, one message a second; latency from send to the last of its members.
- capacity: idle notification sockets held by one process, and the server's resident memory.
- api: latency of the conversation list (its first page, and a walk through all its pages) and of
  history pages over HTTP.
"""

import asyncio
import contextlib
import gc
import json
import resource
import secrets
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from bench.common import CpuMeter, Http, cpu_seconds, next_link, rss_kib, summary_ms

HOST = "127.0.0.1"
PASSWORD = "Bench-pass-7203-xq!"
CONTENT_PAD = "lorem ipsum dolor sit amet " * 4  # ~100 characters, a typical chat line
# client_ids are unique per load process: a client_id the sender already used in a conversation is a
# retry, which the server acknowledges with the first message and does not deliver again.
RUN = secrets.token_hex(4)


def raise_fd_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


# --- setup ------------------------------------------------------------------------------------


def _signup(port: int, username: str) -> dict:
    http = Http(HOST, port)
    started = time.perf_counter()
    status, body, _ = http.request(
        "POST",
        "/api/auth/signup",
        {"email": f"{username}@bench.example.com", "username": username, "password": PASSWORD},
    )
    elapsed = time.perf_counter() - started
    http.close()
    if status != 201:
        raise RuntimeError(f"signup {username}: {status} {body}")
    return {"id": body["user"]["id"], "username": username, "access": body["access"], "signup_s": elapsed}


def scenario_setup(spec: dict) -> dict:
    """Users through POST /api/auth/signup; direct conversations and one group through the API."""
    params, port = spec["params"], spec["ports"][0]
    names = [f"{params['prefix']}{i:05d}" for i in range(params["users"])]
    started = time.perf_counter()
    # Signups hash a password (Argon2), the slow part of setup; a few in parallel use both cores.
    with ThreadPoolExecutor(max_workers=4) as pool:
        users = list(pool.map(lambda name: _signup(port, name), names))
    signup_s = time.perf_counter() - started

    pairs = []
    started = time.perf_counter()
    for k in range(params["pairs"]):
        a, b = users[2 * k], users[2 * k + 1]
        status, body, _ = Http(HOST, port, a["access"]).request("POST", f"/api/conversations/direct/{b['username']}")
        if status != 201:
            raise RuntimeError(f"direct conversation {a['username']}-{b['username']}: {status} {body}")
        pairs.append({"conversation_id": body["id"], "a": 2 * k, "b": 2 * k + 1})
    direct_s = time.perf_counter() - started

    group = None
    if params["group_size"]:
        # The group's members are users of their own: each member has every other member as a contact,
        # and a contact's presence changes reach them, which must not weigh on the 1:1 scenarios.
        first = 2 * params["pairs"]
        members = list(range(first, first + params["group_size"]))
        owner = users[members[0]]
        status, body, _ = Http(HOST, port, owner["access"]).request(
            "POST",
            "/api/conversations/",
            {"title": "Bench group", "usernames": [users[i]["username"] for i in members[1:]]},
        )
        if status != 201 or len(body["participants"]) != len(members):
            raise RuntimeError(f"group: {status} {str(body)[:300]}")
        group = {"conversation_id": body["id"], "members": members}
    signups = [u.pop("signup_s") for u in users]
    return {
        "users": users,
        "pairs": pairs,
        "group": group,
        "timings": {
            "signup_total_s": round(signup_s, 2),
            "signup_latency": summary_ms(signups),
            "direct_total_s": round(direct_s, 2),
        },
    }


# --- sockets ----------------------------------------------------------------------------------


@dataclass(eq=False)
class Sock:
    """One client socket and what it has seen."""

    user: int
    kind: str  # chat | notify
    conversation_id: int | None = None
    ws: ClientConnection | None = None
    last_seq: int = 0
    seen_seqs: set = field(default_factory=set)
    reorders: int = 0
    duplicates: int = 0
    closed: bool = False
    errors: Counter = field(default_factory=Counter)


def _port_for(spec: dict, user_index: int) -> int:
    ports = spec["ports"]
    return ports[user_index % len(ports)]


async def open_socket(spec: dict, sock: Sock, token: str, timeout: float = 20) -> Sock:
    port = _port_for(spec, sock.user)
    path = f"/ws/chat/{sock.conversation_id}/" if sock.kind == "chat" else "/ws/notifications/"
    # Browsers offer permessage-deflate; so does this client (the server decides).
    sock.ws = await connect(
        f"ws://{HOST}:{port}{path}?token={token}",
        origin=f"http://{HOST}:{port}",
        open_timeout=timeout,
        ping_interval=None,
        max_size=2**20,
    )
    return sock


async def open_many(
    spec: dict, socks_tokens: list[tuple[Sock, str]], concurrency: int = 20, attempts: int = 3
) -> tuple[int, float]:
    """Open sockets with bounded concurrency, retrying a failed handshake; returns (failures, seconds).

    daphne drops a handshake its application has not accepted within 5 s (--websocket_connect_timeout),
    and each accept waits for the process's one database thread: many handshakes at once on a busy
    server fail, so a few at a time.
    """
    gate = asyncio.Semaphore(concurrency)
    failures = 0
    first_error: list[str] = []

    async def one(sock: Sock, token: str) -> None:
        nonlocal failures
        async with gate:
            for attempt in range(attempts):
                try:
                    await open_socket(spec, sock, token)
                    sock.closed = False
                    return
                except Exception as error:  # counted, and the first one shown
                    if not first_error:
                        first_error.append(repr(error))
                    await asyncio.sleep(0.5 * (attempt + 1))
            failures += 1
            sock.closed = True

    started = time.perf_counter()
    await asyncio.gather(*(one(sock, token) for sock, token in socks_tokens))
    if first_error:
        print(f"    a socket failed to open ({failures} for good): {first_error[0]}", flush=True)
    return failures, time.perf_counter() - started


async def close_all(socks: list[Sock]) -> None:
    async def one(sock: Sock) -> None:
        if sock.ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(sock.ws.close(), 5)

    for start in range(0, len(socks), 500):
        await asyncio.gather(*(one(s) for s in socks[start : start + 500]))


def extensions_of(socks: list[Sock]) -> str | None:
    for sock in socks:
        if sock.ws is not None and sock.ws.response is not None:
            return sock.ws.response.headers.get("Sec-WebSocket-Extensions")
    return None


async def wait_server_idle(spec: dict, limit: float = 60, threshold: float = 0.05) -> dict:
    """Wait until the server processes are idle (under 5% of a core over half a second).

    Opening sockets costs the server more than the handshakes (each user coming online tells their
    contacts); measuring starts once that is absorbed. Returns the seconds and server CPU it took.
    """
    pids = spec["server_pids"]
    started, cpu_start = time.perf_counter(), sum(cpu_seconds(pid) for pid in pids)
    while time.perf_counter() - started < limit:
        before = sum(cpu_seconds(pid) for pid in pids)
        await asyncio.sleep(0.5)
        if sum(cpu_seconds(pid) for pid in pids) - before < threshold * 0.5 * len(pids):
            break
    return {
        "seconds": round(time.perf_counter() - started, 1),
        "server_cpu_s": round(sum(cpu_seconds(pid) for pid in pids) - cpu_start, 2),
    }


# --- messages ---------------------------------------------------------------------------------


class Msg:
    __slots__ = ("acks", "conversation_id", "deliveries", "notifications", "sender", "t_ack", "t_delivered")
    __slots__ += ("t_notified", "t_sent")

    def __init__(self, sender: int, conversation_id: int, t_sent: float) -> None:
        self.sender, self.conversation_id, self.t_sent = sender, conversation_id, t_sent
        self.t_ack = self.t_delivered = self.t_notified = None
        self.acks = self.deliveries = self.notifications = 0


class Traffic:
    """Every message sent, and every frame received about it, keyed by client_id."""

    def __init__(self) -> None:
        self.messages: dict[str, Msg] = {}
        self.unknown = 0
        self.acked = 0
        self.last_activity = time.perf_counter()

    def on_frame(self, sock: Sock, frame: dict, now: float) -> None:
        kind = frame.get("type")
        if kind == "error":
            sock.errors[frame.get("code", "?")] += 1
            return
        if sock.kind == "chat" and kind == "message":
            body = frame["message"]
            seq = body["seq"]
            if seq in sock.seen_seqs:
                sock.duplicates += 1
            elif seq < sock.last_seq:
                sock.reorders += 1
            sock.seen_seqs.add(seq)
            sock.last_seq = max(sock.last_seq, seq)
            msg = self.messages.get(body.get("client_id") or "")
            if msg is None:
                self.unknown += 1
            elif msg.sender == sock.user:
                msg.acks += 1
                if msg.t_ack is None:
                    msg.t_ack = now
                    self.acked += 1
            else:
                msg.deliveries += 1
                if msg.t_delivered is None:
                    msg.t_delivered = now
            self.last_activity = now
        elif sock.kind == "notify" and kind == "new_message":
            msg = self.messages.get(frame["message"].get("client_id") or "")
            if msg is None:
                self.unknown += 1
            elif msg.sender == sock.user:
                pass  # the sender's own devices hear of it too; the figures are the other side's
            else:
                msg.notifications += 1
                if msg.t_notified is None:
                    msg.t_notified = now
            self.last_activity = now


async def read_loop(sock: Sock, traffic: Traffic) -> None:
    try:
        async for raw in sock.ws:
            traffic.on_frame(sock, json.loads(raw), time.perf_counter())
    except ConnectionClosed:
        pass
    finally:
        sock.closed = True


def _socket_totals(socks: list[Sock]) -> dict:
    errors = Counter()
    for sock in socks:
        errors.update(sock.errors)
    return {
        "reorders": sum(s.reorders for s in socks),
        "duplicate_frames": sum(s.duplicates for s in socks),
        "closed": sum(1 for s in socks if s.closed),
        "errors": dict(errors),
    }


def _delta(after: dict, before: dict) -> dict:
    errors = Counter(after["errors"])
    errors.subtract(before["errors"])
    return {
        "reorders": after["reorders"] - before["reorders"],
        "duplicate_frames": after["duplicate_frames"] - before["duplicate_frames"],
        "closed": after["closed"] - before["closed"],
        "errors": {k: v for k, v in errors.items() if v},
    }


def _cpu_per_message(cpu: dict, messages: int) -> dict:
    if not messages:
        return {}
    return {
        part: round(cpu[f"{part}_cores"] * cpu["wall_s"] * 1000 / messages, 2)
        for part in ("server", "postgres", "redis", "load")
        if cpu[f"{part}_cores"] is not None
    }


def _grade(messages: list[Msg], expect_notifications: bool) -> dict:
    delivered = [m for m in messages if m.deliveries >= 1]
    return {
        "sent": len(messages),
        "acked": sum(1 for m in messages if m.acks >= 1),
        "delivered": len(delivered),
        "missing": sum(1 for m in messages if m.deliveries == 0),
        "duplicated": sum(1 for m in messages if m.deliveries > 1 or m.acks > 1),
        "notified": sum(1 for m in messages if m.notifications >= 1) if expect_notifications else None,
        "notification_missing": sum(1 for m in messages if m.notifications == 0) if expect_notifications else None,
        "notification_duplicated": sum(1 for m in messages if m.notifications > 1) if expect_notifications else None,
    }


async def _wait_quiet(traffic: Traffic, done, timeout: float) -> float:
    """Wait until `done()` or `timeout`; returns the seconds waited."""
    started = time.perf_counter()
    while time.perf_counter() - started < timeout and not done():
        await asyncio.sleep(0.05)
    return time.perf_counter() - started


async def scenario_ramp(spec: dict) -> dict:
    """1:1 conversations, both participants sending, at rising total rates."""
    params, fixtures = spec["params"], spec["fixtures"]
    users = fixtures["users"]
    pairs = fixtures["pairs"][: params["pairs"]]
    notifications = params.get("notifications", True)
    traffic = Traffic()
    chat_socks, notify_socks = [], []
    for pair in pairs:
        for user in (pair["a"], pair["b"]):
            chat_socks.append(Sock(user=user, kind="chat", conversation_id=pair["conversation_id"]))
            if notifications:
                notify_socks.append(Sock(user=user, kind="notify"))
    socks = chat_socks + notify_socks
    failures, open_s = await open_many(spec, [(s, users[s.user]["access"]) for s in socks])
    if failures > 0.1 * len(socks):
        await close_all(socks)
        return {"error": f"{failures} of {len(socks)} sockets failed to open"}
    if failures:
        # Leave out the conversations whose sockets did not open; say how many.
        broken = {s.user for s in socks if s.closed}
        pairs = [p for p in pairs if p["a"] not in broken and p["b"] not in broken]
        chat_socks = [s for s in chat_socks if s.user not in broken]
        notify_socks = [s for s in notify_socks if s.user not in broken]
        socks = chat_socks + notify_socks
    readers = [asyncio.create_task(read_loop(s, traffic)) for s in socks]
    settle = await wait_server_idle(spec)
    steps = []
    try:
        for step_index, rate in enumerate(params["rates"]):
            steps.append(await _ramp_step(spec, traffic, chat_socks, socks, step_index, rate, notifications))
            last = steps[-1]
            print(
                f"    {rate:>5} msg/s offered: delivered {last['delivered_rate']}/s, "
                f"p50 {last['latency']['p50']} ms, p99 {last['latency']['p99']} ms, "
                f"{'ok' if last['passed'] else 'BROKE: ' + ', '.join(last['broke_on'])}",
                flush=True,
            )
            if not last["passed"] and params.get("stop_on_failure", True):
                break
    finally:
        await close_all(socks)
        for task in readers:
            task.cancel()
    passed = [s for s in steps if s["passed"]]
    return {
        "pairs": len(pairs),
        "sockets": len(socks),
        "sockets_failed_to_open": failures,
        "notifications": notifications,
        "sockets_open_s": round(open_s, 2),
        "settle_after_open": settle,
        "ws_extensions": extensions_of(socks),
        "steps": steps,
        "max_sustained_rate": max((s["delivered_rate"] for s in passed), default=0),
        "max_passed_offered_rate": max((s["offered_rate"] for s in passed), default=0),
        "unknown_frames": traffic.unknown,
    }


async def _ramp_step(
    spec: dict,
    traffic: Traffic,
    chat_socks: list[Sock],
    socks: list[Sock],
    step_index: int,
    rate: float,
    notifications: bool,
) -> dict:
    params = spec["params"]
    duration, drain = params["step_seconds"], params["drain_seconds"]
    before = _socket_totals(socks)
    meter = CpuMeter(spec["server_pids"])
    sent: list[Msg] = []
    total = int(rate * duration)
    started = time.perf_counter()
    cursor = 0
    send_lag = 0.0
    backlog_limit = max(200, int(rate * params.get("max_backlog_seconds", 2)))
    acked_before = traffic.acked
    stopped_on_backlog = False
    while len(sent) < total:
        now = time.perf_counter()
        if now - started > duration * 3:  # the sender itself cannot keep up: stop, and say so
            break
        # A server that has fallen this far behind will not catch up within the step; sending on
        # would only leave it a backlog to work off for minutes after the step.
        if len(sent) - (traffic.acked - acked_before) > backlog_limit:
            stopped_on_backlog = True
            break
        due = min(total, int((now - started) * rate) + 1) - len(sent)
        for _ in range(due):
            sock = chat_socks[cursor % len(chat_socks)]
            cursor += 1
            if sock.closed:
                continue
            client_id = f"{RUN}-s{step_index}-{len(sent)}"
            scheduled = started + len(sent) / rate
            msg = Msg(sock.user, sock.conversation_id, time.perf_counter())
            send_lag = max(send_lag, msg.t_sent - scheduled)
            traffic.messages[client_id] = msg
            sent.append(msg)
            try:
                await sock.ws.send(
                    json.dumps({"type": "message", "content": f"{client_id} {CONTENT_PAD}", "client_id": client_id})
                )
            except ConnectionClosed:
                sock.closed = True
        await asyncio.sleep(0.002)
    send_s = time.perf_counter() - started

    def all_in() -> bool:
        return all(m.deliveries and m.acks and (m.notifications or not notifications) for m in sent) or all(
            s.closed for s in chat_socks
        )

    drained_s = await _wait_quiet(traffic, all_in, drain)
    cpu = meter.stop()
    grade = _grade(sent, notifications)
    delivered = [m for m in sent if m.t_delivered is not None]
    window = (max(m.t_delivered for m in delivered) - sent[0].t_sent) if delivered else 0
    delivered_rate = round(len(delivered) / window, 1) if window > 0 else 0
    persisted = [m for m in sent if m.t_ack is not None]
    ack_window = (max(m.t_ack for m in persisted) - sent[0].t_sent) if persisted else 0
    latency = summary_ms(m.t_delivered - m.t_sent for m in delivered)
    sockets = _delta(_socket_totals(socks), before)
    limits = params["limits"]
    broke_on = []
    if grade["missing"] or grade["duplicated"] or sockets["duplicate_frames"]:
        broke_on.append("lost or duplicated messages")
    if notifications and (grade["notification_missing"] or grade["notification_duplicated"]):
        broke_on.append("lost or duplicated notifications")
    if sockets["reorders"]:
        broke_on.append("out of seq order")
    if sockets["errors"] or sockets["closed"]:
        broke_on.append("error frames or closed sockets")
    if delivered_rate < limits["min_delivered_ratio"] * rate:
        broke_on.append("delivery fell behind the offered rate")
    if latency["p99"] is None or latency["p99"] > limits["p99_ms"]:
        broke_on.append(f"p99 over {limits['p99_ms']} ms")
    if stopped_on_backlog:
        broke_on.append(f"sending stopped: over {backlog_limit} messages unacknowledged")
    return {
        "offered_rate": rate,
        "duration_s": duration,
        "send_s": round(send_s, 2),
        "send_rate": round(len(sent) / send_s, 1) if send_s else None,
        "max_send_lag_ms": round(send_lag * 1000, 1),
        "stopped_on_backlog": stopped_on_backlog,
        "drain_s": round(drained_s, 2),
        **grade,
        "delivered_rate": delivered_rate,
        "persisted_rate": round(len(persisted) / ack_window, 1) if ack_window > 0 else 0,
        "latency": latency,
        "ack_latency": summary_ms(m.t_ack - m.t_sent for m in persisted),
        "notification_latency": summary_ms(m.t_notified - m.t_sent for m in sent if m.t_notified is not None),
        "sockets": sockets,
        "cpu": cpu,
        # CPU per persisted message: unlike rates, little affected by whatever else runs on the machine.
        "cpu_ms_per_message": _cpu_per_message(cpu, len(persisted)),
        "server_rss_kib": [rss_kib(pid) for pid in spec["server_pids"]],
        "passed": not broke_on,
        "broke_on": broke_on,
    }


# --- group fan-out ----------------------------------------------------------------------------


async def scenario_fanout(spec: dict) -> dict:
    """Messages at a fixed interval into a group; time until the last member's chat socket has each."""
    params, fixtures = spec["params"], spec["fixtures"]
    users, group = fixtures["users"], fixtures["group"]
    notifications = params.get("notifications", True)
    members = group["members"]
    chat = {u: Sock(user=u, kind="chat", conversation_id=group["conversation_id"]) for u in members}
    notify = {u: Sock(user=u, kind="notify") for u in members} if notifications else {}
    socks = list(chat.values()) + list(notify.values())
    failures, open_s = await open_many(spec, [(s, users[s.user]["access"]) for s in socks])
    if failures:
        await close_all(socks)
        return {"error": f"{failures} of {len(socks)} sockets failed to open (after retries)"}
    arrivals: dict[str, dict[int, float]] = {}
    notified: dict[str, dict[int, float]] = {}
    errors = Counter()
    reorders = duplicates = 0

    async def reader(sock: Sock) -> None:
        nonlocal reorders, duplicates
        try:
            async for raw in sock.ws:
                now = time.perf_counter()
                frame = json.loads(raw)
                if frame.get("type") == "error":
                    errors[frame.get("code")] += 1
                elif sock.kind == "chat" and frame.get("type") == "message":
                    seq = frame["message"]["seq"]
                    if seq in sock.seen_seqs:
                        duplicates += 1
                    elif seq < sock.last_seq:
                        reorders += 1
                    sock.seen_seqs.add(seq)
                    sock.last_seq = max(sock.last_seq, seq)
                    got = arrivals.setdefault(frame["message"].get("client_id") or "", {})
                    if sock.user in got:
                        duplicates += 1
                    got[sock.user] = now
                elif sock.kind == "notify" and frame.get("type") == "new_message":
                    notified.setdefault(frame["message"].get("client_id") or "", {})[sock.user] = now
        except ConnectionClosed:
            sock.closed = True

    readers = [asyncio.create_task(reader(s)) for s in socks]
    settle = await wait_server_idle(spec, limit=120)
    sender = chat[members[0]]
    receivers = [u for u in members if u != sender.user]
    meter = CpuMeter(spec["server_pids"])
    sent: dict[str, float] = {}
    try:
        started = time.perf_counter()
        for index in range(params["messages"]):
            target = started + index * params["interval_s"]
            await asyncio.sleep(max(0.0, target - time.perf_counter()))
            client_id = f"{RUN}-g{index}"
            sent[client_id] = time.perf_counter()
            await sender.ws.send(
                json.dumps({"type": "message", "content": f"{client_id} {CONTENT_PAD}", "client_id": client_id})
            )

        def complete() -> bool:
            return all(
                len(arrivals.get(c, {})) >= len(members) and (not notify or len(notified.get(c, {})) >= len(receivers))
                for c in sent
            )

        await _wait_quiet(Traffic(), complete, params["drain_seconds"])
    finally:
        cpu = meter.stop()
        await close_all(socks)
        for task in readers:
            task.cancel()
    to_last, to_median, notify_last, incomplete = [], [], [], 0
    for client_id, t_sent in sent.items():
        got = arrivals.get(client_id, {})
        times = sorted(got[u] - t_sent for u in receivers if u in got)
        if len(times) < len(receivers):
            incomplete += 1
            continue
        to_last.append(times[-1])
        to_median.append(times[len(times) // 2])
        n_times = [t - t_sent for u, t in notified.get(client_id, {}).items() if u != sender.user]
        if len(n_times) >= len(receivers):
            notify_last.append(max(n_times))
    return {
        "members": len(members),
        "sockets": len(socks),
        "sockets_open_s": round(open_s, 2),
        "settle_after_open": settle,
        "messages": len(sent),
        "interval_s": params["interval_s"],
        "incomplete_messages": incomplete,
        "duplicates": duplicates,
        "reorders": reorders,
        "errors": dict(errors),
        "latency_to_last_member": summary_ms(to_last),
        "latency_to_median_member": summary_ms(to_median),
        "notification_latency_to_last_member": summary_ms(notify_last),
        "cpu": cpu,
        "cpu_ms_per_message": _cpu_per_message(cpu, len(sent)),
        "deliveries_per_s": round(len(to_last) * len(receivers) / (cpu["wall_s"] or 1), 1),
    }


# --- capacity ---------------------------------------------------------------------------------


async def scenario_capacity(spec: dict) -> dict:
    """Idle notification sockets on one server process, in steps; resident memory after each."""
    params, fixtures = spec["params"], spec["fixtures"]
    # The 1:1 users (one contact each), so that the figure is the sockets' memory, not presence traffic.
    users = fixtures["users"][: 2 * len(fixtures["pairs"])] or fixtures["users"]
    pid = spec["server_pids"][0]
    deadline = time.perf_counter() + params["max_seconds"]
    # Warm the process first (imports, first connection, first group), then take the baseline.
    warm = [Sock(user=i % len(users), kind="notify") for i in range(20)]
    await open_many(spec, [(s, users[s.user]["access"]) for s in warm])
    await close_all(warm)
    await asyncio.sleep(1)
    baseline = rss_kib(pid)
    socks: list[Sock] = []
    steps = []
    for target in params["steps"]:
        if time.perf_counter() > deadline:
            break
        new = [Sock(user=i % len(users), kind="notify") for i in range(len(socks), target)]
        failures, open_s = await open_many(spec, [(s, users[s.user]["access"]) for s in new], params["concurrency"])
        socks.extend(new)
        await asyncio.sleep(params["settle_seconds"])
        open_now = sum(1 for s in socks if s.ws is not None and s.ws.state.name == "OPEN")
        rss = rss_kib(pid)
        health = Http(HOST, spec["ports"][0])
        t0 = time.perf_counter()
        status, _, _ = health.request("GET", "/healthz")
        health_ms = (time.perf_counter() - t0) * 1000
        health.close()
        step = {
            "target": target,
            "open": open_now,
            "failed": failures,
            "open_s": round(open_s, 2),
            "connects_per_s": round(len(new) / open_s, 1) if open_s else None,
            "server_rss_kib": rss,
            "rss_per_socket_kib": round((rss - baseline) / open_now, 1) if open_now else None,
            "healthz_ms": round(health_ms, 1),
            "healthz_status": status,
            "load_rss_kib": rss_kib_self(),
        }
        steps.append(step)
        print(
            f"    {open_now} idle sockets: server RSS {rss / 1024:.0f} MiB, "
            f"{step['rss_per_socket_kib']} KiB/socket, {step['connects_per_s']} connects/s",
            flush=True,
        )
        if failures > max(10, 0.01 * len(new)) or status != 200:
            break
    # Hold them: the server's keepalive pings must not drop any idle socket.
    await asyncio.sleep(params["hold_seconds"])
    held = sum(1 for s in socks if s.ws is not None and s.ws.state.name == "OPEN")
    ext = extensions_of(socks)
    await close_all(socks)
    gc.collect()
    best = max((s for s in steps if s["failed"] == 0), key=lambda s: s["open"], default=None)
    return {
        "baseline_rss_kib": baseline,
        "steps": steps,
        "held_after_s": params["hold_seconds"],
        "still_open_after_hold": held,
        "max_idle_sockets": best["open"] if best else 0,
        "rss_per_socket_kib": best["rss_per_socket_kib"] if best else None,
        "ws_extensions": ext,
    }


def rss_kib_self() -> int:
    return rss_kib(int(open("/proc/self/stat").read().split()[0]))


# --- API --------------------------------------------------------------------------------------


def _walk(http: Http, path: str) -> dict:
    """Every page of the conversation list from `path`, following the Link header: how many, and
    how many conversations and bytes they held."""
    pages = conversations = size = 0
    while path:
        status, body, length = http.request("GET", path)
        if status != 200:
            raise RuntimeError(f"GET {path}: {status}")
        pages, conversations, size = pages + 1, conversations + len(body), size + length
        path = next_link(http.headers.get("Link"))
    return {"pages": pages, "conversations": conversations, "bytes": size}


def scenario_api(spec: dict) -> dict:
    """Sequential keep-alive requests per user size: the first page of the conversation list, a walk
    through all its pages, and two history pages."""
    params = spec["params"]
    port = spec["ports"][0]
    results = []
    for entry in spec["fixtures"]["api_users"]:
        http = Http(HOST, port, entry["access"])
        cid = entry["history_conversation_id"]
        endpoints = {
            "list": "/api/conversations/",
            "history": f"/api/messages/{cid}?limit=50",
            "history_before": f"/api/messages/{cid}?limit=50&before={entry['history_before_id']}",
        }
        row = {"size": entry["conversations"]}
        for name, path in endpoints.items():
            status, _, size = http.request("GET", path)  # warm-up, and a correctness check
            if status != 200:
                raise RuntimeError(f"GET {path}: {status}")
            times = []
            budget = time.perf_counter() + params["seconds_per_endpoint"]
            for _ in range(params["requests"]):
                if times and time.perf_counter() > budget:
                    break
                t0 = time.perf_counter()
                http.request("GET", path)
                times.append(time.perf_counter() - t0)
            row[name] = {"latency": summary_ms(times), "bytes": size}
        # All pages of the list, as a client that wants every conversation reads them.
        walked = _walk(http, "/api/conversations/")  # warm-up, and the figures of one walk
        if walked["conversations"] != entry["conversations"]:
            raise RuntimeError(f"walked {walked['conversations']} of {entry['conversations']} conversations")
        times = []
        budget = time.perf_counter() + params["seconds_per_endpoint"]
        for _ in range(params["walks"]):
            if times and time.perf_counter() > budget:
                break
            t0 = time.perf_counter()
            _walk(http, "/api/conversations/")
            times.append(time.perf_counter() - t0)
        row["list_walk"] = {"latency": summary_ms(times), **walked}
        http.close()
        results.append(row)
    return {"requests_per_endpoint": params["requests"], "walks": params["walks"], "sizes": results}


SCENARIOS = {
    "setup": scenario_setup,
    "ramp": scenario_ramp,
    "fanout": scenario_fanout,
    "capacity": scenario_capacity,
    "api": scenario_api,
}


def main() -> None:
    name, spec_path, out_path = sys.argv[1:4]
    with open(spec_path) as f:
        spec = json.load(f)
    raise_fd_limit()
    scenario = SCENARIOS[name]
    if asyncio.iscoroutinefunction(scenario):
        try:
            import uvloop

            result = uvloop.run(scenario(spec))
        except ImportError:
            result = asyncio.run(scenario(spec))
    else:
        result = scenario(spec)
    with open(out_path, "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main()
