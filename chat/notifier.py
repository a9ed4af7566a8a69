"""Email for people who are away: one pass of `manage.py run_notifier` (docs/notifications.md).

A participant is due an email when their conversation holds messages from others that they have not
read, that are older than NOTIFY_DELAY, and that are past their `last_emailed_seq`, while they are
offline and have email notifications on. Each pass sends at most one email per user, summing up every
conversation they missed, and moves each `last_emailed_seq` past what that email covered.

The database is the worker's only memory. The pointers move in the same transaction that sends the
email, under the participants' row locks (PostgreSQL, `skip_locked`: a second worker passes over a
user the first one is busy with) or SQLite's write lock (IMMEDIATE transactions: the second worker
waits, then re-reads the pointers and finds nothing left). Everything is re-checked inside that
transaction: a read on another device, a socket that came online, a setting turned off. A send that
fails rolls the pointers back, so the next pass retries it; a crash between the mail server accepting
the email and the commit is the one window in which an email can go out twice.

The cost follows the unread messages, not the whole history: candidates come from one query over
participants whose conversation moved past both their pointers, with an EXISTS probe on the
(conversation, seq) index, in batches of users.
"""

import logging
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import connection, transaction
from django.db.models import Exists, F, Max, Min, OuterRef, prefetch_related_objects
from django.db.models.functions import Greatest
from django.template.loader import render_to_string
from django.utils import timezone

from accounts.models import User
from chat import presence
from chat.models import Block, Message, Participant

logger = logging.getLogger(__name__)

BATCH_SIZE = 200
# Messages quoted per conversation; the email says how many more there are.
PREVIEW_MESSAGES = 3
PREVIEW_CHARS = 200
# The web app's page where a user turns these emails off.
SETTINGS_PATH = "/settings"

_control = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


def one_line(text: str, limit: int = PREVIEW_CHARS) -> str:
    """The first line of user text, with control characters gone and cut to `limit` characters.

    Names and quotes land in a subject header and in a plain-text body: a newline in them must not
    start a header or a line that looks like the email's own (a fake link, say).
    """
    lines = [line for line in text.strip().splitlines() if line.strip()]
    line = _control.sub(" ", lines[0] if lines else "").strip()
    line = re.sub(r"\s+", " ", line)
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


@dataclass
class MissedConversation:
    conversation_id: int
    title: str
    url: str
    count: int
    messages: list[dict] = field(default_factory=list)

    @property
    def more(self) -> int:
        return self.count - len(self.messages)


@dataclass
class PassResult:
    emails_sent: int = 0
    users_checked: int = 0
    failures: int = 0


def _cutoff(now: datetime) -> datetime:
    return now - timedelta(seconds=settings.NOTIFY_DELAY)


def _pointer() -> Greatest:
    """Where a participant's unseen messages start: past what they read and what was emailed."""
    return Greatest(F("last_read_seq"), F("last_emailed_seq"))


def candidate_user_ids(now: datetime, *, after_user_id: int = 0, limit: int = BATCH_SIZE) -> list[int]:
    """The next `limit` users (by id, after `after_user_id`) who may be due an email."""
    due = Message.objects.filter(
        conversation_id=OuterRef("conversation_id"),
        seq__gt=OuterRef("pointer"),
        created_at__lte=_cutoff(now),
    ).exclude(sender_id=OuterRef("user_id"))
    rows = (
        Participant.objects.annotate(pointer=_pointer())
        .filter(
            conversation__last_seq__gt=F("pointer"),
            user_id__gt=after_user_id,
            user__is_active=True,
            user__email_notifications=True,
        )
        .filter(Exists(due))
        .values_list("user_id", flat=True)
        .distinct()
        .order_by("user_id")
    )
    return list(rows[:limit])


def _conversation_title(participant: Participant, user: User) -> str:
    conversation = participant.conversation
    if conversation.is_group:
        return one_line(conversation.title or f"Conversation {conversation.pk}", 120)
    others = [p.user for p in conversation.participants.all() if p.user_id != user.pk]
    return one_line(others[0].display_name or others[0].username, 120) if others else "A conversation"


