// The list of conversations: most recent first, each with its last message and unread badge.
// The server renders the API's first page; this loads the next pages as the end of the list scrolls
// into view (following the API's Link header) and keeps it current from the notification socket's frames.
// A conversation is shown once, by id, however it arrives: a page, a frame, or a refetch.

import { apiPage } from "./api.js";
import { renderTimes } from "./time.js";

const AVATAR_COLOURS = 8;
const RESYNC_PAGE_MIN = 50; // the API's default page, as many as the server renders
const RESYNC_PAGE_MAX = 200; // the API's largest page
const LOAD_AHEAD_PX = 300; // start loading the next page this far before the end comes into view

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
  constructor({
    list,
    empty,
    more,
    template,
    me,
    conversationUrl,
    listUrl,
    next = null,
    unlisted = 0,
    openId,
    openUnread = 0,
    onTotal,
    onItem = () => {},
  }) {
    Object.assign(this, { list, empty, more, template, me, conversationUrl, listUrl, next, openId, onTotal, onItem });
    this.items = new Map();
    // Each listed conversation's unread count as the server has it (the open one's badge shows 0), and
    // the unread messages of the conversations not listed yet: the title counts them all.
    this.unread = new Map();
    this.unlisted = unlisted;
    for (const el of list.querySelectorAll("li.conv")) {
      const id = Number(el.dataset.id);
      this.items.set(id, el);
      this.unread.set(id, id === openId ? openUnread : Number(el.dataset.unread) || 0);
    }
    this.watchEnd();
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
    let total = this.unlisted;
    for (const el of this.items.values()) total += Number(el.dataset.unread) || 0;
    return total;
  }

  // A frame's `total_unread` (all the user's conversations): what the listed ones do not hold is unlisted.
  syncTotal(totalUnread) {
    if (typeof totalUnread !== "number") return;
    let listed = 0;
    for (const count of this.unread.values()) listed += count;
    this.unlisted = Math.max(0, totalUnread - listed);
    this.onTotal(this.total());
  }

  // A whole conversation (from the API or a `conversation` frame): insert it or refresh it.
  // `keepNewer` skips it when a frame has already shown something more recent than this copy.
  upsert(conversation, { keepNewer = false } = {}) {
    this.put(conversation, keepNewer);
    this.reorder();
    this.onTotal(this.total());
  }

  // Several at once (a page), placed and counted once.
  upsertAll(conversations) {
    for (const conversation of conversations) this.put(conversation, true);
    this.reorder();
    this.onTotal(this.total());
  }

  put(conversation, keepNewer) {
    let el = this.items.get(conversation.id);
    if (el && keepNewer && Date.parse(el.dataset.activity) > Date.parse(conversation.updated_at)) return;
    if (!el) {
      el = this.template.content.firstElementChild.cloneNode(true);
      el.dataset.id = conversation.id;
      el.querySelector("a").href = this.conversationUrl(conversation.id);
      this.items.set(conversation.id, el);
      this.list.append(el);
      // Its unread messages were counted as unlisted until now.
      this.unlisted = Math.max(0, this.unlisted - Math.max(0, conversation.unread_count || 0));
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
    this.paintUnread(conversation.id, conversation.unread_count);
    this.onItem(el);
  }

  // A new message in one of the conversations: it moves to the top with a new preview. One older than
  // the preview changes nothing: the user's own message comes from the chat socket and again from the
  // notification socket, and two server processes' frames can arrive in either order.
  onMessage(conversationId, message, unread) {
    const el = this.items.get(conversationId);
    if (!el) return false;
    if (Number(el.dataset.lastId) > message.id) return true;
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
    if (!this.items.has(id)) return;
    this.paintUnread(id, count);
    this.onTotal(this.total());
  }

  paintUnread(id, count) {
    const el = this.items.get(id);
    const unread = Math.max(0, count || 0);
    this.unread.set(id, unread);
    const shown = id === this.openId && !document.hidden ? 0 : unread;
    el.dataset.unread = shown;
    const badge = el.querySelector("[data-field=badge]");
    badge.textContent = shown > 99 ? "99+" : String(shown);
    badge.hidden = shown === 0;
    // The badge is only a number to the eye; screen readers hear "3 unread messages".
    const label = el.querySelector("[data-field=unread-label]");
    if (label) label.textContent = shown ? `${badge.textContent} unread message${shown === 1 ? "" : "s"}` : "";
  }

  remove(id) {
    this.items.get(id)?.remove();
    this.items.delete(id);
    this.unread.delete(id);
    this.reorder();
    this.onTotal(this.total());
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

  // --- the next pages: loaded when the end of the list comes into view ----------------------------

  watchEnd() {
    if (!this.more) return;
    this.more.querySelector("button").addEventListener("click", () => this.loadMore());
    this.observer = new IntersectionObserver((entries) => entries.some((e) => e.isIntersecting) && this.loadMore(), {
      root: this.list,
      rootMargin: `0px 0px ${LOAD_AHEAD_PX}px 0px`,
    });
    this.watchMore();
  }

  // (Re)start watching the end of the list: observing afresh reports at once whether it is in view,
  // so a page that does not fill the list is followed by the next one.
  watchMore() {
    if (!this.more) return;
    this.more.hidden = !this.next;
    this.observer.disconnect();
    if (this.next) this.observer.observe(this.more);
  }

  async loadMore() {
    if (this.loading || !this.next) return;
    this.loading = true;
    const button = this.more.querySelector("button");
    button.disabled = true;
    button.textContent = "Loading…";
    try {
      const { items, next } = await apiPage(this.next);
      // Conversations already shown (moved up by a frame meanwhile) are not added twice: upsertAll
      // keeps the newer copy of each.
      this.upsertAll(items);
      this.next = next;
      this.watchMore();
    } catch {
      // Scrolling back to the end, or the button, tries again.
    } finally {
      this.loading = false;
      button.disabled = false;
      button.textContent = "Load more";
    }
  }

  // After the notification socket (re)connects: frames may have been missed, so the list is fetched
  // again as far down as it is shown, and the shown part brought in line with it. Conversations
  // missing from that stretch are gone; anything that arrived by frame meanwhile stays.
  async resync() {
    const known = new Set(this.items.keys());
    const fetched = [];
    let url = `${this.listUrl}?limit=${Math.min(RESYNC_PAGE_MAX, Math.max(known.size, RESYNC_PAGE_MIN))}`;
    let complete = false;
    for (;;) {
      const { items, next } = await apiPage(url);
      fetched.push(...items);
      if (!next) complete = true;
      if (!next || fetched.length >= known.size) break;
      url = next;
    }
    const listed = new Set(fetched.map((c) => c.id));
    const oldest = fetched.length ? Date.parse(fetched.at(-1).updated_at) : Infinity;
    for (const id of known) {
      const el = this.items.get(id);
      if (!el || listed.has(id)) continue;
      if (complete || Date.parse(el.dataset.activity) > oldest) this.remove(id);
    }
    this.upsertAll(fetched);
    if (complete) {
      this.next = null;
      this.watchMore();
    }
  }
}
