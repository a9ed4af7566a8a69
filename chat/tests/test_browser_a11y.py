"""Accessibility in real headless Chromium: axe-core on every page, at desktop and phone sizes, in the light
and the dark theme (the system's, and the manual toggle's), plus what axe cannot judge, checked by hand.

axe-core is vendored (chat/tests/vendor/axe.min.js, from the npm package, with its licence) so the suite
runs offline; it is injected through the DevTools protocol, which the pages' Content-Security-Policy does not
govern.
"""

# The fixtures are imported from test_browser.py and requested by name, which ruff reads as redefinitions.
# ruff: noqa: F811

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from chat import services
from chat.tests.live import live_env, live_server
from chat.tests.test_browser import browser, item, message, send, server, wait_live, windows  # noqa: F401
from chat.tests.test_browser_sidebar import post_as
from conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

AXE = (Path(__file__).parent / "vendor" / "axe.min.js").read_text()


def axe_violations(page: Page) -> list[str]:
    """axe's violations on the page as it stands, one readable line per failing element."""
    page.evaluate(AXE)
    found = page.evaluate("async () => (await axe.run(document, {resultTypes: ['violations']})).violations")
    return [
        f"{v['id']} ({v['impact']}): {node['target']} {node.get('failureSummary', '').splitlines()[-1:]}"
        for v in found
        for node in v["nodes"]
    ]


