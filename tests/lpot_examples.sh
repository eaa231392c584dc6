#!/bin/sh
# lpot_examples.sh BUILD — LPOT's own example configurations run as written, with only the
# dataset paths changed, on a model and data this suite builds (tools/make_lpot_fixture.py:
# ImageNet-shaped PNGs of varied sizes listed in val_map.txt, a small CNN whose classifier is
# the node the example's op_wise names). The configuration below carries the keys and values
# of LPOT's ONNX Runtime image-recognition example (resnet50_v1_5.yaml) — comments dropped, the
# /path/to placeholders replaced — so ImagenetRaw, ResizeCropImagenet, op_wise in flow style,
# "50, 100" sampling sizes, onnxrt_qlinearops and the performance section must all work.
# The second, LPOT's object-detection example (ssd_mobilenet_v1.yaml), runs on a COCO-format
# fixture (tools/make_lpot_fixture_coco.py): COCORaw, dataloader.filter LabelBalance, COCOmAP,
# outputs as one comma-separated string, op_wise names with a regex. The third is LPOT's BERT
# SQuAD example (examples/tensorflow/nlp/bert_large_squad/bert.yaml) brought to ONNX Runtime
# the way LPOT's own ONNX BERT example is (onnxrt_integerops, dynamic): the TensorFlow-only
# parts -- framework, the `bert` TF-record dataset, the SquadV1 detokenizing postprocess -- are
# replaced by an ONNX model and its features as .npy (tools/make_lpot_fixture_bert.py); the
# SquadF1 metric, sampling size, model_wise, op_wise and tuning keys are LPOT's.
SUITE=lpot_examples
. "$(dirname "$0")/lib.sh"
if ! /usr/bin/python3 -c 'import onnx, numpy' 2>/dev/null; then
    skip lpot_examples "/usr/bin/python3 with onnx and numpy absent"; finish; exit
fi
F="$T/fixture"
/usr/bin/python3 tools/make_lpot_fixture.py "$F" || { fail fixture "make_lpot_fixture.py failed"; finish; exit; }
cat >"$T/resnet50_v1_5.yaml" <<YAML
model:
  name: resnet50_v1_5
  framework: onnxrt_qlinearops

quantization:
  approach: post_training_static_quant
  calibration:
    sampling_size: 50, 100
    dataloader:
      batch_size: 1
      dataset:
        ImagenetRaw:
          data_path: $F/images
          image_list: $F/images/val_map.txt
      transform:
        ResizeCropImagenet:
          height: 224
          width: 224
          mean_value: [0.485, 0.456, 0.406]
  op_wise: {
     'Gemm_174_MatMul': {
     'activation':  {'dtype': ['fp32']},
     'weight': {'dtype': ['fp32']}
     }
     }

evaluation:
  accuracy:
    metric:
      topk: 1
    dataloader:
      batch_size: 32
      dataset:
        ImagenetRaw:
          data_path: $F/images
          image_list: $F/images/val_map.txt
      transform:
        ResizeCropImagenet:
          height: 224
          width: 224
          mean_value: [0.485, 0.456, 0.406]
  performance:
    warmup: 10
    iteration: 100
    configs:
      cores_per_instance: 4
      num_of_instance: 7
    dataloader:
      batch_size: 1
      dataset:
        ImagenetRaw:
          data_path: $F/images
          image_list: $F/images/val_map.txt
      transform:
        ResizeCropImagenet:
          height: 224
          width: 224
          mean_value: [0.485, 0.456, 0.406]

tuning:
  accuracy_criterion:
    relative:  0.01
  exit_policy:
    timeout: 0
  random_seed: 9527
YAML
Y="$T/resnet50_v1_5.yaml"

# eval: the fixture's classes are the dominant colour, which the model reads through
# ResizeCropImagenet's normalization: every image right
"$LOWP" eval "$F/model.onnx" --config "$Y" --json -q >"$T/eval.json" 2>"$T/eval.err"
rc=$?
if [ $rc = 0 ] && grep -q '"value": *1[,.]' "$T/eval.json" && grep -q '"samples": *24' "$T/eval.json"; then
    ok resnet50_example_eval
else
    fail resnet50_example_eval "exit $rc: $(tail -1 "$T/eval.err") $(head -c 200 "$T/eval.json")"
fi

# quantize: the QOperator form (onnxrt_qlinearops), the op_wise node kept FP32, the calibration
# sampling size the first of "50, 100" (the fixture has 24 images, all used)
"$LOWP" quantize "$F/model.onnx" --config "$Y" -o "$T/q.onnx" --json -q >"$T/q.json" 2>"$T/q.err"
rc=$?
if [ $rc = 0 ] && grep -q '"format":"qoperator"' "$T/q.json" && grep -q '"int8_nodes":1,' "$T/q.json" &&
   grep -q '"fp32_nodes":1,' "$T/q.json" && grep -q '"calibration_samples":24,' "$T/q.json" && [ -s "$T/q.onnx" ]; then
    ok resnet50_example_quantize
else
    fail resnet50_example_quantize "exit $rc: $(tail -1 "$T/q.err") $(cat "$T/q.json")"
