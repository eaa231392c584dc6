// app.js — the pages of lowp ui: one script, hash routes (#/, #/run, #/graph, #/layers,
// #/new, #/jobs), the DOM built with h() (text is never parsed as HTML), charts in SVG.
'use strict';

let session = null;   // /api/session: csrf token, roots, choices for the job form
let stream = null;    // the live view's EventSource, closed when leaving it

// ---- small helpers ----
function h(tag, attrs, ...kids) {
  const svg = ['svg', 'g', 'rect', 'circle', 'line', 'text', 'path', 'title', 'polyline'].includes(tag);
  const el = svg ? document.createElementNS('http://www.w3.org/2000/svg', tag) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.setAttribute('class', v);
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const k of kids.flat()) if (k !== null && k !== undefined && k !== false) el.append(k instanceof Node ? k : String(k));
  return el;
}
function fmt(x, d = 4) { return typeof x === 'number' && isFinite(x) ? Number(x.toFixed(d)).toString() : '–'; }
function q(params) { return new URLSearchParams(params).toString(); }
function wsq(ws) { return q({ root: ws.root, path: ws.path }); }
async function api(path) {
  const r = await fetch(path, { credentials: 'same-origin' });
  const j = await r.json().catch(() => ({ error: r.status + ' ' + r.statusText }));
  if (!r.ok) throw new Error(j.error || r.statusText);
  return j;
}
async function post(path, body) {
  const r = await fetch(path, {
    method: 'POST', credentials: 'same-origin',
    headers: { 'Content-Type': 'application/json', 'X-Lowp-Csrf': session.csrf },
    body: JSON.stringify(body),
  });
  const j = await r.json().catch(() => ({ error: r.status + ' ' + r.statusText }));
  if (!r.ok) throw new Error(j.error || r.statusText);
  return j;
}
function fileUrl(root, path, download) { return '/api/file?' + q(Object.assign({ root, path }, download ? { download: 1 } : {})); }
function route() {
  const hash = location.hash.slice(1) || '/';
  const [path, query] = hash.split('?');
  return { path, args: Object.fromEntries(new URLSearchParams(query || '')) };
}
function showNow(...kids) { const m = document.getElementById('main'); m.replaceChildren(...kids.flat().filter(k => k !== null && k !== undefined && k !== false)); return m; }
function stateTag(state) { return h('span', { class: 'tag ' + state }, state); }

// ---- #/ : the runs found in the workspaces ----
async function viewRuns(args, ctx) {
  const { workspaces, complete } = await api('/api/workspaces');
  workspaces.sort((a, b) => (b.date || '').localeCompare(a.date || ''));
  const rows = workspaces.map(w => {
    const best = w.best;
    const state = w.state;
    let result = '';
    if (w.kind === 'tune') {
      result = best ? `best ${fmt(best.accuracy)} (trial ${best.trial}${best.passed ? ', passed' : ', no pass'}), ` +
        `${w.trials} trial${w.trials === 1 ? '' : 's'}, ${w.passed} passed` : 'no trial yet';
      if (w.met_target === false) result += ' — target not met';
    } else if (w.output) {
      result = runResult(w.kind, w.output);
    }
    return h('tr', { 'data-ws': w.path },
      h('td', {}, w.kind),
      h('td', {}, h('a', { href: '#/run?' + wsq(w) }, w.path || '(root)')),
      h('td', {}, w.model || ''),
      h('td', {}, (w.date || '').replace('T', ' ').replace('Z', ' UTC')),
      h('td', {}, stateTag(state)),
      h('td', {}, result));
  });
  ctx.show(h('h1', {}, 'Runs'),
    workspaces.length ? h('div', { class: 'wide' }, h('table', { id: 'runs' },
      h('tr', {}, ['kind', 'workspace', 'model', 'date (last change)', 'state', 'result'].map(t => h('th', {}, t))),
      rows)) : h('p', { class: 'muted' }, 'No runs yet in ', session.roots.filter(r => r.kind === 'workspace').map(r => r.path).join(', '),
      '. ', h('a', { href: '#/new' }, 'Start one'), ' or run lowp tune with -w inside one of those folders.'),
    complete ? null : h('p', { class: 'muted' }, 'Only the first folders were searched (too many).'));
  // new runs (a CLI tune started meanwhile, a job) and state changes appear without a reload
  viewRunsPoll(ctx, JSON.stringify(workspaces));
}
function viewRunsPoll(ctx, seen) {
  setTimeout(async () => {
    if (!ctx.live()) return;
    const again = await api('/api/workspaces').catch(() => null);
    if (!ctx.live()) return;
    if (again && JSON.stringify(again.workspaces.sort((a, b) => (b.date || '').localeCompare(a.date || ''))) !== seen) render();
    else viewRunsPoll(ctx, seen);
  }, 3000);
}

