"""The sidebar's pages in real headless Chromium against a real daphne: the first page is rendered, the
rest load as the list scrolls, and live updates keep working alongside, without duplicates.

The fixtures and helpers are test_browser.py's; this module starts a daphne process of its own.
"""

# The fixtures are imported from test_browser.py and requested by name, which ruff reads as redefinitions.
# ruff: noqa: F811

import json
import urllib.request

import pytest
from playwright.sync_api import expect

from accounts.services import token_pair_for
from chat import services
from chat.tests.test_browser import browser, item, server, wait_live, windows  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def post_as(server, user, path: str, body: dict | None, *, method: str = "POST") -> dict | None:
    """A REST call to the live server with the user's bearer token, as another device of theirs would make."""
    request = urllib.request.Request(
        f"{server.url}{path}",
        data=None if body is None else json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token_pair_for(user)['access']}"},
        method=method,
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        answer = response.read()
    return json.loads(answer) if answer else None


def test_the_preview_follows_edits_deletions_and_the_users_own_sends_on_another_device(windows, server, alice, bob):
    direct, _ = services.conversation_get_or_create_direct(user=alice, other=bob)
    page = windows(alice, "/").page
    preview = item(page, direct.pk).locator("[data-field=preview]")
    badge = item(page, direct.pk).locator("[data-field=badge]")

    sent = post_as(server, bob, "/api/messages", {"conversation_id": direct.pk, "content": "helo"})
    expect(preview).to_have_text("helo")
    expect(badge).to_have_text("1")
    post_as(server, bob, f"/api/messages/{direct.pk}/{sent['id']}", {"content": "hello"}, method="PATCH")
    expect(preview).to_have_text("hello")
    post_as(server, bob, f"/api/messages/{direct.pk}/{sent['id']}", None, method="DELETE")
    expect(preview).to_have_text("Message deleted")

    # Alice answers from her phone: this window shows it, with her counts as they stand, and no toast.
    post_as(server, alice, "/api/messages", {"conversation_id": direct.pk, "content": "from my phone"})
    expect(preview).to_have_text("You: from my phone")
    expect(badge).to_be_hidden()
    expect(page).to_have_title("Brewverse")
    expect(page.locator(".toast", has_text="from my phone")).to_have_count(0)


def test_the_sidebar_loads_older_conversations_on_scrolling_and_stays_live(windows, server, alice, make_user):
    pals, directs = [], []
    for n in range(60):
        pal = make_user(f"pal{n:02d}")
        direct, _ = services.conversation_get_or_create_direct(user=alice, other=pal)
        services.message_send(sender=pal, conversation=direct, content=f"hello from pal{n:02d}")
        pals.append(pal)
        directs.append(direct)
    page = windows(alice, "/").page
    items = page.locator("#conversation-list li.conv")
    expect(items).to_have_count(50)
    expect(items.first.locator("[data-field=name]")).to_have_text("pal59")
    expect(page).to_have_title("(60) Brewverse")  # the 10 conversations not shown yet count too

    # The oldest conversation, not loaded yet, gets a message: it comes to the top, counted once.
    post_as(server, pals[0], "/api/messages", {"conversation_id": directs[0].pk, "content": "still there?"})
    expect(items.first).to_have_attribute("data-id", str(directs[0].pk))
    expect(items.first.locator("[data-field=preview]")).to_have_text("still there?")
    expect(items).to_have_count(51)
    expect(page).to_have_title("(61) Brewverse")
    # A new conversation arrives on top too.
    group = post_as(server, pals[1], "/api/conversations/", {"title": "Late group", "usernames": ["alice"]})
    expect(item(page, group["id"])).to_have_count(1)
    expect(items.first.locator("[data-field=name]")).to_have_text("Late group")

    page.locator("#conversation-list").evaluate("list => list.scrollTo(0, list.scrollHeight)")

    expect(items).to_have_count(61)  # 60 direct conversations and the group, each once
    expect(page.locator("#conversation-more")).to_be_hidden()
    sixtieth = items.last
    expect(sixtieth.locator("[data-field=name]")).to_have_text("pal01")
    page.locator("#conversation-list").evaluate("list => list.scrollTo(0, list.scrollHeight)")
    expect(sixtieth).to_be_in_viewport()
    ids = page.locator("#conversation-list li.conv").evaluate_all("els => els.map((el) => el.dataset.id)")
    assert len(ids) == len(set(ids)) == 61
    expect(page).to_have_title("(61) Brewverse")

    # Still live at the end of the list: a message there moves it to the top.
    post_as(server, pals[1], "/api/messages", {"conversation_id": directs[1].pk, "content": "me too"})
    expect(items.first).to_have_attribute("data-id", str(directs[1].pk))
    expect(items).to_have_count(61)
    expect(page).to_have_title("(62) Brewverse")
    wait_live(page)
