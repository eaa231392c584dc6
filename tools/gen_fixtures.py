#!/usr/bin/python3
"""gen_fixtures.py — writes tests/fixtures/metric_*.npy and metric_expected.txt: random
predictions and labels, with each metric's value computed independently in NumPy (the C
tests in tests/test_metric.c compare against them). Deterministic (fixed seed).

    /usr/bin/python3 tools/gen_fixtures.py
"""
import os
import numpy as np

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures")
rng = np.random.default_rng(20240611)


def save(name, arr):
    np.save(os.path.join(OUT, name), arr)


def softmax_ce(logits, labels):
    z = logits.astype(np.float64)
    m = z.max(1, keepdims=True)
    lse = m[:, 0] + np.log(np.exp(z - m).sum(1))
    return float(np.mean(lse - z[np.arange(len(labels)), labels]))


def topk(logits, labels, k):
    # stable descending sort: ties broken by lower index first
    order = np.argsort(-logits.astype(np.float64), axis=1, kind="stable")
    return float(np.mean([labels[i] in order[i, :k] for i in range(len(labels))]))


def f1_macro(pred, true):
    classes = np.union1d(pred, true)
    scores = []
    for c in classes:
        tp = np.sum((pred == c) & (true == c))
        fp = np.sum((pred == c) & (true != c))
        fn = np.sum((pred != c) & (true == c))
        scores.append(2 * tp / (2 * tp + fp + fn))
    return float(np.mean(scores))


def f1_binary(pred, true):
    tp = np.sum((pred == 1) & (true == 1))
    fp = np.sum((pred == 1) & (true == 0))
    fn = np.sum((pred == 0) & (true == 1))
    return float(2 * tp / (2 * tp + fp + fn))


def iou(a, b):
    i0, i1 = max(a[0], b[0]), max(a[1], b[1])
    i2, i3 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, i2 - i0) * max(0.0, i3 - i1)
    u = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / u if u > 0 else 0.0


def det_map(boxes, scores, classes, gboxes, gclasses, thrs, points):
    """A direct NumPy/Python re-implementation of COCO-style greedy matching + AP."""
    aps_t = []
    for thr in thrs:
        recs = {}  # class -> list of (score, tp)
        ngt = {}
        for i in range(boxes.shape[0]):
            for g in range(gboxes.shape[1]):
                c = int(gclasses[i, g])
                if c >= 0:
                    ngt[c] = ngt.get(c, 0) + 1
            order = sorted(range(boxes.shape[1]), key=lambda d: (-scores[i, d], d))
            used = set()
            for d in order:
                c = int(classes[i, d])
                if c < 0:
                    continue
                best, bg = -1.0, -1
                for g in range(gboxes.shape[1]):
                    if g in used or int(gclasses[i, g]) != c:
                        continue
                    v = iou(boxes[i, d].astype(np.float64), gboxes[i, g].astype(np.float64))
                    if v >= thr - 1e-12 and v > best:
                        best, bg = v, g
                if bg >= 0:
                    used.add(bg)
                recs.setdefault(c, []).append((float(np.float32(scores[i, d])), bg >= 0, len(recs.get(c, []))))
        aps = []
        for c, n in sorted(ngt.items()):
            r = sorted(recs.get(c, []), key=lambda x: -x[0])
            tp = np.cumsum([x[1] for x in r]).astype(np.float64)
            fp = np.cumsum([not x[1] for x in r]).astype(np.float64)
            rec = tp / n if len(r) else np.zeros(0)
            prec = tp / np.maximum(tp + fp, 1e-300) if len(r) else np.zeros(0)
            prec = np.maximum.accumulate(prec[::-1])[::-1] if len(r) else prec
            if points == 0:
                ap = float(np.sum(np.diff(np.concatenate([[0.0], rec])) * prec))
            else:
                ap = 0.0
                for rt in np.linspace(0, 1, points):
                    idx = np.searchsorted(rec, rt - 1e-12, side="left")
                    ap += prec[idx] if idx < len(rec) else 0.0
                ap /= points
            aps.append(ap)
        aps_t.append(np.mean(aps) if aps else 0.0)
    return float(np.mean(aps_t))


