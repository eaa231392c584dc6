/* passes.c — result-preserving rewrites: identity (and no-op Cast) removal, constant folding,
 * BN folding, dead-node removal. */
#include "ir/passes.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ir/infer.h"
#include "ir/subgraph.h"
#include "ops/op.h"

static bool is_graph_output(const lp_graph *g, int v) { return g->values[v].is_output; }

/* The value v stands for after removals: alias[] chains point upstream (path-compressed). */
static int resolve(int *alias, int v)
{
    int r = v;
    while (r >= 0 && alias[r] >= 0)
        r = alias[r];
    while (v >= 0 && alias[v] >= 0) {
        int next = alias[v];
        alias[v] = r;
        v = next;
    }
    return r;
}

/* A Cast to the type its input already has (float -> float after an FP16 model is widened):
 * the identity. Needs the input's dtype known (lp_graph_optimize infers first). */
static bool is_noop_cast(const lp_graph *g, const lp_node *n)
{
    if (n->op != LP_OP_Cast || n->n_in != 1 || n->in[0] < 0 || n->n_out != 1 || n->out[0] < 0)
        return false;
    lp_dtype t = g->values[n->in[0]].dtype;
    return lp_dtype_valid(t) && lp_attr_int(n, "to", 0) == (int64_t)t;
}

/* Linear: readers of a removed node's output are redirected through alias[] (resolved on
 * every read here, and once at the end), use counts are kept up to date instead of counted
 * per node. */
lp_status lp_pass_remove_identity(lp_graph *g)
{
    int *uses = NULL, *alias = malloc(((size_t)g->n_values + 1) * sizeof *alias);
    if (!alias || lp_graph_use_counts(g, &uses) != LP_OK) {
        free(alias);
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory removing Identity nodes");
    }
    for (int v = 0; v < g->n_values; v++)
        alias[v] = -1;
    for (int i = 0; i < g->n_nodes; i++) {
        lp_node *n = &g->nodes[i];
        if (n->dead || (n->op != LP_OP_Identity && n->op != LP_OP_Dropout && !is_noop_cast(g, n)) || n->n_in < 1 ||
            n->in[0] < 0 || n->out[0] < 0)
            continue;
        for (int k = 0; k < n->n_in; k++)
            n->in[k] = resolve(alias, n->in[k]);
        if (n->op == LP_OP_Dropout) {
            if (n->n_out > 1 && n->out[1] >= 0 && uses[n->out[1]] > 0)
                continue; /* the mask is read */
            if (n->n_in > 2 && n->in[2] >= 0) { /* training_mode: only a constant false is inference */
                const lp_tensor *t = g->values[n->in[2]].init;
                if (!t || lp_tensor_numel(t) != 1 || lp_tensor_get(t, 0) != 0.0)
                    continue;
            }
        }
        int in = n->in[0], out = n->out[0];
        if (!is_graph_output(g, out)) {
            alias[out] = in; /* readers of out now read in */
            uses[in] += uses[out] - 1;
            uses[out] = 0;
            for (int k = 1; k < n->n_in; k++)
                if (n->in[k] >= 0)
                    uses[n->in[k]]--;
            n->dead = true;
            continue;
        }
        /* The output is a graph output: let the producer of `in` write `out` directly, if
         * `in` is a plain intermediate that only this node reads. */
        int p = g->values[in].producer;
        if (p < 0 || is_graph_output(g, in) || uses[in] != 1)
            continue;
        lp_node *pn = &g->nodes[p];
        for (int k = 0; k < pn->n_out; k++)
            if (pn->out[k] == in)
                pn->out[k] = out;
        g->values[out].producer = p;
        g->values[in].producer = -1;
        uses[in] = 0;
        for (int k = 1; k < n->n_in; k++)
            if (n->in[k] >= 0)
                uses[n->in[k]]--;
        n->dead = true;
    }
    for (int i = 0; i < g->n_nodes; i++)
        for (int k = 0; !g->nodes[i].dead && k < g->nodes[i].n_in; k++)
            g->nodes[i].in[k] = resolve(alias, g->nodes[i].in[k]);
    free(alias);
    free(uses);
    lp_graph_link(g);
    return LP_OK;
}

