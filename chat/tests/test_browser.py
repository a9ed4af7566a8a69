"""The web app in real headless Chromium, against a real daphne process serving the test database.

Each person gets their own browser context (their own cookies), logged in with a session made here,
except where signing up is what is tested. Every flow that matters on a phone runs at 390x844 too.
A failing test leaves screenshots of every page, and the server's log, in test-artifacts/.
"""

import os
import re
import time
from dataclasses import dataclass, field

import pytest
from django.conf import settings
from django.test import Client
from playwright.sync_api import Browser, BrowserContext, Page, WebSocketRoute, expect, sync_playwright

from chat import services
from chat.models import Message, Participant
from chat.tests.live import LiveServer, live_env, live_server

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}
ARTIFACTS = settings.BASE_DIR / "test-artifacts"
XSS = "<img src=x onerror=alert(1)>"
STRONG = "a-long-and-unusual-passphrase"

expect.set_options(timeout=10_000)


@pytest.fixture(scope="module")
def server(django_db_setup, django_db_blocker) -> LiveServer:
    # Logins and signups from many tests hit one long-lived server: lift the throttles there.
    env = live_env(THROTTLE_LOGIN_USERNAME="1000/min", THROTTLE_LOGIN_IP="1000/min", THROTTLE_SIGNUP_IP="1000/hour")
    with live_server(env) as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Browser:
    if not os.path.exists(CHROMIUM) and not os.environ.get("CI"):
        # `make test` installs Debian's chromium when it can (as root); CI always has it.
        pytest.skip(f"no Chromium at {CHROMIUM}: install Debian's chromium to run the browser tests")
    # Playwright's sync API drives an event loop on this thread, which makes Django think the ORM
    # calls of the test body run in async code; they do not.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            yield chromium
            chromium.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE")
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@dataclass
class Window:
    """One person's browser tab, with what went wrong in it."""

    name: str
    context: BrowserContext
    page: Page
    errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)


@pytest.fixture
def windows(request, server, browser):
    """`open(user_or_None, path, viewport=...)` → a Window; screenshots when the test fails."""
    opened: list[Window] = []
    failed_before = request.session.testsfailed

    def open_window(
        user=None, path: str = "/", *, viewport: str = "desktop", name: str = "", before=None, **context_options
    ) -> Window:
        # `context_options`: more of Playwright's context settings (locale, timezone_id, ...).
        context = browser.new_context(viewport=VIEWPORTS[viewport], base_url=server.url, **context_options)
        if user is not None:
            client = Client()
            client.force_login(user)
            cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
            context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": cookie, "url": server.url}])
        window = Window(name or (user.username if user else f"visitor{len(opened)}"), context, context.new_page())
        window.page.on("pageerror", lambda error: window.errors.append(f"uncaught: {error}"))
        window.page.on(
            "console",
            lambda msg: "Content Security Policy" in msg.text and window.errors.append(f"CSP: {msg.text}"),
        )

        def on_dialog(dialog) -> None:
            window.dialogs.append(dialog.message)
            dialog.dismiss()

        window.page.on("dialog", on_dialog)
        if before is not None:
            before(window.page)
        opened.append(window)
        window.page.goto(path)
        if user is not None:
            wait_live(window.page)
        return window

    yield open_window

    if request.session.testsfailed > failed_before:
        ARTIFACTS.mkdir(exist_ok=True)
        stem = re.sub(r"[^A-Za-z0-9_.-]+", "-", request.node.name)
        for window in opened:
            window.page.screenshot(path=ARTIFACTS / f"{stem}-{window.name}.png", full_page=True)
        (ARTIFACTS / f"{stem}-daphne.log").write_text(server.log(20_000))
    for window in opened:
        window.context.close()
    server.wait_sockets_closed()
    time.sleep(0.1)  # a consumer may still be finishing the frame it was handling
    problems = [f"{w.name}: {e}" for w in opened for e in w.errors]
    if problems and request.session.testsfailed == failed_before:
        pytest.fail("JavaScript errors or CSP violations:\n" + "\n".join(problems))


def wait_live(page: Page) -> None:
    """Both sockets are open and the list has caught up: from here on, nothing is missed."""
    expect(page.locator("body")).to_have_attribute("data-live", "true")


def send(page: Page, text: str) -> None:
    page.locator("#composer-input").fill(text)
    page.locator("#composer-input").press("Enter")


