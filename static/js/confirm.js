// Asking before a form does something hard to undo: a submit button with `data-confirm` ("Leave
// Hops?") opens the confirmation dialog (#confirm-dialog, templates/chat/_confirm.html), with
// `data-confirm-detail` below it and `data-confirm-label` on the button that goes ahead; only that
// button submits the form, as the button that was pressed (its name and value included).

const dialog = document.getElementById("confirm-dialog");

if (dialog) {
  let pending = null; // { form, submitter }
  document.addEventListener("submit", (event) => {
    const submitter = event.submitter;
    if (!submitter?.dataset.confirm || submitter.dataset.confirmed) return;
    event.preventDefault();
    pending = { form: event.target, submitter };
    dialog.querySelector("#confirm-title").textContent = submitter.dataset.confirm;
    const detail = dialog.querySelector("#confirm-detail");
    detail.textContent = submitter.dataset.confirmDetail || "";
    detail.hidden = !submitter.dataset.confirmDetail;
    dialog.querySelector("#confirm-ok").textContent = submitter.dataset.confirmLabel || submitter.textContent.trim();
    dialog.returnValue = "";
    submitter.closest("details")?.removeAttribute("open"); // a menu's item: the menu closes behind it
    dialog.showModal();
  });
  dialog.addEventListener("close", () => {
    const chosen = pending;
    pending = null;
    if (!chosen || dialog.returnValue !== "confirm") return;
    chosen.submitter.dataset.confirmed = "1";
    chosen.form.requestSubmit(chosen.submitter);
  });
}
