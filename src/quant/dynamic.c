/* dynamic.c — post-training dynamic quantization: weights int8 offline, activations quantized
 * per batch at run time. Exported in standard ONNX as
 *   X -> DynamicQuantizeLinear -> (Xq, Xs, Xzp)
 *   MatMulInteger(Xq, Wq, Xzp, Wzp) | ConvInteger(...) -> int32 -> Cast -> Mul(Xs * Ws) [-> Add bias]
 * the form ONNX Runtime's dynamic quantizer emits and runs: weights per tensor by default, int8
 * symmetric for MatMulInteger, uint8 asymmetric for ConvInteger (ORT refuses per-channel weight
 * zero points there, and runs int8 weights several times slower). An LSTM becomes com.microsoft's
 * DynamicQuantizeLSTM (int8 W and R, transposed), as ONNX Runtime's quantizer makes it. GRU and
 * RNN stay float32: no standard or ONNX Runtime op takes their weights in 8 bits. */
#include <stdlib.h>
#include <string.h>

#include "base/limits.h"
#include "ir/infer.h"
#include "ops/op.h"
#include "quant/build.h"
#include "quant/quantize.h"

typedef struct dq_entry {
    int x, xq, xs, xzp;
} dq_entry;

typedef struct dctx {
    lp_graph *g;
    dq_entry *cache;
    int n, cap;
} dctx;

/* One DynamicQuantizeLinear per activation, shared by its readers. */
static lp_status dyn_quant(dctx *d, int x, dq_entry *out)
{
    for (int i = 0; i < d->n; i++)
        if (d->cache[i].x == x) {
            *out = d->cache[i];
            return LP_OK;
        }
    lp_graph *g = d->g;
    char name[512];
    dq_entry e = { .x = x };
    int outs[3];
    snprintf(name, sizeof name, "%s_quantized", g->values[x].name);
    LP_TRY(lp_qb_value(g, name, &e.xq));
    snprintf(name, sizeof name, "%s_scale", g->values[x].name);
    LP_TRY(lp_qb_value(g, name, &e.xs));
    snprintf(name, sizeof name, "%s_zero_point", g->values[x].name);
    LP_TRY(lp_qb_value(g, name, &e.xzp));
    outs[0] = e.xq;
    outs[1] = e.xs;
    outs[2] = e.xzp;
    snprintf(name, sizeof name, "%s_DynamicQuantizeLinear", g->values[x].name);
    LP_TRY(lp_qb_node(g, "DynamicQuantizeLinear", name, 1, &x, 3, outs, NULL));
    if (d->n == d->cap) {
        int cap = d->cap ? 2 * d->cap : 16;
        dq_entry *c = realloc(d->cache, (size_t)cap * sizeof *c);
        if (!c)
            return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
        d->cache = c;
        d->cap = cap;
    }
    d->cache[d->n++] = e;
    *out = e;
    return LP_OK;
}

/* A float constant copy of `t` transposed (2-D). */
static lp_status transpose2d(const lp_tensor *t, lp_tensor **out)
{
    int64_t dims[2] = { t->dims[1], t->dims[0] };
    LP_TRY(lp_tensor_new(LP_F32, 2, dims, out));
    const float *s = t->data;
    float *d = (*out)->data;
    for (int64_t i = 0; i < t->dims[0]; i++)
        for (int64_t j = 0; j < t->dims[1]; j++)
            d[j * t->dims[0] + i] = s[i * t->dims[1] + j];
    return LP_OK;
}

/* Float constant of shape `dims` from `vals` (n entries). */
static lp_status float_const(lp_graph *g, const char *name, int ndim, const int64_t *dims, const float *vals, int *v)
{
    lp_tensor *t;
    LP_TRY(lp_tensor_new(LP_F32, ndim, dims, &t));
    memcpy(t->data, vals, t->nbytes);
    return lp_qb_const(g, name, t, v);
}

