// SPDX-License-Identifier: MIT
// memscope's HTML report (docs/views.md): the figures `memscope report
// --format html` packed into this page (gzipped JSON, base64), shown with
// uPlot (heap over time, thread lanes) and d3-flame-graph (the
// flamegraph), every view cut to one time window (whole slices) and one
// thread. The page exposes `window.memscope` for tests and the curious.
'use strict';
(function () {
  const $ = (id) => document.getElementById(id);
  const el = (tag, attrs, ...kids) => {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === 'class') e.className = v;
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v);
    }
    for (const k of kids) e.append(k);
    return e;
  };

  // ---- numbers as the text report writes them ----
  function fmtBytes(v) {
    if (v < 1024) return Math.round(v) + ' B';
    const u = ['KiB', 'MiB', 'GiB', 'TiB'];
    let i = -1;
    do { v /= 1024; i++; } while (v >= 1024 && i < u.length - 1);
    return (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2)) + ' ' + u[i];
  }
  const fmtCount = (v) => Math.round(v).toLocaleString('en-US');
  function fmtTime(ns) {
    if (ns >= 1e9) return (ns / 1e9).toFixed(3) + ' s';
    if (ns >= 1e6) return (ns / 1e6).toFixed(3) + ' ms';
    if (ns >= 1e3) return (ns / 1e3).toFixed(1) + ' us';
    return Math.round(ns) + ' ns';
  }
  const pct = (a, b) => (b > 0 ? (100 * a / b).toFixed(1) + '%' : '');

  // ---- the figures ----
  async function unpack() {
    const text = $('ms-data').textContent;
    const raw = atob(text.replace(/\s+/g, ''));
    const bin = new Uint8Array(raw.length);
    for (let i = 0; i < raw.length; i++) bin[i] = raw.charCodeAt(i);
    const stream = new Blob([bin]).stream().pipeThrough(new DecompressionStream('gzip'));
    return JSON.parse(await new Response(stream).text());
  }

  // D: the data; derived: typed columns, each cell's first record
  let D, R, cellStart, unit, est;
  const state = { a: 0, b: 0, thread: -1, mode: 'peak', inverted: false, search: '' };
  const MODES = [
    ['peak', 'live at peak', 'bytes'],
    ['live', 'live at the window\'s end', 'bytes'],
    ['leaked', 'leaked at exit', 'bytes'],
    ['bytes', 'allocated bytes', 'bytes'],
    ['count', 'allocation count', 'count'],
    ['temp', 'temporary allocations', 'count'],
  ];

  function prepare() {
    unit = D.count_unit || 1;
    est = D.estimated ? '~' : '';
    R = {};
    for (const [k, v] of Object.entries(D.recs)) R[k] = Float64Array.from(v);
    const n = D.cells.site.length;
    cellStart = new Uint32Array(n + 1);
    for (let c = 0; c < n; c++) cellStart[c + 1] = cellStart[c] + D.cells.nrec[c];
    state.b = D.slices.n;
    for (const s of D.sites) {
      s.name = siteName(s);
    }
  }

  function frameOf(i) {
    const F = D.frames;
    return { fn: F.function[i], file: F.file[i], line: F.line[i], module: F.module[i] };
  }
  function siteName(s) {
    if (s.other) return '(other sites)';
    if (!s.frames.length) return '(no stack)';
    return frameOf(s.frames[Math.max(0, s.label)]).fn;
  }
  // the allocating call, with its line: a function often allocates at
  // several lines, each a site of its own
  function callName(f) {
    return f.file ? f.fn + ' ' + f.file.replace(/.*\//, '') + ':' + f.line : f.fn;
  }
  // the function that called the allocating one: without a line (no
  // debug information) two sites of one function differ by it
  function siteCaller(s) {
    const k = Math.max(0, s.label) + 1;
    return s.other || k >= s.frames.length ? '' : frameOf(s.frames[k]).fn;
  }
  function siteWhere(s) {
    if (s.other || !s.frames.length) return '';
    const f = frameOf(s.frames[Math.max(0, s.label)]), caller = siteCaller(s);
    return (f.file ? f.file + ':' + f.line : f.module ? '[' + f.module + ']' : '') +
      (caller ? ', called from ' + caller : '');
  }

  // ---- a window's figures ----
  // The slice of [a, b) with the highest level (the first of equals), of
  // every thread or of thread t.
  function peakSlice(a, b, t) {
    const pk = t < 0 ? D.slices.peak : D.threads[t].peak;
    let best = a;
    for (let s = a + 1; s < b; s++) if (pk[s] > pk[best]) best = s;
    return best;
  }

  function figures(a, b, t) {
    const S = D.sites.length, T = D.threads.length;
    const f = {
      a, b, t,
      site: {
        peak: new Float64Array(S), live: new Float64Array(S), leaked: new Float64Array(S),
        leaked_n: new Float64Array(S),
        bytes: new Float64Array(S), count: new Float64Array(S), temp: new Float64Array(S),
        frees: new Float64Array(S),
      },
      thread: {
        bytes: new Float64Array(T), count: new Float64Array(T), frees: new Float64Array(T),
        leaked: new Float64Array(T), peak: new Float64Array(T), temp: new Float64Array(T),
      },
    };
    if (b <= a) return f;
    const sp = peakSlice(a, b, t);
    const pkcol = t < 0 ? R.gpk : R.tpk;
    const C = D.cells;
    for (let c = 0; c < C.site.length; c++) {
      const th = C.thread[c];
      if (t >= 0 && th !== t) continue;
      const site = C.site[c];
      // level: live before the peak's slice; end: live at the window's end
      let level = C.live0[c], end = C.live0[c], atPeak = -1;
      for (let k = cellStart[c]; k < cellStart[c + 1]; k++) {
        const s = R.slice[k];
        if (s >= b) break;
        end = R.live[k];
        if (s < sp) level = R.live[k];
        else if (s === sp) atPeak = pkcol[k];
        if (s < a) continue;
        f.site.bytes[site] += R.bytes[k];
        f.site.count[site] += R.allocs[k];
        f.site.temp[site] += R.temp[k];
        f.site.frees[site] += R.frees[k];
        f.site.leaked[site] += R.kept[k];
        f.site.leaked_n[site] += R.kept_n[k];
        f.thread.bytes[th] += R.bytes[k];
        f.thread.count[th] += R.allocs[k];
        f.thread.frees[th] += R.frees[k];
        f.thread.temp[th] += R.temp[k];
        f.thread.leaked[th] += R.kept[k];
      }
      f.site.peak[site] += atPeak >= 0 ? atPeak : level;
      f.site.live[site] += end;
    }
    const X = D.xtemps;
    for (let i = 0; i < X.length; i += 4) {
      const c = X[i], th = C.thread[c];
      if (X[i + 1] < a || X[i + 2] >= b || (t >= 0 && th !== t)) continue;
      f.site.temp[C.site[c]] += X[i + 3];
      f.thread.temp[th] += X[i + 3];
    }
    for (let i = 0; i < T; i++) {
      const pk = D.threads[i].peak;
      let m = 0;
      for (let s = a; s < b; s++) if (pk[s] > m) m = pk[s];
      f.thread.peak[i] = m;
    }
    f.peakSlice = sp;
    return f;
  }

  // what a mode shows of a site, in its own unit (counts whole)
  function siteValue(f, mode, i) {
    const v = f.site[mode][i];
    return MODES.find((m) => m[0] === mode)[2] === 'count' ? v / unit : v;
  }

  // ---- the window ----
  const sliceNs = (k) => D.slices.origin_ns + k * D.slices.width_ns;
  function windowNs(a, b) {
    // what `memscope report --from --to` takes for the same window: the
    // slices' ends, inclusive
    return { from_ns: sliceNs(a), to_ns: sliceNs(b) - 1 };
  }

  let F; // the current figures
  function setWindow(a, b, fromChart) {
    const n = D.slices.n;
    a = Math.max(0, Math.min(n - 1, a | 0));
    b = Math.max(a + 1, Math.min(n, b | 0));
    state.a = a;
    state.b = b;
    if (!fromChart) markChart();
    refresh();
  }

  function setThread(t) {
    state.thread = t;
    $('ms-thread').value = String(t);
    for (const lane of document.querySelectorAll('.lane'))
      lane.classList.toggle('on', Number(lane.dataset.thread) === t);
    refresh();
  }

  function refresh() {
    F = figures(state.a, state.b, state.thread);
    showWindow();
    drawFlame();
    drawTable();
  }

  function showWindow() {
    const w = windowNs(state.a, state.b);
    const whole = state.a === 0 && state.b === D.slices.n;
    $('ms-window').textContent = (whole ? 'Whole run: ' : 'Window: ') +
      fmtTime(w.from_ns) + ' – ' + fmtTime(w.to_ns + 1) +
      ` (slices ${state.a}–${state.b - 1} of ${D.slices.n}, each ${fmtTime(D.slices.width_ns)})` +
      (state.thread >= 0 ? ', thread ' + D.threads[state.thread].tid : ', all threads');
    const from = (w.from_ns / 1e9).toFixed(9).replace(/\.?0+$/, '');
    $('ms-exact').textContent = 'For a window that is not whole slices: memscope report ' +
      D.archive + ' --from ' + w.from_ns + 'ns --to ' + w.to_ns + 'ns gives this one exactly' +
      (from ? '' : '') + '.';
  }

  // ---- header ----
  function header() {
    $('ms-archive').textContent = D.archive;
    const T = D.totals;
    const dur = fmtTime(D.duration_ns);
    $('ms-recorded').textContent = `${D.processes} process${D.processes === 1 ? '' : 'es'}, ` +
      `${D.threads.length} thread${D.threads.length === 1 ? '' : 's'}, ${dur}` +
      (D.start_time ? ', from ' + D.start_time : '') + ' — figures ' +
      (D.estimated ? 'estimated (sampling ' + D.sampling + '; shown with ~)' : 'exact (sampling ' + D.sampling + ')') +
      (D.window.from_ns || D.window.to_ns !== null
        ? `; recorded window ${fmtTime(D.window.from_ns)} – ${D.window.to_ns === null ? 'end' : fmtTime(D.window.to_ns)}` : '') +
      (D.tid ? '; thread ' + D.tid + ' only' : '') + (D.pid ? '; process ' + D.pid + ' only' : '') +
      (D.archive_errors ? `; ${D.archive_errors} damaged parts of the archive were skipped` : '');
    const box = (label, value, sub) => el('div', { class: 'box' }, label, el('b', {}, value), el('small', {}, sub || ''));
    $('ms-summary').replaceChildren(
      box('allocations', est + fmtCount(T.allocations), est + fmtBytes(T.total_allocated_bytes)),
      box('frees', est + fmtCount(T.frees), est + fmtBytes(T.total_freed_bytes)),
      box('peak heap', est + fmtBytes(T.peak_bytes), 'at ' + fmtTime(T.peak_time_ns)),
      box('leaked', est + fmtBytes(T.leaked_bytes), est + fmtCount(T.leaked_allocations) + ' blocks live at the end'),
      box('temporary', est + fmtCount(T.temporary_allocations), pct(T.temporary_allocations, T.allocations) + ' of allocations'),
      ...(T.lost_events ? [box('lost events', fmtCount(T.lost_events), 'figures are bounds')] : []),
      ...(T.double_frees + T.unknown_frees ? [box('findings', fmtCount(T.double_frees + T.unknown_frees),
        `${T.double_frees} double, ${T.unknown_frees} unknown frees`)] : []),
    );
  }

  // ---- heap over time: uPlot ----
  const shorten = (s) => (s.length > 48 ? s.slice(0, 46) + '…' : s);
  const PALETTE = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#76b7b2', '#edc948', '#b07aa1', '#ff9da7', '#9c755f'];
  let chart;
  const xs = () => Array.from({ length: D.slices.n }, (_, k) => sliceNs(k) / 1e9);

  // A site's level at each slice's peak moment, all threads (the
  // stacked areas add up to the total).
  function siteLevels(top) {
    const n = D.slices.n, out = top.map(() => new Float64Array(n));
    const idx = new Map(top.map((s, i) => [s, i]));
    const C = D.cells;
    for (let c = 0; c < C.site.length; c++) {
      const i = idx.get(C.site[c]);
      if (i === undefined) continue;
      let level = C.live0[c], k = cellStart[c];
      for (let s = 0; s < n; s++) {
        if (k < cellStart[c + 1] && R.slice[k] === s) {
          out[i][s] += R.gpk[k];
          level = R.live[k];
          k++;
        } else out[i][s] += level;
      }
    }
    return out;
  }

  // a site as the chart's legend names it: its call, and its caller when
  // another site of the legend has the same call
  function legendName(site, shown) {
    if (site.other || !site.frames.length) return site.name;
    const call = (s) => callName(frameOf(s.frames[Math.max(0, s.label)]));
    const name = call(site), caller = siteCaller(site);
    const twin = shown.some((o) => o !== site && !o.other && o.frames.length && call(o) === name);
    return twin && caller ? name + ' ← ' + caller : name;
  }

  function drawChart() {
    const n = D.slices.n;
    const bySitePeak = D.sites.map((s, i) => [i, s.other ? -1 : s.peak_bytes || 0])
      .filter((x) => x[1] > 0).sort((x, y) => y[1] - x[1]).slice(0, 8).map((x) => x[0]);
    const levels = siteLevels(bySitePeak);
    const total = Array.from(D.slices.peak);
    // stacked: each series is its site plus every site below it, drawn
    // from the top down so that each covers only its own band
    const cum = [];
    let acc = new Float64Array(n);
    for (const l of levels) {
      acc = acc.map((v, s) => v + l[s]);
      cum.push(Array.from(acc));
    }
    const series = [{ label: 'time', value: (u, v) => (v == null ? '' : v.toFixed(3) + ' s') }];
    const data = [xs()];
    for (let i = cum.length - 1; i >= 0; i--) {
      const site = D.sites[bySitePeak[i]];
      const own = levels[i];
      series.push({
        label: shorten(legendName(site, bySitePeak.map((k) => D.sites[k]))),
        stroke: PALETTE[i], fill: PALETTE[i] + 'cc', width: 1,
        paths: uPlot.paths.stepped({ align: 1 }),
        value: (u, v, si, di) => (di == null ? '' : est + fmtBytes(own[di])),
      });
      data.push(cum[i]);
    }
    // the total last: drawn over the bands, which reach it where the
    // sites shown hold nearly all of the heap
    series.push({ label: 'total live', stroke: '#1d2330', width: 1.5, value: (u, v) => (v == null ? '' : est + fmtBytes(v)),
      paths: uPlot.paths.stepped({ align: 1 }) });
    data.push(total);
    const box = $('ms-chart');
    const opts = {
      width: Math.max(400, box.clientWidth - 4), height: 300,
      series,
      scales: { x: { time: false } },
      axes: [{ label: 'seconds from the first event' },
        { size: 70, values: (u, v) => v.map((x) => fmtBytes(x)) }],
      cursor: { drag: { x: true, y: false, setScale: false } },
      legend: { live: true },
      hooks: { setSelect: [(u) => onSelect(u)] },
    };
    chart = new uPlot(opts, data, box);
    new ResizeObserver(() => chart.setSize({ width: Math.max(400, box.clientWidth - 4), height: 300 })).observe(box);
  }

  function onSelect(u) {
    if (u.select.width < 2) return;
    const t0 = u.posToVal(u.select.left, 'x') * 1e9, t1 = u.posToVal(u.select.left + u.select.width, 'x') * 1e9;
    const w = D.slices.width_ns, o = D.slices.origin_ns;
    const a = Math.floor((t0 - o) / w), b = Math.ceil((t1 - o) / w);
    setWindow(a, b, true);
    markChart();
  }

  // the window as the chart's selection, on slice boundaries
  function markChart() {
    if (!chart) return;
    if (state.a === 0 && state.b === D.slices.n) {
      chart.setSelect({ left: 0, width: 0, top: 0, height: 0 }, false);
      return;
    }
    const l = chart.valToPos(sliceNs(state.a) / 1e9, 'x'), r = chart.valToPos(sliceNs(state.b) / 1e9, 'x');
    chart.setSelect({ left: l, width: Math.max(1, r - l), top: 0, height: chart.bbox.height / devicePixelRatio }, false);
  }

  // ---- thread lanes ----
  let laneLimit = 12;
  const lanePlots = [];
  function laneOrder() {
    const q = $('ms-lane-search').value.trim().toLowerCase();
    const by = $('ms-lane-sort').value;
    const idx = D.threads.map((_, i) => i).filter((i) => {
      const t = D.threads[i];
      return !q || String(t.tid).includes(q) || (t.name || '').toLowerCase().includes(q);
    });
    const key = {
      peak: (i) => -D.threads[i].peak_bytes, bytes: (i) => -D.threads[i].bytes,
      tid: (i) => D.threads[i].tid, name: (i) => D.threads[i].name || '~',
    }[by];
    idx.sort((x, y) => (key(x) < key(y) ? -1 : key(x) > key(y) ? 1 : x - y));
    return idx;
  }

  function drawLanes() {
    for (const p of lanePlots.splice(0)) p.destroy();
    const order = laneOrder(), shown = order.slice(0, laneLimit);
    const box = $('ms-lanes'), x = xs();
    box.replaceChildren();
    for (const i of shown) {
      const t = D.threads[i];
      const plot = el('div', { class: 'plot' });
      const lane = el('div', { class: 'lane' + (state.thread === i ? ' on' : ''), 'data-thread': String(i),
        onclick: () => setThread(state.thread === i ? -1 : i) },
      el('div', { class: 'who' }, el('b', {}, (t.name || 'thread') + ' ' + t.tid),
        el('small', {}, 'peak ' + est + fmtBytes(t.peak_bytes) + ', ' + est + fmtCount(t.allocations) + ' allocations')),
      plot);
      box.append(lane);
      lanePlots.push(new uPlot({
        width: Math.max(200, box.clientWidth - 250), height: 34,
        series: [{}, { stroke: PALETTE[0], fill: PALETTE[0] + '55', width: 1, paths: uPlot.paths.stepped({ align: 1 }) }],
        scales: { x: { time: false, range: [x[0], x[x.length - 1] + D.slices.width_ns / 1e9] } },
        axes: [{ show: false }, { show: false }],
        cursor: { show: false }, legend: { show: false }, select: { show: false },
      }, [x, Array.from(t.peak)], plot));
    }
    const more = $('ms-lane-more');
    more.hidden = order.length <= 12;
    more.textContent = laneLimit < order.length ? `show all ${order.length}` : 'collapse to 12';
    $('ms-thread-count').textContent = `(${D.threads.length}${order.length < D.threads.length ? ', ' + order.length + ' shown by the search' : ''})`;
  }

  function threadControls() {
    const sel = $('ms-thread');
    sel.append(el('option', { value: '-1' }, 'all threads'));
    D.threads.map((t, i) => [t, i]).sort((x, y) => x[0].tid - y[0].tid).forEach(([t, i]) =>
      sel.append(el('option', { value: String(i) }, `${t.tid} ${t.name || ''}`)));
    sel.addEventListener('change', () => setThread(Number(sel.value)));
    $('ms-lane-search').addEventListener('input', drawLanes);
    $('ms-lane-sort').addEventListener('change', drawLanes);
    $('ms-lane-more').addEventListener('click', () => {
      laneLimit = laneLimit < D.threads.length ? D.threads.length : 12;
      drawLanes();
    });
  }

  // ---- flamegraph: d3-flame-graph ----
  let flame, flameTotal = 0;
  function frameKey(f) { return f.fn + '\u0000' + (f.module || ''); }

  // the call tree of the sites' values: outermost frame first (top-down),
  // or the allocating function first (bottom-up)
  function buildTree(mode, inverted) {
    // besides the mode's value, each box keeps the bytes and calls
    // allocated under it in the window, for its tooltip
    const root = { name: 'all', value: 0, bytes: 0, count: 0, children: [], kids: new Map() };
    const kind = MODES.find((m) => m[0] === mode)[2];
    D.sites.forEach((s, i) => {
      const v = siteValue(F, mode, i);
      if (!(v > 0)) return;
      const bytes = F.site.bytes[i], count = F.site.count[i] / unit;
      let path;
      if (s.other) path = [{ fn: '(other sites)', file: null, line: 0, module: null }];
      else if (!s.frames.length) path = [{ fn: '(no stack)', file: null, line: 0, module: null }];
      else {
        path = s.frames.slice(Math.max(0, s.label)).map(frameOf);
        path[0] = { ...path[0], fn: callName(path[0]) };
      }
      if (!inverted) path = path.slice().reverse();
      root.value += v;
      root.bytes += bytes;
      root.count += count;
      let node = root;
      for (const f of path) {
        const key = frameKey(f);
        let kid = node.kids.get(key);
        if (!kid) {
          kid = { name: f.fn, value: 0, bytes: 0, count: 0, children: [], kids: new Map(), file: f.file,
            line: f.line, module: f.module, kind };
          node.kids.set(key, kid);
          node.children.push(kid);
        } else if (kid.file !== f.file || kid.line !== f.line) {
          kid.lines = true;
        }
        kid.value += v;
        kid.bytes += bytes;
        kid.count += count;
        node = kid;
      }
    });
    (function strip(n) { delete n.kids; n.children.forEach(strip); })(root);
    root.kind = kind;
    return root;
  }

  const fmtValue = (kind, v) => (kind === 'bytes' ? est + fmtBytes(v) : est + fmtCount(v));
  function tipHtml(d) {
    const n = d.data, esc = (s) => String(s).replace(/[&<>]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;' }[c]));
    const loc = n.lines ? (n.file ? n.file + ' (several lines)' : '') :
      n.file ? n.file + ':' + n.line : n.module ? '[' + n.module + ']' : '';
    const label = MODES.find((m) => m[0] === state.mode)[1];
    return `<b>${esc(n.name)}</b><br>${label}: ${fmtValue(n.kind || 'bytes', d.value)} (${pct(d.value, flameTotal)} of the view)` +
      `<br>allocated in the window: ${fmtValue('bytes', n.bytes)} in ${fmtValue('count', n.count)} calls` +
      (loc ? `<br><span class="loc">${esc(loc)}</span>` : '') +
      (n.module && n.file ? `<br><span class="loc">${esc(n.module)}</span>` : '');
  }

  function drawFlame() {
    const tree = buildTree(state.mode, state.inverted);
    flameTotal = tree.value;
    const label = MODES.find((m) => m[0] === state.mode);
    $('ms-flame-total').textContent = label[1] + ': ' + fmtValue(label[2], flameTotal) +
      (state.mode === 'peak' && F.peakSlice !== undefined
        ? ' (the highest ' + (state.thread >= 0 ? "of the thread's blocks" : 'heap') + ' in the window, in slice ' + F.peakSlice + ')' : '') +
      (state.mode === 'live' ? ' (blocks live when the window ends, whenever allocated)' : '') +
      (state.mode === 'leaked' ? ' allocated in the window and never freed' : '') +
      (state.mode === 'temp' ? ' (freed before their thread\'s next call)' : '');
    const box = $('ms-flamegraph');
    if (!flame) {
      flame = flamegraph.default()
        .width(Math.max(400, box.clientWidth))
        .cellHeight(18)
        .inverted(true)
        .minFrameSize(1)
        .transitionDuration(250)
        .sort((a, b) => b.value - a.value)
        .getName((d) => d.data.name)
        .setSearchMatch((d, term) => !!term && d.data.name.toLowerCase().includes(term.toLowerCase()))
        .setSearchHandler((res, sum, total) => {
          $('ms-flame-details').textContent = state.search
            ? `search "${state.search}": ${fmtValue(tree.kind, sum)} of ${fmtValue(tree.kind, total)} (${pct(sum, total)})` : '';
        })
        .tooltip(flamegraph.tooltip.defaultFlamegraphTooltip().html(tipHtml));
      d3.select(box).datum(tree).call(flame);
    } else {
      flame.update(tree);
    }
    if (state.search) flame.search(state.search);
  }

  function flameControls() {
    const box = $('ms-modes');
    for (const [m, label] of MODES) {
      box.append(el('button', { type: 'button', 'data-mode': m, class: m === state.mode ? 'on' : '', onclick: () => setMode(m) }, label));
    }
    $('ms-inverted').addEventListener('change', (e) => { state.inverted = e.target.checked; drawFlame(); });
    $('ms-flame-search').addEventListener('input', (e) => {
      state.search = e.target.value.trim();
      if (state.search) flame.search(state.search); else { flame.clear(); $('ms-flame-details').textContent = ''; }
    });
    $('ms-flame-reset').addEventListener('click', () => flame.resetZoom());
  }

  function setMode(m) {
    state.mode = m;
    for (const b of document.querySelectorAll('#ms-modes button')) b.classList.toggle('on', b.dataset.mode === m);
    drawFlame();
  }

  // ---- tables ----
  let tab = 'sites';
  const sortBy = { sites: ['bytes', -1], threads: ['bytes', -1], lifetimes: ['freed', -1], sizes: ['below', 1] };

  function table(name, cols, rows, onRow) {
    const [key, dir] = sortBy[name];
    rows.sort((x, y) => {
      const a = x[key], b = y[key];
      return (a < b ? -1 : a > b ? 1 : 0) * dir;
    });
    const head = el('tr', {}, ...cols.map((c) => {
      const th = el('th', { class: (c.text ? 'text ' : '') + (c.key === key ? 'sorted' + (dir > 0 ? ' up' : '') : '') }, c.label);
      th.addEventListener('click', () => {
        sortBy[name] = [c.key, c.key === key ? -dir : c.text ? 1 : -1];
        drawTable();
      });
      return th;
    }));
    const body = rows.slice(0, 300).map((r) => {
      const tr = el('tr', onRow ? { class: 'click' } : {}, ...cols.map((c) => {
        const td = el('td', c.text ? { class: 'text' } : {});
        const v = c.fmt ? c.fmt(r[c.key], r) : r[c.key];
        if (v instanceof Node) td.append(v); else td.textContent = v;
        return td;
      }));
      if (onRow) tr.addEventListener('click', () => onRow(r));
      return tr;
    });
    $('ms-table').replaceChildren(el('table', {}, el('thead', {}, head), el('tbody', {}, ...body)));
    return rows.length;
  }

  const siteCell = (v, r) => el('span', {}, v, el('small', {}, r.where || ''));
  const B = (v) => (v ? est + fmtBytes(v) : '');
  const N = (v) => (v ? est + fmtCount(v) : '');

  function drawTable() {
    for (const b of document.querySelectorAll('.tabs button')) b.classList.toggle('on', b.dataset.tab === tab);
    const scope = state.thread >= 0 ? ' of thread ' + D.threads[state.thread].tid : '';
    const note = $('ms-table-note');
    if (tab === 'sites') {
      const rows = D.sites.map((s, i) => ({
        name: s.name, where: siteWhere(s), count: F.site.count[i] / unit, bytes: F.site.bytes[i],
        temp: F.site.temp[i] / unit, leaked: F.site.leaked[i], peak: F.site.peak[i], live: F.site.live[i],
        frees: F.site.frees[i] / unit,
      })).filter((r) => r.count || r.peak || r.live || r.leaked || r.frees);
      const n = table('sites', [
        { key: 'name', label: 'site (first frame outside the allocator)', text: true, fmt: siteCell },
        { key: 'count', label: 'allocations', fmt: N }, { key: 'bytes', label: 'bytes', fmt: B },
        { key: 'temp', label: 'temporary', fmt: N }, { key: 'peak', label: 'live at peak', fmt: B },
        { key: 'live', label: 'live at end', fmt: B }, { key: 'leaked', label: 'never freed', fmt: B },
        { key: 'frees', label: 'frees', fmt: N },
      ], rows);
      note.textContent = `${n} sites with figures in the window${scope} (the first 300 shown; click a column to sort). ` +
        '"live at end": live when the window ends, wherever allocated; "never freed": allocated in the window ' +
        'and still live when the run ended.';
    } else if (tab === 'threads') {
      const rows = D.threads.map((t, i) => ({
        i, name: (t.name || '') + ' ' + t.tid, tid: t.tid, count: F.thread.count[i] / unit, bytes: F.thread.bytes[i],
        frees: F.thread.frees[i] / unit, peak: F.thread.peak[i], temp: F.thread.temp[i] / unit, leaked: F.thread.leaked[i],
      })).filter((r) => state.thread < 0 || r.i === state.thread);
      table('threads', [
        { key: 'tid', label: 'tid' }, { key: 'name', label: 'thread', text: true },
        { key: 'count', label: 'allocations', fmt: N }, { key: 'bytes', label: 'bytes', fmt: B },
        { key: 'frees', label: 'its blocks freed', fmt: N }, { key: 'temp', label: 'temporary', fmt: N },
        { key: 'peak', label: 'peak live', fmt: B }, { key: 'leaked', label: 'never freed', fmt: B },
      ], rows, (r) => setThread(state.thread === r.i ? -1 : r.i));
      note.textContent = 'Per thread, in the window: its own allocations, and the most bytes of its blocks live at once. Click a row to see that thread alone.';
    } else if (tab === 'lifetimes') {
      const rows = D.sites.filter((s) => !s.other && s.freed).map((s) => ({
        name: s.name, where: siteWhere(s), median: s.lifetime_median_ns, p99: s.lifetime_p99_ns, freed: s.freed,
      }));
      table('lifetimes', [
        { key: 'name', label: 'site', text: true, fmt: siteCell },
        { key: 'median', label: 'median lifetime', fmt: fmtTime }, { key: 'p99', label: 'p99', fmt: fmtTime },
        { key: 'freed', label: 'blocks freed', fmt: N },
      ], rows);
      note.textContent = 'How long the blocks of each site lived before their free (within 19%), over the whole report, all threads: the window and the thread do not cut this table (memscope report --from/--to/--tid does).';
    } else {
      const cls = new Map();
      const S = D.slices.sizes;
      for (let i = 0; i < S.length; i += 4) {
        if (S[i] < state.a || S[i] >= state.b) continue;
        const c = cls.get(S[i + 1]) || { count: 0, bytes: 0 };
        c.count += S[i + 2] / unit;
        c.bytes += S[i + 3];
        cls.set(S[i + 1], c);
      }
      const total = [...cls.values()].reduce((x, c) => x + c.count, 0);
      const rows = [...cls.entries()].map(([k, c]) => ({ below: 2 ** k, count: c.count, share: c.count / (total || 1), bytes: c.bytes }));
      const max = Math.max(...rows.map((r) => r.share), 0.0001);
      table('sizes', [
        { key: 'below', label: 'sizes below', fmt: (v) => fmtBytes(v) }, { key: 'count', label: 'allocations', fmt: N },
        { key: 'share', label: 'share', fmt: (v) => el('span', {}, (100 * v).toFixed(1) + '% ', el('span', { class: 'bar', style: `width:${Math.round(120 * v / max)}px` })) },
        { key: 'bytes', label: 'bytes', fmt: B },
      ], rows);
      note.textContent = 'Allocations in the window by size (powers of two), all threads' +
        (state.thread >= 0 ? ' (this table is not cut by thread)' : '') + '.';
    }
  }

  function tableControls() {
    for (const b of document.querySelectorAll('.tabs button')) b.addEventListener('click', () => { tab = b.dataset.tab; drawTable(); });
  }

  // ---- start ----
  async function main() {
    D = await unpack();
    prepare();
    header();
    threadControls();
    flameControls();
    tableControls();
    drawChart();
    drawLanes();
    $('ms-window-reset').addEventListener('click', () => setWindow(0, D.slices.n));
    $('ms-show-licenses').addEventListener('click', (e) => {
      e.preventDefault();
      const v = $('ms-licenses-view');
      v.textContent = $('ms-licenses').textContent;
      v.hidden = !v.hidden;
    });
    refresh();
    $('ms-status').textContent = '';
  }

  window.memscope = {
    ready: null,
    // for tests: the window in slices and as --from/--to take it
    setWindow: (a, b) => setWindow(a, b),
    setThread: (tid) => setThread(tid === null ? -1 : D.threads.findIndex((t) => t.tid === tid)),
    setMode: (m) => setMode(m),
    state: () => ({ ...state, slices: D.slices.n, window: windowNs(state.a, state.b),
      tid: state.thread >= 0 ? D.threads[state.thread].tid : null }),
    flameTotal: () => flameTotal,
    data: () => D,
  };
  window.memscope.ready = main().then(() => true, (e) => {
    $('ms-status').textContent = 'This page could not show its figures: ' + e;
    throw e;
  });
})();
