/* quant.c — PLACEHOLDER: ops listed in ops.def for this family, not yet implemented. */
#include "ops/op.h"

const lp_op_def lp_opdef_QuantizeLinear = { .name = "QuantizeLinear" };
const lp_op_def lp_opdef_DequantizeLinear = { .name = "DequantizeLinear" };
const lp_op_def lp_opdef_DynamicQuantizeLinear = { .name = "DynamicQuantizeLinear" };
const lp_op_def lp_opdef_QLinearConv = { .name = "QLinearConv" };
const lp_op_def lp_opdef_QLinearMatMul = { .name = "QLinearMatMul" };
const lp_op_def lp_opdef_MatMulInteger = { .name = "MatMulInteger" };
const lp_op_def lp_opdef_ConvInteger = { .name = "ConvInteger" };
