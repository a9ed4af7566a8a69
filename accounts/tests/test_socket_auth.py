"""Socket authentication: the middleware around the URL router, and its origin check of session sockets."""

import asyncio
import logging
import time
from datetime import timedelta
from pathlib import Path

import pytest
from channels.db import database_sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client
from rest_framework_simplejwt.backends import TokenBackend
from rest_framework_simplejwt.tokens import RefreshToken

from accounts.tokens import AccessToken
from chat import moderation
from chat.consumers import CLOSE_EXPIRED, CLOSE_REMOVED, CLOSE_REVOKED
from chat.routing import websocket_urlpatterns
from chat.tests import sockets as socket_fixtures
from chat.tests.sockets import (
    ORIGIN,
    TIMEOUT,
    access_token,
    assert_silent,
    closed_with,
    receive,
)

pytestmark = pytest.mark.django_db(transaction=True)

# The shared socket fixtures, used by name in this module.
sockets = socket_fixtures.sockets
fast_passwords = socket_fixtures.fast_passwords

PATHS = ["/ws/notifications/", "/ws/chat/{conversation_id}/"]


def paths(conversation_id: int) -> list[str]:
    return [path.format(conversation_id=conversation_id) for path in PATHS]


@database_sync_to_async
def session_cookie(user) -> tuple[bytes, bytes]:
    browser = Client()
    browser.force_login(user)
    return b"cookie", f"sessionid={browser.cookies['sessionid'].value}".encode()


@database_sync_to_async
def save(user, **changes) -> None:
    for name, value in changes.items():
        setattr(user, name, value)
    user.save()


async def test_a_valid_access_token_opens_both_sockets(sockets, direct, alice):
    for path in paths(direct.pk):
        _, connected, _ = await sockets.connect(path, alice)
        assert connected, path


async def test_no_credential_is_refused(sockets, direct):
    for path in paths(direct.pk):
        await sockets.refused(path)


@pytest.mark.parametrize("token", ["", "garbage", "a.b.c"])
async def test_a_malformed_token_is_refused(sockets, direct, token):
    for path in paths(direct.pk):
        await sockets.refused(path, token=token)


async def test_an_expired_token_is_refused(sockets, direct, alice):
    token = AccessToken.for_user(alice)
    token.set_exp(lifetime=-timedelta(seconds=1))
    for path in paths(direct.pk):
        await sockets.refused(path, token=str(token))


async def test_a_token_signed_with_another_key_is_refused(sockets, direct, alice):
    other_key = TokenBackend("HS256", signing_key="not-our-key-but-one-long-enough-for-hs256")
    forged = other_key.encode(AccessToken.for_user(alice).payload)
    for path in paths(direct.pk):
        await sockets.refused(path, token=forged)


async def test_a_refresh_token_is_not_an_access_token(sockets, direct, alice):
    refresh = await database_sync_to_async(RefreshToken.for_user)(alice)
    for path in paths(direct.pk):
        await sockets.refused(path, token=str(refresh))


async def test_an_inactive_users_token_is_refused(sockets, direct, alice):
    token = access_token(alice)
    await save(alice, is_active=False)
    for path in paths(direct.pk):
        await sockets.refused(path, token=token)


async def test_a_deleted_users_token_is_refused(sockets, direct, make_user):
    ghost = await database_sync_to_async(make_user)("ghost")
    token = access_token(ghost)
    await database_sync_to_async(ghost.delete)()
    for path in paths(direct.pk):
        await sockets.refused(path, token=token)


async def test_the_session_cookie_of_a_browser_page_opens_both_sockets(sockets, direct, alice):
    cookie = await session_cookie(alice)
    for path in paths(direct.pk):
        _, connected, _ = await sockets.connect(path, headers=[ORIGIN, cookie])
        assert connected, path


async def test_an_inactive_users_session_is_refused(sockets, direct, alice):
    cookie = await session_cookie(alice)
    await save(alice, is_active=False)
    for path in paths(direct.pk):
        await sockets.refused(path, headers=[ORIGIN, cookie])


