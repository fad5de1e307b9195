// The hexlake console: hash-routed views over the JSON APIs, called with the key the user signed in with.
// Everything it loads is served by this server (no CDN, no external request).
"use strict";
const $ = (sel, root = document) => root.querySelector(sel);
const esc = (v) => String(v ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
const state = { key: sessionStorage.getItem("hexlake.key"), who: null, live: null, timers: [] };
window.__hexlake = { ready: false };

class ApiError extends Error {
  constructor(status, body) { super((body && (body.error?.message || body.message || body.detail)) || `HTTP ${status}`); this.status = status; this.body = body; }
}

async function api(path, opts = {}) {
  const headers = { Authorization: `Bearer ${state.key}`, ...(opts.body ? { "Content-Type": "application/json" } : {}) };
  const resp = await fetch(path, { method: opts.method || (opts.body ? "POST" : "GET"), headers, body: opts.body ? JSON.stringify(opts.body) : undefined });
  const text = await resp.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = text; }
  if (!resp.ok) throw new ApiError(resp.status, data);
  return data;
}
// One query at a time: the sandbox allows a key only a few concurrent queries (429 beyond).
let queryChain = Promise.resolve();
function query(sql, limit = 1000) {
  const run = queryChain.then(() => api("/v1/query", { body: { sql, limit } }));
  queryChain = run.catch(() => {});
  return run;
}
const op = (name, kwargs = {}) => api(`/v1/admin/ops/${name}`, { body: kwargs });

function table(columns, rows, numeric = () => false) {
  if (!rows.length) return '<p class="muted">no rows</p>';
  const head = columns.map((c) => `<th>${esc(c)}</th>`).join("");
  const body = rows.map((r) => "<tr>" + r.map((v, i) => `<td class="${numeric(i, v) || typeof v === "number" ? "num" : ""}">${esc(typeof v === "object" && v !== null ? JSON.stringify(v) : v)}</td>`).join("") + "</tr>").join("");
  return `<table><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table>`;
}
const objTable = (objs, cols) => table(cols || Object.keys(objs[0] || {}), objs.map((o) => (cols || Object.keys(objs[0] || {})).map((c) => o[c])));
function panel(id, title) { return `<div class="panel"><h3>${esc(title)}</h3><div id="${id}"><span class="muted">loading…</span></div></div>`; }
async function fill(id, fn) {
  const el = document.getElementById(id);
  try { const html = await fn(el); if (html !== undefined && el) el.innerHTML = html; }
  catch (e) { if (el) el.innerHTML = `<span class="err">${esc(e.message)}</span>`; }
}
function chart(el, title, xs, series) {
  el.innerHTML = "";
  if (!xs.length) { el.innerHTML = '<p class="muted">no data yet</p>'; return; }
  const colors = ["#3b82c4", "#e07b39", "#3aa66a", "#a652c4", "#c43b5a"];
  const opts = { title, width: Math.max(320, el.clientWidth || 600), height: 220, series: [{}, ...series.map((s, i) => ({ label: s.label, stroke: colors[i % colors.length], width: 2 }))] };
  new uPlot(opts, [xs, ...series.map((s) => s.values)], el);
}
const human = (s) => (s == null ? "" : s < 120 ? `${Math.round(s)} s` : s < 7200 ? `${Math.round(s / 60)} min` : s < 172800 ? `${(s / 3600).toFixed(1)} h` : `${(s / 86400).toFixed(1)} d`);
const ts = (iso) => new Date(iso).getTime() / 1000;
const isoDay = (d) => d.toISOString().slice(0, 10);

// ---- sign in ---------------------------------------------------------------------------------------------
function signInView(message) {
  $("#nav").hidden = true; $("#signout").hidden = true; $("#who").textContent = "";
  $("#main").innerHTML = `<form class="panel signin" id="signin"><h3>Sign in with a key</h3>
    <p class="muted">A read key shows the read pages; an admin key also shows quarantine, schemas, sources and keys.</p>
    <input id="key" type="password" autocomplete="off" placeholder="hxr_… or an admin key" aria-label="key">
    <button type="submit">Sign in</button><p class="err" id="signin-error">${esc(message || "")}</p></form>`;
  $("#signin").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    window.__hexlake.ready = false;  // until the key is checked and the first page is shown
    state.key = $("#key").value.trim();
    try {
      await whoami(); sessionStorage.setItem("hexlake.key", state.key);
      if (!location.hash || location.hash === "#/signin") location.hash = "#/overview";  // hashchange routes
      else route();
    }
    catch (e) { state.key = null; $("#signin-error").textContent = e.status === 401 ? "unknown, revoked or expired key" : e.message; window.__hexlake.ready = true; }
  });
  window.__hexlake.ready = true;
}
async function whoami() {
  state.who = await api("/v1/whoami");
  $("#nav").hidden = false; $("#signout").hidden = false;
  $("#who").textContent = `${state.who.name || state.who.key_id} (${state.who.kind})`;
  document.querySelectorAll("#nav a.admin").forEach((a) => { a.hidden = !state.who.is_admin; });
}

