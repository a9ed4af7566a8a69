// The open conversation: its history (older pages on scrolling up), the send box, and everything
// live on /ws/chat/{id}/: messages, edits and deletions, typing, and the ticks of the user's own messages.
// Messages are ordered by id; `lastId`/`lastSeq` mark the end of the gap-free run the page holds,
// which is where a reconnect (`?after=`) or a catch-up after a missed frame starts.
// Messages from people the user blocked are not shown (the history leaves them out too), but they
// still count for that run and for reading.

import { api, newClientId } from "./api.js";
import { closeEditor, errorText, MessageActions } from "./message-actions.js";
import { conversationName } from "./sidebar.js";
import { LiveSocket } from "./socket.js";
import { renderTimes } from "./time.js";
import { addNote, markGaps, renderDays } from "./timeline.js";
import { TypingAnnouncer, TypingLine } from "./typing.js";

const PAGE = 50;
const CATCH_UP_PAGE = 200;
const ACK_TIMEOUT_MS = 10000;
const COUNTER_FROM = 500; // show the counter this close to the limit
const NEAR_BOTTOM_PX = 120;
const STATUS_TEXT = { pending: "Sending…", failed: "Not sent", sent: "✓", delivered: "✓✓", read: "✓✓" };
const DELETED_TEXT = "Message deleted";

const $ = (selector) => document.querySelector(selector);
const field = (el, name) => el.querySelector(`[data-field=${name}]`);
const length = (text) => [...text].length; // code points, as the server counts