fi

# tune: meets the 1 % criterion, the tuned model evaluates as the tune said
"$LOWP" tune "$Y" "$F/model.onnx" -w "$T/ws" --json -q >"$T/tune.json" 2>"$T/tune.err"
rc=$?
if [ $rc = 0 ] && grep -q '"met_target": true' "$T/tune.json" && [ -s "$T/ws/best_model.onnx" ] &&
   "$LOWP" eval "$T/ws/best_model.onnx" --config "$Y" --json -q 2>/dev/null | grep -q '"value": *1[,.]'; then
    ok resnet50_example_tune
else
    fail resnet50_example_tune "exit $rc: $(tail -1 "$T/tune.err")"
fi

# ---- object detection: ssd_mobilenet_v1.yaml as written, paths changed ----
C="$T/coco"
/usr/bin/python3 tools/make_lpot_fixture_coco.py "$C" || { fail coco_fixture "make_lpot_fixture_coco.py failed"; finish; exit; }
cat >"$T/ssd_mobilenet_v1.yaml" <<YAML
model:
  name: ssd_mobilenet_v1
  framework: onnxrt_qlinearops
  inputs: image
  outputs: num_detections,detection_bboxes,detection_scores,detection_classes

quantization:
  approach: post_training_static_quant
  calibration:
    sampling_size: 50
    dataloader:
      dataset:
        COCORaw:
          root: $C
      filter:
        LabelBalance:
          size: 1
      transform:
        Resize:
          size: 300
  model_wise:
    activation:
      algorithm: minmax
      scheme: sym
    weight:
      algorithm: minmax
      scheme: sym
  op_wise: {
    'Postprocessor/BatchMultiClassNonMaxSuppression/mul': {
     'activation':  {'dtype': ['fp32'], 'scheme':['sym']},
     'weight': {'dtype': ['fp32'], 'scheme':['sym']}
     },
     'Mul__161':{
     'activation':  {'dtype': ['fp32'], 'scheme':['sym']},
     'weight': {'dtype': ['fp32'], 'scheme':['sym']}
     },
     'Mul__166':{
     'activation':  {'dtype': ['fp32'], 'scheme':['sym']},
     'weight': {'dtype': ['fp32'], 'scheme':['sym']}
     },
     'Shape__7732':{
     'activation':  {'dtype': ['fp32'], 'scheme':['sym']},
     'weight': {'dtype': ['fp32'], 'scheme':['sym']}
     },
     'Gather__*': {
     'activation':  {'dtype': ['fp32'], 'scheme':['sym']},
     'weight': {'dtype': ['fp32'], 'scheme':['sym']}
     },
     'Postprocessor/convert_scores':{
      'activation':  {'dtype': ['fp32'], 'scheme':['sym']},
     'weight': {'dtype': ['fp32'], 'scheme':['sym']}
     }
  }

evaluation:
  accuracy:
    metric:
      COCOmAP: {}
    configs:
      cores_per_instance: 28
      num_of_instance: 1
      kmp_blocktime: 1
    dataloader:
      batch_size: 16
      dataset:
        COCORaw:
          root: $C
      transform:
        Resize:
          size: 300
  performance:
    iteration: 11
    configs:
      cores_per_instance: 28
      num_of_instance: 1
      kmp_blocktime: 1
    dataloader:
      batch_size: 16
      dataset:
        COCORaw:
          root: $C
      transform:
        Resize:
          size: 300
tuning:
  accuracy_criterion:
    absolute:  0.01
  exit_policy:
    timeout: 0
  random_seed: 9527
YAML
S="$T/ssd_mobilenet_v1.yaml"

# eval: 18 of the 20 listed images (one file missing, one without boxes), every square found
# at every COCO IoU threshold
"$LOWP" eval "$C/model.onnx" --config "$S" --json -q >"$T/ssd_eval.json" 2>"$T/ssd_eval.err"
rc=$?
if [ $rc = 0 ] && grep -q '"value": *1[,.]' "$T/ssd_eval.json" && grep -q '"samples": *18' "$T/ssd_eval.json"; then
    ok ssd_example_eval
else
    fail ssd_example_eval "exit $rc: $(tail -1 "$T/ssd_eval.err") $(head -c 200 "$T/ssd_eval.json")"
fi

# anno_path (the instances file: categories 1..3 keep their numbers) is read and scores the same
"$LOWP" eval "$C/model.onnx" --config "$S" --metric "COCOmAP:anno_path=$C/annotations/instances_val2017.json" \
    --json -q >"$T/ssd_anno.json" 2>"$T/ssd_anno.err"
rc=$?
if [ $rc = 0 ] && grep -q '"value": *1[,.]' "$T/ssd_anno.json"; then
    ok ssd_example_anno_path
else
    fail ssd_example_anno_path "exit $rc: $(tail -1 "$T/ssd_anno.err") $(head -c 200 "$T/ssd_anno.json")"
fi