static lp_status rewrite(dctx *d, int ni, bool per_channel)
{
    lp_graph *g = d->g;
    lp_node n = g->nodes[ni]; /* a copy: adding nodes may move the array */
    const char *nm = n.name;
    char name[512];
    bool conv = n.op == LP_OP_Conv, gemm = n.op == LP_OP_Gemm;
    int x = n.in[0], y = n.out[0];
    const lp_tensor *w = g->values[n.in[1]].init;
    lp_tensor *wf = NULL;
    if (gemm && lp_attr_int(&g->nodes[ni], "transB", 0))
        LP_TRY(transpose2d(w, &wf)); /* MatMulInteger wants (K, N) */
    const lp_tensor *wk = wf ? wf : w;
    int axis = per_channel ? (conv ? 0 : 1) : -1;
    lp_tensor *q = NULL;
    float *sc = NULL;
    int64_t nsc = 0;
    int32_t zp = 0;
    /* what ONNX Runtime's dynamic quantizer writes and runs fast: ConvInteger with uint8
     * weights, MatMulInteger with int8 ones; one weight zero point (per-channel scales are
     * applied after the integer op) */
    lp_status st = lp_quantize_weight_as(wk, axis, conv ? LP_U8 : LP_I8, &q, &sc, &nsc, &zp);
    lp_tensor_free(wf);
    LP_TRY(st);
    int wq, wzp, ws, yi, yf, s, yo;
    snprintf(name, sizeof name, "%s_weight_quantized", nm);
    st = lp_qb_const(g, name, q, &wq);
    if (st == LP_OK) {
        snprintf(name, sizeof name, "%s_weight_zero_point", nm);
        st = lp_qb_scalar(g, name, conv ? LP_U8 : LP_I8, zp, &wzp);
    }
    if (st == LP_OK) { /* weight scale shaped to broadcast over the output: (N) or (1,M,1,1) */
        int64_t sd[4] = { 1, nsc, 1, 1 }, vd[1] = { nsc };
        int out_rank = g->values[y].shape.ndim;
        snprintf(name, sizeof name, "%s_weight_scale", nm);
        if (axis < 0)
            st = float_const(g, name, 0, vd, sc, &ws);
        else if (conv)
            st = float_const(g, name, out_rank > 2 ? out_rank : 4, sd, sc, &ws);
        else
            st = float_const(g, name, 1, vd, sc, &ws);
    }
    free(sc);
    dq_entry e = { .x = -1 };
    if (st == LP_OK)
        st = dyn_quant(d, x, &e);
    if (st != LP_OK)
        return st;
    snprintf(name, sizeof name, "%s_int32", nm);
    LP_TRY(lp_qb_value(g, name, &yi));
    int ins[4] = { e.xq, wq, e.xzp, wzp }, idx;
    snprintf(name, sizeof name, "%s_%s", nm, conv ? "ConvInteger" : "MatMulInteger");
    LP_TRY(lp_qb_node(g, conv ? "ConvInteger" : "MatMulInteger", name, 4, ins, 1, &yi, &idx));
    if (conv) { /* the convolution's geometry carries over */
        const lp_node *src = &g->nodes[ni];
        for (int k = 0; k < src->n_attr; k++) {
            lp_attr a = src->attrs[k];
            LP_TRY(lp_node_add_attr(&g->nodes[idx], &a));
        }
    }
    snprintf(name, sizeof name, "%s_float", nm);
    LP_TRY(lp_qb_value(g, name, &yf));
    snprintf(name, sizeof name, "%s_Cast", nm);
    LP_TRY(lp_qb_node(g, "Cast", name, 1, &yi, 1, &yf, &idx));
    LP_TRY(lp_qb_attr_int(g, idx, "to", LP_F32));
    snprintf(name, sizeof name, "%s_scale", nm);
    LP_TRY(lp_qb_value(g, name, &s));
    int ms[2] = { e.xs, ws };
    snprintf(name, sizeof name, "%s_scale_Mul", nm);
    LP_TRY(lp_qb_node(g, "Mul", name, 2, ms, 1, &s, NULL));
    /* bias: Conv B (M) as (1,M,1,1); Gemm C times beta; alpha folds into the scale below */
    int bias = -1;
    const lp_node *src = &g->nodes[ni];
    if (src->n_in > 2 && src->in[2] >= 0) {
        const lp_value *bv = &g->values[src->in[2]];
        if (bv->kind != LP_VALUE_CONST || bv->init->dtype != LP_F32)
            return lp_node_error(src, LOWP_ERR_UNSUPPORTED, "dynamic quantization needs a constant float bias");
        lp_tensor *b;
        LP_TRY(lp_tensor_clone(bv->init, &b));
        if (conv) {
            int64_t m = lp_tensor_numel(b);
            int r = g->values[y].shape.ndim > 2 ? g->values[y].shape.ndim : 4;
            b->ndim = r;
            b->dims[0] = 1;
            b->dims[1] = m;
            for (int k = 2; k < r; k++)
                b->dims[k] = 1;
        } else {
            float beta = lp_attr_float(src, "beta", 1.0f);
            for (int64_t k = 0; k < lp_tensor_numel(b); k++)
                ((float *)b->data)[k] *= beta;
        }
        snprintf(name, sizeof name, "%s_bias", nm);
        LP_TRY(lp_qb_const(g, name, b, &bias));
    }
    float alpha = gemm ? lp_attr_float(&g->nodes[ni], "alpha", 1.0f) : 1.0f;
    int scaled = s;
    if (alpha != 1.0f) {
        int a, sa;
        snprintf(name, sizeof name, "%s_alpha", nm);
        LP_TRY(lp_qb_scalar(g, name, LP_F32, alpha, &a));
        snprintf(name, sizeof name, "%s_scale_alpha", nm);
        LP_TRY(lp_qb_value(g, name, &sa));
        int in2[2] = { s, a };
        snprintf(name, sizeof name, "%s_alpha_Mul", nm);
        LP_TRY(lp_qb_node(g, "Mul", name, 2, in2, 1, &sa, NULL));
        scaled = sa;
    }
    g->nodes[ni].dead = true; /* the original node goes; its output is rewritten below */
    g->values[y].producer = -1;
    if (bias >= 0) {
        snprintf(name, sizeof name, "%s_nobias", nm);
        LP_TRY(lp_qb_value(g, name, &yo));
    } else {
        yo = y;
    }
    int mo[2] = { yf, scaled };
    snprintf(name, sizeof name, "%s_output_Mul", nm);
    LP_TRY(lp_qb_node(g, "Mul", name, 2, mo, 1, &yo, NULL));
    if (bias >= 0) {
        int ad[2] = { yo, bias };
        snprintf(name, sizeof name, "%s_bias_Add", nm);
        LP_TRY(lp_qb_node(g, "Add", name, 2, ad, 1, &y, NULL));
    }
    return LP_OK;
}

