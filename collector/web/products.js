// Products panel: per-product customer sentiment (score, 95% interval, aspects) and price (current, promotion,
// label push), from /api/v1/stores/{store}/sentiment and /prices every 5 s (each when the collector mounts it);
// a click shows the product's aspects and its price history (step chart and every price with the rules'
// reasons). Loaded after app.js, whose el() and row() it uses.
"use strict";

(() => {
  const POLL = 5000;
  const view = { sku: null, timer: null, routes: null };
  const money = (v, cur) => (v == null ? "–" : `${Number(v).toFixed(2)}${cur ? " " + cur : ""}`);
  const when = (ts) => new Date(ts * 1000).toLocaleString([], { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });

  function panel() {
    let section = document.getElementById("products");
    if (section) return section;
    section = el("section", { class: "panel wide", id: "products" });
    section.innerHTML = `
      <div class="panel-head"><h2>Products</h2><span class="muted" id="products-note"></span></div>
      <table><thead><tr><th>SKU</th><th>Product</th><th class="num">Price</th><th>Promotion</th><th>Label</th>
        <th class="num">Sentiment</th><th class="num">Reviews</th><th>Aspects</th></tr></thead>
        <tbody id="product-list"></tbody></table>
      <div class="product-detail" id="product-detail" hidden>
        <div><h2 class="gap" id="sentiment-title"></h2><div id="sentiment-summary" class="muted"></div>
          <table><thead><tr><th>Aspect</th><th class="num">Mentions</th><th>Polarity</th></tr></thead>
          <tbody id="aspect-list"></tbody></table><ul class="reviews" id="review-list"></ul></div>
        <div><h2 class="gap" id="history-title"></h2>
          <svg id="price-chart" viewBox="0 0 520 160" preserveAspectRatio="none" role="img" aria-label="price history"></svg>
          <table><thead><tr><th>When</th><th class="num">Price</th><th>State</th><th>Label</th><th>Why</th></tr></thead>
          <tbody id="price-history"></tbody></table></div>
      </div>`;
    document.getElementById("main").append(section);
    return section;
  }

  async function routes() {
    // the collector mounts the sentiment and pricing routes when it has them: ask its spec, never request a 404
    if (view.routes) return view.routes;
    const res = await fetch("/openapi.json");
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    view.routes = new Set(Object.keys((await res.json()).paths));
    return view.routes;
  }

  async function get(path) {
    const token = sessionStorage.getItem("smartstore-token");
    const res = await fetch(path, { headers: { Authorization: `Bearer ${token}` } });
    if ([401, 403, 404].includes(res.status)) return null;
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    return res.json();
  }

  function polarity(p) {
    const cls = p > 0.1 ? "online" : p < -0.1 ? "offline" : "unknown";
    return el("span", { class: `pill ${cls}` }, `${p > 0 ? "+" : ""}${p.toFixed(2)}`);
  }

  function score(s) {
    return s ? `${s.score.toFixed(2)} [${s.ci_low.toFixed(2)}, ${s.ci_high.toFixed(2)}]` : "–";
  }

  function topAspects(s) {
    return s && s.aspects.length ? s.aspects.slice(0, 3).map((a) => `${a.aspect} ${a.polarity > 0 ? "+" : a.polarity < 0 ? "−" : "±"}`).join(", ") : "–";
  }

  function renderList(prices, sentiment) {
    const bySku = new Map((sentiment || []).map((s) => [s.sku, s]));
    const skus = [...new Set([...(prices || []).map((p) => p.sku), ...bySku.keys()])].sort();
    const priced = new Map((prices || []).map((p) => [p.sku, p]));
    if (!skus.includes(view.sku)) view.sku = skus.length ? skus[0] : null;
    const body = document.getElementById("product-list");
    body.replaceChildren(...skus.map((sku) => {
      const p = priced.get(sku), s = bySku.get(sku), now = p && p.current;
      const tr = row([[sku], [p && p.name ? p.name : "–"], [now ? money(now.price, p.currency) : p ? money(p.base, p.currency) : "–", "num"],
        [now && now.promo ? now.promo : "–"], [now && now.push ? now.push : "–"], [score(s), "num"],
        [s ? String(s.n) : "–", "num"], [topAspects(s)]]);
      tr.dataset.sku = sku;
      tr.className = sku === view.sku ? "selected" : "";
      tr.addEventListener("click", () => { view.sku = sku; refresh(); });
      return tr;
    }));
    if (!skus.length) body.append(row([["no products yet (smartstore pricing import, smartstore sentiment score)", "none"]]));
    body.querySelectorAll("td.none").forEach((td) => td.setAttribute("colspan", "8"));
  }

  function renderSentiment(s) {
    document.getElementById("sentiment-title").textContent = `Sentiment: ${view.sku}`;
    document.getElementById("sentiment-summary").textContent = s
      ? `score ${s.score.toFixed(2)}, 95% interval ${s.ci_low.toFixed(2)} to ${s.ci_high.toFixed(2)}, ${s.n} reviews`
      : "no reviews scored for this product";
    const body = document.getElementById("aspect-list");
    const aspects = s ? s.aspects : [];
    body.replaceChildren(...aspects.map((a) => row([[a.aspect], [String(a.mentions), "num"], [polarity(a.polarity)]])));
    if (!aspects.length) body.append(row([["no aspects mentioned", "none"]]));
    body.querySelectorAll("td.none").forEach((td) => td.setAttribute("colspan", "3"));
    const reviews = document.getElementById("review-list");
    reviews.replaceChildren(...(s ? s.reviews : []).map((r) => {
      const li = el("li");
      li.append(el("span", { class: `pill ${r.label === "positive" ? "online" : "offline"}` }, r.label), " ", r.text);
      return li;
    }));
  }

  function drawHistory(history) {
    const svg = document.getElementById("price-chart");
    svg.replaceChildren();
    const points = history ? history.prices.filter((p) => p.state === "approved").map((p) => [p.decided, p.price]) : [];
    if (!points.length) {
      svg.append(el("text", { svg: 1, x: 260, y: 80, "text-anchor": "middle", class: "empty" }, "no approved price yet"));
      return;
    }
    const W = 520, H = 160, left = 8, right = 8, top = 16, bottom = 10;
    const t0 = points[0][0], t1 = Math.max(Date.now() / 1000, t0 + 1);
    const values = [...points.map((p) => p[1]), history.base, history.floor];
    const lo = Math.min(...values) * 0.95, hi = Math.max(...values) * 1.05;
    const x = (t) => left + ((t - t0) / (t1 - t0)) * (W - left - right);
    const y = (v) => top + (1 - (v - lo) / (hi - lo)) * (H - top - bottom);
    for (const [v, cls, name] of [[history.base, "base-line", "base"], [history.floor, "floor-line", "floor"]]) {
      svg.append(el("line", { svg: 1, x1: left, x2: W - right, y1: y(v), y2: y(v), class: cls }));
      svg.append(el("text", { svg: 1, x: W - right, y: y(v) - 4, "text-anchor": "end", class: "axis" }, `${name} ${v.toFixed(2)}`));
    }
    let d = "";
    points.forEach(([t, v], i) => { d += i ? ` H${x(t)} V${y(v)}` : `M${x(t)} ${y(v)}`; });
    d += ` H${x(t1)}`;
    svg.append(el("path", { svg: 1, d, class: "price-line" }));
    points.forEach(([t, v]) => {
      const dot = el("circle", { svg: 1, cx: x(t), cy: y(v), r: 3.5, class: "price-dot" });
      dot.append(el("title", { svg: 1 }, `${when(t)}: ${v.toFixed(2)}`));
      svg.append(dot);
    });
  }

  function renderHistory(history) {
    document.getElementById("history-title").textContent = `Price history: ${view.sku}`;
    drawHistory(history);
    const body = document.getElementById("price-history");
    const prices = history ? [...history.prices].reverse() : [];
    body.replaceChildren(...prices.map((p) => {
      const proposed = p.audit.find((a) => a.action === "proposed");
      const decided = p.audit.find((a) => ["approved", "rejected"].includes(a.action));
      const why = [proposed ? proposed.reason : "", decided ? `${decided.action} by ${decided.actor}` : ""].filter(Boolean).join(" · ");
      return row([[when(p.created)], [money(p.price, p.currency), "num"], [p.state], [p.push ? p.push.state : "–"], [why, "muted"]]);
    }));
    if (!prices.length) body.append(row([["no price for this product yet", "none"]]));
    body.querySelectorAll("td.none").forEach((td) => td.setAttribute("colspan", "5"));
  }

  async function refresh() {
    clearTimeout(view.timer);
    const section = panel();
    const store = document.getElementById("store").value;
    try {
      if (store) {
        const have = await routes(), base = `/api/v1/stores/${encodeURIComponent(store)}`;
        const [prices, sentiment] = await Promise.all([
          have.has("/api/v1/stores/{store_id}/prices") ? get(`${base}/prices`) : null,
          have.has("/api/v1/stores/{store_id}/sentiment") ? get(`${base}/sentiment`) : null]);
        renderList(prices, sentiment);
        const detail = document.getElementById("product-detail");
        detail.hidden = view.sku === null;
        if (view.sku !== null) {
          const sku = encodeURIComponent(view.sku), priced = (prices || []).some((p) => p.sku === view.sku);
          const [one, history] = await Promise.all([
            have.has("/api/v1/stores/{store_id}/products/{sku}/sentiment") ? get(`${base}/products/${sku}/sentiment?latest=3`) : null,
            priced ? get(`${base}/products/${sku}/prices`) : null]);
          renderSentiment(one && one.n ? one : null);
          renderHistory(history);
        }
        document.getElementById("products-note").textContent = `updated ${new Date().toLocaleTimeString()}`;
      }
      section.hidden = false;
    } catch (err) {
      document.getElementById("products-note").textContent = `offline (${err.message}), retrying`;
    }
    view.timer = setTimeout(refresh, store ? POLL : 500);
  }

  document.getElementById("store").addEventListener("change", () => { view.sku = null; refresh(); });
  const link = document.createElement("link");
  link.rel = "stylesheet";
  link.href = "products.css";
  document.head.append(link);
  refresh();
})();
