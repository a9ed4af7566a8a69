// "bob is typing…": who else is typing in the open conversation, and announcing our own typing.

const REFRESH_MS = 3000; // re-announce this often while keys are pressed
const IDLE_MS = 4000; // announce a stop after this long without a key
const EXPIRY_MS = 6000; // forget someone's typing when they stop re-announcing it

export class TypingLine {
  constructor(el) {
    this.el = el;
    this.typers = new Map(); // user id -> { name, timer }
  }

  set(user, isTyping) {
    clearTimeout(this.typers.get(user.id)?.timer);
    if (isTyping) {
      const timer = setTimeout(() => this.clear(user.id), EXPIRY_MS);
      this.typers.set(user.id, { name: user.display_name, timer });
    } else {
      this.typers.delete(user.id);
    }
    this.render();
  }

  clear(userId) {
    clearTimeout(this.typers.get(userId)?.timer);
    if (this.typers.delete(userId)) this.render();
  }

  clearAll() {
    for (const id of [...this.typers.keys()]) this.clear(id);
  }

  render() {
    const names = [...this.typers.values()].map((t) => t.name);
    let text = "";
    if (names.length === 1) text = `${names[0]} is typing…`;
    else if (names.length === 2) text = `${names[0]} and ${names[1]} are typing…`;
    else if (names.length > 2) text = "Several people are typing…";
    this.el.textContent = text;
    this.el.classList.toggle("active", Boolean(text));
  }
}

export class TypingAnnouncer {
  constructor(send) {
    this.send = send; // (frame) -> true when it went out
    this.sentAt = 0;
  }

  keyPressed(hasText) {
    if (!hasText) {
      this.stop();
      return;
    }
    if (Date.now() - this.sentAt > REFRESH_MS && this.send({ type: "typing", is_typing: true })) {
      this.sentAt = Date.now();
    }
    clearTimeout(this.idle);
    this.idle = setTimeout(() => this.stop(), IDLE_MS);
  }

  stop() {
    clearTimeout(this.idle);
    if (!this.sentAt) return;
    this.sentAt = 0;
    this.send({ type: "typing", is_typing: false });
  }
}
