"""Presence (chat/presence.py): online while one socket is open, in any process; expiring after a crash."""

import asyncio
import json
import time
from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from websockets.asyncio.client import connect

from accounts.models import User
from brewverse.db import in_thread_pool
from chat import presence, services
from chat.models import SocketPresence
from chat.tests import sockets as socket_helpers
from chat.tests.live import live_env, live_server
from chat.tests.sockets import TIMEOUT, access_token, receive

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("clean_presence")]

# The shared socket fixtures (assigned rather than imported, so the test arguments shadow no import).
sockets = socket_helpers.sockets
fast_passwords = socket_helpers.fast_passwords


def public(user: User) -> dict:
    return {"id": user.pk, "username": user.username, "display_name": user.display_name}


online_ids = database_sync_to_async(presence.online_user_ids)
sweep = database_sync_to_async(presence.sweep_expired)


@database_sync_to_async
def last_seen(user: User):
    return User.objects.get(pk=user.pk).last_seen_at


def iso(value) -> str:
    return value.isoformat().replace("+00:00", "Z")


async def nothing_more(communicator, timeout: float = 0.3) -> None:
    """Strictly silent: not even a presence frame."""
    assert await communicator.receive_nothing(timeout=timeout), await communicator.receive_output()


async def test_online_through_connect_second_tab_closing_one_then_the_last(sockets, direct, alice, bob):
    bob_notes = await sockets.notifications(bob)

    first_tab = await sockets.notifications(alice)
    came = await receive(bob_notes, presence=True)
    assert came["type"] == "presence"
    assert came["user"] == public(alice)
    assert came["online"] is True
    assert came["last_seen_at"] == iso(await last_seen(alice))
    assert await online_ids([alice.pk, bob.pk]) == {alice.pk, bob.pk}

    second_tab = await sockets.chat(alice, direct.pk)
    await nothing_more(bob_notes)

    await first_tab.disconnect()
    await nothing_more(bob_notes)
    assert alice.pk in await online_ids([alice.pk])

    await second_tab.disconnect()
    went = await receive(bob_notes, presence=True)
    assert went["user"] == public(alice)
    assert went["online"] is False
    assert went["last_seen_at"] == iso(await last_seen(alice))
    assert await online_ids([alice.pk]) == set()


async def test_only_people_sharing_a_conversation_hear_of_it(sockets, direct, alice, bob, carol):
    bob_notes = await sockets.notifications(bob)
    carol_notes = await sockets.notifications(carol)
    await nothing_more(bob_notes)  # carol and bob share nothing

    await sockets.notifications(alice)

    assert (await receive(bob_notes, presence=True))["user"]["id"] == alice.pk
    await nothing_more(carol_notes)


async def test_a_refused_handshake_does_not_count(sockets, direct, alice, carol):
    await sockets.refused(f"/ws/chat/{direct.pk}/", carol)
    await sockets.refused("/ws/notifications/")
    assert await online_ids([carol.pk]) == set()


async def test_the_heartbeat_keeps_an_open_socket_counted_past_the_ttl(sockets, settings, alice):
    settings.PRESENCE_TTL = 1.0
    settings.PRESENCE_HEARTBEAT = 0.1
    await sockets.notifications(alice)

    await asyncio.sleep(2.5)

    assert await online_ids([alice.pk]) == {alice.pk}


async def test_a_crashed_processs_sockets_stop_counting_after_the_ttl(sockets, settings, direct, alice, bob):
    settings.PRESENCE_TTL = 0.3
    # A socket whose process died: opened, never heartbeated again, never closed.
    assert await presence.socket_opened(alice.pk, "specific.crashed!socket") is True
    assert await online_ids([alice.pk]) == {alice.pk}

    await asyncio.sleep(0.5)

    assert await online_ids([alice.pk]) == set()
    # Its stale entry neither keeps alice online nor hides her coming back.
    bob_notes = await sockets.notifications(bob)
    await sockets.notifications(alice)
    assert (await receive(bob_notes, presence=True))["online"] is True


