// A same-origin WebSocket (session cookie auth) that reconnects with jittered exponential backoff.
// Its state is "connecting", "open", "reconnecting" or "closed" (given up: removed, banned, or stopped).

const BASE_DELAY_MS = 500;
const MAX_DELAY_MS = 15000;
// Close codes after which reconnecting is pointless (chat/consumers.py): the user no longer belongs
// to the conversation, or their session was revoked (banned).
export const CLOSE_REMOVED = 4403;
export const CLOSE_REVOKED = 4401;
const FINAL_CODES = new Set([CLOSE_REMOVED, CLOSE_REVOKED]);

export class LiveSocket {
  constructor(path, { onFrame, onState = () => {}, onOpen = () => {}, onRefused = () => {}, query = () => ({}) }) {
    Object.assign(this, { path, onFrame, onState, onOpen, onRefused, query });
    this.attempts = 0;
    this.state = "connecting";
    this.stopped = false;
    this.ws = null;
    window.addEventListener("online", () => this.retryNow());
    document.addEventListener("visibilitychange", () => document.hidden || this.retryNow());
    // Leaving the page closes the socket on purpose: no "reconnecting" flash while navigating.
    window.addEventListener("pagehide", () => this.close());
    this.connect();
  }

  url() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const params = new URLSearchParams(this.query()).toString();
    return `${scheme}//${location.host}${this.path}${params ? `?${params}` : ""}`;
  }

  connect() {
    clearTimeout(this.timer);
    if (this.stopped) return;
    const ws = new WebSocket(this.url());
    let opened = false;
    this.ws = ws;
    ws.addEventListener("open", () => {
      opened = true;
      this.attempts = 0;
      this.setState("open");
      this.onOpen();
    });
    ws.addEventListener("message", (event) => {
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch {
        return;
      }
      this.onFrame(frame);
    });
    ws.addEventListener("close", (event) => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (this.stopped) return;
      if (FINAL_CODES.has(event.code)) {
        this.stopped = true;
        this.setState("closed");
        this.onRefused(event.code);
        return;
      }
      this.setState("reconnecting");
      // A handshake refused again and again may mean the session ended: let the page check.
      if (!opened && this.attempts >= 2) this.onRefused(event.code);
      this.schedule();
    });
  }

  schedule() {
    const delay = Math.min(MAX_DELAY_MS, BASE_DELAY_MS * 2 ** this.attempts) * (0.5 + Math.random() / 2);
    this.attempts += 1;
    this.timer = setTimeout(() => this.connect(), delay);
  }

  // The socket looks open but answers nothing (a stalled connection): drop it and connect afresh.
  // The old one's close event is ignored; frames it still delivers are handled as usual.
  restart() {
    if (this.stopped || !this.ws) return;
    const stale = this.ws;
    this.ws = null;
    stale.close();
    this.setState("reconnecting");
    this.connect();
  }

  retryNow() {
    if (this.state === "reconnecting" && !this.ws) this.connect();
  }

  setState(state) {
    this.state = state;
    this.onState(state);
  }

  get isOpen() {
    return this.ws?.readyState === WebSocket.OPEN;
  }

  send(frame) {
    if (!this.isOpen) return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }

  close() {
    this.stopped = true;
    clearTimeout(this.timer);
    this.ws?.close();
  }
}
