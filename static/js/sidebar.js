// The list of conversations: most recent first, each with its last message and unread badge.
// The server renders it; this keeps it current from the notification socket's frames.

import { renderTimes } from "./time.js";

const AVATAR_COLOURS = 8;

export function conversationName(conversation) {
  return conversation.is_group ? conversation.title : conversation.other_user?.display_name || "Someone";
}

// Worded like chat/views.py `_preview`.
export function preview(message, me, isGroup) {
  if (!message) return "No messages yet";
  const text = message.deleted ? "Message deleted" : message.content;
  if (message.sender.id === me.id) return `You: ${text}`;
  return isGroup ? `${message.sender.display_name}: ${text}` : text;
}

export class Sidebar {
  constructor({ list, empty, template, me, conversationUrl, openId, onTotal, onItem = () => {} }) {
    Object.assign(this, { list, empty, template, me, conversationUrl, openId, onTotal, onItem });
    this.items = new Map();
    for (const el of list.querySelectorAll("li.conv")) {
      this.items.set(Number(el.dataset.id), el);
    }
  }

  has(id) {
    return this.items.has(id);
  }

  name(id) {
    return this.items.get(id)?.querySelector("[data-field=name]").textContent || "";
  }

  isGroup(id) {
    return this.items.get(id)?.dataset.group === "1";
  }

  total() {
    let total = 0;
    for (const el of this.items.values()) total += Number(el.dataset.unread) || 0;
    return total;
  }

  // A whole conversation (from the API or a `conversation` frame): insert it or refresh it.
  // `keepNewer` skips it when a frame has already shown something more recent than this copy.
  upsert(conversation, { keepNewer = false } = {}) {
    let el = this.items.get(conversation.id);
    if (el && keepNewer && Date.parse(el.dataset.activity) > Date.parse(conversation.updated_at)) return;
    if (!el) {
      el = this.template.content.firstElementChild.cloneNode(true);
      el.dataset.id = conversation.id;
      el.querySelector("a").href = this.conversationUrl(conversation.id);
      this.items.set(conversation.id, el);
      this.list.append(el);
    }
    const name = conversationName(conversation);
    el.dataset.group = conversation.is_group ? "1" : "";
    el.querySelector("[data-field=name]").textContent = name;
    const avatar = el.querySelector("[data-field=avatar]");
    avatar.textContent = name.slice(0, 1).toUpperCase();
    const colourKey = conversation.is_group ? conversation.id : conversation.other_user?.id || 0;
    avatar.className = `avatar c${colourKey % AVATAR_COLOURS}`;
    // The presence dot of a direct conversation is its other person's.
    if (conversation.is_group || !conversation.other_user) delete avatar.dataset.presence;
    else avatar.dataset.presence = conversation.other_user.id;
    this.showLast(el, conversation.last_message, conversation.updated_at);
    this.setUnread(conversation.id, conversation.unread_count);
    this.reorder();
    this.onItem(el);
  }

  // A new message in one of the conversations: it moves to the top with a new preview.
  onMessage(conversationId, message, unread) {
    const el = this.items.get(conversationId);
    if (!el) return false;
    this.showLast(el, message, message.created_at);
    if (unread !== undefined) this.setUnread(conversationId, unread);
    this.reorder();
    return true;
  }

  // The last message was edited or deleted: its preview changes, its place in the list does not.
  onMessageChanged(conversationId, message) {
    const el = this.items.get(conversationId);
    if (el?.dataset.lastId !== String(message.id)) return;
    el.querySelector("[data-field=preview]").textContent = preview(message, this.me, el.dataset.group === "1");
  }

  showLast(el, message, activityAt) {
    el.dataset.lastId = message?.id ?? "";
    el.querySelector("[data-field=preview]").textContent = preview(message, this.me, el.dataset.group === "1");
    el.dataset.activity = activityAt;
    el.querySelector("[data-field=time]").dateTime = activityAt;
    renderTimes(el);
  }

  setUnread(id, count) {
    const el = this.items.get(id);
    if (!el) return;
    const shown = id === this.openId && !document.hidden ? 0 : Math.max(0, count || 0);
    el.dataset.unread = shown;
    const badge = el.querySelector("[data-field=badge]");
    badge.textContent = shown > 99 ? "99+" : String(shown);
    badge.hidden = shown === 0;
    this.onTotal(this.total());
  }

  remove(id) {
    this.items.get(id)?.remove();
    this.items.delete(id);
    this.reorder();
    this.onTotal(this.total());
  }

  // Bring the list in line with a fresh copy from the API, fetched when the ids in `known` were
  // shown: those missing from it are gone; anything that arrived by frame meanwhile stays.
  replaceAll(conversations, known) {
    const listed = new Set(conversations.map((c) => c.id));
    for (const id of known) if (!listed.has(id)) this.remove(id);
    for (const conversation of conversations) this.upsert(conversation, { keepNewer: true });
  }

  reorder() {
    const sorted = [...this.items.entries()].sort(
      ([idA, a], [idB, b]) => Date.parse(b.dataset.activity) - Date.parse(a.dataset.activity) || idB - idA,
    );
    sorted.forEach(([, el], index) => {
      if (this.list.children[index] !== el) this.list.insertBefore(el, this.list.children[index] || null);
    });
    this.empty.hidden = this.items.size > 0;
  }
}
