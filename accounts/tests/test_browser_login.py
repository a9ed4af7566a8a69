"""The login page in real headless Chromium against a real daphne: what a person types is what is sent.

The fixtures and helpers are chat/tests/test_browser.py's; this module starts a daphne process of its own.
"""

# The fixtures are imported from test_browser.py and requested by name, which ruff reads as redefinitions.
# ruff: noqa: F811

import pytest
from playwright.sync_api import expect

from chat.tests.test_browser import browser, server, viewport, wait_live, windows  # noqa: F401
from conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# 254 characters, the most an email may have: 64 before the @, labels of at most 63 after it.
LONG_EMAIL = f"{'b' * 64}@{'c' * 63}.{'d' * 63}.{'e' * 53}.example"


def test_a_long_email_logs_in_as_typed(windows, server, make_user, viewport):
    assert len(LONG_EMAIL) == 254
    make_user("longmail", email=LONG_EMAIL)
    page = windows(None, "/login", viewport=viewport).page

    # Typed key by key, as a person does: a maxlength would drop every character past it.
    page.locator("#id_username").press_sequentially(LONG_EMAIL)
    expect(page.locator("#id_username")).to_have_value(LONG_EMAIL)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")

    expect(page).to_have_url(f"{server.url}/")
    wait_live(page)