def message(page: Page, text: str):
    return page.locator("#messages .msg").filter(has=page.locator(".content", has_text=text))


def item(page: Page, conversation_id: int):
    return page.locator(f'#conversation-list .conv[data-id="{conversation_id}"]')


@pytest.fixture(params=["desktop", "phone"])
def viewport(request) -> str:
    return request.param


def test_sign_up_start_a_chat_and_talk_live(windows, server, bob, viewport):
    bob_window = windows(bob, "/", viewport=viewport)
    bob_page = bob_window.page
    alice = windows(None, "/signup", viewport=viewport, name="alice").page

    alice.fill("#id_username", "alice")
    alice.fill("#id_email", "alice@example.com")
    alice.fill("#id_display_name", "Alice")
    alice.fill("#id_password1", STRONG)
    alice.fill("#id_password2", STRONG)
    alice.click("button[type=submit]")
    expect(alice).to_have_url(f"{server.url}/")
    wait_live(alice)
    alice.click("#new-conversation")
    alice.fill("#id_direct-username", "bob")
    alice.click("button[value=direct]")
    expect(alice).to_have_url(re.compile(r"/c/\d+/$"))
    conversation_id = int(alice.url.rstrip("/").rsplit("/", 1)[1])
    wait_live(alice)

    send(alice, "Hi Bob!")
    # Bob's list page has it (on its notification socket): delivered, though he has not opened it.
    expect(message(alice, "Hi Bob!")).to_have_attribute("data-status", "delivered")

    # Bob, on the list: the new conversation arrives with a badge, the title counts, a toast tells him.
    expect(item(bob_page, conversation_id).locator(".badge")).to_have_text("1")
    expect(item(bob_page, conversation_id).locator(".conv-preview")).to_have_text("Hi Bob!")
    expect(bob_page).to_have_title("(1) Brewverse")
    expect(bob_page.locator(".toast", has_text="Hi Bob!")).to_contain_text("Alice")

    item(bob_page, conversation_id).locator("a").click()
    wait_live(bob_page)
    expect(bob_page).to_have_title("Brewverse")
    expect(message(bob_page, "Hi Bob!")).to_be_visible()
    expect(message(alice, "Hi Bob!")).to_have_attribute("data-status", "read")

    bob_page.locator("#composer-input").press_sequentially("Hello")
    expect(alice.locator("#typing")).to_have_text("bob is typing…")
    bob_page.locator("#composer-input").press("Shift+Enter")
    bob_page.locator("#composer-input").press_sequentially("Alice")
    bob_page.locator("#composer-input").press("Enter")

    expect(message(alice, "Hello")).to_have_count(1)
    expect(message(alice, "Hello").locator(".content")).to_have_text("Hello\nAlice")
    expect(alice.locator("#typing")).to_have_text("")
    expect(message(bob_page, "Hello")).to_have_attribute("data-status", "read")
    expect(alice).to_have_title("Brewverse")


def test_badge_title_and_toast_for_a_message_in_another_conversation(windows, alice, bob, carol, viewport):
    direct, _ = services.conversation_get_or_create_direct(user=alice, other=bob)
    group = services.conversation_create_group(creator=bob, title="Weekend", usernames=["alice", "carol"])
    alice_page = windows(alice, f"/c/{direct.pk}/", viewport=viewport).page
    bob_page = windows(bob, f"/c/{group.pk}/", viewport=viewport).page
    expect(alice_page).to_have_title("Brewverse")

    send(bob_page, "Pizza on Saturday?")

    toast = alice_page.locator(".toast", has_text="Pizza on Saturday?")
    expect(toast).to_contain_text("Weekend")
    expect(toast).to_contain_text("bob: Pizza on Saturday?")
    expect(alice_page).to_have_title("(1) Brewverse")
    if viewport == "phone":
        expect(alice_page.locator(".sidebar")).to_be_hidden()
        alice_page.click(".conversation-head .back")
        expect(alice_page.locator(".sidebar")).to_be_visible()
        wait_live(alice_page)
    expect(item(alice_page, group.pk).locator(".badge")).to_have_text("1")
    expect(alice_page.locator("#conversation-list .conv").first).to_have_attribute("data-id", str(group.pk))

    item(alice_page, group.pk).locator("a").click()
    wait_live(alice_page)
    expect(message(alice_page, "Pizza on Saturday?")).to_be_visible()
    expect(alice_page).to_have_title("Brewverse")
    if viewport == "desktop":
        expect(item(alice_page, group.pk).locator(".badge")).to_be_hidden()
    # In a group, the sender's tick counts readers: alice has read it, carol has not.
    expect(message(bob_page, "Pizza on Saturday?").locator(".status")).to_have_text("✓✓ Read by 1")
    if viewport == "phone":
        alice_page.click(".conversation-head .back")
        expect(item(alice_page, group.pk).locator(".badge")).to_be_hidden()


