"""The Content-Security-Policy header: scripts only from our own origin, sockets same-origin."""

import re

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
    # Every script is a file of ours (the CSP's script-src 'self'), but for the boot data: JSON, which
    # is never executed.
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", html, flags=re.S)
    inline = [attributes for attributes, body in scripts if body.strip()]
    assert inline == [' id="boot" type="application/json"']
    assert all('src="/static/js/' in attributes for attributes, body in scripts if not body.strip())
    assert " style=" not in html
    assert " onclick=" not in html


def test_the_interactive_api_docs_keep_their_inline_bootstrap():
    assert "Content-Security-Policy" not in Client().get("/api/docs/").headers
