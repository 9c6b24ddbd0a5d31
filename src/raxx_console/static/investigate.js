// Investigate (entry A) on the status grid: files from the tile and keeps the outcome on it.
// The tile's button submits the grid's shared form to its own URL (formaction): without script that
// posts and the page comes back with the outcome; with it, the click is a fetch (CSRF header) and
// the answer, then each status.json refresh, is written into the tile.
(function () {
  const grid = document.querySelector("[data-status-grid]");
  if (!grid) return;
  const csrf = document.querySelector('meta[name="csrf-token"]');

  function muted(text, extra) {
    const span = document.createElement("span");
    span.className = "muted" + (extra ? " " + extra : "");
    span.textContent = text;
    return span;
  }

  // outcome: {state, ticket_id, ticket_url, ref, message} (status.json) or the click's answer.
  function show(box, outcome) {
    if (!box) return;
    const queued = outcome.state === "queued" || outcome.queued;
    box.hidden = false;
    box.className = "outcome " + (outcome.ticket_url ? "good" : queued ? "queued" : "bad");
    box.replaceChildren();
    if (outcome.ticket_url) {
      const link = document.createElement("a");
      link.href = outcome.ticket_url;
      link.target = "_blank";
      link.rel = "noopener";
      link.textContent = "#" + outcome.ticket_id;
      box.append("Ticket ", link, " ", muted(outcome.ref || ""));
      if ((outcome.degraded || outcome.idempotent) && outcome.message) {
        box.append(muted(outcome.message, outcome.degraded ? "why" : "reused"));
      }
    } else if (queued) {
      box.append(outcome.message || "Queued — will file when FreeScout answers.", " ", muted(outcome.ref || ""));
    } else {
      box.append(outcome.message || "Filing failed.");
    }
  }

  document.addEventListener("submit", async (event) => {
    const button = event.submitter;
    if (!button || !button.matches("[data-investigate]")) return;
    event.preventDefault();
    const tile = button.closest("[data-surface]");
    const box = tile.querySelector('[data-field="investigation"]');
    button.disabled = true;
    button.textContent = "Filing…";
    try {
      const response = await fetch(button.formAction, {
        method: "POST",
        credentials: "same-origin",
        headers: { "X-CSRFToken": csrf ? csrf.content : "", Accept: "application/json" },
      });
      const body = await response.json().catch(() => ({}));
      show(box, response.ok ? body : { message: body.message || "The console answered HTTP " + response.status + "." });
    } catch (e) {
      show(box, { message: "The console did not answer: check your connection and try again." });
    } finally {
      button.disabled = false;
      button.textContent = "Investigate";
    }
  });

  // status.js announces each refreshed tile; a queued request turns into its link here.
  document.addEventListener("raxx:tile", (event) => {
    const { tile, surface } = event.detail;
    if (surface.investigation) show(tile.querySelector('[data-field="investigation"]'), surface.investigation);
  });
})();