async def test_two_sockets_opening_and_closing_at_once_announce_once(alice):
    opened = await asyncio.gather(*(presence.socket_opened(alice.pk, f"tab-{n}") for n in range(5)))
    assert sorted(opened) == [False, False, False, False, True]

    closed = await asyncio.gather(*(presence.socket_closed(alice.pk, f"tab-{n}") for n in range(5)))
    assert sorted(closed) == [False, False, False, False, True]


# --- the sweep: announcing the users of a crashed process offline ---------------------------------------


async def crashed_socket(user: User, socket_id: str = "crashed.socket") -> None:
    """A socket whose process died: opened and announced, never heartbeated again, never closed."""
    assert await presence.socket_opened(user.pk, socket_id) is True
    await in_thread_pool(presence.presence_record)(user_id=user.pk, online=True)


async def test_a_crashed_socket_is_swept_offline_once_with_its_last_heartbeat(sockets, settings, direct, alice, bob):
    settings.PRESENCE_TTL = 1.0
    settings.PRESENCE_HEARTBEAT = 0.1  # bob's socket stays
    bob_notes = await sockets.notifications(bob)
    before = timezone.now()
    await crashed_socket(alice)
    after = timezone.now()
    assert (await receive(bob_notes, presence=True))["online"] is True

    assert await sweep() == []  # not expired yet
    await asyncio.sleep(1.2)
    assert await sweep() == [alice.pk]

    went = await receive(bob_notes, presence=True)
    assert (went["user"], went["online"]) == (public(alice), False)
    seen = await last_seen(alice)
    assert went["last_seen_at"] == iso(seen)
    # When the socket was last heard of, not when the sweep noticed.
    assert before - timedelta(milliseconds=5) <= seen <= after + timedelta(milliseconds=5)
    assert await sweep() == []
    await nothing_more(bob_notes)


async def test_a_user_with_a_live_socket_left_is_not_swept(sockets, settings, direct, alice, bob):
    settings.PRESENCE_TTL = 1.0
    settings.PRESENCE_HEARTBEAT = 0.1
    bob_notes = await sockets.notifications(bob)
    await crashed_socket(alice)
    await sockets.notifications(alice)  # heartbeats on
    assert (await receive(bob_notes, presence=True))["online"] is True

    await asyncio.sleep(1.3)
    assert await sweep() == []

    await nothing_more(bob_notes)
    assert await online_ids([alice.pk]) == {alice.pk}
    if not settings.REDIS_URL:  # the crashed socket's row is gone, the live one stays
        assert await database_sync_to_async(SocketPresence.objects.filter(user=alice).count)() == 1


async def test_two_sweepers_at_once_announce_each_user_once(sockets, settings, make_user, alice, bob):
    settings.PRESENCE_TTL = 0.3
    settings.PRESENCE_HEARTBEAT = 0.1  # bob's socket stays
    group = await database_sync_to_async(services.conversation_create_group)(creator=bob, title="All", usernames=[])
    crashed = [alice, *[await database_sync_to_async(make_user)() for _ in range(15)]]
    for user in crashed:
        await database_sync_to_async(services.conversation_add_member)(
            actor=await database_sync_to_async(group.participants.get)(user=bob), username=user.username
        )
        assert await presence.socket_opened(user.pk, f"crashed.{user.pk}") is True
    bob_notes = await sockets.notifications(bob)
    await asyncio.sleep(0.5)

    first, second = await asyncio.gather(
        in_thread_pool(presence.sweep_expired)(), in_thread_pool(presence.sweep_expired)()
    )

    assert sorted(first + second) == sorted(user.pk for user in crashed)
    frames = [await receive(bob_notes, presence=True) for _ in crashed]
    assert sorted(frame["user"]["id"] for frame in frames if not frame["online"]) == sorted(u.pk for u in crashed)
    await nothing_more(bob_notes)