// ---- #/run : one workspace, live while it runs ----
async function viewRun(args, ctx) {
  const ws = { root: args.root, path: args.path };
  const d = await api('/api/workspace?' + wsq(ws));
  const s = d.summary;
  const live = { trials: [], baseline: null, target: null, hib: true, maxTrials: null, state: '' };
  if (d.report) Object.assign(live, { baseline: d.report.baseline, target: d.report.target, hib: d.report.higher_is_better !== false,
    baselineLatency: d.report.baseline_latency_ms });
  const stateEl = h('span', { id: 'state' });
  const progressBar = h('div', {});
  const progressText = h('span', { id: 'progress-text', class: 'muted' });
  const scatter = h('div', { id: 'scatter' });
  const tbody = h('tbody', {});
  const logEl = h('pre', { class: 'log', id: 'log' });
  const actions = h('span', { id: 'actions' });
  const extra = h('div', { id: 'report' });
  // measured as the tune runs (sensitivity.jsonl, streamed); the report's chart replaces them at the end
  const sens = new Map();               // op name -> its latest sensitivity record
  const liveExtra = h('div', { id: 'live-extra' });
  const p = s.path ? s.path + '/' : '';
  const files = h('ul', { id: 'files' }, d.files.map(f => h('li', {}, h('a', { href: fileUrl(ws.root, p + f, true), download: f }, f))));
  ctx.show(h('h1', {}, `${s.kind}: ${s.path || '(root)'} `, stateEl),
    h('p', {}, 'model ', h('code', {}, s.model || '?'), ' ', actions),
    h('p', {}, h('a', { href: '#/graph?' + wsq(ws) }, 'model graph by precision'), ' · ',
      h('a', { href: '#/layers?' + wsq(ws) }, 'per-layer comparison (FP32 vs quantized)')),
    h('p', {}, h('span', { class: 'progress' }, progressBar), ' ', progressText),
    s.kind === 'tune' ? [h('h2', {}, 'Accuracy vs latency'), scatter,
      h('h2', {}, 'Trials'), h('div', { class: 'wide' }, h('table', { id: 'trials' },
        h('thead', {}, h('tr', {}, ['#', 'strategy', 'what', 'accuracy', 'pass', 'latency ms', 'size', 'int8/bf16/fp32', 's'].map(t => h('th', {}, t)))),
        tbody)), liveExtra] : h('div', { id: 'result' }, resultView(d)),
    extra,
    h('h2', {}, 'Progress log'), logEl,
    h('h2', {}, 'Files'), files);
  if (d.report) extra.replaceChildren(reportView(d.report, ws));

  const redraw = () => {
    scatter.replaceChildren(scatterPlot(live));
    liveExtra.replaceChildren(...(d.report ? [] : liveView(live, sens)));
    const n = live.trials.length;
    if (live.maxTrials) progressBar.style.width = Math.min(100, 100 * n / live.maxTrials) + '%';
    else if (live.state === 'done') progressBar.style.width = '100%';
    progressText.textContent = `${n} trial${n === 1 ? '' : 's'}` + (live.maxTrials ? ` of at most ${live.maxTrials}` : '') +
      (live.baseline !== null ? ` · FP32 ${fmt(live.baseline)}` : '') + (live.target !== null ? `, target ${fmt(live.target)}` : '');
  };
  const setState = async st => {
    live.state = st;
    stateEl.replaceChildren(stateTag(st));
    actions.replaceChildren(...await runActions(ws, st, d));
    if (st === 'done' && !d.report) {   // the reports appear when the tune ends
      const again = await api('/api/workspace?' + wsq(ws)).catch(() => null);
      if (again && again.report) {
        d.report = again.report;
        Object.assign(live, { baseline: again.report.baseline, target: again.report.target, baselineLatency: again.report.baseline_latency_ms });
        extra.replaceChildren(reportView(again.report, ws));
        redraw();
      }
      if (again) files.replaceChildren(...again.files.map(f => h('li', {}, h('a', { href: fileUrl(ws.root, p + f, true), download: f }, f))));
      if (again && s.kind !== 'tune') document.getElementById('result').replaceChildren(...resultView(again));
    }
  };
  redraw();
  if (!ctx.live()) return;
  stream = new EventSource('/api/events?' + wsq(ws));
  stream.addEventListener('reset', () => { live.trials = []; tbody.replaceChildren(); redraw(); });
  stream.addEventListener('sensitivity_reset', () => { sens.clear(); redraw(); });
  stream.addEventListener('sensitivity', e => {
    const o = JSON.parse(e.data);
    sens.set(o.op, o);
    redraw();
  });
  stream.addEventListener('trial', e => {
    const t = JSON.parse(e.data);
    live.trials.push(t);
    tbody.append(trialRow(t));
    redraw();
  });
  stream.addEventListener('log', e => {
    const line = e.data;
    let m = /FP32 baseline ([-\d.e+]+), target (>=|<=) ([-\d.e+]+)/.exec(line);
    if (m) Object.assign(live, { baseline: +m[1], target: +m[3], hib: m[2] === '>=' });
    m = /trial (\d+)\/(\d+)/.exec(line);
    if (m) live.maxTrials = +m[2];
    logEl.append(line + '\n');
    logEl.scrollTop = logEl.scrollHeight;
    redraw();
  });
  stream.addEventListener('state', e => setState(JSON.parse(e.data).state));
  stream.addEventListener('end', () => { stream.close(); stream = null; document.body.dataset.ended = '1'; });
  document.body.dataset.ended = '';
}

