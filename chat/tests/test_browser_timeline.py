"""The timeline of a conversation and the page around it, in real headless Chromium against daphne.

Day separators and full dates; the layout (an edit's buttons in view, toasts clear of what matters,
the empty state centred, the background of tall pages), measured with bounding boxes; menus and
confirmations; blocking that reads well on both sides; group events as system notes, with display
names. The fixtures and helpers are test_browser.py's; this module starts a daphne process of its own.
"""

# The fixtures are imported from test_browser.py and requested by name, which ruff reads as redefinitions.
# ruff: noqa: F811

import re
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from chat import moderation, services
from chat.models import Block, Message, Participant
from chat.tests.test_browser import (  # noqa: F401
    STRONG,
    browser,
    item,
    message,
    send,
    server,
    viewport,
    wait_live,
    windows,
)
from chat.tests.test_browser_safety import open_actions
from chat.tests.test_browser_sidebar import post_as

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LONDON = ZoneInfo("Europe/London")
LOCALE = {"locale": "en-GB", "timezone_id": "Europe/London"}


def box(locator) -> dict:
    found = locator.bounding_box()
    assert found is not None, f"{locator} has no box"
    return found


def overlaps(a: dict, b: dict) -> bool:
    return not (
        a["x"] + a["width"] <= b["x"]
        or b["x"] + b["width"] <= a["x"]
        or a["y"] + a["height"] <= b["y"]
        or b["y"] + b["height"] <= a["y"]
    )


def inside(inner: dict, outer: dict) -> bool:
    return (
        inner["y"] >= outer["y"] - 0.5
        and inner["y"] + inner["height"] <= outer["y"] + outer["height"] + 0.5
        and inner["x"] >= outer["x"] - 0.5
        and inner["x"] + inner["width"] <= outer["x"] + outer["width"] + 0.5
    )


def sent_at(conversation, sender, content: str, when):
    sent, _ = services.message_send(sender=sender, conversation=conversation, content=content)
    Message.objects.filter(pk=sent.pk).update(created_at=when)
    return sent


# --- 6. dates ----------------------------------------------------------------------------------


def test_day_separators_and_full_dates_in_the_history_live_and_older_pages(windows, alice, bob):
    direct, _ = services.conversation_get_or_create_direct(user=alice, other=bob)
    now = timezone.now()
    forty_days = now - timedelta(days=40)
    sent_at(direct, bob, "from long ago", forty_days)
    sent_at(direct, bob, "three days back", now - timedelta(days=3))
    sent_at(direct, alice, "yesterday's", now - timedelta(days=1))
    # Today's messages within the last hour, but after London's midnight whenever the test runs.
    midnight = now.astimezone(LONDON).replace(hour=0, minute=0, second=0, microsecond=0)
    start = max(now - timedelta(minutes=60), midnight)
    today_at = [start + (now - start) * (n + 1) / 50 for n in range(49)]
    for n, when in enumerate(today_at):
        sent_at(direct, bob if n % 2 else alice, f"today {n}", when)
    page = windows(alice, f"/c/{direct.pk}/", **LOCALE).page

    separators = page.locator("#messages .day-sep")
    local_three = (now - timedelta(days=3)).astimezone(LONDON)
    # The newest 50: the end of the day three days back is not in them; yesterday is.
    expect(separators).to_have_text(["Yesterday", "Today"])
    stamp = message(page, "today 0").locator("time")
    local = today_at[0].astimezone(LONDON)
    full = re.compile(rf"{local:%A}, {local.day} {local:%B %Y} at {local:%H:%M}")
    expect(stamp).to_have_attribute("title", full)
    expect(stamp).to_have_attribute("aria-label", full)

    # Older pages get theirs: the weekday within the last week, the full date before that.
    page.locator("#load-older").click()
    old = forty_days.astimezone(LONDON)
    expect(separators).to_have_text([f"{old.day} {old:%B %Y}", f"{local_three:%A}", "Yesterday", "Today"])
    expect(message(page, "from long ago").locator("time")).to_have_attribute("title", re.compile(f"{old:%B %Y}"))

    # A live message joins today: no second "Today".
    send(page, "just now")
    expect(message(page, "just now")).to_have_attribute("data-status", re.compile("sent|delivered|read"))
    expect(separators).to_have_count(4)
    assert page.locator("#messages > li").last.locator(".content").inner_text() == "just now"


