// The quick switcher: Ctrl+K (Cmd+K on a Mac) anywhere in the app opens a dialog over the conversations
// of the sidebar; typing filters them by name, ↑/↓ choose, Enter opens the chosen one, Esc closes.
// It reads the sidebar's rows as they stand, so it knows what the list knows (live renames included).

const MAX_SHOWN = 20;

export class QuickSwitcher {
  constructor({ dialog, list }) {
    Object.assign(this, { dialog, list });
    this.input = dialog.querySelector("input");
    this.options = dialog.querySelector("[role=listbox]");
    this.empty = dialog.querySelector("[data-field=empty]");
    this.matches = [];
    this.active = 0;
    document.addEventListener("keydown", (event) => {
      if ((event.ctrlKey || event.metaKey) && !event.altKey && event.key.toLowerCase() === "k") {
        event.preventDefault();
        if (this.dialog.open) this.dialog.close();
        else this.open();
      }
    });
    this.input.addEventListener("input", () => this.filter());
    this.input.addEventListener("keydown", (event) => this.onKey(event));
    this.options.addEventListener("click", (event) => {
      const option = event.target.closest("[role=option]");
      if (option) this.go(Number(option.dataset.index));
    });
    this.dialog.addEventListener("click", (event) => event.target === this.dialog && this.dialog.close());
  }

  open() {
    this.input.value = "";
    this.dialog.showModal();
    this.filter();
    this.input.focus();
  }

  conversations() {
    return [...this.list.querySelectorAll("li.conv")].map((el) => ({
      name: el.querySelector("[data-field=name]").textContent.trim(),
      href: el.querySelector("a").href,
      unread: Number(el.dataset.unread) || 0,
    }));
  }

  filter() {
    const query = this.input.value.trim().toLocaleLowerCase();
    const all = this.conversations();
    const starts = all.filter((c) => c.name.toLocaleLowerCase().startsWith(query));
    const contains = all.filter((c) => !starts.includes(c) && c.name.toLocaleLowerCase().includes(query));
    this.matches = [...starts, ...contains].slice(0, MAX_SHOWN);
    this.active = 0;
    this.options.replaceChildren(
      ...this.matches.map((c, index) => {
        const option = document.createElement("li");
        option.id = `switcher-option-${index}`;
        option.setAttribute("role", "option");
        option.dataset.index = index;
        option.textContent = c.name;
        if (c.unread) {
          const badge = document.createElement("span");
          badge.className = "badge";
          badge.textContent = c.unread > 99 ? "99+" : String(c.unread);
          const label = document.createElement("span");
          label.className = "visually-hidden";
          label.textContent = `, ${c.unread} unread`;
          badge.setAttribute("aria-hidden", "true");
          option.append(badge, label);
        }
        return option;
      }),
    );
    this.empty.hidden = this.matches.length > 0;
    this.paint();
  }

  paint() {
    for (const option of this.options.children) {
      option.setAttribute("aria-selected", String(Number(option.dataset.index) === this.active));
    }
    if (this.matches.length) {
      this.input.setAttribute("aria-activedescendant", `switcher-option-${this.active}`);
      this.options.children[this.active].scrollIntoView({ block: "nearest" });
    } else {
      this.input.removeAttribute("aria-activedescendant");
    }
  }

  onKey(event) {
    const count = this.matches.length;
    if (event.key === "ArrowDown" && count) this.active = (this.active + 1) % count;
    else if (event.key === "ArrowUp" && count) this.active = (this.active - 1 + count) % count;
    else if (event.key === "Enter") {
      event.preventDefault();
      if (count) this.go(this.active);
      return;
    } else return;
    event.preventDefault();
    this.paint();
  }

  go(index) {
    const target = this.matches[index];
    if (!target) return;
    this.dialog.close();
    location.assign(target.href);
  }
}