def test_markup_in_messages_and_names_is_shown_as_text_and_never_runs(windows, alice, bob, viewport):
    direct, _ = services.conversation_get_or_create_direct(user=alice, other=bob)
    group = services.conversation_create_group(
        creator=bob, title="<i>club</i><script>alert(2)</script>", usernames=["alice"]
    )
    alice_window = windows(alice, f"/c/{direct.pk}/", viewport=viewport)
    alice_page = alice_window.page
    bob_page = windows(bob, f"/c/{direct.pk}/", viewport=viewport).page

    send(bob_page, XSS)
    expect(message(alice_page, XSS).locator(".content")).to_have_text(XSS)
    bob_page.goto(f"/c/{group.pk}/")
    wait_live(bob_page)
    send(bob_page, XSS)  # in another conversation: the toast and the list show it too
    expect(alice_page.locator(".toast", has_text=XSS)).to_contain_text("<i>club</i><script>alert(2)</script>")

    alice_page.reload()  # and the server-rendered page
    wait_live(alice_page)
    expect(message(alice_page, XSS).locator(".content")).to_have_text(XSS)
    if viewport == "desktop":
        expect(item(alice_page, group.pk).locator(".conv-preview")).to_have_text(f"bob: {XSS}")
        expect(item(alice_page, group.pk).locator(".conv-name")).to_have_text("<i>club</i><script>alert(2)</script>")
    assert alice_page.locator("#messages img, #conversation-list img, #conversation-list i, .toast img").count() == 0
    alice_page.wait_for_timeout(200)  # give a broken image's onerror every chance to fire
    assert alice_window.dialogs == []

    # The policy is there and enforced: an inline script injected into the page does not run.
    response = alice_page.request.get(f"/c/{direct.pk}/")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    with alice_page.expect_console_message(lambda msg: "Content Security Policy" in msg.text):
        alice_page.evaluate("""() => {
            const s = document.createElement("script");
            s.textContent = "window.inlineRan = true";
            document.body.append(s);
        }""")
    assert alice_page.evaluate("window.inlineRan === undefined")
    alice_window.errors.clear()  # that refusal is the CSP violation this test provoked on purpose


# A tab that starts hidden (and can be shown), and a Notification API that records instead of popping up.
HIDDEN_TAB_WITH_FAKE_NOTIFICATIONS = """
window.tabVisible = false;
Object.defineProperty(document, "hidden", { get: () => !window.tabVisible });
Object.defineProperty(document, "visibilityState", { get: () => (window.tabVisible ? "visible" : "hidden") });
window.shown = [];
window.permissionRequests = 0;
class FakeNotification {
  constructor(title, options) { window.shown.push({ title, body: options.body }); }
  addEventListener() {}
  close() {}
}
FakeNotification.permission = "default";
FakeNotification.requestPermission = async () => {
  window.permissionRequests += 1;
  FakeNotification.permission = "granted";
  return "granted";
};
window.Notification = FakeNotification;
"""


def test_ticks_and_browser_notifications_follow_the_other_tab_being_hidden_then_shown(windows, alice, bob):
    direct, _ = services.conversation_get_or_create_direct(user=alice, other=bob)
    alice_page = windows(alice, f"/c/{direct.pk}/").page
    bob_page = windows(
        bob, f"/c/{direct.pk}/", before=lambda page: page.add_init_script(HIDDEN_TAB_WITH_FAKE_NOTIFICATIONS)
    ).page

    # Permission is asked for on a click, never on load.
    assert bob_page.evaluate("window.permissionRequests") == 0
    bob_page.click("#enable-notifications")
    expect(bob_page.locator("#enable-notifications")).to_be_hidden()
    assert bob_page.evaluate("window.permissionRequests") == 1

    send(alice_page, "Are you there?")
    # Bob's hidden tab received it: delivered, not read; it counts as unread, and it notifies.
    expect(message(alice_page, "Are you there?")).to_have_attribute("data-status", "delivered")
    expect(bob_page).to_have_title("(1) Brewverse")
    bob_page.wait_for_function("window.shown.length === 1")
    assert bob_page.evaluate("window.shown") == [{"title": "alice", "body": "Are you there?"}]

    bob_page.evaluate("() => { window.tabVisible = true; document.dispatchEvent(new Event('visibilitychange')); }")
    expect(message(alice_page, "Are you there?")).to_have_attribute("data-status", "read")
    expect(bob_page).to_have_title("Brewverse")


