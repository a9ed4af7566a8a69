// The manual theme beside the system's: "system" (the default: follow prefers-color-scheme), "light" or
// "dark", kept in localStorage under "theme" and applied to <html data-theme> (theme-init.js does it
// before the first paint; this module when it changes). Every tab follows a change made in another.

export const THEMES = ["system", "light", "dark"];
const LABELS = { system: "System", light: "Light", dark: "Dark" };

export function currentTheme() {
  const theme = document.documentElement.dataset.theme;
  return theme === "light" || theme === "dark" ? theme : "system";
}

function apply(theme) {
  if (theme === "light" || theme === "dark") document.documentElement.dataset.theme = theme;
  else delete document.documentElement.dataset.theme;
  for (const control of controls) control.show(currentTheme());
}

export function setTheme(theme) {
  try {
    if (theme === "light" || theme === "dark") localStorage.setItem("theme", theme);
    else localStorage.removeItem("theme");
  } catch {
    // Not stored: it holds for this page only.
  }
  apply(theme);
}

const controls = [];

// The sidebar's button: one click moves system → light → dark → system; its name says where it stands.
function bindButton(button) {
  const show = (theme) => {
    const next = THEMES[(THEMES.indexOf(theme) + 1) % THEMES.length];
    button.dataset.theme = theme;
    button.setAttribute("aria-label", `Theme: ${LABELS[theme]}. Switch to ${LABELS[next]}`);
    button.title = `Theme: ${LABELS[theme]}`;
  };
  button.addEventListener("click", () => {
    setTheme(THEMES[(THEMES.indexOf(currentTheme()) + 1) % THEMES.length]);
  });
  controls.push({ show });
  show(currentTheme());
}

// The settings page's three radio buttons (name="theme").
function bindRadios(radios) {
  const show = (theme) => {
    for (const radio of radios) radio.checked = radio.value === theme;
  };
  for (const radio of radios) radio.addEventListener("change", () => radio.checked && setTheme(radio.value));
  controls.push({ show });
  show(currentTheme());
}

export function bindThemeControls(root = document) {
  const button = root.querySelector("#theme-toggle");
  if (button) bindButton(button);
  const radios = [...root.querySelectorAll("input[name=theme]")];
  if (radios.length) bindRadios(radios);
}

addEventListener("storage", (event) => {
  if (event.key === "theme" || event.key === null) apply(event.newValue || "system");
});

bindThemeControls();
