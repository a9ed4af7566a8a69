// Who is online: green dots on the avatars of people who are (`[data-presence="<user id>"]`), and
// "online" or "last seen 5 min ago" in texts (`[data-presence-text="<user id>"]`).
// Fetched from GET /api/users/presence when the notification socket opens, then kept current by its
// `presence` frames (docs/notifications.md). While that socket is down, or the list not fetched since it
// came back, nothing is known: no dots and no texts, rather than an "online" that may be long past.

import { api } from "./api.js";
import { lastSeen } from "./time.js";

const when = (iso) => (iso ? Date.parse(iso) : 0);

export class Presence {
  constructor() {
    this.users = new Map(); // user id -> { online, last_seen_at }
    this.live = false; // the socket is open and the list fetched since it opened
    this.epoch = 0; // counts the socket's drops, so a fetch that outlived one does not count
  }

  async load() {
    const epoch = this.epoch;
    try {
      const rows = await api("/api/users/presence");
      this.live = epoch === this.epoch;
      this.replaceAll(rows);
    } catch {
      // Nothing shown; the next reconnect fetches again.
    }
  }

  // The notification socket dropped: what it said may no longer hold.
  disconnected() {
    this.epoch += 1;
    this.live = false;
    this.paint();
  }

  // A fresh list; a frame that arrived while it was being fetched may be newer than its row.
  replaceAll(rows) {
    const previous = this.users;
    this.users = new Map();
    for (const { user, online, last_seen_at: seen } of rows) {
      const known = previous.get(user.id);
      const newer = known && when(known.last_seen_at) > when(seen);
      this.users.set(user.id, newer ? known : { online, last_seen_at: seen });
    }
    this.paint();
  }

  apply({ user, online, last_seen_at: seen }) {
    const known = this.users.get(user.id);
    if (known && when(known.last_seen_at) > when(seen)) return;
    this.users.set(user.id, { online, last_seen_at: seen });
    this.paint();
  }

  state(id) {
    return this.live ? this.users.get(id) : undefined;
  }

  paint(root = document) {
    for (const el of root.querySelectorAll("[data-presence]")) {
      el.classList.toggle("online", Boolean(this.state(Number(el.dataset.presence))?.online));
    }
    const now = new Date();
    for (const el of root.querySelectorAll("[data-presence-text]")) {
      const state = this.state(Number(el.dataset.presenceText));
      el.textContent = !state ? "" : state.online ? "online" : lastSeen(state.last_seen_at, now);
      el.classList.toggle("online", Boolean(state?.online));
    }
  }
}
