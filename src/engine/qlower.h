/* qlower.h — the integer-operator (QOperator) form rewritten into the forms the oneDNN
 * backend runs fast, before a plan is compiled (engine/qlower.c). */
#ifndef LP_ENGINE_QLOWER_H
#define LP_ENGINE_QLOWER_H

#include "ir/graph.h"

/* Rewrites, in g and its control-flow bodies, each QLinearConv, QLinearMatMul and com.microsoft QGemm, QLinearAdd,
 * QLinearMul, QLinearSigmoid, QLinearLeakyRelu, QLinearConcat, QLinearGlobalAveragePool into
 * DequantizeLinear -> float op -> QuantizeLinear, and DynamicQuantizeMatMul /
 * MatMulIntegerToFloat into [DynamicQuantizeLinear ->] MatMulInteger -> Cast -> Mul -> [Add];
 * constant u8/s8 weights whose w - w_zero_point all fit int8 become s8 without a zero point
 * (exact). A node whose parameters are not the constants these forms need stays as it is.
 * The graph is compacted and sorted again; *n_lowered (may be NULL) counts the rewritten
 * nodes. Results equal the ops' own within one quantization step (see qlower.c). */
lp_status lp_lower_qoperators(lp_graph *g, int *n_lowered);

#endif
