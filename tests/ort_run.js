// ort_run.js MODEL IN.npy OUT.npy [MODEL IN.npy OUT.npy ...] — runs each single-input ONNX model
// in ONNX Runtime (the npm package onnxruntime-node installed under bench/) and writes its first
// output as float32 .npy (several triples share one process: ORT's start-up is paid once).
// Used by the tests that hold lowp's results against ONNX Runtime's.
'use strict';
const fs = require('fs');
const path = require('path');
const ort = require(path.join(__dirname, '..', 'bench', 'node_modules', 'onnxruntime-node'));
const npy = require(path.join(__dirname, '..', 'bench', 'npy.js'));

function writeNpy(file, shape, data) {
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  const pad = 64 - ((10 + header.length + 1) % 64);
  header += ' '.repeat(pad % 64) + '\n';
  const buf = Buffer.alloc(10 + header.length + 4 * data.length);
  buf.write('\x93NUMPY', 0, 'latin1');
  buf[6] = 1;
  buf[7] = 0;
  buf.writeUInt16LE(header.length, 8);
  buf.write(header, 10, 'latin1');
  for (let i = 0; i < data.length; i++) buf.writeFloatLE(data[i], 10 + header.length + 4 * i);
  const tmp = `${file}.tmp`;
  fs.writeFileSync(tmp, buf);
  fs.renameSync(tmp, file);
}

async function runOne(model, input, output) {
  const session = await ort.InferenceSession.create(model, {
    intraOpNumThreads: 1, interOpNumThreads: 1, graphOptimizationLevel: 'all', logSeverityLevel: 3,
  });
  const x = npy.read(input);
  const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', x.data, x.shape) };
  const result = await session.run(feeds);
  const y = result[session.outputNames[0]];
  writeNpy(output, y.dims, Array.from(y.data, Number));
}

async function main() {
  const args = process.argv.slice(2);
  if (!args.length || args.length % 3) {
    console.error('usage: node tests/ort_run.js MODEL IN.npy OUT.npy [MODEL IN.npy OUT.npy ...]');
    process.exit(1);
  }
  for (let i = 0; i < args.length; i += 3) {
    try {
      await runOne(args[i], args[i + 1], args[i + 2]);
    } catch (e) {
      throw new Error(`${args[i]}: ${e.message}`);
    }
  }
}

main().catch((e) => {
  console.error(`ort_run: ${e.message}`);
  process.exit(2);
});