# quantize: QOperator, the Conv in INT8; calibration on the 6 images with exactly one box
# (filter LabelBalance size 1)
"$LOWP" quantize "$C/model.onnx" --config "$S" -o "$T/ssd_q.onnx" --json -q >"$T/ssd_q.json" 2>"$T/ssd_q.err"
rc=$?
if [ $rc = 0 ] && grep -q '"format":"qoperator"' "$T/ssd_q.json" && grep -q '"int8_nodes":1,' "$T/ssd_q.json" &&
   grep -q '"calibration_samples":6,' "$T/ssd_q.json" && [ -s "$T/ssd_q.onnx" ]; then
    ok ssd_example_quantize
else
    fail ssd_example_quantize "exit $rc: $(tail -1 "$T/ssd_q.err") $(cat "$T/ssd_q.json")"
fi

# tune: meets the absolute 0.01 criterion on COCOmAP
"$LOWP" tune "$S" "$C/model.onnx" -w "$T/ssd_ws" --json -q >"$T/ssd_tune.json" 2>"$T/ssd_tune.err"
rc=$?
if [ $rc = 0 ] && grep -q '"met_target": true' "$T/ssd_tune.json" && [ -s "$T/ssd_ws/best_model.onnx" ]; then
    ok ssd_example_tune
else
    fail ssd_example_tune "exit $rc: $(tail -1 "$T/ssd_tune.err")"
fi

# ---- question answering: LPOT's BERT SQuAD example on ONNX ----
B="$T/bert"
/usr/bin/python3 tools/make_lpot_fixture_bert.py "$B" || { fail bert_fixture "make_lpot_fixture_bert.py failed"; finish; exit; }
cat >"$T/bert.yaml" <<YAML
model:
  name: bert
  framework: onnxrt_integerops
  inputs: input_ids, input_mask, segment_ids
  outputs: start_logits, end_logits

evaluation:
  accuracy:
    metric:
      SquadF1:
    dataloader:
      dataset:
        Npy:
          inputs: [$B/input_ids.npy, $B/input_mask.npy, $B/segment_ids.npy]
          labels: [$B/start_positions.npy, $B/end_positions.npy]
      batch_size: 64
  performance:
    iteration: 10
    configs:
        num_of_instance: 4
        cores_per_instance: 7
    dataloader:
      dataset:
        Npy:
          inputs: [$B/input_ids.npy, $B/input_mask.npy, $B/segment_ids.npy]
      batch_size: 64

quantization:
  approach: post_training_dynamic_quant
  calibration:
    sampling_size: 500
    dataloader:
      dataset:
        Npy:
          inputs: [$B/input_ids.npy, $B/input_mask.npy, $B/segment_ids.npy]
      batch_size: 64
  model_wise:
    weight:
      granularity: per_channel
  op_wise: {
             'MatMul_qa': {
               'activation':  {'dtype': ['fp32']},
               'weight':  {'dtype': ['fp32']},
             }
           }
tuning:
  accuracy_criterion:
    relative:  0.01
  exit_policy:
    timeout: 0
    max_trials: 100
  random_seed: 9527
YAML
Q="$T/bert.yaml"

# eval: every answer span found (F1 100 over the 40 questions; exact match too)
"$LOWP" eval "$B/model.onnx" --config "$Q" --json -q >"$T/bert_eval.json" 2>"$T/bert_eval.err"
rc=$?
"$LOWP" eval "$B/model.onnx" --config "$Q" --metric SquadF1:exact_match=true --json -q >"$T/bert_em.json" 2>>"$T/bert_eval.err"
if [ $rc = 0 ] && grep -q '"metric":"SquadF1","value":100,"samples":40' "$T/bert_eval.json" &&
   grep -q '"value":100,' "$T/bert_em.json"; then
    ok bert_example_eval
else
    fail bert_example_eval "exit $rc: $(tail -1 "$T/bert_eval.err") $(cat "$T/bert_eval.json")"
fi

# quantize: dynamic (integerops), the op_wise head kept FP32, the mixing MatMul in INT8
"$LOWP" quantize "$B/model.onnx" --config "$Q" -o "$T/bert_q.onnx" --json -q >"$T/bert_q.json" 2>"$T/bert_q.err"
rc=$?
if [ $rc = 0 ] && grep -q '"approach":"dynamic"' "$T/bert_q.json" && grep -q '"int8_nodes":1,' "$T/bert_q.json" &&
   grep -q '"fp32_nodes":1,' "$T/bert_q.json" && [ -s "$T/bert_q.onnx" ]; then
    ok bert_example_quantize
else
    fail bert_example_quantize "exit $rc: $(tail -1 "$T/bert_q.err") $(cat "$T/bert_q.json")"
fi

# tune: meets the 1 % criterion on SquadF1
"$LOWP" tune "$Q" "$B/model.onnx" -w "$T/bert_ws" --json -q >"$T/bert_tune.json" 2>"$T/bert_tune.err"
rc=$?
if [ $rc = 0 ] && grep -q '"met_target": true' "$T/bert_tune.json" && [ -s "$T/bert_ws/best_model.onnx" ]; then
    ok bert_example_tune
else
    fail bert_example_tune "exit $rc: $(tail -1 "$T/bert_tune.err")"
fi

finish
