"""Open sockets outlive neither a password change nor a logout (chat/consumers.py `credentials_changed`).

Every kind of socket (chat, notifications) on every kind of credential (a token, a session cookie):
a password change closes all of them with 4401 but the sockets of the browser that changed it, a
logout closes that browser's, and a session socket checks its session on its heartbeat anyway and
lives at most SESSION_SOCKET_MAX_AGE.
"""

import pytest
from channels.db import database_sync_to_async
from django.contrib.auth.hashers import make_password
from django.contrib.sessions.models import Session
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import User
from accounts.socket_auth import credential_valid
from chat.consumers import CLOSE_EXPIRED, CLOSE_REVOKED
from chat.models import Message
from chat.tests import sockets as socket_fixtures
from chat.tests.sockets import ORIGIN, TIMEOUT, access_token, assert_silent, closed_with, receive
from conftest import PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)

sockets = socket_fixtures.sockets
fast_passwords = socket_fixtures.fast_passwords

NEW_PASSWORD = "an-entirely-new-passphrase"


@database_sync_to_async
def browser_of(user: User) -> Client:
    """A browser signed in with the password, as the login page does (the first one rehashes it with
    the test's fast hasher)."""
    if not user.check_password(PASSWORD):
        user.set_password(PASSWORD)
        user.save(update_fields=["password"])
    browser = Client()
    assert browser.login(username=user.username, password=PASSWORD)
    return browser


def cookie(browser: Client) -> tuple[bytes, bytes]:
    return b"cookie", f"sessionid={browser.cookies['sessionid'].value}".encode()


async def open_both(sockets, conversation_id: int, **credential) -> list:
    opened = []
    for path in (f"/ws/chat/{conversation_id}/", "/ws/notifications/"):
        communicator, connected, _ = await sockets.connect(path, **credential)
        assert connected, path
        opened.append(communicator)
    return opened


async def session_sockets(sockets, conversation_id: int, browser: Client) -> list:
    return await open_both(sockets, conversation_id, headers=[ORIGIN, cookie(browser)])


async def token_sockets(sockets, conversation_id: int, user: User) -> list:
    return await open_both(sockets, conversation_id, token=access_token(user))


async def still_open(chat) -> None:
    """The chat socket still sends and receives."""
    await chat.send_json_to({"type": "message", "content": "still here"})
    assert (await receive(chat))["message"]["content"] == "still here"


@database_sync_to_async
def change_password_on_the_page(browser: Client) -> None:
    data = {
        "action": "password",
        "password-old_password": PASSWORD,
        "password-new_password1": NEW_PASSWORD,
        "password-new_password2": NEW_PASSWORD,
    }
    assert browser.post("/settings", data).status_code == 302


async def test_a_password_change_closes_every_other_socket_and_keeps_the_browsers_own(sockets, direct, alice, bob):
    this_browser, other_browser = await browser_of(alice), await browser_of(alice)
    mine = await session_sockets(sockets, direct.pk, this_browser)
    other = await session_sockets(sockets, direct.pk, other_browser)
    phone = await token_sockets(sockets, direct.pk, alice)
    old_cookie, old_token = cookie(other_browser), access_token(alice)
    bob_chat = await sockets.chat(bob, direct.pk)

    await change_password_on_the_page(this_browser)

    for communicator in (*other, *phone):
        assert await closed_with(communicator) == CLOSE_REVOKED
    await assert_silent(*mine, bob_chat)
    await still_open(mine[0])
    assert (await receive(bob_chat))["message"]["content"] == "still here"
    # No new socket on the old credentials; the browser's session opens them under its new key.
    await sockets.refused("/ws/notifications/", headers=[ORIGIN, old_cookie])
    await sockets.refused("/ws/notifications/", token=old_token)
    await session_sockets(sockets, direct.pk, this_browser)
    # The browser's open sockets followed its session to the new key: its logout closes them.
    await database_sync_to_async(this_browser.post)("/logout")
    for communicator in mine:
        assert await closed_with(communicator) == CLOSE_REVOKED
    await still_open(bob_chat)


