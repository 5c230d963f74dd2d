// smartstore collector dashboard: polls /api/v1/summary every 2 s and draws it (plain JS, hand-drawn SVG chart).
"use strict";

const POLL_MS = 2000;
const $ = (id) => document.getElementById(id);
const state = { token: null, store: null, timer: null };

function readToken() {
  const hash = new URLSearchParams(location.hash.slice(1));
  if (hash.get("token")) {
    sessionStorage.setItem("smartstore-token", hash.get("token"));
    history.replaceState(null, "", location.pathname + location.search);
  }
  return sessionStorage.getItem("smartstore-token");
}

function el(tag, attrs = {}, text = null) {
  const node = document.createElementNS(tag === "svg" || attrs.svg ? "http://www.w3.org/2000/svg" : "http://www.w3.org/1999/xhtml", tag);
  for (const [k, v] of Object.entries(attrs)) if (k !== "svg") node.setAttribute(k, v);
  if (text !== null) node.textContent = text;
  return node;
}

function ago(ts, now) {
  if (ts == null) return "–";
  const s = Math.max(0, now - ts);
  if (s < 60) return `${Math.round(s)} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} d ago`;
}

function duration(s) {
  if (s < 60) return `${Math.round(s)} s`;
  if (s < 3600) return `${Math.round(s / 60)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}

function hourLabel(t) {
  return new Date(t * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

function drawChart(points, now) {
  const svg = $("chart");
  svg.replaceChildren();
  const W = 900, H = 260, left = 40, right = 10, top = 12, bottom = 28;
  const end = Math.floor(now / 3600) * 3600;
  const hours = [];
  for (let t = end - 23 * 3600; t <= end; t += 3600) hours.push(t);
  const byHour = new Map(points.map((p) => [p.t, p]));
  const max = Math.max(1, ...points.map((p) => Math.max(p.in, p.out)));
  const raw = max / 4, mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const tick = Math.max(1, [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw));
  const ticks = Math.ceil(max / tick), niceMax = ticks * tick;
  const plotW = W - left - right, plotH = H - top - bottom, slot = plotW / hours.length, bar = Math.max(2, slot * 0.34);
  for (let i = 0; i <= ticks; i++) {
    const v = i * tick, y = top + plotH - (v / niceMax) * plotH;
    svg.append(el("line", { svg: 1, x1: left, x2: W - right, y1: y, y2: y, class: "grid-line" }));
    svg.append(el("text", { svg: 1, x: left - 6, y: y + 4, "text-anchor": "end", class: "axis" }, String(Math.round(v))));
  }
  hours.forEach((t, i) => {
    const p = byHour.get(t) || { in: 0, out: 0 };
    const x = left + i * slot + slot / 2;
    for (const [key, dx] of [["in", -bar], ["out", 0]]) {
      const h = (p[key] / niceMax) * plotH;
      const rect = el("rect", { svg: 1, x: x + dx, y: top + plotH - h, width: bar, height: h, rx: 2, class: key });
      rect.append(el("title", { svg: 1 }, `${hourLabel(t)} ${key}: ${p[key]}`));
      svg.append(rect);
    }
    if (i % 3 === 0) svg.append(el("text", { svg: 1, x, y: H - 8, "text-anchor": "middle", class: "axis" }, hourLabel(t)));
  });
  if (!points.length) svg.append(el("text", { svg: 1, x: W / 2, y: H / 2, "text-anchor": "middle", class: "empty" }, "no footfall in the last 24 hours yet"));
}

function row(cells) {
  const tr = el("tr");
  for (const [text, cls] of cells) {
    const td = el("td", cls ? { class: cls } : {});
    if (text instanceof Node) td.append(text); else td.textContent = text;
    tr.append(td);
  }
  return tr;
}

function render(s) {
  const select = $("store");
  const names = s.stores.map((x) => x.store);
  if ([...select.options].map((o) => o.value).join() !== names.join()) {
    select.replaceChildren(...names.map((n) => el("option", { value: n }, n)));
  }
  if (s.store) select.value = s.store;
  state.store = s.store;
  const now = s.now;
  const tin = s.footfall.reduce((a, p) => a + p.in, 0), tout = s.footfall.reduce((a, p) => a + p.out, 0);
  $("k-in").textContent = tin.toLocaleString();
  $("k-out").textContent = `${tout.toLocaleString()} out`;
  const occ = s.occupancy || { total: 0, zones: [] };
  $("k-occ").textContent = occ.zones.length ? occ.total : "–";
  $("k-occ-sub").textContent = occ.zones.length ? `${occ.zones.length} zone${occ.zones.length > 1 ? "s" : ""}` : "no zones reporting";
  const online = s.devices.filter((d) => d.state === "online").length;
  $("k-dev").textContent = `${online} / ${s.devices.length}`;
  const offline = s.devices.filter((d) => d.state === "offline").length;
  $("k-dev-sub").textContent = offline ? `${offline} offline` : "all reporting";
  $("k-oos").textContent = s.alerts.length;
  drawChart(s.footfall, now);

  const devices = $("devices");
  devices.replaceChildren(...s.devices.map((d) => row([
    [d.device], [el("span", { class: `pill ${d.state}` }, d.state)], [ago(d.last_event_ts, now)],
    [d.events.toLocaleString(), "num"], [String(d.seq_gaps), "num"],
  ])));
  if (!s.devices.length) devices.append(row([["no devices yet", "none"]]));

  const zones = $("zones");
  const zmax = Math.max(1, ...occ.zones.map((z) => z.count));
  zones.replaceChildren(...occ.zones.map((z) => {
    const div = el("div", { class: "zone" });
    const bar = el("div", { class: "bar" });
    bar.append(el("span", { style: `width:${(100 * z.count) / zmax}%` }));
    div.append(el("div", {}, z.camera ? `${z.camera} · ${z.zone}` : z.zone), bar, el("div", { class: "num" }, String(z.count)));
    return div;
  }));
  if (!occ.zones.length) zones.append(el("p", { class: "muted" }, "no zone occupancy reported"));

  const alerts = $("alerts");
  alerts.replaceChildren(...s.alerts.map((a) => row([[`${a.shelf} / ${a.slot}`], [a.sku || "–"], [a.camera || "–"], [duration(now - a.start)]])));
  if (!s.alerts.length) alerts.append(row([["no open alerts", "none"]]));
  alerts.querySelectorAll("td.none").forEach((td) => td.setAttribute("colspan", "4"));
  devices.querySelectorAll("td.none").forEach((td) => td.setAttribute("colspan", "5"));

  $("rate").textContent = `${s.ingest_rate.toFixed(1)} events/s`;
  $("updated").textContent = `updated ${new Date().toLocaleTimeString()}`;
}

function showLogin(message) {
  $("main").hidden = true;
  $("login").hidden = false;
  $("login-error").textContent = message || "";
  clearTimeout(state.timer);
}

async function poll() {
  clearTimeout(state.timer);
  const query = state.store ? `?store=${encodeURIComponent(state.store)}` : "";
  try {
    const res = await fetch(`/api/v1/summary${query}`, { headers: { Authorization: `Bearer ${state.token}` } });
    if (res.status === 401) {
      sessionStorage.removeItem("smartstore-token");
      showLogin("That token was refused.");
      return;
    }
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    $("login").hidden = true;
    $("main").hidden = false;
    render(await res.json());
  } catch (err) {
    $("updated").textContent = `offline (${err.message}), retrying`;
  }
  state.timer = setTimeout(poll, POLL_MS);
}

$("login").addEventListener("submit", (ev) => {
  ev.preventDefault();
  state.token = $("token").value.trim();
  sessionStorage.setItem("smartstore-token", state.token);
  poll();
});
$("store").addEventListener("change", (ev) => { state.store = ev.target.value; poll(); });

state.token = readToken();
if (state.token) poll(); else showLogin();
