"""Moderation, safety and presence in the web app, in real headless Chromium against a real daphne.

Editing, deleting and reporting messages; blocking; a banned user's page; the presence dot. The
fixtures and helpers are test_browser.py's; this module starts a daphne process of its own.
"""

# The fixtures are imported from test_browser.py and requested by name, which ruff reads as redefinitions.
# ruff: noqa: F811

import re
from contextlib import suppress

import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page, WebSocketRoute, expect

from chat import moderation, services
from chat.models import Block, Report
from chat.tests.test_browser import browser, item, message, send, server, wait_live, windows  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def open_actions(page: Page, text: str):
    """Open the "⋯" menu of the message showing `text`; returns the menu."""
    target = message(page, text)
    target.hover()
    target.locator(".msg-actions").click()
    menu = page.locator("#message-menu")
    expect(menu).to_be_visible()
    return menu


def test_edit_and_delete_show_live_in_the_other_window(windows, alice, bob):
    direct, _ = services.conversation_get_or_create_direct(user=alice, other=bob)
    services.message_send(sender=alice, conversation=direct, content="Hello wrold")
    services.message_send(sender=alice, conversation=direct, content="a regrettable remark")
    alice_page = windows(alice, f"/c/{direct.pk}/").page
    bob_page = windows(bob, f"/c/{direct.pk}/").page

    menu = open_actions(alice_page, "Hello wrold")
    expect(menu.locator("[data-action=report]")).to_be_hidden()  # one's own message: edit or delete
    menu.locator("[data-action=edit]").click()
    box = message(alice_page, "Hello wrold").locator(".edit-form textarea")
    expect(box).to_be_focused()
    box.fill("Hello world")
    box.press("Enter")

    for page in (alice_page, bob_page):
        edited = message(page, "Hello world")
        expect(edited.locator(".edited")).to_be_visible()
        expect(edited.locator(".edited")).to_have_text("edited")
    expect(alice_page.locator(".edit-form")).to_have_count(0)

    open_actions(alice_page, "a regrettable remark").locator("[data-action=delete]").click()
    expect(alice_page.locator("#delete-dialog")).to_be_visible()
    alice_page.click("#delete-confirm")

    for page in (alice_page, bob_page):
        gone = page.locator("#messages .msg").nth(1)
        expect(gone).to_have_class(re.compile(r"\bdeleted\b"))
        expect(gone.locator(".content")).to_have_text("Message deleted")
        expect(gone.locator(".msg-actions")).to_be_hidden()
    expect(item(bob_page, direct.pk).locator(".conv-preview")).to_have_text("Message deleted")
    expect(bob_page.get_by_text("a regrettable remark")).to_have_count(0)

    bob_page.reload()  # the history renders it the same way
    wait_live(bob_page)
    expect(bob_page.locator("#messages .msg.deleted .content")).to_have_text("Message deleted")


def test_report_flow_confirms_and_a_second_report_gets_a_friendly_note(windows, alice, bob):
    direct, _ = services.conversation_get_or_create_direct(user=alice, other=bob)
    services.message_send(sender=alice, conversation=direct, content="buy cheap watches")
    bob_page = windows(bob, f"/c/{direct.pk}/").page

    menu = open_actions(bob_page, "buy cheap watches")
    expect(menu.locator("[data-action=edit]")).to_be_hidden()  # someone else's message: report only
    expect(menu.locator("[data-action=delete]")).to_be_hidden()
    menu.locator("[data-action=report]").click()
    dialog = bob_page.locator("#report-dialog")
    expect(dialog).to_be_visible()
    bob_page.click("#report-submit")  # no reason yet
    expect(bob_page.locator("#report-error")).to_have_text("Say why you report this message.")
    bob_page.fill("#report-reason", "spam")
    bob_page.click("#report-submit")

    expect(dialog).to_be_hidden()
    expect(bob_page.locator(".toast", has_text="Thanks for reporting")).to_be_visible()
    report = Report.objects.get()
    assert (report.reporter, report.reason, report.message.content) == (bob, "spam", "buy cheap watches")
    expect(open_actions(bob_page, "buy cheap watches").locator("[data-action=report]")).to_be_disabled()

    bob_page.reload()  # the page forgets; the server does not
    wait_live(bob_page)
    open_actions(bob_page, "buy cheap watches").locator("[data-action=report]").click()
    bob_page.fill("#report-reason", "still spam")
    bob_page.click("#report-submit")
    expect(bob_page.locator(".toast", has_text="You already reported this message")).to_be_visible()
    assert Report.objects.count() == 1


