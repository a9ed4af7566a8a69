"""The server-rendered pages: the app (sidebar + open conversation), a new conversation, group settings,
and blocking the other person of a direct conversation.

Pages read through selectors and write through services, like the API. They render the state at
load time; the scripts in static/js keep it live through the two sockets. Everything the user typed
reaches the page through Django's autoescaping.
"""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.dateparse import parse_datetime
from django.views.decorators.http import require_http_methods

from accounts.throttles import page_throttle_wait
from chat import moderation, selectors, services
from chat.api.pagination import first_page
from chat.api.serializers import MessageSerializer, conversation_payload
from chat.errors import ChatError, ConversationNotFound
from chat.forms import AddMemberForm, DirectForm, GroupForm, MessageForm, RenameForm, apply_chat_error
from chat.models import ConversationEvent, Participant
from chat.ratelimit import MessagePostThrottle

HISTORY_PAGE = 50
HISTORY_CONTEXT = 10  # read messages shown above the first unread one
AVATAR_COLOURS = 8
ROLE_ORDER = {Participant.Role.OWNER: 0, Participant.Role.ADMIN: 1, Participant.Role.MEMBER: 2}


def _participant_or_404(user, conversation_id: int) -> Participant:
    try:
        return selectors.participant_get(user, conversation_id)
    except ConversationNotFound:
        raise Http404("Conversation not found.")


def _preview(message: dict | None, me_id: int, is_group: bool) -> str:
    """The sidebar's one-line summary of the last message (static/js/sidebar.js words it the same)."""
    if message is None:
        return "No messages yet"
    text = "Message deleted" if message.get("deleted") else message["content"]
    if message["sender"]["id"] == me_id:
        return f"You: {text}"
    return f"{message['sender']['display_name']}: {text}" if is_group else text


def _sidebar_item(row: dict, me_id: int) -> dict:
    other = row["other_user"] or {}
    name = row["title"] if row["is_group"] else other.get("display_name", "Someone")
    return {
        **row,
        "name": name,
        "initial": name[:1].upper(),
        "colour": (row["id"] if row["is_group"] else other.get("id", 0)) % AVATAR_COLOURS,
        "preview": _preview(row["last_message"], me_id, row["is_group"]),
        # Posting sets updated_at, so it is the time of the last message, and the sort key of the list.
        "activity_at": row["updated_at"],
    }


