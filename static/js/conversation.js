// The open conversation: its history (older pages on scrolling up), the send box, and everything
// live on /ws/chat/{id}/: messages, edits and deletions, typing, and the ticks of the user's own messages.
// Messages are ordered by id; `lastId`/`lastSeq` mark the end of the gap-free run the page holds,
// which is where a reconnect (`?after=`) or a catch-up after a missed frame starts.
// Messages from people the user blocked are not shown (the history leaves them out too), but they
// still count for that run and for reading.
// Reading: a message counts as read once it has been on screen (an IntersectionObserver on the
// scroller) while the page is visible and focused; the read pointer moves to the newest such message.
// A conversation with unread messages opens at the first of them, below a "New messages" divider.

import { api } from "./api.js";
import { Draft } from "./drafts.js";
import { closeEditor, MessageActions } from "./message-actions.js";
import { Outbox } from "./outbox.js";
import { conversationName } from "./sidebar.js";
import { LiveSocket } from "./socket.js";
import { renderTimes } from "./time.js";
import { addNote, markGaps, renderDays } from "./timeline.js";
import { TypingAnnouncer, TypingLine } from "./typing.js";

const PAGE = 50;
const CATCH_UP_PAGE = 200;
const COUNTER_FROM = 500; // show the counter this close to the limit
const NEAR_BOTTOM_PX = 120;
const SEEN_RATIO = 0.5; // this much of a message (or of the scroller, for a tall one) on screen is seeing it
const DIVIDER_GAP_PX = 8; // the divider sits this far below the top of the scroller on opening
// Read differs from delivered in its glyph and its word, not only in its colour.
const STATUS_TEXT = { pending: "Sending…", failed: "Not sent", sent: "✓", delivered: "✓✓", read: "✓✓ Read" };
const DELETED_TEXT = "Message deleted";

const $ = (selector) => document.querySelector(selector);
const field = (el, name) => el.querySelector(`[data-field=${name}]`);
const length = (text) => [...text].length; // code points, as the server counts
// Someone is looking at the page: visible, and the window has the focus.
const attentive = () => document.visibilityState === "visible" && document.hasFocus();

export class ConversationView {
  constructor({ boot, sidebar, onState, onRefused, onNotice }) {
    Object.assign(this, { sidebar, onNotice, me: boot.me, maxLength: boot.max_length });
    this.id = boot.conversation.id;
    this.isGroup = boot.conversation.is_group;
    this.hasMore = boot.has_more;
    // The history stops short of the newest message (it opened at the first unread): the socket's
    // replay brings the rest.
    this.hasNewer = Boolean(boot.has_newer);
    this.newestShownAtLoad = boot.newest_shown_id || 0;
    this.scroller = $("#scroller");
    this.list = $("#messages");
    this.template = $("#tpl-message");
    this.byId = new Map();
    this.pending = new Map(); // client_id -> the element of a message the server has not confirmed
    this.outbox = new Outbox({
      userId: this.me.id,
      conversationId: this.id,
      socket: () => this.socket,
      onSaved: (message) => this.onMessage(message),
      onPending: (clientId) => this.showPending(clientId),
      onFailed: (clientId, reason, code) => this.showFailed(clientId, reason, code),
    });
    this.draft = new Draft(this.me.id, this.id);
    this.receipts = new Map(boot.receipts.map((r) => [r.user_id, r]));
    this.names = new Map(boot.receipts.map((r) => [r.user_id, r.display_name]));
    this.live = $("#announcements");
    this.typing = new TypingLine($("#typing"));
    this.announcer = new TypingAnnouncer((frame) => this.socket.send(frame));
    this.ahead = new Map(); // seq -> id of messages beyond a gap
    this.lastId = 0;
    this.lastSeq = 0;
    this.maxId = 0; // the newest message the page has, shown or hidden
    this.shownMaxId = 0; // the newest one it shows
    this.readUpTo = boot.conversation.last_read_message_id || 0;
    this.blocked = new Set(boot.blocked || []);
    this.onScreen = new Set(); // the messages on screen now, seen or not (nobody may be looking)
    this.seen = new IntersectionObserver((entries) => this.onSeen(entries), {
      root: this.scroller,
      threshold: [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1],
    });
    this.members = boot.conversation.participants; // to tell what a `conversation` frame changed
    this.title = boot.conversation.title;

    for (const el of this.list.querySelectorAll(".msg[data-id]")) {
      this.index(el);
      [this.lastSeq, this.lastId] = [Number(el.dataset.seq), Number(el.dataset.id)];
      if (el.classList.contains("mine")) this.tick(el);
    }
    // The page holds everything up to the newest message, hidden ones aside: the run starts there.
    const newest = boot.conversation.last_message;
    if (!this.hasNewer && newest && newest.id > this.lastId) {
      [this.lastSeq, this.lastId] = [newest.seq, newest.id];
      this.maxId = Math.max(this.maxId, newest.id);
    }
    this.restoreOutbox();
    renderTimes(this.list);
    for (const el of this.list.querySelectorAll(".msg[data-id]")) this.nameActions(el);
    this.redrawTimeline();
    const divider = boot.conversation.unread_count > 0 && this.showDivider();
    if (divider) this.scrollToDivider(divider);
    else this.scrollToBottom();
    this.bindComposer();
    this.bindHistory();
    this.actions = new MessageActions({
      list: this.list,
      scroller: this.scroller,
      conversationId: this.id,
      onChanged: (message) => this.onUpdated(message),
      onDeleted: (el) => this.showDeleted(el),
      onNotice,
    });
    // Back to the page: what is on screen now has been seen.
    document.addEventListener("visibilitychange", () => this.readSeen());
    window.addEventListener("focus", () => this.readSeen());

    this.socket = new LiveSocket(`/ws/chat/${this.id}/`, {
      query: () => ({ after: this.lastId }),
      onFrame: (frame) => this.onFrame(frame),
      onOpen: () => this.onOpen(),
      onState: (state) => {
        onState(state);
        if (state !== "open") this.outbox.socketDown();
      },
      onRefused,
    });
  }

