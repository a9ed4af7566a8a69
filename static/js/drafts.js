// The text in a conversation's send box, kept across reloads until it is sent (or erased).

import { readStored, storageKey, writeStored } from "./storage.js";

export class Draft {
  constructor(userId, conversationId) {
    this.key = storageKey("draft", userId, conversationId);
  }

  get text() {
    const text = readStored(this.key, "");
    return typeof text === "string" ? text : "";
  }

  // Whitespace alone is no draft.
  save(text) {
    writeStored(this.key, text.trim() ? text : "");
  }

  clear() {
    writeStored(this.key, "");
  }
}