def _render_app(
    request: HttpRequest, open_id: int | None = None, *, message_form: MessageForm | None = None, status: int = 200
) -> HttpResponse:
    user = request.user
    # The sidebar renders the API's first page; its script follows `next` as the user scrolls down.
    list_url = reverse("conversation-list")
    conversations, next_page = first_page(selectors.conversation_list_for(user), url=list_url)
    if open_id is not None and not any(c.pk == open_id for c in conversations):
        # An older conversation, opened by its URL: listed too, below the first page, where it belongs.
        try:
            conversations.append(selectors.conversation_get_for(user, open_id))
        except ConversationNotFound:
            raise Http404("Conversation not found.")
    rows = [conversation_payload(conversation, viewer=user) for conversation in conversations]
    items = [_sidebar_item(row, user.pk) for row in rows]
    all_unread = selectors.unread_totals([user.pk]).get(user.pk, 0)
    listed_unread = sum(row["unread_count"] for row in rows)
    blocked_ids = selectors.blocked_ids_of(user.pk)
    boot = {
        "me": {"id": user.pk, "username": user.username, "display_name": user.display_name},
        "urls": {
            "conversation": reverse("conversation", args=[0]),
            "conversations": list_url,
            "login": reverse("login"),
        },
        "max_length": settings.MESSAGE_MAX_LENGTH,
        "conversation": None,
        # Whose messages the scripts hide (the history leaves them out, as the API's does).
        "blocked": sorted(blocked_ids),
        # The next page of the list (None: all are shown), and the unread messages of the conversations
        # not shown yet, which the tab title counts too.
        "conversations": {"next": next_page, "unlisted_unread": max(all_unread - listed_unread, 0)},
    }
    context = {
        "conversations": items,
        "open": None,
        "boot": boot,
        "message_form": message_form,
        "me_colour": user.pk % AVATAR_COLOURS,
    }
    if open_id is not None:
        conversation = next(c for c in conversations if c.pk == open_id)
        open_item = context["open"] = next(item for item in items if item["id"] == open_id)
        has_newer = False
        if open_item["unread_count"] > 0:
            # Opened at the first unread message, with a few read ones above it; the newer ones beyond
            # the page come with the socket's replay (`?after=` the last one rendered).
            page, has_more, has_newer = selectors.message_window_from(
                open_id,
                after=open_item["last_read_message_id"] or 0,
                viewer_id=user.pk,
                context=HISTORY_CONTEXT,
                limit=HISTORY_PAGE,
            )
        else:
            history = selectors.message_history(open_id, limit=HISTORY_PAGE + 1, viewer_id=user.pk)
            page, has_more = history[-HISTORY_PAGE:], len(history) > HISTORY_PAGE
        context["has_more"] = has_more
        shown = [{**m, "mine": m["sender"]["id"] == user.pk} for m in MessageSerializer(page, many=True).data]
        # Where the messages of people the user blocked were: a placeholder per run, in seq order, and
        # the group's events between the messages, both within the page's span.
        after_seq = shown[0]["seq"] - 1 if shown and has_more else 0
        upto_seq = shown[-1]["seq"] if shown and has_newer else None
        runs = selectors.hidden_message_runs(
            open_id, viewer_id=user.pk, blocked_ids=blocked_ids, after_seq=after_seq, upto_seq=upto_seq
        )
        rows = sorted(shown + runs, key=lambda row: row["from_seq"] if row.get("hidden") else row["seq"])
        if conversation.is_group:
            since = parse_datetime(shown[0]["created_at"]) if shown and has_more else None
            until = parse_datetime(shown[-1]["created_at"]) if shown and has_newer else None
            rows = _with_events(rows, selectors.conversation_events(open_id, since=since, until=until), user.pk)
        context["history"] = rows
        context["block_state"] = _block_state(user, open_item["other_user"], blocked_ids)
        keys = ("id", "is_group", "name", "title", "participants", "unread_count", "last_read_message_id", "other_user")
        boot["conversation"] = {key: open_item[key] for key in keys}
        # The newest message, hidden or not: where the scripts' gap-free run starts. `last_message` is
        # the newest the user can see; only when that is not the newest is the newest looked up.
        last = open_item["last_message"]
        if last is None or last["seq"] != conversation.last_seq:
            last = selectors.newest_message_ref(open_id)
        boot["conversation"]["last_message"] = {"id": last["id"], "seq": last["seq"]} if last else None
        boot["has_more"] = context["has_more"]
        # The history stops before the newest message: the scripts' run ends at its last message.
        boot["has_newer"] = has_newer
        boot["newest_shown_id"] = open_item["last_message"]["id"] if open_item["last_message"] else None
        # The others' pointers, from which the page draws the ticks of the user's own messages.
        boot["receipts"] = [
            {
                "user_id": p.user_id,
                "display_name": p.user.display_name,  # "Read by Bob, Carol"
                "last_delivered_message_id": p.last_delivered_message_id,
                "last_read_message_id": p.last_read_message_id,
            }
            for p in conversation.participants.all()
            if p.user_id != user.pk
        ]
    # The open conversation is being read, so it counts for nothing in the badges and the title.
    open_unread = sum(item["unread_count"] for item in items if item["id"] == open_id)
    context["total_unread"] = max(all_unread - open_unread, 0)
    return render(request, "chat/app.html", context, status=status)