  // --- frames --------------------------------------------------------------------------------
  onFrame(frame) {
    if (frame.type === "message") this.onMessage(frame.message);
    // The server's acknowledgement of a send: it follows the message's own frame, or comes alone for a
    // retry of one this socket already showed. Either way the pending copy is settled once, by id.
    else if (frame.type === "ack") this.onMessage(frame.message);
    else if (frame.type === "message_updated" || frame.type === "message_deleted") this.onUpdated(frame.message);
    else if (frame.type === "typing" && frame.user.id !== this.me.id) this.typing.set(frame.user, frame.is_typing);
    else if (frame.type === "receipt") this.onReceipt(frame);
    else if (frame.type === "error") this.onError(frame);
  }

  onOpen() {
    this.typing.clearAll();
    this.outbox.wake();
    this.markDelivered();
    // Read while the socket was down (the REST call failed too): said again now.
    this.readSeen();
  }

  onMessage(message) {
    const mine = message.sender.id === this.me.id;
    const pending = mine && message.client_id ? this.settle(message) : null;
    if (this.byId.has(message.id)) return;
    if (!mine) this.sawReply(message);
    if (!mine && this.blocked.has(message.sender.id)) {
      this.maxId = Math.max(this.maxId, message.id);
      this.advance(message.seq, message.id);
      this.markDelivered();
      this.readSeen(); // the newest message shown may be on screen: this one follows it unseen
      return;
    }
    // At the bottom, the page follows new messages; with nobody looking, only as far as keeps the
    // divider above the first unread one on screen.
    const atBottom = this.nearBottom();
    const follow = mine || (atBottom && attentive());
    let el;
    if (pending) {
      el = pending;
      this.fill(el, message);
    } else {
      el = this.build(message);
    }
    this.place(el, message.id);
    this.index(el);
    this.advance(message.seq, message.id);
    this.sidebar.onMessage(this.id, message);
    if (mine) {
      // Sending reads the conversation up to the message (the server moves the pointer).
      this.readUpTo = Math.max(this.readUpTo, message.id);
      this.tick(el);
    } else {
      this.typing.clear(message.sender.id);
      this.announce(message);
      const divider = message.id > this.readUpTo && !follow && this.showDivider(el);
      if (divider && atBottom) this.scrollToDivider(divider);
      // The notification socket reports it too; this covers that socket being down. When someone is
      // looking, reading it moves the delivered pointer anyway.
      if (!attentive()) this.markDelivered();
    }
    this.redrawTimeline();
    if (follow) this.scrollToBottom();
    else if (!mine) $("#jump-down").hidden = this.nearBottom();
  }

