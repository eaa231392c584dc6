/* qat.h — quantization-aware training graphs: from a QDQ model (what lp_quantize_graph writes
 * for a PTQ recipe) to a fake-quantized training graph, and back to standard QDQ ONNX.
 *
 * Prepare: every constant int8 weight behind a DequantizeLinear becomes a float weight (the
 * FP32 model's own, found by name, else the dequantized values) feeding a QuantizeLinear with
 * the same scale and zero point, so the forward computes what the PTQ model computes and the
 * float weight is trained through the straight-through estimator; int32 biases become float
 * biases. Activation Q -> DQ pairs stay as they are (their scales train with learn_scale).
 * Export: each weight QuantizeLinear is evaluated into an int8 constant again, and each float
 * bias of a Conv/Gemm between quantized input and weight is stored as int32 with scale
 * s_x * s_w (the scales in force after training), as lp_quantize_graph lays them out. */
#ifndef LP_TRAIN_QAT_H
#define LP_TRAIN_QAT_H

#include "quant/recipe.h"
#include "train/train.h"

/* `qdq`: the quantized graph; `fp32`: the optimized FP32 graph it came from (may be NULL).
 * `weight_bits` 8: the recipe's int8 weights; 2..7: narrower symmetric weights in int8
 * containers (scales max|w| / (2^(bits-1) - 1), a Clip to that range after the weight's
 * QuantizeLinear), which export as int8 QDQ weights that use only that range. */
lp_status lp_qat_prepare(const lp_graph *qdq, const lp_graph *fp32, int weight_bits, lp_graph **train_out);
lp_status lp_qat_export(const lp_graph *train, lp_graph **qdq_out);
/* Learnable zero points (LSQ+'s offsets), in place on a training graph: the integer zero point
 * z of every activation QuantizeLinear (per tensor, int8/uint8, constant scale s) and of its
 * DequantizeLinears becomes QuantizeLinear(b, s, 0), b = z s a float parameter: the forward is
 * unchanged until b moves by half a step, the straight-through estimator carries the gradient
 * to b, and lp_qat_export evaluates it into an integer zero point again. Weights stay symmetric.
 * *n_out (may be NULL): how many zero points became learnable. */
lp_status lp_qat_learn_zero_points(lp_graph *train, int *n_out);

/* The whole of quantization-aware training: calibrate `fp32` (a loaded model's graph) on
 * `calib` (up to `calib_samples` samples), quantize it per `recipe` with `weight_bits` weights
 * (the untrained result, plain rounding: *ptq_out, may be NULL), fine-tune the fake-quantized
 * graph on `data` per `o` (a KnowledgeDistillationLoss gets the FP32 model as its teacher),
 * export the QDQ graph (*qat_out). */
lp_status lp_qat_run(const lp_graph *fp32, const lp_recipe *recipe, lowp_dataloader *calib, int64_t calib_samples,
                     int weight_bits, lowp_dataloader *data, const lp_train_options *o, lp_train_result *result,
                     lp_graph **ptq_out, lp_graph **qat_out);

#endif
