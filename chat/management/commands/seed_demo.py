"""`python manage.py seed_demo`: alice, bob and carol, a direct conversation and a group with some history.

Idempotent: existing users are kept (their passwords untouched), the conversations are found again,
and each demo message has a fixed client_id, so `message_send` returns it instead of posting twice.
Everything goes through the services, exactly as if the three had signed up and chatted.
"""

from django.core.management.base import BaseCommand
from django.db import transaction

from accounts.models import User
from accounts.services import user_signup
from chat import selectors, services

DEMO_PASSWORD = "brewverse-demo"
USERS = [("alice", "Alice"), ("bob", "Bob"), ("carol", "Carol")]
GROUP_TITLE = "Coffee club"
DIRECT_HISTORY = [
    ("alice", "Hey Bob! Did you try the new Ethiopian roast?"),
    ("bob", "Not yet. Is it any good?"),
    ("alice", "Fruity, a bit of blueberry. Great as a pour-over."),
    ("bob", "Sold. Bring some on Friday?"),
]
GROUP_HISTORY = [
    ("carol", "Welcome to the coffee club ☕"),
    ("alice", "Thanks Carol! Who's up for a cupping session?"),
    ("bob", "Me! Saturday morning?"),
    ("carol", "Saturday 10:00 at mine. I'll grind, you bring beans."),
]


class Command(BaseCommand):
    help = "Create demo users (alice, bob, carol), a direct conversation and a group with a little history."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--password", default=DEMO_PASSWORD, help="Password for newly created demo users.")

    def handle(self, *args, password: str, **options) -> None:
        users = {username: self._user(username, display_name, password) for username, display_name in USERS}
        with transaction.atomic():
            direct, _ = services.conversation_get_or_create_direct(user=users["alice"], other=users["bob"])
            group = self._group(users)
            self._history(direct, DIRECT_HISTORY, users, "direct")
            self._history(group, GROUP_HISTORY, users, "group")
        self.stdout.write(self.style.SUCCESS("Demo ready."))
        self.stdout.write(f"Log in as alice, bob or carol with the password: {password}")
        self.stdout.write("(Users that already existed keep the password they had.)")

    def _user(self, username: str, display_name: str, password: str) -> User:
        existing = User.objects.filter(username__iexact=username).first()
        if existing is not None:
            self.stdout.write(f"  {username}: already exists")
            return existing
        self.stdout.write(f"  {username}: created")
        return user_signup(
            email=f"{username}@example.com", username=username, password=password, display_name=display_name
        )

    def _group(self, users: dict[str, User]):
        existing = selectors.conversation_list_for(users["carol"]).filter(is_group=True, title=GROUP_TITLE).first()
        if existing is not None:
            return existing
        return services.conversation_create_group(creator=users["carol"], title=GROUP_TITLE, usernames=["alice", "bob"])

    def _history(self, conversation, lines, users: dict[str, User], label: str) -> None:
        for number, (username, content) in enumerate(lines, start=1):
            services.message_send(
                sender=users[username],
                conversation=conversation,
                content=content,
                client_id=f"seed-demo-{label}-{number}",
            )
