/* grad_index.c — one backward for every op that only moves data (Gather, Slice, Split, Pad,
 * Expand, Tile, GatherElements, GatherND, DepthToSpace, SpaceToDepth): the op's own reference
 * kernel is run on int64 tensors holding each element's position (+1, so that 0 marks a padded
 * element with no source), which tells where every output element came from; the backward
 * then adds each output gradient into its source. No per-op index arithmetic to get wrong, and
 * the forward's semantics (clamping, negative indices, modes) carry over as they are. */
#include <stdlib.h>
#include <string.h>

#include "train/grad.h"

static lp_status trace_backward(const lp_grad_ctx *c, unsigned data_in)
{
    const lp_op_def *op = lp_op_get(c->node->op);
    if (!op || c->n_in > 8 || c->n_out > 64)
        return lp_node_error(c->node, LOWP_ERR_UNSUPPORTED, "backward: unsupported arity");
    const lp_tensor *in[8] = { NULL };
    lp_tensor *traced[8] = { NULL }, *out[64] = { NULL }, *zero = NULL;
    lp_status st = LP_OK;
    int64_t base = 1;
    for (int k = 0; k < c->n_in && st == LP_OK; k++) {
        in[k] = c->in[k];
        if (!c->in[k] || !((data_in >> k) & 1u))
            continue;
        st = lp_grad_want_f32(c, c->in[k], "data");
        if (st == LP_OK)
            st = lp_tensor_new(LP_I64, c->in[k]->ndim, c->in[k]->dims, &traced[k]);
        for (int64_t i = 0; st == LP_OK && i < lp_tensor_numel(c->in[k]); i++)
            ((int64_t *)traced[k]->data)[i] = base + i;
        base += lp_tensor_numel(c->in[k]);
        in[k] = traced[k];
    }
    /* Pad's fill value: 0, "no source" (an int64 like the traced data) */
    if (st == LP_OK && !strcmp(c->node->op_type, "Pad")) {
        if (c->opset < 11 && lp_attr_float(c->node, "value", 0) != 0 &&
            !strcmp(lp_attr_str(c->node, "mode", "constant"), "constant"))
            st = lp_node_error(c->node, LOWP_ERR_UNSUPPORTED, "backward: a nonzero pad value before opset 11");
        else if (c->n_in > 2 && c->in[2]) {
            st = lp_tensor_new(LP_I64, 0, NULL, &zero);
            in[2] = zero;
        }
    }
    for (int k = 0; k < c->n_out && st == LP_OK; k++)
        if (c->out[k])
            st = lp_tensor_new(LP_I64, c->out[k]->ndim, c->out[k]->dims, &out[k]);
    if (st == LP_OK) {
        lp_run_ctx rc = { .node = c->node, .opset = c->opset, .n_in = c->n_in, .n_out = c->n_out,
                          .in = in, .out = out };
        st = op->run(&rc);
    }
    /* scatter: source index s (1-based over the data inputs in order) gets the gradient */
    for (int k = 0; k < c->n_out && st == LP_OK; k++) {
        if (!out[k] || !c->dout[k])
            continue;
        const int64_t *src = out[k]->data;
        const float *g = c->dout[k]->data;
        for (int64_t i = 0; i < lp_tensor_numel(out[k]); i++) {
            int64_t s = src[i] - 1;
            if (s < 0)
                continue; /* padding */
            for (int j = 0; j < c->n_in; j++) {
                if (!traced[j])
                    continue;
                int64_t n = lp_tensor_numel(traced[j]);
                if (s < n) {
                    if (c->din[j])
                        ((float *)c->din[j]->data)[s] += g[i];
                    break;
                }
                s -= n;
            }
        }
    }
    for (int k = 0; k < 8; k++)
        lp_tensor_free(traced[k]);
    for (int k = 0; k < 64; k++)
        lp_tensor_free(out[k]);
    lp_tensor_free(zero);
    return st;
}

static lp_status first_input_bw(const lp_grad_ctx *c) { return trace_backward(c, 1u); }

#define TRACE_ROW(op) const lp_grad_def lp_graddef_##op = { .name = #op, .diff_in = 1, .backward = first_input_bw };
TRACE_ROW(Gather)
TRACE_ROW(Slice)
TRACE_ROW(Split)
TRACE_ROW(Pad)
TRACE_ROW(Expand)
TRACE_ROW(Tile)
TRACE_ROW(GatherElements)
TRACE_ROW(GatherND)
TRACE_ROW(DepthToSpace)
TRACE_ROW(SpaceToDepth)
#undef TRACE_ROW