async def test_a_password_change_over_the_api_closes_every_token_socket(sockets, direct, alice):
    await browser_of(alice)  # the fast hasher's PASSWORD
    before = await token_sockets(sockets, direct.pk, alice)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {access_token(alice)}")
    body = {"old_password": PASSWORD, "new_password": NEW_PASSWORD}

    response = await database_sync_to_async(api.post)("/api/auth/password", body, format="json")

    assert response.status_code == 200
    # The device that changed it too: its sockets were opened with the old token, and it reconnects
    # with the new one.
    for communicator in before:
        assert await closed_with(communicator) == CLOSE_REVOKED
    chat, _ = await open_both(sockets, direct.pk, token=response.json()["access"])
    await still_open(chat)


async def test_logging_out_a_browser_closes_its_sockets_and_no_one_elses(sockets, direct, alice):
    leaving, staying = await browser_of(alice), await browser_of(alice)
    gone = await session_sockets(sockets, direct.pk, leaving)
    kept = await session_sockets(sockets, direct.pk, staying)
    phone = await token_sockets(sockets, direct.pk, alice)

    await database_sync_to_async(leaving.post)("/logout")

    for communicator in gone:
        assert await closed_with(communicator) == CLOSE_REVOKED
    await still_open(kept[0])
    await still_open(phone[0])
    # The kept notification socket is open too: it hears of the two messages alice just sent.
    assert [(await receive(kept[1]))["type"] for _ in range(2)] == ["new_message", "new_message"]
    await assert_silent(kept[1])


async def test_a_closed_stale_socket_cannot_send(sockets, direct, alice):
    browser = await browser_of(alice)
    chat, _ = await session_sockets(sockets, direct.pk, browser)
    await database_sync_to_async(browser.post)("/logout")
    assert await closed_with(chat) == CLOSE_REVOKED

    await chat.send_json_to({"type": "message", "content": "after logout"})

    assert await chat.receive_nothing(timeout=0.5)
    assert not await Message.objects.filter(content="after logout").aexists()


@pytest.mark.parametrize("stale", ["password", "session"])
async def test_a_session_socket_closes_on_its_heartbeat_when_the_event_is_missed(
    sockets, direct, alice, settings, stale
):
    """The change is made behind the app's back, so no `credentials.changed` goes out: the session
    sockets find it out on their next heartbeat. Token sockets wait for their token's expiry."""
    settings.PRESENCE_HEARTBEAT = 0.2
    browser = await browser_of(alice)
    session = await session_sockets(sockets, direct.pk, browser)
    phone = await token_sockets(sockets, direct.pk, alice)

    if stale == "password":
        await User.objects.filter(pk=alice.pk).aupdate(password=make_password("changed elsewhere"))
    else:
        await Session.objects.filter(session_key=browser.cookies["sessionid"].value).adelete()

    for communicator in session:
        assert await closed_with(communicator, timeout=TIMEOUT) == CLOSE_REVOKED
    if stale == "session":
        await still_open(phone[0])


async def test_a_session_socket_lives_at_most_session_socket_max_age(sockets, direct, alice, settings):
    settings.SESSION_SOCKET_MAX_AGE = 0.5
    browser = await browser_of(alice)
    session = await session_sockets(sockets, direct.pk, browser)
    phone = await token_sockets(sockets, direct.pk, alice)

    for communicator in session:
        assert await closed_with(communicator) == CLOSE_EXPIRED
    await still_open(phone[0])
    # The page reconnects with the same cookie.
    await session_sockets(sockets, direct.pk, browser)


@pytest.mark.django_db
def test_checking_an_open_sockets_credential_costs_one_query_for_a_token_and_two_for_a_session(
    alice, django_assert_num_queries
):
    """A session socket repeats its check every PRESENCE_HEARTBEAT seconds: the session, then the user."""
    browser = Client()
    browser.force_login(alice)
    session_key = browser.cookies["sessionid"].value
    token_scope = {"query_string": f"token={access_token(alice)}".encode()}

    with django_assert_num_queries(1):
        assert credential_valid(token_scope, alice.pk, None)
    with django_assert_num_queries(2):
        assert credential_valid({"query_string": b""}, alice.pk, session_key)
    with django_assert_num_queries(1):  # a session that is gone: no user to read
        assert not credential_valid({"query_string": b""}, alice.pk, "no-such-session")
