// pardata dashboard: polls the scheduler's JSON API and draws with the DOM, SVG and a canvas.
// Every value from the server is set with textContent or as an attribute: never as HTML.
(function () {
  "use strict";

  var POLL_MS = 500;          // two updates a second, unless the scheduler asks for fewer
  var WINDOW_S = 15;          // seconds of task stream on screen
  var KEEP_S = 60;            // seconds of task stream kept in memory
  var ROW_H = 12, ROW_GAP = 2, GUTTER = 110, AXIS_H = 16;
  var SVG = "http://www.w3.org/2000/svg";

  // --- small helpers -------------------------------------------------------------------
  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }
  function svg(tag, attrs) {
    var node = document.createElementNS(SVG, tag);
    for (var name in attrs) node.setAttribute(name, String(attrs[name]));
    return node;
  }
  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }
  function bytes(n) {
    n = Number(n) || 0;
    var units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"], i = 0;
    while (Math.abs(n) >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return (i === 0 ? n.toFixed(0) : n.toFixed(n >= 100 ? 0 : 1)) + " " + units[i];
  }
  function rate(n) { return bytes(n) + "/s"; }
  function secs(s) {
    s = Number(s) || 0;
    if (s < 1e-3) return (s * 1e6).toFixed(0) + " us";
    if (s < 1) return (s * 1e3).toFixed(s < 0.01 ? 2 : 0) + " ms";
    return s.toFixed(s < 10 ? 2 : 1) + " s";
  }
  var drawnFrom = {};
  function changed(part, data) {
    // redraw a part of the page only when its data changed (keeps the browser idle)
    var sig = JSON.stringify(data);
    if (drawnFrom[part] === sig) return false;
    drawnFrom[part] = sig;
    return true;
  }
  function taskHref(key) { return "/task?key=" + encodeURIComponent(key); }
  function link(key) { var a = el("a", "", key); a.href = taskHref(key); return a; }
  function lastLine(text) {
    var lines = String(text || "").trim().split("\n");
    return lines[lines.length - 1] || "";
  }

  // --- the task stream -------------------------------------------------------------------
  var stream = {
    cursor: 0, received: 0, records: [], colours: {}, workers: [], now: 0, drawn: 0,
    rows: [], hit: []
  };

  // Lanes: the scheduler does not know which thread ran a task, so runs are packed
  // here, per worker: best fit (the lane that became free last before the run started)
  // gives one lane per thread. Records come in order of completion, so a run that
  // started before a lane's latest one ended is checked against the runs it holds.
  var lanes = {};
  var TOL = 1e-4, KEEP_RUNS = 16;
  function laneOf(worker, io, start, stop) {
    var id = worker + (io ? "|io" : "|run");
    var group = lanes[id] || (lanes[id] = []);
    var best = -1, bestStop = -1, i, lane;
    for (i = 0; i < group.length; i++) {
      if (group[i].last - TOL <= start && group[i].last > bestStop) { best = i; bestStop = group[i].last; }
    }
    if (best < 0) {
      for (i = 0; i < group.length && best < 0; i++) {
        var free = true, runs = group[i].runs;
        for (var j = 0; j < runs.length; j++) {
          if (!(stop <= runs[j][0] + TOL || start >= runs[j][1] - TOL)) { free = false; break; }
        }
        if (free) best = i;
      }
    }
    if (best < 0) { group.push({ last: stop, runs: [[start, stop]] }); return group.length - 1; }
    lane = group[best];
    if (stop > lane.last) lane.last = stop;
    lane.runs.push([start, stop]);
    if (lane.runs.length > KEEP_RUNS) lane.runs.shift();
    return best;
  }

  function addRecords(doc) {
    var s = doc.stream;
    if (!s) return;
    for (var p in s.colours) stream.colours[p] = s.colours[p];
    var recs = s.records, names = s.workers || [];
    for (var i = 0; i < recs.length; i++) {
      // [seq, key, prefix, worker index, start, stop, kind] -> [seq, key, prefix, worker, lane, start, stop, kind]
      var r = recs[i], worker = names[r[3]], io = r[6] === "transfer" || r[6] === "spill";
      stream.records.push([r[0], r[1], r[2], worker, laneOf(worker, io, r[4], r[5]), r[4], r[5], r[6]]);
    }
    stream.received += recs.length;
    stream.sampled = s.step > 1;
    stream.cursor = s.next;
    var horizon = doc.time - KEEP_S, drop = 0;
    while (drop < stream.records.length && stream.records[drop][6] < horizon) drop++;
    if (drop) stream.records.splice(0, drop);
  }

  function streamRows(workers) {
    // one row per (worker, lane) seen, workers in the scheduler's order; lanes sorted
    var lanes = {};
    workers.forEach(function (w) {
      lanes[w.address] = { run: Math.max(w.nthreads, 1), io: 0, name: w.name };
    });
    stream.records.forEach(function (r) {
      var l = lanes[r[3]];
      if (!l) l = lanes[r[3]] = { run: 1, io: 0, name: r[3] };
      if (r[7] === "transfer" || r[7] === "spill") l.io = Math.max(l.io, r[4] + 1);
      else l.run = Math.max(l.run, r[4] + 1);
    });
    var rows = [], index = {};
    Object.keys(lanes).forEach(function (addr) {
      var l = lanes[addr];
      for (var i = 0; i < l.run; i++) { index[addr + "|run|" + i] = rows.length; rows.push(l.name + " #" + i); }
      for (var j = 0; j < l.io; j++) { index[addr + "|io|" + j] = rows.length; rows.push(l.name + " io"); }
    });
    return { rows: rows, index: index };
  }

  function drawStream() {
    var box = document.getElementById("task-stream");
    var canvas = document.getElementById("stream-canvas");
    if (!box || !canvas) return;
    var layout = streamRows(stream.workers);
    var rows = layout.rows;
    var width = Math.max(box.clientWidth, 300);
    var height = AXIS_H + Math.max(rows.length, 1) * (ROW_H + ROW_GAP) + 4;
    var ratio = window.devicePixelRatio || 1;
    if (canvas.width !== Math.round(width * ratio) || canvas.height !== Math.round(height * ratio)) {
      canvas.width = Math.round(width * ratio);
      canvas.height = Math.round(height * ratio);
      canvas.style.height = height + "px";
    }
    var ctx = canvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, width, height);
    var t1 = stream.now, t0 = t1 - WINDOW_S, plotW = width - GUTTER - 4;
    var scale = plotW / WINDOW_S;
    // row labels and guides
    ctx.font = "10px system-ui, sans-serif";
    ctx.textBaseline = "middle";
    for (var i = 0; i < rows.length; i++) {
      var y = AXIS_H + i * (ROW_H + ROW_GAP);
      ctx.fillStyle = i % 2 ? "#fafbfc" : "#f3f5f8";
      ctx.fillRect(GUTTER, y, plotW, ROW_H);
      ctx.fillStyle = "#6b7383";
      ctx.fillText(rows[i].length > 18 ? rows[i].slice(0, 17) + "\u2026" : rows[i], 2, y + ROW_H / 2);
    }
    // time axis: a tick every few seconds, labelled relative to now
    ctx.fillStyle = "#6b7383";
    ctx.textBaseline = "alphabetic";
    var align = ctx.textAlign;
    for (var s = 0; s <= WINDOW_S; s += 5) {
      var x = GUTTER + plotW - s * scale;
      ctx.fillRect(x, AXIS_H - 4, 1, 4);
      ctx.textAlign = s === 0 ? "right" : "center";
      ctx.fillText(s === 0 ? "now" : "-" + s + "s", s === 0 ? x : Math.max(x, GUTTER + 12), AXIS_H - 6);
    }
    ctx.textAlign = align;
    var hit = [], drawn = 0;
    var recs = stream.records;
    for (var k = 0; k < recs.length; k++) {
      var r = recs[k];
      if (r[6] < t0 || r[5] > t1) continue;
      var group = (r[7] === "transfer" || r[7] === "spill") ? "io" : "run";
      var row = layout.index[r[3] + "|" + group + "|" + r[4]];
      if (row === undefined) continue;
      var x0 = GUTTER + Math.max(r[5] - t0, 0) * scale;
      var x1 = GUTTER + Math.min(r[6] - t0, WINDOW_S) * scale;
      var w = Math.max(x1 - x0, 1);
      var y0 = AXIS_H + row * (ROW_H + ROW_GAP);
      ctx.fillStyle = stream.colours[r[2]] || "#888";
      ctx.fillRect(x0, y0, w, ROW_H);
      if (r[7] === "error") {
        ctx.strokeStyle = "#c8372d";
        ctx.lineWidth = 2;
        ctx.strokeRect(x0 + 1, y0 + 1, Math.max(w - 2, 1), ROW_H - 2);
      }
      hit.push([x0, x0 + w, y0, r]);
      drawn++;
    }
    stream.hit = hit;
    stream.drawn = drawn;
    box.setAttribute("data-records", String(stream.received));
    box.setAttribute("data-drawn", String(drawn));
    box.setAttribute("data-rows", String(rows.length));
    var runLanes = 0;
    for (var id in lanes) if (id.slice(-4) === "|run") runLanes = Math.max(runLanes, lanes[id].length);
    box.setAttribute("data-run-lanes", String(runLanes));
    var note = document.getElementById("stream-note");
    if (note) note.textContent = "last " + WINDOW_S + " s, " + drawn + " shown, " + stream.received + " received" +
      (stream.sampled ? " (busy: a sample of the runs)" : "");
    drawLegend();
  }

  function drawLegend() {
    var legend = document.getElementById("stream-legend");
    if (!legend) return;
    var names = Object.keys(stream.colours);
    if (legend.getAttribute("data-n") === String(names.length)) return;
    legend.setAttribute("data-n", String(names.length));
    clear(legend);
    names.slice(-40).forEach(function (p) {
      var item = el("span", "item");
      var sw = el("span", "swatch");
      sw.style.background = stream.colours[p];
      item.appendChild(sw);
      item.appendChild(document.createTextNode(p));
      legend.appendChild(item);
    });
  }

  function setupTips() {
    var box = document.getElementById("task-stream");
    var canvas = document.getElementById("stream-canvas");
    var tip = document.getElementById("stream-tip");
    if (!box || !canvas || !tip) return;
    function find(ev) {
      var rect = canvas.getBoundingClientRect();
      var x = ev.clientX - rect.left, y = ev.clientY - rect.top;
      for (var i = stream.hit.length - 1; i >= 0; i--) {
        var h = stream.hit[i];
        if (x >= h[0] - 1 && x <= h[1] + 1 && y >= h[2] && y <= h[2] + ROW_H) return { rec: h[3], x: x, y: y };
      }
      return null;
    }
    canvas.addEventListener("mousemove", function (ev) {
      var f = find(ev);
      if (!f) { tip.hidden = true; canvas.style.cursor = "default"; return; }
      var r = f.rec;
      tip.textContent = r[1] + "\n" + r[7] + " on " + r[3] + " (lane " + r[4] + ")\n" + secs(r[6] - r[5]);
      tip.style.left = Math.min(f.x + 12, canvas.clientWidth - 200) + "px";
      tip.style.top = (f.y + 12) + "px";
      tip.hidden = false;
      canvas.style.cursor = (r[7] === "compute" || r[7] === "error") ? "pointer" : "default";
    });
    canvas.addEventListener("mouseleave", function () { tip.hidden = true; });
    canvas.addEventListener("click", function (ev) {
      var f = find(ev);
      if (f && (f.rec[7] === "compute" || f.rec[7] === "error")) window.location.href = taskHref(f.rec[1]);
    });
  }

  // --- progress ------------------------------------------------------------------------
  function barSegments(parent, segments, total) {
    var s = svg("svg", { viewBox: "0 0 1000 14", preserveAspectRatio: "none", role: "img" });
    s.appendChild(svg("rect", { x: 0, y: 0, width: 1000, height: 14, fill: "#e6e9ee" }));
    var x = 0;
    segments.forEach(function (seg) {
      if (!seg.value || !total) return;
      var w = 1000 * seg.value / total;
      var r = svg("rect", { x: x.toFixed(2), y: 0, width: w.toFixed(2), height: 14, fill: seg.colour });
      if (seg.opacity) r.setAttribute("fill-opacity", seg.opacity);
      if (seg.name) r.setAttribute("class", seg.name);
      s.appendChild(r);
      x += w;
    });
    parent.appendChild(s);
    return s;
  }

  function drawProgress(doc) {
    var box = document.getElementById("progress");
    if (!box) return;
    clear(box);
    var done = 0, total = 0;
    var rows = doc.progress || [];
    if (!rows.length) box.appendChild(el("p", "muted", "no tasks"));
    rows.forEach(function (p) {
      done += p.done; total += p.total;
      var row = el("div", "bar-row");
      row.setAttribute("data-prefix", p.prefix);
      row.appendChild(el("span", "label", p.prefix)).title = p.prefix;
      var cell = el("div", "bar");
      barSegments(cell, [
        { value: p.done - p.memory, colour: p.colour, name: "done" },
        { value: p.memory, colour: p.colour, opacity: 0.55, name: "memory" },
        { value: p.erred, colour: "#c8372d", name: "erred" },
        { value: p.processing, colour: "#8a93a3", name: "processing" }
      ], p.total);
      row.appendChild(cell);
      row.appendChild(el("span", "numbers",
        p.done + " / " + p.total + " done \u00b7 " + p.memory + " in memory \u00b7 " + p.erred + " erred \u00b7 " +
        p.processing + " processing \u00b7 " + p.waiting + " waiting"));
      box.appendChild(row);
    });
    box.setAttribute("data-done", String(done));
    box.setAttribute("data-total", String(total));
  }

  // --- worker memory, CPU and network -------------------------------------------------------
  function drawMemory(workers) {
    var box = document.getElementById("memory");
    if (!box) return;
    clear(box);
    var scale = 1;
    workers.forEach(function (w) {
      scale = Math.max(scale, w.memory_limit, w.managed + w.unmanaged + w.spilled);
    });
    workers.forEach(function (w) {
      var row = el("div", "bar-row");
      row.setAttribute("data-worker", w.address);
      var label = el("span", "label", w.name);
      label.title = w.address;
      if (w.paused) {
        var badge = el("span", "badge paused", "paused");
        if (w.pause_reason) badge.title = w.pause_reason;
        label.appendChild(badge);
      }
      row.appendChild(label);
      var cell = el("div", "bar");
      var s = barSegments(cell, [
        { value: w.managed, colour: "#3f78b5", name: "managed" },
        { value: w.unmanaged, colour: "#9cc3e6", name: "unmanaged" },
        { value: w.spilled, colour: "#a7a39c", name: "spilled" }
      ], scale);
      if (w.memory_limit) {
        var lx = 1000 * w.memory_limit / scale;
        s.appendChild(svg("rect", { x: Math.max(lx - 3, 0).toFixed(1), y: 0, width: 3, height: 14, fill: "#1d2330", "class": "limit" }));
        if (w.pause_fraction) {
          var px = lx * w.pause_fraction;
          s.appendChild(svg("rect", { x: (px - 1.5).toFixed(1), y: 0, width: 3, height: 14, fill: "#e8891c", "class": "pause" }));
        }
      }
      row.appendChild(cell);
      var used = w.managed + w.unmanaged;
      row.appendChild(el("span", "numbers",
        bytes(w.managed) + " managed \u00b7 " + bytes(w.unmanaged) + " unmanaged \u00b7 " + bytes(w.spilled) +
        " spilled \u00b7 " + (w.memory_limit ? bytes(used) + " of " + bytes(w.memory_limit) : "no limit")));
      box.appendChild(row);
    });
    box.setAttribute("data-workers", String(workers.length));
  }

  function drawCpuNet(workers) {
    var box = document.getElementById("cpu-net");
    if (!box) return;
    clear(box);
    var table = el("table", "table");
    var head = el("tr");
    ["worker", "CPU", "net in", "net out", "event loop", "tasks"].forEach(function (h) { head.appendChild(el("th", "", h)); });
    table.appendChild(el("thead")).appendChild(head);
    var body = el("tbody");
    workers.forEach(function (w) {
      var tr = el("tr");
      tr.appendChild(el("td", "", w.name));
      var cpu = el("td");
      var b = el("span", "cpu-bar");
      b.style.width = Math.min(Math.round(w.cpu / Math.max(w.nthreads, 1) * 0.6), 60) + "px";
      cpu.appendChild(b);
      cpu.appendChild(document.createTextNode(w.cpu.toFixed(0) + " %"));
      tr.appendChild(cpu);
      tr.appendChild(el("td", "", rate(w.net_in)));
      tr.appendChild(el("td", "", rate(w.net_out)));
      tr.appendChild(el("td", "", secs(w.loop_latency)));
      tr.appendChild(el("td", "", w.processing));
      body.appendChild(tr);
    });
    table.appendChild(body);
    box.appendChild(table);
  }

  // --- errors --------------------------------------------------------------------------
  var errorsShown = "";
  function drawErrors(errors) {
    var box = document.getElementById("errors");
    if (!box) return;
    var sig = errors.length ? errors.length + "|" + errors[0].key + "|" + errors[0].time : "";
    if (sig === errorsShown) return;
    errorsShown = sig;
    clear(box);
    box.setAttribute("data-errors", String(errors.length));
    if (!errors.length) { box.appendChild(el("p", "muted", "none")); return; }
    errors.forEach(function (e, i) {
      var d = el("details", "error");
      if (i === 0) d.open = true;
      var sum = el("summary");
      sum.appendChild(link(e.key));
      sum.appendChild(document.createTextNode(" on " + e.worker + ": " + lastLine(e.traceback || e.reason)));
      d.appendChild(sum);
      d.appendChild(el("pre", "traceback", e.traceback || e.reason));
      box.appendChild(d);
    });
  }

  // --- header summary, workers page ------------------------------------------------------
  function drawSummary(doc) {
    var node = document.getElementById("summary");
    if (!node) return;
    var s = doc.scheduler, t = doc.tasks || {};
    node.textContent = s.workers + " workers \u00b7 " + s.threads + " threads \u00b7 " + (t.processing || 0) +
      " processing \u00b7 " + (t.memory || 0) + " in memory \u00b7 " + ((t.waiting || 0) + (t.queued || 0)) +
      " waiting \u00b7 " + (t.erred || 0) + " erred \u00b7 loop " + secs(s.loop_latency);
  }

  function drawWorkersTable(workers) {
    var table = document.getElementById("workers-table");
    if (!table) return;
    var body = table.tBodies[0];
    clear(body);
    workers.forEach(function (w) {
      var tr = el("tr");
      tr.setAttribute("data-worker", w.address);
      var status = w.paused ? "paused" + (w.pause_reason ? ": " + w.pause_reason : "") : "running";
      [w.name, w.address, w.nthreads, w.processing, w.keys, bytes(w.managed), bytes(w.unmanaged), bytes(w.spilled),
       w.memory_limit ? bytes(w.memory_limit) : "none", status, w.cpu.toFixed(0) + " %", rate(w.net_in),
       rate(w.net_out), secs(w.last_seen) + " ago"].forEach(function (v) { tr.appendChild(el("td", "", v)); });
      var td = el("td");
      if (w.http) {
        var a = el("a", "", "/metrics");
        a.href = w.http + "/metrics";
        a.rel = "noreferrer";
        td.appendChild(a);
      }
      tr.appendChild(td);
      body.appendChild(tr);
    });
  }

  // --- polling -------------------------------------------------------------------------
  var statusPage = !!document.getElementById("task-stream");
  function url() {
    return statusPage ? "/api/v1/status?since=" + stream.cursor : "/api/v1/workers";
  }

  function memoryFields(w) {
    return [w.address, w.name, w.managed, w.unmanaged, w.spilled, w.memory_limit, w.paused, w.pause_reason,
            w.pause_fraction];
  }
  function cpuFields(w) {
    return [w.address, w.name, w.cpu, w.net_in, w.net_out, w.loop_latency, w.processing];
  }

  function render(doc) {
    if (doc.scheduler && doc.tasks) drawSummary(doc);
    var workers = doc.workers || [];
    if (statusPage) {
      stream.now = doc.time;
      stream.workers = workers;
      addRecords(doc);
      drawStream();
      if (changed("progress", doc.progress)) drawProgress(doc);
      if (changed("memory", workers.map(memoryFields))) drawMemory(workers);
      if (changed("cpu", workers.map(cpuFields))) drawCpuNet(workers);
      drawErrors(doc.errors || []);
    } else {
      drawWorkersTable(workers);
    }
    document.body.setAttribute("data-updates", String(++updates));
  }

  var updates = 0, wait = POLL_MS;
  function poll() {
    if (document.hidden) { setTimeout(poll, wait); return; }
    fetch(url(), { cache: "no-store", credentials: "same-origin" })
      .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
      .then(function (doc) {
        if (doc.poll_ms) wait = doc.poll_ms;
        render(doc);
        document.body.removeAttribute("data-offline");
      })
      .catch(function () { document.body.setAttribute("data-offline", "1"); })
      .then(function () { setTimeout(poll, wait); });
  }

  setupTips();
  window.addEventListener("resize", drawStream);
  poll();
})();
