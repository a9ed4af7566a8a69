// Who is online: green dots on the avatars of people who are (`[data-presence="<user id>"]`), and
// "online" or "last seen 5 min ago" in texts (`[data-presence-text="<user id>"]`).
// Fetched from GET /api/users/presence when the notification socket opens, then kept current by its
// `presence` frames (docs/notifications.md).

import { api } from "./api.js";
import { lastSeen } from "./time.js";

const when = (iso) => (iso ? Date.parse(iso) : 0);

export class Presence {
  constructor() {
    this.users = new Map(); // user id -> { online, last_seen_at }
  }

  async load() {
    try {
      this.replaceAll(await api("/api/users/presence"));
    } catch {
      // The dots stay as they were; the next reconnect fetches again.
    }
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

  paint(root = document) {
    for (const el of root.querySelectorAll("[data-presence]")) {
      el.classList.toggle("online", Boolean(this.users.get(Number(el.dataset.presence))?.online));
    }
    const now = new Date();
    for (const el of root.querySelectorAll("[data-presence-text]")) {
      const state = this.users.get(Number(el.dataset.presenceText));
      el.textContent = !state ? "" : state.online ? "online" : lastSeen(state.last_seen_at, now);
      el.classList.toggle("online", Boolean(state?.online));
    }
  }
}