// ---- overview --------------------------------------------------------------------------------------------
function parseEvents(prom) {
  const out = { accepted: 0, duplicate: 0, quarantined: 0 };
  for (const line of prom.split("\n")) {
    const m = line.match(/^hexlake_events_total\{([^}]*)\}\s+([0-9.eE+]+)/);
    if (!m) continue;
    const outcome = (m[1].match(/outcome="([^"]*)"/) || [])[1] || "";
    const key = outcome.startsWith("dup") ? "duplicate" : outcome.startsWith("quar") ? "quarantined" : outcome;
    out[key] = (out[key] || 0) + Number(m[2]);
  }
  return out;
}
async function overview(main) {
  main.innerHTML = `<div class="cards" id="cards"><span class="muted">loading…</span></div>
    <div class="grid2"><div>${panel("rate", "Ingest rate (events per minute, live)")}${panel("lag", "Consumer lag")}</div>
    <div>${panel("fresh", "Freshness of the marts")}${state.who.is_admin ? panel("runs", "Last transform runs") + panel("dq", "Data-quality alerts") : ""}</div></div>`;
  const rateEl = $("#rate");
  const renderLive = (snap) => {
    const byMin = {};
    for (const r of snap.events_per_minute) byMin[r.minute] = (byMin[r.minute] || 0) + r.count;
    const mins = Object.keys(byMin).sort();
    const au = snap.active_users || {};
    $("#live-cards") && ($("#live-cards").innerHTML = `<div class="card">active users (5 m)<b>${au["5m"] ?? 0}</b></div><div class="card">active users (60 m)<b>${au["60m"] ?? 0}</b></div><div class="card">geofence events (15 m)<b>${snap.geofence_events.reduce((a, r) => a + r.count, 0)}</b></div>`);
    chart(rateEl, "", mins.map(ts), [{ label: "events/min", values: mins.map((m) => byMin[m]) }]);
  };
  await fill("cards", async () => {
    const prom = await (await fetch("/metrics")).text();
    const c = parseEvents(prom);
    return `<div class="card" title="since the server started">accepted<b>${c.accepted}</b></div><div class="card">duplicates<b>${c.duplicate}</b></div><div class="card">quarantined<b>${c.quarantined}</b></div><span id="live-cards"></span>`;
  });
  startLive(renderLive);
  fill("lag", async () => { const s = await api("/v1/log/status"); return `<p>log head: <b>${s.head_offset}</b></p>` + objTable(s.groups.map((g) => ({ group: g.group, acked: g.last_acked_offset, lag: g.lag, in_flight: g.in_flight, dead_letters: g.dead_letters }))); });
  fill("fresh", async () => { const f = await api("/v1/freshness"); return objTable(f.models.map((m) => ({ model: m.model, rows: m.rows, newest: (m.newest_event_time || "").slice(0, 19), lag: human(m.lag_seconds), behind_raw: human(m.behind_raw_seconds) }))); });
  if (state.who.is_admin) {
    fill("runs", async () => { const h = await api("/v1/admin/transform/history"); const runs = (h.runs || []).slice(0, 8); return runs.length ? objTable(runs.map((r) => ({ model: r.model, started: (r.started_at || "").slice(0, 19), status: r.status, trigger: r.trigger, error: r.error || "" }))) : '<p class="muted">no runs yet</p>'; });
    fill("dq", async () => { const q = await api("/v1/quality"); const alerts = q.alerts || []; return `<p>checked ${esc((q.checked_at || "never").slice(0, 19))}: <b>${alerts.length ? alerts.length + " alert(s)" : "all monitors OK"}</b></p>` + (alerts.length ? objTable(alerts.map((a) => ({ monitor: a.monitor ?? a.kind ?? a.name, message: a.message ?? JSON.stringify(a) }))) : ""); });
  }
}

// The live channel: GET /v1/live is Server-Sent Events; read with fetch so the key travels in a header.
async function startLive(onSnap) {
  stopLive();
  const ctrl = new AbortController();
  state.live = ctrl;
  try {
    const resp = await fetch("/v1/live?interval_s=2", { headers: { Authorization: `Bearer ${state.key}` }, signal: ctrl.signal });
    if (!resp.ok) return;
    const reader = resp.body.getReader(); const dec = new TextDecoder(); let buf = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += dec.decode(value, { stream: true });
      let i;
      while ((i = buf.indexOf("\n\n")) >= 0) {
        const msg = buf.slice(0, i); buf = buf.slice(i + 2);
        const data = msg.split("\n").filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)).join("\n");
        if (data) { const snap = JSON.parse(data); window.__hexlake.live = snap; onSnap(snap); }
      }
    }
  } catch (e) { /* aborted when leaving the page */ }
}
function stopLive() { if (state.live) state.live.abort(); state.live = null; }

