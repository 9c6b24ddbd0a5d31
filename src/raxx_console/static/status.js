// Keeps the status grid current without a full reload: fetches status.json and patches each tile.
// Also opens the grid's shared "Test degradation" dialog for the tile whose button was clicked.
(function () {
  const grid = document.querySelector("[data-status-grid]");
  if (!grid) return;
  const every = Math.max(2000, parseInt(grid.dataset.refreshMs || "15000", 10));

  function openSimulate(tile) {
    const dialog = document.getElementById("simulate-dialog");
    if (!dialog || !tile || dialog.open) return;
    const id = tile.dataset.surface;
    const form = dialog.querySelector("form");
    form.action = form.dataset.action.replace("__surface__", encodeURIComponent(id));
    dialog.setAttribute("aria-label", "Test degradation of " + id);
    dialog.querySelector('[data-field="surface_name"]').textContent = tile.dataset.name;
    const confirm = form.elements.confirm; // present on production only
    if (confirm) {
      confirm.pattern = id.replace(/[\\^$.*+?()[\]{}|\/]/g, "\\$&");
      confirm.value = "";
      dialog.querySelector('[data-field="surface_id"]').textContent = id;
    }
    dialog.showModal();
  }

  document.addEventListener("click", (event) => {
    const opener = event.target.closest("[data-open-simulate]");
    if (opener) {
      openSimulate(opener.closest("[data-surface]"));
      return;
    }
    const closer = event.target.closest("[data-close-dialog]");
    if (closer) closer.closest("dialog").close();
  });

  function time(iso) {
    return iso ? new Date(iso).toISOString().substring(11, 19) + " UTC" : "never";
  }

  function ago(seconds) {
    for (const [unit, size] of [["day", 86400], ["hour", 3600], ["minute", 60], ["second", 1]]) {
      if (seconds >= size) {
        const count = Math.floor(seconds / size);
        return count + " " + unit + (count === 1 ? "" : "s") + " ago";
      }
    }
    return "just now";
  }

  // Every open ticket of the surface (present only with FLAG_CONSOLE_INVESTIGATE_LINKED_TICKET on).
  function patchOpenTickets(list, tickets) {
    if (!list) return;
    list.hidden = tickets.length === 0;
    list.replaceChildren(...tickets.map((t) => {
      const li = document.createElement("li");
      li.dataset.ticketId = t.ticket_id;
      const link = document.createElement("a");
      link.href = t.ticket_url || "#";
      link.target = "_blank";
      link.rel = "noopener";
      link.textContent = "#" + t.ticket_id;
      const muted = document.createElement("span");
      muted.className = "muted";
      muted.textContent = t.filed_for + " · filed " + ago(t.age_seconds);
      li.append("Open " + t.entry + " ticket ", link, " ", muted);
      return li;
    }));
  }

  function patch(tile, s) {
    if (tile.dataset.status !== s.status) {
      // A change of status can change the tile's actions: reload just that once.
      window.location.reload();
      return;
    }
    tile.querySelector('[data-field="checked_at"]').textContent = time(s.checked_at);
    tile.querySelector('[data-field="latency"]').textContent =
      s.latency_ms === null ? "—" : s.latency_ms + " ms";
    const history = tile.querySelector('[data-field="history"]');
    history.replaceChildren(...s.history.map((c) => {
      const li = document.createElement("li");
      li.className = "h-" + c.status;
      li.title = time(c.checked_at) + " " + c.status + (c.latency_ms === null ? "" : " " + c.latency_ms + " ms");
      return li;
    }));
    patchOpenTickets(tile.querySelector('[data-field="open_tickets"]'), s.open_tickets || []);
    document.dispatchEvent(new CustomEvent("raxx:tile", { detail: { tile, surface: s } }));
  }

  async function refresh() {
    try {
      const response = await fetch(grid.dataset.jsonUrl, { headers: { Accept: "application/json" } });
      if (!response.ok) return;
      const body = await response.json();
      for (const s of body.surfaces) {
        const tile = grid.querySelector(`[data-surface="${CSS.escape(s.surface_id)}"]`);
        if (tile) patch(tile, s);
      }
      document.querySelector("[data-refreshed]").textContent = "updated " + time(body.generated_at);
    } catch (e) {
      document.querySelector("[data-refreshed]").textContent = "offline — retrying";
    }
  }
  setInterval(refresh, every);
})();
