/* infer.c — shape/type inference: builds each node's input vinfos and calls its op. */
#include "ir/infer.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/limits.h"

#include "base/limits.h"

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
    /* Trailing omitted optional inputs do not count, nor do a subgraph's implicit inputs. */
    int n_in = lp_node_n_explicit(n), n_out = n->n_out;
    while (n_in > 0 && n->in[n_in - 1] < 0)
        n_in--;
    if (n_in < op->min_in || n_in > op->max_in)
        return lp_node_error(n, LOWP_ERR_FORMAT, "has %d inputs, expected %d to %d", n_in, op->min_in, op->max_in);
    if (n_out < op->min_out || n_out > op->max_out)
        return lp_node_error(n, LOWP_ERR_FORMAT, "has %d outputs, expected %d to %d", n_out, op->min_out, op->max_out);
    /* Ops may read their required inputs without a NULL check: an omitted one is refused here
     * (the fuzzer's Clip with input 0 named "" read a NULL). */
    for (int k = 0; k < op->min_in && k < n->n_in; k++)
        if (!in[k] && !((op->optional_in >> k) & 1))
            return lp_node_error(n, LOWP_ERR_FORMAT, "input %d is required but omitted (empty name)", k);
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

static lp_status infer_graph(lp_graph *g, bool strict, int depth);

/* Types a subgraph's outer values from the enclosing node's implicit inputs (symbolic dims by
 * name: each graph has its own symbol table), then infers the subgraph. */
static lp_status infer_subgraphs(lp_graph *g, int ni, bool strict, int depth)
{
    if (depth + 1 > LP_MAX_GRAPH_NESTING)
        return lp_node_error(&g->nodes[ni], LOWP_ERR_UNSUPPORTED, "subgraphs nested more than %d deep",
                             LP_MAX_GRAPH_NESTING);
    lp_node *n = &g->nodes[ni];
    for (int a = 0; a < n->n_attr; a++) {
        lp_attr *at = &n->attrs[a];
        for (int k = 0; k < (at->g ? 1 : at->graphs ? at->n : 0); k++) {
            lp_graph *sub = at->g ? at->g : at->graphs[k];
            for (int j = 0; j < sub->n_outer && j < n->n_implicit; j++) {
                const lp_value *o = &g->values[n->in[lp_node_n_explicit(n) + j]];
                lp_value *v = &sub->values[sub->outer[j]];
                v->dtype = o->dtype;
                v->shape = o->shape;
                for (int d = 0; d < v->shape.ndim; d++) {
                    const char *sym = lp_graph_sym_name(g, o->shape.d[d]);
                    if (sym)
                        LP_TRY(lp_graph_sym(sub, sym, &v->shape.d[d]));
                }
            }
            LP_TRY(infer_graph(sub, strict, depth + 1));
        }
    }
    return LP_OK;
}

lp_status lp_graph_infer(lp_graph *g, bool strict) { return infer_graph(g, strict, 0); }

lp_status lp_graph_finish(lp_graph *g, lp_status st, lp_graph **out)
{
    if (st == LP_OK)
        st = lp_graph_compact(g);
    if (st == LP_OK)
        st = lp_graph_toposort(g);
    if (st == LP_OK)
        st = lp_graph_infer(g, false);
    if (st != LP_OK) {
        lp_graph_free(g);
        return st;
    }
    *out = g;
    return LP_OK;
}