lp_status lp_pass_fold_constants(lp_graph *g, const lp_pass_options *opt)
{
    lp_tensor *outs[LP_MAX_NODE_IO];
    for (int i = 0; i < g->n_nodes; i++) {
        lp_node *n = &g->nodes[i];
        if (n->dead || n->op < 0 || !lp_op_implemented(n->op) || n->n_out > LP_MAX_NODE_IO)
            continue;
        if (opt && opt->keep_dequantize && n->op == LP_OP_DequantizeLinear)
            continue;
        bool all_const = true;
        for (int k = 0; k < n->n_in && all_const; k++)
            all_const = n->in[k] < 0 || g->values[n->in[k]].kind == LP_VALUE_CONST;
        if (!all_const)
            continue;
        bool over;
        lp_status st = lp_node_eval_capped(g, i, outs, &over);
        if (st != LP_OK)
            return st;
        if (over)
            continue; /* too big to fold: the node stays and runs (or the plan refuses it) */
        for (int k = 0; k < n->n_out; k++) {
            if (n->out[k] < 0)
                continue;
            lp_graph_set_const(g, n->out[k], outs[k]);
        }
        n->dead = true;
    }
    lp_graph_link(g);
    return LP_OK;
}

static const lp_tensor *const_f32(const lp_graph *g, const lp_node *n, int k)
{
    if (k >= n->n_in || n->in[k] < 0)
        return NULL;
    const lp_tensor *t = g->values[n->in[k]].init;
    return t && t->dtype == LP_F32 ? t : NULL;
}

/* Folds BN(y) = s*(y - mean) + beta, s = gamma/sqrt(var+eps), into a per-channel scale of the
 * producer's weights and a new bias. `axis_w` tells how output channels lie in W. */
static lp_status fold_one(lp_graph *g, int pi, int bi)
{
    lp_node *p = &g->nodes[pi], *bn = &g->nodes[bi];
    const lp_tensor *gamma = const_f32(g, bn, 1), *beta = const_f32(g, bn, 2), *mean = const_f32(g, bn, 3),
                    *var = const_f32(g, bn, 4), *w = const_f32(g, p, 1);
    if (!gamma || !beta || !mean || !var || !w)
        return LP_OK;
    int64_t c = lp_tensor_numel(gamma);
    if (lp_tensor_numel(beta) != c || lp_tensor_numel(mean) != c || lp_tensor_numel(var) != c)
        return LP_OK;
    bool conv = p->op == LP_OP_Conv;
    int64_t trans_b = conv ? 0 : lp_attr_int(p, "transB", 0);
    /* Output channel k of W: Conv: W[k, ...]; Gemm transB: W[k, :]; Gemm: W[:, k]. */
    if (w->ndim < 2 || (conv || trans_b ? w->dims[0] : w->dims[1]) != c)
        return LP_OK;
    if (!conv && (w->ndim != 2 || lp_attr_float(p, "alpha", 1.0f) != 1.0f))
        return LP_OK;
    if (bn->n_out > 1)
        for (int k = 1; k < bn->n_out; k++)
            if (bn->out[k] >= 0)
                return LP_OK; /* training outputs */
    const lp_tensor *bias = NULL;
    float gemm_beta = conv ? 1.0f : lp_attr_float(p, "beta", 1.0f);
    int bias_in = 2;
    if (p->n_in > 2 && p->in[2] >= 0) {
        bias = const_f32(g, p, 2);
        if (!bias || lp_tensor_numel(bias) != c || (bias->ndim == 2 && bias->dims[1] != c) || bias->ndim > 2)
            return LP_OK;
    }
    float eps = lp_attr_float(bn, "epsilon", 1e-5f);
    lp_tensor *nw = NULL, *nb = NULL;
    int64_t bdims[1] = { c };
    LP_TRY(lp_tensor_clone(w, &nw));
    lp_status st = lp_tensor_new(LP_F32, 1, bdims, &nb);
    if (st != LP_OK) {
        lp_tensor_free(nw);
        return st;
    }
    const float *gm = gamma->data, *bt = beta->data, *mn = mean->data, *vr = var->data;
    float *wd = nw->data, *bd = nb->data;
    int64_t per = lp_tensor_numel(w) / c;
    for (int64_t k = 0; k < c; k++) {
        double s = gm[k] / sqrt((double)vr[k] + eps);
        double b0 = bias ? gemm_beta * ((const float *)bias->data)[k] : 0.0;
        bd[k] = (float)((b0 - mn[k]) * s + bt[k]);
        if (conv || trans_b)
            for (int64_t j = 0; j < per; j++)
                wd[k * per + j] = (float)(wd[k * per + j] * s);
        else
            for (int64_t j = 0; j < w->dims[0]; j++)
                wd[j * c + k] = (float)(wd[j * c + k] * s);
    }
    int wv, bv;
    char prefix[300];
    snprintf(prefix, sizeof prefix, "%s_W_bnfold", p->name);
    if ((st = lp_graph_new_value(g, prefix, &wv)) != LP_OK)
        goto fail;
    lp_graph_set_const(g, wv, nw);
    nw = NULL;
    snprintf(prefix, sizeof prefix, "%s_B_bnfold", p->name);
    if ((st = lp_graph_new_value(g, prefix, &bv)) != LP_OK)
        goto fail;
    lp_graph_set_const(g, bv, nb);
    nb = NULL;
    p = &g->nodes[pi]; /* the values array may have moved; nodes did not, but be plain */
    bn = &g->nodes[bi];
    p->in[1] = wv;
    if (p->n_in > bias_in) {
        p->in[bias_in] = bv;
    } else {
        int *in = realloc(p->in, 3 * sizeof *in);
        if (!in) {
            st = lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
            goto fail;
        }
        p->in = in;
        p->in[2] = bv;
        p->n_in = 3;
    }
    if (!conv) { /* Gemm: the new bias already includes beta */
        for (int k = 0; k < p->n_attr; k++)
            if (strcmp(p->attrs[k].name, "beta") == 0)
                p->attrs[k].f = 1.0f;
    }
    /* The producer now writes the BN's output. */
    int old = p->out[0];
    p->out[0] = bn->out[0];
    g->values[bn->out[0]].producer = pi;
    g->values[old].producer = -1;
    bn->dead = true;
    return LP_OK;
fail:
    lp_tensor_free(nw);
    lp_tensor_free(nb);
    return st;
}

