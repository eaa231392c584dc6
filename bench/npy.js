// npy.js — reads little-endian NumPy .npy files (format 1.0-3.0, C order): float32 for the
// reference inputs and outputs of bench/compare, and float32 / int64 / bool / float16 as typed
// arrays for feeding models (bench/ort_bench.js --input, tests/ort_run_all.js).
'use strict';
const fs = require('fs');

// The header and raw little-endian bytes of any C-order .npy file: { descr, shape, bytes }.
function readRaw(file) {
  const buf = fs.readFileSync(file);
  if (buf.toString('latin1', 0, 6) !== '\x93NUMPY') throw new Error(`${file}: not a .npy file`);
  const major = buf[6];
  const hlen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const start = major === 1 ? 10 : 12;
  const header = buf.toString('latin1', start, start + hlen);
  const descr = /'descr':\s*'([^']+)'/.exec(header);
  const fortran = /'fortran_order':\s*(True|False)/.exec(header);
  const shape = /'shape':\s*\(([^)]*)\)/.exec(header);
  if (!descr || !shape) throw new Error(`${file}: bad .npy header`);
  if (!fortran || fortran[1] !== 'False') throw new Error(`${file}: Fortran order is not read here`);
  const dims = shape[1].split(',').map((s) => s.trim()).filter((s) => s).map(Number);
  return { descr: descr[1], shape: dims, bytes: buf.subarray(start + hlen) };
}

function read(file) {
  const { descr, shape, bytes } = readRaw(file);
  if (descr !== '<f4') throw new Error(`${file}: only float32 (<f4) is read here`);
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = bytes.readFloatLE(4 * i);
  return { shape, data };
}

const KINDS = { '<f4': ['float32', 4], '<i8': ['int64', 8], '|b1': ['bool', 1], '<f2': ['float16', 2] };

// { type (an onnxruntime tensor type), data (a typed array; float16 as its raw Uint16 bits),
// shape } of a float32, int64, bool or float16 .npy file.
function readTyped(file) {
  const { descr, shape, bytes } = readRaw(file);
  if (!KINDS[descr]) throw new Error(`${file}: dtype ${descr} is not read here`);
  const n = shape.reduce((a, b) => a * b, 1);
  if (bytes.length < n * KINDS[descr][1]) throw new Error(`${file}: truncated data`);
  const copy = new Uint8Array(bytes.subarray(0, n * KINDS[descr][1])).buffer;
  const type = KINDS[descr][0];
  const data = type === 'float32' ? new Float32Array(copy) : type === 'int64' ? new BigInt64Array(copy)
    : type === 'float16' ? new Uint16Array(copy) : new Uint8Array(copy);
  return { type, data, shape };
}

// The file as an onnxruntime Tensor (ort: the onnxruntime-node module).
function readTensor(ort, file) {
  const { type, data, shape } = readTyped(file);
  return new ort.Tensor(type, type === 'bool' ? Array.from(data, (v) => v !== 0) : data, shape);
}

module.exports = { read, readRaw, readTyped, readTensor };