def _missed_in(
    participant: Participant, user: User, cutoff: datetime, blocked: list[int]
) -> tuple[int, MissedConversation | None]:
    """How far this email may move the participant's pointer, and what it has to show there.

    The pointer stops before the first message younger than the delay (a later pass takes it), so
    nothing is skipped even if clocks put a younger message before an older one.
    """
    start = max(participant.last_read_seq, participant.last_emailed_seq)
    after_start = Message.objects.filter(conversation_id=participant.conversation_id, seq__gt=start)
    first_recent = after_start.filter(created_at__gt=cutoff).aggregate(seq=Min("seq"))["seq"]
    upto = first_recent - 1 if first_recent is not None else after_start.aggregate(seq=Max("seq"))["seq"]
    if upto is None or upto <= start:
        return start, None
    shown = (
        after_start.filter(seq__lte=upto, deleted_at__isnull=True)
        .exclude(sender_id=user.pk)
        .exclude(sender_id__in=blocked)
        .select_related("sender")
        .order_by("seq")
    )
    previews = list(shown[:PREVIEW_MESSAGES])
    if not previews:
        return upto, None
    count = len(previews) if len(previews) < PREVIEW_MESSAGES else shown.count()
    missed = MissedConversation(
        conversation_id=participant.conversation_id,
        title=_conversation_title(participant, user),
        url=f"{settings.SITE_URL}/c/{participant.conversation_id}/",
        count=count,
        messages=[
            {
                "sender": one_line(message.sender.display_name or message.sender.username, 64),
                "line": one_line(message.content),
                "created_at": message.created_at,
            }
            for message in previews
        ],
    )
    return upto, missed


def build_email(user: User, missed: list[MissedConversation]) -> EmailMultiAlternatives:
    total = sum(item.count for item in missed)
    senders = list(dict.fromkeys(m["sender"] for item in missed for m in item.messages))
    names = senders[0] if len(senders) == 1 else ", ".join(senders[:-1]) + " and " + senders[-1]
    plural = "s" if total != 1 else ""
    subject = one_line(f"{total} unread message{plural} from {names} on Brewverse", 180)
    context = {
        "user_name": one_line(user.display_name or user.username, 64),
        "missed": missed,
        "total": total,
        "site_url": settings.SITE_URL,
        "settings_url": f"{settings.SITE_URL}{SETTINGS_PATH}",
    }
    email = EmailMultiAlternatives(
        subject=subject,
        body=render_to_string("email/away_digest.txt", context),
        to=[user.email],
    )
    email.attach_alternative(render_to_string("email/away_digest.html", context), "text/html")
    return email


def notify_user(user_id: int, now: datetime) -> bool:
    """Email one user what they missed, if they are still due it; True when an email went out."""
    cutoff = _cutoff(now)
    with transaction.atomic():
        user = User.objects.filter(pk=user_id, is_active=True, email_notifications=True).exclude(email="").first()
        if user is None or presence.is_online(user_id):
            return False
        rows = (
            Participant.objects.annotate(pointer=_pointer())
            .filter(user_id=user_id, conversation__last_seq__gt=F("pointer"))
            .select_related("conversation")
            .order_by("conversation_id")
        )
        if connection.features.has_select_for_update_skip_locked:
            # Another worker holding these rows is emailing this user right now: leave them to it.
            rows = rows.select_for_update(skip_locked=True, of=("self",))
        participants = list(rows)
        if not participants:
            return False
        # Titles of direct conversations name the other person; fetched once for all of them.
        _prefetch_members(participants)
        blocked = list(Block.objects.filter(blocker_id=user_id).values_list("blocked_id", flat=True))
        moves: dict[int, int] = {}
        missed: list[MissedConversation] = []
        for participant in participants:
            upto, item = _missed_in(participant, user, cutoff, blocked)
            if upto > max(participant.last_read_seq, participant.last_emailed_seq):
                moves[participant.pk] = upto
            if item is not None:
                missed.append(item)
        for participant_id, upto in moves.items():
            Participant.objects.filter(pk=participant_id, last_emailed_seq__lt=upto).update(last_emailed_seq=upto)
        if not missed:
            return False
        # Sent inside the transaction: if the mail server refuses, the pointers roll back and the
        # next pass tries again.
        build_email(user, missed).send()
    return True


def _prefetch_members(participants: list[Participant]) -> None:
    conversations = [p.conversation for p in participants if not p.conversation.is_group]
    prefetch_related_objects(conversations, "participants__user")


def run_pass(now: datetime | None = None) -> PassResult:
    """One pass over every user who may be due an email; one user's failure does not stop the others."""
    now = now or timezone.now()
    result = PassResult()
    after = 0
    while True:
        batch = candidate_user_ids(now, after_user_id=after)
        for user_id in batch:
            result.users_checked += 1
            try:
                if notify_user(user_id, now):
                    result.emails_sent += 1
            except Exception:
                result.failures += 1
                logger.exception("notifier: emailing user %s failed; the next pass retries", user_id)
        if len(batch) < BATCH_SIZE:
            return result
        after = batch[-1]
