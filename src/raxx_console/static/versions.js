// Console versions: the "Promote staging → prod" button opens its confirmation <dialog>; the form
// inside posts as usual (no inline script, so the page keeps working under a strict CSP).
(function () {
  document.addEventListener("click", (event) => {
    const opener = event.target.closest("[data-open-promote]");
    if (opener) {
      const dialog = document.getElementById(opener.dataset.openPromote);
      if (dialog && !dialog.open) dialog.showModal();
      return;
    }
    const closer = event.target.closest("[data-close-promote]");
    if (closer) closer.closest("dialog").close();
  });
})();