# --- 7. layout ---------------------------------------------------------------------------------


def test_editing_the_last_message_keeps_save_and_cancel_in_view(windows, alice, bob, viewport):
    direct, _ = services.conversation_get_or_create_direct(user=alice, other=bob)
    for n in range(30):
        services.message_send(sender=bob, conversation=direct, content=f"filler {n}")
    services.message_send(sender=alice, conversation=direct, content="the last word " * 12)
    page = windows(alice, f"/c/{direct.pk}/", viewport=viewport).page

    open_actions(page, "the last word").locator("[data-action=edit]").click()
    editing = message(page, "the last word")
    scroller = box(page.locator("#scroller"))
    for name in ("Save", "Cancel"):
        button = editing.get_by_role("button", name=name)
        expect(button).to_be_visible()
        assert inside(box(button), scroller), f"{name} is outside the visible history"


def test_toasts_cover_neither_the_conversation_nor_the_newest_messages(windows, server, alice, bob, carol, viewport):
    direct, _ = services.conversation_get_or_create_direct(user=alice, other=bob)
    other, _ = services.conversation_get_or_create_direct(user=alice, other=carol)
    for n in range(30):
        services.message_send(sender=bob, conversation=direct, content=f"line {n}")
    page = windows(alice, f"/c/{direct.pk}/", viewport=viewport).page

    post_as(server, carol, "/api/messages", {"conversation_id": other.pk, "content": "a toast"})
    toast = page.locator(".toast", has_text="a toast")
    expect(toast).to_be_visible()
    page.wait_for_timeout(300)  # its entrance animation
    at = box(toast)
    assert not overlaps(at, box(page.locator(".conversation-head")))
    assert not overlaps(at, box(page.locator("#composer")))
    assert not overlaps(at, box(message(page, "line 29")))
    assert not overlaps(at, box(message(page, "line 28")))
    if viewport == "desktop":
        assert not overlaps(at, box(page.locator(".pane")))  # not even the top of the conversation


def test_the_welcome_toast_leaves_the_centred_empty_state_clear(windows, server, viewport):
    page = windows(None, "/signup", viewport=viewport, name="newcomer").page
    page.fill("#id_username", "newcomer")
    page.fill("#id_email", "newcomer@example.com")
    page.fill("#id_password1", STRONG)
    page.fill("#id_password2", STRONG)
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{server.url}/")
    toast = page.locator(".toast", has_text="Welcome")
    expect(toast).to_be_visible()
    start = page.locator("#no-conversations a", has_text="Start one")
    expect(start).to_be_visible()
    assert not overlaps(box(toast), box(start))

    # Centred in the space under the sidebar's header, not at the bottom of a blank screen.
    empty = box(page.locator("#no-conversations"))
    head = box(page.locator(".sidebar-head"))
    sidebar = box(page.locator(".sidebar"))
    space_top = head["y"] + head["height"]
    space_middle = (space_top + sidebar["y"] + sidebar["height"]) / 2
    content = box(page.locator("#no-conversations p"))
    content_middle = (content["y"] + box(start)["y"] + box(start)["height"]) / 2
    assert abs(content_middle - space_middle) < 40, (content_middle, space_middle, empty)


def test_a_tall_page_has_its_background_all_the_way_down(windows, make_user, alice):
    members = [make_user(f"member{n}") for n in range(40)]
    group = services.conversation_create_group(creator=alice, title="Crowd", usernames=[m.username for m in members])
    page = windows(alice, "/", viewport="phone").page
    page.goto(f"/c/{group.pk}/settings")
    height = page.evaluate("document.documentElement.scrollHeight")
    viewport_height = page.viewport_size["height"]
    assert height > 2 * viewport_height  # a tall page indeed
    # The page's background is painted from the root box: it must reach the end of the content.
    root = box(page.locator("html"))
    assert root["height"] >= height - 1, (root, height)
    # And the decoration at its top is painted once, not again a screen further down.
    repeat = page.evaluate("getComputedStyle(document.body).backgroundRepeat")
    assert repeat.startswith("no-repeat"), repeat