  // A message from someone is also their reply: they have read (and received) what came before it.
  // The server moves their pointers without a receipt, so the ticks follow from here.
  sawReply(message) {
    const old = this.receipts.get(message.sender.id);
    if (!old) return;
    this.onReceipt({
      user: message.sender,
      last_delivered_message_id: message.id,
      last_read_message_id: message.id,
    });
  }

  // Whose messages a gap in the seqs hid, when only one person here can be it.
  hiddenSender() {
    const blocked = (this.members || []).filter((p) => p.id !== this.me.id && this.blocked.has(p.id));
    return blocked.length === 1 ? blocked[0].display_name : null;
  }

  // Day separators, and placeholders where messages of people the user blocked were left out.
  redrawTimeline() {
    // While a gap is being fetched it is not known to be hidden messages: marked once caught up.
    if (this.blocked.size && !this.ahead.size) markGaps(this.list, this.hiddenSender());
    renderDays(this.list);
  }

  // `message_updated` (an edit, a moderator's restore) and `message_deleted`: redrawn in place.
  onUpdated(message) {
    const el = this.byId.get(message.id);
    if (el) this.fill(el, message);
    this.sidebar.onMessageChanged(this.id, message);
  }

  onReceipt(frame) {
    if (frame.user.id === this.me.id) {
      // Read on another of the user's devices.
      this.readUpTo = Math.max(this.readUpTo, frame.last_read_message_id || 0);
      return;
    }
    if (frame.user.display_name) this.names.set(frame.user.id, frame.user.display_name);
    const old = this.receipts.get(frame.user.id) || {};
    const unchanged =
      (old.last_delivered_message_id || 0) >= (frame.last_delivered_message_id || 0) &&
      (old.last_read_message_id || 0) >= (frame.last_read_message_id || 0);
    if (unchanged && this.receipts.has(frame.user.id)) return;
    this.receipts.set(frame.user.id, {
      user_id: frame.user.id,
      last_delivered_message_id: Math.max(old.last_delivered_message_id || 0, frame.last_delivered_message_id || 0),
      last_read_message_id: Math.max(old.last_read_message_id || 0, frame.last_read_message_id || 0),
    });
    for (const el of this.list.querySelectorAll(".msg.mine[data-id]")) this.tick(el);
  }

  onError(frame) {
    if (frame.code === "blocked") this.showBlocked();
    if (frame.client_id && this.pending.has(frame.client_id)) this.outbox.refused(frame.client_id, frame);
    else if (frame.code !== "blocked") this.onNotice(frame.detail);
  }

  // A block stands between the two people of this direct conversation: say so instead of a send box.
  showBlocked() {
    $("#blocked-notice").hidden = false;
    this.form.hidden = true;
    this.input.disabled = true;
    this.announcer.stop();
  }

  // A `conversation` frame from the notification socket: new title, members joining or leaving.
  onConversation(conversation) {
    this.noteChanges(conversation);
    $("#conversation-name").textContent = conversationName(conversation);
    if (conversation.is_group) $("#conversation-sub").textContent = `${conversation.participants.length} members`;
    const others = new Set(conversation.participants.map((p) => p.id).filter((id) => id !== this.me.id));
    for (const id of this.receipts.keys()) if (!others.has(id)) this.receipts.delete(id);
    for (const id of others) if (!this.receipts.has(id)) this.receipts.set(id, { user_id: id });
    for (const p of conversation.participants) if (p.display_name) this.names.set(p.id, p.display_name);
    for (const el of this.list.querySelectorAll(".msg.mine[data-id]")) this.tick(el);
  }

  // A group's events as system notes, from what changed since the last `conversation` frame:
  // "Dave was added", "Carol is no longer a member", "The group was renamed to “Hops”".
  noteChanges(conversation) {
    if (!conversation.is_group) return;
    const before = new Map((this.members || []).map((p) => [p.id, p]));
    const after = new Map(conversation.participants.map((p) => [p.id, p]));
    const notes = [];
    if (this.title !== undefined && conversation.title !== this.title) notes.push(`The group was renamed to “${conversation.title}”`);
    for (const [id, p] of after) if (!before.has(id)) notes.push(`${p.id === this.me.id ? "You" : p.display_name} ${p.id === this.me.id ? "were" : "was"} added`);
    for (const [id, p] of before) if (!after.has(id)) notes.push(`${p.display_name} is no longer a member`);
    this.members = conversation.participants;
    this.title = conversation.title;
    const follow = this.nearBottom();
    for (const text of notes) addNote(this.list, text, { afterId: this.maxId });
    if (notes.length) this.redrawTimeline();
    if (notes.length && follow) this.scrollToBottom();
  }

