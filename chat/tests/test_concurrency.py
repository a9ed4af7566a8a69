"""Races on a real PostgreSQL: simultaneous REST calls in threads, each with its own connection.

SQLite serializes every writer, so these only mean something on PostgreSQL and are skipped elsewhere.
"""

import threading
from collections import Counter
from collections.abc import Callable

import pytest
from django.db import connection
from rest_framework.test import APIClient

from chat import services
from chat.models import Conversation, Message, Participant

pytestmark = [
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL: SQLite serializes writers"),
    pytest.mark.django_db(transaction=True),
]


def run_together(calls: list[Callable[[], object]]) -> list[object]:
    """Start every call at the same moment, each in its own thread; return their results in order."""
    barrier = threading.Barrier(len(calls))
    results: list[object] = [None] * len(calls)
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[index] = calls[index]()
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=90)
    assert not any(thread.is_alive() for thread in threads), "a thread hung"
    assert errors == []
    return results


def statuses(responses) -> Counter:
    return Counter(response.status_code for response in responses)


def test_20_simultaneous_direct_calls_create_exactly_one_conversation(api_for, alice, bob):
    clients = [api_for(alice) for _ in range(20)]

    responses = run_together([lambda api=api: api.post("/api/conversations/direct/bob") for api in clients])

    assert statuses(responses) == {201: 1, 200: 19}
    assert len({response.json()["id"] for response in responses}) == 1
    assert Conversation.objects.count() == 1
    assert Participant.objects.count() == 2


def test_simultaneous_direct_calls_from_both_sides_create_one_conversation(api_for, alice, bob):
    pairs = [(api_for(alice), "bob") for _ in range(10)] + [(api_for(bob), "alice") for _ in range(10)]
    calls = [lambda api=api, other=other: api.post(f"/api/conversations/direct/{other}") for api, other in pairs]

    responses = run_together(calls)

    assert statuses(responses) == {201: 1, 200: 19}
    assert Conversation.objects.count() == 1


def test_200_concurrent_messages_from_several_senders_get_seq_1_to_200(api_for, alice, bob, carol, make_user):
    dave = make_user("dave")
    senders = [alice, bob, carol, dave]
    crew = services.conversation_create_group(creator=alice, title="Rush", usernames=["bob", "carol", "dave"])

    def post_25(api: APIClient, thread: int) -> list:
        return [
            api.post("/api/messages", {"conversation_id": crew.pk, "content": f"t{thread} m{n}"}, format="json")
            for n in range(25)
        ]

    # Two threads per sender, so one sender's posts race each other as well as the others'.
    clients = [api_for(sender) for sender in senders * 2]
    calls = [lambda api=api, i=i: post_25(api, i) for i, api in enumerate(clients)]
    responses = [response for batch in run_together(calls) for response in batch]

    assert statuses(responses) == {201: 200}
    assert sorted(response.json()["seq"] for response in responses) == list(range(1, 201))
    crew.refresh_from_db()
    assert crew.last_seq == 200
    # Ids are taken under the same lock as seqs, so history (in id order) is in seq order too.
    assert list(Message.objects.filter(conversation=crew).order_by("id").values_list("seq", flat=True)) == list(
        range(1, 201)
    )
    assert Counter(Message.objects.values_list("sender__username", flat=True)) == {
        "alice": 50,
        "bob": 50,
        "carol": 50,
        "dave": 50,
    }
    # Each sender has read up to their own newest message; their unread count is what came after it.
    for participant in Participant.objects.filter(conversation=crew).select_related("user"):
        own_newest = Message.objects.filter(conversation=crew, sender=participant.user).order_by("-seq").first()
        assert participant.last_read_seq == own_newest.seq
    listing = api_for(alice).get("/api/conversations/").json()
    assert listing[0]["unread_count"] == 200 - Participant.objects.get(conversation=crew, user=alice).last_read_seq


def test_a_client_id_retried_concurrently_creates_one_message(api_for, alice, bob):
    chat = services.conversation_get_or_create_direct(user=alice, other=bob)[0]
    body = {"conversation_id": chat.pk, "content": "sent once", "client_id": "retry-me"}
    clients = [api_for(alice) for _ in range(12)]

    responses = run_together([lambda api=api: api.post("/api/messages", body, format="json") for api in clients])

    assert statuses(responses) == {201: 1, 200: 11}
    assert len({response.json()["id"] for response in responses}) == 1
    assert Message.objects.count() == 1
    chat.refresh_from_db()
    # The losers' seqs were rolled back with them: the next message follows without a gap.
    assert chat.last_seq == 1
    follow_up = api_for(bob).post("/api/messages", {"conversation_id": chat.pk, "content": "next"}, format="json")
    assert follow_up.json()["seq"] == 2


def test_20_simultaneous_group_creations_with_one_client_id_create_one_group(api_for, alice, bob):
    clients = [api_for(alice) for _ in range(20)]
    body = {"title": "Brew crew", "usernames": ["bob"], "client_id": "group-1"}

    responses = run_together([lambda api=api: api.post("/api/conversations", body, format="json") for api in clients])

    assert statuses(responses) == {201: 1, 200: 19}
    assert len({response.json()["id"] for response in responses}) == 1
    assert Conversation.objects.count() == 1
    assert Participant.objects.count() == 2