# --- 8. menus and confirmations ------------------------------------------------------------------


def test_escape_closes_a_menu_whose_only_item_is_disabled(windows, alice, bob):
    direct, _ = services.conversation_get_or_create_direct(user=alice, other=bob)
    sent, _ = services.message_send(sender=alice, conversation=direct, content="reported already")
    moderation.report_create(reporter=bob, message=sent, reason="spam")
    page = windows(bob, f"/c/{direct.pk}/").page

    menu = open_actions(page, "reported already")
    menu.locator("[data-action=report]").click()
    page.fill("#report-reason", "again")
    page.click("#report-submit")
    expect(page.locator(".toast", has_text="already reported")).to_be_visible()

    menu = open_actions(page, "reported already")
    expect(menu.locator("[data-action=report]")).to_be_disabled()  # its only item
    page.keyboard.press("Escape")
    expect(menu).to_be_hidden()


def test_leave_remove_and_block_ask_first(windows, make_user, alice, bob):
    carol = make_user("carol", display_name="Carol")
    group = services.conversation_create_group(creator=alice, title="Hops", usernames=["bob", "carol"])
    page = windows(alice, "/").page
    page.goto(f"/c/{group.pk}/settings")
    dialog = page.locator("#confirm-dialog")

    page.get_by_role("button", name="Remove Carol").click()
    expect(dialog).to_be_visible()
    expect(dialog.locator("h2")).to_have_text("Remove Carol from Hops?")
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
    assert Participant.objects.filter(conversation=group, user=carol).exists()

    page.get_by_role("button", name="Remove Carol").click()
    dialog.get_by_role("button", name="Remove", exact=True).click()
    expect(page.locator(".alert, .toast, [role=status]", has_text="Carol was removed.")).to_be_visible()
    assert not Participant.objects.filter(conversation=group, user=carol).exists()

    page.get_by_role("button", name="Block bob").click()
    expect(dialog.locator("h2")).to_have_text("Block bob?")
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    assert not Block.objects.exists()

    page.get_by_role("button", name="Leave group").click()
    expect(dialog.locator("h2")).to_have_text("Leave Hops?")
    dialog.get_by_role("button", name="Cancel").click()
    assert Participant.objects.filter(conversation=group, user=alice).exists()

    direct, _ = services.conversation_get_or_create_direct(user=alice, other=bob)
    page.goto(f"/c/{direct.pk}/")
    wait_live(page)
    page.click("#conversation-menu summary")
    page.get_by_role("button", name="Block bob").click()
    expect(dialog.locator("h2")).to_have_text("Block bob?")
    dialog.get_by_role("button", name="Block", exact=True).click()
    expect(page.locator("#blocked-notice")).to_contain_text("You blocked bob.")
    assert Block.objects.filter(blocker=alice, blocked=bob).exists()


# --- 9. blocking ---------------------------------------------------------------------------------


