/* nn.c — PLACEHOLDER: ops listed in ops.def for this family, not yet implemented. */
#include "ops/op.h"

const lp_op_def lp_opdef_Conv = { .name = "Conv" };
const lp_op_def lp_opdef_ConvTranspose = { .name = "ConvTranspose" };
const lp_op_def lp_opdef_MaxPool = { .name = "MaxPool" };
const lp_op_def lp_opdef_AveragePool = { .name = "AveragePool" };
const lp_op_def lp_opdef_GlobalAveragePool = { .name = "GlobalAveragePool" };
const lp_op_def lp_opdef_GlobalMaxPool = { .name = "GlobalMaxPool" };
const lp_op_def lp_opdef_BatchNormalization = { .name = "BatchNormalization" };
const lp_op_def lp_opdef_LayerNormalization = { .name = "LayerNormalization" };
const lp_op_def lp_opdef_InstanceNormalization = { .name = "InstanceNormalization" };
