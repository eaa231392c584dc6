#!/usr/bin/python3
"""make_lpot_fixture_coco.py OUT — a COCO-format detection fixture for running LPOT's ONNX Runtime
object-detection example configuration (ssd_mobilenet_v1.yaml) as written
(tests/lpot_examples.sh):

  OUT/val2017/*.png        grey-green images of varied sizes (160..260 per side) holding one to
                           three solid squares, red, green or blue, never overlapping
  OUT/annotations/instances_val2017.json
                           COCO's layout: images (id, file_name, width, height), annotations
                           (image_id, category_id, bbox [x, y, w, h], area, iscrowd and a polygon
                           segmentation the readers must skip), categories red=1, green=2, blue=3;
                           plus one image whose file is missing and one without annotations
                           (LPOT's COCORaw leaves both out)
  OUT/model.onnx           an SSD-shaped "detector": input 'image' (N,300,300,3) float 0..255
                           (after the example's Resize: 300), outputs num_detections (N),
                           detection_bboxes (N,3,4) [ymin, xmin, ymax, xmax] in 0..1,
                           detection_scores (N,3), detection_classes (N,3). A 1x1 Conv separates
                           the colours; per colour, the rows and columns where that colour
                           dominates give the box, the strength of the colour the score.

Deterministic for a given seed. PNG written with zlib (no imaging library needed).
"""
import json
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_lpot_fixture import png  # noqa: E402  (the one zlib PNG writer)

SIDE = 300


def model(path):
    f = lambda name, a: numpy_helper.from_array(np.asarray(a, np.float32), name)
    i64 = lambda name, a: numpy_helper.from_array(np.asarray(a, np.int64), name)
    # colour separation: channel c minus the mean of the other two, scaled
    w = np.full((3, 3, 1, 1), -0.5, np.float32)
    for c in range(3):
        w[c, c, 0, 0] = 1.0
    inits = [
        f("sep.w", w / 100.0), f("sep.b", np.full(3, -0.6, np.float32)),
        f("rows", np.arange(SIDE).reshape(1, 1, SIDE)), f("big", [1e4]), f("neg", [-1.0]), f("zero", [0.0]),
        f("side", [float(SIDE)]), f("one", [1.0]), f("cls", [[1.0, 2.0, 3.0]]), i64("ax1", [1]),
        numpy_helper.from_array(np.asarray(1, np.int64), "gather_i"),
    ]
    n = []
    n.append(helper.make_node("Transpose", ["image"], ["x"], name="Transpose_0", perm=[0, 3, 1, 2]))
    n.append(helper.make_node("Conv", ["x", "sep.w", "sep.b"], ["sep"], name="Conv_1"))
    n.append(helper.make_node("Relu", ["sep"], ["mask"], name="Relu_2"))            # (N,3,H,W)
    n.append(helper.make_node("ReduceMax", ["mask"], ["rowp"], name="RowProfile", axes=[3], keepdims=0))
    n.append(helper.make_node("ReduceMax", ["mask"], ["colp"], name="ColProfile", axes=[2], keepdims=0))
    outs = {}
    for prof in ("rowp", "colp"):
        n.append(helper.make_node("Greater", [prof, "zero"], [prof + "_on"], name=prof + "_on"))
        n.append(helper.make_node("Where", [prof + "_on", "rows", "big"], [prof + "_lo_i"], name=prof + "_lo_w"))
        n.append(helper.make_node("ReduceMin", [prof + "_lo_i"], [prof + "_lo"], name=prof + "_lo", axes=[2], keepdims=1))
        n.append(helper.make_node("Where", [prof + "_on", "rows", "neg"], [prof + "_hi_i"], name=prof + "_hi_w"))
        n.append(helper.make_node("ReduceMax", [prof + "_hi_i"], [prof + "_hi0"], name=prof + "_hi", axes=[2], keepdims=1))
        n.append(helper.make_node("Add", [prof + "_hi0", "one"], [prof + "_hi"], name=prof + "_hi_add"))
        for end in ("lo", "hi"):
            n.append(helper.make_node("Div", [f"{prof}_{end}", "side"], [f"{prof}_{end}_n"], name=f"{prof}_{end}_div"))
            n.append(helper.make_node("Clip", [f"{prof}_{end}_n", "zero", "one"], [f"{prof}_{end}_c"], name=f"{prof}_{end}_clip"))
            outs[prof + end] = f"{prof}_{end}_c"
    n.append(helper.make_node("Concat", [outs["rowplo"], outs["colplo"], outs["rowphi"], outs["colphi"]],
                              ["detection_bboxes"], name="boxes", axis=2))                     # (N,3,4)
    # the post-processing carries the node names the example's op_wise keeps in FP32 (a key
    # that matches no node is an error), so the stock op_wise runs as written
    n.append(helper.make_node("ReduceMax", ["rowp"], ["strength"], name="Strength", axes=[2], keepdims=0))
    n.append(helper.make_node("Clip", ["strength", "zero", "one"], ["detection_scores"],
                              name="Postprocessor/convert_scores"))
    n.append(helper.make_node("Mul", ["detection_scores", "zero"], ["zeros"],
                              name="Postprocessor/BatchMultiClassNonMaxSuppression/mul"))
    n.append(helper.make_node("Mul", ["zeros", "one"], ["zeros2"], name="Mul__161"))
    n.append(helper.make_node("Add", ["zeros2", "cls"], ["detection_classes"], name="Classes"))
    n.append(helper.make_node("Mul", ["zeros2", "one"], ["zeros3"], name="Mul__166"))
    n.append(helper.make_node("ReduceSum", ["zeros3", "ax1"], ["zero_n"], name="ZeroPerImage", keepdims=0))
    n.append(helper.make_node("Shape", ["detection_scores"], ["shape"], name="Shape__7732"))
    n.append(helper.make_node("Gather", ["shape", "gather_i"], ["count_i"], name="Gather__10", axis=0))
    n.append(helper.make_node("Cast", ["count_i"], ["count"], name="Cast_count", to=TensorProto.FLOAT))
    n.append(helper.make_node("Add", ["zero_n", "count"], ["num_detections"], name="NumDetections"))
    graph = helper.make_graph(
        n, "lpot_coco_fixture",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", SIDE, SIDE, 3])],
        [helper.make_tensor_value_info("num_detections", TensorProto.FLOAT, ["N"]),
         helper.make_tensor_value_info("detection_bboxes", TensorProto.FLOAT, ["N", 3, 4]),
         helper.make_tensor_value_info("detection_scores", TensorProto.FLOAT, ["N", 3]),
         helper.make_tensor_value_info("detection_classes", TensorProto.FLOAT, ["N", 3])],
        inits)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="make_lpot_fixture_coco")
    m.ir_version = 7
    onnx.checker.check_model(m)
    onnx.save(m, path)


