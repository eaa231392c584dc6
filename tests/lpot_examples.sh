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
# SquadF1 metric, sampling size, model_wise, op_wise and tuning keys are LPOT's. The fourth is
# LPOT's ONNX Runtime gpt2 example (examples/onnxrt/gpt2.yaml), which has no dataloader (its
# script passes one) and tunes against the FP32 model's outputs (MSE, compare_label: False)
# with a relative criterion: the data comes from the command line, the YAML is as written, on
# a GPT-2-shaped fixture (tools/make_lpot_fixture_gpt2.py).
SUITE=lpot_examples
. "$(dirname "$0")/lib.sh"
if ! /usr/bin/python3 -c 'import onnx, numpy' 2>/dev/null; then
    skip lpot_examples "/usr/bin/python3 with onnx and numpy absent"; finish; exit
fi

# example NAME YAML MODEL — runs `lowp eval`, `quantize` and `tune` on MODEL with the example's
# configuration as written ($EVAL_ARGS and $TUNE_ARGS: what the example's script would pass,
# unquoted): NAME.eval.json, NAME.q.json + NAME.q.onnx, NAME.tune.json + the workspace NAME_ws
# in $T, each command's stderr in NAME.*.err and its exit status in eval_rc, q_rc, tune_rc.
example() {
    "$LOWP" eval "$3" --config "$2" $EVAL_ARGS --json -q >"$T/$1.eval.json" 2>"$T/$1.eval.err"; eval_rc=$?
    "$LOWP" quantize "$3" --config "$2" -o "$T/$1.q.onnx" --json -q >"$T/$1.q.json" 2>"$T/$1.q.err"; q_rc=$?
    "$LOWP" tune "$2" "$3" $TUNE_ARGS -w "$T/$1_ws" --json -q >"$T/$1.tune.json" 2>"$T/$1.tune.err"; tune_rc=$?
}
# judge CASE RC STEM CONDITION — ok CASE when RC is 0 and the shell CONDITION holds, else a
# failure with the command's last error line and the start of its output ($T/STEM.{err,json}).
judge() {
    if [ "$2" = 0 ] && eval "$4"; then ok "$1"
    else fail "$1" "exit $2: $(tail -1 "$T/$3.err") $(head -c 300 "$T/$3.json")"; fi
}

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

example resnet "$Y" "$F/model.onnx"
# eval: the fixture's classes are the dominant colour, which the model reads through
# ResizeCropImagenet's normalization: every image right
judge resnet50_example_eval $eval_rc resnet.eval \
    "grep -q '\"value\": *1[,.]' $T/resnet.eval.json && grep -q '\"samples\": *24' $T/resnet.eval.json"
# quantize: the QOperator form (onnxrt_qlinearops), the op_wise node kept FP32, the calibration
# sampling size the first of "50, 100" (the fixture has 24 images, all used)
judge resnet50_example_quantize $q_rc resnet.q "grep -q '\"format\":\"qoperator\"' $T/resnet.q.json &&
    grep -q '\"int8_nodes\":1,' $T/resnet.q.json && grep -q '\"fp32_nodes\":1,' $T/resnet.q.json &&
    grep -q '\"calibration_samples\":24,' $T/resnet.q.json && [ -s $T/resnet.q.onnx ]"
# tune: meets the 1 % criterion, the tuned model evaluates as the tune said
judge resnet50_example_tune $tune_rc resnet.tune "grep -q '\"met_target\": true' $T/resnet.tune.json &&
    [ -s $T/resnet_ws/best_model.onnx ] &&
    \"$LOWP\" eval $T/resnet_ws/best_model.onnx --config $Y --json -q 2>/dev/null | grep -q '\"value\": *1[,.]'"

