// ui_test.js URL SHOTS_DIR WORKSPACE_ROOT RELEASE [URL6] — drives `lowp ui` (started by tests/ui.sh) in
// headless Debian chromium through puppeteer-core, and sends hostile raw HTTP requests.
// RELEASE: the file that lets tests/ui.sh's held CLI tune (WORKSPACE_ROOT/gated) finish; URL6:
// the same dashboard served on [::1].
// Prints "ok NAME" / "FAIL NAME: why" per check; tests/ui.sh counts them.
'use strict';
const http = require('http');
const fs = require('fs');
const path = require('path');
const puppeteer = require('puppeteer-core');

const [url, shots, wsRoot, release, url6] = process.argv.slice(2);
const base = new URL(url);
const token = base.searchParams.get('token');
const origin = base.origin;
let failures = 0;

function ok(name) { console.log('ok ' + name); }
function fail(name, why) { console.log('FAIL ' + name + ': ' + why); failures++; }
async function check(name, fn) {
  try {
    const r = await fn();
    if (r === true) ok(name); else fail(name, r || 'false');
  } catch (e) {
    fail(name, e && e.stack ? e.stack.split('\n').slice(0, 3).join(' | ') : String(e));
  }
}

// A raw request: the path is sent exactly as given (no normalization of '..' as browsers do).
function raw(method, p, headers = {}, body = null) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: base.hostname, port: base.port, method, path: p, headers }, res => {
      let data = '';
      res.on('data', c => { data += c; });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: data }));
    });
    req.on('error', e => resolve({ status: 0, body: String(e) }));
    req.setTimeout(10000, () => { req.destroy(new Error('timeout')); });
    if (body !== null) req.write(body);
    req.end();
  });
}
const auth = { 'X-Lowp-Token': token };
function expectStatus(res, want, what) {
  return res.status === want ? true : `${what}: status ${res.status}, want ${want}: ${String(res.body).slice(0, 200)}`;
}