// ---- metrics ---------------------------------------------------------------------------------------------
async function metrics(main) {
  const to = new Date(); const from = new Date(Date.now() - 90 * 86400e3);
  main.innerHTML = `<div class="toolbar">from <input type="date" id="from" value="${isoDay(from)}"> to <input type="date" id="to" value="${isoDay(to)}">
    grain <select id="grain"><option>day</option><option>week</option></select> <button id="apply">Apply</button></div>
    <div class="cards" id="mcards"></div>
    <div class="grid2"><div>${panel("dau", "DAU / WAU / MAU")}${panel("stick", "Stickiness (DAU / MAU)")}${panel("agg", "Events by type")}</div>
    <div>${panel("life", "Lifecycle")}${panel("funnel", "Auth funnel")}${panel("cohorts", "Signup cohorts: weekly retention")}</div></div>`;
  const load = () => {
    const f = $("#from").value, t = $("#to").value, grain = $("#grain").value;
    fill("dau", async (el) => {
      const r = await api(`/v1/metrics/active-users?grain=day&from=${f}&to=${t}`);
      const s = r.series, xs = s.map((p) => ts(p.period_start));
      const last = s[s.length - 1] || {};
      $("#mcards").innerHTML = ["dau", "wau", "mau"].map((k) => `<div class="card">${k.toUpperCase()}<b>${last[k] ?? 0}</b></div>`).join("") + `<div class="card">stickiness<b>${last.stickiness != null ? (100 * last.stickiness).toFixed(1) + "%" : "–"}</b></div>`;
      chart(el, "", xs, ["dau", "wau", "mau"].map((k) => ({ label: k, values: s.map((p) => p[k]) })));
      chart($("#stick"), "", xs, [{ label: "stickiness", values: s.map((p) => p.stickiness) }]);
    });
    fill("agg", async (el) => {
      const r = await query(`SELECT CAST(period_start AS DATE) AS day, event_type, SUM(event_count) AS events FROM marts.event_aggregations WHERE period_type = '${grain}' AND period_start >= DATE '${f}' AND period_start < DATE '${t}' + INTERVAL 1 DAY GROUP BY 1, 2 ORDER BY 1`, 5000);
      const types = [...new Set(r.rows.map((x) => x[1]))].slice(0, 5); const days = [...new Set(r.rows.map((x) => x[0]))];
      const val = {}; r.rows.forEach((x) => { val[x[0] + "|" + x[1]] = x[2]; });
      chart(el, "", days.map((d) => ts(d)), types.map((ty) => ({ label: ty, values: days.map((d) => val[d + "|" + ty] || 0) })));
    });
    fill("life", async () => {
      const r = await query("SELECT lifecycle_stage, COUNT(*) AS users FROM marts.marts_core_dim_users GROUP BY 1 ORDER BY 2 DESC");
      const max = Math.max(1, ...r.rows.map((x) => x[1]));
      return `<table>${r.rows.map((x) => `<tr><td>${esc(x[0])}</td><td class="num">${x[1]}</td><td><span class="bar" style="width:${(200 * x[1]) / max}px"></span></td></tr>`).join("")}</table>`;
    });
    fill("funnel", async () => {
      const r = await query(`SELECT event_type, COUNT(*) AS events, COUNT(DISTINCT user_id) AS users FROM marts.marts_core_auth_events WHERE CAST(ts AS DATE) BETWEEN DATE '${f}' AND DATE '${t}' GROUP BY 1 ORDER BY 2 DESC`);
      return table(r.columns, r.rows);
    });
    fill("cohorts", async () => {
      const r = await query(`WITH u AS (SELECT user_id, CAST(date_trunc('week', created_at) AS DATE) AS cohort FROM marts.marts_core_dim_users WHERE CAST(created_at AS DATE) BETWEEN DATE '${f}' AND DATE '${t}'),
        a AS (SELECT DISTINCT user_id, CAST(date_trunc('week', activity_date) AS DATE) AS wk FROM marts.marts_core_user_activity_daily)
        SELECT u.cohort, CAST((a.wk - u.cohort) / 7 AS INTEGER) AS week, COUNT(DISTINCT u.user_id) AS users FROM u JOIN a USING (user_id) WHERE a.wk >= u.cohort GROUP BY 1, 2 ORDER BY 1, 2`, 5000);
      const cohorts = [...new Set(r.rows.map((x) => x[0]))]; const weeks = Math.min(12, 1 + Math.max(0, ...r.rows.map((x) => x[1])));
      const cell = {}; r.rows.forEach((x) => { cell[x[0] + "|" + x[1]] = x[2]; });
      const head = "<tr><th>cohort</th><th>users</th>" + Array.from({ length: weeks }, (_, w) => `<th>w${w}</th>`).join("") + "</tr>";
      const body = cohorts.map((c) => { const size = cell[c + "|0"] || 0; return `<tr><td>${esc(c)}</td><td class="num">${size}</td>` + Array.from({ length: weeks }, (_, w) => { const p = size ? (cell[c + "|" + w] || 0) / size : 0; return `<td style="background:rgba(59,130,196,${p.toFixed(2)})">${size ? Math.round(100 * p) + "%" : ""}</td>`; }).join("") + "</tr>"; }).join("");
      return cohorts.length ? `<table class="heat">${head}${body}</table>` : '<p class="muted">no signups in range</p>';
    });
  };
  $("#apply").addEventListener("click", load);
  load();
}