# INC 2.x's multi_metrics without weights on the same example: every metric is held to its own
# FP32 value (topk must not lose more than 1 %, Loss must not grow by more than 1 %). The tuner
# scores a trial by its worst metric's relative change, so the best trial's value must be what
# eval's two metrics give, computed here independently.
sed 's/^      topk: 1$/      topk: 1\n      Loss: {}/; s/^    metric:$/    multi_metrics:/' "$Y" >"$T/multi.yaml"
"$LOWP" tune "$T/multi.yaml" "$F/model.onnx" -w "$T/multi_ws" --json -q >"$T/multi.tune.json" 2>"$T/multi.tune.err"
rc=$?
for m in topk=1 Loss; do
    for w in fp32 best; do
        mf="$F/model.onnx"; [ $w = best ] && mf="$T/multi_ws/best_model.onnx"
        "$LOWP" eval "$mf" --config "$Y" --metric $m --json -q >"$T/multi.$m.$w.json" 2>>"$T/multi.tune.err"
    done
done
judge multi_metrics_each_tune $rc multi.tune "grep -q 'multi_metrics:' $T/multi.yaml && grep -q '\"met_target\": true' $T/multi.tune.json &&
    /usr/bin/python3 -c 'import json,sys; v=lambda f: json.load(open(sys.argv[1] + f))[\"value\"]; r=json.load(open(sys.argv[2]))
