// Deploys: the tile's Deploy modal, the in-flight chip in every page's header, and the grid's
// "Recent deploys" panel and tile deploy lines, all kept current from /console/deploys.json.
(function () {
  const csrf = document.querySelector('meta[name="csrf-token"]');
  const chip = document.querySelector("[data-deploy-chip]");
  const panel = document.querySelector("[data-recent-deploys]");
  const grid = document.querySelector("[data-status-grid]");
  const jsonUrl = chip ? chip.dataset.jsonUrl : "/console/deploys.json";
  const EVERY_MS = 2000;

  // -- the modal: one for the grid, filled from the tile whose Deploy button opened it ---------
  const keys = new Map(); // surface -> idempotency key: one per surface and page load, as a retry needs

  function newKey() {
    return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
  }

  function openDeploy(opener) {
    const dialog = document.getElementById("deploy-dialog");
    const tile = opener.closest("[data-surface]");
    if (!dialog || !tile || dialog.open) return;
    const id = tile.dataset.surface;
    const form = dialog.querySelector("form");
    const field = (name) => dialog.querySelector(`[data-field="${name}"]`);
    form.action = form.dataset.action.replace("__surface__", encodeURIComponent(id));
    dialog.setAttribute("aria-label", "Deploy " + id);
    field("surface_name").textContent = tile.dataset.name;
    field("surface_id").textContent = id;
    field("workflow").textContent = opener.dataset.workflow;
    field("target_env").textContent = opener.dataset.targetEnv;
    const facts = field("binding");
    facts.querySelectorAll("[data-input]").forEach((row) => row.remove());
    for (const [name, value] of Object.entries(JSON.parse(opener.dataset.inputs || "{}"))) {
      const row = document.createElement("div");
      row.dataset.input = name;
      const dt = document.createElement("dt");
      const dd = document.createElement("dd");
      dt.textContent = name;
      dd.textContent = value;
      row.append(dt, dd);
      facts.append(row);
    }
    const production = opener.dataset.targetEnv === "production";
    field("production").hidden = !production;
    field("confirm_id").textContent = id;
    form.elements.confirm.disabled = !production; // only a production target sends one
    form.elements.confirm.value = "";
    form.elements.ref.value = form.elements.ref.defaultValue;
    if (!keys.has(id)) keys.set(id, newKey());
    form.elements.idempotency_key.value = keys.get(id);
    field("deploy_result").hidden = true;
    form.querySelector('button[type="submit"]').disabled = false;
    dialog.showModal();
  }

  document.addEventListener("click", (event) => {
    const opener = event.target.closest("[data-open-deploy]");
    if (opener) openDeploy(opener);
  });

  document.addEventListener("submit", async (event) => {
    const form = event.target.closest("form[data-deploy-form]");
    if (!form) return;
    event.preventDefault();
    const button = form.querySelector('button[type="submit"]');
    const result = form.querySelector('[data-field="deploy_result"]');
    if (button.disabled) return; // a double click submits once; the idempotency key covers the rest
    button.disabled = true;
    const fields = new FormData(form);
    const body = {};
    for (const [name, value] of fields.entries()) if (name !== "csrf_token") body[name] = value;
    try {
      const response = await fetch(form.action, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrf ? csrf.content : "" },
        body: JSON.stringify(body),
      });
      const answer = await response.json().catch(() => ({}));
      result.hidden = false;
      if (response.ok) {
        result.className = "deploy-result good";
        result.textContent = "Deploy #" + answer.id + " of " + answer.ref + ": " + answer.progress + ".";
        refresh();
      } else {
        result.className = "deploy-result bad";
        result.textContent = answer.message || "The console answered HTTP " + response.status + ".";
        button.disabled = false;
      }
    } catch (e) {
      result.hidden = false;
      result.className = "deploy-result bad";
      result.textContent = "The console did not answer: check your connection and try again.";
      button.disabled = false;
    }
  });

  // -- the chip, the panel and the tiles ---------------------------------------------------
  function cell(text, code) {
    const td = document.createElement("td");
    if (code) {
      const c = document.createElement("code");
      c.textContent = text;
      td.append(c);
    } else {
      td.textContent = text;
    }
    return td;
  }

  function runLink(d, text) {
    const a = document.createElement("a");
    a.href = d.run_url;
    a.target = "_blank";
    a.rel = "noopener";
    a.textContent = text;
    return a;
  }

  function showChip(inFlight) {
    if (!chip) return;
    chip.hidden = inFlight.length === 0;
    if (!inFlight.length) return;
    const d = inFlight[0];
    chip.textContent = "Deploying " + d.surface_id + " (" + d.ref + ") · " + d.status + (inFlight.length > 1 ? " +" + (inFlight.length - 1) : "");
    chip.href = d.run_url || "#";
  }

  function showPanel(recent) {
    if (!panel) return;
    const rows = panel.querySelector('[data-field="recent_rows"]');
    panel.querySelector("table").hidden = recent.length === 0;
    panel.querySelector('[data-field="recent_empty"]').hidden = recent.length > 0;
    rows.replaceChildren(...recent.map((d) => {
      const tr = document.createElement("tr");
      tr.dataset.deployId = d.id;
      tr.className = "deploy-" + d.status;
      const status = cell(d.progress + (d.reason ? " — " + d.reason : ""));
      status.dataset.field = "status";
      const run = document.createElement("td");
      if (d.run_url) run.append(runLink(d, "#" + d.run_id));
      tr.append(cell(d.created_at.substring(0, 16).replace("T", " ") + " UTC"), cell(d.surface_id), cell(d.ref, true),
        cell((d.sha || "").substring(0, 7), true), cell(d.actor), status, run);
      return tr;
    }));
  }

  function showTiles(latest) {
    if (!grid) return;
    for (const [surface, d] of Object.entries(latest)) {
      const tile = grid.querySelector(`[data-surface="${CSS.escape(surface)}"]`);
      if (!tile) continue;
      const badge = tile.querySelector('[data-field="deploy_badge"]');
      if (badge) {
        badge.hidden = !d.deployed_line;
        badge.textContent = d.deployed_line || "";
        badge.classList.toggle("in-flight", d.in_flight);
      }
      const line = tile.querySelector('[data-field="last_deploy"]');
      if (line) {
        line.hidden = false;
        line.replaceChildren("Last deploy: ", cell(d.ref, true).firstChild);
        if (d.sha) line.append(" ", cell(d.sha.substring(0, 7), true).firstChild);
        line.append(" by " + d.actor + " · " + d.progress);
        if (d.run_url) line.append(" · ", runLink(d, "run"));
      }
    }
  }

  async function refresh() {
    if (!chip && !panel) return;
    try {
      const response = await fetch(jsonUrl, { headers: { Accept: "application/json" } });
      if (!response.ok) return;
      const body = await response.json();
      showChip(body.in_flight);
      showPanel(body.recent);
      showTiles(body.latest);
    } catch (e) {
      /* offline: the next refresh tries again */
    }
  }
  if (chip || panel) {
    refresh();
    setInterval(refresh, EVERY_MS);
  }
})();
