// The "⋯" button next to a message: edit or delete your own message, report someone else's.
// Edits and deletions go through the REST API; every open window then gets the `message_updated` or
// `message_deleted` frame. This window redraws from the API's answer already, so it does not wait.

import { api } from "./api.js";

const $ = (selector) => document.querySelector(selector);
const field = (el, name) => el.querySelector(`[data-field=${name}]`);

// The first message of a refusal: a field's (`{"content": ["…"]}`), else the detail.
export function errorText(error) {
  const body = error.body || {};
  for (const value of Object.values(body)) if (Array.isArray(value) && value.length) return String(value[0]);
  return body.detail || "Something went wrong. Try again.";
}

// Put a message being edited back as it was (its content may have changed meanwhile).
export function closeEditor(el) {
  el.querySelector(".edit-form")?.remove();
  field(el, "content").hidden = false;
  el.classList.remove("editing");
}

export class MessageActions {
  constructor({ list, scroller, conversationId, onChanged, onDeleted, onNotice }) {
    Object.assign(this, { list, conversationId, onChanged, onDeleted, onNotice });
    this.menu = $("#message-menu");
    this.target = null;
    list.addEventListener("click", (event) => {
      const button = event.target.closest("[data-field=actions]");
      if (button) this.toggle(button.closest(".msg"), button);
    });
    this.menu.addEventListener("click", (event) => this.choose(event.target.closest("[data-action]")));
    this.menu.addEventListener("keydown", (event) => this.onMenuKey(event));
    this.menu.tabIndex = -1; // focused itself when none of its items can be (a disabled "Reported")
    // Esc closes the menu wherever the focus is: its only item may be disabled, and so unfocusable.
    document.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && this.target && !this.menu.contains(document.activeElement)) {
        event.preventDefault();
        this.close(true);
      }
    });
    document.addEventListener("pointerdown", (event) => {
      if (this.target && !this.menu.contains(event.target) && !event.target.closest("[data-field=actions]")) {
        this.close();
      }
    });
    scroller.addEventListener("scroll", () => this.close(), { passive: true });
    window.addEventListener("resize", () => this.close());
    this.bindDelete();
    this.bindReport();
  }

  url(el, suffix = "") {
    return `/api/messages/${this.conversationId}/${el.dataset.id}${suffix}`;
  }

  // --- the menu ------------------------------------------------------------------------------
  toggle(el, button) {
    const same = this.target === el;
    this.close();
    if (!same) this.open(el, button);
  }

  open(el, button) {
    this.target = el;
    this.button = button;
    const mine = el.classList.contains("mine");
    for (const item of this.menu.querySelectorAll("[data-action]")) {
      item.hidden = (item.dataset.action === "report") === mine;
    }
    const report = this.menu.querySelector("[data-action=report]");
    report.disabled = Boolean(el.dataset.reported);
    report.textContent = el.dataset.reported ? "Reported" : "Report";
    this.menu.hidden = false;
    button.setAttribute("aria-expanded", "true");
    // Next to the button, inside the window: below it, or above it when there is no room.
    const at = button.getBoundingClientRect();
    const size = this.menu.getBoundingClientRect();
    let top = at.bottom + 4;
    if (top + size.height > window.innerHeight - 8) top = Math.max(8, at.top - size.height - 4);
    const left = mine ? at.right - size.width : at.left;
    this.menu.style.top = `${top}px`;
    this.menu.style.left = `${Math.min(Math.max(8, left), window.innerWidth - size.width - 8)}px`;
    (this.items()[0] || this.menu).focus();
  }

  close(refocus = false) {
    if (!this.target) return;
    this.menu.hidden = true;
    this.button?.setAttribute("aria-expanded", "false");
    if (refocus) this.button?.focus();
    this.target = null;
  }

  items() {
    return [...this.menu.querySelectorAll("[data-action]:not([hidden]):not(:disabled)")];
  }

  onMenuKey(event) {
    const items = this.items();
    const index = items.indexOf(document.activeElement);
    if (event.key === "Escape") this.close(true);
    else if (event.key === "ArrowDown") items[(index + 1) % items.length]?.focus();
    else if (event.key === "ArrowUp") items[(index - 1 + items.length) % items.length]?.focus();
    else if (event.key === "Tab") this.close();
    else return;
    if (event.key !== "Tab") event.preventDefault();
  }

  choose(item) {
    const el = this.target;
    this.close();
    if (!item || !el?.dataset.id) return;
    if (item.dataset.action === "edit") this.edit(el);
    else if (item.dataset.action === "delete") this.confirmDelete(el);
    else if (item.dataset.action === "report") this.openReport(el);
  }

  // --- editing, in place -----------------------------------------------------------------------
  edit(el) {
    if (el.classList.contains("editing")) return;
    const content = field(el, "content");
    const original = content.textContent;
    const form = document.createElement("form");
    form.className = "edit-form";
    const box = document.createElement("textarea");
    box.value = original;
    box.rows = 1;
    box.setAttribute("aria-label", "Edit message");
    const row = document.createElement("div");
    row.className = "edit-actions";
    const hint = document.createElement("small");
    hint.textContent = "Esc to cancel, Enter to save";
    const cancel = document.createElement("button");
    cancel.type = "button";
    cancel.className = "button ghost small";
    cancel.textContent = "Cancel";
    const save = document.createElement("button");
    save.type = "submit";
    save.className = "button small save";
    save.textContent = "Save";
    row.append(hint, cancel, save);
    form.append(box, row);
    content.hidden = true;
    content.after(form);
    el.classList.add("editing");
    const fit = () => {
      box.style.height = "auto";
      box.style.height = `${Math.min(box.scrollHeight, 240)}px`;
    };
    // Save and Cancel sit below the box: keep them in sight (the last message's are below the fold).
    const reveal = () => row.scrollIntoView({ block: "nearest" });
    fit();
    box.focus({ preventScroll: true });
    box.setSelectionRange(box.value.length, box.value.length);
    reveal();

    box.addEventListener("input", () => {
      fit();
      reveal();
    });
    cancel.addEventListener("click", () => closeEditor(el));
    box.addEventListener("keydown", (event) => {
      if (event.key === "Escape") {
        event.preventDefault();
        closeEditor(el);
      } else if (event.key === "Enter" && !event.shiftKey && !event.altKey && !event.isComposing) {
        event.preventDefault();
        form.requestSubmit();
      }
    });
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const text = box.value.trim();
      if (text === original.trim()) {
        closeEditor(el);
        return;
      }
      save.disabled = true;
      try {
        const message = await api(this.url(el), { method: "PATCH", body: { content: text } });
        closeEditor(el);
        this.onChanged(message);
      } catch (error) {
        save.disabled = false;
        this.onNotice(errorText(error));
      }
    });
  }

  // --- deleting, after a confirmation ------------------------------------------------------------
  bindDelete() {
    this.deleteDialog = $("#delete-dialog");
    this.deleteDialog.addEventListener("close", async () => {
      const el = this.deleting;
      this.deleting = null;
      if (!el || this.deleteDialog.returnValue !== "delete") return;
      try {
        await api(this.url(el), { method: "DELETE" });
        this.onDeleted(el);
      } catch (error) {
        this.onNotice(errorText(error));
      }
    });
  }

  confirmDelete(el) {
    this.deleting = el;
    this.deleteDialog.returnValue = "";
    this.deleteDialog.showModal();
  }

  // --- reporting, with a reason ------------------------------------------------------------------
  bindReport() {
    this.reportDialog = $("#report-dialog");
    this.reason = $("#report-reason");
    this.reportError = $("#report-error");
    const submit = $("#report-submit");
    $("#report-form").addEventListener("submit", async (event) => {
      if (event.submitter?.value !== "report") return; // Cancel closes the dialog
      event.preventDefault();
      const el = this.reporting;
      const reason = this.reason.value.trim();
      if (!reason) {
        this.showReportError("Say why you report this message.");
        return;
      }
      submit.disabled = true;
      try {
        await api(this.url(el, "/report"), { method: "POST", body: { reason } });
        el.dataset.reported = "1";
        this.reportDialog.close();
        this.onNotice("Thanks for reporting. A moderator will review this message.");
      } catch (error) {
        if (error.body?.code === "already_reported") {
          el.dataset.reported = "1";
          this.reportDialog.close();
          this.onNotice("You already reported this message. A moderator will review it.");
        } else {
          this.showReportError(errorText(error));
        }
      } finally {
        submit.disabled = false;
      }
    });
  }

  openReport(el) {
    this.reporting = el;
    this.reason.value = "";
    this.reportError.hidden = true;
    this.reportDialog.showModal();
    this.reason.focus();
  }

  showReportError(text) {
    this.reportError.textContent = text;
    this.reportError.hidden = false;
    this.reason.focus();
  }
}