  // The user was removed from the group (or left it on another device).
  noteRemoved() {
    addNote(this.list, "You are no longer a member of this group", { afterId: this.maxId });
    this.redrawTimeline();
    this.scrollToBottom();
  }

  // --- the message list ---------------------------------------------------------------------
  build(message) {
    const el = this.template.content.firstElementChild.cloneNode(true);
    this.fill(el, message);
    return el;
  }

  fill(el, message) {
    el.classList.toggle("mine", message.sender.id === this.me.id);
    el.classList.toggle("deleted", Boolean(message.deleted));
    if (message.id) Object.assign(el.dataset, { id: message.id, seq: message.seq });
    el.dataset.sender = message.sender.id;
    field(el, "sender").textContent = message.sender.display_name;
    field(el, "content").textContent = message.deleted ? DELETED_TEXT : message.content;
    field(el, "edited").hidden = !message.edited_at || Boolean(message.deleted);
    // Only a saved message has actions; a deleted one has none left.
    field(el, "actions").hidden = !message.id || Boolean(message.deleted);
    if (message.deleted) closeEditor(el);
    const time = field(el, "time");
    time.dateTime = message.created_at;
    time.removeAttribute("title");
    renderTimes(el);
    this.nameActions(el);
  }

  // "Actions for Bob's message at 08:55": each ⋯ button says whose message, and which, it acts on.
  nameActions(el) {
    const button = field(el, "actions");
    if (!button) return;
    const whose = el.classList.contains("mine") ? "your" : `${field(el, "sender").textContent}'s`;
    button.setAttribute("aria-label", `Actions for ${whose} message at ${field(el, "time").textContent}`);
  }

  // Someone else's new message, read out by screen readers (the #announcements live region).
  announce(message) {
    if (!this.live || message.deleted) return;
    this.live.textContent = `${message.sender.display_name}: ${message.content}`;
  }

  // Deleted by this window: drawn at once, before the `message_deleted` frame comes back.
  showDeleted(el) {
    el.classList.add("deleted");
    field(el, "content").textContent = DELETED_TEXT;
    field(el, "edited").hidden = true;
    field(el, "actions").hidden = true;
    closeEditor(el);
    const sender = { id: Number(el.dataset.sender), display_name: field(el, "sender").textContent };
    this.sidebar.onMessageChanged(this.id, { id: Number(el.dataset.id), sender, deleted: true, content: "" });
  }

  // Confirmed messages sit in id order; pending ones stay below them, in the order they were typed.
  place(el, id) {
    let node = this.list.lastElementChild;
    while (node && (node === el || !node.dataset.id || Number(node.dataset.id) > id)) node = node.previousElementSibling;
    if (node) node.after(el);
    else this.list.prepend(el);
  }

  index(el) {
    const id = Number(el.dataset.id);
    this.byId.set(id, el);
    this.maxId = Math.max(this.maxId, id);
    this.shownMaxId = Math.max(this.shownMaxId, id);
    // The replay has brought what the history stopped short of.
    if (this.hasNewer && id >= this.newestShownAtLoad) this.hasNewer = false;
    this.seen.observe(el);
  }

  // Move the end of the gap-free run forward; a seq beyond a gap waits, and the gap is fetched.
  advance(seq, id) {
    if (!this.lastSeq || seq === this.lastSeq + 1) {
      [this.lastSeq, this.lastId] = [seq, id];
      while (this.ahead.has(this.lastSeq + 1)) {
        this.lastSeq += 1;
        this.lastId = this.ahead.get(this.lastSeq);
        this.ahead.delete(this.lastSeq);
      }
    } else if (seq > this.lastSeq + 1) {
      this.ahead.set(seq, id);
      this.catchUp();
    }
  }