// ---- map -------------------------------------------------------------------------------------------------
// H3 resolution for a zoom: a hexagon spans roughly 20-60 px, so cells stay visible and k-suppression rare
const resForZoom = (z) => Math.max(3, Math.min(9, Math.floor(z / 2) + 1));
async function mapView(main) {
  const admin = state.who.is_admin;
  main.innerHTML = `<div class="toolbar"><label><input type="checkbox" id="l-heat" checked> heatmap</label>
    <label><input type="checkbox" id="l-hot" checked> hotspots</label><label><input type="checkbox" id="l-reg"> regions</label>
    <label><input type="checkbox" id="l-places" checked> places</label><label><input type="checkbox" id="l-fences" checked> geofences</label>
    <span id="heatinfo" class="muted"></span><span id="liveinfo" class="muted"></span>
    ${admin ? `<span>| geofence: name <input id="gf-name" size="8" value="fence"> radius m <input id="gf-radius" size="5" value="300"> <button id="gf-draw">Draw (click the map)</button></span>` : ""}</div>
    <div id="map"></div><div class="panel" id="fences"></div><div class="panel" id="nearby"><span class="muted">click the map for nearby places</span></div>`;
  const map = L.map("map", { preferCanvas: true, worldCopyJump: true, zoomSnap: 1 });
  map.attributionControl.setPrefix("Leaflet · borders: Natural Earth (world-atlas)");
  window.__hexlake.map = map;
  const renderer = L.canvas({ padding: 0.2 });
  const layers = { heat: L.layerGroup().addTo(map), hot: L.layerGroup().addTo(map), reg: L.layerGroup(), places: L.layerGroup().addTo(map), fences: L.layerGroup().addTo(map), live: L.layerGroup().addTo(map) };
  for (const [id, key] of [["l-heat", "heat"], ["l-hot", "hot"], ["l-reg", "reg"], ["l-places", "places"], ["l-fences", "fences"]]) {
    $("#" + id).addEventListener("change", (e) => (e.target.checked ? layers[key].addTo(map) : layers[key].remove()));
  }
  const world = await (await fetch("/console/static/vendor/world-atlas/countries-110m.json")).json();
  L.geoJSON(topojson.feature(world, world.objects.countries), { renderer, style: { color: "#8aa0b6", weight: 0.8, fillColor: "#f4f1ea", fillOpacity: 1 }, interactive: false }).addTo(map);
  map.setView([20, 0], 2);
  const places = (await api("/v1/places/popular?limit=200").catch(() => ({ places: [] }))).places;
  const placeById = {};
  const maxScore = Math.max(1e-9, ...places.map((p) => p.score || 0));
  for (const p of places) {
    placeById[p.place_id] = p;
    if (p.lat == null) continue;
    L.circleMarker([p.lat, p.lng], { renderer, radius: 3 + 9 * Math.sqrt((p.score || 0) / maxScore), color: "#7a2e8c", weight: 1, fillOpacity: 0.6 })
      .bindTooltip(`${esc(p.name)} · ${p.distinct_users} people · score ${(+p.score || 0).toFixed(2)}`).addTo(layers.places);
  }
  // open on the busiest H3 r6 cell (the heatmap answers busiest first), else on the most popular place
  const since = new Date(Date.now() - 365 * 86400e3).toISOString();
  const busiest = (await api(`/v1/heatmap?res=6&limit=1&from=${encodeURIComponent(since)}`).catch(() => null))?.features?.[0];
  const top = places.find((p) => p.lat != null);
  if (busiest) {
    const ring = busiest.geometry.coordinates[0].slice(0, -1);
    map.setView([ring.reduce((a, c) => a + c[1], 0) / ring.length, ring.reduce((a, c) => a + c[0], 0) / ring.length], 10);
  } else if (top) map.setView([top.lat, top.lng], 10);
  let heatSeq = 0;
  const drawHeat = async () => {
    const seq = ++heatSeq; const res = resForZoom(map.getZoom());
    try {
      const t0 = performance.now();
      const fc = await api(`/v1/heatmap?res=${res}&limit=20000&from=${encodeURIComponent(since)}`);
      const t1 = performance.now();
      if (seq !== heatSeq) return;
      const layer = drawCells(layers.heat, fc.features);
      const t2 = performance.now();
      window.__hexlake.heat = { res, cells: fc.features.length, visible: layer.drawn, fetchMs: t1 - t0, drawMs: t2 - t1 };
      $("#heatinfo").textContent = `H3 r${res}: ${fc.features.length} cells`;
    } catch (e) { $("#heatinfo").textContent = `heatmap: ${e.message}`; }
  };
  map.on("zoomend", drawHeat);
  await drawHeat();
  api("/v1/hotspots").then((h) => (h.hotspots || []).forEach((s) => { const ll = latlng(s); if (ll) L.circle(ll, { renderer, radius: s.radius_m || 300, color: "#d9480f", weight: 2, fill: false }).bindTooltip(`hotspot: ${s.points ?? s.n_points ?? s.size ?? ""} pings`).addTo(layers.hot); })).catch(() => {});
  api("/v1/regions").then((r) => (r.regions || []).forEach((s) => { const ll = latlng(s); if (ll) L.circleMarker(ll, { renderer, radius: 6, color: "#2b8a3e" }).bindTooltip(`region ${esc(s.region_id ?? s.label ?? "")} ${esc(s.city ?? "")}`).addTo(layers.reg); })).catch(() => {});
  const loadFences = () => fill("fences", async () => {
    const g = await api("/v1/geofences"); layers.fences.clearLayers();
    for (const f of g.geofences) {
      if (f.lat != null) L.circle([f.lat, f.lng], { renderer, radius: f.radius_m, color: "#1971c2", weight: 2, fillOpacity: 0.08 }).bindTooltip(esc(f.name)).addTo(layers.fences);
      else if (f.geometry) L.geoJSON(f.geometry, { renderer, style: { color: "#1971c2", weight: 2, fillOpacity: 0.08 } }).addTo(layers.fences);
    }
    const rows = g.geofences.map((f) => `<tr data-id="${esc(f.id)}"><td>${esc(f.name)}</td><td>${esc(f.id)}</td><td class="num">${f.radius_m ?? "polygon"}</td>${admin ? `<td><button class="gf-edit">Set radius</button> <button class="gf-del">Delete</button></td>` : ""}</tr>`).join("");
    return `<h3>Geofences (${g.count})</h3>` + (g.count ? `<table><tr><th>name</th><th>id</th><th>radius m</th>${admin ? "<th></th>" : ""}</tr>${rows}</table>` : '<p class="muted">none</p>');
  });
  await loadFences();
  let drawing = false;
  if (admin) {
    $("#gf-draw").addEventListener("click", () => { drawing = true; $("#map").style.cursor = "crosshair"; });
    $("#fences").addEventListener("click", async (e) => {
      const tr = e.target.closest("tr[data-id]"); if (!tr) return;
      const id = tr.dataset.id;
      if (e.target.classList.contains("gf-del")) { await api(`/v1/admin/geofences/${encodeURIComponent(id)}`, { method: "DELETE" }); loadFences(); }
      if (e.target.classList.contains("gf-edit")) {  // edit = replace (fence ids are immutable)
        const f = await api(`/v1/geofences/${encodeURIComponent(id)}`);
        await api("/v1/admin/geofences", { body: { name: f.name, lat: f.lat, lng: f.lng, radius_m: Number($("#gf-radius").value), metadata: f.metadata || {} } });
        await api(`/v1/admin/geofences/${encodeURIComponent(id)}`, { method: "DELETE" }); loadFences();
      }
    });
  }
  map.on("click", async (e) => {
    const { lat, lng } = e.latlng;
    if (drawing) {
      drawing = false; $("#map").style.cursor = "";
      try { const f = await api("/v1/admin/geofences", { body: { name: $("#gf-name").value, lat, lng, radius_m: Number($("#gf-radius").value) } }); window.__hexlake.lastFence = f; }
      catch (err) { $("#fences").insertAdjacentHTML("afterbegin", `<p class="err">${esc(err.message)}</p>`); }
      return loadFences();
    }
    fill("nearby", async () => {
      const r = await api(`/v1/places/nearby?lat=${lat}&lng=${lng}&radius_m=5000&limit=8`);
      const list = r.places || r.results || [];
      return `<h3>Near ${lat.toFixed(4)}, ${lng.toFixed(4)}</h3>` + (list.length ? objTable(list.map((p) => ({ name: p.name, category: p.category, distance_m: Math.round(p.distance_m ?? 0) }))) : '<p class="muted">no places within 5 km</p>');
    });
  });
  startLive((snap) => {
    if (!map._loaded) return;
    layers.live.clearLayers();
    for (const p of snap.places || []) { const pl = placeById[p.place_id ?? p.id ?? p.name]; if (pl && pl.lat != null) L.circleMarker([pl.lat, pl.lng], { renderer, radius: 14, color: "#e8590c", weight: 3, fill: false }).bindTooltip(`${p.count ?? p.events} events now`).addTo(layers.live); }
    $("#liveinfo").textContent = ` | live: ${(snap.active_users || {})["5m"] ?? 0} active (5 m), groups under k=${snap.k} hidden`;
  });
}
const latlng = (s) => { const lat = s.lat ?? s.center_lat ?? s.centroid_lat, lng = s.lng ?? s.center_lng ?? s.centroid_lng; return lat == null ? null : [lat, lng]; };
// H3 cells on one canvas of their own, one fill per colour: 20k hexagons draw in tens of milliseconds,
// where a Leaflet layer per polygon takes about a second.
const mercX = (lng) => (lng + 180) / 360;  // Web Mercator in [0, 1]; times 256 * 2^zoom = Leaflet's pixels
const mercY = (lat) => { const s = Math.sin((Math.max(-85.0511, Math.min(85.0511, lat)) * Math.PI) / 180); return 0.5 - Math.log((1 + s) / (1 - s)) / (4 * Math.PI); };
const CellLayer = L.Layer.extend({
  initialize(features) {
    const top = Math.log1p(Math.max(1, ...features.map((f) => f.properties.events)));
    this._n = features.length;
    this._start = new Uint32Array(features.length + 1);
    this._shade = new Uint8Array(features.length);
    const xs = [], ys = [];
    features.forEach((f, i) => {
      for (const [lng, lat] of f.geometry.coordinates[0]) { xs.push(mercX(lng)); ys.push(mercY(lat)); }
      this._start[i + 1] = xs.length;
      this._shade[i] = Math.round((4 * Math.log1p(f.properties.events)) / top);
    });
    this._x = Float64Array.from(xs); this._y = Float64Array.from(ys);
  },
  onAdd(map) {
    this._canvas = L.DomUtil.create("canvas", "hexlake-cells leaflet-zoom-hide");
    map.getPanes().overlayPane.appendChild(this._canvas);
    map.on("moveend zoomend resize", this._draw, this);
    this._draw();
  },
  onRemove(map) { this._canvas.remove(); map.off("moveend zoomend resize", this._draw, this); },
  _draw() {
    const map = this._map, size = map.getSize(), c = this._canvas;
    L.DomUtil.setPosition(c, map.containerPointToLayerPoint([0, 0]));
    c.width = size.x; c.height = size.y;
    const scale = 256 * 2 ** map.getZoom(), origin = map.getPixelBounds().min;
    const ctx = c.getContext("2d");
    ctx.globalAlpha = 0.7;
    // Paths of at most BATCH cells per colour: Skia fills many small paths much faster than one huge one.
    const BATCH = 64, paths = CELL_COLORS.map(() => new Path2D()), counts = new Uint16Array(CELL_COLORS.length);
    const flush = (k) => { ctx.fillStyle = CELL_COLORS[k]; ctx.fill(paths[k]); paths[k] = new Path2D(); counts[k] = 0; };
    const { _x: x, _y: y, _start: start } = this;
    let drawn = 0;
    for (let i = 0; i < this._n; i++) {
      const a = start[i], b = start[i + 1], px0 = x[a] * scale - origin.x, py0 = y[a] * scale - origin.y;
      if (px0 < -200 || py0 < -200 || px0 > size.x + 200 || py0 > size.y + 200) continue;  // off screen
      const k = this._shade[i], path = paths[k];
      path.moveTo(px0, py0);
      for (let j = a + 1; j < b; j++) path.lineTo(x[j] * scale - origin.x, y[j] * scale - origin.y);
      path.closePath(); drawn++;
      if (++counts[k] === BATCH) flush(k);
    }
    counts.forEach((n, k) => n && flush(k));
    this.drawn = drawn;
  },
});
const CELL_COLORS = ["#fee8c8", "#fdbb84", "#fc8d59", "#e34a33", "#b30000"];
function drawCells(group, features) {
  group.clearLayers();
  const layer = new CellLayer(features);
  layer.addTo(group);
  return layer;
}
window.__hexlake.drawCells = drawCells;