def main():
    os.makedirs(OUT, exist_ok=True)
    expected = []
    # classification: 97 samples (an odd count: partial batches), 10 classes
    n, c = 97, 10
    logits = rng.normal(size=(n, c)).astype(np.float32)
    labels = rng.integers(0, c, size=n).astype(np.int64)
    labels[:40] = logits[:40].argmax(1)  # some agreement, so values are not near chance
    save("metric_logits.npy", logits)
    save("metric_labels.npy", labels)
    pred = logits.argmax(1)
    expected += [("topk1", topk(logits, labels, 1)), ("topk5", topk(logits, labels, 5)),
                 ("accuracy", float(np.mean(pred == labels))),
                 ("loss", softmax_ce(logits, labels)), ("f1_macro", f1_macro(pred, labels)),
                 ("f1_micro", float(np.mean(pred == labels)))]
    # binary F1 from 2-class scores
    b = rng.normal(size=(60, 2)).astype(np.float32)
    bl = rng.integers(0, 2, size=60).astype(np.int64)
    save("metric_bin_scores.npy", b)
    save("metric_bin_labels.npy", bl)
    expected.append(("f1_binary", f1_binary(b.argmax(1), bl)))
    # regression
    p = rng.normal(size=(33, 3)).astype(np.float32)
    t = (p + rng.normal(scale=0.3, size=(33, 3))).astype(np.float32)
    save("metric_reg_pred.npy", p)
    save("metric_reg_true.npy", t)
    d = p.astype(np.float64) - t.astype(np.float64)
    expected += [("mae", float(np.mean(np.abs(d)))), ("mse", float(np.mean(d * d))),
                 ("rmse", float(np.sqrt(np.mean(d * d))))]
    # detection: 6 images, up to 5 detections and 4 ground-truth boxes, 3 classes
    N, D, G = 6, 5, 4
    gb = np.zeros((N, G, 4), np.float32)
    gc = -np.ones((N, G), np.float32)
    db = np.zeros((N, D, 4), np.float32)
    ds = np.zeros((N, D), np.float32)
    dc = -np.ones((N, D), np.float32)
    for i in range(N):
        ng = rng.integers(1, G + 1)
        for g in range(ng):
            y, x = rng.uniform(0, 0.7, 2)
            h, w = rng.uniform(0.1, 0.3, 2)
            gb[i, g] = [y, x, y + h, x + w]
            gc[i, g] = rng.integers(0, 3)
        for k in range(D):
            if rng.uniform() < 0.7 and ng:
                g = rng.integers(0, ng)
                jitter = rng.normal(scale=0.03, size=4)
                db[i, k] = gb[i, g] + jitter
                dc[i, k] = gc[i, g] if rng.uniform() < 0.85 else (gc[i, g] + 1) % 3
            else:
                y, x = rng.uniform(0, 0.7, 2)
                db[i, k] = [y, x, y + 0.2, x + 0.2]
                dc[i, k] = rng.integers(0, 3)
            ds[i, k] = rng.uniform()
    db[:, :, 2:] = np.maximum(db[:, :, 2:], db[:, :, :2])
    save("metric_det_boxes.npy", db)
    save("metric_det_scores.npy", ds)
    save("metric_det_classes.npy", dc)
    save("metric_gt_boxes.npy", gb)
    save("metric_gt_classes.npy", gc)
    expected += [("map_050_all", det_map(db, ds, dc, gb, gc, [0.5], 0)),
                 ("map_050_11", det_map(db, ds, dc, gb, gc, [0.5], 11)),
                 ("coco_map", det_map(db, ds, dc, gb, gc, [0.5 + 0.05 * i for i in range(10)], 101))]
    with open(os.path.join(OUT, "metric_expected.txt"), "w") as f:
        f.write("# written by tools/gen_fixtures.py: metric name and value computed with NumPy\n")
        for k, v in expected:
            f.write("%s %.17g\n" % (k, v))
    for k, v in expected:
        print(k, v)


if __name__ == "__main__":
    main()