def _event_text(event: ConversationEvent, me_id: int) -> str:
    """A group event as its system note says it, by display name: "Dave was added by Alice"."""

    def name(user, *, start: bool = True) -> str:
        if user is None:
            return "Someone" if start else "someone"
        if user.pk == me_id:
            return "You" if start else "you"
        return user.display_name

    actor, subject = name(event.actor, start=False), name(event.subject)
    kind = ConversationEvent.Kind
    if event.kind == kind.CREATED:
        return f"{name(event.actor)} created the group “{event.title}”"
    if event.kind == kind.RENAMED:
        return f"{name(event.actor)} renamed the group to “{event.title}”"
    if event.kind == kind.LEFT:
        return f"{subject} left"
    verb = "were" if subject == "You" else "was"
    return f"{subject} {verb} {'added' if event.kind == kind.ADDED else 'removed'} by {actor}"


def _with_events(rows: list[dict], group_events: list[ConversationEvent], me_id: int) -> list[dict]:
    """The history's rows with the group's events between them, by time: each note after the rows
    that came before it (a note carries the id of the message before it, where the scripts keep it)."""

    def at(row: dict):
        value = row["created_at"]
        return parse_datetime(value) if isinstance(value, str) else value

    merged: list[dict] = []
    pending = list(group_events)
    for row in rows:
        while pending and pending[0].created_at < at(row):
            merged.append(_event_row(pending.pop(0), merged, me_id))
        merged.append(row)
    for event in pending:
        merged.append(_event_row(event, merged, me_id))
    return merged


def _event_row(event: ConversationEvent, before: list[dict], me_id: int) -> dict:
    after_id = next((row["id"] for row in reversed(before) if not row.get("event")), 0)
    return {"event": True, "text": _event_text(event, me_id), "created_at": event.created_at, "after_id": after_id}


def _block_state(user, other: dict | None, blocked_ids: set[int]) -> str | None:
    """Whether a block stands in a direct conversation: "by_me", "by_them" or None (and always for groups)."""
    if not other:
        return None
    if other["id"] in blocked_ids:
        return "by_me"
    return "by_them" if selectors.is_blocked_between(user.pk, [other["id"]]) else None


@login_required
@require_http_methods(["GET"])
def app(request: HttpRequest) -> HttpResponse:
    return _render_app(request)


@login_required
@require_http_methods(["GET", "POST"])
def conversation(request: HttpRequest, conversation_id: int) -> HttpResponse:
    """The open conversation; a POST is the send box without JavaScript."""
    if request.method == "GET":
        return _render_app(request, conversation_id)
    participant = _participant_or_404(request.user, conversation_id)
    form = MessageForm(request.POST)
    wait = page_throttle_wait(request, [MessagePostThrottle()])
    if wait is not None:
        form.add_error(None, f"You are sending too fast. Try again in {wait} seconds.")
        return _render_app(request, conversation_id, message_form=form, status=429)
    if form.is_valid():
        try:
            services.message_send(
                sender=request.user,
                conversation=participant.conversation,
                content=form.cleaned_data["content"],
                client_id=form.cleaned_data["client_id"] or None,
            )
        except ChatError as error:
            apply_chat_error(form, error)
        else:
            return redirect("conversation", conversation_id)
    return _render_app(request, conversation_id, message_form=form)


@login_required
@require_http_methods(["GET", "POST"])
def new_conversation(request: HttpRequest) -> HttpResponse:
    """A direct conversation by username, or a group with a title and members."""
    direct_form, group_form = DirectForm(prefix="direct"), GroupForm(prefix="group")
    kind = request.POST.get("kind") if request.method == "POST" else None
    try:
        if kind == "direct":
            direct_form = DirectForm(request.POST, prefix="direct")
            if direct_form.is_valid():
                other = direct_form.cleaned_data["username"]
                conversation, _ = services.conversation_get_or_create_direct(user=request.user, other=other)
                return redirect("conversation", conversation.pk)
        elif kind == "group":
            group_form = GroupForm(request.POST, prefix="group")
            if group_form.is_valid():
                conversation = services.conversation_create_group(creator=request.user, **group_form.cleaned_data)
                return redirect("conversation", conversation.pk)
    except ChatError as error:
        apply_chat_error(direct_form if kind == "direct" else group_form, error)
    context = {"direct_form": direct_form, "group_form": group_form, "kind": kind}
    return render(request, "chat/new.html", context)