// Cancel (a queued or running job of this workspace) and resume (a tune started here that stopped).
async function runActions(ws, state, d) {
  const out = [];
  const { jobs } = await api('/api/jobs');
  const job = jobs.find(j => String(j.root) === String(ws.root) && j.path === ws.path && (j.state === 'queued' || j.state === 'running'));
  if (job) out.push(h('button', { id: 'cancel', onclick: async e => { e.target.disabled = true; await post('/api/jobs/cancel', { id: job.id }); } }, 'Cancel'));
  const fromUi = d.summary.run && d.summary.run.form;
  if (!job && d.summary.kind === 'tune' && fromUi && ['cancelled', 'failed', 'stopped'].includes(state))
    out.push(h('button', { id: 'resume', onclick: async e => {
      e.target.disabled = true;
      try { await post('/api/jobs/resume', { root: ws.root, path: ws.path }); render(); } catch (err) { alert(err.message); }
    } }, 'Resume'));
  return out;
}

// The best trial so far as the tuner picks it: passed with the lowest objective, else the most
// accurate (the report's best when the tune ends).
function bestTrial(live) {
  let best = null;
  for (const t of live.trials) if (t.passed && (!best || t.objective < best.objective)) best = t;
  if (best) return best;
  for (const t of live.trials)
    if (typeof t.accuracy === 'number' && (!best || (live.hib ? t.accuracy > best.accuracy : t.accuracy < best.accuracy))) best = t;
  return best;
}

// While a tune runs: what fell back in the best trial so far (and in which trial each op first
// did, with that trial's reason), and the per-op sensitivities measured so far.
function liveView(live, sens) {
  const out = [];
  const best = bestTrial(live);
  if (best) {
    const fell = Object.entries(best.precision || {}).filter(([, pr]) => pr !== 'int8');
    const first = op => live.trials.find(t => t.precision && t.precision[op] && t.precision[op] !== 'int8');
    out.push(h('h2', {}, `What fell back so far (trial ${best.trial}, ${best.passed ? 'the best passing' : 'the most accurate; none passed yet'})`),
      fell.length ? h('div', { class: 'wide' }, h('table', { id: 'fallbacks-live' },
        h('tr', {}, ['op', 'precision', 'first in trial', 'why (that trial)'].map(t => h('th', {}, t))),
        fell.map(([op, pr]) => { const f = first(op); return h('tr', { 'data-op': op }, h('td', {}, op), h('td', {}, pr),
          h('td', { class: 'n' }, f ? f.trial : ''), h('td', {}, f ? f.note : '')); })))
        : h('p', { id: 'fallbacks-live' }, 'Nothing: every tunable op runs in INT8.'));
  }
  if (sens.size) {
    const ops = [...sens.values()].sort((a, b) => a.index - b.index).map(o => ({ name: o.op, op_type: o.op_type,
      sensitivity_db: o.sensitivity_db, sqnr_db: o.sqnr_db, precision: best && best.precision ? best.precision[o.op] : '' }));
    const of = [...sens.values()][0].of;
    out.push(h('h2', {}, `Per-op sensitivity, measured so far (${ops.length} op${ops.length === 1 ? '' : 's'} of ${of} tunable)`),
      sensitivityChart(ops, 'sensitivity-live'));
  }
  return out;
}

function trialRow(t) {
  const c = { int8: 0, bf16: 0, fp32: 0 };
  for (const p of Object.values(t.precision || {})) c[p] = (c[p] || 0) + 1;
  return h('tr', { 'data-trial': t.trial },
    h('td', { class: 'n' }, t.trial), h('td', {}, t.strategy), h('td', {}, t.note),
    h('td', { class: 'n' }, fmt(t.accuracy)), h('td', { class: t.passed ? 'ok' : 'bad' }, t.passed ? 'yes' : 'no'),
    h('td', { class: 'n' }, fmt(t.latency_ms, 3)), h('td', { class: 'n' }, kb(t.model_bytes)),
    h('td', { class: 'n' }, `${c.int8}/${c.bf16}/${c.fp32}`), h('td', { class: 'n' }, fmt(t.seconds, 1)));
}

// One line for a quantize or bench job's JSON output.
function runResult(kind, o) {
  if (kind === 'quantize')
    return `${o.int8_nodes} int8, ${o.bf16_nodes} bf16, ${o.fp32_nodes} fp32 nodes; ${kb(o.input_bytes)} → ${kb(o.output_bytes)}`;
  if (kind === 'bench' && o.latency_ms)
    return `p50 ${fmt(o.latency_ms.p50, 3)} ms, p99 ${fmt(o.latency_ms.p99, 3)} ms, ${fmt(o.throughput, 1)} samples/s (batch ${o.batch})`;
  return '';
}
function resultView(d) {
  const s = d.summary;
  const out = [h('p', { id: 'result-line' }, s.output ? runResult(s.kind, s.output) : 'no result yet')];
  if (s.output) out.push(h('pre', { id: 'result-json' }, JSON.stringify(s.output, null, 2)));
  return out;
}

