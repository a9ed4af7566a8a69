// Times as people read them: "now", "5m", "3h", "Mon", "12 Nov" in lists; "14:05" on messages;
// "last seen 5 min ago" for presence.

const weekday = new Intl.DateTimeFormat(undefined, { weekday: "short" });
const dayMonth = new Intl.DateTimeFormat(undefined, { day: "numeric", month: "short" });
const fullDate = new Intl.DateTimeFormat(undefined, { day: "numeric", month: "short", year: "numeric" });
const clock = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
const full = new Intl.DateTimeFormat(undefined, { dateStyle: "full", timeStyle: "short" });

export function relativeTime(iso, now = new Date()) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return "";
  const seconds = (now - date) / 1000;
  if (seconds < 60) return "now";
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)}h`;
  if (seconds < 6 * 86400) return weekday.format(date);
  return date.getFullYear() === now.getFullYear() ? dayMonth.format(date) : fullDate.format(date);
}

export function lastSeen(iso, now = new Date()) {
  const date = new Date(iso);
  if (!iso || Number.isNaN(date.getTime())) return "";
  const minutes = Math.floor((now - date) / 60000);
  if (minutes < 1) return "last seen just now";
  if (minutes < 60) return `last seen ${minutes} min ago`;
  if (minutes < 24 * 60) return `last seen ${Math.floor(minutes / 60)} h ago`;
  if (minutes < 48 * 60) return `last seen yesterday at ${clock.format(date)}`;
  return `last seen ${date.getFullYear() === now.getFullYear() ? dayMonth.format(date) : fullDate.format(date)}`;
}

// Fill or refresh every <time> under `root`: data-relative ones as relative times, data-clock ones as clocks.
export function renderTimes(root = document) {
  const now = new Date();
  for (const el of root.querySelectorAll("time[data-relative]")) {
    el.textContent = relativeTime(el.dateTime, now);
  }
  for (const el of root.querySelectorAll("time[data-clock]:not([title])")) {
    const date = new Date(el.dateTime);
    if (Number.isNaN(date.getTime())) continue;
    el.textContent = clock.format(date);
    el.title = full.format(date);
  }
}