def test_blocking_shows_a_notice_on_both_sides_instead_of_a_silent_failure(windows, alice, bob):
    direct, _ = services.conversation_get_or_create_direct(user=alice, other=bob)
    alice_page = windows(alice, f"/c/{direct.pk}/").page
    bob_page = windows(bob, f"/c/{direct.pk}/").page

    alice_page.click("#conversation-menu summary")
    alice_page.get_by_role("button", name="Block bob").click()
    alice_page.locator("#confirm-ok").click()  # blocking asks first
    wait_live(alice_page)
    notice = alice_page.locator("#blocked-notice")
    expect(notice).to_contain_text("You blocked bob.")
    expect(alice_page.locator("#composer")).to_be_hidden()
    assert Block.objects.filter(blocker=alice, blocked=bob).exists()

    # Bob's page was open before the block: his send is refused, and the page says why.
    send(bob_page, "are you there?")
    expect(message(bob_page, "are you there?")).to_have_attribute("data-status", "failed")
    expect(bob_page.locator("#blocked-notice")).to_have_text("You can't message alice.")
    expect(bob_page.locator("#composer")).to_be_hidden()

    notice.get_by_role("button", name="Unblock").click()
    wait_live(alice_page)
    expect(alice_page.locator("#blocked-notice")).to_be_hidden()
    expect(alice_page.locator("#composer")).to_be_visible()
    assert not Block.objects.exists()


def test_presence_dot_and_last_seen_follow_the_other_users_app(windows, alice, bob):
    direct, _ = services.conversation_get_or_create_direct(user=alice, other=bob)
    alice_page = windows(alice, f"/c/{direct.pk}/").page
    header_avatar = alice_page.locator("#conversation-avatar")
    list_avatar = item(alice_page, direct.pk).locator(".avatar")
    expect(header_avatar).not_to_have_class(re.compile(r"\bonline\b"))
    expect(alice_page.locator("#conversation-presence")).to_have_text("")  # bob never came

    bob_window = windows(bob, "/")

    expect(header_avatar).to_have_class(re.compile(r"\bonline\b"))
    expect(list_avatar).to_have_class(re.compile(r"\bonline\b"))
    expect(alice_page.locator("#conversation-presence")).to_have_text("online")

    bob_window.context.close()

    expect(alice_page.locator("#conversation-presence")).to_have_text("last seen just now")
    expect(list_avatar).not_to_have_class(re.compile(r"\bonline\b"))


def test_a_banned_users_page_goes_to_the_login_page_instead_of_reconnecting(windows, alice, bob):
    direct, _ = services.conversation_get_or_create_direct(user=alice, other=bob)
    routes: list[WebSocketRoute] = []

    def route_sockets(page: Page) -> None:
        def through(ws: WebSocketRoute) -> None:
            ws.connect_to_server()
            routes.append(ws)

        page.route_web_socket(re.compile(r"/ws/"), through)

    bob_page = windows(bob, f"/c/{direct.pk}/", before=route_sockets).page
    moderation.user_ban(moderator=alice, user=bob, reason="spam")
    # The ban's socket event cannot leave this process (Playwright's event loop holds this thread and
    # the in-memory channel layer is not the server's), so bob's sockets close here with the code the
    # server uses for a revoked session.
    for ws in routes:
        with suppress(PlaywrightError):  # already closed
            ws.close(code=4401, reason="session revoked")

    expect(bob_page).to_have_url(re.compile(rf"/login\?next=%2Fc%2F{direct.pk}%2F$"))
    expect(bob_page.locator("#id_username")).to_be_visible()
