"""The project's URLs outside the apps: the OpenAPI schema and its interactive documentation."""

import re

import pytest
from django.core.management import call_command
from django.test import Client

from chat.errors import ErrorCode

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


@pytest.fixture
def schema() -> dict:
    return Client().get("/api/schema/?format=json").json()


def _operations(schema: dict):
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            yield f"{method.upper()} {path}", operation


def test_every_error_answer_is_the_one_error_component(schema):
    components = schema["components"]["schemas"]
    assert components["ErrorCode"]["enum"] == [code.value for code in ErrorCode]
    assert components["Error"]["required"] == ["code", "detail"]
    assert components["Error"]["properties"]["code"] == {"$ref": "#/components/schemas/ErrorCode"}
    for name, operation in _operations(schema):
        for status, answer in operation["responses"].items():
            if int(status) >= 400:
                assert answer["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}, name
            if status == "429":
                assert answer["headers"]["Retry-After"]["schema"] == {"type": "integer"}, name


def test_operations_with_a_json_body_declare_415(schema):
    with_body = {name for name, operation in _operations(schema) if "requestBody" in operation}
    declared = {name for name, operation in _operations(schema) if "415" in operation["responses"]}

    assert "POST /api/messages" in with_body
    assert with_body == declared


def test_answers_are_typed_and_their_fields_required(schema):
    components = schema["components"]["schemas"]
    message, conversation = components["Message"], components["Conversation"]

    assert message["properties"]["deleted"]["type"] == "boolean"
    assert set(message["required"]) == set(message["properties"])
    assert set(conversation["required"]) == set(conversation["properties"])
    assert conversation["properties"]["last_message"]["allOf"] == [{"$ref": "#/components/schemas/Message"}]
    assert conversation["properties"]["last_message"]["nullable"] is True
    assert conversation["properties"]["other_user"]["allOf"] == [{"$ref": "#/components/schemas/UserPublic"}]
    assert "RefreshRotateInput" not in components
    refresh = schema["paths"]["/api/auth/refresh"]["post"]["responses"]["200"]
    assert refresh["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/TokenRefreshOutput"}


def test_inputs_carry_the_contracts_limits(schema):
    components = schema["components"]["schemas"]
    history = schema["paths"]["/api/messages/{conversation_id}"]["get"]["parameters"]
    limit = next(parameter for parameter in history if parameter["name"] == "limit")

    assert (limit["schema"]["minimum"], limit["schema"]["maximum"]) == (1, 200)
    assert components["MessageCreateInputRequest"]["properties"]["content"]["maxLength"] == 4096
    assert components["PatchedContentInputRequest"]["properties"]["content"]["maxLength"] == 4096
    assert components["MessageCreateInputRequest"]["properties"]["client_id"]["type"] == "string"


# Words of the code base that mean nothing to an API user.
INTERNAL = re.compile(
    r"selector|services?\b|serializ|queryset|annotation|context\[|_payload|\.py\b|throttles?\.|simplejwt"
)


def test_descriptions_speak_to_api_users(schema):
    texts = [schema["info"]["description"]]
    for _name, operation in _operations(schema):
        texts.append(operation.get("description", ""))
        texts += [parameter.get("description", "") for parameter in operation.get("parameters", [])]
    for component in schema["components"]["schemas"].values():
        texts.append(component.get("description", ""))
        texts += [field.get("description", "") for field in component.get("properties", {}).values()]

    assert [text for text in texts if INTERNAL.search(text)] == []