async def test_a_session_from_before_a_password_change_is_refused(sockets, direct, alice):
    cookie = await session_cookie(alice)
    await database_sync_to_async(alice.set_password)("an entirely new passphrase")
    await save(alice)
    for path in paths(direct.pk):
        await sockets.refused(path, headers=[ORIGIN, cookie])


async def test_a_bad_token_is_not_rescued_by_a_good_session(sockets, direct, alice):
    cookie = await session_cookie(alice)
    for path in paths(direct.pk):
        await sockets.refused(path, token="garbage", headers=[ORIGIN, cookie])


FOREIGN_ORIGINS = {
    "no origin": None,
    "foreign origin": b"https://evil.example",
    "lookalike origin": b"http://127.0.0.1.evil.example",
    "opaque origin": b"null",
}


@pytest.mark.parametrize("origin", FOREIGN_ORIGINS.values(), ids=FOREIGN_ORIGINS.keys())
async def test_a_token_socket_opens_whatever_its_origin(sockets, direct, alice, origin):
    """What API clients (Python's websockets, Go, iOS, Android) send: a token, and no Origin or any."""
    headers = [] if origin is None else [(b"origin", origin)]
    for path in paths(direct.pk):
        _, connected, _ = await sockets.connect(path, alice, headers=headers)
        assert connected, path


async def test_a_token_socket_is_not_refused_for_the_cookie_that_comes_with_it(sockets, direct, alice):
    """The token is the credential: a session cookie sent along from a foreign page is not looked at."""
    cookie = await session_cookie(alice)
    for path in paths(direct.pk):
        _, connected, _ = await sockets.connect(path, alice, headers=[(b"origin", b"https://evil.example"), cookie])
        assert connected, path


def browser_headers(origin: bytes | None, host: bytes = b"127.0.0.1", *extra) -> list[tuple[bytes, bytes]]:
    return [*([] if origin is None else [(b"origin", origin)]), (b"host", host), *extra]


CROSS_SITE = {
    **FOREIGN_ORIGINS,
    # A page on another port of the same host is another site (issue 21.10: :8899 riding :8141's cookie).
    "other port": (b"http://127.0.0.1:8899", b"127.0.0.1:8141"),
    "no port for one with a port": (b"http://127.0.0.1", b"127.0.0.1:8141"),
    "other scheme": (b"https://127.0.0.1:8141", b"127.0.0.1:8141"),
    # DNS rebinding: a host name that is not ours, even though Origin and Host agree.
    "a host not in ALLOWED_HOSTS": (b"http://evil.example:8141", b"evil.example:8141"),
}


@pytest.mark.parametrize("origin", CROSS_SITE.values(), ids=CROSS_SITE.keys())
async def test_a_session_socket_from_another_origin_is_refused(sockets, direct, alice, origin, caplog):
    origin, host = origin if isinstance(origin, tuple) else (origin, b"127.0.0.1")
    cookie = await session_cookie(alice)
    with caplog.at_level(logging.INFO, logger="accounts.socket_auth"):
        for path in paths(direct.pk):
            await sockets.refused(path, headers=browser_headers(origin, host, cookie))
    assert caplog.text.count("socket refused: a session socket") == 2, caplog.text


SAME_SITE = {
    "with a port": (b"http://127.0.0.1:8141", b"127.0.0.1:8141"),
    "without one": (b"http://127.0.0.1", b"127.0.0.1"),
    "localhost": (b"http://localhost:8000", b"localhost:8000"),
    "IPv6": (b"http://[::1]:8000", b"[::1]:8000"),
}


@pytest.mark.parametrize(("origin", "host"), SAME_SITE.values(), ids=SAME_SITE.keys())
async def test_a_session_socket_from_the_origin_it_is_served_on_opens(sockets, direct, alice, origin, host):
    cookie = await session_cookie(alice)
    for path in paths(direct.pk):
        _, connected, _ = await sockets.connect(path, headers=browser_headers(origin, host, cookie))
        assert connected, path