// ---- SQL -------------------------------------------------------------------------------------------------
function sqlView(main) {
  main.innerHTML = `<div class="panel"><h3>Read-only SQL (the same sandbox, limits and audit as POST /v1/query)</h3>
    <textarea id="sql" rows="6">SELECT event_type, COUNT(*) AS events, COUNT(DISTINCT user_key) AS users FROM raw_events GROUP BY 1 ORDER BY 2 DESC</textarea>
    <div class="toolbar"><button id="run">Run</button> limit <input id="limit" size="6" value="1000"> <button id="csv" disabled>Download CSV</button> <span id="sqlinfo" class="muted"></span></div>
    <div id="result"></div></div>`;
  let last = null;
  $("#run").addEventListener("click", async () => {
    $("#result").innerHTML = '<span class="muted">running…</span>'; $("#csv").disabled = true;
    try {
      const t0 = performance.now(); last = await query($("#sql").value, Number($("#limit").value) || 1000);
      $("#sqlinfo").textContent = `${last.rows.length} rows${last.truncated ? " (truncated)" : ""} in ${Math.round(performance.now() - t0)} ms`;
      $("#result").innerHTML = table(last.columns, last.rows); $("#csv").disabled = false;
    } catch (e) { $("#result").innerHTML = `<p class="err" id="sql-error">${esc(e.message)}</p>`; $("#sqlinfo").textContent = ""; }
  });
  $("#csv").addEventListener("click", () => {
    const cell = (v) => { const s = v == null ? "" : typeof v === "object" ? JSON.stringify(v) : String(v); return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s; };
    const csv = [last.columns, ...last.rows].map((r) => r.map(cell).join(",")).join("\n") + "\n";
    const a = document.createElement("a"); a.href = URL.createObjectURL(new Blob([csv], { type: "text/csv" })); a.download = "query.csv"; a.click();
  });
}

