import pytest


@pytest.mark.django_db
def test_direct_conversation_and_message_round_trip(alice, bob, api_for):
    api = api_for(alice)
    created = api.post("/api/conversations/direct/bob")
    assert created.status_code == 201, created.content
    conversation_id = created.json()["id"]
    assert created.json()["other_user"]["username"] == "bob"

    sent = api.post("/api/messages", {"conversation_id": conversation_id, "content": " hi "}, format="json")
    assert sent.status_code == 201, sent.content
    assert sent.json()["content"] == "hi"
    assert sent.json()["seq"] == 1

    listing = api_for(bob).get("/api/conversations/").json()
    assert listing[0]["unread_count"] == 1
    assert listing[0]["last_message"]["content"] == "hi"
