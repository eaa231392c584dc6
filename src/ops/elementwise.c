/* elementwise.c — PLACEHOLDER: ops listed in ops.def for this family, not yet implemented. */
#include "ops/op.h"

const lp_op_def lp_opdef_Add = { .name = "Add" };
const lp_op_def lp_opdef_Sub = { .name = "Sub" };
const lp_op_def lp_opdef_Mul = { .name = "Mul" };
const lp_op_def lp_opdef_Div = { .name = "Div" };
const lp_op_def lp_opdef_Pow = { .name = "Pow" };
const lp_op_def lp_opdef_Sqrt = { .name = "Sqrt" };
const lp_op_def lp_opdef_Exp = { .name = "Exp" };
const lp_op_def lp_opdef_Log = { .name = "Log" };
const lp_op_def lp_opdef_Neg = { .name = "Neg" };
const lp_op_def lp_opdef_Abs = { .name = "Abs" };
const lp_op_def lp_opdef_Reciprocal = { .name = "Reciprocal" };
const lp_op_def lp_opdef_Erf = { .name = "Erf" };
const lp_op_def lp_opdef_Tanh = { .name = "Tanh" };
const lp_op_def lp_opdef_Sigmoid = { .name = "Sigmoid" };
const lp_op_def lp_opdef_HardSigmoid = { .name = "HardSigmoid" };
const lp_op_def lp_opdef_HardSwish = { .name = "HardSwish" };
const lp_op_def lp_opdef_Relu = { .name = "Relu" };
const lp_op_def lp_opdef_LeakyRelu = { .name = "LeakyRelu" };
const lp_op_def lp_opdef_Clip = { .name = "Clip" };
const lp_op_def lp_opdef_Equal = { .name = "Equal" };
const lp_op_def lp_opdef_Less = { .name = "Less" };
const lp_op_def lp_opdef_Greater = { .name = "Greater" };
const lp_op_def lp_opdef_Not = { .name = "Not" };
const lp_op_def lp_opdef_And = { .name = "And" };
const lp_op_def lp_opdef_Where = { .name = "Where" };
const lp_op_def lp_opdef_Cast = { .name = "Cast" };
