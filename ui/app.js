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
function show(...kids) { const m = document.getElementById('main'); m.replaceChildren(...kids.filter(k => k !== null && k !== undefined && k !== false)); return m; }
function stateTag(state) { return h('span', { class: 'tag ' + state }, state); }

// ---- #/ : the runs found in the workspaces ----
async function viewRuns() {
  const { workspaces, complete } = await api('/api/workspaces');
  workspaces.sort((a, b) => (b.date || '').localeCompare(a.date || ''));
  const rows = workspaces.map(w => {
    const best = w.best;
    const state = w.running ? 'running' : w.kind !== 'tune' && w.run ? (w.run.state || 'done')
      : w.report ? 'done' : w.trials ? 'stopped' : 'empty';
    let result = '';
    if (w.kind === 'tune') {
      result = best ? `best ${fmt(best.accuracy)} (trial ${best.trial}${best.passed ? ', passed' : ', no pass'}), ` +
        `${w.trials} trial${w.trials === 1 ? '' : 's'}, ${w.passed} passed` : 'no trial yet';
      if (w.met_target === false) result += ' — target not met';
    } else if (w.run && w.run.summary) {
      result = w.run.summary;
    }
    return h('tr', { 'data-ws': w.path },
      h('td', {}, w.kind),
      h('td', {}, h('a', { href: '#/run?' + wsq(w) }, w.path || '(root)')),
      h('td', {}, w.model || ''),
      h('td', {}, (w.date || '').replace('T', ' ').replace('Z', ' UTC')),
      h('td', {}, stateTag(state)),
      h('td', {}, result));
  });
  show(h('h1', {}, 'Runs'),
    workspaces.length ? h('div', { class: 'wide' }, h('table', { id: 'runs' },
      h('tr', {}, ['kind', 'workspace', 'model', 'date (last change)', 'state', 'result'].map(t => h('th', {}, t))),
      rows)) : h('p', { class: 'muted' }, 'No runs yet in ', session.roots.filter(r => r.kind === 'workspace').map(r => r.path).join(', '),
      '. ', h('a', { href: '#/new' }, 'Start one'), ' or run lowp tune with -w inside one of those folders.'),
    complete ? null : h('p', { class: 'muted' }, 'Only the first folders were searched (too many).'));
}

// ---- #/run : one workspace ----
async function viewRun(args) {
  const ws = { root: args.root, path: args.path };
  const d = await api('/api/workspace?' + wsq(ws));
  const s = d.summary;
  show(h('h1', {}, `${s.kind}: ${s.path || '(root)'}`),
    h('p', {}, 'model ', h('code', {}, s.model || '?'), ' — ', s.date),
    h('h2', {}, 'Trials'),
    h('div', { class: 'wide' }, trialTable(d.trials || [])),
    h('h2', {}, 'Files'),
    h('ul', {}, d.files.map(f => h('li', {}, h('a', { href: fileUrl(ws.root, (ws.path ? ws.path + '/' : '') + f, true) }, f)))));
}

function trialTable(trials) {
  return h('table', { id: 'trials' },
    h('tr', {}, ['#', 'strategy', 'what', 'accuracy', 'pass', 'latency ms', 'size', 'int8/bf16/fp32', 's'].map(t => h('th', {}, t))),
    trials.map(trialRow));
}
function trialRow(t) {
  const c = { int8: 0, bf16: 0, fp32: 0 };
  for (const p of Object.values(t.precision || {})) c[p] = (c[p] || 0) + 1;
  return h('tr', { 'data-trial': t.trial },
    h('td', { class: 'n' }, t.trial), h('td', {}, t.strategy), h('td', {}, t.note),
    h('td', { class: 'n' }, fmt(t.accuracy)), h('td', { class: t.passed ? 'ok' : 'bad' }, t.passed ? 'yes' : 'no'),
    h('td', { class: 'n' }, fmt(t.latency_ms, 3)), h('td', { class: 'n' }, t.model_bytes ? (t.model_bytes / 1024).toFixed(1) + ' KB' : '–'),
    h('td', { class: 'n' }, `${c.int8}/${c.bf16}/${c.fp32}`), h('td', { class: 'n' }, fmt(t.seconds, 1)));
}

// ---- the router ----
const views = { '/': viewRuns, '/run': viewRun };
async function render() {
  if (stream) { stream.close(); stream = null; }
  const { path, args } = route();
  const view = views[path];
  if (!view) { show(h('p', { class: 'err' }, 'No such page: ' + path)); return; }
  try {
    await view(args);
    document.body.dataset.view = path;
  } catch (e) {
    show(h('p', { class: 'err', id: 'error' }, String(e.message || e)));
  }
}

(async () => {
  try {
    session = await api('/api/session');
    document.getElementById('version').textContent = 'lowp ' + session.version;
  } catch (e) {
    show(h('p', { class: 'err' }, 'lowp ui: ' + e.message));
    return;
  }
  window.addEventListener('hashchange', render);
  render();
})();
