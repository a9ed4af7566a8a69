"""Sending from the web app when the connection is not there, in real headless Chromium against a real
daphne: messages written offline wait (and survive a reload) and go on reconnect, once each and in
order; a stalled socket does not make a message "Not sent"; "Not sent" with Retry comes only after a
final failure; the header claims nobody is online while it cannot know; drafts survive a reload.

The fixtures and helpers are test_browser.py's; this module starts a daphne process of its own.
"""

# The fixtures are imported from test_browser.py and requested by name, which ruff reads as redefinitions.
# ruff: noqa: F811

import json
import re

import pytest
from playwright.sync_api import Page, Route, WebSocketRoute, expect

from chat import services
from chat.models import Message
from chat.tests.test_browser import browser, message, send, server, wait_live, windows  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SENT = re.compile(r"^(sent|delivered|read)$")

# Every status each message of the page has shown, by its content: "Not sent" must never flash.
RECORD_STATUSES = """
window.statuses = {};
const record = (el) => {
  const text = el.querySelector(".content")?.textContent;
  (window.statuses[text] ||= []).push(el.dataset.status);
};
new MutationObserver((changes) => {
  for (const change of changes) {
    const added = change.type === "childList" ? [...change.addedNodes] : [change.target];
    for (const el of added) if (el instanceof HTMLElement && el.matches(".msg[data-status]")) record(el);
  }
}).observe(document, { subtree: true, childList: true, attributes: true, attributeFilter: ["data-status"] });
"""


class Network:
    """A page's sockets through a proxy that can cut them (closed, and refused while cut) or stall them
    (open, but nothing gets through either way until released; then everything held goes on)."""

    def __init__(self, pattern: str = r"/ws/") -> None:
        self.pattern = re.compile(pattern)
        self.cut = False
        self.stalled = False
        self.open: list[tuple[WebSocketRoute, WebSocketRoute]] = []
        self.held: list[tuple[WebSocketRoute, str | bytes]] = []
        self.closing: list[WebSocketRoute] = []

    def install(self, page: Page) -> None:
        page.add_init_script(RECORD_STATUSES)
        page.route_web_socket(self.pattern, self.proxy)

    def proxy(self, ws: WebSocketRoute) -> None:
        if self.cut:
            ws.close(code=1011, reason="network down")
            return
        upstream = ws.connect_to_server()
        self.open.append((ws, upstream))
        ws.on_message(lambda data: self.carry(upstream, data))
        upstream.on_message(lambda data: self.carry(ws, data))

        def page_closed(code, reason) -> None:
            # A stalled connection does not tell the server; what it holds may still get there.
            if self.stalled:
                self.closing.append(upstream)
            else:
                upstream.close()

        ws.on_close(page_closed)
        upstream.on_close(lambda code, reason: ws.close(code=code or 1000))

    def carry(self, to: WebSocketRoute, data) -> None:
        if self.stalled:
            self.held.append((to, data))
        else:
            to.send(data)

    def cut_off(self) -> None:
        self.cut = True
        for page_side, server_side in self.open:
            page_side.close(code=1011, reason="network down")
            server_side.close()
        self.open.clear()

    def stall(self) -> None:
        self.stalled = True

    def release(self) -> None:
        self.stalled = False
        for to, data in self.held:
            to.send(data)
        self.held.clear()
        for server_side in self.closing:
            server_side.close()
        self.closing.clear()


def statuses(page: Page, text: str) -> list[str]:
    return page.evaluate("(text) => window.statuses[text] || []", text)