a0, a1, l0, l1 = v(\"topk=1.fp32.json\"), v(\"topk=1.best.json\"), v(\"Loss.fp32.json\"), v(\"Loss.best.json\")
worst = min((a1 - a0) / abs(a0), -(l1 - l0) / abs(l0))
sys.exit(0 if r[\"baseline\"] == 0 and abs(r[\"target\"] + 0.01) < 1e-12 and abs(r[\"best\"] - worst) < 1e-9 and worst >= -0.01 else 1)' \
        $T/multi. $T/multi.tune.json"

# ---- BF16 conversion: LPOT 1.4's template graph_optimization.yaml ----
# The template's graph_optimization section as written (precisions as the string "fp32, bf16",
# op_wise in flow style; its unbalanced braces closed), its node names mapped onto the image
# fixture's (conv1 -> Conv_0, pool1 -> GlobalAveragePool_2, conv2 -> Gemm_174_MatMul, the
# node kept FP32), and its ImageNet evaluation / tuning keys with the fixture's paths.
cat >"$T/graph_optimization.yaml" <<YAML
model:
  name: ssd_mobilenet_v1
  framework: onnxrt_qlinearops
device: cpu
graph_optimization:
  precisions: fp32, bf16
  op_wise: {
         'Conv_0': {
           'activation':  {'dtype': ['bf16']}
         },
         'GlobalAveragePool_2': {
           'activation': {'dtype': ['bf16']},
         },
         'Gemm_174_MatMul': {
           'activation':  {'dtype': ['fp32']},
         }
        }
evaluation:
  accuracy:
    metric:
      topk: 1
    dataloader:
      batch_size: 8
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
  strategy:
    name: basic
  accuracy_criterion:
    relative:  0.01
  exit_policy:
    timeout: 0
    max_trials: 100
  random_seed: 9527
YAML
example graph_opt "$T/graph_optimization.yaml" "$F/model.onnx"
# quantize: no calibration (nothing is INT8); the Conv BF16 (the written model marks it and only
# it), the op_wise Gemm FP32; GlobalAveragePool has no BF16 form and is not counted
judge graph_optimization_template_quantize $q_rc graph_opt.q "grep -q '\"approach\":\"mixed_precision\"' $T/graph_opt.q.json &&
    grep -q '\"int8_nodes\":0,\"bf16_nodes\":1,\"fp32_nodes\":1,' $T/graph_opt.q.json &&
    grep -q '\"calibration_samples\":0,' $T/graph_opt.q.json &&
    /usr/bin/python3 -c 'import onnx,sys; m=onnx.load(sys.argv[1]); d={p.key: p.value for p in m.metadata_props}
sys.exit(0 if d.get(\"lowp.bf16_nodes\") == \"Conv_0\" else 1)' $T/graph_opt.q.onnx"
# tune: the BF16 model against the FP32 baseline and the 1 % criterion (the fixture's classes are
# far apart: BF16 keeps every image right), the op_wise Gemm still FP32
judge graph_optimization_template_tune $tune_rc graph_opt.tune "grep -q '\"met_target\": true' $T/graph_opt.tune.json &&
    tr -d ' \n' <$T/graph_opt.tune.json | grep -q '\"ops\":{\"int8\":0,\"bf16\":1,\"fp32\":1}' &&
    \"$LOWP\" eval $T/graph_opt_ws/best_model.onnx --config $T/graph_optimization.yaml --json -q 2>/dev/null | grep -q '\"value\": *1[,.]'"
# INC 2.x's mixed_precision with precisions bf16 and a criterion BF16 cannot meet (absolute 0 on
# the Loss, lower is better: BF16 rounding moves it): the tune says so honestly (exit 3, met_target
# false, best above the target) and the model it wrote scores what it said
sed -e 's/^graph_optimization:/mixed_precision:/' -e 's/precisions: fp32, bf16/precisions: bf16/' \
    -e 's/      topk: 1/      Loss: {}/' \
    -e 's/    relative:  0.01/    absolute: 0\n    higher_is_better: false/' "$T/graph_optimization.yaml" >"$T/mixed.yaml"
"$LOWP" tune "$T/mixed.yaml" "$F/model.onnx" -w "$T/mixed_ws" --json -q >"$T/mixed.tune.json" 2>"$T/mixed.tune.err"
rc=$?
"$LOWP" eval "$T/mixed_ws/best_model.onnx" --config "$T/mixed.yaml" --json -q >"$T/mixed.eval.json" 2>>"$T/mixed.tune.err"
[ $rc = 3 ] && rc=0   # 3: the target was not met, which is what this case asks for
judge mixed_precision_not_met_tune $rc mixed.tune "/usr/bin/python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); e=json.load(open(sys.argv[2]))
sys.exit(0 if not r[\"met_target\"] and r[\"best\"] > r[\"target\"] and r[\"ops\"] == {\"int8\": 0, \"bf16\": 1, \"fp32\": 1} and
         abs(e[\"value\"] - r[\"best\"]) <= 1e-9 else 1)' $T/mixed.tune.json $T/mixed.eval.json"
# the same, with Conv_0 and the Gemm allowed both bf16 and fp32: basic falls back op by op from
# BF16 too (a BF16-only tune has no INT8 op to move): one trial per op with that op FP32 and the
# other BF16 (the all-FP32 point is the baseline, never a trial). Each still moves the loss, so
# the target stays unmet; before, the model-wise trial was the only one.
sed -e "s/'activation':  {'dtype': \\['bf16'\\]}/'activation':  {'dtype': ['bf16', 'fp32']}/" \
    -e "s/'activation':  {'dtype': \\['fp32'\\]}/'activation':  {'dtype': ['bf16', 'fp32']}/" "$T/mixed.yaml" >"$T/mixed2.yaml"
"$LOWP" tune "$T/mixed2.yaml" "$F/model.onnx" -w "$T/mixed2_ws" --json -q >"$T/mixed2.tune.json" 2>"$T/mixed2.tune.err"
rc=$?
[ $rc = 3 ] && rc=0   # 3: the target was not met (expected, see above)
judge mixed_precision_bf16_fallback_tune $rc mixed2.tune "[ \$(grep -c \"'bf16', 'fp32'\" $T/mixed2.yaml) = 2 ] && /usr/bin/python3 -c 'import json,sys
h=[json.loads(l) for l in open(sys.argv[1])][1:]
notes=[t[\"note\"] for t in h]
ok=len(h) >= 3 and h[0][\"precision\"] == {\"Conv_0\": \"bf16\", \"Gemm_174_MatMul\": \"bf16\"}
for op, other in ((\"Conv_0\", \"Gemm_174_MatMul\"), (\"Gemm_174_MatMul\", \"Conv_0\")):
    ok = ok and any(t[\"note\"] == \"fallback %s to fp32\" % op and t[\"precision\"] == {op: \"fp32\", other: \"bf16\"} for t in h)
sys.exit(0 if ok else print(notes) or 1)' $T/mixed2_ws/history.jsonl"
# refused: graph_optimization with quantization (separate components in LPOT), an unknown
# precision, an op_wise name that matches no node (quantize's message)
printf 'quantization: {approach: post_training_dynamic_quant}\n' >>"$T/mixed.yaml"
"$LOWP" quantize "$F/model.onnx" --config "$T/mixed.yaml" -o "$T/x.onnx" -q 2>"$T/x1.err"; r1=$?
sed 's/precisions: fp32, bf16/precisions: [fp32, fp16]/' "$T/graph_optimization.yaml" >"$T/x2.yaml"
"$LOWP" quantize "$F/model.onnx" --config "$T/x2.yaml" -o "$T/x.onnx" -q 2>"$T/x2.err"; r2=$?
sed "s/'GlobalAveragePool_2'/'pool1'/" "$T/graph_optimization.yaml" >"$T/x3.yaml"
"$LOWP" quantize "$F/model.onnx" --config "$T/x3.yaml" -o "$T/x.onnx" -q 2>"$T/x3.err"; r3=$?
if [ $r1 = 2 ] && grep -q "mixed_precision is a conversion of its own: it cannot stand with quantization" "$T/x1.err" &&
   [ $r2 = 2 ] && grep -q "graph_optimization.precisions.*'fp16' is not a precision lowp converts to" "$T/x2.err" &&
   [ $r3 = 2 ] && grep -q "graph_optimization.op_wise: 'pool1' at line .* matches no node of the model" "$T/x3.err"; then
    ok graph_optimization_refusals
else
    fail graph_optimization_refusals "$r1 $r2 $r3: $(cat "$T/x1.err" "$T/x2.err" "$T/x3.err")"
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

example ssd "$S" "$C/model.onnx"
# eval: 18 of the 20 listed images (one file missing, one without boxes), every square found
# at every COCO IoU threshold
judge ssd_example_eval $eval_rc ssd.eval \
    "grep -q '\"value\": *1[,.]' $T/ssd.eval.json && grep -q '\"samples\": *18' $T/ssd.eval.json"
# quantize: QOperator, the Conv in INT8; calibration on the 6 images with exactly one box
# (filter LabelBalance size 1)
judge ssd_example_quantize $q_rc ssd.q "grep -q '\"format\":\"qoperator\"' $T/ssd.q.json &&
    grep -q '\"int8_nodes\":1,' $T/ssd.q.json && grep -q '\"calibration_samples\":6,' $T/ssd.q.json && [ -s $T/ssd.q.onnx ]"
# tune: meets the absolute 0.01 criterion on COCOmAP
judge ssd_example_tune $tune_rc ssd.tune "grep -q '\"met_target\": true' $T/ssd.tune.json && [ -s $T/ssd_ws/best_model.onnx ]"

# anno_path (the instances file: categories 1..3 keep their numbers) is read and scores the same
"$LOWP" eval "$C/model.onnx" --config "$S" --metric "COCOmAP:anno_path=$C/annotations/instances_val2017.json" \
    --json -q >"$T/ssd_anno.json" 2>"$T/ssd_anno.err"
judge ssd_example_anno_path $? ssd_anno "grep -q '\"value\": *1[,.]' $T/ssd_anno.json"

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

# (the fixtures' toy bert and gpt2 have MatMuls below dynamic INT8's size threshold,
# docs/quantization.md: LOWP_DYNAMIC_MIN_MACS=0 quantizes them as LPOT's examples would)
export LOWP_DYNAMIC_MIN_MACS=0
example bert "$Q" "$B/model.onnx"
# eval: every answer span found (F1 100 over the 40 questions; exact match too)
"$LOWP" eval "$B/model.onnx" --config "$Q" --metric SquadF1:exact_match=true --json -q >"$T/bert_em.json" 2>>"$T/bert.eval.err"
judge bert_example_eval $eval_rc bert.eval "grep -q '\"metric\":\"SquadF1\",\"value\":100,\"samples\":40' $T/bert.eval.json &&
    grep -q '\"value\":100,' $T/bert_em.json"
# quantize: dynamic (integerops), the op_wise head kept FP32, the mixing MatMul in INT8
judge bert_example_quantize $q_rc bert.q "grep -q '\"approach\":\"dynamic\"' $T/bert.q.json &&
    grep -q '\"int8_nodes\":1,' $T/bert.q.json && grep -q '\"fp32_nodes\":1,' $T/bert.q.json && [ -s $T/bert.q.onnx ]"
# tune: meets the 1 % criterion on SquadF1
judge bert_example_tune $tune_rc bert.tune "grep -q '\"met_target\": true' $T/bert.tune.json && [ -s $T/bert_ws/best_model.onnx ]"

# ---- language modelling: LPOT's gpt2 example, scored against the FP32 model's outputs ----
G="$T/gpt2"
/usr/bin/python3 tools/make_lpot_fixture_gpt2.py "$G" || { fail gpt2_fixture "make_lpot_fixture_gpt2.py failed"; finish; exit; }
cat >"$T/gpt2.yaml" <<YAML
model:                                               # mandatory. used to specify model specific information.
  name: gpt2 
  framework: onnxrt_integerops                       # mandatory. possible values are tensorflow, mxnet, pytorch, pytorch_ipex, onnxrt_integerops and onnxrt_qlinearops.

quantization:
  approach: post_training_dynamic_quant              # optional. default value is post_training_static_quant.
  op_wise: {
     'Gather_*': {
     'activation':  {'dtype': ['fp32'], 'scheme':['sym']},
     'weight': {'dtype': ['fp32'], 'scheme':['sym']}
     }
   }

evaluation:
  accuracy:
    metric:
      MSE: 
        compare_label: False

tuning:
  accuracy_criterion:
    relative:  0.999                                 # optional. default value is relative, other value is absolute. this example allows relative accuracy loss: 1%.
  exit_policy:
    timeout: 0                                       # optional. tuning timeout (seconds). default value is 0 which means early stop. combine with max_trials field to decide when to exit.
  random_seed: 9527                                  # optional. random seed for deterministic tuning.
YAML
# The YAML has no dataloader (LPOT's gpt2 script builds one): the data comes from the command
# line; eval needs the FP32 model to compare with (--reference).
EVAL_ARGS="--dataset Npy:inputs=$G/input_ids.npy --reference $G/model.onnx" TUNE_ARGS="--eval Npy:inputs=$G/input_ids.npy"
example gpt2 "$T/gpt2.yaml" "$G/model.onnx"
EVAL_ARGS="" TUNE_ARGS=""
unset LOWP_DYNAMIC_MIN_MACS
# eval: the FP32 model against itself scores exactly 0
judge gpt2_example_eval $eval_rc gpt2.eval "grep -q '\"metric\":\"MSE\",\"value\":0,\"samples\":48' $T/gpt2.eval.json"
# quantize: dynamic in onnxrt_integerops' form (DynamicQuantizeLinear + MatMulInteger, as
# ONNX Runtime's dynamic quantizer writes it), both MatMuls in INT8
judge gpt2_example_quantize $q_rc gpt2.q "grep -q '\"approach\":\"dynamic\"' $T/gpt2.q.json &&
    grep -q '\"int8_nodes\":2,' $T/gpt2.q.json && \"$LOWP\" info $T/gpt2.q.onnx | grep -q 'MatMulInteger 2'"
# tune: the baseline is 0, so the relative criterion is measured against the FP32 logits' mean
# square (the fixture computes it in numpy): target = 0.999 x that, to float rounding (1e-6
# relative: the engine sums in float32); the int8 model meets it
judge gpt2_example_tune $tune_rc gpt2.tune "grep -q '\"met_target\": true' $T/gpt2.tune.json &&
    /usr/bin/python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); ms=float(open(sys.argv[2]).read());
sys.exit(0 if r[\"baseline\"] == 0 and abs(r[\"target\"] - 0.999 * ms) < 1e-6 * ms and 0 < r[\"best\"] < r[\"target\"] else 1)' \
        $T/gpt2.tune.json $G/logits_mean_square.txt"
# ... and the model it wrote scores what the tune said (eval against the FP32 model)
"$LOWP" eval "$T/gpt2_ws/best_model.onnx" --config "$T/gpt2.yaml" --dataset "Npy:inputs=$G/input_ids.npy" \
    --reference "$G/model.onnx" --json -q >"$T/gpt2_best.json" 2>"$T/gpt2_best.err"
judge gpt2_tuned_model_eval $? gpt2_best "/usr/bin/python3 -c 'import json,sys; v=json.load(open(sys.argv[1]))[\"value\"];
t=json.load(open(sys.argv[2])); sys.exit(0 if abs(v - t[\"best\"]) <= 1e-9 + 1e-6 * t[\"best\"] else 1)' $T/gpt2_best.json $T/gpt2.tune.json"

finish
