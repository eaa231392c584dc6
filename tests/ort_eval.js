// ort_eval.js MODEL N — top-1 of an ONNX model in ONNX Runtime on the first N Fashion-MNIST test
// images (Rescale + Normalize 0.2860/0.3530, as the zoo was trained), printed as "correct N".
'use strict';
const fs = require('fs');
const zlib = require('zlib');
const path = require('path');
const ort = require(path.join(__dirname, '..', 'bench', 'node_modules', 'onnxruntime-node'));

const ROOT = '/usr/share/datasets/fashion-mnist';

async function main() {
  const [model, nArg] = process.argv.slice(2);
  const images = zlib.gunzipSync(fs.readFileSync(`${ROOT}/t10k-images-idx3-ubyte.gz`));
  const labels = zlib.gunzipSync(fs.readFileSync(`${ROOT}/t10k-labels-idx1-ubyte.gz`));
  const n = Math.min(Number(nArg || 10000), 10000);
  const session = await ort.InferenceSession.create(model, {
    intraOpNumThreads: 1, interOpNumThreads: 1, graphOptimizationLevel: 'all', logSeverityLevel: 3,
  });
  const scale = Math.fround(1 / 255);
  let correct = 0;
  const B = 100;
  for (let start = 0; start < n; start += B) {
    const b = Math.min(B, n - start);
    const x = new Float32Array(b * 784);
    for (let i = 0; i < b * 784; i++) {
      const px = images[16 + start * 784 + i];
      x[i] = (Math.fround(px * scale) - 0.2860) / 0.3530;
    }
    const out = await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', x, [b, 1, 28, 28]) });
    const y = out[session.outputNames[0]].data;
    for (let i = 0; i < b; i++) {
      let best = 0;
      for (let k = 1; k < 10; k++) if (y[i * 10 + k] > y[i * 10 + best]) best = k;
      if (best === labels[8 + start + i]) correct++;
    }
  }
  console.log(`correct ${correct} of ${n}`);
}

main().catch((e) => { console.error(`ort_eval: ${e.message}`); process.exit(2); });