async def test_behind_a_tls_proxy_the_served_origin_is_https(sockets, direct, alice, settings):
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    cookie = await session_cookie(alice)
    over_tls = (b"x-forwarded-proto", b"https")
    path = f"/ws/chat/{direct.pk}/"

    _, connected, _ = await sockets.connect(
        path, headers=browser_headers(b"https://127.0.0.1", b"127.0.0.1", over_tls, cookie)
    )
    assert connected
    await sockets.refused(path, headers=browser_headers(b"http://127.0.0.1", b"127.0.0.1", over_tls, cookie))
    await sockets.refused(path, headers=browser_headers(b"https://127.0.0.1", b"127.0.0.1", cookie))


TRUSTED = {
    "exact": (["https://chat.example.com"], b"https://chat.example.com", True),
    "exact, other port": (["https://chat.example.com"], b"https://chat.example.com:8443", False),
    "exact, other scheme": (["https://chat.example.com"], b"http://chat.example.com", False),
    "wildcard": (["https://*.example.com"], b"https://app.example.com", True),
    "wildcard, other scheme": (["https://*.example.com"], b"http://app.example.com", False),
    "wildcard, other domain": (["https://*.example.com"], b"https://example.com.evil.example", False),
}


@pytest.mark.parametrize(("trusted", "origin", "accepted"), TRUSTED.values(), ids=TRUSTED.keys())
@pytest.mark.parametrize("setting", ["CSRF_TRUSTED_ORIGINS", "CORS_ALLOWED_ORIGINS"])
async def test_a_session_socket_from_a_trusted_origin_opens(
    sockets, direct, alice, settings, setting, trusted, origin, accepted
):
    """A proxy may hand daphne another Host than the page's; the trusted origins still match exactly."""
    setattr(settings, setting, trusted)
    cookie = await session_cookie(alice)
    _, connected, _ = await sockets.connect(
        f"/ws/chat/{direct.pk}/", headers=browser_headers(origin, b"127.0.0.1", cookie)
    )
    assert connected is accepted


async def test_refused_handshakes_say_why_in_the_log(sockets, direct, alice, make_user, caplog):
    outsider = await database_sync_to_async(make_user)("outsider")
    cookie = await session_cookie(alice)
    token = access_token(outsider)
    with caplog.at_level(logging.INFO):
        await sockets.refused(
            "/ws/notifications/", headers=browser_headers(b"https://evil.example", b"127.0.0.1", cookie)
        )
        await sockets.refused("/ws/notifications/", token="garbage")
        await sockets.refused(f"/ws/chat/{direct.pk}/", token=token)
        await sockets.refused("/ws/nope/", alice)
    refusals = [record.getMessage() for record in caplog.records if record.getMessage().startswith("socket refused")]
    assert len(refusals) == 4, refusals
    assert "Origin 'https://evil.example', served as 'http://127.0.0.1'" in refusals[0]
    assert "no valid token or session" in refusals[1]
    assert f"user {outsider.pk} is not in conversation {direct.pk}" in refusals[2]
    assert "no socket at this path (/ws/nope/" in refusals[3]
    assert all(record.levelno == logging.INFO for record in caplog.records if "socket refused" in record.getMessage())
    # The log names the path, never the query string and its token.
    assert token not in caplog.text


async def test_a_banned_users_open_sockets_close(sockets, direct, alice, bob, make_user):
    moderator = await database_sync_to_async(make_user)("moderator", is_staff=True)
    alice_chat = await sockets.chat(alice, direct.pk)
    alice_notes = await sockets.notifications(alice)
    bob_chat = await sockets.chat(bob, direct.pk)

    await database_sync_to_async(moderation.user_ban)(moderator=moderator, user=alice, reason="spam")

    assert await closed_with(alice_chat) == CLOSE_REVOKED
    assert await closed_with(alice_notes) == CLOSE_REVOKED
    await sockets.refused(f"/ws/chat/{direct.pk}/", alice)
    # Everyone else carries on.
    await bob_chat.send_json_to({"type": "message", "content": "still here"})
    assert (await receive(bob_chat))["message"]["content"] == "still here"


