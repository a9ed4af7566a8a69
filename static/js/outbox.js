// The user's messages in one conversation that the server has not confirmed yet. They are kept in
// localStorage (a reload, or closing the tab while offline, loses none) and sent one at a time, in the
// order they were written, each always with its own client_id: however often one goes out, over the
// chat socket or POST /api/messages, the server saves it once (realtime.md, "A retried client_id").
//
// A message is pending ("Sending…") until the server confirms it: the socket's `ack` or the `message`
// frame with its client_id, or the REST answer. No connection is not a failure: the message waits,
// and goes as soon as the socket opens or the browser is back online. A socket that takes a message
// and answers nothing for ACK_TIMEOUT_MS is stalled: it is reconnected, and the message goes by REST
// meanwhile. A message fails ("Not sent", with Retry) only when the server refuses it (an `error`
// frame, a 4xx other than 429), or after MAX_ATTEMPTS sends that reached a server and got no answer
// or a 5xx. If one of those lands after all, its `message` frame still turns it sent.

import { api, newClientId } from "./api.js";
import { errorText } from "./message-actions.js";
import { readStored, storageKey, writeStored } from "./storage.js";

const ACK_TIMEOUT_MS = 10000;
const POST_TIMEOUT_MS = 20000;
const MAX_ATTEMPTS = 4;
const RETRY_BASE_MS = 1000;
const RETRY_MAX_MS = 15000;
// Asked for longer ago than this and still unsent at a reload: shown as not sent rather than sent late.
const STALE_MS = 24 * 3600 * 1000;
// `error` frame codes after which the same send can still succeed.
const TRANSIENT = new Set(["rate_limited", "internal"]);
const NO_ANSWER = "No answer from the server.";

const valid = (item) => item && typeof item.clientId === "string" && typeof item.content === "string";

export class Outbox {
  // `socket()` gives the conversation's LiveSocket; `onSaved(message)` gets a REST answer;
  // `onPending(clientId)` and `onFailed(clientId, reason, code)` redraw a message's status.
  constructor({ userId, conversationId, socket, onSaved, onPending, onFailed }) {
    Object.assign(this, { conversationId, socket, onSaved, onPending, onFailed });
    this.key = storageKey("outbox", userId, conversationId);
    this.items = this.stored(); // { clientId, content, createdAt, since?, failed?, reason? }, oldest first
    this.current = null; // the send under way: { clientId, via: "socket" | "rest" | "wait", timer }
    this.attempts = new Map(); // client_id -> sends that reached a server and got no answer
    this.tries = new Map(); // client_id -> sends of any kind, for the backoff
    const now = Date.now();
    for (const item of this.items) {
      if (item.failed || now - (item.since ?? item.createdAt) < STALE_MS) continue;
      Object.assign(item, { failed: true, reason: "Written more than a day ago and not sent." });
      this.persist(item);
    }
    window.addEventListener("online", () => this.wake());
  }

  // --- what the conversation tells it -----------------------------------------------------
  add(content) {
    const item = { clientId: newClientId(), content, createdAt: Date.now() };
    this.items.push(item);
    this.persist(item);
    return item;
  }

  has(clientId) {
    return this.items.some((item) => item.clientId === clientId);
  }

  // The server has it (an ack, a message frame, a REST answer, or the history already shows it);
  // `next: false` while the page is still being set up, before there is a socket to send the next by.
  settle(clientId, { next = true } = {}) {
    const index = this.items.findIndex((item) => item.clientId === clientId);
    if (index < 0) return;
    this.items.splice(index, 1);
    writeStored(this.key, this.stored().filter((item) => item.clientId !== clientId));
    this.attempts.delete(clientId);
    this.tries.delete(clientId);
    if (this.current?.clientId === clientId) this.stop();
    if (next) this.pump();
  }

  // An `error` frame naming one of these messages.
  refused(clientId, { code, detail, retry_after: retryAfter }) {
    const item = this.find(clientId);
    if (!item || item.failed) return;
    if (!TRANSIENT.has(code)) {
      this.fail(item, detail, code);
      return;
    }
    if (this.current?.clientId !== clientId || this.current.via !== "socket") return;
    this.stop();
    this.later(item, { delay: retryAfter ? retryAfter * 1000 : undefined, counted: code === "internal" });
  }

