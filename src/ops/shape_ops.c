/* shape_ops.c — PLACEHOLDER: ops listed in ops.def for this family, not yet implemented. */
#include "ops/op.h"

const lp_op_def lp_opdef_Flatten = { .name = "Flatten" };
const lp_op_def lp_opdef_Reshape = { .name = "Reshape" };
const lp_op_def lp_opdef_Transpose = { .name = "Transpose" };
const lp_op_def lp_opdef_Concat = { .name = "Concat" };
const lp_op_def lp_opdef_Split = { .name = "Split" };
const lp_op_def lp_opdef_Slice = { .name = "Slice" };
const lp_op_def lp_opdef_Squeeze = { .name = "Squeeze" };
const lp_op_def lp_opdef_Unsqueeze = { .name = "Unsqueeze" };
const lp_op_def lp_opdef_Gather = { .name = "Gather" };
const lp_op_def lp_opdef_Shape = { .name = "Shape" };
const lp_op_def lp_opdef_Size = { .name = "Size" };
const lp_op_def lp_opdef_Expand = { .name = "Expand" };
const lp_op_def lp_opdef_Tile = { .name = "Tile" };
const lp_op_def lp_opdef_Pad = { .name = "Pad" };
const lp_op_def lp_opdef_Resize = { .name = "Resize" };
const lp_op_def lp_opdef_Constant = { .name = "Constant" };
const lp_op_def lp_opdef_ConstantOfShape = { .name = "ConstantOfShape" };
const lp_op_def lp_opdef_Range = { .name = "Range" };
const lp_op_def lp_opdef_Identity = { .name = "Identity" };
const lp_op_def lp_opdef_Dropout = { .name = "Dropout" };
