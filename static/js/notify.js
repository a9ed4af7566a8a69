// In-app toasts, browser notifications for a hidden tab, and the "(3) Brewverse" tab title.

const TOAST_MS = 5000;
const MAX_TOASTS = 3;
const BASE_TITLE = "Brewverse";

export function setTitleCount(count) {
  document.title = count > 0 ? `(${count > 99 ? "99+" : count}) ${BASE_TITLE}` : BASE_TITLE;
}

export class Toasts {
  constructor(root) {
    this.root = root;
    // Server-rendered flash messages leave like toasts do.
    for (const el of root.children) this.expire(el);
  }

  show({ title, body, href }) {
    const toast = document.createElement(href ? "a" : "div");
    toast.className = "toast";
    if (href) toast.href = href;
    const strong = document.createElement("strong");
    strong.textContent = title;
    const text = document.createElement("span");
    text.textContent = body;
    toast.append(strong, text);
    this.root.append(toast);
    while (this.root.children.length > MAX_TOASTS) this.root.firstElementChild.remove();
    this.expire(toast);
    return toast;
  }

  expire(el) {
    setTimeout(() => {
      el.classList.add("leaving");
      setTimeout(() => el.remove(), 300);
    }, TOAST_MS);
  }
}

// Desktop notifications are asked for on a click (browsers ignore or punish asking on load).
export function setUpBrowserNotifications(button) {
  if (!("Notification" in window) || Notification.permission !== "default") return;
  button.hidden = false;
  button.addEventListener("click", async () => {
    await Notification.requestPermission();
    button.hidden = Notification.permission !== "default";
  });
}

export function notifyBrowser({ title, body, tag, href }) {
  if (!("Notification" in window) || Notification.permission !== "granted" || !document.hidden) return;
  const notification = new Notification(title, { body, tag });
  notification.addEventListener("click", () => {
    window.focus();
    location.href = href;
    notification.close();
  });
}
