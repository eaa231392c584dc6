// ort_run_all.js MODEL OUTDIR NAME=IN.npy ... — runs an ONNX model in ONNX Runtime (the npm
// package onnxruntime-node installed under bench/) with named inputs (.npy: float32, int64 or
// bool, float16) and writes every output to OUTDIR/<name>.npy with the name sanitized as `lowp run` does.
// Used by the tests that hold lowp's results against ONNX Runtime's on multi-input models.
'use strict';
const fs = require('fs');
const path = require('path');
const ort = require(path.join(__dirname, '..', 'bench', 'node_modules', 'onnxruntime-node'));
const npy = require(path.join(__dirname, '..', 'bench', 'npy.js'));

function writeNpy(file, t) {
  const descr = t.type === 'float32' ? '<f4' : t.type === 'int64' ? '<i8' : t.type === 'bool' ? '|b1'
    : t.type === 'float16' ? '<f2' : null;
  if (!descr) throw new Error(`output type ${t.type} is not written here`);
  const shape = t.dims;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  const pad = 64 - ((10 + header.length + 1) % 64);
  header += ' '.repeat(pad % 64) + '\n';
  const data = t.type === 'bool' ? Uint8Array.from(t.data, (v) => (v ? 1 : 0)) : t.data;
  const body = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const head = Buffer.alloc(10 + header.length);
  head.write('\x93NUMPY', 0, 'latin1');
  head[6] = 1;
  head[7] = 0;
  head.writeUInt16LE(header.length, 8);
  head.write(header, 10, 'latin1');
  const tmp = `${file}.tmp`;
  fs.writeFileSync(tmp, Buffer.concat([head, body]));
  fs.renameSync(tmp, file);
}

async function main() {
  const [model, outdir, ...specs] = process.argv.slice(2);
  if (!outdir) {
    console.error('usage: node tests/ort_run_all.js MODEL OUTDIR NAME=IN.npy ...');
    process.exit(1);
  }
  const session = await ort.InferenceSession.create(model, {
    intraOpNumThreads: 1, interOpNumThreads: 1, graphOptimizationLevel: 'all', logSeverityLevel: 3,
  });
  const feeds = {};
  for (const s of specs) {
    const eq = s.indexOf('=');
    feeds[s.slice(0, eq)] = npy.readTensor(ort, s.slice(eq + 1));
  }
  const result = await session.run(feeds);
  fs.mkdirSync(outdir, { recursive: true });
  for (const name of session.outputNames) writeNpy(path.join(outdir, `${name.replace(/[^A-Za-z0-9._-]/g, '_')}.npy`), result[name]);
}

main().catch((e) => {
  console.error(e.message || e);
  process.exit(1);
});
