// check.js — holds lowp's TensorBoard event files to the format and to the values they should
// carry, printing "ok NAME" / "FAIL NAME: why" lines (tests/tensorboard.sh counts them).
//
//   node tests/tb/check.js compare DIR HIST.json FP32.onnx QUANT.onnx [OUTPUT REF.npy]
//       DIR from `lowp compare --tensorboard DIR --histograms HIST.json`: every record's CRCs,
//       every histogram equal to the JSON lowp printed, the weights' histograms recomputed here
//       from the ONNX files (FP32 initializers; int8 weights dequantized), and OUTPUT's FP32
//       histogram recomputed from REF.npy (the framework's own outputs on the same inputs).
//   node tests/tb/check.js tune DIR HISTORY.jsonl SUMMARY.json FP32.onnx BEST.onnx
//       DIR = WORKSPACE/tensorboard of a tune (SUMMARY: its -j output): scalars per trial equal
//       to the history's, one histogram per activation per trial, the best trial's weights
//       recomputed from BEST.onnx.
'use strict';
const fs = require('fs');
const path = require('path');
const protobuf = require('protobufjs');
const { readEventFile, eventFiles, defaultLimits, histogram } = require('./events.js');

let passed = 0, failed = 0;
function ok(name) { console.log(`ok ${name}`); passed++; }
function fail(name, why) { console.log(`FAIL ${name}: ${why}`); failed++; }
function check(name, cond, why) { if (cond) ok(name); else fail(name, typeof why === 'function' ? why() : why); }

const LIMITS = defaultLimits();
const LIMIT_SET = new Set(LIMITS);

// ---- ONNX ----
const onnx = protobuf.loadSync('/usr/include/onnx/onnx.proto');
const ModelProto = onnx.lookupType('onnx.ModelProto');
function loadModel(file) { return ModelProto.decode(fs.readFileSync(file)); }

// The values of a TensorProto as numbers (float32, int8, uint8, int32).
function tensorValues(t) {
  const raw = t.rawData && t.rawData.length ? Buffer.from(t.rawData) : null;
  const n = t.dims.reduce((a, d) => a * Number(d), 1);
  const out = new Array(n);
  switch (t.dataType) {
    case 1: for (let i = 0; i < n; i++) out[i] = raw ? raw.readFloatLE(4 * i) : t.floatData[i]; break;
    case 3: for (let i = 0; i < n; i++) out[i] = raw ? raw.readInt8(i) : t.int32Data[i]; break;
    case 2: for (let i = 0; i < n; i++) out[i] = raw ? raw.readUInt8(i) : t.int32Data[i]; break;
    case 6: for (let i = 0; i < n; i++) out[i] = raw ? raw.readInt32LE(4 * i) : t.int32Data[i]; break;
    default: throw new Error(`${t.name}: data type ${t.dataType} not handled here`);
  }
  return out;
}

function initializers(m) {
  const map = new Map();
  for (const t of m.graph.initializer) map.set(t.name, t);
  return map;
}

// DequantizeLinear of constants: (x - zero_point) * scale in float32, per tensor or along `axis`.
function dequantize(node, inits) {
  const x = inits.get(node.input[0]), s = inits.get(node.input[1]);
  const z = node.input.length > 2 && node.input[2] ? inits.get(node.input[2]) : null;
  const xv = tensorValues(x), sv = tensorValues(s), zv = z ? tensorValues(z) : [0];
  const dims = x.dims.map(Number);
  let axis = 1;
  for (const a of node.attribute) if (a.name === 'axis') axis = Number(a.i);
  if (axis < 0) axis += dims.length;
  const inner = dims.slice(axis + 1).reduce((a, d) => a * d, 1);
  return xv.map((q, i) => {
    const c = sv.length === 1 ? 0 : Math.floor(i / inner) % dims[axis];
    return Math.fround((q - zv[zv.length === 1 ? 0 : c]) * sv[c]);
  });
}