def test_reconnects_catches_up_and_retries_a_failed_send(windows, alice, bob):
    direct, _ = services.conversation_get_or_create_direct(user=alice, other=bob)
    cut = {"on": False}
    routes: list[tuple[WebSocketRoute, WebSocketRoute]] = []

    def through_proxy(ws: WebSocketRoute) -> None:
        if cut["on"]:
            ws.close(code=1011, reason="network down")
            return
        routes.append((ws, ws.connect_to_server()))

    def route_sockets(page: Page) -> None:
        page.route_web_socket(re.compile(r"/ws/"), through_proxy)

    alice_page = windows(alice, f"/c/{direct.pk}/", before=route_sockets).page
    bob_page = windows(bob, f"/c/{direct.pk}/").page
    send(bob_page, "before the cut")
    expect(message(alice_page, "before the cut")).to_be_visible()

    cut["on"] = True
    alice_page.route("**/api/messages", lambda route: route.abort())
    for page_side, server_side in routes:
        page_side.close(code=1011, reason="network down")
        server_side.close()
    expect(alice_page.locator("#connection")).to_have_text("Reconnecting…")
    expect(alice_page.locator("body")).to_have_attribute("data-live", "false")

    send(bob_page, "missed one")
    send(bob_page, "missed two")
    send(alice_page, "sent while offline")
    queued = message(alice_page, "sent while offline")
    # No connection is no failure: it waits, and goes when the connection is back (no Retry needed).
    expect(queued).to_have_attribute("data-status", "pending")
    client_id = queued.get_attribute("data-client-id")

    cut["on"] = False
    alice_page.unroute("**/api/messages")
    expect(alice_page.locator("#connection")).to_be_hidden()
    wait_live(alice_page)
    texts = alice_page.locator("#messages .msg .content")
    expect(texts).to_have_text(["before the cut", "missed one", "missed two", "sent while offline"])

    expect(queued).to_have_attribute("data-status", re.compile(r"^(sent|delivered|read)$"))
    expect(queued.locator(".retry")).to_be_hidden()
    expect(message(bob_page, "sent while offline")).to_have_count(1)
    assert Message.objects.filter(client_id=client_id).count() == 1


def test_history_loads_older_pages_when_scrolling_up(windows, alice, bob):
    direct, _ = services.conversation_get_or_create_direct(user=alice, other=bob)
    for n in range(1, 66):
        services.message_send(sender=bob, conversation=direct, content=f"old message {n}")
    # Read: the page opens at the newest (with unread ones it would open at the first of them).
    services.conversation_mark_read(participant=Participant.objects.get(user=alice, conversation=direct))
    page = windows(alice, f"/c/{direct.pk}/").page
    expect(page.locator("#messages .msg")).to_have_count(50)
    expect(page.locator("#load-older")).to_be_visible()

    page.locator("#scroller").evaluate("el => el.scrollTo(0, 0)")

    expect(page.locator("#messages .msg")).to_have_count(65)
    expect(page.locator("#messages .msg .content").first).to_have_text("old message 1")
    expect(page.locator("#history-start")).to_be_visible()
    expect(page.locator("#load-older")).to_be_hidden()


def test_send_box_counts_characters_near_the_limit(windows, alice, bob):
    direct, _ = services.conversation_get_or_create_direct(user=alice, other=bob)
    page = windows(alice, f"/c/{direct.pk}/").page
    box, counter, send_button = page.locator("#composer-input"), page.locator("#counter"), page.locator("#send")

    box.fill("short")
    expect(counter).to_be_hidden()
    box.fill("x" * 3700)
    expect(counter).to_have_text("396 left")
    box.fill("x" * 4100)
    expect(counter).to_have_text("4 too many")
    expect(send_button).to_be_disabled()
    box.press("Enter")  # refused: nothing is sent
    expect(page.locator("#messages .msg")).to_have_count(0)
    box.fill("x" * 4096)
    box.press("Enter")
    expect(page.locator("#messages .msg")).to_have_count(1)
    expect(counter).to_be_hidden()
