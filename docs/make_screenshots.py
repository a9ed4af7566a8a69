"""Regenerate docs/screenshots/: the main screens on a laptop and on a phone, with the demo data.

    .venv/bin/python docs/make_screenshots.py

It migrates a throwaway SQLite database, runs `seed_demo`, starts daphne on it and drives headless
Chromium (Debian's, at /usr/bin/chromium, or CHROMIUM_PATH) as alice, bob and carol.
"""

import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "screenshots"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


def main() -> None:
    workdir = Path(tempfile.mkdtemp(prefix="brewverse-shots-"))
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{workdir / 'demo.sqlite3'}", "REDIS_URL": ""}
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "--noinput", "-v", "0"], env=env, check=True, cwd=ROOT)
    subprocess.run([*manage, "seed_demo"], env=env, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    os.environ.update(env, DJANGO_SETTINGS_MODULE="brewverse.settings")
    sys.path.insert(0, str(ROOT))

    import django

    django.setup()
    from playwright.sync_api import expect, sync_playwright

    from chat.management.commands.seed_demo import DEMO_PASSWORD
    from chat.tests.live import live_server

    OUT.mkdir(parents=True, exist_ok=True)
    with live_server(env) as server, sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"],
        )

        def login(username: str, viewport: dict):
            # Phones at their usual pixel density; laptops at 1x keep the files small.
            scale = 2 if viewport is PHONE else 1
            context = browser.new_context(viewport=viewport, base_url=server.url, device_scale_factor=scale)
            page = context.new_page()
            page.goto("/login")
            page.fill("#id_username", username)
            page.fill("#id_password", DEMO_PASSWORD)
            page.click("button[type=submit]")
            expect(page.locator("body")).to_have_attribute("data-live", "true")
            return page

        def shot(page, name: str) -> None:
            page.wait_for_timeout(300)
            page.screenshot(path=OUT / f"{name}.png")

        def open_conversation(page, name: str) -> None:
            page.locator(".conv", has_text=name).locator("a").click()
            expect(page.locator("body")).to_have_attribute("data-live", "true")

        visitor = browser.new_context(viewport=DESKTOP, base_url=server.url).new_page()
        visitor.goto("/login")
        shot(visitor, "desktop-login")

        alice = login("alice", DESKTOP)
        bob = login("bob", DESKTOP)
        carol = login("carol", DESKTOP)
        open_conversation(alice, "Bob")
        open_conversation(bob, "Alice")
        open_conversation(carol, "Coffee club")
        alice.fill("#composer-input", "Friday works! I'll bring 250 g.")
        alice.press("#composer-input", "Enter")
        expect(alice.locator(".msg.mine").last).to_have_attribute("data-status", "read")
        bob.locator("#composer-input").press_sequentially("Perfect, I'll bring the grinder")
        carol.fill("#composer-input", "Don't forget the scales, Alice!")
        carol.press("#composer-input", "Enter")
        expect(alice.locator(".toast")).to_be_visible()
        shot(alice, "desktop-chat")
        mine = alice.locator(".msg.mine").last
        mine.hover()
        mine.locator(".msg-actions").click()
        shot(alice, "desktop-message-menu")
        alice.keyboard.press("Escape")

        alice.goto("/new")
        shot(alice, "desktop-new-conversation")
        carol.goto(carol.url + "settings")
        shot(carol, "desktop-group-settings")
        alice.goto("/settings")
        shot(alice, "desktop-settings")

        phone = login("bob", PHONE)
        shot(phone, "phone-conversations")
        open_conversation(phone, "Coffee club")
        shot(phone, "phone-chat")
        browser.close()
    print(f"Screenshots written to {OUT.relative_to(ROOT)}/")


if __name__ == "__main__":
    main()