static lp_status infer_graph(lp_graph *g, bool strict, int depth)
{
    lp_vinfo out[LP_MAX_NODE_IO];
    for (int i = 0; i < g->n_nodes; i++) {
        lp_node *n = &g->nodes[i];
        if (n->dead)
            continue;
        if (n->n_out > LP_MAX_NODE_IO)
            return lp_node_error(n, LOWP_ERR_UNSUPPORTED, "more than %d outputs", LP_MAX_NODE_IO);
        lp_status st = lp_node_infer(g, i, out);
        if (st == LP_OK && n->n_implicit) /* types inside bodies, for quantization and info */
            st = infer_subgraphs(g, i, strict, depth);
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

lp_status lp_fold_limit(uint64_t *bytes_out)
{
    const char *env = getenv("LOWP_FOLD_LIMIT");
    *bytes_out = LP_FOLD_LIMIT_DEFAULT;
    if (!env)
        return LP_OK;
    char *end;
    errno = 0;
    unsigned long long v = (*env >= '0' && *env <= '9') ? strtoull(env, &end, 10) : 0;
    int shift = 0;
    if (*env >= '0' && *env <= '9' && !errno) {
        shift = *end == 'K' ? 10 : *end == 'M' ? 20 : *end == 'G' ? 30 : 0;
        end += shift != 0;
    }
    if (!(*env >= '0' && *env <= '9') || errno || *end || v > (UINT64_MAX >> shift))
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "LOWP_FOLD_LIMIT='%s' is not a size (bytes, or a number with K, M or G)", env);
    *bytes_out = (uint64_t)v << shift;
    return LP_OK;
}

/* "1.5 GiB" style. */
static const char *human_bytes(uint64_t b, char *buf, size_t size)
{
    static const char *const units[] = { "bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
    double x = (double)b;
    int u = 0;
    while (x >= 1024 && u < 6)
        x /= 1024, u++;
    snprintf(buf, size, u ? "%.1f %s" : "%.0f %s", x, units[u]);
    return buf;
}

lp_status lp_node_eval(const lp_graph *g, int ni, lp_tensor **outs)
{
    bool over = false;
    LP_TRY(lp_node_eval_capped(g, ni, outs, &over));
    if (over)
        return LOWP_ERR_UNSUPPORTED; /* lp_node_eval_capped left the message */
    return LP_OK;
}

lp_status lp_node_eval_capped(const lp_graph *g, int ni, lp_tensor **outs, bool *over)
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
    /* What evaluating would materialize, checked before anything is allocated. */
    uint64_t limit, total = 0;
    bool big = false;
    lp_status st = lp_fold_limit(&limit);
    for (int k = 0; k < n->n_out && st == LP_OK; k++) {
        if (n->out[k] < 0 || vi[k].value || !lp_shape_static(&vi[k].shape))
            continue;
        uint64_t bytes = lp_dtype_traits_of(vi[k].dtype)->size;
        for (int d = 0; d < vi[k].shape.ndim; d++) {
            uint64_t dim = (uint64_t)vi[k].shape.d[d];
            big |= dim && bytes > UINT64_MAX / dim;
            bytes = big ? UINT64_MAX : bytes * dim;
        }
        total = total > UINT64_MAX - bytes ? UINT64_MAX : total + bytes;
    }
    /* Dequantizing a weight is how quantized models keep big layers: it may take 4x the bytes of
     * its integer input (which the file already held), whatever the cap; its input cannot be
     * another DequantizeLinear's float output, so this does not compound. */
    if (n->op == LP_OP_DequantizeLinear && n->n_in > 0 && n->in[0] >= 0 && g->values[n->in[0]].init &&
        g->values[n->in[0]].init->nbytes <= UINT64_MAX / 4 && 4 * (uint64_t)g->values[n->in[0]].init->nbytes > limit)
        limit = 4 * (uint64_t)g->values[n->in[0]].init->nbytes;
    *over = st == LP_OK && total > limit;
    if (st != LP_OK || *over) {
        char have[32], cap[32];
        if (*over)
            lp_node_error(n, LOWP_ERR_UNSUPPORTED, "folding it at compile time would materialize %s, more than the cap of %s "
                          "(set LOWP_FOLD_LIMIT to raise it, docs/limits.md)",
                          big || total == UINT64_MAX ? "more than 16 EiB" : human_bytes(total, have, sizeof have),
                          human_bytes(limit, cap, sizeof cap));
        lp_vinfo_release(vi, n->n_out);
        return st;
    }
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
        } else if ((st = lp_tensor_new(vi[k].dtype, vi[k].shape.ndim, vi[k].shape.d, &outs[k])) != LP_OK) {
            lp_error_prefix(st, "node '%s' (%s) output %d", n->name, n->op_type, k);
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