// tensor name -> values of each weight as the quantized model computes it: for every node of
// the quantized model reading a DequantizeLinear of an int8 initializer at input k, the FP32
// model's node of the same name names the weight at its input k.
function quantizedWeights(fp32, quant) {
  const inits = initializers(quant), producer = new Map(), fnodes = new Map(), out = new Map();
  for (const n of quant.graph.node) for (const o of n.output) producer.set(o, n);
  for (const n of fp32.graph.node) fnodes.set(n.name, n);
  for (const n of quant.graph.node) {
    n.input.forEach((name, k) => {
      const p = producer.get(name);
      if (!p || p.opType !== 'DequantizeLinear') return;
      const x = inits.get(p.input[0]);
      const f = fnodes.get(n.name);
      if (!x || x.dataType !== 3 || !f || !f.input[k]) return;
      out.set(f.input[k], dequantize(p, inits));
    });
  }
  return out;
}

function readNpyFloat32(file) {
  const b = fs.readFileSync(file);
  const hlen = b[6] === 1 ? b.readUInt16LE(8) : b.readUInt32LE(8);
  const start = (b[6] === 1 ? 10 : 12) + hlen;
  const header = b.toString('latin1', b[6] === 1 ? 10 : 12, start);
  if (!header.includes("'<f4'")) throw new Error(`${file}: not float32`);
  const v = [];
  for (let o = start; o + 4 <= b.length; o += 4) v.push(b.readFloatLE(o));
  return v;
}

// ---- event files ----

// A run folder's files: names, records, CRCs, the file_version record first. Returns the
// events after the first of every file, or null.
function readRun(dir, label, expectFiles) {
  if (!fs.existsSync(dir)) { fail(`${label} run exists`, `${dir} missing`); return null; }
  const names = fs.readdirSync(dir);
  const files = eventFiles(dir);
  check(`${label}: only event files (no temporaries left)`, names.length === files.length, () => names.join(', '));
  if (expectFiles !== undefined)
    check(`${label}: ${expectFiles} event file(s)`, files.length === expectFiles, `${files.length}`);
  const re = /^events\.out\.tfevents\.\d{10}\.[A-Za-z0-9._-]+$/;
  check(`${label}: file names events.out.tfevents.<time>.<host>...`, files.every((f) => re.test(path.basename(f))),
    () => files.map((f) => path.basename(f)).join(', '));
  const all = [];
  let records = 0, errors = [], versions = 0;
  const now = Date.now() / 1000;
  for (const f of files) {
    const r = readEventFile(f);
    records += r.events.length;
    errors = errors.concat(r.errors.map((e) => `${path.basename(f)}: ${e}`));
    if (r.events.length && r.events[0].fileVersion === 'brain.Event:2' && Math.abs(r.events[0].wallTime - now) < 86400)
      versions++;
    for (const e of r.events.slice(1)) all.push(e);
  }
  check(`${label}: ${records} records, every length and data CRC matches and decodes`, errors.length === 0 && records > 0,
    () => errors.slice(0, 5).join('; ') || 'no records');
  check(`${label}: every file opens with file_version brain.Event:2 and a current wall_time`, versions === files.length,
    `${versions} of ${files.length}`);
  const bad = all.filter((e) => !e.summary || e.summary.value.length !== 1 || e.fileVersion);
  check(`${label}: every other record is an Event with one Summary.Value`, bad.length === 0, `${bad.length} are not`);
  return all;
}

