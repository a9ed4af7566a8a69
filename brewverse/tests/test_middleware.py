"""The Content-Security-Policy header: scripts only from our own origin, sockets same-origin."""

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("path", ["/login", "/signup", "/", "/healthz", "/api/conversations/"])
def test_every_response_forbids_inline_scripts(path):
    policy = Client().get(path).headers["Content-Security-Policy"]

    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["script-src"] == "'self'"
    assert directives["connect-src"] == "'self' ws: wss:"
    assert directives["object-src"] == "'none'"
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe-inline" not in policy


def test_app_page_has_no_inline_script_or_style(client, alice):
    client.force_login(alice)
    html = client.get("/").content.decode()

    assert '<script type="module" src="/static/js/app.js"></script>' in html
    # The only other script element is JSON data, which is never executed.
    assert html.count("<script") == 2
    assert '<script id="boot" type="application/json">' in html
    assert " style=" not in html
    assert " onclick=" not in html


def test_the_interactive_api_docs_keep_their_inline_bootstrap():
    assert "Content-Security-Policy" not in Client().get("/api/docs/").headers