async def test_a_user_who_reconnected_before_the_sweep_is_not_swept(sockets, settings, direct, alice, bob):
    settings.PRESENCE_TTL = 0.3
    settings.PRESENCE_HEARTBEAT = 0.1  # bob's socket stays
    bob_notes = await sockets.notifications(bob)
    await crashed_socket(alice)
    assert (await receive(bob_notes, presence=True))["online"] is True
    await asyncio.sleep(0.5)

    settings.PRESENCE_TTL = 60.0
    await sockets.notifications(alice)
    assert (await receive(bob_notes, presence=True))["online"] is True  # she had gone: she is back
    assert await sweep() == []

    await nothing_more(bob_notes)
    assert await online_ids([alice.pk]) == {alice.pk}


async def expired_socket(settings, user, socket_id: str) -> None:
    """A socket whose entry has expired without its closing: a process that stalled or crashed."""
    settings.PRESENCE_TTL = 0.3
    await crashed_socket(user, socket_id)
    await asyncio.sleep(0.5)


async def test_a_stalled_socket_swept_offline_is_back_online_with_its_next_heartbeat(settings, alice):
    await expired_socket(settings, alice, "stalled")
    assert await sweep() == [alice.pk]

    # Its process wakes up: the heartbeat brings alice back, and her closing is then news again.
    assert await presence.socket_heartbeat(alice.pk, "stalled") is True
    assert await presence.socket_heartbeat(alice.pk, "stalled") is False
    assert await online_ids([alice.pk]) == {alice.pk}
    assert await presence.socket_closed(alice.pk, "stalled") is True


async def test_a_socket_closing_after_the_sweep_announced_it_says_nothing_more(settings, alice):
    await expired_socket(settings, alice, "stalled")
    assert await sweep() == [alice.pk]

    assert await presence.socket_closed(alice.pk, "stalled") is False


async def test_a_socket_closing_before_the_sweep_leaves_it_nothing(settings, alice):
    await expired_socket(settings, alice, "stalled")

    assert await presence.socket_closed(alice.pk, "stalled") is True
    assert await sweep() == []


def test_run_notifier_sweeps_presence(settings, direct, alice, capsys):
    from asgiref.sync import async_to_sync

    settings.PRESENCE_TTL = 0.2
    async_to_sync(presence.socket_opened)(alice.pk, "crashed.socket")
    time.sleep(0.3)

    call_command("run_notifier", "--once")

    assert "1 users swept offline" in capsys.readouterr().out
    assert User.objects.get(pk=alice.pk).last_seen_at is not None


# --- GET /api/users/presence ------------------------------------------------------------------------


def test_the_presence_list_covers_everyone_sharing_a_conversation(api_for, alice, bob, carol, make_user):
    services.conversation_get_or_create_direct(user=alice, other=bob)
    services.conversation_create_group(creator=alice, title="Crew", usernames=["carol", "bob"])
    make_user("stranger")
    from asgiref.sync import async_to_sync

    async_to_sync(presence.socket_opened)(bob.pk, "bob-laptop")

    response = api_for(alice).get("/api/users/presence")

    assert response.status_code == 200
    assert response.json() == [
        {"user": public(bob), "online": True, "last_seen_at": None},
        {"user": public(carol), "online": False, "last_seen_at": None},
    ]


def test_the_presence_list_costs_the_same_for_2_or_12_contacts(api_for, alice, make_user):
    def queries() -> int:
        api = api_for(alice)
        with CaptureQueriesContext(connection) as captured:
            assert api.get("/api/users/presence").status_code == 200
        return len(captured)

    group = services.conversation_create_group(creator=alice, title="Few", usernames=[])
    for _ in range(2):
        services.conversation_add_member(actor=group.participants.get(user=alice), username=make_user().username)
    few = queries()
    for _ in range(10):
        services.conversation_add_member(actor=group.participants.get(user=alice), username=make_user().username)

    assert queries() == few <= 3


def test_the_presence_list_needs_authentication(api_for):
    assert api_for().get("/api/users/presence").status_code == 401


