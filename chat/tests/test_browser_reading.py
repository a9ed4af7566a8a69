"""Reading in real headless Chromium against a real daphne: messages count as read only once seen in a
visible, focused page; a conversation opens at its first unread message; ticks, badges and the title
follow every pointer move, whichever client made it; delivered ticks come from notification sockets.

The fixtures and helpers are test_browser.py's; this module starts a daphne process of its own.
"""

# The fixtures are imported from test_browser.py and requested by name, which ruff reads as redefinitions.
# ruff: noqa: F811

import time

import pytest
from playwright.sync_api import Page, expect

from chat import services
from chat.models import Participant
from chat.tests.test_browser import browser, item, message, send, server, wait_live, windows  # noqa: F401
from chat.tests.test_browser_sidebar import post_as

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Long enough for a read receipt that should not come to have come.
SETTLE = 1.5

# The window's focus, under the test's control (Playwright gives every page the focus).
FAKE_FOCUS = """
window.fakeFocus = true;
Document.prototype.hasFocus = function () { return window.fakeFocus; };
"""


def read_pointer(user, conversation) -> int | None:
    return Participant.objects.get(user=user, conversation=conversation).last_read_message_id


def history(sender, reader, conversation, n: int, prefix: str = "old") -> list:
    """n messages from `sender`, all read by `reader`."""
    sent = [
        services.message_send(sender=sender, conversation=conversation, content=f"{prefix} {i}")[0] for i in range(n)
    ]
    participant = Participant.objects.get(user=reader, conversation=conversation)
    services.conversation_mark_read(participant=participant, message_id=sent[-1].pk)
    return sent


def blur(page: Page) -> None:
    page.evaluate("() => { window.fakeFocus = false; window.dispatchEvent(new Event('blur')); }")


def focus(page: Page) -> None:
    page.evaluate("() => { window.fakeFocus = true; window.dispatchEvent(new Event('focus')); }")


def test_a_message_counts_as_read_only_once_seen_in_a_focused_page(windows, alice, bob):
    direct, _ = services.conversation_get_or_create_direct(user=alice, other=bob)
    history(alice, bob, direct, 40)
    alice_page = windows(alice, f"/c/{direct.pk}/").page
    bob_page = windows(bob, f"/c/{direct.pk}/", before=lambda page: page.add_init_script(FAKE_FOCUS)).page

    # Scrolled up: Bob's device has the message, but he has not seen it.
    bob_page.locator("#scroller").evaluate("el => el.scrollTo(0, 0)")
    send(alice_page, "while scrolled up")
    expect(message(alice_page, "while scrolled up")).to_have_attribute("data-status", "delivered")
    expect(bob_page.locator("#jump-down")).to_be_visible()
    time.sleep(SETTLE)
    expect(message(alice_page, "while scrolled up")).to_have_attribute("data-status", "delivered")
    bob_page.locator("#jump-down").click()
    expect(message(alice_page, "while scrolled up")).to_have_attribute("data-status", "read")

    # On screen, but in a window without the focus: not seen until the window has it again.
    blur(bob_page)
    send(alice_page, "while away")
    expect(message(bob_page, "while away")).to_be_in_viewport()
    expect(message(alice_page, "while away")).to_have_attribute("data-status", "delivered")
    time.sleep(SETTLE)
    expect(message(alice_page, "while away")).to_have_attribute("data-status", "delivered")
    focus(bob_page)
    expect(message(alice_page, "while away")).to_have_attribute("data-status", "read")


@pytest.fixture(params=["desktop", "phone"])
def viewport(request) -> str:
    return request.param