class Audit:
    """Runs axe on page after page and fails once, at the end, with everything it found."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def check(self, page: Page, where: str) -> None:
        page.wait_for_load_state("load")
        page.wait_for_timeout(350)  # transitions (.15s) settled, so axe reads the final colours
        self.problems += [f"{where}: {problem}" for problem in axe_violations(page)]

    def assert_clean(self) -> None:
        assert not self.problems, "axe found:\n" + "\n".join(self.problems)


@pytest.fixture(params=["desktop", "phone"])
def viewport(request) -> str:
    return request.param


# The system's light and dark, and dark picked by hand on a light system (the toggle, stored in localStorage).
@pytest.fixture(params=["light", "dark", "manual-dark"])
def scheme(request) -> str:
    return request.param


def themed(scheme: str):
    """A `before` hook for `windows`: the colour scheme the page is to be seen in."""

    def before(page: Page) -> None:
        page.emulate_media(color_scheme="dark" if scheme == "dark" else "light")
        if scheme == "manual-dark":
            page.add_init_script("try { localStorage.setItem('theme', 'dark') } catch {}")

    return before


def test_every_page_has_no_axe_violations(windows, server, alice, bob, carol, viewport, scheme):
    direct, _ = services.conversation_get_or_create_direct(user=alice, other=bob)
    group = services.conversation_create_group(creator=alice, title="Brewers", usernames=["bob", "carol"])
    services.message_send(sender=bob, conversation=direct, content="Morning!")
    services.message_send(sender=alice, conversation=direct, content="Hi Bob, read this")
    services.message_send(sender=bob, conversation=group, content="Group hello")
    services.message_send(sender=alice, conversation=group, content="Mine in the group")
    services.message_send(sender=carol, conversation=group, content="Carol here")

    audit = Audit()
    visitor = windows(None, "/login", viewport=viewport, before=themed(scheme)).page
    audit.check(visitor, "login")
    visitor.goto("/signup")
    audit.check(visitor, "signup")
    visitor.goto("/password-reset")
    audit.check(visitor, "forgot password")
    visitor.goto("/password-reset/sent")
    audit.check(visitor, "reset link sent")
    visitor.goto("/password-reset/MQ/expired-token")
    audit.check(visitor, "a reset link that no longer works")
    visitor.goto("/password-reset/done")
    audit.check(visitor, "password reset")

    page = windows(alice, "/", viewport=viewport, before=themed(scheme)).page
    audit.check(page, "the app, nothing open")
    page.goto(f"/c/{direct.pk}/")
    wait_live(page)
    # Bob reads: Alice's own bubble shows "Read".
    bob_page = windows(bob, f"/c/{direct.pk}/", viewport=viewport, before=themed(scheme)).page
    expect(message(page, "Hi Bob, read this")).to_have_attribute("data-status", "read")
    audit.check(page, "a direct conversation")
    audit.check(bob_page, "a direct conversation, the other side")
    page.goto(f"/c/{group.pk}/")
    wait_live(page)
    audit.check(page, "a group conversation")
    page.keyboard.press("Control+k")
    audit.check(page, "the quick switcher")
    page.keyboard.press("Escape")
    page.goto("/new")
    audit.check(page, "new conversation")
    page.goto(f"/c/{group.pk}/settings")
    audit.check(page, "group settings")
    page.goto("/settings")
    audit.check(page, "settings")
    audit.assert_clean()


def test_the_theme_is_system_light_or_dark_kept_and_applied_before_the_first_paint(windows, alice):
    def theme_at_first_paint(page: Page) -> None:
        page.emulate_media(color_scheme="light")
        # What <html> says the moment <body> is parsed, before anything could be painted.
        page.add_init_script(
            """new MutationObserver((_, observer) => {
                if (!document.body) return;
                window.themeAtBody = document.documentElement.dataset.theme || "system";
                observer.disconnect();
            }).observe(document, {childList: true, subtree: true});"""
        )

    page = windows(alice, "/", before=theme_at_first_paint).page
    page.goto("/settings")
    background = "getComputedStyle(document.body).backgroundColor"
    assert page.evaluate(background) == "rgb(244, 245, 249)"
    expect(page.get_by_label("System default")).to_be_checked()

    page.get_by_label("Dark").check()
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    assert page.evaluate(background) == "rgb(15, 16, 24)"
    page.reload()
    assert page.evaluate("window.themeAtBody") == "dark"
    assert page.evaluate(background) == "rgb(15, 16, 24)"
    expect(page.get_by_label("Dark")).to_be_checked()

    # The app's button moves system → light → dark → system, on a dark system too.
    page.emulate_media(color_scheme="dark")
    page.goto("/")
    wait_live(page)
    toggle = page.locator("#theme-toggle")
    expect(toggle).to_have_attribute("aria-label", "Theme: Dark. Switch to System")
    toggle.click()
    expect(page.locator("html")).not_to_have_attribute("data-theme", re.compile("."))
    assert page.evaluate("localStorage.getItem('theme')") is None
    assert page.evaluate(background) == "rgb(15, 16, 24)"
    toggle.click()
    expect(toggle).to_have_attribute("aria-label", "Theme: Light. Switch to Dark")
    assert page.evaluate(background) == "rgb(244, 245, 249)"
    page.reload()
    wait_live(page)
    assert page.evaluate("window.themeAtBody") == "light"
    assert page.evaluate(background) == "rgb(244, 245, 249)"


# --- what axe cannot judge, checked by hand ----------------------------------------------------


def test_screen_readers_hear_unread_counts_new_messages_and_whose_message_an_action_is(windows, server, alice, bob):
    direct, _ = services.conversation_get_or_create_direct(user=alice, other=bob)
    for text in ("one", "two", "three"):
        services.message_send(sender=bob, conversation=direct, content=text)
    page = windows(alice, "/").page
    # The badge shows "3"; its row is named "… 3 unread messages".
    expect(item(page, direct.pk).locator("[data-field=badge]")).to_have_text("3")
    expect(page.get_by_role("link", name=re.compile(r"3 unread messages$"))).to_have_count(1)

    item(page, direct.pk).locator("a").click()
    wait_live(page)
    clock = message(page, "three").locator("time").text_content()
    expect(page.get_by_role("button", name=f"Actions for bob's message at {clock}")).to_have_count(3)
    send(page, "hello back")
    expect(message(page, "hello back").locator("[data-field=actions]")).to_have_attribute(
        "aria-label", re.compile(r"^Actions for your message at \d")
    )

    # Bob's next message is announced in a polite live region.
    live = page.locator("#announcements")
    expect(live).to_have_attribute("aria-live", "polite")
    post_as(server, bob, "/api/messages", {"conversation_id": direct.pk, "content": "Are you there?"})
    expect(live).to_have_text("bob: Are you there?")


def test_a_skip_link_leads_to_the_message_box(windows, alice, bob):
    direct, _ = services.conversation_get_or_create_direct(user=alice, other=bob)
    page = windows(alice, f"/c/{direct.pk}/").page
    # Start from the top of the page, as a fresh visit with the keyboard does.
    page.evaluate("document.body.tabIndex = -1; document.body.focus(); document.body.removeAttribute('tabindex')")
    page.keyboard.press("Tab")
    skip = page.locator(".skip-link")
    expect(skip).to_be_focused()
    expect(skip).to_be_visible()
    expect(skip).to_have_text("Skip to the message box")
    page.keyboard.press("Enter")
    expect(page.locator("#composer-input")).to_be_focused()


def test_read_and_delivered_differ_in_more_than_colour(windows, alice, bob):
    direct, _ = services.conversation_get_or_create_direct(user=alice, other=bob)
    page = windows(alice, f"/c/{direct.pk}/").page
    send(page, "did you read this?")
    status = message(page, "did you read this?").locator("[data-field=status]")
    expect(status).to_have_text("✓")
    expect(page.get_by_role("img", name="Sent")).to_have_count(1)
    windows(bob, f"/c/{direct.pk}/")
    expect(status).to_have_text("✓✓ Read")
    expect(page.get_by_role("img", name="Read")).to_have_count(1)


def test_who_read_a_group_message_shows_on_hover_and_on_tap(windows, alice, bob, carol):
    group = services.conversation_create_group(creator=alice, title="Brewers", usernames=["bob", "carol"])
    page = windows(alice, f"/c/{group.pk}/").page
    send(page, "who is in?")
    status = message(page, "who is in?").locator("[data-field=status]")
    windows(bob, f"/c/{group.pk}/")
    expect(status).to_have_text("✓✓ Read by 1")
    expect(status).to_have_attribute("title", "Read by bob")
    status.click()
    expect(status).to_have_text("✓✓ Read by bob")
    expect(status).to_have_attribute("aria-expanded", "true")
    # The names follow the receipts while shown.
    windows(carol, f"/c/{group.pk}/")
    expect(status).to_have_text("✓✓ Read by bob, carol")
    status.press("Enter")
    expect(status).to_have_text("✓✓ Read by 2")


def test_arrow_up_in_an_empty_box_edits_the_last_message(windows, server, alice, bob):
    direct, _ = services.conversation_get_or_create_direct(user=alice, other=bob)
    page = windows(alice, f"/c/{direct.pk}/").page
    send(page, "frist")
    send(page, "secnod")
    expect(message(page, "secnod")).to_have_attribute("data-status", "sent")
    post_as(server, bob, "/api/messages", {"conversation_id": direct.pk, "content": "typos!"})
    expect(message(page, "typos!")).to_have_count(1)
    composer = page.locator("#composer-input")
    composer.fill("not empty")
    composer.press("ArrowUp")
    expect(page.locator(".edit-form")).to_have_count(0)
    composer.fill("")
    composer.press("ArrowUp")
    editor = message(page, "secnod").locator(".edit-form textarea")
    expect(editor).to_be_focused()
    editor.fill("second")
    editor.press("Enter")
    expect(message(page, "second")).to_have_count(1)
    expect(message(page, "second").locator("[data-field=edited]")).to_be_visible()
    expect(composer).to_be_focused()  # back to typing


def test_touch_screens_get_targets_of_at_least_44_px(server, browser, alice, bob):
    direct, _ = services.conversation_get_or_create_direct(user=alice, other=bob)
    services.message_send(sender=bob, conversation=direct, content="tap me")
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, has_touch=True, is_mobile=True, base_url=server.url
    )
    try:
        page = context.new_page()
        assert page.evaluate("matchMedia('(pointer: coarse)').matches")
        small = []
        page.goto("/login")
        small += too_small(page, "login")
        login(page, alice)
        small += too_small(page, "the list")
        page.goto(f"/c/{direct.pk}/")
        wait_live(page)
        small += too_small(page, "a conversation")
        page.goto("/settings")
        small += too_small(page, "settings")
        page.goto("/new")
        small += too_small(page, "new conversation")
        assert not small, "targets under 44x44 px:\n" + "\n".join(small)
    finally:
        context.close()


def login(page: Page, user) -> None:
    page.fill("#id_username", user.username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    wait_live(page)


def too_small(page: Page, where: str) -> list[str]:
    """Every visible control (a checkbox or radio button counts with its label) smaller than 44x44 px."""
    found = page.evaluate(
        """() => [...document.querySelectorAll(
                "a[href], button, summary, input, textarea, select, [role=button], [tabindex='0']")]
            .filter((el) => el.type !== "hidden" && el.checkVisibility() && !el.closest("[hidden], .visually-hidden"))
            .map((el) => (el.type === "checkbox" || el.type === "radio") && el.closest("label") || el)
            .map((el) => {
                const box = el.getBoundingClientRect();
                return {what: el.outerHTML.slice(0, 80), width: box.width, height: box.height};
            })
            .filter((t) => t.width > 0 && (t.width < 43.5 || t.height < 43.5))"""
    )
    return [f"{where}: {t['width']:.0f}x{t['height']:.0f} {t['what']}" for t in found]


@pytest.mark.parametrize("shortcut", ["Control+k", "Meta+k"])
def test_ctrl_or_cmd_k_opens_a_quick_switcher_over_the_conversations(windows, alice, bob, carol, shortcut):
    direct, _ = services.conversation_get_or_create_direct(user=alice, other=bob)
    services.conversation_get_or_create_direct(user=alice, other=carol)
    group = services.conversation_create_group(creator=alice, title="Brewers", usernames=["bob", "carol"])
    page = windows(alice, f"/c/{direct.pk}/").page
    switcher = page.get_by_role("dialog", name="Go to a conversation")
    expect(switcher).to_be_hidden()
    page.keyboard.press(shortcut)
    expect(switcher).to_be_visible()
    box = switcher.get_by_role("combobox")
    expect(box).to_be_focused()
    expect(switcher.get_by_role("option")).to_have_count(3)
    page.keyboard.press("Escape")
    expect(switcher).to_be_hidden()

    page.keyboard.press(shortcut)
    box.fill("bre")
    expect(switcher.get_by_role("option")).to_have_text(["Brewers"])
    box.fill("o")  # bob and carol
    expect(switcher.get_by_role("option")).to_have_count(2)
    box.press("ArrowDown")
    expect(switcher.locator("[aria-selected=true]")).to_have_count(1)
    box.fill("brew")
    box.press("Enter")
    expect(page).to_have_url(re.compile(rf"/c/{group.pk}/$"))
    wait_live(page)


@pytest.fixture(scope="module")
def mail_server(django_db_setup, django_db_blocker, tmp_path_factory):
    """A daphne of its own that writes its emails to files, so a browser test can follow a link in one."""
    outbox = tmp_path_factory.mktemp("outbox")
    env = live_env(EMAIL_BACKEND="django.core.mail.backends.filebased.EmailBackend", EMAIL_FILE_PATH=str(outbox))
    with live_server(env) as running:
        running.outbox = outbox
        yield running


def test_forgot_password_on_the_login_page_resets_it_by_email(mail_server, browser, alice):
    context = browser.new_context(viewport={"width": 390, "height": 844}, base_url=mail_server.url)
    try:
        page = context.new_page()
        page.goto("/login")
        page.get_by_role("link", name="Forgot password?").click()
        page.get_by_label("Email").fill("alice@example.com")
        page.get_by_role("button", name="Send the link").click()
        expect(page.get_by_role("heading", name="Check your email")).to_be_visible()

        [sent] = list(mail_server.outbox.iterdir())
        link = re.search(r"http://\S+/password-reset/\S+", sent.read_text()).group(0)
        page.goto(link)
        page.get_by_label("New password", exact=True).fill("a-brand-new-and-unusual-passphrase")
        page.get_by_label("Confirm new password").fill("a-brand-new-and-unusual-passphrase")
        page.get_by_role("button", name="Set the new password").click()
        expect(page.get_by_role("heading", name="Your password was changed")).to_be_visible()
        page.get_by_role("link", name="Log in").click()
        page.fill("#id_username", "alice")
        page.fill("#id_password", "a-brand-new-and-unusual-passphrase")
        page.click("button[type=submit]")
        wait_live(page)
    finally:
        context.close()