// The accuracy-vs-latency scatter: FP32, passed, failed, best; the target as a dashed line.
function scatterPlot(live) {
  const pts = live.trials.filter(t => typeof t.latency_ms === 'number' && typeof t.accuracy === 'number');
  const W = 640, H = 320, L = 70, R = 20, T = 16, B = 40;
  const svg = h('svg', { width: W, height: H, viewBox: `0 0 ${W} ${H}`, id: 'scatter-svg', class: 'chart' });
  if (!pts.length) { svg.append(h('text', { x: W / 2, y: H / 2, 'text-anchor': 'middle', fill: '#888' }, 'trials appear here as they finish')); return svg; }
  const xs = pts.map(t => t.latency_ms), ys = pts.map(t => t.accuracy);
  const fp32 = typeof live.baselineLatency === 'number' && typeof live.baseline === 'number';
  if (fp32) xs.push(live.baselineLatency);
  if (live.baseline !== null && live.baseline !== undefined) ys.push(live.baseline);
  if (live.target !== null && live.target !== undefined) ys.push(live.target);
  let [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  const dx = x1 - x0 || Math.abs(x0) * 0.1 || 1e-3, dy = y1 - y0 || Math.abs(y0) * 0.01 || 1e-3;
  x0 -= dx * 0.08; x1 += dx * 0.08; y0 -= dy * 0.08; y1 += dy * 0.08;
  const sx = v => L + (v - x0) / (x1 - x0) * (W - L - R), sy = v => H - B - (v - y0) / (y1 - y0) * (H - T - B);
  svg.append(h('rect', { x: L, y: T, width: W - L - R, height: H - T - B, fill: 'none', stroke: '#888' }),
    h('text', { x: L, y: H - B + 16 }, fmt(x0, 3)), h('text', { x: W - R, y: H - B + 16, 'text-anchor': 'end' }, fmt(x1, 3)),
    h('text', { x: (L + W - R) / 2, y: H - 6, 'text-anchor': 'middle' }, 'latency, batch 1 (ms)'),
    h('text', { x: L - 4, y: T + 10, 'text-anchor': 'end' }, fmt(y1)), h('text', { x: L - 4, y: H - B, 'text-anchor': 'end' }, fmt(y0)),
    h('text', { transform: `translate(14 ${(T + H - B) / 2}) rotate(-90)`, 'text-anchor': 'middle' }, 'accuracy'));
  if (live.target !== null && live.target !== undefined)
    svg.append(h('line', { x1: L, x2: W - R, y1: sy(live.target), y2: sy(live.target), stroke: '#c60', 'stroke-dasharray': 4 }),
      h('text', { x: W - R - 4, y: sy(live.target) - 4, 'text-anchor': 'end', fill: '#c60', 'font-size': 11 }, 'target'));
  if (fp32) svg.append(h('rect', { x: sx(live.baselineLatency) - 4, y: sy(live.baseline) - 4, width: 8, height: 8, fill: '#333', id: 'fp32-point' },
    h('title', {}, `FP32 baseline (${fmt(live.baseline)}, ${fmt(live.baselineLatency, 3)} ms)`)));
  let best = null;
  for (const t of pts) if (t.passed && (!best || t.objective < best.objective)) best = t;
  for (const t of pts)
    svg.append(h('circle', { cx: sx(t.latency_ms), cy: sy(t.accuracy), r: t === best ? 7 : 4, class: 'pt',
      fill: t === best ? '#06c' : t.passed ? '#2a2' : '#c22', 'fill-opacity': 0.75, 'data-trial': t.trial },
    h('title', {}, `trial ${t.trial}: ${t.note} (${fmt(t.accuracy)}, ${fmt(t.latency_ms, 3)} ms)`)));
  return h('div', {}, svg, h('p', { class: 'muted' },
    'black square: FP32, green: passed, red: failed, blue: best so far, dashed: target (hover a point for its recipe)'));
}

// From report.json (written when a tune ends): the verdict, what fell back and why, sensitivity.
function reportView(rep, ws) {
  const p = ws.path ? ws.path + '/' : '';
  const out = [h('h2', {}, 'Result'),
    h('p', { class: rep.met_target ? 'ok' : 'bad' }, rep.met_target ? 'Target met.' : 'TARGET NOT MET: the most accurate model found was written.'),
    h('table', {}, h('tr', {}, h('th', {}, ''), h('th', {}, 'FP32'), h('th', {}, 'tuned')),
      h('tr', {}, h('th', {}, rep.metric || 'accuracy'), h('td', { class: 'n' }, fmt(rep.baseline)), h('td', { class: 'n' }, fmt(rep.best))),
      h('tr', {}, h('th', {}, 'latency ms (batch 1)'), h('td', { class: 'n' }, fmt(rep.baseline_latency_ms, 3)), h('td', { class: 'n' }, fmt(rep.best_latency_ms, 3))),
      h('tr', {}, h('th', {}, 'size'), h('td', { class: 'n' }, kb(rep.baseline_bytes)), h('td', { class: 'n' }, kb(rep.best_bytes)))),
    h('p', {}, 'Download: ', h('a', { href: fileUrl(ws.root, p + 'best_recipe.json', true), id: 'dl-recipe' }, 'best recipe'), ' · ',
      h('a', { href: fileUrl(ws.root, p + 'history.jsonl', true), id: 'dl-history' }, 'history'), ' · ',
      h('a', { href: fileUrl(ws.root, p + 'report.md', true) }, 'report.md'))];
  const ops = rep.ops || [];
  const fell = ops.filter(o => o.precision !== 'int8');
  out.push(h('h2', {}, 'What fell back and why'), fell.length ? h('table', { id: 'fallbacks' },
    h('tr', {}, ['op', 'type', 'precision', 'why'].map(t => h('th', {}, t))),
    fell.map(o => h('tr', {}, h('td', {}, o.name), h('td', {}, o.op_type), h('td', {}, o.precision), h('td', {}, o.why || ''))))
    : h('p', { id: 'fallbacks' }, 'Nothing: every tunable op runs in INT8.'));
  if (ops.some(o => typeof o.sensitivity_db === 'number')) out.push(h('h2', {}, 'Per-op sensitivity'), sensitivityChart(ops));
  return h('div', {}, out);
}
function kb(b) { return typeof b === 'number' ? (b / 1024).toFixed(1) + ' KB' : '–'; }
const precColor = { int8: '#2a2', bf16: '#e90', fp32: '#c22' };
function sensitivityChart(ops, id = 'sensitivity') {
  const vals = ops.map(o => o.sensitivity_db).filter(v => typeof v === 'number');
  const lo = Math.min(0, ...vals), hi = Math.max(lo + 1, ...vals);
  const bh = 18, lw = 220, cw = 420;
  const svg = h('svg', { width: lw + cw + 70, height: ops.length * bh + 4, id });
  ops.forEach((o, i) => {
    const v = typeof o.sensitivity_db === 'number' ? o.sensitivity_db : lo;
    const w = Math.max(1, (v - lo) / (hi - lo) * cw);
    svg.append(h('g', { 'data-op': o.name }, h('title', {}, `${o.name} (${o.op_type}, ${o.precision || 'precision not chosen yet'}): ${fmt(o.sensitivity_db, 1)} dB output noise, own SQNR ${fmt(o.sqnr_db, 1)} dB`),
      h('text', { x: lw - 6, y: i * bh + 13, 'text-anchor': 'end', 'font-family': 'monospace', 'font-size': 12 }, o.name.length > 30 ? '…' + o.name.slice(-29) : o.name),
      h('rect', { x: lw, y: i * bh + 2, width: w, height: bh - 4, fill: precColor[o.precision] || '#999' }),
      h('text', { x: lw + w + 4, y: i * bh + 13, 'font-size': 12 }, fmt(o.sensitivity_db, 1))));
  });
  return h('div', { class: 'wide' }, svg, h('p', { class: 'muted' }, 'Noise-to-signal of the model outputs with only this op in INT8 (dB; longer: more sensitive). Colour: precision chosen (green int8, orange bf16, red fp32).'));
}

// ---- #/new : start a job ----
async function viewNew(args, ctx) {
  const { models } = await api('/api/models');
  models.sort((a, b) => a.path.localeCompare(b.path));
  const roots = session.roots;
  const dataRoots = roots.filter(r => r.kind === 'data');
  const wsRoots = roots.filter(r => r.kind === 'workspace');
  const sel = (name, items, value) => h('select', { name, id: 'f-' + name }, items.map(([v, t]) => h('option', { value: v, selected: v === value }, t)));
  const text = (name, value, ph) => h('input', { type: 'text', name, id: 'f-' + name, value: value || '', placeholder: ph || '' });
  const datasetRow = (key, label) => [h('label', { for: `f-${key}-kind` }, label),
    h('div', {}, sel(key + '-kind', [['', '(none)'], ...session.datasets.map(d => [d, d])], key === 'calib' || key === 'eval' ? 'FashionMNIST' : ''),
      ' in ', sel(key + '-root', dataRoots.map(r => [String(r.index), r.path])), ' / ', text(key + '-path', '', 'folder or file inside it'),
      ' options ', text(key + '-options', key === 'calib' ? 'train=true' : '', 'e.g. train=true'))];
  const errEl = h('p', { class: 'err', id: 'form-error' });
  const yamlFile = h('input', { type: 'file', id: 'f-yaml-file', accept: '.yaml,.yml' });
  const yamlText = h('textarea', { name: 'yaml', id: 'f-yaml', placeholder: '(optional) an LPOT-style YAML configuration' });
  yamlFile.addEventListener('change', async () => { if (yamlFile.files[0]) yamlText.value = await yamlFile.files[0].text(); });
  const form = h('form', { class: 'job', id: 'job-form' },
    h('label', { for: 'f-command' }, 'run'), sel('command', session.commands.map(c => [c, c]), 'tune'),
    h('label', { for: 'f-model' }, 'model'), sel('model', models.map(m => [`${m.root}:${m.path}`, `${roots[m.root].path}/${m.path}`])),
    h('label', { for: 'f-name' }, 'workspace'), h('div', {}, sel('workspace_root', wsRoots.map(r => [String(r.index), r.path])), ' / ', text('name', '', 'name (default: model-command-time)')),
    datasetRow('calib', 'calibration data'), datasetRow('eval', 'evaluation data'),
    h('label', { for: 'f-transform' }, 'transforms'), text('transform', '', 'e.g. Rescale,Normalize=0.2860/0.3530'),
    h('label', { for: 'f-metric' }, 'metric'), h('div', {}, text('metric', 'topk=1'), h('span', { class: 'muted' }, ' built in: ' + session.metrics.join(', '))),
    h('label', { for: 'f-tolerance' }, 'tolerance'), h('div', {}, text('tolerance', '1%'), h('label', {}, h('input', { type: 'checkbox', name: 'absolute', id: 'f-absolute' }), ' absolute')),
    h('label', { for: 'f-strategy' }, 'strategy'), sel('strategy', session.strategies.map(s => [s, s]), 'auto'),
    h('label', { for: 'f-max_trials' }, 'max trials'), text('max_trials', '', 'default: stop at the first pass'),
    h('label', { for: 'f-limit' }, 'evaluate on'), text('limit', '', 'first N samples (default: all)'),
    h('label', { for: 'f-sampling_size' }, 'calibration samples'), text('sampling_size', '', 'e.g. 100'),
    h('label', { for: 'f-yaml-file' }, 'configuration'), h('div', {}, yamlFile, yamlText),
    h('div', { class: 'full' }, h('button', { type: 'submit', id: 'submit' }, 'Start'), errEl));
  form.addEventListener('submit', async e => {
    e.preventDefault();
    errEl.textContent = '';
    const v = n => (form.elements[n] ? form.elements[n].value.trim() : '');
    const [mroot, ...mpath] = v('model').split(':');
    const body = { command: v('command'), model: { root: +mroot, path: mpath.join(':') }, workspace_root: +v('workspace_root') };
    for (const k of ['name', 'transform', 'metric', 'tolerance', 'strategy', 'max_trials', 'limit', 'sampling_size', 'yaml']) if (v(k)) body[k] = v(k);
    if (body.command === 'quantize' && v('sampling_size')) body.samples = v('sampling_size');
    if (form.elements.absolute.checked) body.absolute = true;
    for (const k of ['calib', 'eval']) if (v(k + '-kind'))
      body[k] = { kind: v(k + '-kind'), root: +v(k + '-root'), path: v(k + '-path'), options: v(k + '-options') };
    try {
      const { id } = await post('/api/jobs', body);
      const { jobs } = await api('/api/jobs');
      const j = jobs.find(x => x.id === id);
      location.hash = '#/run?' + q({ root: j.root, path: j.path });
    } catch (err) {
      errEl.textContent = err.message;
    }
  });
  ctx.show(h('h1', {}, 'New job'), h('p', { class: 'muted' }, 'Runs the lowp command line shown on the Jobs page, in a new workspace; one job at a time, the others wait in the queue.'), form);
}

// ---- #/jobs : the queue ----
async function viewJobs(args, ctx) {
  const table = h('table', { id: 'jobs' });
  const fill = async () => {
    const { jobs } = await api('/api/jobs');
    table.replaceChildren(h('tr', {}, ['#', 'command', 'state', 'workspace', 'command line', ''].map(t => h('th', {}, t))),
      ...jobs.map(j => h('tr', { 'data-job': j.id }, h('td', { class: 'n' }, j.id), h('td', {}, j.command), h('td', {}, stateTag(j.state),
        j.exit_code !== null && j.state !== 'running' ? ` exit ${j.exit_code}` : ''),
      h('td', {}, h('a', { href: '#/run?' + q({ root: j.root, path: j.path }) }, j.path)), h('td', {}, h('code', {}, j.command_line)),
      h('td', {}, j.state === 'queued' || j.state === 'running' ? h('button', { class: 'cancel', onclick: async e => {
        e.target.disabled = true; await post('/api/jobs/cancel', { id: j.id }); fill();
      } }, 'Cancel') : ''))));
  };
  await fill();
  ctx.show(h('h1', {}, 'Jobs'), jobsNote(), table);
  const timer = setInterval(() => { if (!ctx.live()) clearInterval(timer); else fill().catch(() => {}); }, 1000);
}
function jobsNote() { return h('p', { class: 'muted' }, 'Newest first. A cancelled tune keeps its history: resume it from its page.'); }

// ---- #/graph : the model, each op coloured by the precision the run chose ----
async function viewGraph(args, ctx) {
  const g = await api('/api/graph?' + q({ root: args.root, path: args.path }));
  const nodes = g.nodes;
  const depth = [];
  nodes.forEach((n, i) => { depth[i] = n.from.length ? 1 + Math.max(...n.from.map(f => depth[f])) : 0; });
  const rows = [];
  nodes.forEach((n, i) => { (rows[depth[i]] = rows[depth[i]] || []).push(i); });
  const BW = 132, BH = 28, GX = 14, GY = 30, M = 12;
  const widest = Math.max(1, ...rows.map(r => r.length));
  const W = M * 2 + widest * (BW + GX), H = M * 2 + rows.length * (BH + GY);
  const pos = [];
  rows.forEach((r, d) => r.forEach((i, k) => {
    const off = (W - r.length * (BW + GX)) / 2;
    pos[i] = { x: off + k * (BW + GX), y: M + d * (BH + GY) };
  }));
  const colour = n => n.precision ? precColor[n.precision] || '#999' : '#ccc';
  const svg = h('svg', { width: W, height: H, id: 'graph-svg' });
  const edges = h('g', { stroke: '#999', fill: 'none' });
  nodes.forEach((n, i) => n.from.forEach(f => {
    const a = pos[f], b = pos[i];
    const x1 = a.x + BW / 2, y1 = a.y + BH, x2 = b.x + BW / 2, y2 = b.y;
    edges.append(h('path', { d: `M${x1},${y1} C${x1},${y1 + GY / 2} ${x2},${y2 - GY / 2} ${x2},${y2}` }));
  }));
  svg.append(edges);
  const counts = {};
  nodes.forEach((n, i) => {
    const key = n.precision || 'other';
    counts[key] = (counts[key] || 0) + 1;
    svg.append(h('g', { class: 'node', 'data-op': n.op, 'data-precision': key },
      h('title', {}, `${n.name} (${n.op})${n.precision ? ': ' + n.precision : ': not tuned (runs as the engine chooses, FP32 or fused)'}`),
      h('rect', { x: pos[i].x, y: pos[i].y, width: BW, height: BH, rx: 4, fill: colour(n), 'fill-opacity': n.precision ? 0.85 : 0.5, stroke: '#555' }),
      h('text', { x: pos[i].x + BW / 2, y: pos[i].y + 18, 'text-anchor': 'middle', 'font-size': 12, fill: n.precision ? '#fff' : '#222' }, n.op)));
  });
  const legend = h('p', { id: 'graph-legend' }, ['int8', 'bf16', 'fp32', 'other'].filter(k => counts[k]).map(k =>
    h('span', {}, h('span', { class: 'key ' + k }, ''), `${k === 'other' ? 'not tunable' : k}: ${counts[k]} `)));
  ctx.show(h('h1', {}, 'Model graph'), h('p', {}, h('code', {}, g.model), ` — ${g.n_nodes} nodes` +
      (g.n_nodes > nodes.length ? ` (the first ${nodes.length} drawn)` : '') +
      (g.precision_from ? ', coloured by the precision of the run\'s best recipe' : ', no precision known for this run yet')),
    legend, h('div', { class: 'graph' }, svg));
}

// ---- #/layers : FP32 vs quantized, tensor by tensor ----
async function viewLayers(args, ctx) {
  const ws = { root: args.root, path: args.path };
  const d = await api('/api/workspace?' + wsq(ws));
  const p = ws.path ? ws.path + '/' : '';
  const has = f => d.files.includes(f);
  const body = h('div', { id: 'layers-body' });
  ctx.show(h('h1', {}, 'Per-layer comparison: ', ws.path), h('p', { class: 'muted' },
    'lowp compare runs the FP32 model and the quantized one on the same samples and measures each tensor\'s ' +
    'signal-to-quantization-noise ratio (SQNR, dB: higher is better), worst first.'), body);
  if (!has('layers.json')) { body.append(compareForm(ws, d)); return; }
  const res = await (await fetch(fileUrl(ws.root, p + 'layers.json'))).json().catch(() => null);
  if (!res || !res.layers) {
    body.append(h('p', { class: 'err' }, 'The comparison failed: see layers.log below.'), compareForm(ws, d));
    if (has('layers.log')) body.append(h('pre', { class: 'log' }, await (await fetch(fileUrl(ws.root, p + 'layers.log'))).text()));
    return;
  }
  const hist = has('layers_hist.json') ? await (await fetch(fileUrl(ws.root, p + 'layers_hist.json'))).json().catch(() => null) : null;
  const histBox = h('div', { id: 'histogram' }, hist ? h('p', { class: 'muted' }, 'Click a row for the two distributions overlaid.')
    : h('p', { class: 'muted' }, 'No histograms in this comparison (layers_hist.json is missing).'));
  const vals = res.layers.map(l => typeof l.sqnr_db === 'number' ? l.sqnr_db : 0);
  const hi = Math.max(1, ...vals);
  const table = h('table', { id: 'layers' }, h('tr', {}, ['tensor', 'node', 'op', 'kind', 'SQNR dB', '', 'rel. error'].map(t => h('th', {}, t))),
    res.layers.map((l, i) => {
      const tr = h('tr', { 'data-tensor': l.tensor, class: 'clickable' }, h('td', {}, l.tensor), h('td', {}, l.node), h('td', {}, l.op_type),
        h('td', {}, l.kind), h('td', { class: 'n' }, l.sqnr_db === null ? '∞' : fmt(l.sqnr_db, 1)),
        h('td', {}, h('svg', { width: 160, height: 12 }, h('rect', { x: 0, y: 1, height: 10, width: Math.max(1, 160 * Math.max(0, vals[i]) / hi),
          fill: vals[i] < 20 ? '#c22' : vals[i] < 30 ? '#e90' : '#2a2' }))),
        h('td', { class: 'n' }, fmt(l.rel_error, 4)));
      tr.addEventListener('click', () => {
        const e = hist && hist.layers.find(x => x.tensor === l.tensor && x.kind === l.kind);
        histBox.replaceChildren(h('h2', {}, l.tensor), e ? histogramChart(e) : h('p', { class: 'muted' }, 'No histogram for this tensor.'));
      });
      return tr;
    }));
  body.append(h('p', {}, `${res.samples} samples. `, h('a', { href: fileUrl(ws.root, p + 'layers.json', true) }, 'layers.json')),
    h('div', { class: 'cols' }, h('div', { class: 'wide' }, table), histBox));
}

// TensorBoard-style buckets (right edges + counts) re-binned onto one linear axis for both.
function histogramChart(e) {
  const sides = [['fp32', '#06c'], ['quantized', '#e60']].filter(([k]) => e[k] && e[k].bucket);
  let lo = Math.min(...sides.map(([k]) => e[k].min)), hi = Math.max(...sides.map(([k]) => e[k].max));
  if (!(hi > lo)) { lo -= 0.5; hi += 0.5; }
  const NB = 60, W = 460, H = 220, L = 40, B = 24;
  const binned = sides.map(([k]) => {
    const bins = new Array(NB).fill(0);
    const hs = e[k];
    let left = hs.min;
    hs.bucket.forEach((c, i) => {
      const right = Math.min(hs.bucket_limit[i], hs.max);
      const mid = c ? (Math.max(left, hs.min) + right) / 2 : 0;
      if (c) bins[Math.max(0, Math.min(NB - 1, Math.floor((mid - lo) / (hi - lo) * NB)))] += c;
      left = hs.bucket_limit[i];
    });
    const total = bins.reduce((a, b) => a + b, 0) || 1;
    return bins.map(b => b / total);
  });
  const top = Math.max(1e-9, ...binned.flat());
  const svg = h('svg', { width: W, height: H, id: 'histogram-svg' });
  svg.append(h('line', { x1: L, x2: W, y1: H - B, y2: H - B, stroke: '#888' }),
    h('text', { x: L, y: H - 6, 'font-size': 11 }, fmt(lo, 4)), h('text', { x: W - 2, y: H - 6, 'font-size': 11, 'text-anchor': 'end' }, fmt(hi, 4)));
  binned.forEach((bins, s) => {
    const pts = bins.map((v, i) => `${L + (i + 0.5) * (W - L) / NB},${H - B - v / top * (H - B - 10)}`).join(' ');
    svg.append(h('polyline', { points: pts, fill: 'none', stroke: sides[s][1], 'stroke-width': 2, class: 'hist-' + sides[s][0] }));
  });
  return h('div', {}, svg, h('p', {}, sides.map(([k, c]) => h('span', {}, h('span', { class: 'key h' + k }, ''), k + ' '))));
}

function compareForm(ws, d) {
  const form0 = (d.summary.run && d.summary.run.form) || {};
  const cal = form0.calib || {};
  const dataRoots = session.roots.filter(r => r.kind === 'data');
  const f = h('form', { class: 'job', id: 'compare-form' },
    h('label', {}, 'data'), h('div', {},
      h('select', { name: 'kind' }, session.datasets.map(k => h('option', { value: k, selected: k === (cal.kind || 'FashionMNIST') }, k))), ' in ',
      h('select', { name: 'root' }, dataRoots.map(r => h('option', { value: r.index, selected: String(r.index) === String(cal.root) }, r.path))), ' / ',
      h('input', { type: 'text', name: 'path', value: cal.path || '' }), ' options ', h('input', { type: 'text', name: 'options', value: cal.options || '' })),
    h('label', {}, 'transforms'), h('input', { type: 'text', name: 'transform', value: form0.transform || '' }),
    h('label', {}, 'samples'), h('input', { type: 'text', name: 'samples', value: '32' }),
    h('div', { class: 'full' }, h('button', { type: 'submit', id: 'compare-start' }, 'Compare'), h('span', { class: 'err', id: 'compare-error' })));
  f.addEventListener('submit', async e => {
    e.preventDefault();
    const v = n => f.elements[n].value.trim();
    const body = { command: 'compare', workspace: ws, calib: { kind: v('kind'), root: +v('root'), path: v('path'), options: v('options') }, samples: v('samples') };
    if (v('transform')) body.transform = v('transform');
    try {
      const { id } = await post('/api/jobs', body);
      document.getElementById('compare-start').disabled = true;
      for (;;) {   // the job queue runs it; the page waits for its end
        await new Promise(r => setTimeout(r, 500));
        if (route().path !== '/layers') return;
        const j = (await api('/api/jobs')).jobs.find(x => x.id === id);
        if (!j || !['queued', 'running'].includes(j.state)) break;
      }
      render();
    } catch (err) { document.getElementById('compare-error').textContent = ' ' + err.message; }
  });
  return h('div', {}, h('p', {}, 'Not compared yet. Choose the data to compare on:'), f);
}

// ---- the router ----
const views = { '/': viewRuns, '/run': viewRun, '/new': viewNew, '/jobs': viewJobs, '/graph': viewGraph, '/layers': viewLayers };
// Renders run concurrently when the route changes quickly; only the latest may touch the page.
let current = null;
async function render() {
  if (stream) { stream.close(); stream = null; }
  document.body.dataset.ended = '';
  document.body.dataset.view = '';
  const { path, args } = route();
  const me = {};
  current = me;
  const ctx = { live: () => current === me, show: (...kids) => { if (current === me) showNow(...kids); } };
  const view = views[path];
  if (!view) { ctx.show(h('p', { class: 'err' }, 'No such page: ' + path)); return; }
  try {
    await view(args, ctx);
    if (ctx.live()) {
      document.body.dataset.view = path;
      document.body.dataset.rendered = String(+(document.body.dataset.rendered || 0) + 1);  // for tests: a page is complete
    }
  } catch (e) {
    ctx.show(h('p', { class: 'err', id: 'error' }, String(e.message || e)));
  }
}

(async () => {
  try {
    session = await api('/api/session');
    document.getElementById('version').textContent = 'lowp ' + session.version;
  } catch (e) {
    showNow(h('p', { class: 'err' }, 'lowp ui: ' + e.message));
    return;
  }
  window.addEventListener('hashchange', render);
  render();
})();