  async catchUp() {
    if (this.catchingUp) return;
    this.catchingUp = true;
    try {
      while (this.ahead.size) {
        const page = await api(`/api/messages/${this.id}?after=${this.lastId}&limit=${CATCH_UP_PAGE}`);
        for (const message of page) this.onMessage(message);
        if (page.length < CATCH_UP_PAGE) {
          // The API gave everything it shows: what is still missing is hidden (blocked senders).
          for (const [seq, id] of this.ahead) {
            if (seq > this.lastSeq) [this.lastSeq, this.lastId] = [seq, id];
          }
          break;
        }
      }
    } catch {
      // The next reconnect replays from lastId anyway.
    } finally {
      this.ahead.clear();
      this.catchingUp = false;
      this.redrawTimeline();
    }
  }

  tick(el) {
    const id = Number(el.dataset.id);
    const others = [...this.receipts.values()];
    const readBy = others.filter((r) => (r.last_read_message_id || 0) >= id).length;
    const reached = others.filter((r) => Math.max(r.last_delivered_message_id || 0, r.last_read_message_id || 0) >= id);
    let status = "sent";
    if (others.length && readBy === others.length) status = "read";
    else if (others.length && reached.length === others.length) status = "delivered";
    if (this.isGroup && readBy) {
      // Who read it: named on hover (title) and for screen readers; a tap shows the names in place.
      const names = others
        .filter((r) => (r.last_read_message_id || 0) >= id)
        .map((r) => this.names.get(r.user_id) || "someone");
      const label = `Read by ${names.join(", ")}`;
      const badge = field(el, "status");
      this.setStatus(el, status, label, badge.dataset.open ? `✓✓ ${label}` : `✓✓ Read by ${readBy}`);
      badge.setAttribute("role", "button");
      badge.tabIndex = 0;
      badge.setAttribute("aria-expanded", String(Boolean(badge.dataset.open)));
      return;
    }
    this.setStatus(el, status, { sent: "Sent", delivered: "Delivered", read: "Read" }[status]);
  }

  setStatus(el, status, label, text) {
    el.dataset.status = status;
    const badge = field(el, "status");
    badge.textContent = text || STATUS_TEXT[status];
    badge.title = label;
    badge.setAttribute("aria-label", label);
    badge.setAttribute("role", "img");
    badge.removeAttribute("tabindex");
    badge.removeAttribute("aria-expanded");
  }

  // Back to the message box once an edit begun with ↑ is saved or cancelled, to keep typing.
  refocusAfterEdit(el) {
    const form = el.querySelector(".edit-form");
    if (!form) return;
    const watch = new MutationObserver(() => {
      if (form.isConnected) return;
      watch.disconnect();
      if (!document.activeElement || document.activeElement === document.body) this.input.focus();
    });
    watch.observe(el, { childList: true, subtree: true });
  }

  // A tap (or Enter) on a group message's "Read by 2" shows the names, another hides them.
  toggleReaders(badge) {
    const el = badge.closest(".msg");
    if (badge.getAttribute("role") !== "button" || !el) return;
    if (badge.dataset.open) delete badge.dataset.open;
    else badge.dataset.open = "1";
    this.tick(el);
  }

  // --- sending: the outbox sends, this draws -----------------------------------------------
  send(content) {
    const item = this.outbox.add(content);
    this.list.append(this.buildPending(item));
    this.redrawTimeline();
    this.outbox.pump();
    this.scrollToBottom();
  }

  buildPending({ clientId, content, createdAt, failed, reason }) {
    const el = this.build({ sender: this.me, content, created_at: new Date(createdAt).toISOString() });
    delete el.dataset.id;
    delete el.dataset.seq;
    el.dataset.clientId = clientId;
    field(el, "retry").addEventListener("click", () => this.outbox.retry(clientId));
    this.pending.set(clientId, el);
    if (failed) this.showFailed(clientId, reason);
    else this.showPending(clientId);
    return el;
  }

  // Unsent messages kept from before a reload, below the history; those it already shows are settled.
  restoreOutbox() {
    const shown = new Set([...this.list.querySelectorAll(".msg.mine[data-client-id]")].map((el) => el.dataset.clientId));
    for (const item of [...this.outbox.items]) {
      if (shown.has(item.clientId)) this.outbox.settle(item.clientId, { next: false });
      else this.list.append(this.buildPending(item));
    }
  }

  // The server has this message of the user's: its pending element, if this page drew one, stops
  // pending (and goes, if the message is shown already).
  settle(message) {
    this.outbox.settle(message.client_id);
    const el = this.pending.get(message.client_id);
    if (!el) return null;
    this.pending.delete(message.client_id);
    el.classList.remove("pending", "failed");
    field(el, "retry").hidden = true;
    if (!this.byId.has(message.id)) return el;
    el.remove();
    return null;
  }

