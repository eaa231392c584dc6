/* quantize.h — turning an optimized FP32 graph into a QDQ graph per a recipe. */
#ifndef LP_QUANTIZE_H
#define LP_QUANTIZE_H

#include "quant/calibrate.h"
#include "quant/recipe.h"

/* Per-node capability (LPOT's query_fw_capability): which precisions node `ni` can take. */
typedef struct lp_capability {
    bool int8;                  /* a QDQ form exists that the engine lowers to INT8 kernels */
    bool bf16;
    bool weighted;              /* has a constant weight quantized per channel or per tensor */
    bool dynamic;               /* dynamic quantization rewrites it: a weighted int8 op, or an
                                   LSTM (-> com.microsoft DynamicQuantizeLSTM) */
} lp_capability;

lp_capability lp_quant_capability(const lp_graph *g, int ni);
/* Dynamic INT8 leaves float the weighted nodes (Conv, Gemm, MatMul with a constant weight) with
 * fewer than lp_dynamic_min_macs() multiply-adds per input element (quantize.c). */
double lp_dynamic_macs_per_input(const lp_graph *g, const lp_node *n);
double lp_dynamic_min_macs(void);

/* Scale and zero point for the clip range [lo, hi] (widened to include 0): uint8 asymmetric,
 * or int8 symmetric (zero point 0). A degenerate range gets scale 1. */
void lp_qparams(double lo, double hi, bool symmetric, float *scale, int32_t *zp);

/* A new graph: `g` (an optimized FP32 graph, as calibration sessions hold) with
 * QuantizeLinear/DequantizeLinear pairs on the activations of every int8 node, weights stored
 * as int8 (per channel when asked and opset >= 13) with DequantizeLinear, biases as int32 with
 * scale s_in*s_w. `cal` may be NULL only when no node needs activation statistics. */
lp_status lp_quantize_graph(const lp_graph *g, const lp_calibration *cal, const lp_recipe *r, lp_graph **out);

/* A copy of `src` for quantization: upgraded to ONNX opset 13 (ir/upgrade.h) when it imports an
 * older one, so that QuantizeLinear/DequantizeLinear and per-channel weights can be written. A
 * model at opset `need` or newer that cannot be upgraded is copied as it is; an older one fails,
 * naming `what` needs that opset and the node the upgrade could not convert. */
lp_status lp_quant_upgraded(const lp_graph *src, int64_t need, const char *what, lp_graph **out);

/* The float weights the static quantizer rounded (as equalization or SmoothQuant left them),
 * each by the name of its DequantizeLinear node in the quantized graph, with the integer bound
 * it was rounded to: what block reconstruction (recon/recon.h) rounds again. */
typedef struct lp_qweight {
    char *dq_node;
    lp_tensor *w;
    int qmax;
} lp_qweight;
typedef struct lp_qweights {
    int n, cap;
    lp_qweight *w;
} lp_qweights;
void lp_qweights_free(lp_qweights *k);
const lp_qweight *lp_qweights_find(const lp_qweights *k, const char *dq_node);
/* lp_quantize_graph that also fills `keep` (empty on entry; the caller frees it, also on
 * failure) with the main graph's rounded float weights. */
lp_status lp_quantize_graph_keep(const lp_graph *g, const lp_calibration *cal, const lp_recipe *r, lp_graph **out,
                                 lp_qweights *keep);

/* Records the recipe's bf16 nodes (those capable of it) in the model metadata entry
 * LP_META_BF16_NODES, which sessions turn into the engine's per-node precision. */
lp_status lp_recipe_mark_bf16(lp_graph *g, const lp_recipe *r);

/* The dynamic form of every int8 node with a constant weight (MatMul, Gemm, Conv):
 * DynamicQuantizeLinear on the activation, MatMulInteger/ConvInteger, scale and bias in float. */
lp_status lp_quantize_graph_dynamic(const lp_graph *g, const lp_recipe *r, lp_graph **out);

/* quant/fakequant.c — quantization-aware training's form of the weights: every int8 constant
 * behind a DequantizeLinear becomes a float constant behind QuantizeLinear -> DequantizeLinear
 * (the training engine trains it through the straight-through estimator); *n_out (may be
 * NULL) counts them. Folding quantizes the float weights back with the same scales, into the
 * integer range each had. */
lp_status lp_qdq_unfold_weights(lp_graph *g, int *n_out);
lp_status lp_qdq_fold_weights(lp_graph *g);

/* The QOperator form of a QDQ graph: DQ -> Conv|MatMul -> [Relu] -> Q chains become
 * QLinearConv / QLinearMatMul; everything else stays as it is. */
lp_status lp_qdq_to_qoperator(const lp_graph *g, lp_graph **out);

#endif
