/* infer.c — shape/type inference: builds each node's input vinfos and calls its op. */
#include "ir/infer.h"

#include <stdlib.h>
#include <string.h>

void lp_vinfo_release(lp_vinfo *out, int n)
{
    for (int i = 0; i < n; i++) {
        lp_tensor_free(out[i].value);
        out[i].value = NULL;
    }
}

lp_status lp_node_infer_with(const lp_graph *g, int ni, const lp_vinfo *const *in, lp_vinfo *out)
{
    const lp_node *n = &g->nodes[ni];
    if (n->op < 0)
        return lp_node_error(n, LOWP_ERR_UNSUPPORTED, "lowp has no operator '%s'%s%s", n->op_type,
                             *n->domain ? " in domain " : "", n->domain);
    const lp_op_def *op = lp_op_get(n->op);
    if (!op->infer)
        return lp_node_error(n, LOWP_ERR_UNSUPPORTED, "operator '%s' is not implemented yet", n->op_type);
    /* Trailing omitted optional inputs do not count. */
    int n_in = n->n_in, n_out = n->n_out;
    while (n_in > 0 && n->in[n_in - 1] < 0)
        n_in--;
    if (n_in < op->min_in || n_in > op->max_in)
        return lp_node_error(n, LOWP_ERR_FORMAT, "has %d inputs, expected %d to %d", n_in, op->min_in, op->max_in);
    if (n_out < op->min_out || n_out > op->max_out)
        return lp_node_error(n, LOWP_ERR_FORMAT, "has %d outputs, expected %d to %d", n_out, op->min_out, op->max_out);
    for (int k = 0; k < n->n_out; k++)
        memset(&out[k], 0, sizeof out[k]);
    lp_infer_ctx c = {
        .node = n,
        .opset = lp_graph_opset(g, n->domain),
        .n_in = n->n_in,
        .n_out = n->n_out,
        .in = in,
        .out = out,
    };
    lp_status st = op->infer(&c);
    if (st != LP_OK)
        lp_vinfo_release(out, n->n_out);
    return st;
}

lp_status lp_node_infer(const lp_graph *g, int ni, lp_vinfo *out)
{
    const lp_node *n = &g->nodes[ni];
    if (n->n_in > LP_MAX_NODE_IO)
        return lp_node_error(n, LOWP_ERR_UNSUPPORTED, "more than %d inputs", LP_MAX_NODE_IO);
    lp_vinfo ins[LP_MAX_NODE_IO];
    const lp_vinfo *inp[LP_MAX_NODE_IO];
    for (int k = 0; k < n->n_in; k++) {
        int v = n->in[k];
        if (v < 0) {
            inp[k] = NULL;
            continue;
        }
        const lp_value *val = &g->values[v];
        ins[k].dtype = val->dtype;
        ins[k].shape = val->shape;
        ins[k].value = val->init;
        inp[k] = &ins[k];
    }
    return lp_node_infer_with(g, ni, inp, out);
}

/* Keeps what is known: an inferred dim wins unless it is unknown and a declared one is not. */
static void merge_shape(lp_shape *have, const lp_shape *inferred)
{
    if (inferred->ndim < 0)
        return;
    if (have->ndim != inferred->ndim) {
        *have = *inferred;
        return;
    }
    for (int i = 0; i < have->ndim; i++) {
        int64_t d = inferred->d[i];
        if (lp_dim_known(d) || (d <= LP_DIM_SYM0 && !lp_dim_known(have->d[i])))
            have->d[i] = d; /* known beats symbolic beats unknown */
    }
}

lp_status lp_graph_infer(lp_graph *g, bool strict)
{
    lp_vinfo out[LP_MAX_NODE_IO];
    for (int i = 0; i < g->n_nodes; i++) {
        lp_node *n = &g->nodes[i];
        if (n->dead)
            continue;
        if (n->n_out > LP_MAX_NODE_IO)
            return lp_node_error(n, LOWP_ERR_UNSUPPORTED, "more than %d outputs", LP_MAX_NODE_IO);
        lp_status st = lp_node_infer(g, i, out);
        if (st != LP_OK) {
            if (strict)
                return st;
            continue;
        }
        for (int k = 0; k < n->n_out; k++) {
            if (n->out[k] < 0)
                continue;
            lp_value *v = &g->values[n->out[k]];
            if (out[k].dtype)
                v->dtype = out[k].dtype;
            merge_shape(&v->shape, &out[k].shape);
        }
        lp_vinfo_release(out, n->n_out);
    }
    return LP_OK;
}

lp_status lp_node_eval(const lp_graph *g, int ni, lp_tensor **outs)
{
    const lp_node *n = &g->nodes[ni];
    lp_vinfo vi[LP_MAX_NODE_IO];
    if (n->n_out > LP_MAX_NODE_IO || n->n_in > LP_MAX_NODE_IO)
        return lp_node_error(n, LOWP_ERR_UNSUPPORTED, "more than %d inputs or outputs", LP_MAX_NODE_IO);
    LP_TRY(lp_node_infer(g, ni, vi));
    const lp_tensor *ins[LP_MAX_NODE_IO];
    for (int k = 0; k < n->n_in; k++) {
        ins[k] = n->in[k] >= 0 ? g->values[n->in[k]].init : NULL;
        if (n->in[k] >= 0 && !ins[k]) {
            lp_vinfo_release(vi, n->n_out);
            return lp_node_error(n, LOWP_ERR_INTERNAL, "evaluated with a non-constant input");
        }
    }
    lp_status st = LP_OK;
    int need_run = 0;
    for (int k = 0; k < n->n_out; k++)
        outs[k] = NULL;
    for (int k = 0; k < n->n_out && st == LP_OK; k++) {
        if (n->out[k] < 0)
            continue;
        need_run |= !vi[k].value;
        if (vi[k].value) { /* infer computed it outright */
            outs[k] = vi[k].value;
            vi[k].value = NULL;
        } else if (!lp_shape_static(&vi[k].shape)) {
            st = lp_node_error(n, LOWP_ERR_SHAPE, "output %d has no static shape", k);
        } else {
            st = lp_tensor_new(vi[k].dtype, vi[k].shape.ndim, vi[k].shape.d, &outs[k]);
        }
    }
    lp_vinfo_release(vi, n->n_out);
    if (st == LP_OK && need_run) {
        lp_run_ctx c = {
            .node = n,
            .opset = lp_graph_opset(g, n->domain),
            .n_in = n->n_in,
            .n_out = n->n_out,
            .in = ins,
            .out = outs,
        };
        st = lp_op_get(n->op)->run(&c);
    }
    if (st != LP_OK)
        for (int k = 0; k < n->n_out; k++) {
            lp_tensor_free(outs[k]);
            outs[k] = NULL;
        }
    return st;
}
