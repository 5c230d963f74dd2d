// Shelf actions panel: the open out-of-stock slots with how long they have been empty and the recommender's
// substitutes for each SKU, the open planogram violations, and each shelf's latest snapshot (slot states and
// fill, compliance), from /api/v1/stores/{store}/shelf-actions every 5 s (when the collector mounts it). Loaded
// after app.js, whose el(), row() and duration() it uses.
"use strict";

(() => {
  const POLL = 5000;
  const ROUTE = "/api/v1/stores/{store_id}/shelf-actions";
  const view = { timer: null, mounted: null };
  const STATES = { stocked: "online", low: "unknown", empty: "offline", wrong: "offline", occluded: "unknown", unknown: "unknown" };

  function panel() {
    let section = document.getElementById("shelf-actions");
    if (section) return section;
    section = el("section", { class: "panel wide", id: "shelf-actions", hidden: "" });
    section.innerHTML = `
      <div class="panel-head"><h2>Shelf actions</h2><span class="muted" id="shelf-note"></span></div>
      <h2 class="gap">Out of stock</h2>
      <table><thead><tr><th>Shelf / slot</th><th>SKU</th><th>Camera</th><th>Empty for</th><th>Substitutes</th></tr></thead>
        <tbody id="shelf-oos"></tbody></table>
      <h2 class="gap">Planogram violations</h2>
      <table><thead><tr><th>Shelf / slot</th><th>Expected</th><th>Seen</th><th class="num">Share</th><th>Open for</th></tr></thead>
        <tbody id="shelf-violations"></tbody></table>
      <h2 class="gap">Shelves now</h2>
      <div id="shelf-states"></div>`;
    document.getElementById("main").append(section);
    return section;
  }

  async function mounted() {
    // the collector serves the route when this module is mounted: ask its spec once, never request a 404
    if (view.mounted === null) {
      const res = await fetch("/openapi.json");
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      view.mounted = ROUTE in (await res.json()).paths;
    }
    return view.mounted;
  }

  async function get(path) {
    const token = sessionStorage.getItem("smartstore-token");
    const res = await fetch(path, { headers: { Authorization: `Bearer ${token}` } });
    if ([401, 403].includes(res.status)) return null;
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    return res.json();
  }

  function none(body, cols, text) {
    body.replaceChildren(row([[text, "none"]]));
    body.firstChild.firstChild.setAttribute("colspan", cols);
  }

  function substitutes(list, withModel) {
    if (!list.length) return el("span", { class: "muted" }, withModel ? "none known" : "no recommender fitted");
    const ul = el("span", { class: "subs" });
    for (const s of list) ul.append(el("span", { class: "sub-item", title: `score ${s.score.toFixed(3)}` }, s.item));
    return ul;
  }

  function render(data) {
    const oos = document.getElementById("shelf-oos");
    if (data.out_of_stock.length) {
      oos.replaceChildren(...data.out_of_stock.map((a) => row([
        [`${a.shelf} / ${a.slot}`], [a.sku || "–"], [a.camera || "–"], [duration(a.open_s), "open-for"],
        [substitutes(a.substitutes, data.recommender)]])));
    } else none(oos, 5, "no shelf is out of stock");
    const bad = document.getElementById("shelf-violations");
    if (data.violations.length) {
      bad.replaceChildren(...data.violations.map((v) => row([
        [`${v.shelf} / ${v.slot}`], [v.expected_sku || "–"], [v.observed_sku || "–"],
        [v.confidence == null ? "–" : `${Math.round(100 * v.confidence)}%`, "num"], [duration(v.open_s), "open-for"]])));
    } else none(bad, 5, "every recognised product is in its planogram slot");
    const shelves = document.getElementById("shelf-states");
    shelves.replaceChildren(...data.shelves.map((s) => {
      const box = el("div", { class: "shelf-state" });
      const comp = s.compliance == null ? "compliance –" : `compliance ${Math.round(100 * s.compliance)}%`;
      box.append(el("div", { class: "muted" }, `${s.shelf} (${s.camera || s.device}) · ${comp} · ${duration(Math.max(0, data.now - s.ts))} ago`));
      for (const v of s.slots) {
        const fill = v.fill == null ? "" : ` ${Math.round(100 * v.fill)}%`;
        box.append(el("span", { class: `pill ${STATES[v.state] || "unknown"}`, title: `${v.sku || "no product"} (planogram ${v.expected_sku || "–"})` },
          `${v.slot}: ${v.state}${fill}`), " ");
      }
      return box;
    }));
    const n = data.out_of_stock.length + data.violations.length;
    document.getElementById("shelf-note").textContent = `${n} open action${n === 1 ? "" : "s"}`;
  }

  async function refresh() {
    clearTimeout(view.timer);
    const store = document.getElementById("store").value;
    try {
      if (await mounted()) {
        const section = panel();
        const data = store ? await get(`/api/v1/stores/${encodeURIComponent(store)}/shelf-actions`) : null;
        if (data) render(data);
        section.hidden = false;
      }
    } catch (err) {
      const note = document.getElementById("shelf-note");
      if (note) note.textContent = `offline (${err.message}), retrying`;
    }
    if (view.mounted !== false) view.timer = setTimeout(refresh, store ? POLL : 500);
  }

  document.getElementById("store").addEventListener("change", refresh);
  const style = document.createElement("style");
  style.textContent = `
    .subs .sub-item { display: inline-block; margin: 0 6px 2px 0; padding: 1px 8px; border: 1px solid var(--line); border-radius: 999px; font-size: 12px; }
    .shelf-state { margin: 6px 0 10px; }
    .shelf-state .pill { margin: 3px 4px 0 0; }`;
  document.head.append(style);
  refresh();
})();