def short_lived_token(user, seconds: int) -> tuple[str, int]:
    """An access token and its `exp`, `seconds - 1` to `seconds` from now (`exp` is whole seconds)."""
    token = AccessToken.for_user(user)
    token.set_exp(lifetime=timedelta(seconds=seconds))
    return str(token), token["exp"]


async def closed_at(communicator) -> tuple[int | None, float]:
    return await closed_with(communicator), time.time()


async def test_token_sockets_work_until_the_token_expires_then_close(sockets, direct, alice, bob):
    token, expires = short_lived_token(alice, seconds=3)
    alice_chat, connected, _ = await sockets.connect(f"/ws/chat/{direct.pk}/", token=token)
    assert connected
    alice_notes, connected, _ = await sockets.connect("/ws/notifications/", token=token)
    assert connected
    bob_chat = await sockets.chat(bob, direct.pk)

    # Just before the token expires, both sockets still carry frames.
    await asyncio.sleep(expires - 1 - time.time())
    await bob_chat.send_json_to({"type": "message", "content": "just in time"})
    assert (await receive(bob_chat))["message"]["content"] == "just in time"
    assert (await receive(alice_chat))["message"]["content"] == "just in time"
    assert (await receive(alice_notes))["type"] == "new_message"
    assert time.time() < expires

    # Both close, with the code that says "refresh and reconnect", and not before the token expires.
    for code, at in await asyncio.gather(closed_at(alice_chat), closed_at(alice_notes)):
        assert code == CLOSE_EXPIRED
        assert at >= expires
    # A fresh token reconnects, and ?after= replays what was missed meanwhile.
    await bob_chat.send_json_to({"type": "message", "content": "while you were away"})
    missed = (await receive(bob_chat))["message"]
    alice_chat = await sockets.chat(alice, direct.pk, query=f"after={missed['id'] - 1}")
    assert (await receive(alice_chat))["message"]["content"] == "while you were away"


async def test_session_sockets_do_not_close_with_an_access_token(sockets, direct, alice):
    cookie = await session_cookie(alice)
    session_chat, connected, _ = await sockets.connect(f"/ws/chat/{direct.pk}/", headers=[ORIGIN, cookie])
    assert connected
    session_notes, connected, _ = await sockets.connect("/ws/notifications/", headers=[ORIGIN, cookie])
    assert connected
    token, _ = short_lived_token(alice, seconds=2)
    token_chat, connected, _ = await sockets.connect(f"/ws/chat/{direct.pk}/", token=token)
    assert connected

    assert await closed_with(token_chat) == CLOSE_EXPIRED
    await assert_silent(session_notes)
    await session_chat.send_json_to({"type": "message", "content": "still here"})
    assert (await receive(session_chat))["message"]["content"] == "still here"


@pytest.mark.parametrize(("left", "accepted"), [(-0.001, False), (60, True)], ids=["expired", "valid"])
async def test_a_token_is_checked_again_when_the_socket_is_accepted(sockets, direct, alice, left, accepted):
    """The middleware checked the token before the consumer read the database: at accept, one that has
    run out since is refused, and one still valid is accepted."""
    router = URLRouter(websocket_urlpatterns)

    async def checked_a_while_ago(scope, receive, send):
        return await router(dict(scope, user=alice, auth_expires_at=time.time() + left), receive, send)

    for path in paths(direct.pk):
        communicator = WebsocketCommunicator(checked_a_while_ago, path, headers=[ORIGIN])
        sockets.opened.append(communicator)
        connected, code = await communicator.connect(timeout=TIMEOUT)
        assert connected is accepted, path
        assert code != CLOSE_EXPIRED  # refused (HTTP 403), not an open socket closed


def test_the_close_codes_are_documented():
    realtime = (Path(settings.BASE_DIR) / "docs" / "realtime.md").read_text()
    for code in (CLOSE_REMOVED, CLOSE_REVOKED, CLOSE_EXPIRED):
        assert f"| `{code}` |" in realtime, code