const eq = (a, b) => a === b || (Number.isNaN(a) && Number.isNaN(b));
// The first difference between a decoded HistogramProto and the JSON histogram, or ''.
function histoDiff(h, j) {
  for (const k of ['min', 'max', 'num', 'sum', 'sum_squares']) {
    const hv = h[k === 'sum_squares' ? 'sumSquares' : k];
    if (!eq(hv, j[k])) return `${k} ${hv} != ${j[k]}`;
  }
  if (h.bucketLimit.length !== j.bucket_limit.length) return `${h.bucketLimit.length} buckets != ${j.bucket_limit.length}`;
  for (let i = 0; i < h.bucketLimit.length; i++) {
    if (h.bucketLimit[i] !== j.bucket_limit[i]) return `bucket_limit[${i}] ${h.bucketLimit[i]} != ${j.bucket_limit[i]}`;
    if (h.bucket[i] !== j.bucket[i]) return `bucket[${i}] ${h.bucket[i]} != ${j.bucket[i]}`;
  }
  return '';
}

// What TensorBoard needs of a histogram: counts that add up to num, edges from the default
// set, ascending, enclosing [min, max].
function histoShape(h) {
  const total = h.bucket.reduce((a, c) => a + c, 0);
  if (total !== h.num) return `buckets add up to ${total}, num ${h.num}`;
  if (!h.bucketLimit.length || h.bucket.length !== h.bucketLimit.length) return 'bucket arrays';
  for (let i = 0; i < h.bucketLimit.length; i++) {
    if (!LIMIT_SET.has(h.bucketLimit[i])) return `bucket_limit[${i}] ${h.bucketLimit[i]} is not a default edge`;
    if (i && !(h.bucketLimit[i] > h.bucketLimit[i - 1])) return 'bucket_limit not ascending';
  }
  const first = LIMITS.indexOf(h.bucketLimit[0]);
  if (!(h.min < h.bucketLimit[0] && (first === 0 || h.min >= LIMITS[first - 1]))) return `min ${h.min} not in the first bucket`;
  const last = h.bucketLimit[h.bucketLimit.length - 1];
  if (!(h.max < last || last === Number.MAX_VALUE)) return `max ${h.max} beyond the last bucket`;
  if (h.bucket[0] <= 0 || h.bucket[h.bucket.length - 1] <= 0) return 'empty first or last bucket';
  return '';
}

// Exact for counts and extremes; sums within 1e-12 relative (the same float32 values summed
// in double in the same order give the same bits, but nothing in the format promises an order).
function sameAsValues(h, values) {
  const r = histogram(values, LIMITS);
  if (r.num !== h.num || r.min !== h.min || r.max !== h.max) return `num/min/max ${r.num}/${r.min}/${r.max} != ${h.num}/${h.min}/${h.max}`;
  if (Math.abs(r.sum - h.sum) > 1e-12 * r.sumSq + 1e-300 || Math.abs(r.sumSq - h.sumSquares) > 1e-12 * r.sumSq)
    return `sum ${r.sum} / ${h.sum}, sum_squares ${r.sumSq} / ${h.sumSquares}`;
  let j = 0;
  for (let i = 0; i < LIMITS.length; i++) {
    if (!r.counts[i]) continue;
    while (j < h.bucketLimit.length && h.bucketLimit[j] < LIMITS[i]) j++;
    if (h.bucketLimit[j] !== LIMITS[i] || h.bucket[j] !== r.counts[i]) return `bucket at ${LIMITS[i]}: ${r.counts[i]} values here`;
  }
  return '';
}

// Values computed by another program on the same inputs agree with lowp's to float rounding:
// same num; bucket counts may differ only by values within 1e-5 relative of an edge (each
// such value can move one bucket: two counts change by one); sums within 1e-4 relative.
function closeToValues(h, values) {
  const r = histogram(values, LIMITS);
  if (r.num !== h.num) return `num ${r.num} != ${h.num}`;
  let nearEdge = 0;
  for (const v of values) {
    let lo = 0, hi = LIMITS.length - 1;
    while (lo < hi) { const m = (lo + hi) >> 1; if (LIMITS[m] > v) hi = m; else lo = m + 1; }
    const near = (e) => e !== undefined && Math.abs(v - e) <= 1e-5 * Math.abs(e);
    if (near(LIMITS[lo]) || near(LIMITS[lo - 1])) nearEdge++;
  }
  const mine = new Map();
  h.bucketLimit.forEach((l, i) => mine.set(l, h.bucket[i]));
  let moved = 0;
  for (let i = 0; i < LIMITS.length; i++) moved += Math.abs((r.counts[i] || 0) - (mine.get(LIMITS[i]) || 0));
  if (moved > 2 * nearEdge) return `${moved} counts differ, ${nearEdge} values near an edge`;
  const scale = Math.sqrt(r.sumSq / r.num) * r.num + 1e-30;
  if (Math.abs(r.sum - h.sum) > 1e-4 * scale) return `sum ${h.sum} vs ${r.sum}`;
  if (Math.abs(r.sumSq - h.sumSquares) > 1e-4 * r.sumSq) return `sum_squares ${h.sumSquares} vs ${r.sumSq}`;
  return '';
}