def test_messages_written_offline_wait_then_go_in_order_once_each(windows, alice, bob):
    direct, _ = services.conversation_get_or_create_direct(user=alice, other=bob)
    network = Network()
    alice_window = windows(alice, f"/c/{direct.pk}/", before=network.install)
    alice_page = alice_window.page
    bob_page = windows(bob, f"/c/{direct.pk}/").page

    alice_window.context.set_offline(True)
    network.cut_off()
    expect(alice_page.locator("#connection")).to_have_text("Reconnecting…")
    send(alice_page, "written offline one")
    send(alice_page, "written offline two")
    first, second = message(alice_page, "written offline one"), message(alice_page, "written offline two")
    for queued in (first, second):
        expect(queued).to_have_attribute("data-status", "pending")
        expect(queued.locator(".status")).to_have_text("Sending…")
        expect(queued.locator(".retry")).to_be_hidden()
    alice_page.wait_for_timeout(1500)  # today they turn "Not sent" at once
    expect(first).to_have_attribute("data-status", "pending")

    network.cut = False
    alice_window.context.set_offline(False)  # the browser's "online" reconnects at once
    wait_live(alice_page)
    expect(first).to_have_attribute("data-status", SENT)
    expect(second).to_have_attribute("data-status", SENT)
    expect(bob_page.locator("#messages .msg .content")).to_have_text(["written offline one", "written offline two"])
    assert list(Message.objects.filter(conversation=direct).order_by("seq").values_list("content", flat=True)) == [
        "written offline one",
        "written offline two",
    ]
    for text in ("written offline one", "written offline two"):
        assert "failed" not in statuses(alice_page, text)
    expect(alice_page.locator("#messages .msg")).to_have_count(2)


def test_unsent_messages_survive_a_reload_and_go_once(windows, alice, bob):
    direct, _ = services.conversation_get_or_create_direct(user=alice, other=bob)
    network = Network(r"/ws/chat/")
    alice_window = windows(alice, f"/c/{direct.pk}/", before=network.install)
    alice_page = alice_window.page
    bob_page = windows(bob, f"/c/{direct.pk}/").page

    network.cut_off()
    alice_page.route("**/api/messages", lambda route: route.abort())
    send(alice_page, "kept across a reload")
    expect(message(alice_page, "kept across a reload")).to_have_attribute("data-status", "pending")
    client_id = message(alice_page, "kept across a reload").get_attribute("data-client-id")

    alice_page.reload()
    restored = message(alice_page, "kept across a reload")
    expect(restored).to_have_attribute("data-status", "pending")
    expect(restored).to_have_attribute("data-client-id", client_id)

    network.cut = False
    alice_page.unroute("**/api/messages")
    expect(restored).to_have_attribute("data-status", SENT)
    expect(message(bob_page, "kept across a reload")).to_have_count(1)
    assert Message.objects.filter(client_id=client_id).count() == 1

    # Sent, it is no longer kept: the next load shows it once, from the history.
    alice_page.reload()
    wait_live(alice_page)
    expect(message(alice_page, "kept across a reload")).to_have_count(1)
    expect(message(alice_page, "kept across a reload")).to_have_attribute("data-client-id", client_id)
    alice_page.wait_for_timeout(300)
    assert Message.objects.filter(client_id=client_id).count() == 1


def test_a_stalled_socket_leaves_the_message_sending_and_it_is_delivered_once(windows, alice, bob):
    direct, _ = services.conversation_get_or_create_direct(user=alice, other=bob)
    network = Network(r"/ws/chat/")
    alice_page = windows(alice, f"/c/{direct.pk}/", before=network.install).page
    bob_page = windows(bob, f"/c/{direct.pk}/").page
    send(alice_page, "before the stall")
    expect(message(alice_page, "before the stall")).to_have_attribute("data-status", SENT)

    network.stall()
    send(alice_page, "held up")
    held = message(alice_page, "held up")
    expect(held).to_have_attribute("data-status", "pending")
    # The socket answers nothing; after the ack's time it is replaced and the message goes by REST.
    expect(held).to_have_attribute("data-status", SENT, timeout=25_000)
    expect(message(bob_page, "held up")).to_have_count(1)
    client_id = held.get_attribute("data-client-id")

    network.release()  # the frame the stalled socket held reaches the server after all
    alice_page.wait_for_timeout(1000)
    assert Message.objects.filter(client_id=client_id).count() == 1
    expect(message(alice_page, "held up")).to_have_count(1)
    expect(message(bob_page, "held up")).to_have_count(1)
    assert statuses(alice_page, "held up")[0] == "pending"
    assert "failed" not in statuses(alice_page, "held up")


