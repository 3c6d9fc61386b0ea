// runner dashboard: one plain script, no framework, no network beyond this server.
// Routes (location.hash): #/ fleet, #/agent/NAME, #/runs, #/run/ID, #/correlation.
// Live updates come from EventSource('/api/events'); controls send the token the user gives
// (kept in localStorage) as `Authorization: Bearer`. The page never shows a secret.
"use strict";

(function () {
  // ---------------------------------------------------------------- theme
  const THEME_KEY = "runner.theme";
  const TOKEN_KEY = "runner.token";
  const store = {
    get(k) { try { return localStorage.getItem(k); } catch (e) { return null; } },
    set(k, v) { try { localStorage.setItem(k, v); } catch (e) { /* private mode */ } },
    del(k) { try { localStorage.removeItem(k); } catch (e) { /* private mode */ } },
  };
  function applyTheme(t) {
    document.documentElement.dataset.theme = t;
    const b = document.getElementById("theme-toggle");
    if (b) b.textContent = t === "dark" ? "Light" : "Dark";
  }
  applyTheme(store.get(THEME_KEY) === "light" ? "light" : "dark");

  // ---------------------------------------------------------------- helpers
  const $ = (sel, root) => (root || document).querySelector(sel);
  const esc = (s) => String(s == null ? "" : s).replace(/[&<>"']/g, (c) =>
    ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));

  // Round a decimal string to `dp` places (half away from zero) without binary floating point.
  function roundDec(s, dp) {
    s = String(s == null ? "" : s).trim();
    const m = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/.exec(s);
    if (!m || (m[2] === "" && !m[3])) return null;
    if (m[4]) return roundDec(Number(s).toFixed(dp + 2), dp); // exponent form: rare, tolerate
    const neg = m[1] === "-";
    const frac = (m[3] || "").padEnd(dp + 1, "0");
    let units = BigInt((m[2] || "0") + frac.slice(0, dp));
    if (Number(frac[dp]) >= 5) units += 1n;
    let digits = units.toString().padStart(dp + 1, "0");
    const int = digits.slice(0, digits.length - dp);
    const dec = dp ? digits.slice(digits.length - dp) : "";
    const zero = units === 0n;
    return { neg: neg && !zero, int, dec };
  }
  const group = (int) => int.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  // $1,234.50 / -$12.00 (money is a decimal string from the server).
  function money(s) {
    if (s == null || s === "") return "—";
    const r = roundDec(s, 2);
    if (!r) return esc(s);
    return (r.neg ? "-" : "") + "$" + group(r.int) + "." + r.dec;
  }
  function price(s) {
    if (s == null || s === "") return "—";
    const r = roundDec(s, 2);
    return r ? (r.neg ? "-" : "") + group(r.int) + "." + r.dec : esc(s);
  }
  function qty(s) {
    if (s == null || s === "") return "—";
    const t = String(s);
    return /^-?\d+(\.\d+)?$/.test(t) ? t.replace(/(\.\d*?)0+$/, "$1").replace(/\.$/, "") : esc(t);
  }
  const sign = (s) => { const n = Number(s); return n > 0 ? "pos" : n < 0 ? "neg" : ""; };
  const moneyCell = (s) => `<td class="num ${sign(s)}">${money(s)}</td>`;
  // Times: the server sends RFC 3339; show them in New York time, as the reports do.
  const NY = (() => {
    try {
      return new Intl.DateTimeFormat("en-CA", { timeZone: "America/New_York", year: "numeric", month: "2-digit",
        day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });
    } catch (e) { return null; }
  })();
  function when(s) {
    if (!s) return "—";
    const d = new Date(s);
    if (isNaN(d)) return esc(s);
    if (!NY) return d.toISOString().replace("T", " ").slice(0, 19);
    const p = {};
    for (const x of NY.formatToParts(d)) p[x.type] = x.value;
    return `${p.year}-${p.month}-${p.day} ${p.hour === "24" ? "00" : p.hour}:${p.minute}:${p.second}`;
  }
  const ms = (s) => { const t = Date.parse(s); return isNaN(t) ? 0 : t; };
  const badge = (cls, text) => `<span class="badge ${cls}">${esc(text)}</span>`;
  const stateBadge = (s) => badge("state-" + esc(s || "unknown"), s || "unknown");
  const healthBadge = (h) => badge(h === "ok" ? "health-ok" : "health-bad", h || "?");
  function position(p) {
    if (!p || Number(p.qty) === 0) return `<span class="muted">flat</span>`;
    return `${qty(p.qty)} @ ${price(p.avg_price)}`;
  }

  // ---------------------------------------------------------------- HTTP
  class HttpError extends Error {
    constructor(status, message) { super(message); this.status = status; }
  }
  async function getJSON(path) {
    const r = await fetch(path, { headers: { accept: "application/json" } });
    const body = await r.json().catch(() => null);
    if (!r.ok) throw new HttpError(r.status, (body && body.error) || `${r.status} ${r.statusText}`);
    return body;
  }
  // A control: POST with the token; asks for the token first, and again after a 401.
  async function control(path, body) {
    for (let attempt = 0; attempt < 3; attempt++) {
      let token = store.get(TOKEN_KEY);
      if (!token) {
        token = await askToken(attempt > 0);
        if (!token) throw new HttpError(0, "no control token given");
        store.set(TOKEN_KEY, token);
      }
      const r = await fetch(path, {
        method: "POST",
        headers: { authorization: "Bearer " + token, "content-type": "application/json", accept: "application/json" },
        body: body === undefined ? "{}" : JSON.stringify(body),
      });
      const data = await r.json().catch(() => null);
      if (r.status === 401) { store.del(TOKEN_KEY); continue; }
      if (!r.ok) throw new HttpError(r.status, (data && data.error) || `${r.status} ${r.statusText}`);
      return data;
    }
    throw new HttpError(401, "the control token was refused");
  }
  function askToken(again) {
    const d = $("#token-dialog");
    $("#token-text").textContent = again
      ? "That token was refused. Enter the control token (printed by runner up)."
      : "Controls need the control token (printed by runner up).";
    $("#token-input").value = "";
    return new Promise((resolve) => {
      d.addEventListener("close", () => {
        const v = $("#token-input").value.trim();
        $("#token-input").value = "";
        resolve(d.returnValue === "yes" && v ? v : null);
      }, { once: true });
      d.showModal();
      $("#token-input").focus();
    });
  }
  function confirmBox(text) {
    const d = $("#confirm-dialog");
    $("#confirm-text").textContent = text;
    return new Promise((resolve) => {
      d.addEventListener("close", () => resolve(d.returnValue === "yes"), { once: true });
      d.returnValue = "";
      d.showModal();
      $("#confirm-no").focus();
    });
  }

  // ---------------------------------------------------------------- state
  const S = {
    fleet: null,
    agents: new Map(),     // name -> AgentView
    order: [],             // agent names in fleet order
    spark: new Map(),      // name -> [equity numbers]
    sparkSeeded: new Set(),
    route: { view: "fleet" },
    run: null,             // RunView of the agent/run on screen
    tables: { orders: [], fills: [], denials: [], controls: [] },
    params: [],
    conn: "connecting",
  };
  const SPARK_POINTS = 120;

  function setAgent(v) {
    if (!v || !v.name) return;
    if (!S.agents.has(v.name)) S.order.push(v.name);
    S.agents.set(v.name, v);
    const s = S.spark.get(v.name) || [];
    const e = Number(v.equity);
    if (!isNaN(e) && s[s.length - 1] !== e) s.push(e);
    while (s.length > SPARK_POINTS) s.shift();
    S.spark.set(v.name, s);
  }
  function fleetSums() {
    const f = Object.assign({}, S.fleet || {});
    let today = 0n, total = 0n, ok = true;
    const cents = (x) => { const r = roundDec(x, 2); if (!r) { ok = false; return 0n; } const c = BigInt(r.int + r.dec); return r.neg ? -c : c; };
    for (const a of S.agents.values()) { today += cents(a.pnl_today); total += cents(a.pnl_total); }
    const str = (c) => { const n = c < 0n; const a = (n ? -c : c).toString().padStart(3, "0"); return (n ? "-" : "") + a.slice(0, -2) + "." + a.slice(-2); };
    if (ok && S.agents.size) { f.pnl_today = str(today); f.pnl_total = str(total); }
    return f;
  }

  // ---------------------------------------------------------------- router
  function parseRoute() {
    const h = decodeURIComponent(location.hash.replace(/^#\/?/, ""));
    let m;
    if ((m = /^agent\/(.+)$/.exec(h))) return { view: "agent", name: m[1] };
    if ((m = /^run\/(.+)$/.exec(h))) return { view: "run", id: m[1] };
    if (h === "runs") return { view: "runs" };
    if (h === "correlation") return { view: "correlation" };
    return { view: "fleet" };
  }
  let renderSeq = 0;
  async function route() {
    S.route = parseRoute();
    S.run = null;
    const seq = ++renderSeq;
    for (const a of document.querySelectorAll("header nav a")) {
      const v = S.route.view === "agent" ? "fleet" : S.route.view === "run" ? "runs" : S.route.view;
      a.classList.toggle("current", a.dataset.nav === v);
    }
    const app = $("#app");
    try {
      if (S.route.view === "fleet") await showFleet(app, seq);
      else if (S.route.view === "agent") await showAgent(app, S.route.name, seq);
      else if (S.route.view === "runs") await showRuns(app, seq);
      else if (S.route.view === "run") await showRun(app, S.route.id, seq);
      else if (S.route.view === "correlation") await showCorrelation(app, seq);
    } catch (e) {
      if (seq === renderSeq) app.innerHTML = `<div class="banner" id="page-error">${esc(e.message)}</div>`;
    }
  }
  const stale = (seq) => seq !== renderSeq;

  // ---------------------------------------------------------------- fleet view
  async function loadFleet() {
    const [fleet, agents] = await Promise.all([getJSON("/api/fleet"), getJSON("/api/agents")]);
    S.fleet = fleet;
    for (const a of agents) setAgent(a);
  }
  async function showFleet(app, seq) {
    if (!S.fleet) await loadFleet();
    if (stale(seq)) return;
    app.innerHTML = `
      <div id="fleet-halted"></div>
      <div class="cards">
        <div class="card"><div class="label">Fleet P&amp;L today</div><div class="value" id="fleet-pnl-today"></div>
          <div class="meter" id="loss-meter" title="today's loss against the fleet loss limit"><div></div></div>
          <div class="label" id="loss-limit"></div></div>
        <div class="card"><div class="label">Fleet P&amp;L total</div><div class="value" id="fleet-pnl-total"></div></div>
        <div class="card"><div class="label">Agents</div><div class="value" id="fleet-agents"></div>
          <div class="label" id="fleet-started"></div></div>
        <div class="card kill"><button id="kill-switch" class="danger" type="button">Kill switch: halt fleet</button>
          <span class="msg" id="kill-msg"></span></div>
      </div>
      <div class="scroll"><table id="agents">
        <thead><tr><th>Agent</th><th>State</th><th class="opt">Health</th><th>Position</th>
          <th class="num">P&amp;L today</th><th class="num opt">P&amp;L total</th><th class="opt">Equity</th>
          <th class="num opt">Last</th><th class="opt">Data</th></tr></thead>
        <tbody></tbody></table></div>`;
    $("#kill-switch").addEventListener("click", killSwitch);
    renderFleet();
    seedSparks();
  }
  function renderFleet() {
    if (S.route.view !== "fleet" || !$("#agents")) return;
    const f = fleetSums();
    $("#fleet-pnl-today").innerHTML = `<span class="${sign(f.pnl_today)}">${money(f.pnl_today)}</span>`;
    $("#fleet-pnl-total").innerHTML = `<span class="${sign(f.pnl_total)}">${money(f.pnl_total)}</span>`;
    $("#fleet-agents").textContent = String(S.agents.size);
    $("#fleet-started").textContent = f.started ? "since " + when(f.started) : "";
    const meter = $("#loss-meter");
    if (f.loss_limit != null) {
      const used = Math.max(0, -Number(f.pnl_today)) / Math.max(1e-9, Number(f.loss_limit));
      meter.firstElementChild.style.width = Math.min(100, used * 100).toFixed(1) + "%";
      meter.className = "meter" + (used >= 0.8 ? " bad" : used >= 0.5 ? " warn" : "");
      $("#loss-limit").innerHTML = `loss limit ${money(f.loss_limit)} · ${(used * 100).toFixed(0)}% used`;
    } else {
      meter.style.display = "none";
      $("#loss-limit").textContent = "no fleet loss limit";
    }
    $("#fleet-halted").innerHTML = f.halted ? `<div class="banner" id="fleet-halted-reason">Fleet halted: ${esc(f.halted)}</div>` : "";
    $("#kill-switch").disabled = !!f.halted;
    const body = $("#agents tbody");
    if (!S.order.length) { body.innerHTML = `<tr><td colspan="9" class="empty">No agents.</td></tr>`; return; }
    body.innerHTML = S.order.map((n) => agentRow(S.agents.get(n))).join("");
    for (const tr of body.querySelectorAll("tr.agent-row")) {
      tr.addEventListener("click", (e) => { if (e.target.tagName !== "A") location.hash = "#/agent/" + encodeURIComponent(tr.dataset.agent); });
    }
  }
  function agentRow(a) {
    return `<tr class="agent-row" data-agent="${esc(a.name)}">
      <td><a href="#/agent/${encodeURIComponent(a.name)}">${esc(a.name)}</a><div class="muted">${esc(a.instrument)}</div></td>
      <td class="state">${stateBadge(a.state)}</td>
      <td class="opt health">${healthBadge(a.health)}</td>
      <td class="position">${position(a.position)}</td>
      <td class="num pnl-today ${sign(a.pnl_today)}">${money(a.pnl_today)}</td>
      <td class="num opt pnl-total ${sign(a.pnl_total)}">${money(a.pnl_total)}</td>
      <td class="opt">${sparkline(S.spark.get(a.name) || [])}<div class="muted">${money(a.equity)}</div></td>
      <td class="num opt">${price(a.last_price)}</td>
      <td class="opt muted">${when(a.last_data)}</td></tr>`;
  }
  function sparkline(pts) {
    const w = 120, h = 28;
    if (pts.length < 2) return `<svg class="spark" width="${w}" height="${h}"></svg>`;
    let lo = Math.min(...pts), hi = Math.max(...pts);
    if (hi - lo < 1e-9) { lo -= 1; hi += 1; }
    const xy = pts.map((v, i) => `${(i / (pts.length - 1) * (w - 2) + 1).toFixed(1)},${(h - 2 - (v - lo) / (hi - lo) * (h - 4)).toFixed(1)}`);
    const col = pts[pts.length - 1] >= pts[0] ? "var(--up)" : "var(--down)";
    return `<svg class="spark" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}"><polyline fill="none" stroke="${col}" stroke-width="1.5" points="${xy.join(" ")}"/></svg>`;
  }
  // The sparklines start from each agent's equity curve so far.
  function seedSparks() {
    for (const name of S.order) {
      if (S.sparkSeeded.has(name)) continue;
      S.sparkSeeded.add(name);
      getJSON(`/api/agents/${encodeURIComponent(name)}/run`).then((run) => {
        const eq = (run.equity || []).map((p) => Number(p.equity)).filter((x) => !isNaN(x));
        const step = Math.max(1, Math.ceil(eq.length / (SPARK_POINTS - 20)));
        const seeded = eq.filter((_, i) => i % step === 0 || i === eq.length - 1);
        S.spark.set(name, seeded.concat(S.spark.get(name) || []).slice(-SPARK_POINTS));
        renderFleet();
      }).catch(() => {});
    }
  }
  async function killSwitch() {
    const ok = await confirmBox("Halt every agent now? Working orders are canceled, positions flattened, and no agent enters again today.");
    if (!ok) return;
    const msg = $("#kill-msg");
    try {
      const r = await control("/api/fleet/halt");
      if (S.fleet) S.fleet.halted = (r && r.reason) || "halted";
      if (msg) { msg.className = "msg ok"; msg.textContent = "fleet halted"; }
      renderFleet();
    } catch (e) {
      if (msg) { msg.className = "msg err"; msg.textContent = e.message; }
    }
  }

  // ---------------------------------------------------------------- agent and run views
  const DEAL_COLS = [
    ["strategy", "Strategy", (d) => esc(d.strategy), "opt"],
    ["symbol", "Symbol", (d) => esc(d.symbol)],
    ["side", "Side", (d) => esc(d.side)],
    ["entry_qty", "Qty", (d) => qty(d.entry_qty), "num"],
    ["entry_time", "Entry time", (d) => when(d.entry_time)],
    ["entry_price", "Entry", (d) => price(d.entry_price), "num"],
    ["exit_qty", "Exit qty", (d) => qty(d.exit_qty), "num opt"],
    ["exit_time", "Exit time", (d) => when(d.exit_time)],
    ["exit_price", "Exit", (d) => price(d.exit_price), "num"],
    ["pnl", "P&L", (d) => money(d.pnl), "num opt"],
    ["charges", "Charges", (d) => money(d.charges), "num opt"],
    ["net_pnl", "Net P&L", (d) => `<span class="${sign(d.net_pnl)}">${money(d.net_pnl)}</span>`, "num"],
    ["net_pnl_pct", "Net %", (d) => `${price(d.net_pnl_pct)}%`, "num opt"],
    ["exit_reason", "Exit reason", (d) => esc(d.exit_reason)],
    ["price_source", "Prices", (d) => esc(d.price_source), "opt"],
  ];
  const pick = (r, ...ks) => { for (const k of ks) if (r[k] != null) return r[k]; return null; };
  const ORDER_COLS = [
    ["Time", (r) => when(pick(r, "time", "ts"))],
    ["Status", (r) => esc(pick(r, "status"))],
    ["Order", (r) => esc(pick(r, "client_order_id", "id")), "opt"],
    ["Instrument", (r) => esc(pick(r, "instrument"))],
    ["Side", (r) => esc(pick(r, "side"))],
    ["Qty", (r) => qty(pick(r, "qty")), "num"],
    ["Type", (r) => esc(pick(r, "order_type", "type")), "opt"],
    ["Limit", (r) => price(pick(r, "limit_price", "limit")), "num opt"],
  ];
  const FILL_COLS = [
    ["Time", (r) => when(pick(r, "time", "ts"))],
    ["Order", (r) => esc(pick(r, "client_order_id", "id")), "opt"],
    ["Instrument", (r) => esc(pick(r, "instrument"))],
    ["Side", (r) => esc(pick(r, "side"))],
    ["Qty", (r) => qty(pick(r, "qty")), "num"],
    ["Price", (r) => price(pick(r, "price")), "num"],
    ["Fee", (r) => money(pick(r, "fee", "commission")), "num opt"],
  ];
  const DENIAL_COLS = [
    ["Time", (r) => when(pick(r, "time", "ts"))],
    ["Instrument", (r) => esc(pick(r, "instrument"))],
    ["Side", (r) => esc(pick(r, "side"))],
    ["Qty", (r) => qty(pick(r, "qty")), "num"],
    ["Reason", (r) => esc(pick(r, "reason_code", "code", "reason"))],
    ["Message", (r) => `<span style="white-space:normal">${esc(pick(r, "message"))}</span>`],
  ];
  const CONTROL_COLS = [
    ["Time", (r) => when(pick(r, "time", "wall"))],
    ["Action", (r) => esc(pick(r, "action"))],
    ["Key", (r) => esc(pick(r, "key") || "")],
    ["Old → new", (r) => (r.key ? `${esc(r.old)} → ${esc(r.new)}` : "")],
    ["Result", (r) => esc(pick(r, "result"))],
    ["By", (r) => esc(pick(r, "by_whom", "by")), "opt"],
  ];
  function rowsTable(id, cols, rows, empty) {
    if (!rows.length) return `<div class="scroll"><table id="${id}"><tbody><tr><td class="empty">${esc(empty)}</td></tr></tbody></table></div>`;
    const head = cols.map(([h, , c]) => `<th class="${c || ""}">${esc(h)}</th>`).join("");
    const body = rows.slice().reverse().map((r) => `<tr class="${r._fresh ? "fresh" : ""}">${cols.map(([, f, c]) => `<td class="${c || ""}">${f(r)}</td>`).join("")}</tr>`).join("");
    return `<div class="scroll"><table id="${id}"><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table></div>`;
  }
  function dealsTable(deals) {
    if (!deals.length) return `<div class="scroll"><table id="deals"><tbody><tr><td class="empty">No closed deals yet.</td></tr></tbody></table></div>`;
    const head = DEAL_COLS.map(([, h, , c]) => `<th class="${c || ""}">${esc(h)}</th>`).join("");
    const body = deals.slice().reverse().map((d) => `<tr>${DEAL_COLS.map(([, , f, c]) => `<td class="${c || ""}">${f(d)}</td>`).join("")}</tr>`).join("");
    return `<div class="scroll"><table id="deals"><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table></div>`;
  }
  function summaryCards(run) {
    const s = run.summary || {};
    const card = (label, value, id) => `<div class="card"><div class="label">${label}</div><div class="value"${id ? ` id="${id}"` : ""}>${value}</div></div>`;
    return `<div class="cards">
      ${card("Net P&amp;L", `<span class="${sign(s.net_pnl)}">${money(s.net_pnl)}</span>`, "run-net-pnl")}
      ${card("Trades", `${esc(s.trades)} <span class="muted" style="font-size:13px">${esc(s.wins)} won · ${price(s.win_rate_pct)}%</span>`)}
      ${card("Max drawdown", `${money(s.max_drawdown)} <span class="muted" style="font-size:13px">${price(s.max_drawdown_pct)}%</span>`)}
      ${card("Fees", money(s.fees))}
    </div>`;
  }
  function chartsHtml() {
    return `<div class="chart"><div class="legend" id="price-legend"></div><div id="price-chart"></div></div>
      <h2>Equity and drawdown</h2><div class="chart"><div id="equity-chart"></div></div>`;
  }
  function drawCharts() {
    if (!S.run) return;
    const pc = $("#price-chart"), ec = $("#equity-chart");
    if (pc) pc.innerHTML = priceChart(S.run, pc.clientWidth || 800);
    if (ec) ec.innerHTML = equityChart(S.run, ec.clientWidth || 800);
    const lg = $("#price-legend");
    if (lg) lg.innerHTML = `<span>${esc(S.run.instrument)}</span>` + (S.run.lines || []).map((n, i) => `<span><i style="background:${LINE_COLORS[i % LINE_COLORS.length]}"></i>${esc(n)}</span>`).join("")
      + `<span><i style="background:var(--up)"></i>entry ▲ long / ▼ short, exit ●</span>`;
  }

  async function showAgent(app, name, seq) {
    if (!S.fleet) await loadFleet().catch(() => {});
    const a = await getJSON(`/api/agents/${encodeURIComponent(name)}`);
    if (stale(seq)) return;
    setAgent(a);
    app.innerHTML = `
      <h1><span id="agent-name">${esc(a.name)}</span> <span id="agent-state"></span> <span id="agent-health"></span></h1>
      <div class="cards" id="agent-cards"></div>
      <div class="controls" id="controls">
        ${["halt", "resume", "flatten", "disable", "enable"].map((c) => `<button type="button" data-action="${c}"${c === "halt" || c === "disable" ? ' class="danger"' : ""}>${c[0].toUpperCase() + c.slice(1)}</button>`).join("")}
        <span class="msg" id="control-msg"></span>
      </div>
      <h2>Price</h2><div id="charts">${chartsHtml()}</div>
      <h2>Deals</h2><div id="deals-box"></div>
      <div class="grid2">
        <div><h2>Orders</h2><div id="orders-box"></div></div>
        <div><h2>Fills</h2><div id="fills-box"></div></div>
      </div>
      <h2>Denials</h2><div id="denials-box"></div>
      <h2>Parameters</h2><div id="params-box"><div class="empty">Loading…</div></div>
      <h2>Controls used</h2><div id="controls-box"></div>
      <p class="muted">Recipe <code>${esc(a.recipe)}</code> · account ${esc(a.account)} · run <code>${esc(a.run)}</code></p>`;
    for (const b of document.querySelectorAll("#controls button[data-action]")) b.addEventListener("click", () => agentControl(name, b.dataset.action));
    renderAgentHead();
    const tbl = (kind) => getJSON(`/api/agents/${encodeURIComponent(name)}/${kind}`).catch(() => []);
    const [run, orders, fills, denials, controls] = await Promise.all([
      getJSON(`/api/agents/${encodeURIComponent(name)}/run`).catch(() => null),
      tbl("orders"), tbl("fills"), tbl("denials"), tbl("controls")]);
    if (stale(seq)) return;
    S.run = run;
    S.tables = { orders, fills, denials, controls };
    renderRun();
    renderTables();
    loadParams(name, seq);
  }
  function renderAgentHead() {
    if (S.route.view !== "agent") return;
    const a = S.agents.get(S.route.name);
    if (!a || !$("#agent-cards")) return;
    $("#agent-state").innerHTML = stateBadge(a.state);
    $("#agent-health").innerHTML = healthBadge(a.health);
    const card = (label, value, id) => `<div class="card"><div class="label">${label}</div><div class="value" id="${id}">${value}</div></div>`;
    $("#agent-cards").innerHTML =
      card("P&amp;L today", `<span class="${sign(a.pnl_today)}">${money(a.pnl_today)}</span>`, "agent-pnl-today") +
      card("P&amp;L total", `<span class="${sign(a.pnl_total)}">${money(a.pnl_total)}</span>`, "agent-pnl-total") +
      card("Position", `${position(a.position)}<div class="label">${esc(a.instrument)}</div>`, "agent-position") +
      card("Equity", `${money(a.equity)}<div class="label">started at ${money(a.starting_equity)}</div>`, "agent-equity") +
      card("Last", `${price(a.last_price)}<div class="label">${when(a.last_data)}</div>`, "agent-last") +
      card("Venue", `<span style="font-size:14px">${esc(a.venue)}</span><div class="label">${esc(a.last_signal || "no signal yet")}</div>`, "agent-venue");
  }
  function renderRun() {
    if (!$("#charts")) return;
    if (!S.run) { $("#charts").innerHTML = `<div class="empty">No run view yet.</div>`; return; }
    if (!$("#price-chart")) $("#charts").innerHTML = chartsHtml();
    drawCharts();
    const box = $("#deals-box");
    if (box) box.innerHTML = dealsTable(S.run.deals || []);
  }
  function renderTables() {
    const t = S.tables;
    const set = (id, html) => { const e = $(id); if (e) e.innerHTML = html; };
    set("#orders-box", rowsTable("orders", ORDER_COLS, t.orders, "No orders yet."));
    set("#fills-box", rowsTable("fills", FILL_COLS, t.fills, "No fills yet."));
    set("#denials-box", rowsTable("denials", DENIAL_COLS, t.denials, "No denials."));
    set("#controls-box", rowsTable("control-log", CONTROL_COLS, t.controls, "No operator controls in this run."));
  }
  async function agentControl(name, action) {
    const msg = $("#control-msg");
    if ((action === "halt" || action === "disable" || action === "flatten") &&
        !(await confirmBox(`${action[0].toUpperCase() + action.slice(1)} ${name}?`))) return;
    msg.className = "msg"; msg.textContent = action + "…";
    try {
      const r = await control(`/api/agents/${encodeURIComponent(name)}/${action}`);
      msg.className = "msg ok"; msg.textContent = `${action}: ${(r && r.result) || "done"}`;
      refreshAgent(name);
    } catch (e) {
      msg.className = "msg err"; msg.textContent = `${action}: ${e.message}`;
    }
  }
  async function refreshAgent(name) {
    try { setAgent(await getJSON(`/api/agents/${encodeURIComponent(name)}`)); } catch (e) { return; }
    renderAgentHead(); renderFleet();
  }

  async function loadParams(name, seq) {
    let params;
    try { params = await getJSON(`/api/agents/${encodeURIComponent(name)}/params`); } catch (e) {
      if (!stale(seq) && $("#params-box")) $("#params-box").innerHTML = `<div class="empty">${esc(e.message)}</div>`;
      return;
    }
    if (stale(seq)) return;
    S.params = params;
    const box = $("#params-box");
    if (!params.length) { box.innerHTML = `<div class="empty">No parameters.</div>`; return; }
    box.innerHTML = `<div class="scroll"><table id="params" class="params"><thead><tr><th>Key</th><th>Value</th><th class="opt">Applies</th><th>Change</th></tr></thead><tbody>${
      params.map((p) => `<tr data-key="${esc(p.key)}"><td><code>${esc(p.key)}</code></td><td class="param-value">${esc(p.value)}</td><td class="opt muted">${esc(p.applies)}</td><td>${
        p.editable ? `<form class="param-form"><input name="value" aria-label="${esc(p.key)}" value="${esc(p.value)}"> <button type="submit">Set</button> <span class="param-error"></span></form>` : `<span class="muted">fixed while running</span>`
      }</td></tr>`).join("")}</tbody></table></div>`;
    for (const form of box.querySelectorAll("form.param-form")) {
      form.addEventListener("submit", (e) => { e.preventDefault(); editParam(name, form); });
    }
  }
  async function editParam(name, form) {
    const tr = form.closest("tr");
    const key = tr.dataset.key;
    const value = form.elements.value.value.trim();
    const out = form.querySelector(".param-error");
    out.className = "param-error"; out.textContent = "";
    try {
      const r = await control(`/api/agents/${encodeURIComponent(name)}/params`, { key, value });
      const result = (r && r.result) || "applied";
      if (/^refused/.test(result)) { out.textContent = result; return; }
      tr.querySelector(".param-value").textContent = r && r.new != null ? r.new : value;
      out.className = "param-ok"; out.textContent = result;
    } catch (e) {
      out.className = "param-error"; out.textContent = e.message; // the validator's message, verbatim
    }
  }

  async function showRuns(app, seq) {
    const runs = await getJSON("/api/runs");
    if (stale(seq)) return;
    const rows = runs.slice().reverse();
    app.innerHTML = `<h1>Runs</h1><div class="scroll"><table id="runs"><thead><tr><th>Run</th><th>Agent</th><th>Mode</th><th class="opt">Started</th><th class="opt">Ended</th><th>Outcome</th></tr></thead><tbody>${
      rows.length ? rows.map((r) => `<tr><td>${r.view === false ? `<span title="no run view (run.json) for this run">${esc(r.id)}</span>` : `<a href="#/run/${encodeURIComponent(r.id)}">${esc(r.id)}</a>`}</td><td>${esc(r.agent)}</td><td>${esc(r.mode)}</td><td class="opt">${when(r.started)}</td><td class="opt">${when(r.ended)}</td><td>${esc(r.outcome || "running")}</td></tr>`).join("")
        : `<tr><td colspan="6" class="empty">No runs in the journal.</td></tr>`}</tbody></table></div>`;
  }
  async function showRun(app, id, seq) {
    const run = await getJSON(`/api/runs/${encodeURIComponent(id)}`);
    if (stale(seq)) return;
    S.run = run;
    const info = (run.summary && run.summary.run) || {};
    app.innerHTML = `<h1>Run <code id="run-id">${esc(id)}</code> <span class="muted" style="font-size:14px">${esc(info.agent || "")} ${esc(info.mode || "")}</span></h1>
      ${summaryCards(run)}
      <h2>Price</h2><div id="charts">${chartsHtml()}</div>
      <h2>Deals</h2><div id="deals-box"></div>
      <h2>Denials</h2><div id="denials-box">${rowsTable("denials", DENIAL_COLS, (run.summary && run.summary.denials) || [], "No denials.")}</div>
      ${(run.halts || []).length ? `<h2>Halts</h2>${rowsTable("halts", [["Time", (r) => when(r.t)], ["Reason", (r) => esc(r.reason)]], run.halts, "")}` : ""}`;
    renderRun();
  }

  // ---------------------------------------------------------------- charts (SVG)
  const LINE_COLORS = ["#f0b449", "#5aa9ff", "#c77dff", "#4dd0e1", "#ff8a65", "#aed581"];
  function ticks(lo, hi, n) {
    const span = hi - lo, raw = span / Math.max(1, n);
    const mag = Math.pow(10, Math.floor(Math.log10(raw || 1)));
    const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) || raw;
    const out = [];
    for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-9; v += step) out.push(v);
    return out;
  }
  function timeLabels(times, x, n) {
    if (!times.length) return "";
    const every = Math.max(1, Math.ceil(times.length / n));
    let out = "";
    for (let i = 0; i < times.length; i += every) {
      const t = when(times[i]);
      out += `<text x="${x(i).toFixed(1)}" y="0" text-anchor="${i === 0 ? "start" : "middle"}">${esc(t.slice(5, 16))}</text>`;
    }
    return out;
  }
  function priceChart(run, width) {
    const c = run.candles || [];
    if (!c.length) return `<div class="empty">No candles yet.</div>`;
    const W = Math.max(320, width), H = Math.round(Math.min(380, Math.max(220, W * 0.32)));
    const L = 8, R = 62, T = 8, B = 22;
    const num = (v) => (v == null ? NaN : Number(v));
    let lo = Infinity, hi = -Infinity;
    for (const k of c) {
      lo = Math.min(lo, num(k.l)); hi = Math.max(hi, num(k.h));
      for (const v of k.v || []) { const n = num(v); if (!isNaN(n)) { lo = Math.min(lo, n); hi = Math.max(hi, n); } }
    }
    if (hi - lo < 1e-9) { hi += 1; lo -= 1; }
    const pad = (hi - lo) * 0.05; lo -= pad; hi += pad;
    const cw = (W - L - R) / c.length;
    const x = (i) => L + (i + 0.5) * cw;
    const y = (v) => T + (hi - v) / (hi - lo) * (H - T - B);
    let s = `<svg viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="price chart">`;
    for (const v of ticks(lo, hi, 6)) s += `<line class="grid" x1="${L}" x2="${W - R}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}"/><text x="${W - R + 4}" y="${(y(v) + 4).toFixed(1)}">${v.toFixed(2)}</text>`;
    s += `<g transform="translate(0 ${H - 6})">${timeLabels(c.map((k) => k.t), x, Math.max(2, Math.floor(W / 140)))}</g>`;
    const bw = Math.max(1, Math.min(12, cw * 0.7));
    let g = "";
    for (let i = 0; i < c.length; i++) {
      const k = c[i], o = num(k.o), cl = num(k.c), up = cl >= o;
      const col = up ? "var(--candle-up)" : "var(--candle-down)";
      const top = y(Math.max(o, cl)), h = Math.max(1, Math.abs(y(o) - y(cl)));
      g += `<line x1="${x(i).toFixed(1)}" x2="${x(i).toFixed(1)}" y1="${y(num(k.h)).toFixed(1)}" y2="${y(num(k.l)).toFixed(1)}" stroke="${col}"/>`;
      g += `<rect x="${(x(i) - bw / 2).toFixed(1)}" y="${top.toFixed(1)}" width="${bw.toFixed(1)}" height="${h.toFixed(1)}" fill="${col}"/>`;
    }
    s += `<g class="candles">${g}</g>`;
    (run.lines || []).forEach((name, li) => {
      let d = "", pen = false;
      for (let i = 0; i < c.length; i++) {
        const v = num((c[i].v || [])[li]);
        if (isNaN(v)) { pen = false; continue; }
        d += `${pen ? "L" : "M"}${x(i).toFixed(1)} ${y(v).toFixed(1)}`; pen = true;
      }
      if (d) s += `<path class="indicator" d="${d}" fill="none" stroke="${LINE_COLORS[li % LINE_COLORS.length]}" stroke-width="1.4"><title>${esc(name)}</title></path>`;
    });
    // Entry and exit markers at the candle each deal's time falls in.
    const starts = c.map((k) => ms(k.t));
    const at = (t) => { const v = ms(t); let lo2 = 0, hi2 = starts.length - 1; if (v < starts[0]) return -1; while (lo2 < hi2) { const mid = (lo2 + hi2 + 1) >> 1; if (starts[mid] <= v) lo2 = mid; else hi2 = mid - 1; } return lo2; };
    let m = "";
    for (const d of run.deals || []) {
      const win = Number(d.net_pnl) >= 0, col = win ? "var(--up)" : "var(--down)";
      const ie = at(d.entry_time), ix = at(d.exit_time);
      if (ie >= 0) {
        // At the deal's price when it is on this chart (shares); an option's premium is not,
        // so its marker sits on the underlying's candle close.
        const px = x(ie), ep = num(d.entry_price);
        const pe = ep >= lo && ep <= hi ? y(ep) : y(num(c[ie].c));
        const tri = d.side === "short" ? `${px - 6},${pe - 10} ${px + 6},${pe - 10} ${px},${pe - 1}` : `${px - 6},${pe + 10} ${px + 6},${pe + 10} ${px},${pe + 1}`;
        m += `<polygon class="entry" points="${tri}" fill="${d.side === "short" ? "var(--down)" : "var(--up)"}" stroke="var(--bg)"><title>${esc(d.side)} entry ${esc(d.entry_qty)} @ ${price(d.entry_price)} ${when(d.entry_time)}</title></polygon>`;
      }
      if (ix >= 0) {
        const xp = num(d.exit_price), py = xp >= lo && xp <= hi ? y(xp) : y(num(c[ix].c));
        m += `<circle class="exit" cx="${x(ix).toFixed(1)}" cy="${py.toFixed(1)}" r="4.5" fill="none" stroke="${col}" stroke-width="2"><title>exit (${esc(d.exit_reason)}) net ${money(d.net_pnl)} ${when(d.exit_time)}</title></circle>`;
      }
    }
    for (const h of run.halts || []) {
      const i = at(h.t);
      if (i >= 0) m += `<line x1="${x(i).toFixed(1)}" x2="${x(i).toFixed(1)}" y1="${T}" y2="${H - B}" stroke="var(--down)" stroke-dasharray="4 3"><title>halt: ${esc(h.reason)}</title></line>`;
    }
    return s + `<g class="markers">${m}</g></svg>`;
  }
  function equityChart(run, width) {
    const e = run.equity || [];
    if (e.length < 2) return `<div class="empty">No equity curve yet.</div>`;
    const W = Math.max(320, width), H = Math.round(Math.min(300, Math.max(180, W * 0.28)));
    const L = 8, R = 72, T = 8, B = 22, split = Math.round((H - T - B) * 0.7);
    const eq = e.map((p) => Number(p.equity)), dd = e.map((p) => Number(p.drawdown));
    const start = Number((run.summary && run.summary.starting_equity) || eq[0]);
    let lo = Math.min(...eq), hi = Math.max(...eq);
    const minSpan = Math.abs(start) * 0.02 || 1; // never zoom tighter than ±1 %
    if (hi - lo < minSpan) { const mid = (hi + lo) / 2; lo = mid - minSpan / 2; hi = mid + minSpan / 2; }
    const ddMax = Math.max(1e-9, ...dd);
    const x = (i) => L + i / (e.length - 1) * (W - L - R);
    const y = (v) => T + (hi - v) / (hi - lo) * (split - 6);
    const yd = (v) => T + split + v / ddMax * (H - T - B - split);
    let s = `<svg viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="equity and drawdown">`;
    for (const v of ticks(lo, hi, 4)) s += `<line class="grid" x1="${L}" x2="${W - R}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}"/><text x="${W - R + 4}" y="${(y(v) + 4).toFixed(1)}">${money(v.toFixed(2)).replace(/\.00$/, "")}</text>`;
    s += `<line class="grid" x1="${L}" x2="${W - R}" y1="${T + split}" y2="${T + split}"/>`;
    s += `<text x="${W - R + 4}" y="${(yd(ddMax) - 2).toFixed(1)}">-${money(ddMax.toFixed(2)).replace(/\.00$/, "")}</text>`;
    const line = eq.map((v, i) => `${i ? "L" : "M"}${x(i).toFixed(1)} ${y(v).toFixed(1)}`).join("");
    s += `<path class="equity" d="${line}" fill="none" stroke="var(--accent)" stroke-width="1.6"/>`;
    const area = `M${x(0).toFixed(1)} ${yd(0).toFixed(1)}` + dd.map((v, i) => `L${x(i).toFixed(1)} ${yd(v).toFixed(1)}`).join("") + `L${x(e.length - 1).toFixed(1)} ${yd(0).toFixed(1)}Z`;
    s += `<path class="drawdown" d="${area}" fill="var(--down)" fill-opacity=".35" stroke="var(--down)" stroke-width="1"/>`;
    s += `<g transform="translate(0 ${H - 6})">${timeLabels(e.map((p) => p.t), x, Math.max(2, Math.floor(W / 140)))}</g>`;
    return s + `</svg>`;
  }

  // ---------------------------------------------------------------- correlation heatmap
  async function showCorrelation(app, seq) {
    if (!S.fleet) await loadFleet();
    if (stale(seq)) return;
    const win = Number(store.get("runner.corr.window")) || 50;
    app.innerHTML = `<h1>Correlation</h1>
      <div class="heat-controls"><label for="corr-window">Window (candle returns)</label>
        <select id="corr-window">${[10, 20, 50, 100, 200].map((w) => `<option value="${w}"${w === win ? " selected" : ""}>${w}</option>`).join("")}</select>
        <span class="muted">Pearson correlation of the latest returns of each symbol's candle closes, on the candle times all share.</span></div>
      <div id="heatmap"><div class="empty">Loading…</div></div>`;
    $("#corr-window").addEventListener("change", drawCorrelation);
    await refreshCorrelation(seq);
  }
  // Each symbol's candles (the first agent trading it), fetched again as candles close.
  let corrCandles = new Map();
  async function refreshCorrelation(seq) {
    const runs = await Promise.all(S.order.map((n) => getJSON(`/api/agents/${encodeURIComponent(n)}/run`).catch(() => null)));
    if (stale(seq)) return;
    corrCandles = new Map();
    runs.forEach((r) => { if (r && r.candles && r.candles.length && !corrCandles.has(r.instrument)) corrCandles.set(r.instrument, r.candles); });
    drawCorrelation();
  }
  function drawCorrelation() {
    const sel = $("#corr-window");
    if (!sel || !$("#heatmap")) return;
    const w = Number(sel.value);
    store.set("runner.corr.window", String(w));
    $("#heatmap").innerHTML = heatmap(corrCandles, w);
  }
  let corrTimer = null;
  function refreshCorrelationSoon() {
    if (corrTimer || S.route.view !== "correlation") return;
    const seq = renderSeq;
    corrTimer = setTimeout(() => { corrTimer = null; refreshCorrelation(seq).catch(() => {}); }, 3000);
  }
  function heatmap(bySymbol, w) {
    const syms = [...bySymbol.keys()];
    if (!syms.length) return `<div class="empty">No candles yet.</div>`;
    // Close by candle start, then returns on the times every symbol has.
    const closes = syms.map((s) => new Map(bySymbol.get(s).map((k) => [ms(k.t), Number(k.c)])));
    const common = [...closes[0].keys()].filter((t) => closes.every((m) => m.has(t))).sort((a, b) => a - b);
    const rets = closes.map((m) => { const r = []; for (let i = 1; i < common.length; i++) { const a = m.get(common[i - 1]), b = m.get(common[i]); r.push(a ? b / a - 1 : 0); } return r.slice(-w); });
    const n = rets[0].length;
    const corr = (a, b) => {
      if (n < 2) return NaN;
      const ma = a.reduce((x, y) => x + y, 0) / n, mb = b.reduce((x, y) => x + y, 0) / n;
      let sab = 0, saa = 0, sbb = 0;
      for (let i = 0; i < n; i++) { const da = a[i] - ma, db = b[i] - mb; sab += da * db; saa += da * da; sbb += db * db; }
      return saa && sbb ? sab / Math.sqrt(saa * sbb) : NaN;
    };
    const color = (v) => {
      if (isNaN(v)) return "var(--panel2)";
      const a = Math.min(1, Math.abs(v));
      return v >= 0 ? `rgba(60, 160, 255, ${0.15 + 0.85 * a})` : `rgba(255, 90, 90, ${0.15 + 0.85 * a})`;
    };
    let h = `<div class="scroll"><table class="heat" id="corr-table"><thead><tr><th></th>${syms.map((s) => `<th>${esc(s)}</th>`).join("")}</tr></thead><tbody>`;
    syms.forEach((s, i) => {
      h += `<tr><th>${esc(s)}</th>` + syms.map((_, j) => { const v = corr(rets[i], rets[j]); return `<td class="cell" style="background:${color(v)}">${isNaN(v) ? "—" : v.toFixed(2)}</td>`; }).join("") + `</tr>`;
    });
    return h + `</tbody></table></div><p class="muted">${n} returns per symbol (${syms.length} symbol${syms.length === 1 ? "" : "s"}).</p>`;
  }

  // ---------------------------------------------------------------- live events
  let throttleRun = null;
  function refetchRunSoon(name) {
    if (throttleRun) return;
    throttleRun = setTimeout(async () => {
      throttleRun = null;
      if (S.route.view !== "agent" || S.route.name !== name) return;
      const base = `/api/agents/${encodeURIComponent(name)}`;
      try { S.run = await getJSON(`${base}/run`); renderRun(); } catch (e) { /* next fill retries */ }
      try {
        const [orders, fills] = await Promise.all([getJSON(`${base}/orders`), getJSON(`${base}/fills`)]);
        if (S.route.view === "agent" && S.route.name === name) { S.tables.orders = orders; S.tables.fills = fills; renderTables(); }
      } catch (e) { /* the rows appended from the stream stay */ }
    }, 1500);
  }
  let fleetRender = null;
  function renderSoon() {
    if (fleetRender) return;
    fleetRender = requestAnimationFrame(() => { fleetRender = null; renderFleet(); renderAgentHead(); });
  }
  const onAgentPage = (agent) => S.route.view === "agent" && S.route.name === agent;
  function pushRow(kind, row) {
    row._fresh = true;
    const t = S.tables[kind];
    t.push(row);
    if (t.length > 500) t.shift();
    renderTables();
    row._fresh = false;
  }
  const handlers = {
    hello(d) {
      if (d.fleet) S.fleet = d.fleet;
      for (const a of d.agents || []) setAgent(a);
      renderSoon();
    },
    snapshot(d) { setAgent(d); renderSoon(); },
    health(d) { const a = S.agents.get(d.agent); if (a) { a.health = d.health; renderSoon(); } },
    state(d) { const a = S.agents.get(d.agent); if (a) { a.state = d.state; renderSoon(); } },
    finished(d) { const a = S.agents.get(d.agent); if (a) { a.state = "stopped"; renderSoon(); } },
    fleet_halt(d) { if (S.fleet) S.fleet.halted = d.reason; renderSoon(); },
    control(d) { if (onAgentPage(d.agent)) pushRow("controls", d); refreshAgent(d.agent); },
    order_sent(d) {
      if (!onAgentPage(d.agent)) return;
      const k = d.order_kind || {};
      pushRow("orders", { time: d.ts, client_order_id: d.id, instrument: d.instrument, side: d.side, qty: d.qty, order_type: k.type, limit_price: k.limit, status: "sent" });
    },
    order(d) {
      if (!onAgentPage(d.agent)) return;
      const o = S.tables.orders.find((r) => (r.client_order_id || r.id) === d.id);
      if (o) { o.status = d.event; renderTables(); }
      else pushRow("orders", { time: d.ts, client_order_id: d.id, instrument: d.instrument, side: d.side, qty: d.qty, status: d.event });
      if (d.event === "filled" || d.event === "partially_filled") {
        pushRow("fills", { time: d.ts, client_order_id: d.id, instrument: d.instrument, side: d.side, qty: d.qty, price: d.price, fee: d.commission });
        refetchRunSoon(d.agent);
      }
    },
    denied(d) {
      if (!onAgentPage(d.agent)) return;
      const o = d.order || {};
      pushRow("denials", { time: o.ts, instrument: o.instrument, side: o.side, qty: o.qty, reason_code: d.reason, message: d.message });
    },
    candle() { refreshCorrelationSoon(); },
    lagged() { reloadAll(); },
  };
  let es = null;
  function setConn(state) {
    S.conn = state;
    const c = $("#conn");
    c.className = "conn " + (state === "live" ? "live" : "down");
    c.textContent = state === "live" ? "● live" : state;
  }
  function connect() {
    if (typeof EventSource === "undefined") { setConn("no live updates"); return; }
    es = new EventSource("/api/events");
    es.onopen = () => setConn("live");
    es.onerror = () => setConn("reconnecting…");
    for (const [kind, f] of Object.entries(handlers)) {
      es.addEventListener(kind, (m) => {
        let d;
        try { d = JSON.parse(m.data); } catch (e) { return; }
        try { f(d); } catch (e) { console.error(kind, e); }
      });
    }
  }
  function reloadAll() {
    S.fleet = null;
    route();
  }

  // ---------------------------------------------------------------- start
  document.addEventListener("DOMContentLoaded", () => {
    applyTheme(document.documentElement.dataset.theme);
    $("#theme-toggle").addEventListener("click", () => {
      const t = document.documentElement.dataset.theme === "dark" ? "light" : "dark";
      store.set(THEME_KEY, t);
      applyTheme(t);
    });
    // Keys: f fleet, r runs, c correlation, t theme (not while typing).
    document.addEventListener("keydown", (e) => {
      if (e.ctrlKey || e.metaKey || e.altKey || /^(INPUT|SELECT|TEXTAREA)$/.test(e.target.tagName) || document.querySelector("dialog[open]")) return;
      const go = { f: "#/", r: "#/runs", c: "#/correlation" }[e.key];
      if (go) location.hash = go;
      else if (e.key === "t") $("#theme-toggle").click();
    });
    let resize = null;
    window.addEventListener("resize", () => { clearTimeout(resize); resize = setTimeout(drawCharts, 150); });
    window.addEventListener("hashchange", route);
    route();
    connect();
  });
})();