// ---- imports ---------------------------------------------------------------------------------------------
function importsView(main) {
  main.innerHTML = panel("imports", "Imports (refreshes every 2 s)");
  const load = () => fill("imports", async () => {
    const r = await api("/v1/imports");
    if (!r.imports.length) return '<p class="muted">no imports yet (<code>hexlake import takeout …</code> or the upload API)</p>';
    const rows = r.imports.map((i) => `<tr><td>${esc(i.id)}</td><td>${esc(i.kind ?? "")}</td><td>${esc(i.status)}</td>
      <td><span class="bar" style="width:${Math.round(120 * i.progress)}px"></span> ${Math.round(100 * i.progress)}%</td>
      <td class="num">${i.files_done}/${i.files_total}</td><td class="num">${i.records}</td><td class="num">${i.accepted}</td>
      <td class="num">${i.duplicates}</td><td class="num">${i.quarantined}</td><td>${esc((i.created_at || "").slice(0, 19))}</td><td>${esc(i.message ?? "")}</td></tr>`).join("");
    return `<table><tr><th>import</th><th>kind</th><th>status</th><th>progress</th><th>files</th><th>records</th><th>accepted</th><th>duplicates</th><th>quarantined</th><th>created</th><th>message</th></tr>${rows}</table>`;
  });
  load(); state.timers.push(setInterval(load, 2000));
}

