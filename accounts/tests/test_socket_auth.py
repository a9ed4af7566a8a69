"""Socket authentication: the middleware around the URL router, and the origin check around it."""

from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from django.test import Client
from rest_framework_simplejwt.backends import TokenBackend
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from chat import moderation
from chat.consumers import CLOSE_REVOKED
from chat.tests import sockets as socket_fixtures
from chat.tests.sockets import (
    ORIGIN,
    access_token,
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


@pytest.mark.parametrize(
    "headers",
    [[], [(b"origin", b"https://evil.example")], [(b"origin", b"http://127.0.0.1.evil.example")]],
    ids=["no origin", "foreign origin", "lookalike origin"],
)
async def test_origins_outside_allowed_hosts_are_refused_even_with_a_valid_token(sockets, direct, alice, headers):
    for path in paths(direct.pk):
        await sockets.refused(path, alice, headers=headers)


async def test_every_allowed_host_is_an_accepted_origin(sockets, direct, alice):
    for origin in (b"http://localhost:8000", b"https://127.0.0.1", b"http://[::1]:8000"):
        _, connected, _ = await sockets.connect(f"/ws/chat/{direct.pk}/", alice, headers=[(b"origin", origin)])
        assert connected, origin


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
