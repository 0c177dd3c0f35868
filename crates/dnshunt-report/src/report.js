(function () {
  "use strict";
  // The findings table: data from one JSON blob, rendered a page at a time. Every value from
  // the logs is attacker-controlled, so text only ever goes in through textContent.
  var PAGE = 200;
  var SEV = { info: 0, low: 1, medium: 2, high: 3, critical: 4 };
  // Process contexts and chains are stored once and shared (see page.rs); evidence events
  // arrive as one line of text each.
  var data = JSON.parse(document.getElementById("findings-data").textContent);
  var findings = data.findings;
  var state = { filter: "", severity: "", detector: "", sort: "severity", dir: -1, page: 0 };
  var open = new Set();
  var view = [];

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function imageName(p) { if (!p) return ""; var parts = String(p).split(/[\\/]/); return parts[parts.length - 1]; }
  function shortTime(t) { return t ? String(t).replace("T", " ").replace(/\.\d+Z$/, "Z") : ""; }

  findings.forEach(function (f, i) {
    f.process = data.processes[f.p] || {};
    if (f.c !== undefined) f.details.process_chain = data.chains[f.c];
    f._i = i;
    f._sev = SEV[f.severity] || 0;
    f._image = imageName(f.process && f.process.image);
    f._hay = [f.id, f.detector, f.severity, f.host, f.process && f.process.image, f.process && f.process.command_line,
      f.query_name, f.query_name_unicode, f.registered_domain, f.explanation, (f.attack || []).join(" ")]
      .filter(Boolean).join("\n").toLowerCase();
  });

  var KEYS = {
    severity: function (f) { return f._sev * 1000 + f.score; },
    score: function (f) { return f.score; },
    time: function (f) { return f.time; },
    detector: function (f) { return f.detector; },
    host: function (f) { return f.host || ""; },
    process: function (f) { return f._image.toLowerCase(); },
    query: function (f) { return f.query_name || (f.details && f.details.target) || ""; },
    count: function (f) { return f.count; }
  };

  var input = document.getElementById("f-text");
  var sevSelect = document.getElementById("f-severity");
  var detSelect = document.getElementById("f-detector");
  var tbody = document.querySelector("#findings tbody");
  var info = document.getElementById("f-info");
  var prev = document.getElementById("f-prev");
  var next = document.getElementById("f-next");

  var detectors = Array.from(new Set(findings.map(function (f) { return f.detector; }))).sort();
  detectors.forEach(function (d) { var o = el("option", null, d); o.value = d; detSelect.appendChild(o); });

  function readHash() {
    var h = location.hash.replace(/^#/, "");
    if (!h) return;
    new URLSearchParams(h).forEach(function (v, k) {
      if (k === "filter") state.filter = v;
      else if (k === "severity" && (v === "" || v in SEV)) state.severity = v;
      else if (k === "detector") state.detector = v;
      else if (k === "sort" && v in KEYS) state.sort = v;
      else if (k === "dir") state.dir = v === "asc" ? 1 : -1;
    });
    input.value = state.filter;
    sevSelect.value = state.severity;
    if (state.detector && detectors.indexOf(state.detector) < 0) {
      var o = el("option", null, state.detector); o.value = state.detector; detSelect.appendChild(o);
    }
    detSelect.value = state.detector;
  }
  function writeHash() {
    var p = new URLSearchParams();
    if (state.filter) p.set("filter", state.filter);
    if (state.severity) p.set("severity", state.severity);
    if (state.detector) p.set("detector", state.detector);
    if (state.sort !== "severity" || state.dir !== -1) { p.set("sort", state.sort); p.set("dir", state.dir > 0 ? "asc" : "desc"); }
    var s = p.toString();
    try { history.replaceState(null, "", s ? "#" + s : location.pathname + location.search); } catch (e) { /* some file:// contexts refuse */ }
  }

  function compute() {
    var needle = state.filter.trim().toLowerCase();
    var minSev = state.severity ? SEV[state.severity] : -1;
    var key = KEYS[state.sort];
    view = findings.filter(function (f) {
      return f._sev >= minSev && (!state.detector || f.detector === state.detector) && (!needle || f._hay.indexOf(needle) >= 0);
    });
    view.sort(function (a, b) {
      var x = key(a), y = key(b);
      var c = x < y ? -1 : x > y ? 1 : 0;
      return c * state.dir || a._i - b._i;
    });
    document.querySelectorAll("#findings th").forEach(function (th) {
      th.setAttribute("aria-sort", th.dataset.key === state.sort ? (state.dir > 0 ? "ascending" : "descending") : "none");
    });
  }

  function kv(dl, name, value, mono) {
    if (value === undefined || value === null || value === "") return;
    dl.appendChild(el("dt", null, name));
    var dd = el("dd", mono ? "mono" : null);
    if (value instanceof Node) dd.appendChild(value); else dd.textContent = String(value);
    dl.appendChild(dd);
  }

  function chain(f) {
    var links = [];
    var d = f.details || {};
    if (Array.isArray(d.process_chain) && d.process_chain.length) {
      var ol = el("ol", "mono");
      ol.reversed = true;
      d.process_chain.slice().reverse().forEach(function (a) {
        ol.appendChild(el("li", null, (a.image || "?") + (a.pid !== undefined ? " (pid " + a.pid + ")" : "") + (a.command_line ? " — " + a.command_line : "")));
      });
      ol.appendChild(el("li", null, (f.process.image || "?") + (f.process.pid !== undefined ? " (pid " + f.process.pid + ")" : "") +
        (f.process.command_line ? " — " + f.process.command_line : "")));
      return ol;
    }
    if (f.process && f.process.parent_image) links.push(f.process.parent_image + (f.process.parent_command_line ? " — " + f.process.parent_command_line : ""));
    if (f.process && f.process.image) links.push(f.process.image + (f.process.command_line ? " — " + f.process.command_line : ""));
    return links.length ? links.join("\n  → ") : "";
  }

  function detail(f) {
    var tr = el("tr", "detail");
    var td = el("td");
    td.colSpan = 8;
    var dl = el("dl");
    kv(dl, "Explanation", f.explanation);
    kv(dl, "ATT&CK", (f.attack || []).join(", "));
    kv(dl, "First / last seen", shortTime(f.time) + "  →  " + shortTime(f.time_last));
    kv(dl, "Process chain", chain(f), true);
    kv(dl, "User", f.process && f.process.user);
    kv(dl, "Process GUID", f.process && f.process.guid, true);
    kv(dl, "Query (Unicode)", f.query_name_unicode);
    kv(dl, "Registered domain", f.registered_domain);
    var evs = f.evidence || [];
    if (evs.length) {
      var t = el("table");
      var head = el("tr");
      ["Time", "Event", "What", "Origin"].forEach(function (h) { head.appendChild(el("th", null, h)); });
      t.appendChild(head);
      evs.forEach(function (ev) {
        var r = el("tr");
        r.appendChild(el("td", "mono", shortTime(ev.time)));
        r.appendChild(el("td", null, ev.event_type));
        r.appendChild(el("td", "name", ev.what));
        r.appendChild(el("td", "mono", ev.origin));
        t.appendChild(r);
      });
      kv(dl, "Evidence (" + evs.length + " of " + f.count + ")", t);
    }
    var details = Object.assign({}, f.details || {});
    delete details.process_chain;
    if (Object.keys(details).length) kv(dl, "Details", el("pre", null, JSON.stringify(details, null, 2)));
    kv(dl, "Finding id", f.id, true);
    td.appendChild(dl);
    tr.appendChild(td);
    return tr;
  }

  function row(f) {
    var tr = el("tr", "finding" + (open.has(f.id) ? " open" : ""));
    tr.dataset.id = f.id;
    var sev = el("td");
    sev.appendChild(el("span", "sev sev-" + f.severity, f.severity));
    tr.appendChild(sev);
    tr.appendChild(el("td", "num", f.score));
    tr.appendChild(el("td", "mono", shortTime(f.time)));
    tr.appendChild(el("td", null, f.detector));
    tr.appendChild(el("td", null, f.host || ""));
    var p = el("td", null, f._image);
    if (f.process && f.process.image) p.title = f.process.image;
    tr.appendChild(p);
    tr.appendChild(el("td", "q", KEYS.query(f)));
    tr.appendChild(el("td", "num", f.count));
    tr.addEventListener("click", function () {
      if (open.has(f.id)) open.delete(f.id); else open.add(f.id);
      draw();
    });
    return tr;
  }

  function draw() {
    var pages = Math.max(1, Math.ceil(view.length / PAGE));
    state.page = Math.min(state.page, pages - 1);
    var from = state.page * PAGE;
    var slice = view.slice(from, from + PAGE);
    var frag = document.createDocumentFragment();
    slice.forEach(function (f) {
      frag.appendChild(row(f));
      if (open.has(f.id)) frag.appendChild(detail(f));
    });
    tbody.replaceChildren(frag);
    info.textContent = view.length ? "Showing " + (from + 1) + "–" + (from + slice.length) + " of " + view.length +
      (view.length !== findings.length ? " matching (" + findings.length + " in all)" : "") : "No finding matches (" + findings.length + " in all)";
    prev.disabled = state.page === 0;
    next.disabled = state.page >= pages - 1;
    var status = document.getElementById("report-status");
    status.setAttribute("data-matching", String(view.length));
    status.setAttribute("data-rendered", String(slice.length));
  }

  function update() { compute(); writeHash(); draw(); }

  var timer = 0;
  input.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(function () { state.filter = input.value; state.page = 0; update(); }, 120);
  });
  sevSelect.addEventListener("change", function () { state.severity = sevSelect.value; state.page = 0; update(); });
  detSelect.addEventListener("change", function () { state.detector = detSelect.value; state.page = 0; update(); });
  prev.addEventListener("click", function () { state.page -= 1; draw(); });
  next.addEventListener("click", function () { state.page += 1; draw(); });
  document.querySelectorAll("#findings th").forEach(function (th) {
    th.addEventListener("click", function () {
      var k = th.dataset.key;
      if (state.sort === k) state.dir = -state.dir; else { state.sort = k; state.dir = (k === "detector" || k === "host" || k === "process" || k === "query") ? 1 : -1; }
      update();
    });
  });
  window.addEventListener("hashchange", function () { readHash(); state.page = 0; compute(); draw(); });

  readHash();
  compute();
  draw();
  document.body.setAttribute("data-errors", String(window.dnshuntErrors ? window.dnshuntErrors.length : 0));
  document.getElementById("report-status").setAttribute("data-ready", "1");
})();
