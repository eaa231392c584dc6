// npy.js — reads little-endian float32 NumPy .npy files (format 1.0-3.0, C order): enough for
// the reference inputs and outputs of bench/compare.
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

module.exports = { read, readRaw };
