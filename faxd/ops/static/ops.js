// faxd operations page: signs in with an API key, then follows the event stream (SSE).
// No polling: /metrics is read once at sign-in (queues, switches); everything after comes
// from the stream, switch connections going down and up included (the all-accounts view).
// Plain JavaScript, no build step, no third-party code.
"use strict";

const KINDS = ["queued", "prepared", "dialing", "answered", "negotiated", "page", "completed", "failed",
  "cancelled", "retry_scheduled", "inbound_started", "inbound_negotiated", "inbound_page",
  "inbound_received", "inbound_failed", "email_accepted", "email_refused",
  "switch_connected", "switch_disconnected"];
const KEEP_ENDED_MS = 60000;
const $ = (id) => document.getElementById(id);

const state = {
  token: null, account: null, all: false, source: null,
  calls: new Map(),            // fax id (or call id) -> {el, started, ended, ...}
  queues: new Map(),           // account -> {attaching_files, pending, processing}
  failures: new Map(),         // result key -> {count, texts:Set, last}
  minutes: [],                 // last 60 minutes: {t, sent, failed, received}
  switches: [],
};

function text(el, value) { el.textContent = value; return el; }
function make(tag, cls, value) {
  const el = document.createElement(tag);
  if (cls) el.className = cls;
  if (value !== undefined) el.textContent = value;
  return el;
}
function short(id) { return id ? String(id).slice(0, 8) : "?"; }

// --- sign-in

async function signIn(key) {
  const r = await fetch("/v2/api_auth", {method: "PUT", headers: {"Content-Type": "application/json"},
                                         body: JSON.stringify({data: {api_key: key}})});
  const body = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(body.message || ("sign-in failed: " + r.status));
  return {token: body.auth_token, account: body.data.account_id};
}

async function start(token, account) {
  state.token = token; state.account = account;
  sessionStorage.setItem("faxd-ops", JSON.stringify({token, account}));
  // Super-admins watch every account; anyone else their own.
  const probe = new AbortController();
  try {
    const r = await fetch("/v2/events", {headers: {"X-Auth-Token": token}, signal: probe.signal});
    state.all = r.status === 200;
    if (r.status === 401) { signOut("session expired: sign in again"); return; }
  } catch (e) { state.all = false; }
  probe.abort();
  $("signin").hidden = true; $("board").hidden = false; $("signout").hidden = false;
  text($("scope"), state.all ? "all accounts" : "account " + short(account));
  await loadMetrics();
  connect();
  render();
}

function signOut(message) {
  if (state.source) state.source.close();
  sessionStorage.removeItem("faxd-ops");
  state.token = null;
  $("board").hidden = true; $("signin").hidden = false; $("signout").hidden = true;
  text($("signin-error"), message || "");
  setConn(false, "not connected");
}

// --- the snapshot at sign-in (/metrics, Prometheus text format)

function parseMetrics(body) {
  const out = [];
  for (const line of body.split("\n")) {
    if (!line || line[0] === "#") continue;
    const m = line.match(/^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)/);
    if (!m) continue;
    const labels = {};
    (m[2] || "").replace(/(\w+)="((?:[^"\\]|\\.)*)"/g, (_, k, v) => { labels[k] = v; return ""; });
    out.push({name: m[1], labels, value: parseFloat(m[3])});
  }
  return out;
}

async function loadMetrics() {
  try {
    const r = await fetch("/metrics", {headers: {"Accept": "text/plain", "X-Auth-Token": state.token}});
    if (!r.ok) return;   // 403: /metrics is for super-admins (or loopback callers)
    const samples = parseMetrics(await r.text());
    state.queues.clear();
    const sw = new Map();
    for (const s of samples) {
      if (s.name === "faxd_account_jobs" && (state.all || s.labels.account === state.account)) {
        queue(s.labels.account)[s.labels.status] = s.value;
      } else if (s.name === "faxd_switch_connected") {
        sw.set(s.labels.switch + "@" + s.labels.node, {name: s.labels.switch, node: s.labels.node,
                                                        up: s.value === 1, calls: null});
      } else if (s.name === "faxd_switch_calls") {
        const k = s.labels.switch + "@" + s.labels.node;
        if (sw.has(k)) sw.get(k).calls = s.value;
      }
    }
    state.switches = [...sw.values()];
  } catch (e) { /* the stream still works without the snapshot */ }
}

function queue(account) {
  if (!state.queues.has(account)) state.queues.set(account, {attaching_files: 0, pending: 0, processing: 0});
  return state.queues.get(account);
}
function move(account, from, to) {
  const q = queue(account);
  if (from) q[from] = Math.max(0, q[from] - 1);
  if (to) q[to] += 1;
}

// --- the stream

function setConn(on, label) {
  const el = $("conn");
  el.className = "conn " + (on ? "on" : "off");
  text(el, label);
}

