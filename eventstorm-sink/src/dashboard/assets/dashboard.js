// The Eventstorm dashboard page: loads `api/series`, then follows
// `api/stream` (one update per second). Every value drawn is also in a
// table; lines differ by dash pattern as well as colour. Text from the
// server is only ever set as text (names come from the network).
"use strict";

(function () {
  const COLORS = ["#0969da", "#cf222e", "#1a7f37", "#8250df", "#bf8700",
    "#1b7c83", "#bc4c00", "#6e7781", "#a40e26", "#4d2d00"];
  const DASHES = [[], [8, 4], [2, 3], [10, 3, 2, 3], [4, 4], [1, 2], [12, 6], [6, 2, 2, 2]];
  const DIMENSIONS = ["by_type", "by_severity", "by_tenant"];
  const params = new URLSearchParams(location.search);
  // `?updates=N`: follow the stream for N updates, then stop (tests).
  const testUpdates = params.get("updates");

  const state = {
    window: 900,
    times: [],
    dims: {},      // dimension -> { names: [...], values: { name: [...] } }
    charts: {},    // dimension -> uPlot
    source: null,
    updates: 0,
    loading: null,
  };

  function setState(name, text) {
    document.body.dataset.state = name;
    document.getElementById("status-text").textContent = text;
  }

  function fmt(n) {
    if (typeof n !== "number") return "–";
    if (Number.isInteger(n)) return n.toLocaleString("en-US");
    return n.toLocaleString("en-US", { maximumFractionDigits: 1, minimumFractionDigits: 1 });
  }

  function style(i) {
    return { stroke: COLORS[i % COLORS.length], dash: DASHES[i % DASHES.length] };
  }

  function el(tag, attrs, text) {
    const e = document.createElement(tag);
    for (const k in attrs || {}) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function numberCell(value, col) {
    return el("td", { "data-col": col, "data-value": String(value) }, fmt(value));
  }

  // ---- graphs

  function chartData(dim) {
    const d = state.dims[dim];
    return [state.times.slice()].concat(d.names.map((n) => d.values[n].slice()));
  }

  function drawChart(dim) {
    const box = document.getElementById("chart-" + dim);
    const d = state.dims[dim];
    if (state.charts[dim]) {
      state.charts[dim].destroy();
      delete state.charts[dim];
    }
    box.textContent = "";
    box.dataset.series = String(d.names.length);
    box.dataset.points = String(state.times.length);
    if (typeof uPlot === "undefined") {
      box.textContent = "(graph unavailable: the charting script did not load)";
      return;
    }
    const width = Math.max(300, box.clientWidth || 600);
    const series = [{}].concat(d.names.map((name, i) => {
      const s = style(i);
      return { label: name, stroke: s.stroke, dash: s.dash, width: 2, points: { show: false } };
    }));
    const opts = {
      width: width,
      height: 220,
      scales: { x: { time: true }, y: { range: (u, min, max) => [0, Math.max(1, max * 1.1)] } },
      axes: [{}, { label: "events/s", size: 60 }],
      series: series,
      legend: { show: true, live: false },
      cursor: { drag: { x: false, y: false } },
    };
    state.charts[dim] = new uPlot(opts, chartData(dim), box);
  }

  function refreshChart(dim) {
    const chart = state.charts[dim];
    const box = document.getElementById("chart-" + dim);
    box.dataset.points = String(state.times.length);
    if (chart) chart.setData(chartData(dim));
  }

  // ---- tables

  function seriesTable(dim, rows) {
    const table = document.getElementById("table-" + dim);
    const caption = table.querySelector("caption");
    table.textContent = "";
    if (caption) table.appendChild(caption);
    const head = el("tr");
    ["name", "last second", "10 s average", "in the window", "since start"].forEach((h) =>
      head.appendChild(el("th", { scope: "col" }, h)));
    table.appendChild(el("thead")).appendChild(head);
    const body = table.appendChild(el("tbody"));
    const names = (state.dims[dim] || { names: [] }).names;
    rows.forEach((row) => {
      const tr = el("tr", { "data-series": row.name });
      const name = el("td", { "data-col": "name" });
      const i = names.indexOf(row.name);
      if (i >= 0) {
        const swatch = el("span", { class: "swatch", "aria-hidden": "true" });
        const s = style(i);
        swatch.style.borderTopColor = s.stroke;
        swatch.style.borderTopStyle = s.dash.length ? "dashed" : "solid";
        name.appendChild(swatch);
      }
      name.appendChild(document.createTextNode(row.name + (row.folded ? " (" + row.folded + " more)" : "")));
      tr.appendChild(name);
      tr.appendChild(numberCell(row.last, "last"));
      tr.appendChild(numberCell(row.avg10, "avg10"));
      tr.appendChild(numberCell(row.window_total, "window_total"));
      tr.appendChild(numberCell(row.total, "total"));
      body.appendChild(tr);
    });
    if (!rows.length) {
      const tr = body.appendChild(el("tr"));
      tr.appendChild(el("td", { colspan: "5" }, "no events yet"));
    }
  }

  const LOSSES = ["lost", "dropped", "undecodable", "refused"];

  function componentsTable(rows) {
    const table = document.getElementById("components");
    const caption = table.querySelector("caption");
    table.textContent = "";
    if (caption) table.appendChild(caption);
    const cols = [["name", "component"], ["kind", "kind"], ["state", "state"], ["age_secs", "last report (s ago)"],
      ["received_per_sec", "received/s"], ["sent_per_sec", "sent/s"], ["losses_per_sec", "losses/s"],
      ["received", "received"], ["sent", "sent"], ["written", "written"], ["lost", "lost"],
      ["missed_at_join", "missed at join"], ["dropped", "dropped"], ["undecodable", "undecodable"],
      ["refused", "refused"]];
    const head = el("tr");
    cols.forEach((c) => head.appendChild(el("th", { scope: "col" }, c[1])));
    table.appendChild(el("thead")).appendChild(head);
    const body = table.appendChild(el("tbody"));
    rows.forEach((row) => {
      const tr = el("tr", { "data-component": row.name, class: row.stale ? "stale" : "live" });
      cols.forEach((c) => {
        const key = c[0];
        if (key === "name" || key === "kind") {
          tr.appendChild(el("td", { "data-col": key }, row[key]));
        } else if (key === "state") {
          const text = row.stale ? "stale" : "live";
          tr.appendChild(el("td", { "data-col": "state", class: "state-" + text }, text));
        } else {
          const td = numberCell(row[key], key);
          if (LOSSES.indexOf(key) >= 0 && row[key] > 0) td.classList.add("loss");
          if (key === "losses_per_sec" && row[key] > 0) td.classList.add("loss");
          tr.appendChild(td);
        }
      });
      body.appendChild(tr);
    });
    if (!rows.length) {
      const tr = body.appendChild(el("tr"));
      tr.appendChild(el("td", { colspan: String(cols.length) },
        "no stats events yet: point components' stats at this dashboard (see docs/dashboard.md)"));
    }
  }

  function setTotal(id, value) {
    const dd = document.getElementById(id);
    dd.dataset.value = String(value);
    dd.textContent = fmt(value);
  }

  function renderTables(data) {
    const t = data.totals;
    setTotal("total-last", t.last);
    setTotal("total-avg10", t.avg10);
    setTotal("total-window", t.window_total);
    setTotal("total-all", t.total);
    setTotal("total-components", data.components.length);
    setTotal("total-stale", data.components.filter((c) => c.stale).length);
    document.getElementById("type-depth").textContent =
      "(first " + data.type_depth + " segment" + (data.type_depth > 1 ? "s" : "") + ")";
    DIMENSIONS.forEach((dim) => seriesTable(dim, data[dim].series));
    componentsTable(data.components);
  }

  // ---- data

  function load() {
    if (state.loading) return state.loading;
    state.loading = fetch("api/series", { cache: "no-store" })
      .then((r) => {
        if (!r.ok) throw new Error("api/series answered " + r.status);
        return r.json();
      })
      .then((data) => {
        state.window = data.window_secs;
        const n = data.totals.points.length;
        state.times = [];
        for (let i = 0; i < n; i++) state.times.push(data.start + i);
        DIMENSIONS.forEach((dim) => {
          const names = data[dim].series.map((s) => s.name);
          const values = {};
          data[dim].series.forEach((s) => { values[s.name] = s.points.slice(); });
          state.dims[dim] = { names: names, values: values };
          drawChart(dim);
        });
        renderTables(data);
        state.last = data.now;
      })
      .finally(() => { state.loading = null; });
    return state.loading;
  }

  function sameNames(dim, rows) {
    const names = state.dims[dim].names;
    // The same series, in any order (the table is sorted by traffic; the
    // graph keeps its order and colours).
    return names.length === rows.length && rows.every((r) => names.indexOf(r.name) >= 0);
  }

  function apply(update) {
    state.updates += 1;
    document.body.dataset.updates = String(state.updates);
    if (update.now === null || update.now === state.last) {
      renderTables(update);
      return;
    }
    const follows = state.last !== null && state.last !== undefined && update.now === state.last + 1;
    if (!follows || !DIMENSIONS.every((dim) => state.dims[dim] && sameNames(dim, update[dim].series))) {
      // A gap, or other series to draw: load the window again.
      load().catch(() => {});
      return;
    }
    state.times.push(update.now);
    const drop = Math.max(0, state.times.length - state.window);
    state.times.splice(0, drop);
    DIMENSIONS.forEach((dim) => {
      update[dim].series.forEach((s) => {
        const v = state.dims[dim].values[s.name];
        v.push(s.last);
        v.splice(0, drop);
      });
      refreshChart(dim);
    });
    state.last = update.now;
    renderTables(update);
  }

  function follow() {
    const url = "api/stream" + (testUpdates ? "?updates=" + encodeURIComponent(testUpdates) : "");
    const source = new EventSource(url);
    state.source = source;
    source.onopen = () => {
      setState("live", "live");
      // After a restart the window is new: load it again.
      if (state.updates > 0) load().catch(() => {});
    };
    source.onmessage = (e) => {
      try { apply(JSON.parse(e.data)); } catch (err) { console.error(err); }
    };
    source.addEventListener("end", () => {
      source.close();
      setState("ended", "stream ended after " + state.updates + " updates");
    });
    source.onerror = () => {
      if (document.body.dataset.state === "ended") return;
      setState("reconnecting", "reconnecting…");
      // EventSource retries by itself unless the server refused (503, 5xx
      // before the stream): then start again after a pause.
      if (source.readyState === EventSource.CLOSED) {
        setTimeout(follow, 3000);
      }
    };
  }

  load()
    .catch((err) => setState("reconnecting", "reconnecting… (" + err.message + ")"))
    .then(follow);

  window.addEventListener("resize", () => DIMENSIONS.forEach((dim) => {
    const chart = state.charts[dim];
    const box = document.getElementById("chart-" + dim);
    if (chart && box.clientWidth) chart.setSize({ width: box.clientWidth, height: 220 });
  }));
})();
