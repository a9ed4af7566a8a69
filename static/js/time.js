// Times as people read them: "now", "5m", "3h", "Mon", "12 Nov" in lists; "14:05" on messages, with
// the full date and time on hover and for screen readers; "Today", "Yesterday", "Tuesday", "12 March
// 2026" between days of a conversation; "last seen 5 min ago" for presence. All in the browser's
// locale and time zone.

const weekday = new Intl.DateTimeFormat(undefined, { weekday: "short" });
const dayMonth = new Intl.DateTimeFormat(undefined, { day: "numeric", month: "short" });
const fullDate = new Intl.DateTimeFormat(undefined, { day: "numeric", month: "short", year: "numeric" });
const clock = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
const full = new Intl.DateTimeFormat(undefined, { dateStyle: "full", timeStyle: "short" });
const weekdayLong = new Intl.DateTimeFormat(undefined, { weekday: "long" });
const longDate = new Intl.DateTimeFormat(undefined, { day: "numeric", month: "long", year: "numeric" });
const relativeDay = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });

const startOfDay = (date) => new Date(date.getFullYear(), date.getMonth(), date.getDate());

// The local calendar day of a date, as a key ("2026-3-12") and as the label of a day separator.
export const dayKey = (date) => `${date.getFullYear()}-${date.getMonth() + 1}-${date.getDate()}`;

export function dayLabel(date, now = new Date()) {
  const days = Math.round((startOfDay(now) - startOfDay(date)) / 86400000);
  if (days === 0 || days === 1) {
    const text = relativeDay.format(-days, "day"); // "today", "yesterday" in the browser's language
    return text.charAt(0).toLocaleUpperCase() + text.slice(1);
  }
  if (days > 1 && days < 7) return weekdayLong.format(date);
  return longDate.format(date);
}

export const fullTime = (date) => full.format(date);

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
    el.setAttribute("aria-label", full.format(date));
  }
}
