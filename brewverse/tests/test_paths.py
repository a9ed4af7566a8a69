"""Every API path answers with and without its trailing slash: no redirect (a POST would lose its body),
no 500 (what Django's APPEND_SLASH gave a POST in DEBUG)."""

import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, resolve

from chat import services

pytestmark = pytest.mark.django_db

SAMPLES = {"int": "1", "username": "bob", "str": "x", "path": "x"}


def _routes(patterns, prefix: str = "") -> list[str]:
    """The route of every endpoint, as written in the URL confs."""
    routes = []
    for pattern in patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            routes += _routes(pattern.url_patterns, route)
        elif isinstance(pattern, URLPattern) and route.startswith("api/") and not route.startswith("^"):
            routes.append(route)
    return routes


API_ROUTES = _routes(get_resolver().url_patterns)


def _concrete(route: str) -> str:
    return "/" + re.sub(r"<(?:(\w+):)?\w+>", lambda m: SAMPLES[m.group(1) or "str"], route)


def _both_forms(route: str) -> list[str]:
    path = _concrete(route).removesuffix("/")
    return [path, f"{path}/"]


def test_the_walk_finds_every_api_route():
    assert {"api/auth/login", "api/conversations/", "api/messages", "api/schema/"} <= set(API_ROUTES)
    assert len(API_ROUTES) >= 20


@pytest.mark.parametrize("route", API_ROUTES)
def test_each_api_route_resolves_the_same_with_and_without_the_slash(route):
    bare, slashed = (resolve(path) for path in _both_forms(route))

    assert bare.url_name == slashed.url_name is not None
    assert bare.func == slashed.func
    assert bare.kwargs == slashed.kwargs


@pytest.mark.parametrize("route", API_ROUTES)
def test_each_api_route_answers_in_both_forms_without_a_redirect(api_for, alice, route):
    client = api_for(alice)
    for path in _both_forms(route):
        for method in ("options", "post"):
            response = getattr(client, method)(path, {}, format="json")

            assert response.status_code not in (301, 302, 308, 500), (method, path)
            if response.status_code >= 400:
                assert "code" in response.json(), (method, path)


def test_a_group_is_created_by_a_post_without_the_slash(api_for, alice, bob):
    response = api_for(alice).post("/api/conversations", {"title": "Brew crew", "usernames": ["bob"]}, format="json")

    assert response.status_code == 201
    assert response.json()["title"] == "Brew crew"


def test_a_conversation_is_read_without_the_slash_and_history_with_one(api_for, alice, direct):
    services.message_send(sender=alice, conversation=direct, content="hello")
    client = api_for(alice)

    assert client.get(f"/api/conversations/{direct.pk}").json()["id"] == direct.pk
    assert [m["content"] for m in client.get(f"/api/messages/{direct.pk}/").json()] == ["hello"]
    sent = client.post("/api/messages/", {"conversation_id": direct.pk, "content": "hi"}, format="json")
    assert sent.status_code == 201
    assert client.post("/api/auth/me/").status_code == 405  # a real path, a method it does not take
