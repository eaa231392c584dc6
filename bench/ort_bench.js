#!/usr/bin/env node
// ort_bench.js — times an ONNX model in ONNX Runtime (onnxruntime-node, CPU EP) and prints
// the same JSON fields as `lowp bench --json`. Used by bench/compare; runs on its own too:
//   node bench/ort_bench.js MODEL.onnx [--batch N] [--shape NAME=D0,D1,...] [--input NAME=FILE.npy]
//        [--threads N] [--warmup N] [--iters N] [--check IN.npy OUT.npy]
// --input feeds FILE (float32, int64, bool, float16) to input NAME instead of random data, as
// `lowp bench -i NAME=FILE` (models with state inputs or a sample-rate scalar: Silero VAD).
// --check runs the model once on IN.npy and prints the max abs difference to OUT.npy instead.
'use strict';
const path = require('path');
const fs = require('fs');
const npy = require('./npy');

function usage(msg) {
  process.stderr.write(`ort_bench: ${msg}\nusage: node bench/ort_bench.js MODEL.onnx [--batch N] ` +
    '[--shape NAME=DIMS] [--input NAME=FILE.npy] [--threads N] [--warmup N] [--iters N] [--check IN.npy OUT.npy]\n');
  process.exit(1);
}

function parseArgs(argv) {
  const o = { batch: null, shapes: {}, files: {}, threads: 1, warmup: 5, iters: 50, seed: 1978, check: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => (i + 1 < argv.length ? argv[++i] : usage(`${a} needs a value`));
    const int = (lo) => {
      const v = val();
      if (!/^\d+$/.test(v) || Number(v) < lo) usage(`${a} wants a number >= ${lo}, not '${v}'`);
      return Number(v);
    };
    if (a === '--batch') o.batch = int(1);
    else if (a === '--threads') o.threads = int(1);
    else if (a === '--warmup') o.warmup = int(0);
    else if (a === '--iters') o.iters = int(1);
    else if (a === '--seed') o.seed = int(0);
    else if (a === '--shape') {
      const s = val(), eq = s.lastIndexOf('=');
      if (eq < 0) usage(`--shape ${s}: expected NAME=D0,D1,...`);
      o.shapes[s.slice(0, eq)] = s.slice(eq + 1) === '' ? [] : s.slice(eq + 1).split(',').map(Number);
    } else if (a === '--input') {
      const s = val(), eq = s.indexOf('=');
      if (eq <= 0) usage(`--input ${s}: expected NAME=FILE.npy`);
      o.files[s.slice(0, eq)] = s.slice(eq + 1);
    } else if (a === '--check') o.check = [val(), val()];
    else if (a.startsWith('-')) usage(`unknown option '${a}'`);
    else if (o.model) usage(`unexpected argument '${a}'`);
    else o.model = a;
  }
  if (!o.model) usage('missing MODEL');
  return o;
}

// splitmix64, as lowp's lowp_random_next: the same stream shape, not the same values.
function* splitmix(seed) {
  let s = BigInt.asUintN(64, BigInt(seed));
  for (;;) {
    s = BigInt.asUintN(64, s + 0x9e3779b97f4a7c15n);
    let z = s;
    z = BigInt.asUintN(64, (z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n);
    z = BigInt.asUintN(64, (z ^ (z >> 27n)) * 0x94d049bb133111ebn);
    yield z ^ (z >> 31n);
  }
}

// Random data by type, as lowp bench: floats in [-1, 1), integers in [0, 100), bool 0/1.
function randomTensor(ort, type, dims, seed) {
  const n = dims.reduce((a, b) => a * b, 1);
  if (type === 'float32' || type === 'float64') {
    const a = type === 'float32' ? new Float32Array(n) : new Float64Array(n);
    let x = (seed * 2654435761) >>> 0 || 1;   // xorshift32: fast enough for big inputs
    for (let i = 0; i < n; i++) {
      x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
      a[i] = (x / 4294967296) * 2 - 1;
    }
    return new ort.Tensor(type, a, dims);
  }
  const g = splitmix(seed);
  const ctor = { int64: BigInt64Array, uint64: BigUint64Array, int32: Int32Array, uint32: Uint32Array,
                 int16: Int16Array, uint16: Uint16Array, int8: Int8Array, uint8: Uint8Array,
                 bool: Uint8Array }[type];
  if (!ctor) throw new Error(`cannot generate data of type ${type}`);
  const a = new ctor(n);
  for (let i = 0; i < n; i++) {
    const r = g.next().value;
    const v = type === 'bool' ? r & 1n : r % 100n;
    a[i] = ctor === BigInt64Array || ctor === BigUint64Array ? v : Number(v);
  }
  return new ort.Tensor(type, a, dims);
}

function stats(v) {
  const s = [...v].sort((a, b) => a - b), n = s.length;
  const pct = (p) => {
    const pos = (p / 100) * (n - 1), lo = Math.floor(pos);
    return lo >= n - 1 ? s[n - 1] : s[lo] + (s[lo + 1] - s[lo]) * (pos - lo);
  };
  const mean = s.reduce((a, b) => a + b, 0) / n;
  const sd = n > 1 ? Math.sqrt(s.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1)) : 0;
  return { p50: pct(50), p90: pct(90), p99: pct(99), mean, min: s[0], max: s[n - 1], stdev: sd };
}