/* ---- LSTM -> com.microsoft DynamicQuantizeLSTM (what ONNX Runtime's dynamic quantizer emits) ---- */

/* W or R (D, 4H, K) as int8 (D, K, 4H), symmetric, one scale per direction or per (direction,
 * gate row); adds the weight, its scale and its zero point (int8 zeros) as constants. */
static lp_status lstm_weight(lp_graph *g, const char *nm, const char *what, const lp_tensor *w, bool per_channel,
                             int *wq, int *ws, int *wzp)
{
    int64_t D = w->dims[0], N = w->dims[1], K = w->dims[2];
    lp_tensor flat = *w; /* per channel: the rows of (D*4H, K); else the directions of (D, 4H*K) */
    flat.ndim = 2;
    flat.dims[0] = per_channel ? D * N : D;
    flat.dims[1] = per_channel ? K : N * K;
    lp_tensor *q = NULL, *qt = NULL, *sc_t = NULL, *zp = NULL;
    float *sc = NULL;
    int64_t nsc = 0;
    LP_TRY(lp_quantize_weight(&flat, 0, &q, &sc, &nsc));
    int64_t td[3] = { D, K, N }, sd[2] = { D, N };
    lp_status st = lp_tensor_new(LP_I8, 3, td, &qt);
    if (st == LP_OK)
        st = lp_tensor_new(LP_F32, per_channel ? 2 : 1, sd, &sc_t);
    if (st == LP_OK)
        st = lp_tensor_new(LP_I8, per_channel ? 2 : 1, sd, &zp);
    if (st == LP_OK) {
        const int8_t *a = q->data;
        int8_t *b = qt->data;
        for (int64_t d = 0; d < D; d++) /* (D, N, K) -> (D, K, N) */
            for (int64_t j = 0; j < N; j++)
                for (int64_t k = 0; k < K; k++)
                    b[(d * K + k) * N + j] = a[(d * N + j) * K + k];
        memcpy(sc_t->data, sc, (size_t)nsc * sizeof *sc);
    }
    lp_tensor_free(q);
    free(sc);
    char name[512];
    snprintf(name, sizeof name, "%s_%s_quantized", nm, what);
    if (st == LP_OK) {
        st = lp_qb_const(g, name, qt, wq);
        qt = NULL;
    }
    snprintf(name, sizeof name, "%s_%s_scale", nm, what);
    if (st == LP_OK) {
        st = lp_qb_const(g, name, sc_t, ws);
        sc_t = NULL;
    }
    snprintf(name, sizeof name, "%s_%s_zero_point", nm, what);
    if (st == LP_OK) {
        st = lp_qb_const(g, name, zp, wzp);
        zp = NULL;
    }
    lp_tensor_free(qt);
    lp_tensor_free(sc_t);
    lp_tensor_free(zp);
    return st;
}