def test_a_conversation_opens_at_its_first_unread_message_and_reads_as_it_scrolls(windows, alice, bob, viewport):
    direct, _ = services.conversation_get_or_create_direct(user=alice, other=bob)
    history(bob, alice, direct, 30)
    post = services.message_send
    unread = [post(sender=bob, conversation=direct, content=f"unread {n:02d}")[0] for n in range(1, 81)]
    page = windows(alice, f"/c/{direct.pk}/", viewport=viewport).page

    divider = page.locator("#messages .unread-divider")
    expect(divider).to_have_text("New messages")
    expect(divider).to_be_in_viewport()
    assert divider.evaluate("el => el.nextElementSibling.querySelector('.content').textContent") == "unread 01"
    expect(message(page, "unread 01")).to_be_in_viewport()
    # The page holds ten read messages above the divider and every unread one below it (the last
    # thirty come with the socket's replay), each once.
    expect(page.locator("#messages .msg")).to_have_count(90)
    expect(message(page, "unread 80")).to_have_count(1)
    expect(message(page, "unread 80")).not_to_be_in_viewport()
    expect(page.locator("#jump-down")).to_be_visible()
    time.sleep(SETTLE)
    # What is on screen is read; the rest is not.
    pointer = read_pointer(alice, direct)
    assert unread[0].pk <= pointer < unread[-1].pk

    page.locator("#scroller").evaluate("el => el.scrollTo(0, el.scrollHeight)")
    deadline = time.monotonic() + 10
    while read_pointer(alice, direct) != unread[-1].pk and time.monotonic() < deadline:
        time.sleep(0.1)
    assert read_pointer(alice, direct) == unread[-1].pk
    expect(page.locator("#jump-down")).to_be_hidden()


def test_a_reply_from_another_client_counts_as_reading_what_came_before(windows, server, alice, bob):
    direct, _ = services.conversation_get_or_create_direct(user=alice, other=bob)
    alice_page = windows(alice, f"/c/{direct.pk}/").page

    send(alice_page, "are you there?")
    expect(message(alice_page, "are you there?")).to_have_attribute("data-status", "sent")
    # Bob answers from his phone (no web page of his is open): his reply reads her message.
    post_as(server, bob, "/api/messages", {"conversation_id": direct.pk, "content": "here!"})
    expect(message(alice_page, "here!")).to_be_visible()
    expect(message(alice_page, "are you there?")).to_have_attribute("data-status", "read")

    # And a read on his phone moves the ticks too.
    send(alice_page, "good")
    expect(message(alice_page, "good")).to_have_attribute("data-status", "sent")
    post_as(server, bob, f"/api/conversations/{direct.pk}/read", {})
    expect(message(alice_page, "good")).to_have_attribute("data-status", "read")


def test_the_readers_badges_and_title_follow_reads_and_replies_on_another_client(windows, server, alice, bob, carol):
    direct, _ = services.conversation_get_or_create_direct(user=alice, other=bob)
    group = services.conversation_create_group(creator=carol, title="Brew crew", usernames=["bob"])
    other, _ = services.conversation_get_or_create_direct(user=carol, other=bob)
    bob_page = windows(bob, f"/c/{other.pk}/").page
    post_as(server, alice, "/api/messages", {"conversation_id": direct.pk, "content": "one"})
    post_as(server, alice, "/api/messages", {"conversation_id": direct.pk, "content": "two"})
    post_as(server, carol, "/api/messages", {"conversation_id": group.pk, "content": "three"})
    expect(item(bob_page, direct.pk).locator("[data-field=badge]")).to_have_text("2")
    expect(bob_page).to_have_title("(3) Brewverse")

    # Bob reads the direct conversation on his phone, and answers the group there.
    post_as(server, bob, f"/api/conversations/{direct.pk}/read", {})
    expect(item(bob_page, direct.pk).locator("[data-field=badge]")).to_be_hidden()
    expect(bob_page).to_have_title("(1) Brewverse")
    post_as(server, bob, "/api/messages", {"conversation_id": group.pk, "content": "on my way"})
    expect(item(bob_page, group.pk).locator("[data-field=badge]")).to_be_hidden()
    expect(bob_page).to_have_title("Brewverse")
    wait_live(bob_page)


def test_a_device_that_got_the_message_on_its_notification_socket_has_delivered_it(windows, alice, bob):
    direct, _ = services.conversation_get_or_create_direct(user=alice, other=bob)
    alice_page = windows(alice, f"/c/{direct.pk}/").page
    bob_page = windows(bob, "/").page  # the list, no conversation open

    send(alice_page, "got it?")
    expect(item(bob_page, direct.pk).locator("[data-field=badge]")).to_have_text("1")
    expect(message(alice_page, "got it?")).to_have_attribute("data-status", "delivered")
    time.sleep(SETTLE)
    expect(message(alice_page, "got it?")).to_have_attribute("data-status", "delivered")