def dataset(root, n, seed):
    rng = np.random.default_rng(seed)
    img_dir = os.path.join(root, "val2017")
    os.makedirs(img_dir, exist_ok=True)
    os.makedirs(os.path.join(root, "annotations"), exist_ok=True)
    images, anns = [], []
    for i in range(n):
        h, w = int(rng.integers(160, 261)), int(rng.integers(160, 261))
        img = np.empty((h, w, 3), np.float64)
        img[:] = (90, 100, 90)
        img += rng.normal(0, 4, (h, w, 3))
        k = 1 + i % 3                      # squares in this image: 1, 2, 3, 1, ...
        colours = rng.permutation(3)[:k]
        # non-overlapping: each square in its own third of the image's width
        for j, c in enumerate(colours):
            side = int(rng.integers(40, min(h, w // 3) - 4))
            x0 = int(j * (w // 3) + rng.integers(0, w // 3 - side))
            y0 = int(rng.integers(0, h - side))
            val = np.full(3, 40.0)
            val[c] = 230.0
            img[y0:y0 + side, x0:x0 + side] = val
            anns.append({"id": len(anns) + 1, "image_id": 1000 + i, "category_id": int(c) + 1, "iscrowd": 0,
                         "bbox": [x0, y0, side, side], "area": side * side,
                         "segmentation": [[x0, y0, x0 + side, y0, x0 + side, y0 + side, x0, y0 + side]]})
        name = f"{1000 + i:012d}.png"
        png(os.path.join(img_dir, name), np.clip(img, 0, 255).astype(np.uint8))
        images.append({"id": 1000 + i, "file_name": name, "width": w, "height": h, "license": 1})
    # listed but absent, and present without annotations: COCORaw leaves both out
    images.append({"id": 9001, "file_name": "missing.png", "width": 200, "height": 200})
    anns.append({"id": len(anns) + 1, "image_id": 9001, "category_id": 1, "bbox": [0, 0, 10, 10], "iscrowd": 0})
    png(os.path.join(img_dir, "no_boxes.png"), np.full((50, 60, 3), 90, np.uint8))
    images.append({"id": 9002, "file_name": "no_boxes.png", "width": 60, "height": 50})
    doc = {"info": {"description": "lowp fixture", "year": 2021}, "licenses": [{"id": 1, "name": "none"}],
           "images": images, "annotations": anns,
           "categories": [{"supercategory": "colour", "id": 1, "name": "red"},
                          {"supercategory": "colour", "id": 2, "name": "green"},
                          {"supercategory": "colour", "id": 3, "name": "blue"}]}
    with open(os.path.join(root, "annotations", "instances_val2017.json"), "w") as f:
        json.dump(doc, f, indent=1)


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    dataset(out, 18, 11)
    model(os.path.join(out, "model.onnx"))


if __name__ == "__main__":
    main()
