"""Group events kept for the timeline: written by the services that make the change, read by
`selectors.conversation_events`, rendered between the messages of the conversation page."""

# The fixture is imported from test_views.py and requested by name, which ruff reads as a redefinition.
# ruff: noqa: F811

import pytest

from chat import selectors, services
from chat.errors import ChatError
from chat.models import ConversationEvent, Participant
from chat.tests.test_views import client_for, send  # noqa: F401

pytestmark = pytest.mark.django_db


def kinds(group) -> list[tuple[str, str | None, str | None, str]]:
    return [
        (e.kind, e.actor and e.actor.username, e.subject and e.subject.username, e.title)
        for e in selectors.conversation_events(group.pk)
    ]


def test_each_group_change_writes_its_event(alice, bob, carol, make_user):
    make_user("dave")
    group = services.conversation_create_group(creator=alice, title="Hops", usernames=["bob", "carol"])
    owner = Participant.objects.get(conversation=group, user=alice)
    services.conversation_add_member(actor=owner, username="dave")
    services.conversation_rename(actor=owner, title="Malt")
    services.conversation_remove_member(actor=owner, username="carol")
    services.conversation_remove_member(actor=Participant.objects.get(conversation=group, user=bob), username="bob")

    assert kinds(group) == [
        ("created", "alice", None, "Hops"),
        ("added", "alice", "dave", ""),
        ("renamed", "alice", None, "Malt"),
        ("removed", "alice", "carol", ""),
        ("left", "bob", "bob", ""),
    ]


def test_a_refused_change_writes_nothing(alice, bob):
    group = services.conversation_create_group(creator=alice, title="Hops", usernames=["bob"])
    member = Participant.objects.get(conversation=group, user=bob)
    with pytest.raises(ChatError, match="owner or an admin"):
        services.conversation_rename(actor=member, title="Mine now")  # only owners and admins
    with pytest.raises(ChatError, match="already a member"):
        services.conversation_add_member(actor=Participant.objects.get(conversation=group, user=alice), username="bob")
    assert [e.kind for e in ConversationEvent.objects.all()] == ["created"]


def test_the_selector_costs_one_query_for_any_number_of_events(alice, make_user, django_assert_num_queries):
    group = services.conversation_create_group(creator=alice, title="Hops", usernames=[])
    owner = Participant.objects.get(conversation=group, user=alice)
    for n in range(20):
        services.conversation_add_member(actor=owner, username=make_user().username)
        services.conversation_rename(actor=owner, title=f"Hops {n}")
    with django_assert_num_queries(1):
        found = selectors.conversation_events(group.pk)
        names = [e.subject.display_name for e in found if e.subject]
    assert len(found) == 41
    assert len(names) == 20


def test_the_page_shows_the_events_between_the_messages_by_display_name(client_for, alice, bob, make_user):
    make_user("dave", display_name="Dave phone")
    group = services.conversation_create_group(creator=alice, title="Hops", usernames=["bob"])
    send(alice, group, "first")
    owner = Participant.objects.get(conversation=group, user=alice)
    services.conversation_add_member(actor=owner, username="dave")
    send(bob, group, "second")
    services.conversation_remove_member(actor=Participant.objects.get(conversation=group, user=bob), username="bob")

    response = client_for(alice).get(f"/c/{group.pk}/")

    rows = [row["text"] if row.get("event") else row["content"] for row in response.context["history"]]
    assert rows == ["You created the group “Hops”", "first", "Dave phone was added by you", "second", "bob left"]
    html = response.content.decode()
    assert '<li class="system-note" data-id="' in html
    assert "Dave phone was added by you</li>" in html


def test_events_before_the_first_page_stay_out(client_for, alice, bob):
    group = services.conversation_create_group(creator=alice, title="Hops", usernames=["bob"])
    for n in range(60):
        send(alice, group, f"m{n}")
    # bob has read them all, so the page is the newest 50 (with unread ones it opens at the first).
    services.conversation_mark_read(participant=group.participants.get(user=bob))

    response = client_for(bob).get(f"/c/{group.pk}/")

    assert not any(row.get("event") for row in response.context["history"])
    assert len(response.context["history"]) == 50