const maxRss = () => process.resourceUsage().maxRSS * 1024;

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const ort = require(path.join(__dirname, 'node_modules', 'onnxruntime-node'));
  const baselineRss = maxRss();   // node + the ORT library, before any model
  if (!fs.existsSync(o.model)) {
    process.stderr.write(`ort_bench: ${o.model}: no such file\n`);
    process.exit(2);
  }
  const t0 = process.hrtime.bigint();
  const session = await ort.InferenceSession.create(o.model, {
    executionProviders: ['cpu'], intraOpNumThreads: o.threads, interOpNumThreads: 1,
    graphOptimizationLevel: 'all', executionMode: 'sequential',
  });
  const loadMs = Number(process.hrtime.bigint() - t0) / 1e6;

  if (o.check) {
    const x = npy.read(o.check[0]), want = npy.read(o.check[1]);
    const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', x.data, x.shape) };
    const out = (await session.run(feeds))[session.outputNames[0]];
    let maxDiff = 0;
    for (let i = 0; i < want.data.length; i++) maxDiff = Math.max(maxDiff, Math.abs(out.data[i] - want.data[i]));
    process.stdout.write(JSON.stringify({ runtime: 'onnxruntime', max_abs_diff: maxDiff }) + '\n');
    return;
  }

  const meta = session.inputMetadata;
  for (const name of Object.keys(o.files))
    if (!session.inputNames.includes(name)) usage(`--input ${name}: the model has no input '${name}' (it has ${session.inputNames.join(', ')})`);
  const feeds = {}, inputs = [];
  let batchUsed = false;
  session.inputNames.forEach((name, k) => {
    if (o.files[name]) {
      feeds[name] = npy.readTensor(ort, o.files[name]);
      inputs.push({ name, dtype: feeds[name].type, shape: feeds[name].dims, source: o.files[name] });
      return;
    }
    const m = meta ? meta.find((x) => x.name === name) || meta[k] : null;
    let dims = o.shapes[name];
    if (!dims) {
      if (!m || !m.shape) usage(`input '${name}' has no declared shape; give it with --shape`);
      dims = m.shape.map((d, i) => {
        if (typeof d === 'number' && d >= 0) return d;
        if (i === 0) { batchUsed = true; return o.batch || 1; }
        return usage(`input '${name}' has the symbolic dim '${d}'; give its shape with --shape`);
      });
    }
    const type = m && m.type ? m.type : 'float32';
    feeds[name] = randomTensor(ort, type, dims, o.seed + k + 1);
    inputs.push({ name, dtype: type, shape: dims, source: 'random' });
  });
  const batch = batchUsed ? o.batch || 1 : inputs.length && inputs[0].shape.length ? inputs[0].shape[0] : 1;

  let firstMs = 0;
  const lat = [];
  let wall = 0;
  for (let it = 0; it < o.warmup + o.iters; it++) {
    if (it === o.warmup) wall = process.hrtime.bigint();
    const a = process.hrtime.bigint();
    await session.run(feeds);
    const ms = Number(process.hrtime.bigint() - a) / 1e6;
    if (it === 0) firstMs = ms;
    if (it >= o.warmup) lat.push(ms);
  }
  const wallS = Number(process.hrtime.bigint() - wall) / 1e9;
  const peak = maxRss();
  const s = stats(lat);
  process.stdout.write(JSON.stringify({
    runtime: 'onnxruntime', version: ort.env.versions ? ort.env.versions.node : null,
    model: o.model, batch, threads: o.threads, warmup: o.warmup, iterations: o.iters, inputs,
    latency_ms: s, throughput: (batch * o.iters) / wallS, load_ms: loadMs, first_run_ms: firstMs,
    peak_rss_bytes: peak, baseline_rss_bytes: baselineRss,
  }, null, 2) + '\n');
}

main().catch((e) => {
  process.stderr.write(`ort_bench: ${e && e.message ? e.message : e}\n`);
  process.exit(2);
});