// ---- quarantine (admin) ----------------------------------------------------------------------------------
function quarantineView(main) {
  main.innerHTML = `<div class="toolbar">status <select id="q-status"><option>open</option><option>replayed</option><option>discarded</option></select>
    reason/event type <input id="q-type" size="12"> source <input id="q-source" size="10"> <button id="q-load">Filter</button></div>
    <div class="grid2"><div>${panel("q-list", "Quarantined events")}</div><div class="panel" id="q-item"><span class="muted">select an event</span></div></div>`;
  const load = () => fill("q-list", async () => {
    const p = new URLSearchParams({ status: $("#q-status").value, limit: "200" });
    if ($("#q-type").value) p.set("event_type", $("#q-type").value);
    if ($("#q-source").value) p.set("source", $("#q-source").value);
    const r = await api(`/v1/quarantine?${p}`); const items = r.items || [];
    return items.length ? `<table><tr><th>id</th><th>source</th><th>event type</th><th>reason</th></tr>` + items.map((q) => `<tr data-id="${q.id}" style="cursor:pointer"><td>${q.id}</td><td>${esc(q.source)}</td><td>${esc(q.event_type)}</td><td>${esc(reason(q))}</td></tr>`).join("") + "</table>" : '<p class="muted">nothing quarantined</p>';
  });
  $("#q-load").addEventListener("click", load);
  $("#q-list").addEventListener("click", (e) => { const tr = e.target.closest("tr[data-id]"); if (tr) showQ(Number(tr.dataset.id), load); });
  load();
}
const reason = (q) => ((q.failure || {}).messages || []).map((m) => m.message).join("; ");
async function showQ(id, reload) {
  await fill("q-item", async () => {
    const q = await api(`/v1/quarantine/${id}`);
    return `<h3>#${q.id} · ${esc(q.source)} · ${esc(q.status)}</h3><p class="err">${esc(reason(q))}</p>
      <textarea id="q-payload" rows="14">${esc(JSON.stringify(q.payload, null, 2))}</textarea>
      <div class="toolbar"><button id="q-fix">Fix &amp; replay</button> <button id="q-discard">Discard</button> <span id="q-result"></span></div>`;
  });
  const out = (html) => { $("#q-result").innerHTML = html; };
  $("#q-fix")?.addEventListener("click", async () => {
    let payload;
    try { payload = JSON.parse($("#q-payload").value); } catch (e) { return out(`<span class="err">not JSON: ${esc(e.message)}</span>`); }
    try {
      await op("quarantine_fix", { id, payload });
      const r = await op("quarantine_replay", { ids: [id] });
      out(r.replayed.includes(id) ? '<b id="q-replayed">replayed ✓</b>' : `<span class="err">still failing: ${esc(JSON.stringify(r.still_failing))}</span>`);
      reload();
    } catch (e) { out(`<span class="err">${esc(e.message)}</span>`); }
  });
  $("#q-discard")?.addEventListener("click", async () => {
    try { await api(`/v1/quarantine/${id}/discard`, { method: "POST" }); out("<b>discarded</b>"); reload(); } catch (e) { out(`<span class="err">${esc(e.message)}</span>`); }
  });
}

