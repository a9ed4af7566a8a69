"""The project's URLs outside the apps: the OpenAPI schema and its interactive documentation."""

import pytest
from django.core.management import call_command
from django.test import Client

pytestmark = pytest.mark.django_db

CONTRACT_PATHS = [
    "/api/auth/signup",
    "/api/auth/login",
    "/api/auth/refresh",
    "/api/auth/logout",
    "/api/auth/me",
    "/api/conversations/",
    "/api/conversations/{conversation_id}/",
    "/api/conversations/direct/{username}",
    "/api/conversations/{conversation_id}/read",
    "/api/conversations/{conversation_id}/members",
    "/api/conversations/{conversation_id}/members/{username}",
    "/api/messages/{conversation_id}",
    "/api/messages",
]


def test_schema_is_served_without_authentication_and_lists_every_endpoint():
    response = Client().get("/api/schema/?format=json")

    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    assert set(CONTRACT_PATHS) <= set(schema["paths"])
    assert Client().get("/api/schema/").status_code == 200


def test_schema_generates_without_warnings_and_validates(tmp_path):
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yml"))

    assert (tmp_path / "schema.yml").read_text().startswith("openapi: 3")


def test_interactive_docs_are_served():
    response = Client().get("/api/docs/")

    assert response.status_code == 200
    assert b"swagger" in response.content.lower()
    assert b"/api/schema/" in response.content
