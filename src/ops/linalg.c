/* linalg.c — PLACEHOLDER: ops listed in ops.def for this family, not yet implemented. */
#include "ops/op.h"

const lp_op_def lp_opdef_Gemm = { .name = "Gemm" };
const lp_op_def lp_opdef_MatMul = { .name = "MatMul" };
const lp_op_def lp_opdef_Einsum = { .name = "Einsum" };