# --- real daphne processes sharing Redis ---------------------------------------------------------------

needs_postgres_and_redis = pytest.mark.skipif(
    not settings.REDIS_URL or connection.vendor != "postgresql", reason="needs PostgreSQL and Redis"
)


def live_with_redis(test):
    return pytest.mark.live(pytest.mark.postgres_redis(needs_postgres_and_redis(test)))


@live_with_redis
async def test_presence_across_two_processes(direct, alice, bob):
    env = live_env(PRESENCE_TTL="5", PRESENCE_HEARTBEAT="1")
    with live_server(env) as first, live_server(env) as second:

        def url(server, path: str, user: User) -> str:
            return f"{server.ws_url}{path}?token={access_token(user)}"

        async def next_presence(ws) -> dict:
            while True:
                frame = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
                if frame["type"] == "presence":
                    return frame

        async def quiet(ws, seconds: float = 0.5) -> None:
            try:
                frame = await asyncio.wait_for(ws.recv(), seconds)
            except TimeoutError:
                return
            pytest.fail(f"unexpected frame {frame}")

        origin = "http://127.0.0.1"
        async with connect(url(first, "/ws/notifications/", bob), origin=origin) as bob_notes:
            tab_on_first = await connect(url(first, "/ws/notifications/", alice), origin=origin)
            frame = await next_presence(bob_notes)
            assert (frame["user"]["id"], frame["online"]) == (alice.pk, True)

            tab_on_second = await connect(url(second, f"/ws/chat/{direct.pk}/", alice), origin=origin)
            await quiet(bob_notes)

            await tab_on_first.close()
            await quiet(bob_notes)
            assert await online_ids([alice.pk]) == {alice.pk}

            # Past the first process's heartbeats: the second one keeps alice's other socket alive.
            await asyncio.sleep(1.5)
            assert await online_ids([alice.pk]) == {alice.pk}

            await tab_on_second.close()
            frame = await next_presence(bob_notes)
            assert (frame["user"]["id"], frame["online"]) == (alice.pk, False)
            assert await online_ids([alice.pk]) == set()


@live_with_redis
async def test_a_killed_processs_sockets_stop_counting_after_the_ttl_and_the_sweep_says_so(
    sockets, settings, direct, alice, bob
):
    ttl = 2.0
    # The sweep below runs here, as run_notifier would, with the servers' settings.
    settings.PRESENCE_TTL = ttl
    settings.PRESENCE_HEARTBEAT = 0.3
    env = live_env(PRESENCE_TTL=str(ttl), PRESENCE_HEARTBEAT="0.3")
    bob_notes = await sockets.notifications(bob)  # in this process, through the same Redis
    with live_server(env) as server:
        url = f"{server.ws_url}/ws/notifications/?token={access_token(alice)}"
        ws = await connect(url, origin="http://127.0.0.1")
        came = await receive(bob_notes, presence=True)
        assert (came["user"]["id"], came["online"]) == (alice.pk, True)

        server.process.kill()  # no disconnect runs: the process is gone
        killed = time.monotonic()
        killed_at = timezone.now()
        server.process.wait(timeout=5)
        assert await online_ids([alice.pk]) == {alice.pk}  # the entry has not expired yet
        assert await sweep() == []

        while alice.pk in await online_ids([alice.pk]):
            assert time.monotonic() - killed < ttl + 2, "alice stayed online after the expiry"
            await asyncio.sleep(0.1)
        assert time.monotonic() - killed > ttl - 0.5  # expired, not removed
        await nothing_more(bob_notes)  # nobody is left to say so but the sweep

        assert await sweep() == [alice.pk]
        went = await receive(bob_notes, presence=True)
        assert (went["user"]["id"], went["online"]) == (alice.pk, False)
        seen = await last_seen(alice)
        assert went["last_seen_at"] == iso(seen)
        assert seen <= killed_at  # her last heartbeat, before the kill
        await nothing_more(bob_notes)
        await ws.close()