  showPending(clientId) {
    const el = this.pending.get(clientId);
    if (!el) return;
    el.classList.remove("failed");
    el.classList.add("pending");
    field(el, "retry").hidden = true;
    this.setStatus(el, "pending", "Sending…");
  }

  showFailed(clientId, reason, code) {
    if (code === "blocked") this.showBlocked();
    const el = this.pending.get(clientId);
    if (!el) return;
    el.classList.remove("pending");
    el.classList.add("failed");
    this.setStatus(el, "failed", reason || "Not sent");
    // No retry can succeed across a block: the notice says why once, and the message has no Retry.
    field(el, "retry").hidden = code === "blocked";
  }

  bindComposer() {
    this.form = $("#composer");
    this.input = $("#composer-input");
    this.counter = $("#counter");
    this.sendButton = $("#send");
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.submit();
    });
    this.input.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.altKey && !event.isComposing) {
        event.preventDefault();
        this.submit();
      } else if (event.key === "ArrowUp" && !this.input.value && !event.shiftKey && !event.isComposing) {
        // ↑ in an empty box edits the user's last message, as in most chat apps.
        const mine = [...this.list.querySelectorAll(".msg.mine[data-id]:not(.deleted)")].pop();
        if (mine) {
          event.preventDefault();
          this.actions.edit(mine);
          this.refocusAfterEdit(mine);
        }
      }
    });
    this.list.addEventListener("click", (event) => {
      const badge = event.target.closest("[data-field=status]");
      if (badge) this.toggleReaders(badge);
    });
    this.list.addEventListener("keydown", (event) => {
      const badge = event.target.closest("[data-field=status]");
      if (badge && (event.key === "Enter" || event.key === " ")) {
        event.preventDefault();
        this.toggleReaders(badge);
      }
    });
    this.input.addEventListener("input", () => this.onInput());
    this.input.addEventListener("blur", () => this.announcer.stop());
    // The draft from before a reload, unless the page brought text back itself (a refused post).
    if (!this.input.value) this.input.value = this.draft.text;
    this.refreshComposer();
    // Not on touch screens, where focusing would throw the keyboard over the conversation.
    if (matchMedia("(pointer: fine)").matches) this.input.focus({ preventScroll: true });
  }

  submit() {
    const content = this.input.value.trim();
    if (!content || length(content) > this.maxLength) return;
    this.announcer.stop();
    this.input.value = "";
    this.draft.clear();
    this.refreshComposer();
    this.send(content);
    this.input.focus();
  }

  onInput() {
    this.draft.save(this.input.value);
    this.refreshComposer();
    this.announcer.keyPressed(Boolean(this.input.value.trim()));
  }

  refreshComposer() {
    const used = length(this.input.value.trim());
    const left = this.maxLength - used;
    this.counter.hidden = left > COUNTER_FROM;
    this.counter.textContent = left >= 0 ? `${left} left` : `${-left} too many`;
    this.counter.classList.toggle("over", left < 0);
    this.sendButton.disabled = used === 0 || left < 0;
    this.input.style.height = "auto";
    this.input.style.height = `${Math.min(this.input.scrollHeight, 200)}px`;
  }

  // --- reading ------------------------------------------------------------------------------
  onSeen(entries) {
    for (const { target, isIntersecting, intersectionRatio, intersectionRect, rootBounds } of entries) {
      const seen =
        isIntersecting &&
        (intersectionRatio >= SEEN_RATIO || intersectionRect.height >= SEEN_RATIO * (rootBounds?.height || 0));
      if (seen) this.onScreen.add(target);
      else this.onScreen.delete(target);
    }
    this.readSeen();
  }

  // Move the read pointer to the newest message on screen, if someone is looking. With the newest
  // message shown on screen, the hidden ones after it (people the user blocked) are read too.
  readSeen() {
    if (!attentive() || !this.onScreen.size) return;
    let top = 0;
    for (const el of this.onScreen) top = Math.max(top, Number(el.dataset.id) || 0);
    if (top >= this.shownMaxId && !this.hasNewer) top = Math.max(top, this.maxId);
    if (this.nearBottom() && !this.hasNewer) $("#jump-down").hidden = true;
    this.markRead(top);
  }

  markRead(messageId) {
    if (!messageId || messageId <= this.readUpTo) return;
    const before = this.readUpTo;
    this.readUpTo = messageId;
    // Read to the end: the badge goes at once (the `read` frame brings the count either way).
    if (messageId >= this.maxId) this.sidebar.setUnread(this.id, 0);
    if (this.socket?.send({ type: "read", message_id: messageId })) return;
    api(`/api/conversations/${this.id}/read`, { method: "POST", body: { message_id: messageId } }).catch(() => {
      this.readUpTo = Math.min(this.readUpTo, before); // try again on the next chance
    });
  }

  // "New messages" above the first unread message from someone else. One already there stays, unless
  // everything before `arrived` (a message that just came) was read: then it moves down to it.
  showDivider(arrived = null) {
    const shown = this.list.querySelector(".unread-divider");
    if (shown && arrived) {
      // Most often someone else's message before it is unread as well: nothing to look for then.
      let node = arrived.previousElementSibling;
      while (node && !node.matches(".msg[data-id]:not(.mine)")) node = node.previousElementSibling;
      if (node && Number(node.dataset.id) > this.readUpTo) return shown;
    }
    const first = [...this.list.querySelectorAll(".msg[data-id]:not(.mine)")].find(
      (el) => Number(el.dataset.id) > this.readUpTo,
    );
    if (!first) return null;
    let divider = shown;
    if (divider && (first !== arrived || divider.nextElementSibling === first)) return divider;
    divider?.remove();
    divider = document.createElement("li");
    // A plain item (no role="separator"): a list holds only list items, and it reads as "New messages".
    divider.className = "unread-divider";
    divider.textContent = "New messages";
    first.before(divider);
    return divider;
  }

  // Down (never up) until the divider is at the top, or as far as the list goes.
  scrollToDivider(divider) {
    const offset = divider.getBoundingClientRect().top - this.scroller.getBoundingClientRect().top;
    this.scroller.scrollTop += Math.max(0, offset - DIVIDER_GAP_PX);
    $("#jump-down").hidden = this.nearBottom();
  }

  markDelivered() {
    if (this.maxId > (this.deliveredUpTo || 0) && this.socket?.send({ type: "delivered", message_id: this.maxId })) {
      this.deliveredUpTo = this.maxId;
    }
  }

  // --- history and scrolling ------------------------------------------------------------------
  bindHistory() {
    const older = $("#load-older");
    older.addEventListener("click", () => this.loadOlder());
    this.scroller.addEventListener(
      "scroll",
      () => {
        if (this.scroller.scrollTop < 200) this.loadOlder();
        if (this.nearBottom() && !this.hasNewer) $("#jump-down").hidden = true;
      },
      { passive: true },
    );
    $("#jump-down").addEventListener("click", () => this.scrollToBottom());
  }

  async loadOlder() {
    const oldest = this.list.querySelector(".msg[data-id]");
    if (!this.hasMore || this.loadingOlder || !oldest) return;
    this.loadingOlder = true;
    const button = $("#load-older");
    button.disabled = true;
    try {
      const page = await api(`/api/messages/${this.id}?before=${oldest.dataset.id}&limit=${PAGE}`);
      const fragment = document.createDocumentFragment();
      for (const message of page) {
        if (this.byId.has(message.id)) continue;
        const el = this.build(message);
        fragment.append(el);
        this.index(el);
        if (el.classList.contains("mine")) this.tick(el);
      }
      const { scrollHeight, scrollTop } = this.scroller;
      this.list.prepend(fragment);
      this.redrawTimeline();
      // Keep what the reader was looking at where it was.
      this.scroller.scrollTop = scrollTop + (this.scroller.scrollHeight - scrollHeight);
      this.hasMore = page.length === PAGE;
    } catch {
      this.onNotice("Could not load older messages.");
    } finally {
      this.loadingOlder = false;
      button.disabled = false;
      button.hidden = !this.hasMore;
      $("#history-start").hidden = this.hasMore;
    }
  }

  nearBottom() {
    const { scrollHeight, scrollTop, clientHeight } = this.scroller;
    return scrollHeight - scrollTop - clientHeight < NEAR_BOTTOM_PX;
  }

  scrollToBottom() {
    this.scroller.scrollTop = this.scroller.scrollHeight;
    $("#jump-down").hidden = true;
  }
}