@login_required
@require_http_methods(["POST"])
def conversation_block(request: HttpRequest, conversation_id: int) -> HttpResponse:
    """Block or unblock the other person of a direct conversation (the conversation header's menu)."""
    participant = _participant_or_404(request.user, conversation_id)
    other = None
    if not participant.conversation.is_group:
        other = next((p.user for p in selectors.participants_of(conversation_id) if p.user_id != request.user.pk), None)
    if other is None:
        raise Http404("Only a direct conversation has someone to block.")
    action = request.POST.get("action")
    if action == "block":
        moderation.user_block(blocker=request.user, blocked=other)
        messages.success(request, f"You blocked {other.display_name}.")
    elif action == "unblock":
        moderation.user_unblock(blocker=request.user, blocked=other)
        messages.success(request, f"You unblocked {other.display_name}.")
    return redirect("conversation", conversation_id)


def _members(conversation_id: int) -> list[Participant]:
    members = sorted(
        selectors.participants_of(conversation_id),
        key=lambda p: (ROLE_ORDER.get(p.role, 3), p.user.display_name.lower()),
    )
    for member in members:
        member.colour = member.user_id % AVATAR_COLOURS
    return members


@login_required
@require_http_methods(["GET", "POST"])
def group_settings(request: HttpRequest, conversation_id: int) -> HttpResponse:
    """A group's members; its owner and admins rename it and add or remove members; anyone leaves,
    and blocks or unblocks other members."""
    actor = _participant_or_404(request.user, conversation_id)
    group = actor.conversation
    if not group.is_group:
        raise Http404("Direct conversations have no settings.")
    rename_form = RenameForm(prefix="rename", initial={"title": group.title})
    add_form = AddMemberForm(prefix="add")
    action = request.POST.get("action") if request.method == "POST" else None
    error = None
    here = reverse("conversation-settings", args=[conversation_id])
    try:
        if action == "rename":
            rename_form = RenameForm(request.POST, prefix="rename")
            if rename_form.is_valid():
                services.conversation_rename(actor=actor, title=rename_form.cleaned_data["title"])
                messages.success(request, "The group was renamed.")
                return redirect(here)
        elif action == "add":
            add_form = AddMemberForm(request.POST, prefix="add")
            if add_form.is_valid():
                added = services.conversation_add_member(actor=actor, username=add_form.cleaned_data["username"])
                messages.success(request, f"{added.user.display_name} was added.")
                return redirect(here)
        elif action == "remove":
            username = request.POST.get("username", "")
            removed = services.conversation_remove_member(actor=actor, username=username)
            messages.success(request, f"{removed.user.display_name} was removed.")
            return redirect(here)
        elif action in ("block", "unblock"):
            username = request.POST.get("username", "")
            member = next((m for m in _members(conversation_id) if m.user.username == username), None)
            if member is None:
                error = f"{username} is not a member of this group."
            elif action == "block":
                moderation.user_block(blocker=request.user, blocked=member.user)
                messages.success(request, f"You blocked {member.user.display_name}.")
                return redirect(here)
            else:
                moderation.user_unblock(blocker=request.user, blocked=member.user)
                messages.success(request, f"You unblocked {member.user.display_name}.")
                return redirect(here)
        elif action == "leave":
            services.conversation_remove_member(actor=actor, username=request.user.username)
            messages.success(request, f"You left {group.title}.")
            return redirect("app")
        elif action is not None:
            error = "Unknown action."
    except ChatError as refused:
        form = {"rename": rename_form, "add": add_form}.get(action)
        if form is not None:
            apply_chat_error(form, refused)
        else:
            error = refused.detail
    context = {
        "group": group,
        "me": actor,
        "members": _members(conversation_id),
        "blocked_ids": selectors.blocked_ids_of(request.user.pk),
        "rename_form": rename_form,
        "add_form": add_form,
        "error": error,
    }
    return render(request, "chat/settings.html", context)
