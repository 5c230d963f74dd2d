// Forecasts panel: the stored footfall forecast (per store or camera, hourly) and demand forecast (per SKU, daily)
// with their 80%/95% interval bands beside the actual series (the last 7 days of footfall, 28 days of sales), the
// model chosen, its backtest MAE against seasonal naive's, and how old the forecast is. From
// /api/v1/stores/{store}/forecast/{footfall|sales} (computed by the collector's schedule) every 30 s. Loaded after
// app.js, whose el() and row() it uses.
"use strict";

(() => {
  const POLL = 30000;
  const DAY = 86400;
  const view = { timer: null, footfall: null, sales: null };
  const SVG = "http://www.w3.org/2000/svg";
  const epoch = (iso) => Date.parse(iso + "Z") / 1000;

  function panel() {
    let section = document.getElementById("forecasts");
    if (section) return section;
    section = el("section", { class: "panel wide", id: "forecasts" });
    section.innerHTML = `
      <div class="panel-head"><h2>Forecasts</h2><div class="legend"><span class="sw fc-actual"></span>actual
        <span class="sw fc-line"></span>forecast <span class="sw fc-band"></span>80% / 95% interval</div></div>
      ${["footfall", "sales"].map((k) => `
        <div class="fc-head"><h2 class="gap">${k === "footfall" ? "Footfall per hour" : "Demand per day"}</h2>
          <select id="fc-${k}-series" aria-label="${k} series"></select></div>
        <div class="muted" id="fc-${k}-note"></div>
        <svg id="fc-${k}-chart" class="fc-chart" viewBox="0 0 900 200" preserveAspectRatio="none" role="img"
          aria-label="${k} forecast"></svg>`).join("")}`;
    document.getElementById("main").append(section);
    for (const k of ["footfall", "sales"]) {
      document.getElementById(`fc-${k}-series`).addEventListener("change", (ev) => { view[k] = ev.target.value; refresh(); });
    }
    return section;
  }

  async function get(path) {
    const token = sessionStorage.getItem("smartstore-token");
    const res = await fetch(path, { headers: { Authorization: `Bearer ${token}` } });
    if ([401, 403, 404].includes(res.status)) return null;
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    return res.json();
  }

  function age(s) {
    return s < 90 ? `${Math.round(s)} s` : s < 5400 ? `${Math.round(s / 60)} min` : `${(s / 3600).toFixed(1)} h`;
  }

  function options(kind, fc) {
    // footfall: the store total, then each camera; demand: each SKU
    const select = document.getElementById(`fc-${kind}-series`);
    const ids = fc.map((f) => f.series.map((s) => `${f.level}:${s.series_id}`)).flat();
    if (!ids.includes(view[kind])) view[kind] = ids.length ? ids[0] : null;
    select.replaceChildren(...ids.map((id) => {
      const [level, sid] = id.split(/:(.*)/s);
      return el("option", { value: id }, level === "store" ? `store total (${sid})` : sid);
    }));
    if (view[kind]) select.value = view[kind];
  }

  function path(pts, x, y) {
    return pts.map(([t, v], i) => `${i ? "L" : "M"}${x(t).toFixed(1)},${y(v).toFixed(1)}`).join("");
  }

  function band(points, lo, hi, x, y) {
    const top = points.map((p) => [epoch(p.timestamp), p[hi]]);
    const bottom = points.map((p) => [epoch(p.timestamp), p[lo]]).reverse();
    return path(top, x, y) + path(bottom, x, y).replace("M", "L") + "Z";
  }

  function draw(kind, actual, points) {
    const svg = document.getElementById(`fc-${kind}-chart`);
    svg.replaceChildren();
    const W = 900, H = 200, pad = 28;
    const ts = [...actual.map((a) => a[0]), ...points.map((p) => epoch(p.timestamp))];
    const top = Math.max(1, ...actual.map((a) => a[1]), ...points.map((p) => p.hi95));
    const t0 = Math.min(...ts), t1 = Math.max(...ts);
    const x = (t) => pad + (W - 2 * pad) * (t - t0) / Math.max(1, t1 - t0);
    const y = (v) => H - pad - (H - 2 * pad) * v / top;
    const add = (tag, attrs) => {
      const node = document.createElementNS(SVG, tag);
      for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
      svg.append(node);
      return node;
    };
    add("path", { class: "fc-band95", d: band(points, "lo95", "hi95", x, y) });
    add("path", { class: "fc-band80", d: band(points, "lo80", "hi80", x, y) });
    if (actual.length) add("path", { class: "fc-actual", d: path(actual, x, y) });
    add("path", { class: "fc-line", d: path(points.map((p) => [epoch(p.timestamp), p.forecast]), x, y) });
    add("line", { class: "fc-now", x1: x(epoch(points[0].timestamp)), x2: x(epoch(points[0].timestamp)), y1: pad / 2, y2: H - pad });
    add("text", { class: "axis", x: pad, y: 12 }).textContent = String(Math.round(top));
    const label = (t) => new Date(t * 1000).toLocaleDateString([], { month: "short", day: "numeric" });
    add("text", { class: "axis", x: pad, y: H - 8 }).textContent = label(t0);
    add("text", { class: "axis", x: W - pad - 40, y: H - 8 }).textContent = label(t1);
  }

  async function actuals(kind, base, level, sid, first) {
    // the actual series before the forecast: hourly people in (store total or one camera), daily units of one SKU
    if (kind === "footfall") {
      const start = new Date((first - 7 * DAY) * 1000).toISOString();
      const rows = await get(`${base}/footfall?bucket=hour&start=${start}${level === "camera" ? `&camera=${encodeURIComponent(sid)}` : ""}`) || [];
      return rows.map((r) => [r.t, r.in]).sort((a, b) => a[0] - b[0]);
    }
    const start = new Date((first - 28 * DAY) * 1000).toISOString();
    const rows = await get(`${base}/sales?start=${start}&sku=${encodeURIComponent(sid)}`) || [];
    const days = new Map();
    for (let t = first - 28 * DAY; t < first; t += DAY) days.set(t, 0);
    for (const r of rows) {
      const d = Math.floor(r.ts / DAY) * DAY;
      if (days.has(d)) days.set(d, days.get(d) + r.qty);
    }
    return [...days.entries()];
  }

  async function show(kind, base, fc) {
    const note = document.getElementById(`fc-${kind}-note`);
    const svg = document.getElementById(`fc-${kind}-chart`);
    options(kind, fc);
    if (!view[kind]) {
      note.textContent = `no ${kind === "footfall" ? "footfall" : "demand"} forecast computed yet (the collector's schedule, or smartstore collector forecast-refresh)`;
      svg.replaceChildren();
      return;
    }
    const [level, sid] = view[kind].split(/:(.*)/s);
    const f = fc.find((x) => x.level === level);
    const s = f.series.find((x) => x.series_id === sid);
    const points = f.forecasts.filter((p) => p.series_id === sid);
    const actual = await actuals(kind, base, level, sid, epoch(points[0].timestamp));
    const err = s.backtest_mae == null ? "" : ` · backtest MAE ${s.backtest_mae.toFixed(2)} (seasonal naive ${s.naive_mae.toFixed(2)})`;
    note.textContent = `${points.length} ${kind === "footfall" ? "hours" : "days"} ahead · model ${s.model}${err} · computed ${age(f.age_s)} ago${f.stale ? " (stale)" : ""}`;
    draw(kind, actual, points);
  }

  async function refresh() {
    clearTimeout(view.timer);
    const section = panel();
    const store = document.getElementById("store").value;
    try {
      if (store) {
        const base = `/api/v1/stores/${encodeURIComponent(store)}`;
        // what is stored first: a forecast not computed yet is never requested (no 404 in the console)
        const stored = await get(`${base}/forecasts`) || [];
        const load = (kind, level) => stored.some((f) => f.kind === kind && f.level === level)
          ? get(`${base}/forecast/${kind}?level=${level}`) : null;
        const [total, cameras, sales] = await Promise.all([load("footfall", "store"), load("footfall", "camera"), load("sales", "sku")]);
        await show("footfall", base, [total, cameras].filter(Boolean));
        await show("sales", base, [sales].filter(Boolean));
      }
      section.hidden = false;
    } catch (err) {
      document.getElementById("fc-footfall-note").textContent = `offline (${err.message}), retrying`;
    }
    view.timer = setTimeout(refresh, store ? POLL : 500);
  }

  document.getElementById("store").addEventListener("change", () => { view.footfall = view.sales = null; refresh(); });
  const style = document.createElement("style");
  style.textContent = `
    .fc-head { display: flex; justify-content: space-between; align-items: baseline; }
    .fc-chart { width: 100%; height: 200px; display: block; }
    .fc-chart .axis { fill: var(--muted); font-size: 11px; }
    .fc-chart path { fill: none; stroke-width: 1.6; }
    .fc-chart path.fc-actual, .sw.fc-actual { stroke: var(--ink); background: var(--ink); }
    .fc-chart path.fc-line, .sw.fc-line { stroke: var(--in); background: var(--in); }
    .fc-chart path.fc-band95 { fill: #dbe6fd; stroke: none; }
    .fc-chart path.fc-band80, .sw.fc-band { fill: #b9cdfa; stroke: none; background: #b9cdfa; }
    .fc-chart line.fc-now { stroke: var(--muted); stroke-dasharray: 3 3; }`;
  document.head.append(style);
  refresh();
})();
