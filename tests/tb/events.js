// events.js — an independent reader of TensorBoard event files (TFRecord framing, masked
// CRC-32C, Event protocol buffers), built from tests/tb/events.proto with protobufjs and the
// crc-32 package's CRC-32C; nothing in it comes from lowp. Used by tests/tensorboard.sh.
'use strict';
const fs = require('fs');
const path = require('path');
const protobuf = require('protobufjs');
const crc32c = require('crc-32/crc32c');

const root = protobuf.loadSync(path.join(__dirname, 'events.proto'));
const Event = root.lookupType('tensorboard_subset.Event');

function masked(buf) {
  const c = crc32c.buf(buf) >>> 0;
  return ((((c >>> 15) | (c << 17)) >>> 0) + 0xa282ead8) >>> 0;
}

// Every record of one file: {events: [decoded Event objects], errors: [strings]}. A record
// whose length or data CRC does not match, a cut-off record, or data that does not decode
// is an error.
function readEventFile(file) {
  const b = fs.readFileSync(file);
  const events = [], errors = [];
  let off = 0, i = 0;
  while (off < b.length) {
    if (off + 12 > b.length) { errors.push(`record ${i}: truncated header at byte ${off}`); break; }
    const lenBytes = b.subarray(off, off + 8);
    const len = Number(b.readBigUInt64LE(off));
    if (b.readUInt32LE(off + 8) !== masked(lenBytes)) { errors.push(`record ${i}: length CRC mismatch`); break; }
    if (off + 12 + len + 4 > b.length) { errors.push(`record ${i}: truncated data`); break; }
    const data = b.subarray(off + 12, off + 12 + len);
    if (b.readUInt32LE(off + 12 + len) !== masked(data)) errors.push(`record ${i}: data CRC mismatch`);
    try {
      events.push(Event.toObject(Event.decode(data), { longs: Number, defaults: true, oneofs: true }));
    } catch (e) {
      errors.push(`record ${i}: ${e.message}`);
    }
    off += 12 + len + 4;
    i++;
  }
  return { events, errors };
}

// The event files of a run folder, in the order TensorBoard reads them (by name).
function eventFiles(dir) {
  return fs.readdirSync(dir).filter((f) => f.includes('tfevents')).sort().map((f) => path.join(dir, f));
}

// TensorBoard's default histogram buckets, from their definition: edges 1e-12 * 1.1^k below
// 1e20, DBL_MAX, their negatives, and 0; a value counts in the first bucket whose edge is > it.
function defaultLimits() {
  const pos = [];
  for (let v = 1e-12; v < 1e20; v *= 1.1) pos.push(v);
  pos.push(Number.MAX_VALUE);
  return pos.slice().reverse().map((v) => -v).concat([0], pos);
}

function histogram(values, limits) {
  const counts = new Float64Array(limits.length);
  let min = Infinity, max = -Infinity, num = 0, sum = 0, sumSq = 0;
  for (const v of values) {
    if (!Number.isFinite(v)) continue;
    let lo = 0, hi = limits.length - 1;
    while (lo < hi) { const m = (lo + hi) >> 1; if (limits[m] > v) hi = m; else lo = m + 1; }
    counts[lo]++;
    min = Math.min(min, v); max = Math.max(max, v);
    num++; sum += v; sumSq += v * v;
  }
  return { min, max, num, sum, sumSq, counts };
}

module.exports = { readEventFile, eventFiles, defaultLimits, histogram };
