// Loaded as a classic, blocking script in every page's <head>, before the stylesheet: the theme the user
// picked (static/js/theme.js) is on <html> before the first paint, so a dark page never flashes light.
(() => {
  try {
    const theme = localStorage.getItem("theme");
    if (theme === "light" || theme === "dark") document.documentElement.dataset.theme = theme;
  } catch {
    // Storage refused (privacy settings): follow the system.
  }
})();