// tag -> histo of one step's histograms; duplicates reported.
function histograms(events, label, step) {
  const map = new Map();
  let dup = 0, other = 0;
  for (const e of events) {
    const v = e.summary.value[0];
    if (!v.histo || e.step !== step) { other += !v.histo ? 0 : 1; continue; }
    if (map.has(v.tag)) dup++;
    map.set(v.tag, v.histo);
  }
  check(`${label}: step ${step} histograms have distinct tags`, dup === 0, `${dup} duplicates`);
  return map;
}

function checkAgainstJson(label, hmap, layers, side) {
  const want = layers.filter((l) => l[side].num > 0);
  check(`${label}: one histogram per tensor of the JSON (${want.length})`, hmap.size === want.length,
    `${hmap.size} in the file`);
  const diffs = [];
  for (const l of want) {
    const h = hmap.get(l.tensor);
    const d = !h ? 'missing' : histoDiff(h, l[side]) || histoShape(h);
    if (d) diffs.push(`${l.tensor}: ${d}`);
  }
  check(`${label}: every histogram equals lowp's JSON and is well-formed`, diffs.length === 0, () => diffs.slice(0, 3).join('; '));
}

function checkWeights(label, hmap, weights) {
  const diffs = [];
  let n = 0;
  for (const [name, values] of weights) {
    const h = hmap.get(name);
    if (!h) { diffs.push(`${name}: no histogram`); continue; }
    const d = sameAsValues(h, values);
    if (d) diffs.push(`${name}: ${d}`);
    n++;
  }
  check(`${label}: ${n} weight histograms recomputed from the ONNX file`, n > 0 && diffs.length === 0,
    () => diffs.slice(0, 3).join('; ') || 'no weights');
}

function modeCompare([dir, histFile, fp32File, quantFile, output, refNpy]) {
  const doc = JSON.parse(fs.readFileSync(histFile, 'utf8'));
  const fp32 = loadModel(fp32File), quant = loadModel(quantFile);
  const runs = {};
  for (const side of ['fp32', 'quantized']) {
    const events = readRun(path.join(dir, side), side, 1);
    if (!events) continue;
    runs[side] = histograms(events, side, 0);
    checkAgainstJson(side, runs[side], doc.layers, side);
  }
  const finit = initializers(fp32), fw = new Map();
  for (const l of doc.layers) if (l.kind === 'weight' && finit.has(l.tensor)) fw.set(l.tensor, tensorValues(finit.get(l.tensor)));
  check('the JSON lists the weights', fw.size > 0 && fw.size === doc.layers.filter((l) => l.kind === 'weight').length,
    `${fw.size} weights found in ${fp32File}`);
  if (runs.fp32) checkWeights('fp32', runs.fp32, fw);
  if (runs.quantized) checkWeights('quantized', runs.quantized, quantizedWeights(fp32, quant));
  if (output && runs.fp32) {
    const h = runs.fp32.get(output);
    const d = !h ? 'no histogram' : closeToValues(h, readNpyFloat32(refNpy));
    check(`fp32: ${output} histogram matches ${path.basename(refNpy)}`, !d, d);
  }
}