async function rawChecks(csrf) {
  await check('token-required', async () => expectStatus(await raw('GET', '/api/workspaces'), 403, 'no token'));
  await check('token-wrong', async () =>
    expectStatus(await raw('GET', '/api/workspaces', { 'X-Lowp-Token': token.replace(/./, c => c === '0' ? '1' : '0') }), 403, 'wrong token'));
  await check('token-wrong-cookie', async () =>
    expectStatus(await raw('GET', '/', { Cookie: `lowp_token_${base.port}=deadbeef` }), 403, 'wrong cookie'));
  await check('token-page-without', async () => expectStatus(await raw('GET', '/app.js'), 403, 'asset without token'));
  await check('token-accepted', async () => expectStatus(await raw('GET', '/api/workspaces', auth), 200, 'right token'));
  await check('token-url-sets-cookie', async () => {
    const r = await raw('GET', '/?token=' + token);
    if (r.status !== 303) return 'status ' + r.status;
    const c = String(r.headers['set-cookie'] || '');
    return c.includes(token) && c.includes('HttpOnly') && c.includes('SameSite=Strict') && r.headers.location === '/' || 'cookie ' + c;
  });
  await check('token-redirect-not-open', async () => {
    for (const p of ['//evil.example/?token=' + token, '/\\evil.example/?token=' + token, '/x/?token=' + token]) {
      const r = await raw('GET', p);
      if (r.status !== 303 || r.headers.location !== '/') return `${p}: status ${r.status}, Location ${r.headers.location}`;
    }
    return true;
  });
  await check('headers-csp-nosniff', async () => {
    const r = await raw('GET', '/', auth);
    const csp = r.headers['content-security-policy'] || '';
    return /script-src 'self'/.test(csp) && /frame-ancestors 'none'/.test(csp) && r.headers['x-content-type-options'] === 'nosniff' ||
      JSON.stringify(r.headers);
  });
  await check('workspace-html-served-as-text', async () => {
    const r = await raw('GET', '/api/file?root=0&path=t1/report.html', auth);
    return r.status === 200 && /^text\/plain/.test(r.headers['content-type']) || `status ${r.status}, type ${r.headers['content-type']}`;
  });
  await check('host-rebinding', async () =>
    expectStatus(await raw('GET', '/api/workspaces', { ...auth, Host: 'evil.example:' + base.port }), 403, 'foreign Host'));
  for (const [name, p] of [
    ['dotdot', '../../../etc/passwd'], ['dotdot-inner', 't1/../../etc/passwd'], ['dotdot-encoded', '%2e%2e/%2e%2e/etc/passwd'],
    ['absolute', '/etc/passwd'], ['backslash', '..\\..\\etc\\passwd'], ['symlink-out', 'escape/passwd'],
    ['dot', './t1/history.jsonl'],
  ]) {
    await check('path-' + name, async () => {
      const r = await raw('GET', '/api/file?root=0&path=' + (name === 'dotdot-encoded' ? p : encodeURIComponent(p)), auth);
      return r.status === 403 || r.status === 404 ? (r.body.includes('root:') ? 'leaked /etc/passwd' : true) : `status ${r.status}`;
    });
  }
  await check('path-bad-root', async () => expectStatus(await raw('GET', '/api/file?root=99&path=x', auth), 404, 'root 99'));
  await check('path-workspace-dotdot', async () =>
    expectStatus(await raw('GET', '/api/workspace?root=0&path=..', auth), 403, 'workspace ..'));
  await check('path-inside-ok', async () => expectStatus(await raw('GET', '/api/file?root=0&path=t1/history.jsonl', auth), 200, 'history'));
  await check('path-url-dotdot', async () => {
    const r = await raw('GET', '/../../etc/passwd', auth);
    return r.status >= 400 && !r.body.includes('root:') || `status ${r.status}`;
  });
  const jsonHeaders = { ...auth, 'Content-Type': 'application/json', Origin: origin, 'X-Lowp-Csrf': csrf };
  await check('post-no-origin', async () => {
    const h = { ...jsonHeaders };
    delete h.Origin;
    return expectStatus(await raw('POST', '/api/jobs', h, '{}'), 403, 'POST without Origin');
  });
  await check('post-cross-origin', async () =>
    expectStatus(await raw('POST', '/api/jobs', { ...jsonHeaders, Origin: 'http://evil.example' }, '{}'), 403, 'POST from evil.example'));
  await check('post-cross-site-fetch-metadata', async () =>
    expectStatus(await raw('POST', '/api/jobs', { ...jsonHeaders, 'Sec-Fetch-Site': 'cross-site' }, '{}'), 403, 'Sec-Fetch-Site cross-site'));
  await check('post-no-csrf', async () => {
    const h = { ...jsonHeaders };
    delete h['X-Lowp-Csrf'];
    return expectStatus(await raw('POST', '/api/jobs', h, '{}'), 403, 'POST without CSRF token');
  });
  await check('post-form-type', async () =>
    expectStatus(await raw('POST', '/api/jobs', { ...jsonHeaders, 'Content-Type': 'application/x-www-form-urlencoded' }, 'a=b'), 403, 'form POST'));
  await check('post-oversize-declared', async () =>
    expectStatus(await raw('POST', '/api/jobs', { ...jsonHeaders, 'Content-Length': String(2 << 20) }, 'x'.repeat(1000)), 413, 'Content-Length 2 MB'));
  await check('post-oversize-chunked', async () => {
    const big = 'x'.repeat((1 << 20) + 4096);
    return expectStatus(await raw('POST', '/api/jobs', { ...jsonHeaders, 'Transfer-Encoding': 'chunked' }, big), 413, 'chunked 1 MB + 4 KB');
  });
  await check('headers-oversize', async () => {
    const r = await raw('GET', '/api/workspaces', { ...auth, 'X-Padding': 'p'.repeat(64 << 10) });
    return r.status >= 400 || r.status === 0 || `status ${r.status}`;
  });
  await check('data-root-not-served', async () => {
    const r = await raw('GET', '/api/file?root=2&path=' + encodeURIComponent('x'), auth);
    return r.status === 403 || r.status === 404 || `status ${r.status}`;
  });
}