function connect() {
  if (state.source) state.source.close();
  const path = state.all ? "/v2/events" : "/v2/accounts/" + encodeURIComponent(state.account) + "/faxes/events";
  const src = new EventSource(path + "?auth_token=" + encodeURIComponent(state.token));
  state.source = src;
  src.onopen = () => setConn(true, "live");
  src.onerror = () => {
    if (src.readyState === EventSource.CLOSED) {
      setConn(false, "disconnected");
      setTimeout(() => { if (state.token && state.source === src) connect(); }, 3000);
    } else {
      setConn(false, "reconnecting");   // EventSource resumes with Last-Event-ID itself
    }
  };
  for (const kind of KINDS) src.addEventListener(kind, (e) => handle(kind, JSON.parse(e.data)));
}

function callFor(ev, inbound) {
  const key = ev.fax_id || ev.call_id;
  let c = state.calls.get(key);
  if (!c && inbound && ev.call_id) {
    for (const other of state.calls.values()) if (other.callId === ev.call_id) c = other;
  }
  if (!c) {
    c = {key, callId: ev.call_id, inbound, account: ev.account_id, number: "", status: "", page: 0, total: 0,
         speed: 0, mode: "", remote: "", started: Date.now(), ended: null, log: []};
    c.el = buildCard(c);
    state.calls.set(key, c);
    $("calls").prepend(c.el);
  }
  return c;
}

function handle(kind, ev) {
  const d = ev.data || {};
  const acct = ev.account_id;
  if (kind === "switch_connected" || kind === "switch_disconnected") {
    const up = kind === "switch_connected";
    let s = state.switches.find((x) => x.name === d.switch && x.node === d.node);
    if (!s) { s = {name: d.switch, node: d.node, up, calls: null}; state.switches.push(s); }
    s.up = up;
    render(); return;
  }
  switch (kind) {
    case "queued": move(acct, null, d.status === "attaching_files" ? "attaching_files" : "pending"); break;
    case "prepared": move(acct, "attaching_files", "pending"); break;
    case "dialing": move(acct, "pending", "processing"); break;
    case "retry_scheduled": move(acct, "processing", "pending"); break;
    case "completed": case "failed": case "cancelled": move(acct, "processing", null); break;
  }
  if (kind === "queued" || kind === "prepared") { render(); return; }
  if (kind === "email_accepted" || kind === "email_refused") {
    if (kind === "email_refused") fail("email refused", d.smtp_text || (d.errors || []).join("; "));
    render(); return;
  }
  const inbound = kind.startsWith("inbound_");
  const c = callFor(ev, inbound);
  if (d.to_number && !inbound) c.number = d.to_number;
  if (d.from_number && inbound) c.number = d.from_number;
  if (d.pages_total) c.total = d.pages_total;
  switch (kind) {
    case "dialing": Object.assign(c, {status: "dialing", ended: null, page: 0, started: Date.now()});
      c.log.push("dialing (attempt " + (d.attempt || 1) + ")"); break;
    case "answered": c.status = "answered"; c.log.push("answered"); break;
    case "negotiated": case "inbound_negotiated":
      c.status = inbound ? "receiving" : "sending"; c.speed = d.fax_speed || 0;
      c.mode = [d.ecm ? "ECM" : "", d.t38 ? "T.38" : ""].filter(Boolean).join(" ");
      c.remote = d.remote_station_id || "";
      c.log.push(c.speed + " bps" + (c.mode ? " " + c.mode : "")); break;
    case "page": case "inbound_page":
      c.page = d.page; c.log.push("page " + d.page + (c.total ? " of " + c.total : "")); break;
    case "inbound_started": c.status = "ringing"; c.log.push("incoming call"); break;
    case "completed": case "inbound_received":
      c.status = "completed"; c.ended = Date.now(); if (d.pages_sent || d.pages) c.page = d.pages_sent || d.pages;
      c.log.push("completed"); count(inbound ? "received" : "sent"); break;
    case "failed": case "inbound_failed": case "retry_scheduled": case "cancelled": {
      c.status = kind === "retry_scheduled" ? "retry scheduled" : (kind === "cancelled" ? "cancelled" : "failed");
      c.ended = Date.now();
      c.log.push(c.status + (d.error ? ": " + d.error : ""));
      if (kind !== "cancelled") {
        const key = d.result_code ? "T.30 code " + d.result_code : (d.hangup_cause || "error");
        fail(key, d.error || d.result_text || "");
        if (kind !== "retry_scheduled") count("failed");
      }
      break;
    }
  }
  updateCard(c);
  render();
}

function fail(key, message) {
  const g = state.failures.get(key) || {count: 0, texts: new Set(), last: 0};
  g.count += 1; g.last = Date.now();
  if (message) g.texts.add(message);
  state.failures.set(key, g);
}

function minute() {
  const t = Math.floor(Date.now() / 60000);
  let m = state.minutes[state.minutes.length - 1];
  if (!m || m.t !== t) { m = {t, sent: 0, failed: 0, received: 0}; state.minutes.push(m); }
  while (state.minutes.length && state.minutes[0].t <= t - 60) state.minutes.shift();
  return m;
}
function count(what) { minute()[what] += 1; }

// --- drawing

