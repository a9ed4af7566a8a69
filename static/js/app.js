// The app page: wires the sidebar, the open conversation and the notification socket together.
// Everything user-provided reaches the DOM through textContent, never innerHTML.

import { api } from "./api.js";
import "./confirm.js";
import { ConversationView } from "./conversation.js";
import { notifyBrowser, setTitleCount, setUpBrowserNotifications, Toasts } from "./notify.js";
import { Presence } from "./presence.js";
import { preview, Sidebar } from "./sidebar.js";
import { CLOSE_REMOVED, CLOSE_REVOKED, LiveSocket } from "./socket.js";
import { QuickSwitcher } from "./switcher.js";
import { renderTimes } from "./time.js";

const $ = (selector) => document.querySelector(selector);
const boot = JSON.parse($("#boot").textContent);
const openId = boot.conversation?.id ?? null;
const conversationUrl = (id) => boot.urls.conversation.replace("/0/", `/${id}/`);

const toasts = new Toasts($("#toasts"));
new QuickSwitcher({ dialog: $("#switcher"), list: $("#conversation-list") });
const presence = new Presence();
const blocked = new Set(boot.blocked || []);
const sidebar = new Sidebar({
  list: $("#conversation-list"),
  empty: $("#no-conversations"),
  more: $("#conversation-more"),
  template: $("#tpl-conversation"),
  me: boot.me,
  conversationUrl,
  listUrl: boot.urls.conversations,
  next: boot.conversations.next,
  unlisted: boot.conversations.unlisted_unread,
  openId,
  openUnread: boot.conversation?.unread_count ?? 0,
  onTotal: setTitleCount,
  onItem: (el) => presence.paint(el),
});

// --- connection state: "Reconnecting…" while a socket is down; data-live once all are up -------
const socketStates = new Map();
function trackState(name, state) {
  socketStates.set(name, state);
  const states = [...socketStates.values()];
  $("#connection").hidden = !states.includes("reconnecting");
  document.body.dataset.live = String(states.every((s) => s === "open"));
}

function toLogin() {
  location.assign(`${boot.urls.login}?next=${encodeURIComponent(location.pathname)}`);
}

// A socket refused again and again: has the session ended (logged out, banned)?
async function sessionAlive() {
  try {
    await api("/api/auth/me");
    return true;
  } catch (error) {
    if (error.status !== 401 && error.status !== 403) return true;
    toLogin();
    return false;
  }
}

function leaveConversation() {
  toasts.show({ title: "Conversation closed", body: "You are no longer a member of this conversation." });
  setTimeout(() => location.assign("/"), 1500);
}

// A socket closed for good (4401: the session was revoked, the user banned), or refused repeatedly.
function onRefused(code) {
  if (code === CLOSE_REVOKED) toLogin();
  else sessionAlive();
}

async function onChatRefused(code) {
  if (code === CLOSE_REVOKED) {
    toLogin();
    return;
  }
  if (!(await sessionAlive())) return;
  const member = await api(`/api/conversations/${openId}/`).then(
    () => true,
    (error) => error.status !== 404,
  );
  if (!member || code === CLOSE_REMOVED) leaveConversation();
}

let view = null;
if (boot.conversation) {
  socketStates.set("chat", "connecting");
  view = new ConversationView({
    boot,
    sidebar,
    onState: (state) => trackState("chat", state),
    onRefused: onChatRefused,
    onNotice: (text) => toasts.show({ title: "Brewverse", body: text }),
  });
}

// --- the notification socket: badges, order, toasts, title ----------------------------------
async function refreshConversation(id) {
  try {
    sidebar.upsert(await api(`/api/conversations/${id}/`));
  } catch {
    // It will come with the next resync.
  }
}

// Events may have been missed while the socket was down (or before it first opened).
async function resync() {
  try {
    await sidebar.resync();
  } catch {
    // The next reconnect tries again.
  }
}

function onNewMessage({ conversation_id: id, message, unread_count: unread, total_unread: total }) {
  // A conversation not listed (further down than the pages loaded so far) comes to the top.
  const listed = sidebar.onMessage(id, message, unread);
  sidebar.syncTotal(total);
  if (!listed) refreshConversation(id);
  const href = conversationUrl(id);
  const title = sidebar.name(id) || message.sender.display_name;
  const body = preview(message, boot.me, sidebar.isGroup(id));
  // The user's own message (sent here or on another device) and people they blocked: no toast, no notification.
  if (message.sender.id === boot.me.id || blocked.has(message.sender.id)) return;
  // This device has it, whether or not the conversation is open: the sender's ticks turn grey ✓✓.
  notifications.send({ type: "delivered", conversation_id: id, message_id: message.id });
  if (id !== openId && !document.hidden) toasts.show({ title, body, href });
  notifyBrowser({ title, body, tag: `conversation-${id}`, href });
}

function onNotification(frame) {
  if (frame.type === "new_message") onNewMessage(frame);
  else if (frame.type === "message_updated" || frame.type === "message_deleted") {
    sidebar.onMessageChanged(frame.conversation_id, frame.message);
  }
  else if (frame.type === "read") {
    sidebar.setUnread(frame.conversation_id, frame.unread_count);
    sidebar.syncTotal(frame.total_unread);
  } else if (frame.type === "conversation") {
    sidebar.upsert(frame.conversation);
    if (frame.conversation.id === openId) view?.onConversation(frame.conversation);
  } else if (frame.type === "conversation_removed") {
    sidebar.remove(frame.conversation_id);
    if (frame.conversation_id === openId) {
      view?.noteRemoved();
      leaveConversation();
    }
  } else if (frame.type === "presence") {
    presence.apply(frame);
  }
}

// The socket counts as "open" for data-live only once the resync after opening is done.
socketStates.set("notifications", "connecting");
const notifications = new LiveSocket("/ws/notifications/", {
  onFrame: onNotification,
  onOpen: async () => {
    await Promise.all([resync(), presence.load()]);
    trackState("notifications", notifications.state);
  },
  onState: (state) => {
    trackState("notifications", state === "open" ? "syncing" : state);
    if (state !== "open") presence.disconnected();
  },
  onRefused,
});

setTitleCount(sidebar.total());
setUpBrowserNotifications($("#enable-notifications"));
renderTimes();
setInterval(() => {
  renderTimes();
  view?.redrawTimeline(); // "Today" becomes "Yesterday" at midnight
  presence.paint(); // "last seen 5 min ago" ages too
}, 30000);
// Back from the back/forward cache with closed sockets: start afresh.
window.addEventListener("pageshow", (event) => event.persisted && location.reload());