lp_status lp_pass_fold_batchnorm(lp_graph *g)
{
    int *uses, n_uses = g->n_values; /* fold_one adds constants past n_uses; BNs never read them */
    LP_TRY(lp_graph_use_counts(g, &uses));
    for (int i = 0; i < g->n_nodes; i++) {
        lp_node *bn = &g->nodes[i];
        if (bn->dead || bn->op != LP_OP_BatchNormalization || bn->n_in < 5 || bn->in[0] < 0)
            continue;
        if (lp_attr_int(bn, "training_mode", 0))
            continue;
        int pi = g->values[bn->in[0]].producer;
        /* the BN must be the only reader (graph outputs count as readers) */
        if (pi < 0 || g->nodes[pi].dead || bn->in[0] >= n_uses || uses[bn->in[0]] != 1)
            continue;
        int op = g->nodes[pi].op;
        if (op != LP_OP_Conv && op != LP_OP_Gemm)
            continue;
        lp_status st = fold_one(g, pi, i);
        if (st != LP_OK) {
            free(uses);
            return st;
        }
    }
    free(uses);
    lp_graph_link(g);
    return LP_OK;
}

/* A worklist over use counts: a node dies when none of its outputs is read; its inputs lose
 * a reader, which may kill their producers in turn. Linear in nodes + edges. */
lp_status lp_pass_dead_nodes(lp_graph *g)
{
    lp_graph_link(g);
    /* every live node once, plus a producer per value whose count reaches 0 */
    int *uses = NULL, *work = malloc(((size_t)g->n_nodes + (size_t)g->n_values + 1) * sizeof *work), nw = 0;
    if (!work || lp_graph_use_counts(g, &uses) != LP_OK) {
        free(work);
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory removing dead nodes");
    }
    for (int i = g->n_nodes - 1; i >= 0; i--)
        if (!g->nodes[i].dead)
            work[nw++] = i;
    while (nw) {
        lp_node *n = &g->nodes[work[--nw]];
        if (n->dead)
            continue;
        bool used = false;
        for (int k = 0; k < n->n_out && !used; k++)
            used = n->out[k] >= 0 && uses[n->out[k]] > 0;
        if (used)
            continue;
        n->dead = true;
        for (int k = 0; k < n->n_in; k++) {
            int v = n->in[k];
            if (v < 0 || --uses[v] > 0)
                continue;
            int p = g->values[v].producer;
            if (p >= 0 && !g->nodes[p].dead)
                work[nw++] = p;
        }
    }
    free(work);
    free(uses);
    return LP_OK;
}

