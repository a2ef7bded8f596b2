// Weft console: theme switch, action buttons that call the JSON API, the
// policy check-before-apply flow and the path charts (uPlot). No framework;
// htmx and its SSE extension swap the live fragments.
(function () {
  "use strict";
  // Live streams: each page's EventSource is closed when the page is left,
  // so a kept (back/forward cached) page does not hold one of the browser's
  // few HTTP/1.1 connections to the agent; such a page reloads when shown.
  // Set before the SSE extension loads (it uses htmx.createEventSource).
  if (window.htmx) {
    var streams = [];
    htmx.createEventSource = function (url) {
      var es = new EventSource(url, { withCredentials: true });
      streams.push(es);
      return es;
    };
    addEventListener("pagehide", function () { streams.forEach(function (es) { es.close(); }); streams = []; });
    addEventListener("pageshow", function (e) { if (e.persisted) location.reload(); });
  }
  var root = document.documentElement;
  var saved = localStorage.getItem("weft-theme");
  if (saved) root.setAttribute("data-theme", saved);
  function on(sel, ev, fn) { document.addEventListener(ev, function (e) { var t = e.target.closest && e.target.closest(sel); if (t) fn(t, e); }); }
  on("#theme", "click", function () {
    var dark = root.getAttribute("data-theme") === "dark" ||
      (!root.getAttribute("data-theme") && matchMedia("(prefers-color-scheme: dark)").matches);
    var next = dark ? "light" : "dark";
    root.setAttribute("data-theme", next);
    localStorage.setItem("weft-theme", next);
  });

  // <button data-post="/api/v1/..." data-body='{}' | data-body-from="#id" data-type="application/toml"
  //   data-out="#id" data-then="enable:#id"> — the answer (JSON) is shown in data-out.
  function post(btn) {
    var out = document.querySelector(btn.dataset.out || "#out");
    var body = btn.dataset.body || "";
    if (btn.dataset.bodyFrom) body = document.querySelector(btn.dataset.bodyFrom).value;
    btn.disabled = true;
    if (out) { out.textContent = "…"; out.removeAttribute("data-status"); }
    return fetch(btn.dataset.post, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": btn.dataset.type || "application/json" }, body: body
    }).then(function (r) {
      return r.text().then(function (t) {
        var text = t, sum = "";
        try { var obj = JSON.parse(t); text = JSON.stringify(obj, null, 2); sum = summary(obj); } catch (e) {}
        if (out) {
          out.textContent = (sum ? sum + "\n\n" : "") + "HTTP " + r.status + "\n" + text;
          out.setAttribute("data-status", String(r.status));
        }
        btn.disabled = false;
        return r.ok;
      });
    }).catch(function (e) { if (out) out.textContent = String(e); btn.disabled = false; return false; });
  }
  // One line for a human above the answer: a refusal's reason, or what a policy check found.
  function summary(o) {
    if (!o || typeof o !== "object") return "";
    if (o.code && o.message) return "Refused (" + o.code + "): " + o.message;
    if (o.diff && o.tests) {
      var n = function (a) { return (a || []).length; };
      var failed = (o.tests || []).filter(function (t) { return t.passed === false || t.ok === false; }).length;
      return (o.version ? "Applied: v" + o.version + " runs. " : "Check passed. ") + n(o.tests) + " test(s)" +
        (failed ? " (" + failed + " failed)" : "") + ", " + n(o.warnings) + " warning(s); changes: " +
        n(o.diff.rules) + " rule(s), " + n(o.diff.routing) + " routing, " + n(o.diff.verdicts) + " verdict(s).";
    }
    return "";
  }
  on("button[data-post]", "click", function (btn) {
    post(btn).then(function (ok) {
      var then = btn.dataset.then;
      if (ok && then && then.indexOf("enable:") === 0) {
        var t = document.querySelector(then.slice(7)); if (t) t.disabled = false;
      }
    });
  });
  // Editing a candidate policy needs a new check before apply.
  on("textarea[data-guards]", "input", function (ta) {
    var b = document.querySelector(ta.dataset.guards); if (b) b.disabled = true;
  });

  // Path charts: stored samples (10 s), then the live values of each SSE swap.
  function chart() {
    var el = document.getElementById("rtt-chart");
    if (!el || !window.uPlot) return;
    var id = el.dataset.path, since = Date.now() - 3600 * 1000;
    var rtt = [[], [], [], []], qual = [[], [], []];
    var w = function () { return Math.max(280, el.clientWidth - 12); };
    var axes = [{ stroke: "currentColor" }, { stroke: "currentColor" }];
    var u1 = new uPlot({ width: w(), height: 220, title: "RTT (ms): smoothed, p95, p99", axes: axes,
      series: [{}, { label: "rtt", stroke: "#1a73e8" }, { label: "p95", stroke: "#e8a21a" }, { label: "p99", stroke: "#d93025" }] }, rtt, el);
    var el2 = document.getElementById("quality-chart");
    var u2 = new uPlot({ width: w(), height: 180, title: "jitter (ms) and loss (%)", axes: axes,
      series: [{}, { label: "jitter", stroke: "#12b5cb" }, { label: "loss %", stroke: "#d93025" }] }, qual, el2);
    var el3 = document.getElementById("traffic-chart"), traffic = [[], [], []];
    var u3 = new uPlot({ width: w(), height: 180, title: "traffic (bytes/s): sent, received", axes: axes,
      series: [{}, { label: "sent", stroke: "#1a73e8" }, { label: "received", stroke: "#188038" }] }, traffic, el3);
    function push(t, r, p95, p99, j, l) {
      rtt[0].push(t); rtt[1].push(r); rtt[2].push(p95); rtt[3].push(p99);
      qual[0].push(t); qual[1].push(j); qual[2].push(l);
      if (rtt[0].length > 2000) { rtt.forEach(function (a) { a.shift(); }); qual.forEach(function (a) { a.shift(); }); }
      u1.setData(rtt); u2.setData(qual);
    }
    function rate(t, tx, rx) {
      traffic[0].push(t); traffic[1].push(tx); traffic[2].push(rx);
      if (traffic[0].length > 2000) traffic.forEach(function (a) { a.shift(); });
      u3.setData(traffic);
    }
    var last = null;
    fetch("/api/v1/paths/" + id + "/metrics?since_unix_ms=" + since, { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : []; }).then(function (samples) {
        samples.forEach(function (s) {
          push(s.at_unix_ms / 1000, s.rtt_ms == null ? null : s.rtt_ms, null, null, s.jitter_ms, s.loss_pct);
          var secs = Math.max(1, s.resolution_s);
          rate(s.at_unix_ms / 1000, s.tx_bytes / secs, s.rx_bytes / secs);
        });
        el.setAttribute("data-samples", String(samples.length));
        live();
      });
    function num(v) { return v === "" || v == null ? null : Number(v); }
    function live() {
      var now = document.getElementById("path-now");
      if (!now) return;
      var d = now.dataset;
      var t = Date.now() / 1000;
      push(t, num(d.rtt), num(d.p95), num(d.p99), num(d.jitter), num(d.loss));
      var tx = num(d.tx), rx = num(d.rx);
      if (last && t > last.t && tx >= last.tx && rx >= last.rx) rate(t, (tx - last.tx) / (t - last.t), (rx - last.rx) / (t - last.t));
      last = { t: t, tx: tx, rx: rx };
      el.setAttribute("data-points", String(rtt[0].length));
    }
    document.body.addEventListener("htmx:afterSwap", live);
    addEventListener("resize", function () {
      u1.setSize({ width: w(), height: 220 }); u2.setSize({ width: w(), height: 180 }); u3.setSize({ width: w(), height: 180 });
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", chart); else chart();
})();
// Explain: the flows page's form asks GET /api/v1/explain and shows the answer.
document.addEventListener("submit", function (e) {
  var f = e.target;
  if (!f.matches || !f.matches("form[data-explain]")) return;
  e.preventDefault();
  var q = new URLSearchParams();
  new FormData(f).forEach(function (v, k) { if (v !== "") q.append(k, v); });
  var out = document.querySelector(f.dataset.explain);
  fetch("/api/v1/explain?" + q.toString(), { credentials: "same-origin" }).then(function (r) {
    return r.text().then(function (t) {
      try { t = JSON.stringify(JSON.parse(t), null, 2); } catch (x) {}
      out.textContent = "HTTP " + r.status + "\n" + t;
    });
  });
});