function modeTune([dir, historyFile, summaryFile, fp32File, bestFile]) {
  const lines = fs.readFileSync(historyFile, 'utf8').split('\n').filter((l) => l.trim());
  const trials = lines.slice(1).map((l) => JSON.parse(l)).filter((t) => t.key);
  const summary = JSON.parse(fs.readFileSync(summaryFile, 'utf8'));
  const fp32Events = readRun(path.join(dir, 'fp32'), 'fp32', 1);
  const qEvents = readRun(path.join(dir, 'quantized'), 'quantized', trials.length);
  if (!fp32Events || !qEvents) return;
  const scalars = (events) => {
    const m = new Map();
    for (const e of events) {
      const v = e.summary.value[0];
      if (!v.histo) m.set(`${v.tag}@${e.step}`, v.simpleValue);
    }
    return m;
  };
  const fs32 = scalars(fp32Events), qs = scalars(qEvents);
  const f32 = (x) => Math.fround(x);
  check('fp32: accuracy scalar at step 0 is the baseline', fs32.get('accuracy@0') === f32(summary.baseline),
    `${fs32.get('accuracy@0')} vs ${summary.baseline}`);
  const bad = [];
  for (const t of trials) {
    for (const k of ['accuracy', 'objective', 'latency_ms'])
      if (qs.get(`${k}@${t.trial}`) !== f32(t[k])) bad.push(`trial ${t.trial} ${k} ${qs.get(`${k}@${t.trial}`)} vs ${t[k]}`);
  }
  check(`quantized: accuracy, objective and latency_ms of ${trials.length} trials equal the history`,
    trials.length > 0 && !bad.length, () => bad.slice(0, 3).join('; ') || 'no trials');
  const fh = histograms(fp32Events, 'fp32', 0);
  const fp32 = loadModel(fp32File), finit = initializers(fp32);
  const shapes = [];
  for (const [tag, h] of fh) { const d = histoShape(h); if (d) shapes.push(`${tag}: ${d}`); }
  check(`fp32: ${fh.size} well-formed histograms`, fh.size > 0 && !shapes.length, () => shapes.slice(0, 3).join('; '));
  const fw = new Map();
  for (const [tag] of fh) if (finit.has(tag) && finit.get(tag).dataType === 1) fw.set(tag, tensorValues(finit.get(tag)));
  checkWeights('fp32', fh, fw);
  // every trial: a histogram of every activation the FP32 run has (weights: those it quantized)
  const problems = [];
  for (const t of trials) {
    const qh = histograms(qEvents, `quantized trial ${t.trial}`, t.trial);
    const tags = [...fh.keys()].filter((k) => !finit.has(k) && !qh.has(k));
    if (tags.length) problems.push(`trial ${t.trial} lacks ${tags.slice(0, 3).join(', ')}`);
    for (const [tag, h] of qh) { const d = histoShape(h); if (d) problems.push(`trial ${t.trial} ${tag}: ${d}`); }
  }
  check('quantized: every trial has a well-formed histogram of every activation', !problems.length,
    () => problems.slice(0, 3).join('; '));
  const bh = histograms(qEvents, 'best', summary.best_trial);
  const bw = quantizedWeights(fp32, loadModel(bestFile));
  checkWeights(`quantized trial ${summary.best_trial} (the best)`, bh, bw);
  const extra = [...bh.keys()].filter((k) => finit.has(k) && !bw.has(k));
  check(`quantized trial ${summary.best_trial}: weight histograms only of its int8 weights`, !extra.length, extra.join(', '));
}

const [mode, ...args] = process.argv.slice(2);
try {
  if (mode === 'compare') modeCompare(args);
  else if (mode === 'tune') modeTune(args);
  else { console.error('usage: node tests/tb/check.js compare|tune ...'); process.exit(1); }
} catch (e) {
  fail(`check.js ${mode}`, e.stack.split('\n').slice(0, 3).join(' | '));
}
console.log(`check.js: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