def test_not_sent_and_retry_only_after_the_last_attempt(windows, alice, bob):
    direct, _ = services.conversation_get_or_create_direct(user=alice, other=bob)
    network = Network(r"/ws/chat/")
    alice_page = windows(alice, f"/c/{direct.pk}/", before=network.install).page
    bob_page = windows(bob, f"/c/{direct.pk}/").page
    posts: list[dict] = []

    def unavailable(route: Route) -> None:
        posts.append(json.loads(route.request.post_data))
        body = {"code": "unavailable", "detail": "The database does not answer.", "retry_after": 0.2}
        route.fulfill(status=503, content_type="application/json", body=json.dumps(body))

    network.cut_off()
    alice_page.route("**/api/messages", unavailable)
    send(alice_page, "through a failing server")
    failing = message(alice_page, "through a failing server")
    expect(failing).to_have_attribute("data-status", "failed")
    expect(failing.locator(".status")).to_have_text("Not sent")
    expect(failing.locator(".retry")).to_be_visible()
    client_id = failing.get_attribute("data-client-id")
    assert len(posts) == 4
    assert {post["client_id"] for post in posts} == {client_id}
    assert statuses(alice_page, "through a failing server") == ["pending", "failed"]

    network.cut = False
    alice_page.unroute("**/api/messages")
    wait_live(alice_page)
    expect(failing).to_have_attribute("data-status", "failed")  # failed is final until Retry
    failing.locator(".retry").click()
    expect(failing).to_have_attribute("data-status", SENT)
    expect(failing.locator(".retry")).to_be_hidden()
    expect(message(bob_page, "through a failing server")).to_have_count(1)
    assert Message.objects.filter(client_id=client_id).count() == 1


def test_the_header_claims_nobody_is_online_while_disconnected(windows, alice, bob):
    direct, _ = services.conversation_get_or_create_direct(user=alice, other=bob)
    windows(bob, "/")
    network = Network()
    alice_window = windows(alice, f"/c/{direct.pk}/", before=network.install)
    alice_page = alice_window.page
    presence_text, avatar = alice_page.locator("#conversation-presence"), alice_page.locator("#conversation-avatar")
    expect(presence_text).to_have_text("online")
    expect(avatar).to_have_class(re.compile(r"\bonline\b"))

    alice_window.context.set_offline(True)
    network.cut_off()
    expect(alice_page.locator("#connection")).to_have_text("Reconnecting…")
    expect(presence_text).to_have_text("")
    expect(avatar).not_to_have_class(re.compile(r"\bonline\b"))

    network.cut = False
    alice_window.context.set_offline(False)
    wait_live(alice_page)
    expect(presence_text).to_have_text("online")
    expect(avatar).to_have_class(re.compile(r"\bonline\b"))


def test_drafts_are_kept_per_conversation_across_reloads_until_sent(windows, alice, bob, carol):
    with_bob, _ = services.conversation_get_or_create_direct(user=alice, other=bob)
    with_carol, _ = services.conversation_get_or_create_direct(user=alice, other=carol)
    page = windows(alice, f"/c/{with_bob.pk}/").page
    box = page.locator("#composer-input")

    box.press_sequentially("half a thought")
    page.reload()
    wait_live(page)
    expect(box).to_have_value("half a thought")
    expect(page.locator("#send")).to_be_enabled()

    page.goto(f"/c/{with_carol.pk}/")
    wait_live(page)
    expect(box).to_have_value("")
    box.press_sequentially("for carol")
    page.goto(f"/c/{with_bob.pk}/")
    wait_live(page)
    expect(box).to_have_value("half a thought")

    box.press("Enter")
    expect(message(page, "half a thought")).to_have_attribute("data-status", SENT)
    page.reload()
    wait_live(page)
    expect(box).to_have_value("")
    page.goto(f"/c/{with_carol.pk}/")
    wait_live(page)
    expect(box).to_have_value("for carol")
