// What sits between the messages of the open conversation: day separators ("Today", "Yesterday",
// "Tuesday", "12 March 2026", in the browser's locale and time zone), the placeholders where messages
// of people the user blocked were, and system notes for group events ("Dave was added").
// Separators are redrawn from the list itself after every change, so the server's history, live
// messages and older pages get them alike. Placeholders and notes carry a `data-id` (the last message
// before or in them), so new messages are placed around them by id like any other row.

import { dayKey, dayLabel, fullTime } from "./time.js";

// The time a row of the list stands at: a message's <time>, a placeholder's or a note's data-at.
function rowDate(el) {
  const iso = el.classList.contains("msg") ? el.querySelector("[data-field=time]")?.dateTime : el.dataset.at;
  const date = iso ? new Date(iso) : null;
  return date && !Number.isNaN(date.getTime()) ? date : null;
}

export function renderDays(list, now = new Date()) {
  for (const old of list.querySelectorAll(":scope > .day-sep")) old.remove();
  let previous = null;
  for (const el of [...list.children]) {
    const date = rowDate(el);
    if (!date || dayKey(date) === previous) continue;
    previous = dayKey(date);
    const separator = document.createElement("li");
    separator.className = "day-sep";
    const time = document.createElement("time");
    time.dateTime = `${date.getFullYear()}-${String(date.getMonth() + 1).padStart(2, "0")}-${String(date.getDate()).padStart(2, "0")}`;
    time.textContent = dayLabel(date, now);
    separator.append(time);
    el.before(separator);
  }
}

// "Message hidden: you blocked Alice", "3 messages hidden: from someone you blocked".
const hiddenText = (count, name) =>
  `${count === 1 ? "Message" : `${count} messages`} hidden: ${name ? `you blocked ${name}` : "from someone you blocked"}`;

function placeholder({ fromSeq, toSeq, id, at, name, count }) {
  const el = document.createElement("li");
  el.className = "hidden-run";
  Object.assign(el.dataset, { fromSeq, seq: toSeq, id, at });
  if (name) el.dataset.name = name;
  el.dataset.count = count;
  el.textContent = hiddenText(count, name);
  if (at) el.title = fullTime(new Date(at));
  return el;
}

// Where the seqs of the messages shown skip some, messages the user may not see were: those of people
// they blocked (the history and the socket leave them out). Mark each such gap once. `name` is the
// blocked person when the page knows who it can be (a direct conversation), else left out.
// The page's own marks are redrawn each time (a gap it marked may since have been filled); the
// server's, which name the sender, stay.
export function markGaps(list, name) {
  for (const old of list.querySelectorAll(":scope > .hidden-run[data-gap]")) old.remove();
  let previous = null;
  for (const el of [...list.children]) {
    if (!el.dataset.seq || !el.dataset.id) continue;
    const from = Number(el.dataset.fromSeq || el.dataset.seq);
    if (previous && from > Number(previous.dataset.seq) + 1) {
      const fromSeq = Number(previous.dataset.seq) + 1;
      const count = from - fromSeq;
      const at = rowDate(el)?.toISOString() || "";
      const mark = placeholder({ fromSeq, toSeq: from - 1, id: previous.dataset.id, at, name, count });
      mark.dataset.gap = "";
      el.before(mark);
    }
    previous = el;
  }
}

// A system note in the timeline: "Dave was added", "The group was renamed to …".
export function addNote(list, text, { afterId = 0, at = new Date().toISOString() } = {}) {
  const el = document.createElement("li");
  el.className = "system-note";
  Object.assign(el.dataset, { id: afterId, at });
  el.textContent = text;
  let node = list.lastElementChild;
  while (node && (!node.dataset.id || Number(node.dataset.id) > afterId)) node = node.previousElementSibling;
  if (node) node.after(el);
  else list.prepend(el);
  return el;
}
