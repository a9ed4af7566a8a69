// What the page keeps in localStorage across reloads (drafts, unsent messages), keyed per user and
// conversation so that someone else logging in on the same browser never sees or sends it.
// Storage may be full or disabled (private modes): then nothing is kept, and nothing breaks.

export const storageKey = (kind, userId, conversationId) => `brewverse.${kind}.${userId}.${conversationId}`;

export function readStored(key, fallback) {
  try {
    const text = localStorage.getItem(key);
    return text === null ? fallback : JSON.parse(text);
  } catch {
    return fallback;
  }
}

// `null`, "" or [] removes the key rather than leaving an empty one behind.
export function writeStored(key, value) {
  try {
    if (value === null || value === "" || (Array.isArray(value) && !value.length)) localStorage.removeItem(key);
    else localStorage.setItem(key, JSON.stringify(value));
  } catch {
    // Full or disabled: this page still works, it just keeps nothing.
  }
}