// ---- schemas, sources, keys (admin) ----------------------------------------------------------------------
function adminView(main) {
  main.innerHTML = `<div class="grid2"><div>${panel("sources", "Sources")}${panel("keys", "Keys")}</div><div>${panel("schemas", "Event schemas")}<div class="panel" id="schema"></div></div></div>`;
  fill("sources", async () => { const s = await op("sources_list"); return s.length ? objTable(s.map((x) => ({ name: x.name, unknown_events: x.unknown_events, status: x.revoked_at ? "revoked" : "active" }))) : '<p class="muted">none</p>'; });
  fill("keys", async () => { const k = await op("keys_list"); return objTable(k.map((x) => ({ id: x.key_id ?? x.id, kind: x.kind, name: x.name, source: x.source ?? "", apis: x.apis ? x.apis.join(",") : "all" }))); });
  fill("schemas", async () => {
    const s = await api("/v1/schemas");
    return `<table><tr><th>event type</th><th>version</th></tr>` + s.map((x) => `<tr><td><a href="#/admin" data-type="${esc(x.event_type)}">${esc(x.event_type)}</a></td><td class="num">${esc(x.version ?? x.latest_version ?? "")}</td></tr>`).join("") + "</table>";
  });
  $("#schemas").addEventListener("click", (e) => { const t = e.target.dataset.type; if (t) { e.preventDefault(); fill("schema", async () => `<h3>${esc(t)}</h3><pre>${esc(JSON.stringify(await api(`/v1/schemas/${encodeURIComponent(t)}`), null, 2))}</pre>`); } });
}

// ---- user inspector --------------------------------------------------------------------------------------
function usersView(main) {
  main.innerHTML = `<div class="toolbar">user id <input id="u-id" size="16" value="user-00001"> <button id="u-go">Inspect</button>
    <span class="muted">the id is hashed by the server, as at the gate</span></div>
    <div class="grid2"><div class="panel" id="u-feats"></div><div class="panel" id="u-recs"></div></div>`;
  const go = () => {
    const id = encodeURIComponent($("#u-id").value.trim());
    fill("u-feats", async () => {
      const f = (await api(`/v1/features/users/${id}`)).features;
      if (!f) return '<h3>Online features</h3><p class="muted">none for this user (no recent events)</p>';
      const flat = Object.entries(f).map(([k, v]) => [k, typeof v === "object" && v !== null ? JSON.stringify(v) : v]);
      return "<h3>Online features</h3>" + table(["feature", "value"], flat);
    });
    fill("u-recs", async () => {
      const r = await api(`/v1/recommend?user_id=${id}&k=10`);
      const model = r.model_version ?? r.model ?? "popularity";
      return `<h3>Recommendations <span class="muted">(${esc(model)})</span></h3>` + (r.items.length ? objTable(r.items.map((i) => ({ place: i.name ?? i.place_id, category: i.category ?? "", score: i.score != null ? Number(i.score).toPrecision(3) : "", why: (i.reasons || []).join(", ") }))) : '<p class="muted">nothing to recommend yet</p>');
    });
  };
  $("#u-go").addEventListener("click", go);
  go();
}

// ---- router ----------------------------------------------------------------------------------------------
const VIEWS = { overview, metrics, map: mapView, users: usersView, sql: sqlView, imports: importsView, quarantine: quarantineView, admin: adminView };
const ADMIN_VIEWS = new Set(["quarantine", "admin", "imports"]);  // imports: admins and the source's write key only
let routeSeq = 0;
async function route() {
  stopLive(); state.timers.forEach(clearInterval); state.timers = [];
  const seq = ++routeSeq;  // only the latest navigation may say the page is ready
  window.__hexlake.ready = false;
  if (!state.key) return signInView();
  if (!state.who) { try { await whoami(); } catch (e) { sessionStorage.removeItem("hexlake.key"); state.key = null; return signInView(e.status === 401 ? "the saved key no longer works" : e.message); } }
  const name = (location.hash.replace(/^#\//, "") || "overview").split("?")[0];
  document.querySelectorAll("#nav a").forEach((a) => a.classList.toggle("active", a.getAttribute("href") === `#/${name}`));
  const main = $("#main");
  if (!VIEWS[name]) { main.innerHTML = `<p class="err">no page ${esc(name)}</p>`; window.__hexlake.ready = true; return; }
  if (ADMIN_VIEWS.has(name) && !state.who.is_admin) { main.innerHTML = '<p class="err" id="forbidden">This page needs an admin key.</p>'; window.__hexlake.ready = true; return; }
  try { await VIEWS[name](main); } catch (e) { main.insertAdjacentHTML("afterbegin", `<p class="err">${esc(e.message)}</p>`); }
  if (seq === routeSeq) window.__hexlake.ready = true;
}
$("#signout").addEventListener("click", () => { sessionStorage.removeItem("hexlake.key"); state.key = null; state.who = null; stopLive(); location.hash = "#/signin"; signInView(); });
window.addEventListener("hashchange", route);
route();
