// ui_test.js URL SHOTS_DIR WORKSPACE_ROOT — drives `lowp ui` (started by tests/ui.sh) in
// headless Debian chromium through puppeteer-core, and sends hostile raw HTTP requests.
// Prints "ok NAME" / "FAIL NAME: why" per check; tests/ui.sh counts them.
'use strict';
const http = require('http');
const fs = require('fs');
const path = require('path');
const puppeteer = require('puppeteer-core');

const [url, shots, wsRoot] = process.argv.slice(2);
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
  page.on('console', m => { if (m.type() === 'error') consoleErrors.push(m.text()); });
  page.on('pageerror', e => consoleErrors.push(String(e)));
  try {
    await check('browser-open-url', async () => {
      await page.goto(url, { waitUntil: 'networkidle0' });
      return !page.url().includes('token=') || 'the token stayed in the address bar: ' + page.url();
    });
    await check('runs-list', async () => {
      await page.waitForSelector('#runs tr[data-ws="t1"]', { timeout: 10000 });
      const text = await page.$eval('#runs', t => t.innerText);
      await page.screenshot({ path: path.join(shots, 'runs.png'), fullPage: true });
      return text.includes('mlp.onnx') && /best 0\.\d+/.test(text) || 'row: ' + text;
    });
    await check('run-page', async () => {
      await page.click('#runs tr[data-ws="t1"] a');
      await page.waitForSelector('#trials tr[data-trial="1"]', { timeout: 10000 });
      await page.screenshot({ path: path.join(shots, 'run.png'), fullPage: true });
      return true;
    });
    await check('no-console-errors', async () => consoleErrors.length === 0 || consoleErrors.join(' | '));
  } finally {
    await browser.close();
  }
  console.log(`ui_test.js: ${failures} failed`);
}

main().catch(e => { fail('driver', e.stack || String(e)); process.exit(1); });