export class ConversationView {
  constructor({ boot, sidebar, onState, onRefused, onNotice }) {
    Object.assign(this, { sidebar, onNotice, me: boot.me, maxLength: boot.max_length });
    this.id = boot.conversation.id;
    this.isGroup = boot.conversation.is_group;
    this.hasMore = boot.has_more;
    this.scroller = $("#scroller");
    this.list = $("#messages");
    this.template = $("#tpl-message");
    this.byId = new Map();
    this.pending = new Map(); // client_id -> { el, content, timer }
    this.receipts = new Map(boot.receipts.map((r) => [r.user_id, r]));
    this.typing = new TypingLine($("#typing"));
    this.announcer = new TypingAnnouncer((frame) => this.socket.send(frame));
    this.ahead = new Map(); // seq -> id of messages beyond a gap
    this.lastId = 0;
    this.lastSeq = 0;
    this.maxId = 0;
    this.readUpTo = boot.conversation.last_read_message_id || 0;
    this.blocked = new Set(boot.blocked || []);
    this.members = boot.conversation.participants; // to tell what a `conversation` frame changed
    this.title = boot.conversation.title;

    for (const el of this.list.querySelectorAll(".msg")) {
      this.index(el);
      [this.lastSeq, this.lastId] = [Number(el.dataset.seq), Number(el.dataset.id)];
      if (el.classList.contains("mine")) this.tick(el);
    }
    // The page holds everything up to the newest message, hidden ones aside: the run starts there.
    const newest = boot.conversation.last_message;
    if (newest && newest.id > this.lastId) {
      [this.lastSeq, this.lastId] = [newest.seq, newest.id];
      this.maxId = Math.max(this.maxId, newest.id);
    }
    renderTimes(this.list);
    this.redrawTimeline();
    this.scrollToBottom();
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
    document.addEventListener("visibilitychange", () => document.hidden || this.markRead());

    this.socket = new LiveSocket(`/ws/chat/${this.id}/`, {
      query: () => ({ after: this.lastId }),
      onFrame: (frame) => this.onFrame(frame),
      onOpen: () => this.onOpen(),
      onState,
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
    for (const [clientId, item] of this.pending) if (!item.failed) this.transmit(clientId);
    if (document.hidden) this.markDelivered();
    else this.markRead();
  }

  onMessage(message) {
    if (this.byId.has(message.id)) return;
    const mine = message.sender.id === this.me.id;
    if (!mine && this.blocked.has(message.sender.id)) {
      this.maxId = Math.max(this.maxId, message.id);
      this.advance(message.seq, message.id);
      if (document.hidden) this.markDelivered();
      else this.markRead();
      return;
    }
    const follow = mine || this.nearBottom();
    const pending = mine && message.client_id ? this.pending.get(message.client_id) : null;
    let el;
    if (pending) {
      clearTimeout(pending.timer);
      this.pending.delete(message.client_id);
      el = pending.el;
      el.classList.remove("pending", "failed");
      field(el, "retry").hidden = true;
      this.fill(el, message);
    } else {
      el = this.build(message);
    }
    this.place(el, message.id);
    this.index(el);
    this.advance(message.seq, message.id);
    this.sidebar.onMessage(this.id, message);
    if (mine) {
      this.readUpTo = Math.max(this.readUpTo, message.id);
      this.tick(el);
    } else {
      this.typing.clear(message.sender.id);
      if (document.hidden) this.markDelivered();
      else this.markRead();
    }
    this.redrawTimeline();
    if (follow) this.scrollToBottom();
    else $("#jump-down").hidden = false;
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
    const old = this.receipts.get(frame.user.id) || {};
    this.receipts.set(frame.user.id, {
      user_id: frame.user.id,
      last_delivered_message_id: Math.max(old.last_delivered_message_id || 0, frame.last_delivered_message_id || 0),
      last_read_message_id: Math.max(old.last_read_message_id || 0, frame.last_read_message_id || 0),
    });
    for (const el of this.list.querySelectorAll(".msg.mine[data-id]")) this.tick(el);
  }

  onError(frame) {
    if (frame.code === "blocked") this.showBlocked();
    if (frame.client_id && this.pending.has(frame.client_id)) this.fail(frame.client_id, frame.detail, frame.code === "blocked");
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
    this.byId.set(Number(el.dataset.id), el);
    this.maxId = Math.max(this.maxId, Number(el.dataset.id));
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
    const label = this.isGroup && readBy ? `Read by ${readBy}` : { sent: "Sent", delivered: "Delivered", read: "Read" }[status];
    this.setStatus(el, status, label, this.isGroup && readBy ? `✓✓ Read by ${readBy}` : undefined);
  }

  setStatus(el, status, label, text) {
    el.dataset.status = status;
    const badge = field(el, "status");
    badge.textContent = text || STATUS_TEXT[status];
    badge.title = label;
    badge.setAttribute("aria-label", label);
  }

  // --- sending ------------------------------------------------------------------------------
  send(content) {
    const clientId = newClientId();
    const el = this.build({ sender: this.me, content, created_at: new Date().toISOString() });
    delete el.dataset.id;
    delete el.dataset.seq;
    el.dataset.clientId = clientId;
    field(el, "retry").addEventListener("click", () => this.transmit(clientId));
    this.list.append(el);
    this.redrawTimeline();
    this.pending.set(clientId, { el, content });
    this.transmit(clientId);
    this.scrollToBottom();
  }

  // (Re)send a pending message with its client_id, so a retry can never post it twice.
  transmit(clientId) {
    const item = this.pending.get(clientId);
    if (!item) return;
    clearTimeout(item.timer);
    item.failed = false;
    item.el.classList.replace("failed", "pending") || item.el.classList.add("pending");
    field(item.el, "retry").hidden = true;
    this.setStatus(item.el, "pending", "Sending…");
    item.timer = setTimeout(() => this.fail(clientId, "No answer from the server."), ACK_TIMEOUT_MS);
    if (this.socket.send({ type: "message", content: item.content, client_id: clientId })) return;
    // No socket right now: the REST API saves it the same way.
    api("/api/messages", { method: "POST", body: { conversation_id: this.id, content: item.content, client_id: clientId } })
      .then((message) => this.onMessage(message))
      .catch((error) => {
        if (error.body?.code === "blocked") this.showBlocked();
        this.fail(clientId, errorText(error), error.body?.code === "blocked");
      });
  }

  // `final`: no retry can succeed (a block): the notice says why once, and the message has no Retry.
  fail(clientId, reason, final = false) {
    const item = this.pending.get(clientId);
    if (!item) return;
    clearTimeout(item.timer);
    item.failed = true;
    item.el.classList.replace("pending", "failed");
    this.setStatus(item.el, "failed", reason || "Not sent");
    field(item.el, "retry").hidden = final;
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
      }
    });
    this.input.addEventListener("input", () => this.onInput());
    this.input.addEventListener("blur", () => this.announcer.stop());
    this.refreshComposer();
    // Not on touch screens, where focusing would throw the keyboard over the conversation.
    if (matchMedia("(pointer: fine)").matches) this.input.focus({ preventScroll: true });
  }

  submit() {
    const content = this.input.value.trim();
    if (!content || length(content) > this.maxLength) return;
    this.announcer.stop();
    this.input.value = "";
    this.refreshComposer();
    this.send(content);
    this.input.focus();
  }

  onInput() {
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
  markRead() {
    if (document.hidden || this.maxId <= this.readUpTo) return;
    const messageId = this.maxId;
    this.readUpTo = messageId;
    this.sidebar.setUnread(this.id, 0);
    if (this.socket?.send({ type: "read", message_id: messageId })) return;
    api(`/api/conversations/${this.id}/read`, { method: "POST", body: { message_id: messageId } }).catch(() => {
      this.readUpTo = 0; // try again on the next chance
    });
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
        if (this.nearBottom()) $("#jump-down").hidden = true;
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