  retry(clientId) {
    const item = this.find(clientId);
    if (!item?.failed) return;
    item.failed = false;
    delete item.reason;
    item.since = Date.now();
    this.persist(item);
    this.attempts.delete(clientId);
    this.tries.delete(clientId);
    this.onPending(clientId);
    this.pump();
  }

  // The socket opened, or the browser came back online: whatever waits for a connection goes now.
  wake() {
    if (this.current?.via === "wait" && this.current.forConnection) this.stop();
    this.pump();
  }

  // The socket closed: a message it took but did not confirm goes again (by REST, or when it reopens).
  socketDown() {
    if (this.current?.via === "socket") this.stop();
    this.pump();
  }

  // --- sending, one at a time -------------------------------------------------------------
  pump() {
    if (this.current) return;
    const item = this.items.find((candidate) => !candidate.failed);
    if (!item) return;
    const { clientId, content } = item;
    this.tries.set(clientId, (this.tries.get(clientId) || 0) + 1);
    if (this.socket()?.send({ type: "message", content, client_id: clientId })) {
      const sending = (this.current = { clientId, via: "socket" });
      sending.timer = setTimeout(() => this.current === sending && this.stalled(item), ACK_TIMEOUT_MS);
      return;
    }
    if (navigator.onLine === false) return; // "online", or the socket opening, wakes it
    const posting = (this.current = { clientId, via: "rest" });
    api("/api/messages", {
      method: "POST",
      body: { conversation_id: this.conversationId, content, client_id: clientId },
      timeout: POST_TIMEOUT_MS,
    }).then(
      (message) => {
        if (this.current === posting) this.current = null;
        this.onSaved(message);
        this.settle(clientId);
      },
      (error) => {
        if (this.current !== posting) return;
        this.current = null;
        this.postFailed(item, error);
      },
    );
  }

  postFailed(item, error) {
    if (!error.status) {
      // No answer: offline, the server unreachable, or no answer in time (which may yet land).
      const timedOut = error.name === "TimeoutError";
      this.later(item, { counted: timedOut, forConnection: !timedOut });
    } else if (error.status === 429 || error.status >= 500) {
      const seconds = Number(error.body?.retry_after);
      this.later(item, { delay: seconds > 0 ? seconds * 1000 : undefined, counted: error.status >= 500 });
    } else {
      this.fail(item, errorText(error), error.body?.code);
    }
  }

  // The socket took it and said nothing: it is stalled, so it is replaced and the message goes by REST.
  stalled(item) {
    this.current = null;
    if (this.counted(item)) return;
    this.socket()?.restart();
    this.pump();
  }

  // Send again after a while; `forConnection`: sooner, as soon as a connection is back.
  later(item, { delay, counted = false, forConnection = false }) {
    if (counted && this.counted(item)) return;
    const tries = this.tries.get(item.clientId) || 1;
    const waiting = (this.current = { clientId: item.clientId, via: "wait", forConnection });
    waiting.timer = setTimeout(
      () => {
        if (this.current !== waiting) return;
        this.current = null;
        this.pump();
      },
      delay ?? Math.min(RETRY_MAX_MS, RETRY_BASE_MS * 2 ** (tries - 1)),
    );
  }

  // One more send without an answer; true when that was the last one allowed (the message failed).
  counted(item) {
    const attempts = (this.attempts.get(item.clientId) || 0) + 1;
    this.attempts.set(item.clientId, attempts);
    if (attempts < MAX_ATTEMPTS) return false;
    this.fail(item, NO_ANSWER);
    return true;
  }

  fail(item, reason, code) {
    if (this.current?.clientId === item.clientId) this.stop();
    Object.assign(item, { failed: true, reason: reason || "Not sent" });
    this.persist(item);
    this.onFailed(item.clientId, item.reason, code);
    this.pump();
  }

  stop() {
    clearTimeout(this.current?.timer);
    this.current = null;
  }

  find(clientId) {
    return this.items.find((item) => item.clientId === clientId);
  }

  // --- localStorage: read, change one item, write, so that two tabs never drop each other's ---
  stored() {
    const items = readStored(this.key, []);
    return Array.isArray(items) ? items.filter(valid) : [];
  }

  persist(item) {
    const others = this.stored().filter((stored) => stored.clientId !== item.clientId);
    writeStored(this.key, [...others, item].sort((a, b) => a.createdAt - b.createdAt));
  }
}