function buildCard(c) {
  const el = make("div", "call");
  el.dataset.faxId = c.key;
  const top = make("div", "top");
  top.append(make("span", "dir", c.inbound ? "⇠ in" : "⇢ out"), make("span", "number"), make("span", "account"),
             make("span", "status"));
  const bar = make("div", "progress");
  bar.append(make("div"));
  el.append(top, bar, make("div", "meta"), make("div", "log"));
  return el;
}

function elapsed(c) {
  const s = Math.max(0, Math.round(((c.ended || Date.now()) - c.started) / 1000));
  return Math.floor(s / 60) + ":" + String(s % 60).padStart(2, "0");
}

function updateCard(c) {
  const el = c.el;
  el.className = "call" + (c.status === "completed" ? " done" : "") + (c.status === "failed" ? " failed" : "");
  el.dataset.status = c.status;
  el.dataset.page = c.page;
  text(el.querySelector(".number"), c.number || "…");
  text(el.querySelector(".account"), state.all ? "acct " + short(c.account) : "");
  text(el.querySelector(".status"), c.status);
  const pct = c.total ? Math.min(100, 100 * c.page / c.total) : (c.status === "completed" ? 100 : 0);
  el.querySelector(".progress > div").style.width = pct + "%";
  text(el.querySelector(".meta"), [
    "pages " + c.page + " / " + (c.total || "?"), c.speed ? c.speed + " bps" : "", c.mode,
    c.remote ? "remote " + c.remote : "", elapsed(c)].filter(Boolean).join(" · "));
  el.querySelector(".meta").dataset.pages = c.page + "/" + (c.total || "?");
  text(el.querySelector(".log"), c.log.slice(-6).join(" → "));
}

function render() {
  const now = Date.now();
  for (const [k, c] of state.calls) {
    if (c.ended && now - c.ended > KEEP_ENDED_MS) { c.el.remove(); state.calls.delete(k); }
  }
  const live = [...state.calls.values()].filter((c) => !c.ended).length;
  text($("live-count"), live);
  const empty = $("calls").querySelector(".empty");
  if (state.calls.size && empty) empty.remove();
  if (!state.calls.size && !empty) $("calls").append(make("p", "empty", "No calls."));

  const rows = $("queue-rows");
  rows.replaceChildren();
  for (const [acct, q] of [...state.queues].sort()) {
    if (!q.attaching_files && !q.pending && !q.processing) continue;
    const tr = make("tr");
    tr.dataset.account = acct;
    tr.append(make("td", "", short(acct)), make("td", "n", q.attaching_files), make("td", "n", q.pending),
              make("td", "n", q.processing));
    rows.append(tr);
  }
  if (!rows.children.length) {
    const tr = make("tr"); const td = make("td", "empty", "Nothing queued."); td.colSpan = 4; tr.append(td);
    rows.append(tr);
  }

  const fl = $("failure-groups");
  fl.replaceChildren();
  for (const [key, g] of [...state.failures].sort((a, b) => b[1].last - a[1].last).slice(0, 10)) {
    const li = make("li");
    li.append(make("strong", "", key + " × " + g.count), make("div", "meta", [...g.texts].slice(-3).join(" · ")));
    fl.append(li);
  }
  if (!fl.children.length) fl.append(make("li", "empty", "None."));

  const sl = $("switch-list");
  sl.replaceChildren();
  const onCalls = live;
  for (const s of state.switches) {
    const li = make("li");
    li.append(make("span", s.up ? "up" : "down", s.up ? "● " : "○ "),
              document.createTextNode(s.name + " on node " + short(s.node) + (s.up ? " up" : " DOWN")));
    sl.append(li);
  }
  const used = make("li", "", "channels in use (live calls): " + onCalls);
  sl.append(used);

  minute();
  const bars = $("tp-bars");
  bars.replaceChildren();
  const t = Math.floor(now / 60000);
  const byT = new Map(state.minutes.map((m) => [m.t, m]));
  let max = 1, total = {sent: 0, failed: 0, received: 0};
  for (const m of state.minutes) {
    max = Math.max(max, m.sent + m.failed + m.received);
    for (const k in total) total[k] += m[k];
  }
  for (let i = t - 59; i <= t; i++) {
    const m = byT.get(i);
    const n = m ? m.sent + m.failed + m.received : 0;
    const b = make("div");
    b.style.height = (100 * n / max) + "%";
    b.title = n + " faxes";
    bars.append(b);
  }
  text($("tp-summary"), "since this page opened: " + total.sent + " sent, " + total.failed + " failed, " +
       total.received + " received");
}

// Elapsed times tick on the page's own clock (no request is made).
setInterval(() => { for (const c of state.calls.values()) if (!c.ended) updateCard(c); render(); }, 1000);

document.addEventListener("DOMContentLoaded", () => {
  $("signin").addEventListener("submit", async (e) => {
    e.preventDefault();
    text($("signin-error"), "");
    try {
      const {token, account} = await signIn($("apikey").value.trim());
      $("apikey").value = "";
      await start(token, account);
    } catch (err) { text($("signin-error"), err.message); }
  });
  $("signout").addEventListener("click", () => signOut());
  const saved = sessionStorage.getItem("faxd-ops");
  if (saved) { const s = JSON.parse(saved); start(s.token, s.account); }
});