/* Imports com.microsoft (version 1) when the graph does not yet. */
static lp_status import_ms_domain(lp_graph *g)
{
    if (lp_graph_opset(g, "com.microsoft") > 0)
        return LP_OK;
    lp_opset *o = realloc(g->opsets, (size_t)(g->n_opsets + 1) * sizeof *o);
    if (!o)
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    g->opsets = o;
    if (!(o[g->n_opsets].domain = strdup("com.microsoft")))
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    o[g->n_opsets++].version = 1;
    return LP_OK;
}

static lp_status rewrite_lstm(dctx *d, int ni, bool per_channel)
{
    lp_graph *g = d->g;
    lp_node n = g->nodes[ni]; /* a copy: adding nodes may move the array */
    int in[12];
    for (int i = 0; i < 8; i++)
        in[i] = i < n.n_in ? n.in[i] : -1;
    LP_TRY(lstm_weight(g, n.name, "W", g->values[n.in[1]].init, per_channel, &in[1], &in[8], &in[9]));
    LP_TRY(lstm_weight(g, n.name, "R", g->values[n.in[2]].init, per_channel, &in[2], &in[10], &in[11]));
    LP_TRY(import_ms_domain(g));
    char name[512];
    snprintf(name, sizeof name, "%s_quant", n.name);
    int idx;
    g->nodes[ni].dead = true;
    LP_TRY(lp_graph_add_node(g, name, "DynamicQuantizeLSTM", "com.microsoft", 12, in, n.n_out, n.out, &idx));
    const lp_node *src = &g->nodes[ni];
    for (int k = 0; k < src->n_attr; k++)
        if (strcmp(src->attrs[k].name, "layout") != 0) {
            lp_attr a = src->attrs[k];
            LP_TRY(lp_node_add_attr(&g->nodes[idx], &a));
        }
    return LP_OK;
}

static lp_status ms_domain_used(void *user, lp_graph *sub, lp_graph *parent, int node, int depth)
{
    (void)parent; (void)node; (void)depth;
    return lp_graph_opset(sub, "com.microsoft") > 0 ? import_ms_domain(user) : LP_OK;
}

/* Rewrites the weighted nodes of g the recipe wants in INT8, then those inside its control
 * flow: every body is a graph of its own (own activation cache; weights that are the body's
 * initializers qualify, weights read from an enclosing scope are not constants there and stay
 * float). */
static lp_status dynamic_graph(lp_graph *g, const lp_recipe *r, int depth)
{
    dctx d = { .g = g };
    lp_status st = LP_OK;
    int n_orig = g->n_nodes;
    for (int i = 0; i < n_orig && st == LP_OK; i++) {
        lp_precision p;
        lp_quant_cfg cfg;
        lp_recipe_get(r, g->nodes[i].name, &p, &cfg);
        bool pc = lp_weight_per_channel(&cfg, LP_APPROACH_DYNAMIC_QUANT);
        if (p == LP_PREC_INT8 && lp_quant_capability(g, i).dynamic)
            st = g->nodes[i].op == LP_OP_LSTM ? rewrite_lstm(&d, i, pc) : rewrite(&d, i, pc);
    }
    free(d.cache);
    for (int i = 0; i < g->n_nodes && st == LP_OK; i++)
        for (int a = 0; a < g->nodes[i].n_attr && st == LP_OK; a++) {
            lp_attr *at = &g->nodes[i].attrs[a];
            for (int k = 0; k < (at->g ? 1 : at->graphs ? at->n : 0) && st == LP_OK; k++) {
                lp_graph *sub = at->g ? at->g : at->graphs[k];
                if (depth + 1 > LP_MAX_GRAPH_NESTING)
                    return lp_node_error(&g->nodes[i], LOWP_ERR_UNSUPPORTED, "subgraphs nested more than %d deep",
                                         LP_MAX_GRAPH_NESTING);
                st = dynamic_graph(sub, r, depth + 1);
                if (st == LP_OK && (st = lp_graph_compact(sub)) == LP_OK &&
                    (st = lp_graph_toposort(sub)) == LP_OK)
                    st = lp_graph_infer(sub, false);
            }
        }
    return st;
}

lp_status lp_quantize_graph_dynamic(const lp_graph *src, const lp_recipe *r, lp_graph **out)
{
    lp_graph *g = NULL;
    LP_TRY(lp_quant_upgraded(src, 11, "dynamic quantization (DynamicQuantizeLinear)", &g));
    lp_status st = dynamic_graph(g, r, 0);
    if (st == LP_OK) /* a body's DynamicQuantizeLSTM needs the model to import com.microsoft */
        st = lp_graph_walk_subgraphs(g, ms_domain_used, g);
    if (st == LP_OK)
        st = lp_recipe_mark_bf16(g, r);
    return lp_graph_finish(g, st, out);
}