lp_status lp_pass_fold_if(lp_graph *g, bool *changed)
{
    *changed = false;
    for (int i = 0; i < g->n_nodes; i++) {
        bool inlined;
        LP_TRY(lp_graph_inline_if(g, i, &inlined));
        *changed |= inlined;
    }
    return LP_OK;
}

lp_status lp_pass_bind_outer_constants(lp_graph *g)
{
    for (int i = 0; i < g->n_nodes; i++) {
        lp_node *n = &g->nodes[i];
        int ne = lp_node_n_explicit(n);
        for (int j = n->n_implicit - 1; j >= 0; j--) {
            const lp_value *v = &g->values[n->in[ne + j]];
            if (v->kind != LP_VALUE_CONST)
                continue;
            for (int a = 0; a < n->n_attr; a++) {
                lp_attr *at = &n->attrs[a];
                for (int k = 0; k < (at->g ? 1 : at->graphs ? at->n : 0); k++) {
                    lp_graph *sub = at->g ? at->g : at->graphs[k];
                    lp_tensor *t;
                    if (j >= sub->n_outer)
                        return lp_node_error(n, LOWP_ERR_INTERNAL, "a subgraph lacks outer value %d", j);
                    LP_TRY(lp_tensor_clone(v->init, &t));
                    lp_graph_set_const(sub, sub->outer[j], t);
                    memmove(sub->outer + j, sub->outer + j + 1, (size_t)(sub->n_outer - j - 1) * sizeof *sub->outer);
                    sub->n_outer--;
                }
            }
            memmove(n->in + ne + j, n->in + ne + j + 1, (size_t)(n->n_implicit - j - 1) * sizeof *n->in);
            n->n_in--;
            n->n_implicit--;
        }
    }
    return LP_OK;
}

static lp_status optimize_sub(void *user, lp_graph *sub, lp_graph *parent, int node, int depth)
{
    (void)parent; (void)node; (void)depth;
    lp_status st = lp_graph_optimize(sub, user);
    return st == LP_OK ? LP_OK : lp_error_prefix(st, "subgraph '%s'", sub->name ? sub->name : "");
}

lp_status lp_graph_optimize(lp_graph *g, const lp_pass_options *opt)
{
    LP_TRY(lp_graph_toposort(g));
    for (int i = 0; i < g->n_nodes; i++)
        if (g->nodes[i].op == LP_OP_Cast) { /* types, so that no-op Casts are seen */
            LP_TRY(lp_graph_infer(g, false));
            break;
        }
    LP_TRY(lp_pass_remove_identity(g));
    LP_TRY(lp_pass_fold_constants(g, opt));
    /* an If decided by constants becomes its branch, whose own constants then fold (its
     * nested Ifs come along and are decided in turn: at most LP_MAX_GRAPH_NESTING rounds) */
    for (bool changed = true; changed;) {
        LP_TRY(lp_pass_fold_if(g, &changed));
        if (changed) {
            LP_TRY(lp_graph_toposort(g));
            LP_TRY(lp_pass_remove_identity(g));
            LP_TRY(lp_pass_fold_constants(g, opt));
        }
    }
    /* constants a body reads from here become its own (folding, quantization and the engine's
     * sub-plans see them there); bodies are then optimized on their own (each graph's walk visits its direct subgraphs; the
     * recursion goes one level per call, bounded by the nesting checked on load) */
    LP_TRY(lp_pass_bind_outer_constants(g));
    for (int i = 0; i < g->n_nodes; i++)
        for (int a = 0; a < g->nodes[i].n_attr; a++) {
            lp_attr *at = &g->nodes[i].attrs[a];
            for (int k = 0; k < (at->g ? 1 : at->graphs ? at->n : 0); k++)
                LP_TRY(optimize_sub((void *)opt, at->g ? at->g : at->graphs[k], g, i, 1));
        }
    LP_TRY(lp_pass_fold_batchnorm(g));
    LP_TRY(lp_pass_dead_nodes(g));
    LP_TRY(lp_graph_compact(g));
    LP_TRY(lp_graph_toposort(g));
    return lp_graph_infer(g, false);
}
