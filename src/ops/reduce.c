/* reduce.c — PLACEHOLDER: ops listed in ops.def for this family, not yet implemented. */
#include "ops/op.h"

const lp_op_def lp_opdef_ReduceMean = { .name = "ReduceMean" };
const lp_op_def lp_opdef_ReduceSum = { .name = "ReduceSum" };
const lp_op_def lp_opdef_ReduceMax = { .name = "ReduceMax" };
const lp_op_def lp_opdef_ReduceMin = { .name = "ReduceMin" };
const lp_op_def lp_opdef_ReduceProd = { .name = "ReduceProd" };
const lp_op_def lp_opdef_ReduceL2 = { .name = "ReduceL2" };
const lp_op_def lp_opdef_ArgMax = { .name = "ArgMax" };
const lp_op_def lp_opdef_Softmax = { .name = "Softmax" };
const lp_op_def lp_opdef_LogSoftmax = { .name = "LogSoftmax" };