def test_the_blocker_sees_where_hidden_messages_were(windows, server, make_user, alice):
    bob = make_user("bob", display_name="Bob")
    carol = make_user("carol", display_name="Carol")
    direct, _ = services.conversation_get_or_create_direct(user=alice, other=bob)
    services.message_send(sender=alice, conversation=direct, content="hi bob")
    services.message_send(sender=bob, conversation=direct, content="one")
    services.message_send(sender=alice, conversation=direct, content="and?")
    services.message_send(sender=bob, conversation=direct, content="two")
    services.message_send(sender=bob, conversation=direct, content="three")
    services.message_send(sender=alice, conversation=direct, content="bye")
    group = services.conversation_create_group(creator=alice, title="Hops", usernames=["bob", "carol"])
    moderation.user_block(blocker=alice, blocked=bob)
    services.message_send(sender=bob, conversation=group, content="in the group")

    page = windows(alice, f"/c/{direct.pk}/").page
    rows = page.locator("#messages > li:not(.day-sep)")
    expect(rows).to_have_text(
        [
            re.compile("hi bob"),
            "Message hidden: you blocked Bob",
            re.compile(r"and\?"),
            "2 messages hidden: you blocked Bob",
            re.compile("bye"),
        ],
        use_inner_text=True,
    )
    expect(page.get_by_text("one", exact=True)).to_have_count(0)

    # In a group too, and live: the gap a hidden message leaves is marked when the next one arrives.
    page.goto(f"/c/{group.pk}/")
    wait_live(page)
    expect(page.locator(".hidden-run")).to_have_text(["Message hidden: you blocked Bob"])
    post_as(server, bob, "/api/messages", {"conversation_id": group.pk, "content": "still hidden"})
    post_as(server, carol, "/api/messages", {"conversation_id": group.pk, "content": "carol here"})
    expect(message(page, "carol here")).to_be_visible()
    expect(page.locator(".hidden-run")).to_have_count(2)
    expect(page.locator(".hidden-run").last).to_have_text("Message hidden: you blocked Bob")
    expect(page.get_by_text("still hidden")).to_have_count(0)


def test_the_blocked_person_is_told_once_and_cannot_type(windows, make_user, bob):
    alice = make_user("alice", display_name="Alice")
    direct, _ = services.conversation_get_or_create_direct(user=alice, other=bob)
    bob_page = windows(bob, f"/c/{direct.pk}/").page
    moderation.user_block(blocker=alice, blocked=bob)

    send(bob_page, "are you there?")
    notice = bob_page.locator("#blocked-notice")
    expect(notice).to_have_text("You can't message Alice.")
    expect(message(bob_page, "are you there?")).to_have_attribute("data-status", "failed")
    expect(message(bob_page, "are you there?").locator(".retry")).to_be_hidden()  # it could never succeed
    expect(bob_page.locator("#composer-input")).to_be_hidden()

    bob_page.reload()  # known when the page is rendered
    wait_live(bob_page)
    expect(notice).to_have_text("You can't message Alice.")
    expect(bob_page.locator("#composer-input")).to_be_disabled()
    expect(bob_page.locator("#composer")).to_be_hidden()


# --- 10. group events ------------------------------------------------------------------------------


def test_group_events_show_live_as_notes_with_display_names(windows, server, make_user, alice, bob):
    carol = make_user("carol", display_name="Carol")
    make_user("dave", display_name="Dave phone")
    group = services.conversation_create_group(creator=alice, title="Hops", usernames=["bob", "carol"])
    services.message_send(sender=alice, conversation=group, content="welcome all")
    bob_page = windows(bob, f"/c/{group.pk}/").page
    members = f"/api/conversations/{group.pk}/members"

    post_as(server, alice, members, {"username": "dave"})
    post_as(server, alice, f"/api/conversations/{group.pk}/", {"title": "Hops & malt"}, method="PATCH")
    post_as(server, alice, f"{members}/carol", None, method="DELETE")
    notes = bob_page.locator("#messages .system-note")
    expect(notes).to_have_text(
        [
            "alice created the group “Hops”",  # rendered with the history
            "Dave phone was added",  # and live
            "The group was renamed to “Hops & malt”",
            "Carol is no longer a member",
        ]
    )
    assert carol.display_name == "Carol"

    post_as(server, alice, members, {"username": "carol"})
    expect(notes.last).to_have_text("Carol was added")
    # Kept: a reload shows them all, with who did what.
    bob_page.reload()
    wait_live(bob_page)
    expect(notes).to_have_text(
        [
            "alice created the group “Hops”",
            "Dave phone was added by alice",
            "alice renamed the group to “Hops & malt”",
            "Carol was removed by alice",
            "Carol was added by alice",
        ]
    )
    assert "welcome all" in bob_page.locator("#messages > li:not(.day-sep)").nth(1).inner_text()

    carol_page = windows(carol, f"/c/{group.pk}/").page
    post_as(server, alice, f"{members}/carol", None, method="DELETE")
    expect(carol_page.locator("#messages .system-note").last).to_have_text("You are no longer a member of this group")
