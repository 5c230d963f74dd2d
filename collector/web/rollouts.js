// Roll-outs panel (admin tokens): staged roll-outs and every device's state, from /api/v1/rollouts every 5 s.
// Loaded after app.js, whose el() and row() it uses; hidden for tokens without the admin scope (403, asked once
// per token).
"use strict";

(() => {
  const POLL = 5000;
  const view = { selected: null, timer: null, refused: null };  // refused: a token without admin, asked once
  const GOOD = new Set(["done", "healthy", "applied"]);
  const BAD = new Set(["failed", "rolled_back", "rolling_back"]);

  function pill(s) {
    return el("span", { class: `pill ${GOOD.has(s) ? "online" : BAD.has(s) ? "offline" : "unknown"}` }, s.replace("_", " "));
  }

  function counts(devices) {
    return Object.entries(devices).sort().map(([k, v]) => `${k.replace("_", " ")} ${v}`).join(" · ") || "–";
  }

  function panel() {
    let section = document.getElementById("rollouts");
    if (section) return section;
    section = el("section", { class: "panel wide", id: "rollouts" });
    section.hidden = true;
    section.append(
      el("div", { class: "panel-head" }), el("table"), el("h2", { class: "gap", id: "rollout-title" }), el("table"));
    section.querySelector(".panel-head").append(el("h2", {}, "Roll-outs"), el("span", { class: "muted", id: "rollouts-note" }));
    const [list, devices] = section.querySelectorAll("table");
    list.innerHTML = "<thead><tr><th>#</th><th>What</th><th>State</th><th class=\"num\">Wave</th><th>Devices</th><th>Reason</th></tr></thead><tbody id=\"rollout-list\"></tbody>";
    devices.innerHTML = "<thead><tr><th>Device</th><th class=\"num\">Wave</th><th>State</th><th>Reason</th></tr></thead><tbody id=\"rollout-devices\"></tbody>";
    document.getElementById("main").append(section);
    return section;
  }

  async function get(path) {
    const token = sessionStorage.getItem("smartstore-token");
    if (!token || token === view.refused) return null;
    const res = await fetch(path, { headers: { Authorization: `Bearer ${token}` } });
    if (res.status === 403) view.refused = token;
    if (res.status === 401 || res.status === 403) return null;
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    return res.json();
  }

  function renderList(rollouts) {
    const body = document.getElementById("rollout-list");
    body.replaceChildren(...rollouts.map((r) => {
      const tr = row([[String(r.id)], [`${r.kind} ${r.name} v${r.version}`], [pill(r.state)], [String(r.wave), "num"],
        [counts(r.devices)], [r.reason || "", "muted"]]);
      tr.dataset.rollout = r.id;
      tr.style.cursor = "pointer";
      if (r.id === view.selected) tr.style.fontWeight = "600";
      tr.addEventListener("click", () => { view.selected = r.id; refresh(); });
      return tr;
    }));
    if (!rollouts.length) body.append(row([["no roll-outs yet (smartstore fleet rollout)", "none"]]));
    body.querySelectorAll("td.none").forEach((td) => td.setAttribute("colspan", "6"));
  }

  async function rollBack(r) {
    if (!confirm(`Roll back roll-out ${r.id} (${r.name} v${r.version}) on every device that got it?`)) return;
    const token = sessionStorage.getItem("smartstore-token");
    const res = await fetch(`/api/v1/rollouts/${r.id}/abort`, { method: "POST", headers: { Authorization: `Bearer ${token}` } });
    document.getElementById("rollouts-note").textContent = res.ok ? `roll-out ${r.id} rolling back` : `roll back refused (HTTP ${res.status})`;
    refresh();
  }

  function renderDetail(r) {
    const title = document.getElementById("rollout-title");
    title.textContent = r ? `Roll-out ${r.id}: ${r.name} v${r.version}, ${r.state.replace("_", " ")} ` : "";
    if (r && (r.state === "running" || r.state === "done")) {
      const button = el("button", { id: "rollout-abort", type: "button" }, "Roll back");
      button.addEventListener("click", () => rollBack(r));
      title.append(button);
    }
    const body = document.getElementById("rollout-devices");
    body.replaceChildren(...(r ? r.device_states : []).map((d) => row([
      [`${d.store} / ${d.device}`], [d.wave === 0 ? "canary" : String(d.wave), "num"], [pill(d.state)], [d.reason || "", "muted"],
    ])));
  }

  async function refresh() {
    clearTimeout(view.timer);
    const section = panel();
    try {
      const rollouts = await get("/api/v1/rollouts?limit=20");
      section.hidden = rollouts === null;
      if (rollouts !== null) {
        if (!rollouts.some((r) => r.id === view.selected)) view.selected = rollouts.length ? rollouts[0].id : null;
        renderList(rollouts);
        renderDetail(view.selected === null ? null : await get(`/api/v1/rollouts/${view.selected}`));
        document.getElementById("rollouts-note").textContent = `updated ${new Date().toLocaleTimeString()}`;
      }
    } catch (err) {
      document.getElementById("rollouts-note").textContent = `offline (${err.message}), retrying`;
    }
    view.timer = setTimeout(refresh, POLL);
  }

  refresh();
})();