// A page of another origin (another port of 127.0.0.1: the same *site*, so a SameSite cookie
// is sent) that tries to start a job: a form POST and a no-preflight fetch, both must fail.
function attackerServer(target) {
  const page = `<!DOCTYPE html><html><body>
<form id="f" method="POST" action="${target}/api/jobs" enctype="text/plain" target="sink">
<input name='{"command":"tune","x":"' value='"}'></form><iframe name="sink"></iframe>
<script>
fetch("${target}/api/jobs", { method: "POST", mode: "no-cors", credentials: "include",
  headers: { "Content-Type": "text/plain" }, body: JSON.stringify({ command: "bench" }) })
  .catch(() => {}).finally(() => { document.getElementById("f").submit(); setTimeout(() => { document.title = "sent"; }, 500); });
</script></body></html>`;
  const srv = http.createServer((req, res) => { res.writeHead(200, { 'Content-Type': 'text/html' }); res.end(page); });
  return new Promise(resolve => srv.listen(0, '127.0.0.1', () => resolve(srv)));
}

// Navigates to a route of the dashboard and waits until that page has finished rendering (a
// page still showing the previous route's content must not satisfy the next check).
async function gotoView(page, hash, timeout = 15000) {
  const view = hash.replace(/^#/, '').split('?')[0];
  const n = await page.evaluate(() => +(document.body.dataset.rendered || 0));
  if (await page.evaluate(h => location.hash === h, hash)) await page.evaluate(() => render());
  else await page.goto(origin + '/' + hash);
  await page.waitForFunction((n, v) => +(document.body.dataset.rendered || 0) > n && document.body.dataset.view === v,
    { timeout, polling: 50 }, n, view);
}

async function jobsNow() { return JSON.parse((await raw('GET', '/api/jobs', auth)).body).jobs; }
async function waitFor(page, fn, what, timeout = 60000, ...args) {
  try { return await page.waitForFunction(fn, { timeout, polling: 50 }, ...args); } catch (e) { throw new Error('waiting for ' + what + ': ' + e.message); }
}

// Fills and submits the job form for a tune of resnet_s on Fashion-MNIST.
async function startTune(page, name, maxTrials) {
  await gotoView(page, '#/new');
  await page.select('#f-command', 'tune');
  const models = await page.$$eval('#f-model option', os => os.map(o => o.value));
  await page.select('#f-model', models.find(v => v.endsWith(':resnet_s.onnx')));
  await page.type('#f-name', name);
  for (const k of ['calib', 'eval']) {
    await page.select(`#f-${k}-kind`, 'FashionMNIST');
    await page.$eval(`#f-${k}-options`, (el, v) => { el.value = v; }, k === 'calib' ? 'train=true' : '');
  }
  await page.type('#f-transform', 'Rescale,Normalize=0.2860/0.3530');
  await page.$eval('#f-tolerance', el => { el.value = '0'; });
  await page.select('#f-strategy', 'basic');
  await page.type('#f-max_trials', String(maxTrials));
  await page.type('#f-limit', '500');
  await page.type('#f-sampling_size', '50');
  await page.screenshot({ path: path.join(shots, 'new.png'), fullPage: true });
  await Promise.all([page.waitForFunction(() => location.hash.startsWith('#/run'), { timeout: 15000 }), page.click('#submit')]);
}

async function main() {
  fs.mkdirSync(shots, { recursive: true });
  const session = JSON.parse((await raw('GET', '/api/session', auth)).body);
  await rawChecks(session.csrf);

  const browser = await puppeteer.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: [...(process.getuid && process.getuid() === 0 ? ['--no-sandbox'] : []), '--disable-gpu', '--no-first-run',
      '--disable-dev-shm-usage', '--window-size=1280,900'],
  });
  const page = await browser.newPage();
  await page.setViewport({ width: 1280, height: 900 });
  const consoleErrors = [];
  page.on('console', m => { if (m.type() === 'error' && !/status of 400/.test(m.text())) consoleErrors.push(m.text()); });
  page.on('pageerror', e => consoleErrors.push(String(e)));
  const shot = name => page.screenshot({ path: path.join(shots, name + '.png'), fullPage: true });
  try {
    await check('browser-open-url', async () => {
      await page.goto(url, { waitUntil: 'networkidle0' });
      return !page.url().includes('token=') || 'the token stayed in the address bar: ' + page.url();
    });
    await check('runs-list', async () => {
      await page.waitForSelector('#runs tr[data-ws="t1"]', { timeout: 10000 });
      const text = await page.$eval('#runs', t => t.innerText);
      await shot('runs');
      return text.includes('mlp.onnx') && /best 0\.\d+/.test(text) || 'row: ' + text;
    });
    await check('run-page-cli-tune', async () => {
      await page.click('#runs tr[data-ws="t1"] a');
      await page.waitForSelector('#trials tr[data-trial="1"]', { timeout: 10000 });
      await waitFor(page, () => document.body.dataset.ended === '1' && document.querySelector('#fallbacks'), 'the report of t1');
      const sens = await page.$$eval('#sensitivity rect', rs => rs.length);
      await shot('run');
      return sens === 3 || `sensitivity bars: ${sens}, want 3 (the MLP's Gemms)`;
    });
    await check('download-recipe', async () => {
      const href = await page.$eval('#dl-recipe', a => a.getAttribute('href'));
      const r = await raw('GET', href, auth);
      return r.status === 200 && /attachment/.test(r.headers['content-disposition']) && JSON.parse(r.body) && true || `status ${r.status}`;
    });

    // a CLI tune held at its last trial (tests/ui.sh): while it runs, the live view shows each
    // op's sensitivity (streamed from sensitivity.jsonl), trials 1-18 and what fell back in them
    await check('live-sensitivity-while-running', async () => {
      const ws = path.join(wsRoot, 'gated');
      for (let i = 0; i < 600 && !fs.existsSync(path.join(ws, 'history.jsonl')); i++) await new Promise(r => setTimeout(r, 100));
      await gotoView(page, '#/run?' + new URLSearchParams({ root: 0, path: 'gated' }));
      await waitFor(page, () => document.querySelectorAll('#sensitivity-live g[data-op]').length === 3 &&
        document.querySelectorAll('#trials tbody tr').length === 18, 'three sensitivities and trials 1-18', 120000);
      const s = await page.evaluate(() => ({
        state: document.querySelector('#state').innerText, ended: document.body.dataset.ended, report: !!document.querySelector('#fallbacks'),
        sens: [...document.querySelectorAll('#sensitivity-live g[data-op]')].map(g => [g.dataset.op, g.lastChild.textContent]),
        fell: [...document.querySelectorAll('#fallbacks-live tr[data-op]')].map(r => [r.dataset.op, r.children[1].innerText, r.children[3].innerText]) }));
      await shot('run-sensitivity-live');
      const file = fs.readFileSync(path.join(ws, 'sensitivity.jsonl'), 'utf8').trim().split('\n').slice(1).map(JSON.parse);
      const hist = fs.readFileSync(path.join(ws, 'history.jsonl'), 'utf8').trim().split('\n').slice(1).map(JSON.parse);
      fs.writeFileSync(release, '');
      if (s.state !== 'running' || s.ended === '1' || s.report) return 'not while running: ' + JSON.stringify(s);
      // the page shows what the tuner wrote, to the chart's one decimal
      const want = file.map(o => [o.op, String(Number(o.sensitivity_db.toFixed(1)))]);
      if (JSON.stringify(s.sens) !== JSON.stringify(want)) return `sensitivities ${JSON.stringify(s.sens)}, file ${JSON.stringify(want)}`;
      // the most accurate trial so far is the last (the scorer's score rises): its fallbacks
      const last = hist[hist.length - 1];
      const fell = Object.entries(last.precision).filter(([, p]) => p !== 'int8').map(([op]) => op).sort();
      if (!fell.length) return `trial ${last.trial} fell back nothing: ` + JSON.stringify(last);
      return JSON.stringify(s.fell.map(f => f[0]).sort()) === JSON.stringify(fell) && s.fell.every(f => f[1] !== 'int8' && f[2]) ||
        `fallbacks shown ${JSON.stringify(s.fell)}, trial ${last.trial} has ${fell}`;
    });
    await check('live-sensitivity-then-report', async () => {
      await waitFor(page, () => document.body.dataset.ended === '1' && document.querySelector('#fallbacks'), 'the held tune\'s report', 120000);
      const live = await page.$$eval('#sensitivity-live', e => e.length);
      const bars = await page.$$eval('#sensitivity g[data-op]', gs => gs.map(g => g.dataset.op));
      const rep = JSON.parse(fs.readFileSync(path.join(wsRoot, 'gated', 'report.json'), 'utf8'));
      const withSens = rep.ops.filter(o => typeof o.sensitivity_db === 'number').map(o => o.name);
      return live === 0 && bars.length === 3 && withSens.length === 3 || `live chart ${live}, report bars ${bars}, report.json ${withSens}`;
    });

    // a tune started from the form, watched live
    let live = null;
    await check('form-tune-live', async () => {
      await startTune(page, 'formtune', 6);
      await page.evaluate(() => { window.__noReload = 1; });
      const seen = [];
      for (let i = 0; i < 1200; i++) {
        const s = await page.evaluate(() => ({ rows: document.querySelectorAll('#trials tbody tr').length,
          pts: document.querySelectorAll('#scatter-svg circle.pt').length,
          state: (document.querySelector('#state') || {}).innerText, ended: document.body.dataset.ended, noReload: window.__noReload }));
        seen.push(s);
        if (s.rows > 0 && s.rows < 6 && s.state === 'running' && !live) { live = s; await shot('run-live'); }
        if (s.ended === '1') break;
        await new Promise(r => setTimeout(r, 50));
      }
      const last = seen[seen.length - 1];
      if (!last.noReload) return 'the page reloaded';
      if (last.ended !== '1') return 'the tune did not end: ' + JSON.stringify(last);
      if (!live) return 'never saw a partial trial list while running: ' + JSON.stringify(seen.filter((s, i) => i % 20 === 0).slice(0, 20));
      return last.rows === 6 && last.pts === 6 || 'final ' + JSON.stringify(last);
    });
    await check('form-tune-report', async () => {
      await waitFor(page, () => document.querySelector('#fallbacks'), 'the report section', 15000);
      const progress = await page.$eval('#progress-text', e => e.innerText);
      await shot('run-done');
      const files = fs.readdirSync(path.join(wsRoot, 'formtune'));
      const want = ['history.jsonl', 'best_recipe.json', 'best_model.onnx', 'report.md', 'report.json', 'ui_run.json'];
      const missing = want.filter(f => !files.includes(f));
      return !missing.length && /6 trials of at most 6/.test(progress) || `missing ${missing} / progress ${progress}`;
    });
    await check('form-job-command-line', async () => {
      const j = (await jobsNow()).find(x => x.path === 'formtune');
      fs.writeFileSync(path.join(shots, 'formtune.cmd'), j.command_line + '\n');
      return j.state === 'done' && j.command_line.startsWith('lowp tune ') && j.command_line.includes('--strategy basic') || JSON.stringify(j);
    });

    await check('runs-list-updates', async () => {
      await gotoView(page, '#/');
      await page.waitForSelector('#runs tr[data-ws="t1"]', { timeout: 10000 });
      // a tune appears in a workspace folder while the list is open (the same history file a CLI tune writes)
      fs.mkdirSync(path.join(wsRoot, 'appeared'));
      fs.copyFileSync(path.join(wsRoot, 't1', 'history.jsonl'), path.join(wsRoot, 'appeared', 'history.jsonl'));
      await page.waitForSelector('#runs tr[data-ws="appeared"]', { timeout: 10000 });
      return true;
    });
    await check('form-refuses-outside-path', async () => {
      const before = (await jobsNow()).length;
      await gotoView(page, '#/new');
      await page.select('#f-calib-kind', 'FashionMNIST');
      await page.type('#f-calib-path', '../../etc');
      await page.type('#f-name', 'evil');
      await page.click('#submit');
      await waitFor(page, () => document.querySelector('#form-error').innerText.length > 0, 'the form error');
      const msg = await page.$eval('#form-error', e => e.innerText);
      return (await jobsNow()).length === before && /not allowed|outside/.test(msg) || 'message: ' + msg;
    });

    // quantize and bench from the form; a tune from an uploaded YAML; a YAML naming /etc refused
    const submitForm = async (fill) => {
      await gotoView(page, '#/new');
      const models = await page.$$eval('#f-model option', os => os.map(o => o.value));
      await page.select('#f-model', models.find(v => v.endsWith(':mlp.onnx')));
      await fill();
      await page.click('#submit');
      await waitFor(page, () => location.hash.startsWith('#/run') || document.querySelector('#form-error').innerText, 'the submit', 15000);
      return page.evaluate(() => document.querySelector('#form-error') ? document.querySelector('#form-error').innerText : '');
    };
    await check('form-quantize', async () => {
      const err = await submitForm(async () => {
        await page.select('#f-command', 'quantize');
        await page.type('#f-name', 'q1');
        await page.select('#f-calib-kind', 'FashionMNIST');
        await page.$eval('#f-calib-options', el => { el.value = 'train=true'; });
        await page.select('#f-eval-kind', '');
        await page.type('#f-transform', 'Rescale,Normalize=0.2860/0.3530');
        await page.type('#f-sampling_size', '50');
      });
      if (err) return 'form error: ' + err;
      await waitFor(page, () => /int8/.test((document.querySelector('#result-line') || {}).innerText || ''), 'the quantize result');
      await shot('run-quantize');
      return fs.existsSync(path.join(wsRoot, 'q1', 'model.int8.onnx')) || 'no model.int8.onnx';
    });
    await check('form-bench', async () => {
      const err = await submitForm(async () => {
        await page.select('#f-command', 'bench');
        await page.type('#f-name', 'b1');
        await page.select('#f-calib-kind', '');
        await page.select('#f-eval-kind', '');
      });
      if (err) return 'form error: ' + err;
      await waitFor(page, () => /p50 [\d.]+ ms/.test((document.querySelector('#result-line') || {}).innerText || ''), 'the bench result');
      return true;
    });
    const yaml = fs.readFileSync(path.join(__dirname, '..', '..', 'examples', 'tune_mlp.yaml'), 'utf8');
    await check('form-yaml-outside-refused', async () => {
      const before = (await jobsNow()).length;
      const err = await submitForm(async () => {
        await page.type('#f-name', 'y-evil');
        await page.select('#f-calib-kind', '');
        await page.select('#f-eval-kind', '');
        await page.$eval('#f-yaml', (el, v) => { el.value = v; }, yaml.replace(/root: \/usr\/share\/datasets\/fashion-mnist/g, 'root: /etc'));
      });
      return (await jobsNow()).length === before && /not inside/.test(err) || 'error: ' + err;
    });
    await check('form-yaml-tune', async () => {
      const err = await submitForm(async () => {
        await page.type('#f-name', 'y1');
        await page.select('#f-calib-kind', '');
        await page.select('#f-eval-kind', '');
        await page.type('#f-limit', '300');
        await page.$eval('#f-yaml', (el, v) => { el.value = v; }, yaml);
      });
      if (err) return 'form error: ' + err;
      await waitFor(page, () => document.body.dataset.ended === '1' && /done/.test(document.querySelector('#state').innerText), 'the YAML tune');
      const j = (await jobsNow()).find(x => x.path === 'y1');
      return j.command_line.includes('/y1/config.yaml') && fs.existsSync(path.join(wsRoot, 'y1', 'config.yaml')) || j.command_line;
    });

    // cancel a running tune, then resume it from its page
    await check('cancel-and-resume', async () => {
      await startTune(page, 'cancelled', 8);
      await page.waitForSelector('#trials tbody tr', { timeout: 60000 });
      await page.waitForSelector('#cancel', { timeout: 10000 });
      await page.click('#cancel');
      await waitFor(page, () => /cancelled/.test((document.querySelector('#state') || {}).innerText || ''), 'the cancelled state');
      const kept = fs.readFileSync(path.join(wsRoot, 'cancelled', 'history.jsonl'), 'utf8').trim().split('\n').length - 1;
      await page.waitForSelector('#resume', { timeout: 10000 });
      await shot('run-cancelled');
      await page.click('#resume');
      await waitFor(page, () => document.body.dataset.ended === '1' && /done/.test(document.querySelector('#state').innerText), 'the resumed tune', 90000);
      const lines = fs.readFileSync(path.join(wsRoot, 'cancelled', 'history.jsonl'), 'utf8').trim().split('\n').slice(1).map(JSON.parse);
      const trials = lines.map(t => t.trial);
      const jobs = (await jobsNow()).filter(x => x.path === 'cancelled');
      const resumed = jobs.find(x => x.command_line.includes('--resume'));
      if (!resumed) return 'no --resume job: ' + JSON.stringify(jobs);
      if (new Set(trials).size !== trials.length) return 'a trial ran twice: ' + trials;
      return trials.length === 8 && kept >= 1 && kept < 8 || `kept ${kept}, final trials ${trials}`;
    });

    await check('graph-page', async () => {
      await gotoView(page, '#/graph?' + new URLSearchParams({ root: 0, path: 'formtune' }));
      const n = await page.$$eval('#graph-svg g.node', gs => gs.length);
      const int8 = await page.$$eval('#graph-svg g.node[data-precision="int8"]', gs => gs.length);
      const edges = await page.$$eval('#graph-svg path', ps => ps.length);
      await shot('graph');
      return n >= 20 && int8 >= 1 && edges >= n - 1 || `nodes ${n}, int8 ${int8}, edges ${edges}`;
    });

    await check('graph-quantize-job', async () => {
      await gotoView(page, '#/graph?' + new URLSearchParams({ root: 0, path: 'q1' }));
      const int8 = await page.$$eval('#graph-svg g.node[data-precision="int8"]', gs => gs.map(g => g.dataset.op));
      return int8.filter(op => op === 'Gemm').length === 3 || 'int8 nodes: ' + int8;
    });
    await check('layers-page', async () => {
      await gotoView(page, '#/layers?' + new URLSearchParams({ root: 0, path: 'formtune' }));
      await page.waitForSelector('#compare-form', { timeout: 10000 });
      await page.click('#compare-start');
      await page.waitForSelector('#layers tr[data-tensor]', { timeout: 60000 });
      const rows = await page.$$eval('#layers tr[data-tensor]', rs => rs.length);
      const sqnr = await page.$$eval('#layers tr[data-tensor] td:nth-child(5)', tds => tds.map(t => parseFloat(t.innerText)));
      await page.click('#layers tr[data-tensor]');
      await page.waitForSelector('#histogram h2', { timeout: 5000 });
      const lines = await page.$$eval('#histogram-svg polyline', ps => ps.map(p => p.getAttribute('class')));
      await shot('layers');
      if (lines.length !== 2) return 'histogram lines: ' + lines;
      const sorted = sqnr.every((v, i) => i === 0 || isNaN(v) || isNaN(sqnr[i - 1]) || v >= sqnr[i - 1]);
      return rows >= 10 && sorted || `rows ${rows}, sqnr ${sqnr.slice(0, 5)}`;
    });

    await check('jobs-page', async () => {
      await gotoView(page, '#/jobs');
      await page.waitForSelector('#jobs tr[data-job]', { timeout: 10000 });
      const n = await page.$$eval('#jobs tr[data-job]', rs => rs.length);
      await shot('jobs');
      return n === (await jobsNow()).length || `rows ${n}`;
    });

    await check('cross-site-post-from-browser', async () => {
      const before = (await jobsNow()).length;
      const srv = await attackerServer(origin);
      const evil = await browser.newPage();
      const codes = [];
      evil.on('response', r => { if (r.url().includes('/api/jobs')) codes.push(r.status()); });
      await evil.goto(`http://127.0.0.1:${srv.address().port}/`, { waitUntil: 'networkidle0' });
      await evil.waitForFunction(() => document.title === 'sent', { timeout: 10000 });
      await new Promise(r => setTimeout(r, 300));
      await evil.close();
      srv.close();
      const after = (await jobsNow()).length;
      return after === before && codes.length >= 1 && codes.every(c => c === 403) || `jobs ${before} -> ${after}, responses ${codes}`;
    });

    if (url6) await check('ipv6-loopback-browser', async () => {
      const p6 = await browser.newPage();
      await p6.goto(url6, { waitUntil: 'networkidle0' });
      await p6.waitForSelector('#runs tr[data-ws="t1"]', { timeout: 10000 });
      const u = p6.url();
      await p6.screenshot({ path: path.join(shots, 'runs-ipv6.png'), fullPage: true });
      // an action from the page passes the Origin and CSRF gates on [::1] (an unknown job: 404, not 403)
      const status = await p6.evaluate(async () => {
        const s = await (await fetch('/api/session')).json();
        const r = await fetch('/api/jobs/cancel', { method: 'POST', headers: { 'Content-Type': 'application/json', 'X-Lowp-Csrf': s.csrf },
          body: JSON.stringify({ id: 999999 }) });
        return r.status;
      });
      await p6.close();
      return u.startsWith('http://[::1]:') && !u.includes('token=') && status === 404 || `url ${u}, POST status ${status}`;
    });

    await check('no-console-errors', async () => consoleErrors.length === 0 || consoleErrors.join(' | '));
  } finally {
    await browser.close();
  }
  console.log(`ui_test.js: ${failures} failed`);
}

main().catch(e => { fail('driver', e.stack || String(e)); process.exit(1); });
