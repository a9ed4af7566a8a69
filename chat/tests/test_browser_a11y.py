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
from chat.tests.test_browser import browser, message, send, server, wait_live, windows  # noqa: F401

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
